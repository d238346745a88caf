//! Team rules: who may see a team (its members: anyone else gets `not_found`, exactly as for
//! a team that does not exist), who may manage it (owners; anyone may leave), and that a
//! team always keeps an owner. Every change runs inside one [`TeamTx`], so the last-owner
//! check and the write it allows cannot be split by a concurrent change: two owners demoting
//! each other, or both leaving, at once leave one of them owner.

use super::Actor;
use crate::api::ErrorCode;
use crate::api::accounts::{AddMember, Member, Role};
use crate::api::error::{NotFoundDetails, Resource};
use crate::server::ServiceError;
use crate::server::storage::{ProjectRow, Storage, TeamRow, TeamTx};

type Result<T> = std::result::Result<T, ServiceError>;

fn team_not_found(team: &str) -> ServiceError {
    ServiceError::not_found(Resource::Team, team)
}

/// The team if the actor is a member, with its role; `not_found` otherwise. For read-only
/// routes, outside any transaction.
pub fn membership(storage: &dyn Storage, actor: &Actor, team: &str) -> Result<(TeamRow, Role)> {
    storage
        .teams(&actor.account_id)?
        .into_iter()
        .find(|(t, _)| t.name == team)
        .ok_or_else(|| team_not_found(team))
}

fn member_of(tx: &mut dyn TeamTx, actor: &Actor, team: &str) -> Result<(TeamRow, Role)> {
    tx.membership(&actor.account_id, team)?
        .ok_or_else(|| team_not_found(team))
}

fn require_owner(team: &TeamRow, role: Role) -> Result<()> {
    if role == Role::Owner {
        Ok(())
    } else {
        Err(ServiceError::new(
            ErrorCode::Forbidden,
            format!("only owners of team {} can do this", team.name),
        ))
    }
}

fn last_owner(username: &str, team: &TeamRow) -> ServiceError {
    ServiceError::validation(format!(
        "{username} is the last owner of {}; make someone else owner first",
        team.name
    ))
}

/// Whether `username` is the only owner among `members`.
fn is_last_owner(members: &[Member], username: &str) -> bool {
    let owners = members.iter().filter(|m| m.role == Role::Owner).count();
    owners == 1
        && members
            .iter()
            .any(|m| m.username == username && m.role == Role::Owner)
}

/// Adds `req.username` to the team with `req.role`, or changes its role (owners only). The
/// last owner cannot be demoted. Returns the members after the change.
pub fn set_role(
    tx: &mut dyn TeamTx,
    actor: &Actor,
    team: &str,
    req: &AddMember,
) -> Result<Vec<Member>> {
    let (team, role) = member_of(tx, actor, team)?;
    require_owner(&team, role)?;
    let account = tx
        .account(&req.username)?
        .ok_or_else(|| ServiceError::not_found(Resource::Account, &req.username))?;
    let members = tx.members(&team.id)?;
    if req.role != Role::Owner && is_last_owner(&members, &req.username) {
        return Err(last_owner(&req.username, &team));
    }
    tx.set_member(&team.id, &account.id, Some(req.role))?;
    Ok(tx.members(&team.id)?)
}

/// Removes `username` from the team: owners remove anyone, anyone may leave. The last owner
/// cannot leave.
pub fn remove_member(tx: &mut dyn TeamTx, actor: &Actor, team: &str, username: &str) -> Result<()> {
    let (team, role) = member_of(tx, actor, team)?;
    if username != actor.username {
        require_owner(&team, role)?;
    }
    let members = tx.members(&team.id)?;
    if !members.iter().any(|m| m.username == username) {
        return Err(ServiceError::with(
            ErrorCode::NotFound,
            format!("member {username} of {} not found", team.name),
            NotFoundDetails {
                resource: Resource::Member,
                name: username.to_string(),
            },
        ));
    }
    if is_last_owner(&members, username) {
        return Err(last_owner(username, &team));
    }
    let account = tx
        .account(username)?
        .ok_or_else(|| ServiceError::not_found(Resource::Account, username))?;
    tx.set_member(&team.id, &account.id, None)?;
    Ok(())
}

/// Creates a project in the team (owners only).
pub fn create_project(
    tx: &mut dyn TeamTx,
    actor: &Actor,
    team: &str,
    name: &str,
    now: &str,
) -> Result<ProjectRow> {
    let (team, role) = member_of(tx, actor, team)?;
    require_owner(&team, role)?;
    Ok(tx.create_project(&team, name, now)?)
}

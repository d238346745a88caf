//! Teams, their members and their projects. A team the caller does not belong to answers
//! `not_found`, exactly like a team that does not exist; managing members and creating
//! projects takes the `owner` role.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{JsonBody, json};
use crate::api::ErrorCode;
use crate::api::accounts::{AddMember, CreateNamed, Project, Role, Team, check_name};
use crate::server::app::AppState;
use crate::server::auth::{self, Auth};
use crate::server::error::{ServiceError, ServiceResult};
use crate::server::storage::{ProjectRow, Storage, TeamRow};

/// The team if the account is a member, with its role; `not_found` otherwise.
fn membership(
    storage: &dyn Storage,
    account_id: &str,
    team: &str,
) -> ServiceResult<(TeamRow, Role)> {
    storage
        .teams(account_id)?
        .into_iter()
        .find(|(t, _)| t.name == team)
        .ok_or_else(|| ServiceError::not_found(format!("team {team}")))
}

fn require_owner(team: &TeamRow, role: Role) -> ServiceResult<()> {
    if role == Role::Owner {
        Ok(())
    } else {
        Err(ServiceError::new(
            ErrorCode::Forbidden,
            format!("only owners of team {} can do this", team.name),
        ))
    }
}

pub fn project_view(p: ProjectRow) -> Project {
    Project {
        team: p.team,
        name: p.name,
        head: p.head,
        created_at: p.created_at,
    }
}

pub async fn create_team(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(req, _): JsonBody<CreateNamed>,
) -> ServiceResult<Response> {
    check_name("team", &req.name).map_err(ServiceError::validation)?;
    let account_id = auth.account.id.clone();
    let team = state
        .run(move |s| Ok(s.create_team(&req.name, &account_id, &auth::now())?))
        .await?;
    Ok(json(
        StatusCode::CREATED,
        Team {
            name: team.name,
            role: Role::Owner,
            created_at: team.created_at,
        },
    ))
}

pub async fn list_teams(State(state): State<AppState>, auth: Auth) -> ServiceResult<Response> {
    let account_id = auth.account.id.clone();
    let teams = state.run(move |s| Ok(s.teams(&account_id)?)).await?;
    let teams: Vec<Team> = teams
        .into_iter()
        .map(|(t, role)| Team {
            name: t.name,
            role,
            created_at: t.created_at,
        })
        .collect();
    Ok(json(StatusCode::OK, teams))
}

pub async fn members(
    State(state): State<AppState>,
    auth: Auth,
    Path(team): Path<String>,
) -> ServiceResult<Response> {
    let account_id = auth.account.id.clone();
    let members = state
        .run(move |s| {
            let (team, _) = membership(s, &account_id, &team)?;
            Ok(s.members(&team.id)?)
        })
        .await?;
    Ok(json(StatusCode::OK, members))
}

pub async fn add_member(
    State(state): State<AppState>,
    auth: Auth,
    Path(team): Path<String>,
    JsonBody(req, _): JsonBody<AddMember>,
) -> ServiceResult<Response> {
    let account_id = auth.account.id.clone();
    let members = state
        .run(move |s| {
            let (team, role) = membership(s, &account_id, &team)?;
            require_owner(&team, role)?;
            let member = s
                .account(&req.username)?
                .ok_or_else(|| ServiceError::not_found(format!("account {}", req.username)))?;
            s.set_member(&team.id, &member.id, Some(req.role))?;
            Ok(s.members(&team.id)?)
        })
        .await?;
    Ok(json(StatusCode::OK, members))
}

pub async fn remove_member(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, username)): Path<(String, String)>,
) -> ServiceResult<StatusCode> {
    let account_id = auth.account.id.clone();
    let self_name = auth.account.username.clone();
    state
        .run(move |s| {
            let (team, role) = membership(s, &account_id, &team)?;
            // Anyone may leave; removing others takes an owner.
            if username != self_name {
                require_owner(&team, role)?;
            }
            let members = s.members(&team.id)?;
            let target = members
                .iter()
                .find(|m| m.username == username)
                .ok_or_else(|| {
                    ServiceError::not_found(format!("member {username} of {}", team.name))
                })?;
            let owners = members.iter().filter(|m| m.role == Role::Owner).count();
            if target.role == Role::Owner && owners == 1 {
                return Err(ServiceError::validation(format!(
                    "{username} is the last owner of {}; make someone else owner first",
                    team.name
                )));
            }
            let member = s
                .account(&username)?
                .ok_or_else(|| ServiceError::not_found(format!("account {username}")))?;
            s.set_member(&team.id, &member.id, None)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_project(
    State(state): State<AppState>,
    auth: Auth,
    Path(team): Path<String>,
    JsonBody(req, _): JsonBody<CreateNamed>,
) -> ServiceResult<Response> {
    check_name("project", &req.name).map_err(ServiceError::validation)?;
    let account_id = auth.account.id.clone();
    let project = state
        .run(move |s| {
            let (team, role) = membership(s, &account_id, &team)?;
            require_owner(&team, role)?;
            Ok(s.create_project(&team, &req.name, &auth::now())?)
        })
        .await?;
    Ok(json(StatusCode::CREATED, project_view(project)))
}

pub async fn projects(
    State(state): State<AppState>,
    auth: Auth,
    Path(team): Path<String>,
) -> ServiceResult<Response> {
    let account_id = auth.account.id.clone();
    let projects = state
        .run(move |s| {
            let (team, _) = membership(s, &account_id, &team)?;
            Ok(s.projects(&team)?)
        })
        .await?;
    let projects: Vec<Project> = projects.into_iter().map(project_view).collect();
    Ok(json(StatusCode::OK, projects))
}

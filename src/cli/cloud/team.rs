//! `gryt cloud team create|list|members|add-member|remove-member`.

use clap::Subcommand;

use super::ServerArg;
use crate::api::accounts::{AddMember, Member, Role};
use crate::cli::error::CommandError;
use crate::cli::ui::{self, Ui};

/// Teams: who shares which projects
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team; you become its owner
    Create(TeamArgs),
    /// List your teams
    List(ServerArg),
    /// List a team's members
    Members(TeamArgs),
    /// Add a member, or change a member's role (owners only)
    AddMember(MemberArgs),
    /// Remove a member (owners; or a member leaving)
    RemoveMember(RemoveMemberArgs),
}

#[derive(Debug, clap::Args)]
pub struct TeamArgs {
    pub team: String,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, clap::Args)]
pub struct MemberArgs {
    pub team: String,
    pub username: String,
    /// Role of the member
    #[arg(long, default_value = "member", value_parser = ["member", "owner"])]
    pub role: String,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, clap::Args)]
pub struct RemoveMemberArgs {
    pub team: String,
    pub username: String,
    #[command(flatten)]
    pub server: ServerArg,
}

pub fn run(ui: &Ui, cmd: TeamCommand) -> Result<(), CommandError> {
    match cmd {
        TeamCommand::Create(a) => {
            let team = a.server.authed()?.call(|c| c.create_team(&a.team))?;
            if ui.json {
                return ui.json(&team);
            }
            ui.line(format!("Created team {} (you are its owner)", team.name))
        }
        TeamCommand::List(server) => {
            let teams = server.authed()?.call(|c| c.teams())?;
            if ui.json {
                return ui.json(&teams);
            }
            let mut t = ui::table(&["team", "role", "created"]);
            for team in &teams {
                t.add_row(vec![
                    team.name.clone(),
                    team.role.as_str().into(),
                    team.created_at.clone(),
                ]);
            }
            ui.line(ui::render(&t))
        }
        TeamCommand::Members(a) => {
            let members = a.server.authed()?.call(|c| c.members(&a.team))?;
            print_members(ui, &members)
        }
        TeamCommand::AddMember(a) => {
            let role = Role::parse(&a.role).unwrap_or(Role::Member);
            let req = AddMember {
                username: a.username.clone(),
                role,
            };
            let members = a.server.authed()?.call(|c| c.add_member(&a.team, &req))?;
            ui.status(format!(
                "{} is now a {} of {}",
                a.username,
                role.as_str(),
                a.team
            ));
            print_members(ui, &members)
        }
        TeamCommand::RemoveMember(a) => {
            let s = a.server.authed()?;
            s.call(|c| c.remove_member(&a.team, &a.username))?;
            ui.line(format!("Removed {} from {}", a.username, a.team))
        }
    }
}

fn print_members(ui: &Ui, members: &[Member]) -> Result<(), CommandError> {
    if ui.json {
        return ui.json(&members);
    }
    let mut t = ui::table(&["member", "role"]);
    for m in members {
        t.add_row(vec![m.username.clone(), m.role.as_str().into()]);
    }
    ui.line(ui::render(&t))
}

//! Teams, their members and their projects. The rules (visibility, roles, the last owner)
//! are in `server::rules::teams`; changes run in one team transaction.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{JsonBody, json};
use crate::api::accounts::{AddMember, CreateNamed, Project, Role, Team, check_name};
use crate::server::app::AppState;
use crate::server::auth::Auth;
use crate::server::error::{ServiceError, ServiceResult};
use crate::server::rules::teams as rules;
use crate::server::storage::{ProjectRow, transact_teams};

pub fn project_view(p: ProjectRow) -> Project {
    Project {
        project_id: p.uuid().ok(),
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
    let now = state.now();
    let team = state
        .run(move |s| Ok(s.create_team(&req.name, &account_id, &now)?))
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
    let actor = auth.actor();
    let members = state
        .run(move |s| {
            let (team, _) = rules::membership(s, &actor, &team)?;
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
    let actor = auth.actor();
    let members = state
        .run(move |s| transact_teams(s, |tx| rules::set_role(tx, &actor, &team, &req)))
        .await?;
    Ok(json(StatusCode::OK, members))
}

pub async fn remove_member(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, username)): Path<(String, String)>,
) -> ServiceResult<StatusCode> {
    let actor = auth.actor();
    state
        .run(move |s| transact_teams(s, |tx| rules::remove_member(tx, &actor, &team, &username)))
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
    let actor = auth.actor();
    let now = state.now();
    let project = state
        .run(move |s| {
            transact_teams(s, |tx| {
                rules::create_project(tx, &actor, &team, &req.name, &now)
            })
        })
        .await?;
    Ok(json(StatusCode::CREATED, project_view(project)))
}

pub async fn projects(
    State(state): State<AppState>,
    auth: Auth,
    Path(team): Path<String>,
) -> ServiceResult<Response> {
    let actor = auth.actor();
    let projects = state
        .run(move |s| {
            let (team, _) = rules::membership(s, &actor, &team)?;
            Ok(s.projects(&team)?)
        })
        .await?;
    let projects: Vec<Project> = projects.into_iter().map(project_view).collect();
    Ok(json(StatusCode::OK, projects))
}

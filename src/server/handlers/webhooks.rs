//! A project's webhooks: owners of the team add and remove them; every member lists them
//! and their deliveries (never their secrets: a secret is shown once, in the answer that
//! created it). The project is resolved through the caller's memberships first, so another
//! team's project answers exactly like a missing one.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::projects::find;
use super::{JsonBody, json};
use crate::api::ErrorCode;
use crate::api::accounts::Role;
use crate::api::error::Resource;
use crate::api::webhooks::{
    CreateWebhook, Delivery, DeliveryStatus, MAX_WEBHOOKS_PER_PROJECT, Webhook, WebhookEvent,
    check_url, parse_events,
};
use crate::server::app::AppState;
use crate::server::auth::Auth;
use crate::server::error::{ServiceError, ServiceResult, rejection};
use crate::server::rules::{Actor, teams};
use crate::server::storage::{DeliveryRow, Storage, WebhookRow};
use crate::server::webhooks::{events_of, format_ms, new_secret};

/// Deliveries listed when the request does not say, and at most.
const DEFAULT_DELIVERIES: u32 = 50;
const MAX_DELIVERIES: u32 = 500;

fn require_owner(s: &dyn Storage, actor: &Actor, team: &str, what: &str) -> ServiceResult<()> {
    let (_, role) = teams::membership(s, actor, team)?;
    if role == Role::Owner {
        return Ok(());
    }
    Err(ServiceError::new(
        ErrorCode::Forbidden,
        format!("only owners of team {team} can {what} webhooks"),
    ))
}

fn view(row: WebhookRow, secret: bool) -> ServiceResult<Webhook> {
    Ok(Webhook {
        id: Uuid::parse_str(&row.id)
            .map_err(|_| ServiceError::Internal(format!("webhook id {}", row.id)))?,
        events: events_of(&row),
        url: row.url,
        created_by: row.created_by,
        created_at: row.created_at,
        secret: secret.then_some(row.secret),
    })
}

fn delivery_view(d: DeliveryRow) -> ServiceResult<Delivery> {
    let corrupt = |what: &str| ServiceError::Internal(format!("delivery {}: {what}", d.id));
    let status = DeliveryStatus::parse(&d.status).ok_or_else(|| corrupt("status"))?;
    Ok(Delivery {
        id: Uuid::parse_str(&d.id).map_err(|_| corrupt("id"))?,
        webhook_id: Uuid::parse_str(&d.webhook_id).map_err(|_| corrupt("webhook id"))?,
        event: WebhookEvent::parse(&d.event).ok_or_else(|| corrupt("event"))?,
        status,
        attempts: u32::try_from(d.attempts).unwrap_or(0),
        last_status_code: d.last_status_code.and_then(|c| u16::try_from(c).ok()),
        last_error: d.last_error,
        created_at: d.created_at,
        delivered_at: d.delivered_at,
        next_attempt_at: (status == DeliveryStatus::Pending).then(|| format_ms(d.next_attempt_at)),
    })
}

fn webhook_id(id: &str) -> ServiceResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| ServiceError::not_found(Resource::Webhook, id))
}

/// `POST …/webhooks`: adds a webhook (owners only); the answer carries its secret, once.
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, project)): Path<(String, String)>,
    JsonBody(req, _): JsonBody<CreateWebhook>,
) -> ServiceResult<Response> {
    let url = req.url.trim().to_string();
    check_url(&url).map_err(ServiceError::validation)?;
    let events = parse_events(&req.events).map_err(ServiceError::validation)?;
    let secret = new_secret()?;
    let actor = auth.actor();
    let now = state.now();
    let row = state
        .run(move |s| {
            let p = find(s, &auth, &team, &project)?;
            require_owner(s, &actor, &team, "add")?;
            let row = WebhookRow {
                id: Uuid::now_v7().to_string(),
                project_id: p.id,
                url,
                secret,
                events: events
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                created_by: actor.username.clone(),
                created_at: now,
            };
            if !s.create_webhook(&row, MAX_WEBHOOKS_PER_PROJECT)? {
                return Err(ServiceError::validation(format!(
                    "{team}/{project} has {MAX_WEBHOOKS_PER_PROJECT} webhooks already, the most a project may have; remove one first"
                )));
            }
            Ok(row)
        })
        .await?;
    tracing::info!(webhook = %row.id, by = %row.created_by, "webhook added");
    Ok(json(StatusCode::CREATED, view(row, true)?))
}

/// `GET …/webhooks`: the project's webhooks, oldest first, without secrets.
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, project)): Path<(String, String)>,
) -> ServiceResult<Response> {
    let rows = state
        .run(move |s| {
            let p = find(s, &auth, &team, &project)?;
            Ok(s.webhooks(&p.id)?)
        })
        .await?;
    let hooks = rows
        .into_iter()
        .map(|r| view(r, false))
        .collect::<ServiceResult<Vec<_>>>()?;
    Ok(json(StatusCode::OK, hooks))
}

/// `DELETE …/webhooks/{id}`: removes a webhook and its deliveries (owners only).
pub async fn remove(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, project, id)): Path<(String, String, String)>,
) -> ServiceResult<StatusCode> {
    let actor = auth.actor();
    state
        .run(move |s| {
            let p = find(s, &auth, &team, &project)?;
            let hook = webhook_id(&id)?;
            require_owner(s, &actor, &team, "remove")?;
            if !s.delete_webhook(&p.id, &hook.to_string())? {
                return Err(ServiceError::not_found(Resource::Webhook, id));
            }
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, serde::Deserialize)]
pub struct DeliveriesQuery {
    limit: Option<u32>,
}

/// `GET …/webhooks/{id}/deliveries`: the webhook's newest deliveries, newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    auth: Auth,
    Path((team, project, id)): Path<(String, String, String)>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> ServiceResult<Response> {
    let Query(q) = query.map_err(|r| rejection(r.status(), r.body_text()))?;
    let limit = q
        .limit
        .unwrap_or(DEFAULT_DELIVERIES)
        .clamp(1, MAX_DELIVERIES);
    let rows = state
        .run(move |s| {
            let p = find(s, &auth, &team, &project)?;
            let hook = webhook_id(&id)?;
            s.deliveries(&p.id, &hook.to_string(), limit)?
                .ok_or_else(|| ServiceError::not_found(Resource::Webhook, id))
        })
        .await?;
    let deliveries = rows
        .into_iter()
        .map(delivery_view)
        .collect::<ServiceResult<Vec<_>>>()?;
    Ok(json(StatusCode::OK, deliveries))
}

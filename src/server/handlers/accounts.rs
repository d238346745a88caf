//! Accounts and credentials: registration, login (per-device tokens), logout, whoami,
//! token listing and revocation, API keys for CI.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::{JsonBody, json};
use crate::api::ErrorCode;
use crate::api::accounts::{
    Account, CreateApiKey, IssuedToken, LoginRequest, RegisterRequest, Team, TokenInfo, TokenKind,
    WhoAmI, check_name, check_password,
};
use crate::api::error::Resource;
use crate::domain::timestamp;
use crate::server::app::{AppState, Registration};
use crate::server::auth::{self, Auth, ClientAddr};
use crate::server::error::{ServiceError, ServiceResult};
use crate::server::storage::{NewToken, Storage, TokenRow};

fn info(t: &TokenRow, current: Option<Uuid>) -> TokenInfo {
    TokenInfo {
        id: t.id,
        kind: t.kind,
        name: t.name.clone(),
        created_at: t.created_at.clone(),
        expires_at: t.expires_at.clone(),
        current: Some(t.id) == current,
    }
}

/// Creates an account (shared by open registration and `gryt cloud admin user add`).
/// Blocking: hashes the password.
pub fn create_account(
    storage: &dyn Storage,
    req: &RegisterRequest,
    now: &str,
) -> ServiceResult<Account> {
    check_name("account", &req.username).map_err(ServiceError::validation)?;
    check_password(&req.password).map_err(ServiceError::validation)?;
    let hash = auth::hash_password(&req.password)?;
    let row = storage.create_account(&req.username, &hash, now)?;
    Ok(Account {
        username: row.username,
        created_at: row.created_at,
    })
}

pub async fn register(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    JsonBody(req, _): JsonBody<RegisterRequest>,
) -> ServiceResult<Response> {
    if state.config().registration == Registration::Closed {
        return Err(ServiceError::new(
            ErrorCode::RegistrationClosed,
            "this server does not accept new accounts; ask an admin (gryt cloud admin user add)",
        ));
    }
    // Registration hashes a password too: it shares the per-address login budget.
    state.limiter().count_address(addr)?;
    let now = state.now();
    let account = state
        .run_hashing(move |s| create_account(s, &req, &now))
        .await?;
    Ok(json(StatusCode::CREATED, account))
}

fn issue(
    storage: &dyn Storage,
    account_id: &str,
    kind: TokenKind,
    name: String,
    ttl: Option<Duration>,
    now: time::OffsetDateTime,
) -> ServiceResult<(String, TokenInfo)> {
    let (secret, hash) = auth::new_token()?;
    let token = NewToken {
        id: Uuid::now_v7(),
        account_id: account_id.to_string(),
        kind,
        name,
        hash,
        created_at: timestamp::format(now),
        expires_at: ttl.map(|d| timestamp::format(now + d)),
    };
    storage.insert_token(&token)?;
    Ok((
        secret,
        TokenInfo {
            id: token.id,
            kind,
            name: token.name,
            created_at: token.created_at,
            expires_at: token.expires_at,
            current: false,
        },
    ))
}

fn token_name(name: Option<String>, default: &str) -> ServiceResult<String> {
    let name = name.unwrap_or_else(|| default.to_string());
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 100 || trimmed.chars().any(char::is_control)
    {
        return Err(ServiceError::validation(
            "token names are 1-100 printable characters",
        ));
    }
    Ok(trimmed.to_string())
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    JsonBody(req, _): JsonBody<LoginRequest>,
) -> ServiceResult<Response> {
    let device = token_name(req.device.clone(), "device")?;
    let ttl = state.config().token_ttl;
    let issued = log_in(&state, addr, req.username, req.password, device, ttl).await?;
    Ok(json(StatusCode::OK, issued))
}

/// Checks a password and issues a device token named `device`, living `ttl`: the one login
/// path, rate-limited per account and per client address (the API's login and the web
/// view's sign-in).
pub(crate) async fn log_in(
    state: &AppState,
    addr: Option<std::net::IpAddr>,
    username: String,
    password: String,
    device: String,
    ttl: Duration,
) -> ServiceResult<IssuedToken> {
    state.limiter().before_attempt(addr, &username)?;
    if password.len() > crate::api::accounts::MAX_PASSWORD_BYTES {
        // No account has such a password; do not spend a hash on it.
        state.limiter().failed(&username);
        return Err(ServiceError::unauthorized("wrong username or password"));
    }
    let clock = state.clock().clone();
    let name = username.clone();
    let outcome = state
        .run_hashing(move |s| {
            let account = s.account(&name)?;
            if !auth::verify_password(
                &password,
                account.as_ref().map(|a| a.password_hash.as_str()),
            ) {
                return Ok(None);
            }
            let Some(account) = account else {
                return Ok(None);
            };
            let (token, info) = issue(
                s,
                &account.id,
                TokenKind::Device,
                device,
                Some(ttl),
                clock.now(),
            )?;
            Ok(Some(IssuedToken {
                token,
                info,
                username: account.username,
            }))
        })
        .await?;
    match outcome {
        Some(issued) => {
            state.limiter().succeeded(&username);
            tracing::info!(user = %username, "login");
            Ok(issued)
        }
        None => {
            state.limiter().failed(&username);
            Err(ServiceError::unauthorized("wrong username or password"))
        }
    }
}

/// Revokes the caller's token `token_id` (logout), keeping no cached copy of it: forgotten
/// before and after, so no lookup racing with the revocation re-caches it.
pub(crate) async fn revoke_own(
    state: &AppState,
    account_id: String,
    token_id: Uuid,
) -> ServiceResult<bool> {
    state.token_cache().forget(token_id);
    let now = state.now();
    let revoked = state
        .run(move |s| Ok(s.revoke_token(&account_id, token_id, &now)?))
        .await?;
    state.token_cache().forget(token_id);
    Ok(revoked)
}

pub async fn logout(State(state): State<AppState>, auth: Auth) -> ServiceResult<StatusCode> {
    revoke_own(&state, auth.account.id.clone(), auth.token.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn whoami(State(state): State<AppState>, auth: Auth) -> ServiceResult<Response> {
    let account_id = auth.account.id.clone();
    let teams = state.run(move |s| Ok(s.teams(&account_id)?)).await?;
    Ok(json(
        StatusCode::OK,
        WhoAmI {
            username: auth.account.username.clone(),
            token: info(&auth.token, Some(auth.token.id)),
            teams: teams
                .into_iter()
                .map(|(t, role)| Team {
                    name: t.name,
                    role,
                    created_at: t.created_at,
                })
                .collect(),
        },
    ))
}

async fn list(state: AppState, auth: Auth, kind: Option<TokenKind>) -> ServiceResult<Response> {
    let account_id = auth.account.id.clone();
    let rows = state.run(move |s| Ok(s.tokens(&account_id)?)).await?;
    let infos: Vec<TokenInfo> = rows
        .iter()
        .filter(|t| kind.is_none_or(|k| t.kind == k))
        .map(|t| info(t, Some(auth.token.id)))
        .collect();
    Ok(json(StatusCode::OK, infos))
}

pub async fn list_tokens(State(state): State<AppState>, auth: Auth) -> ServiceResult<Response> {
    list(state, auth, None).await
}

pub async fn list_api_keys(State(state): State<AppState>, auth: Auth) -> ServiceResult<Response> {
    list(state, auth, Some(TokenKind::ApiKey)).await
}

pub async fn revoke_token(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ServiceResult<StatusCode> {
    let missing = || ServiceError::not_found(Resource::Token, &id);
    let token_id = Uuid::parse_str(&id).map_err(|_| missing())?;
    // Only the owner's token is affected (the storage checks); forgetting is harmless
    // otherwise.
    let revoked = revoke_own(&state, auth.account.id.clone(), token_id).await?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(missing())
    }
}

pub async fn create_api_key(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(req, _): JsonBody<CreateApiKey>,
) -> ServiceResult<Response> {
    let name = token_name(Some(req.name), "")?;
    let ttl = match req.expires_in_days {
        Some(0) => {
            return Err(ServiceError::validation(
                "expires_in_days must be at least 1",
            ));
        }
        Some(days) => Some(Duration::from_secs(u64::from(days.min(36_500)) * 86_400)),
        None => None,
    };
    let account = auth.account.clone();
    let now = state.clock().now();
    let issued = state
        .run(move |s| {
            let (token, info) = issue(s, &account.id, TokenKind::ApiKey, name, ttl, now)?;
            Ok(IssuedToken {
                token,
                info,
                username: account.username,
            })
        })
        .await?;
    Ok(json(StatusCode::CREATED, issued))
}

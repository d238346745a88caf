//! The web view: where releases stand, in a browser, for the people who do not live in a
//! terminal (docs/SERVER.md, *The web view*). Server-rendered HTML that reads fine without
//! JavaScript; a small embedded script keeps the project and generation pages live by
//! polling. Read-only: its only forms sign in and out. Its own router, merged into the app
//! beside the API's route table (which docs/openapi.json describes; these pages are not API).
//!
//! - `GET /`: the sign-in form, or the signed-in account's teams and projects.
//! - `POST /login`, `POST /logout`: a web session (session.rs) — an ordinary device token in
//!   a cookie, issued through the API's login path and its rate limits.
//! - `GET /projects/{team}/{project}`: the release line (`rules::status::release_line`).
//! - `GET /projects/{team}/{project}/generations/{version}`: where a generation stands
//!   (`rules::status::generation_status`, as `GET …/generations/{version}/status`).
//! - `GET /assets/…`: the stylesheet and the live script, compiled into the binary.
//!
//! Live: a page carries the fingerprint of what it shows (`data-live`: the server's history
//! id and the project head). The script asks for the same URL with `?since=FINGERPRINT`
//! every two seconds: `204` while the project is unchanged (one project lookup), else the
//! new `<main>` content. It reads storage only, so it works across server processes.

mod pages;
pub mod session;

use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::Markup;

use self::session::{MaybeSession, OverTls, SESSION_NAME, SESSION_TTL, Session};
use super::app::AppState;
use super::auth::ClientAddr;
use super::error::{ServiceError, ServiceResult};
use super::handlers::accounts::{log_in, revoke_own};
use super::rules::status::{generation_status, release_line};
use super::storage::{ProjectRow, Storage};
use crate::api::ErrorCode;
use crate::domain::Version;

/// The header a fragment answer names its fingerprint in.
pub const FINGERPRINT_HEADER: &str = "x-gryt-fingerprint";

const CSS: &str = include_str!("assets/gryt.css");
const LIVE_JS: &str = include_str!("assets/live.js");

/// What keeps the pages to themselves: no resource from elsewhere, no framing, no inline
/// script, forms only to this server.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The web view's routes (merged into the app by `app::router`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", post(login).get(to_start))
        .route("/logout", post(logout))
        .route("/projects/{team}/{project}", get(project_page))
        .route(
            "/projects/{team}/{project}/generations/{version}",
            get(generation_page),
        )
        .route("/assets/gryt.css", get(css))
        .route("/assets/live.js", get(live_js))
        .layer(axum::middleware::map_response(page_headers))
}

async fn page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages show what one account may see: never kept by a cache.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A failure as a page.
pub enum WebError {
    /// Missing, or not the account's to see: one answer for both.
    NotFound,
    Service(ServiceError),
}

impl From<ServiceError> for WebError {
    fn from(e: ServiceError) -> Self {
        WebError::Service(e)
    }
}

impl From<crate::server::storage::StorageError> for WebError {
    fn from(e: crate::server::storage::StorageError) -> Self {
        WebError::Service(e.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::NotFound => html(
                StatusCode::NOT_FOUND,
                pages::document("Not found", None, None, pages::not_found()),
            ),
            WebError::Service(e) => {
                let body = e.body();
                if matches!(body.error, ErrorCode::Internal | ErrorCode::Unavailable) {
                    tracing::error!(error = %e, "page failed");
                }
                let status = StatusCode::from_u16(body.error.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                html(
                    status,
                    pages::document("Error", None, None, pages::failure(&body.message)),
                )
            }
        }
    }
}

fn html(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        markup.into_string(),
    )
        .into_response()
}

fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

async fn to_start() -> Response {
    see_other("/")
}

/// `?since=FINGERPRINT` (the live script's poll) and `?next=PATH` (where to go after
/// signing in).
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    since: Option<String>,
    next: Option<String>,
}

fn page_query(q: Result<Query<PageQuery>, QueryRejection>) -> PageQuery {
    q.map(|Query(q)| q).unwrap_or_default()
}

/// What a project page shows, identified by the server history and the project head.
fn fingerprint(history: uuid::Uuid, head: u64) -> String {
    format!("{history}.{head}")
}

/// Not signed in: the sign-in page, coming back here after; a live poll gets `401` (its
/// script reloads, which lands on the sign-in page).
fn signed_out(path: &str, polling: bool) -> Response {
    if polling {
        return html(StatusCode::UNAUTHORIZED, maud::html! { "Signed out" });
    }
    see_other(&format!("/?next={}", session::safe_next(path)))
}

/// A page, or its `<main>` content alone for a live poll.
fn live_page(title: &str, s: &Session, fp: &str, main: Markup, polling: bool) -> Response {
    let mut response = if polling {
        html(StatusCode::OK, main)
    } else {
        html(
            StatusCode::OK,
            pages::document(title, Some(&s.account.username), Some(fp), main),
        )
    };
    if let Ok(v) = HeaderValue::from_str(fp) {
        response.headers_mut().insert(FINGERPRINT_HEADER, v);
    }
    response
}

async fn home(
    State(state): State<AppState>,
    MaybeSession(session): MaybeSession,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, WebError> {
    let q = page_query(query);
    let Some(s) = session else {
        let next = session::safe_next(q.next.as_deref().unwrap_or("/"));
        let main = pages::sign_in(None, "", next);
        return Ok(html(
            StatusCode::OK,
            pages::document("Sign in", None, None, main),
        ));
    };
    let account_id = s.account.id.clone();
    let teams = state
        .run(move |st| {
            let mut out = Vec::new();
            for (team, role) in st.teams(&account_id)? {
                let projects = st.projects(&team)?.into_iter().map(|p| p.name).collect();
                out.push(pages::TeamProjects {
                    name: team.name,
                    role,
                    projects,
                });
            }
            Ok(out)
        })
        .await?;
    Ok(html(
        StatusCode::OK,
        pages::document(
            "Your projects",
            Some(&s.account.username),
            None,
            pages::home(&teams),
        ),
    ))
}

/// What a live page read: unchanged since the fingerprint the poll gave, or the new content.
enum Read<T> {
    Unchanged,
    Changed(String, T),
}

/// A live page of a project the caller can see: its data read by `read` (`None`: no such
/// page; else with the head it was read at) and rendered by `render` into a title and the
/// main content — or `204` when the poll's fingerprint still matches the project's head.
async fn live<T: Send + 'static>(
    state: &AppState,
    s: &Session,
    (team, project): (String, String),
    q: PageQuery,
    read: impl FnOnce(&dyn Storage, &ProjectRow) -> ServiceResult<Option<(u64, T)>> + Send + 'static,
    render: impl FnOnce(&ProjectRow, &T) -> (String, Markup),
) -> Result<Response, WebError> {
    let polling = q.since.is_some();
    let account_id = s.account.id.clone();
    let got = state
        .run(move |st| {
            let Some(p) = st.project(&account_id, &team, &project)? else {
                return Ok(None);
            };
            let history = st.history_id();
            if q.since.as_deref() == Some(fingerprint(history, p.head).as_str()) {
                return Ok(Some(Read::Unchanged));
            }
            let Some((head, data)) = read(st, &p)? else {
                return Ok(None);
            };
            Ok(Some(Read::Changed(fingerprint(history, head), (p, data))))
        })
        .await?;
    match got {
        None => Err(WebError::NotFound),
        Some(Read::Unchanged) => Ok(StatusCode::NO_CONTENT.into_response()),
        Some(Read::Changed(fp, (p, data))) => {
            let (title, main) = render(&p, &data);
            Ok(live_page(&title, s, &fp, main, polling))
        }
    }
}

async fn project_page(
    State(state): State<AppState>,
    MaybeSession(session): MaybeSession,
    Path(names): Path<(String, String)>,
    query: Result<Query<PageQuery>, QueryRejection>,
    uri: axum::http::Uri,
) -> Result<Response, WebError> {
    let q = page_query(query);
    let Some(s) = session else {
        return Ok(signed_out(uri.path(), q.since.is_some()));
    };
    let read = |st: &dyn Storage, p: &ProjectRow| {
        let line = release_line(st, p)?;
        Ok(Some((line.head, line)))
    };
    live(&state, &s, names, q, read, |p, line| {
        let title = format!("{}/{}", p.team, p.name);
        (title, pages::project(&p.team, &p.name, line))
    })
    .await
}

async fn generation_page(
    State(state): State<AppState>,
    MaybeSession(session): MaybeSession,
    Path((team, project, version)): Path<(String, String, String)>,
    query: Result<Query<PageQuery>, QueryRejection>,
    uri: axum::http::Uri,
) -> Result<Response, WebError> {
    let q = page_query(query);
    let Some(s) = session else {
        return Ok(signed_out(uri.path(), q.since.is_some()));
    };
    // A malformed version names no page.
    let version = version.parse::<Version>().map_err(|_| WebError::NotFound)?;
    let read = move |st: &dyn Storage, p: &ProjectRow| {
        Ok(generation_status(st, p, &version)?.map(|status| (status.head, status)))
    };
    live(&state, &s, (team, project), q, read, |p, status| {
        let title = format!("{} · {}/{}", status.version, p.team, p.name);
        (title, pages::generation(&p.team, &p.name, status))
    })
    .await
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

fn sign_in_page(status: StatusCode, error: &str, username: &str, next: &str) -> Response {
    html(
        status,
        pages::document(
            "Sign in",
            None,
            None,
            pages::sign_in(Some(error), username, next),
        ),
    )
}

fn foreign_form() -> Response {
    html(
        StatusCode::FORBIDDEN,
        pages::document(
            "Refused",
            None,
            None,
            pages::failure("This form was sent from another site; nothing was done."),
        ),
    )
}

/// `POST /login`: the API's login (password check, per-account and per-address limits) with
/// a web session token as the device; 303 to the page asked for, the cookie set.
async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    OverTls(tls): OverTls,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    if !session::same_origin(&headers) {
        return foreign_form();
    }
    let Ok(Form(f)) = form else {
        return sign_in_page(
            StatusCode::BAD_REQUEST,
            "The sign-in form could not be read; try again.",
            "",
            "/",
        );
    };
    let next = session::safe_next(&f.next).to_string();
    if f.username.is_empty() || f.password.is_empty() {
        return sign_in_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Give your username and your password.",
            &f.username,
            &next,
        );
    }
    let ttl = SESSION_TTL.min(state.config().token_ttl);
    let username = f.username.clone();
    match log_in(
        &state,
        addr,
        f.username,
        f.password,
        SESSION_NAME.into(),
        ttl,
    )
    .await
    {
        Ok(issued) => {
            let mut r = see_other(&next);
            r.headers_mut().insert(
                header::SET_COOKIE,
                session::set_cookie(&issued.token, ttl, tls),
            );
            r
        }
        Err(e) if e.code() == ErrorCode::Unauthorized => sign_in_page(
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.",
            &username,
            &next,
        ),
        Err(e) if e.code() == ErrorCode::RateLimited => {
            let body = e.body();
            let mut r = sign_in_page(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("{}.", body.message),
                &username,
                &next,
            );
            if let Some(secs) = body
                .details
                .get("retry_after_secs")
                .and_then(|v| v.as_u64())
                && let Ok(v) = HeaderValue::from_str(&secs.to_string())
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(e) => WebError::Service(e).into_response(),
    }
}

/// `POST /logout`: revokes the session's token (no request with it works afterwards, on any
/// server process) and clears the cookie; 303 to the start page.
async fn logout(
    State(state): State<AppState>,
    OverTls(tls): OverTls,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if !session::same_origin(&headers) {
        return Ok(foreign_form());
    }
    if let Some(secret) = session::cookie(&headers, session::COOKIE)
        && let Some(s) = session::lookup(&state, secret).await?
    {
        revoke_own(&state, s.account.id.clone(), s.token.id).await?;
        tracing::info!(user = %s.account.username, "web logout");
    }
    let mut r = see_other("/");
    r.headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(tls));
    Ok(r)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn live_js() -> Response {
    asset("text/javascript; charset=utf-8", LIVE_JS)
}

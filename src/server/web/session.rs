//! Web sessions. A session is an ordinary device token named [`SESSION_NAME`], issued by the
//! same login path as the API's (same password check, same rate limits) and carried in an
//! HttpOnly, SameSite=Strict cookie (Secure when the request came over TLS through a trusted
//! proxy). Every page reads the token from storage — no cache — so a session ends everywhere
//! the moment its token is revoked — by logging out, or through `DELETE /v1/tokens/ID` — or
//! expires.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

use crate::server::app::AppState;
use crate::server::auth;
use crate::server::error::ServiceResult;
use crate::server::storage::{AccountRow, TokenRow};

/// The session cookie.
pub const COOKIE: &str = "gryt_session";
/// The name of the tokens web sessions are (as `GET /v1/tokens` lists them).
pub const SESSION_NAME: &str = "web session";
/// How long a web session lives, at most (the server's token lifetime if shorter).
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// A signed-in browser: the account and the token its cookie carries.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: AccountRow,
    pub token: TokenRow,
}

/// The session of a request, if its cookie names a live token.
pub struct MaybeSession(pub Option<Session>);

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The session whose token `secret` is, read from storage: unknown, revoked and expired
/// tokens are none.
pub async fn lookup(state: &AppState, secret: &str) -> ServiceResult<Option<Session>> {
    let hash = auth::token_hash(secret);
    let found = state.run(move |s| Ok(s.token(&hash)?)).await?;
    let now = state.clock().now();
    Ok(found.and_then(|(token, account)| {
        let expired = token.expires_at.as_deref().is_some_and(|at| {
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .map_or(true, |t| t <= now)
        });
        (token.revoked_at.is_none() && !expired).then_some(Session { account, token })
    }))
}

impl FromRequestParts<AppState> for MaybeSession {
    type Rejection = super::WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(secret) = cookie(&parts.headers, COOKIE) else {
            return Ok(MaybeSession(None));
        };
        let secret = secret.to_string();
        Ok(MaybeSession(lookup(state, &secret).await?))
    }
}

/// Whether the browser reached the server over TLS: said by `X-Forwarded-Proto: https` from
/// a reverse proxy the server trusts (`--trust-forwarded-for`, a peer on loopback). The
/// server itself speaks plain HTTP.
pub struct OverTls(pub bool);

impl FromRequestParts<AppState> for OverTls {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let trusted = state.config().trust_forwarded_for
            && parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .is_some_and(|c| c.0.ip().is_loopback());
        let https = trusted
            && parts
                .headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next_back())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
        Ok(OverTls(https))
    }
}

/// `Set-Cookie` for a new session living `ttl`.
pub fn set_cookie(secret: &str, ttl: Duration, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={secret}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        ttl.as_secs()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether a form post comes from this site's own pages: when the browser says where it
/// comes from (`Sec-Fetch-Site`, `Origin`), it must be here. Keeps other sites from signing
/// a browser in or out behind its user's back.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = value("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match (value("origin"), value("host")) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

/// Where to go after signing in: a page of this view (`/projects/…`), else the start page.
pub fn safe_next(next: &str) -> &str {
    let ok = next.starts_with("/projects/")
        && next.len() <= 512
        && !next.contains("//")
        && next
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
    if ok { next } else { "/" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; gryt_session=gryt_abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, COOKIE), Some("gryt_abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "gryt"), None);
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "x=1".parse().unwrap());
        h.append(header::COOKIE, "gryt_session=t2".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE), Some("t2"));
        h = HeaderMap::new();
        h.append(header::COOKIE, "gryt_session=".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE), None);
    }

    #[test]
    fn only_pages_of_the_view_are_places_to_go_next() {
        assert_eq!(safe_next("/projects/acme/web"), "/projects/acme/web");
        assert_eq!(
            safe_next("/projects/acme/web/generations/v2.0.0"),
            "/projects/acme/web/generations/v2.0.0"
        );
        for bad in [
            "",
            "/",
            "//evil.example/projects/",
            "https://evil.example/projects/a",
            "/projects//evil.example",
            "/projects/a?x=1",
            "/projects/a\r\nSet-Cookie: x",
            "/v1/tokens",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn posts_from_elsewhere_are_not_the_sites_own() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8787")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8787"),
            ("origin", "http://127.0.0.1:8787"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8787"),
            ("origin", "http://evil.example"),
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8787"),
            ("sec-fetch-site", "cross-site"),
        ])));
        assert!(!same_origin(&headers(&[("origin", "null")])));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        let c = set_cookie("gryt_x", Duration::from_secs(60), false);
        assert_eq!(
            c.to_str().unwrap(),
            "gryt_session=gryt_x; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        let c = set_cookie("gryt_x", Duration::from_secs(60), true);
        assert!(c.to_str().unwrap().ends_with("; Secure"));
        assert!(clear_cookie(false).to_str().unwrap().contains("Max-Age=0"));
    }
}

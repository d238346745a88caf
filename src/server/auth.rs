//! Authentication: argon2 password hashes, random bearer tokens stored only as SHA-256
//! hashes, the [`Auth`] extractor every protected route takes, and the in-memory login rate
//! limiter (per account and per client address). Hashing runs on blocking threads.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use time::OffsetDateTime;

use super::app::AppState;
use super::clock::Clock;
use super::error::ServiceError;
use super::storage::{AccountRow, TokenRow};
use crate::api::ErrorCode;
use crate::api::error::RateLimitedDetails;
use crate::domain::generation::hex;

/// Prefix of every secret gryt issues, so scanners and people recognise a leaked one.
pub const TOKEN_PREFIX: &str = "gryt_";

fn random_bytes<const N: usize>() -> Result<[u8; N], ServiceError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| ServiceError::Internal(format!("no system randomness: {e}")))?;
    Ok(buf)
}

/// A new secret token (256 random bits) and the hash to store.
pub fn new_token() -> Result<(String, String), ServiceError> {
    let secret = format!("{TOKEN_PREFIX}{}", hex(&random_bytes::<32>()?));
    let hash = token_hash(&secret);
    Ok((secret, hash))
}

pub fn token_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Argon2id PHC string for a password. Blocking: call from a blocking thread.
pub fn hash_password(password: &str) -> Result<String, ServiceError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| ServiceError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal(format!("hashing a password: {e}")))
}

/// Checks a password against a stored PHC string. `None` checks against a dummy hash so an
/// unknown account costs the same time as a wrong password. Blocking.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("gryt-dummy-password").unwrap_or_default());
    let phc = stored.unwrap_or(dummy);
    let ok = PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false);
    ok && stored.is_some()
}

/// RFC 3339, whole seconds, like every timestamp the client stores and shows.
pub fn format_time(t: time::OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

fn is_past(rfc3339: &str, now: time::OffsetDateTime) -> bool {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| t <= now)
        .unwrap_or(true)
}

/// The authenticated caller of a request: its account and the token it used.
#[derive(Debug, Clone)]
pub struct Auth {
    pub account: AccountRow,
    pub token: TokenRow,
}

impl Auth {
    pub fn actor(&self) -> super::rules::Actor {
        super::rules::Actor {
            account_id: self.account.id.clone(),
            username: self.account.username.clone(),
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ServiceError::unauthorized(
                    "missing credentials: log in (gryt cloud login) or set GRYT_TOKEN",
                )
            })?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ServiceError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        let hash = token_hash(secret);
        let found = match state.token_cache().get(&hash) {
            Some(hit) => Some(hit),
            None => {
                let key = hash.clone();
                let found = state.run(move |s| Ok(s.token(&key)?)).await?;
                if let Some((token, account)) = &found
                    && token.revoked_at.is_none()
                {
                    state
                        .token_cache()
                        .put(hash, token.clone(), account.clone());
                }
                found
            }
        };
        let Some((token, account)) = found else {
            return Err(ServiceError::unauthorized("unknown token: log in again"));
        };
        if token.revoked_at.is_some() {
            return Err(ServiceError::unauthorized(
                "this token was revoked: log in again",
            ));
        }
        let now = state.clock().now();
        if token
            .expires_at
            .as_deref()
            .is_some_and(|at| is_past(at, now))
        {
            return Err(ServiceError::unauthorized(
                "this token has expired: log in again",
            ));
        }
        Ok(Auth { account, token })
    }
}

/// Recently verified tokens, so most requests skip a storage round trip. Entries live a few
/// seconds; revoking through this server forgets the token at once, and expiry is checked on
/// every use. (Another server process sharing the storage would see a revocation within
/// [`TOKEN_CACHE_TTL`].)
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (Instant, TokenRow, AccountRow)>>,
    /// Tokens revoked recently: a lookup that raced with the revocation must not re-cache
    /// the token it read just before.
    revoked: Mutex<HashMap<uuid::Uuid, Instant>>,
}

pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);
const TOKEN_CACHE_MAX: usize = 10_000;

impl TokenCache {
    pub fn get(&self, hash: &str) -> Option<(TokenRow, AccountRow)> {
        let map = self.entries.lock().ok()?;
        let (at, token, account) = map.get(hash)?;
        (at.elapsed() < TOKEN_CACHE_TTL).then(|| (token.clone(), account.clone()))
    }

    pub fn put(&self, hash: String, token: TokenRow, account: AccountRow) {
        if let Ok(revoked) = self.revoked.lock()
            && revoked.contains_key(&token.id)
        {
            return;
        }
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= TOKEN_CACHE_MAX {
                map.clear();
            }
            map.insert(hash, (Instant::now(), token, account));
        }
    }

    /// Forgets a token (after it was revoked).
    pub fn forget(&self, token_id: uuid::Uuid) {
        if let Ok(mut revoked) = self.revoked.lock() {
            revoked.retain(|_, at| at.elapsed() < 6 * TOKEN_CACHE_TTL);
            revoked.insert(token_id, Instant::now());
        }
        if let Ok(mut map) = self.entries.lock() {
            map.retain(|_, (_, t, _)| t.id != token_id);
        }
    }
}

/// The client's address: the TCP peer, or — when the server is configured to trust a
/// reverse proxy and the peer is on loopback — the last `X-Forwarded-For` entry (the one the
/// proxy appended).
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = || {
            let header = parts.headers.get("x-forwarded-for")?.to_str().ok()?;
            header.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
        };
        let addr = match peer {
            Some(ip) if state.config().trust_forwarded_for && ip.is_loopback() => {
                forwarded().or(Some(ip))
            }
            other => other,
        };
        Ok(ClientAddr(addr))
    }
}

/// Login limits: failed attempts per account and all attempts per client address, each in a
/// fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    pub per_account: u32,
    pub per_address: u32,
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_account: 10,
            per_address: 100,
            window: Duration::from_secs(300),
        }
    }
}

/// Windows are measured on the server's [`Clock`], so tests move through them without
/// sleeping.
#[derive(Debug)]
pub struct LoginLimiter {
    limits: LoginLimits,
    clock: Clock,
    windows: Mutex<HashMap<String, (OffsetDateTime, u32)>>,
}

/// Entries kept before expired ones are swept.
const MAX_ENTRIES: usize = 100_000;

impl LoginLimiter {
    pub fn new(limits: LoginLimits, clock: Clock) -> Self {
        LoginLimiter {
            limits,
            clock,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn limited(&self, retry: Duration) -> ServiceError {
        let secs = retry.as_secs().max(1);
        ServiceError::with(
            ErrorCode::RateLimited,
            format!("too many login attempts; retry in {secs} s"),
            RateLimitedDetails {
                retry_after_secs: secs,
            },
        )
    }

    /// Counts one attempt against `key` if `count`; refuses once `limit` is reached.
    fn hit(&self, key: String, limit: u32, count: bool) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let window = self.limits.window;
        // Time since a window opened; a clock set back counts as no time.
        let since = |start: OffsetDateTime| Duration::try_from(now - start).unwrap_or_default();
        let Ok(mut map) = self.windows.lock() else {
            return Ok(());
        };
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (start, _)| since(*start) < window);
        }
        let entry = map.entry(key).or_insert((now, 0));
        if since(entry.0) >= window {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            return Err(self.limited(window.saturating_sub(since(entry.0))));
        }
        if count {
            entry.1 += 1;
        }
        Ok(())
    }

    /// Before verifying: counts the attempt for the address, checks the account's failures.
    pub fn before_attempt(&self, addr: Option<IpAddr>, username: &str) -> Result<(), ServiceError> {
        if let Some(ip) = addr {
            self.hit(format!("ip:{ip}"), self.limits.per_address, true)?;
        }
        self.hit(format!("user:{username}"), self.limits.per_account, false)
    }

    /// Counts an attempt of another kind (registration) against the address only.
    pub fn count_address(&self, addr: Option<IpAddr>) -> Result<(), ServiceError> {
        match addr {
            Some(ip) => self.hit(format!("ip:{ip}"), self.limits.per_address, true),
            None => Ok(()),
        }
    }

    pub fn failed(&self, username: &str) {
        let _ = self.hit(format!("user:{username}"), u32::MAX, true);
    }

    pub fn succeeded(&self, username: &str) {
        if let Ok(mut map) = self.windows.lock() {
            map.remove(&format!("user:{username}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_counts_per_account_failures_and_resets_on_success() {
        let manual = super::super::clock::ManualClock::starting_now();
        let l = LoginLimiter::new(
            LoginLimits {
                per_account: 2,
                per_address: 100,
                window: Duration::from_secs(60),
            },
            manual.clock(),
        );
        assert!(l.before_attempt(None, "ann").is_ok());
        l.failed("ann");
        l.failed("ann");
        assert_eq!(
            l.before_attempt(None, "ann").unwrap_err().code(),
            ErrorCode::RateLimited
        );
        assert!(l.before_attempt(None, "bob").is_ok());
        l.succeeded("ann");
        assert!(l.before_attempt(None, "ann").is_ok());
        // Failures count within one window only.
        l.failed("ann");
        l.failed("ann");
        manual.advance(Duration::from_secs(59));
        assert!(l.before_attempt(None, "ann").is_err());
        manual.advance(Duration::from_secs(1));
        assert!(l.before_attempt(None, "ann").is_ok());
    }

    #[test]
    fn token_cache_never_keeps_a_revoked_token() {
        let token = TokenRow {
            id: uuid::Uuid::now_v7(),
            account_id: "a".into(),
            kind: crate::api::accounts::TokenKind::Device,
            name: "laptop".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            expires_at: None,
            revoked_at: None,
        };
        let account = AccountRow {
            id: "a".into(),
            username: "ann".into(),
            password_hash: String::new(),
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        let cache = TokenCache::default();
        cache.put("h".into(), token.clone(), account.clone());
        assert!(cache.get("h").is_some());
        cache.forget(token.id);
        assert!(cache.get("h").is_none());
        // A lookup that read the token just before the revocation cannot re-cache it.
        cache.put("h".into(), token, account);
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(token_hash(&a), ha);
        assert_ne!(ha, a);
    }
}

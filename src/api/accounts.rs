//! Accounts, tokens, API keys, teams and projects on the wire. Names follow one rule,
//! [`check_name`], so a name valid on one side is valid on the other.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Account, team and project names: 1–64 characters of lowercase ASCII letters, digits, `-`,
/// `_` and `.`, starting with a letter or digit (they appear in URLs and in `TEAM/PROJECT`).
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} name `{}`: use 1-64 lowercase letters, digits, `-`, `_` or `.`, starting with a letter or digit",
            name.escape_debug()
        ))
    }
}

pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "password must be at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    Ok(())
}

/// `POST /v1/accounts` (open registration) and the body of `gryt cloud admin user add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub username: String,
    pub created_at: String,
}

/// `POST /v1/auth/login`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// Shown in the token list (`laptop`, `ci-runner-3`); defaults to `device`.
    #[serde(default)]
    pub device: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Device,
    ApiKey,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Device => "device",
            TokenKind::ApiKey => "api_key",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "device" => Some(TokenKind::Device),
            "api_key" => Some(TokenKind::ApiKey),
            _ => None,
        }
    }
}

/// A token as listed: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: Uuid,
    pub kind: TokenKind,
    pub name: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// Whether this is the token the request was made with.
    #[serde(default)]
    pub current: bool,
}

/// The answer to a login or an API-key creation: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    pub token: String,
    pub info: TokenInfo,
    pub username: String,
}

/// `POST /v1/api-keys`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateApiKey {
    pub name: String,
    /// Days until it expires; `None`: never.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// `GET /v1/auth/whoami`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {
    pub username: String,
    pub token: TokenInfo,
    pub teams: Vec<Team>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// `POST /v1/teams` and `POST /v1/teams/{team}/projects`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateNamed {
    pub name: String,
}

/// A team as its member sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub name: String,
    pub role: Role,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub username: String,
    pub role: Role,
}

/// `POST /v1/teams/{team}/members`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddMember {
    pub username: String,
    #[serde(default = "member")]
    pub role: Role,
}

fn member() -> Role {
    Role::Member
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub team: String,
    pub name: String,
    pub head: u64,
    pub created_at: String,
    /// The project's immutable id (absent from servers that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<uuid::Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["acme", "a", "web-app", "team_2", "x.y"] {
            assert!(check_name("team", good).is_ok(), "{good}");
        }
        for bad in ["", "Acme", "-a", "a/b", "a..b", "ä", &"a".repeat(65)] {
            assert!(check_name("team", bad).is_err(), "{bad}");
        }
    }
}

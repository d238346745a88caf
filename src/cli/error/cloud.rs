//! Cloud client errors: any error answer of the server exits 3 (rejected), no answer exits 4
//! (unreachable); not linked, not logged in and a bad credentials file exit 1.

use super::{CommandError, ExitKind};
use crate::api::ErrorCode;
use crate::api::error::{
    NotFoundDetails, RateLimitedDetails, Resource, StaleRevisionDetails, TagTakenDetails,
    VersionHolderDetails,
};
use crate::sync::client::ClientError;
use crate::sync::credentials::{CredentialsError, TOKEN_ENV, TokenSource};
use crate::sync::remote::RemoteError;

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Api { body, .. } => {
                let err = CommandError::new(ExitKind::Rejected, body.message.clone());
                hints(&body).into_iter().fold(err, CommandError::hint)
            }
            e @ ClientError::Unreachable { .. } => {
                CommandError::new(ExitKind::Unreachable, e.to_string())
                    .hint("check the URL and your connection; your local work is safe")
            }
            e @ ClientError::Protocol(_) => CommandError::user(e.to_string())
                .hint("check that cloud.url points at a Gryt Cloud server of a compatible version"),
        }
    }
}

/// What to do about a refusal, by code; `details` fill in who, when and what instead.
fn hints(body: &crate::api::ErrorBody) -> Vec<String> {
    use ErrorCode::*;
    let mut out = Vec::new();
    match body.error {
        Unauthorized => out.push("log in again: gryt cloud login".to_string()),
        RateLimited => {
            let secs = body
                .details_as::<RateLimitedDetails>()
                .map(|d| d.retry_after_secs);
            out.push(match secs {
                Some(s) => format!("too many attempts: wait {s} s, then try again"),
                None => "too many attempts: wait a few minutes, then try again".into(),
            });
        }
        NameTaken => out.push("choose another name".into()),
        Forbidden => out.push(
            "ask an owner of the team to do it, or to make you one (gryt cloud team members TEAM)"
                .into(),
        ),
        RegistrationClosed => out.push(
            "ask the server's administrator for an account (gryt cloud admin user add)".into(),
        ),
        // `details.resource` says what is missing; the way on depends on what it is.
        NotFound => {
            let hint = match body.details_as::<NotFoundDetails>().map(|d| d.resource) {
                Some(Resource::Team | Resource::Project) => {
                    "check TEAM/PROJECT and that you are a member of the team (gryt cloud team list)"
                }
                Some(Resource::Account) => {
                    "check the username: accounts are made with gryt cloud register"
                }
                Some(Resource::Member) => "see who is a member: gryt cloud team members TEAM",
                Some(Resource::Token) => {
                    "see your API keys and their ids: gryt cloud api-keys list"
                }
                Some(Resource::Generation) => "run gryt sync pull to see what the cloud holds",
                Some(Resource::Webhook) => {
                    "see the project's webhooks and their ids: gryt cloud webhook list TEAM/PROJECT"
                }
                Some(Resource::Route) | None => "",
            };
            if !hint.is_empty() {
                out.push(hint.into());
            }
        }
        // The message already says how far behind.
        Behind => out.push("run gryt sync pull, then try again (gryt sync does both)".into()),
        VersionExists | AlreadyPromoted => {
            if let Some(d) = body.details_as::<VersionHolderDetails>() {
                out.push(holder(body.error, &d));
                // A push refused for the version moves a never-synced draft; a generation
                // promoted by someone else cannot be renamed: the work goes out as a new one.
                let way = match body.error {
                    VersionExists => format!("gryt generation rename {} NEW", d.version),
                    _ => "gryt sync pull, then gryt generation new NEW".to_string(),
                };
                if !d.suggested_versions.is_empty() {
                    out.push(format!(
                        "free versions: {} ({way})",
                        d.suggested_versions.join(", "),
                    ));
                }
            }
        }
        PromotedImmutable => out.push(
            "promoted generations are immutable; release the fix as a new version (gryt hotfix)"
                .into(),
        ),
        NotOwner => out.push(
            "only an evolution's owner may change it; start your own with gryt evolution start"
                .into(),
        ),
        TagTaken => {
            if let Some(d) = body.details_as::<TagTakenDetails>() {
                out.push(format!("the next free rc is {}", d.next_free_tag));
            }
            out.push("run gryt sync pull, then push again".into());
        }
        StaleRevision => {
            if let Some(d) = body.details_as::<StaleRevisionDetails>() {
                out.push(format!(
                    "the cloud has revision {} of that {}",
                    d.current_revision, d.kind
                ));
            }
            out.push("run gryt sync pull, then try again".into());
        }
        CodeNameTaken => out.push("run gryt sync pull, then push again".into()),
        GatesFailed => out.push("prove every change on the cloud's data, then promote".into()),
        ChangeInUse => out.push("keep the change: evolutions prove it".into()),
        NotDeletable => out.push("only drafts without others' evolutions can be deleted".into()),
        IdempotencyKeyReused => out.push("run the command again: it makes a new key".into()),
        PayloadTooLarge => out.push(
            "ask the server's administrator to raise its limit (gryt cloud serve --body-limit)"
                .into(),
        ),
        Internal | Unavailable => out.push("the server failed; try again later".into()),
        RequestTimeout => out.push("check your connection, then try again".into()),
        Validation | MethodNotAllowed | BadRequest | UriTooLong | UnsupportedMediaType
        | HeadersTooLarge => {}
    }
    out
}

/// Who holds a version in the cloud: `v1.0.0 was promoted in the cloud by ann at T`.
pub(super) fn holder(code: ErrorCode, d: &VersionHolderDetails) -> String {
    match (&d.promoted_by, &d.promoted_at) {
        (Some(by), Some(at)) => format!("{} was promoted in the cloud by {by} at {at}", d.version),
        _ if code == ErrorCode::AlreadyPromoted => format!("{} is promoted already", d.version),
        _ => format!(
            "{} is held by a generation that {} created at {}",
            d.version, d.created_by, d.created_at
        ),
    }
}

/// [`From<ClientError>`], told where the token came from: a refused `GRYT_TOKEN` is fixed by
/// changing the variable, not by logging in.
pub fn client_error(e: ClientError, source: TokenSource) -> CommandError {
    let env_refused = source == TokenSource::Env && e.code() == Some(ErrorCode::Unauthorized);
    let mut err = CommandError::from(e);
    if env_refused {
        err.hints = vec![format!(
            "the token comes from {TOKEN_ENV}: set a valid one (gryt cloud api-keys create), \
             or unset it to use your login"
        )];
    }
    err
}

impl From<RemoteError> for CommandError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::NotLinked => CommandError::user(e.to_string())
                .hint("link it: gryt cloud link TEAM/PROJECT --url URL"),
            RemoteError::NotLoggedIn { ref url } => {
                let hint = format!("log in: gryt cloud login --url {url}");
                CommandError::user(e.to_string()).hint(hint)
            }
            RemoteError::Credentials(c) => c.into(),
        }
    }
}

impl From<CredentialsError> for CommandError {
    fn from(e: CredentialsError) -> Self {
        let err = CommandError::user(e.to_string());
        match &e {
            CredentialsError::Exposed { path, .. } => err.hint(format!(
                "make it private: chmod 600 {} (and consider logging in again)",
                path.display()
            )),
            CredentialsError::BadFile { path, .. } => {
                err.hint(format!("remove {} and log in again", path.display()))
            }
            _ => err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorBody;

    fn api(code: ErrorCode, details: serde_json::Value) -> CommandError {
        ClientError::Api {
            status: code.http_status(),
            body: ErrorBody::new(code, "refused").with_details(details),
        }
        .into()
    }

    #[test]
    fn refusals_exit_3_with_hints() {
        let e = api(ErrorCode::Unauthorized, serde_json::json!({}));
        assert_eq!(e.kind.code(), 3);
        assert_eq!(e.hints, ["log in again: gryt cloud login"]);
        let e = api(
            ErrorCode::RateLimited,
            serde_json::json!({"retry_after_secs": 42}),
        );
        assert!(e.hints[0].contains("wait 42 s"), "{:?}", e.hints);
        let e = api(
            ErrorCode::VersionExists,
            serde_json::json!({"version": "v1.0.0", "generation_id": "g", "created_by": "ann",
                "created_at": "T", "promoted": true, "promoted_by": "ann", "promoted_at": "T1",
                "suggested_versions": ["v1.0.1", "v1.1.0"]}),
        );
        assert_eq!(
            e.hints,
            [
                "v1.0.0 was promoted in the cloud by ann at T1",
                "free versions: v1.0.1, v1.1.0 (gryt generation rename v1.0.0 NEW)"
            ]
        );
        let e = api(
            ErrorCode::Behind,
            serde_json::json!({"head": 5, "base_seq": 3, "missing": 2}),
        );
        assert!(
            e.hints.iter().any(|h| h.contains("gryt sync pull")),
            "{:?}",
            e.hints
        );
    }

    /// The hint follows `details.resource`, whatever the message says.
    #[test]
    fn not_found_hints_follow_the_typed_resource() {
        let e = api(
            ErrorCode::NotFound,
            serde_json::json!({"resource": "team", "name": "acme"}),
        );
        assert_eq!(e.message, "refused");
        assert_eq!(
            e.hints,
            ["check TEAM/PROJECT and that you are a member of the team (gryt cloud team list)"]
        );
        let e = api(
            ErrorCode::NotFound,
            serde_json::json!({"resource": "token", "name": "0193"}),
        );
        assert_eq!(
            e.hints,
            ["see your API keys and their ids: gryt cloud api-keys list"]
        );
        let words_only = ClientError::Api {
            status: 404,
            body: ErrorBody::new(ErrorCode::NotFound, "account bob not found"),
        };
        assert!(CommandError::from(words_only).hints.is_empty());
    }

    #[test]
    fn a_refused_gryt_token_points_at_the_variable() {
        let refused = || ClientError::Api {
            status: 401,
            body: ErrorBody::new(ErrorCode::Unauthorized, "token revoked"),
        };
        let e = client_error(refused(), TokenSource::Env);
        assert_eq!(e.kind.code(), 3);
        assert!(e.hints[0].contains("GRYT_TOKEN"), "{:?}", e.hints);
        let e = client_error(refused(), TokenSource::File);
        assert_eq!(e.hints, ["log in again: gryt cloud login"]);
    }

    #[test]
    fn unreachable_exits_4() {
        let e: CommandError = ClientError::Unreachable {
            url: "http://127.0.0.1:9".into(),
            reason: "connection refused".into(),
        }
        .into();
        assert_eq!(e.kind.code(), 4);
        assert!(
            e.message
                .contains("cannot reach the cloud at http://127.0.0.1:9")
        );
        let e: CommandError = ClientError::Protocol("garbage".into()).into();
        assert_eq!(e.kind.code(), 1);
    }
}

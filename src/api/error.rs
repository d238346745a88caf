//! The one error body every Gryt Cloud response uses: `{ "error", "message", "details" }`,
//! with a closed set of stable snake_case codes. Clients match on [`ErrorCode`], never on the
//! message text; `details` carries what a client needs to act (missing changes, holder of a
//! version, next free rc, …).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Stable error codes. Adding a code is a compatible change; renaming one is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 409: the project head moved past the push's `base_seq`; pull first.
    Behind,
    /// 409: another generation of the project already holds the version.
    VersionExists,
    /// 409: the push or delete touches a promoted generation, its changes or evolutions.
    PromotedImmutable,
    /// 403: an evolution or pipeline run may only be changed by its owner.
    NotOwner,
    /// 409: the rc tag is already used for that version.
    TagTaken,
    /// 409: an evolution code name is already used in the project.
    CodeNameTaken,
    /// 409: `base_revision` differs from the record's current revision.
    StaleRevision,
    /// 409: the generation was promoted already (first promoter wins).
    AlreadyPromoted,
    /// 409: the promotion gates failed on the server's data.
    GatesFailed,
    /// 409: a change that evolutions refer to cannot be removed from the contract.
    ChangeInUse,
    /// 409: the generation cannot be deleted (not a draft, or evolutions by others).
    NotDeletable,
    /// 409: a name (account, team, project, member) is already taken.
    NameTaken,
    /// 422: the idempotency key was used before for a different request.
    IdempotencyKeyReused,
    /// 401: missing, unknown, expired or revoked credentials.
    Unauthorized,
    /// 403: authenticated, but the role does not allow it (e.g. a member managing members).
    Forbidden,
    /// 403: the server does not accept new accounts.
    RegistrationClosed,
    /// 404: no such resource, or one the caller may not see.
    NotFound,
    /// 405: the resource exists but not with this method.
    MethodNotAllowed,
    /// 413: the request body is larger than the server accepts (declared or sent).
    PayloadTooLarge,
    /// 400: the request is not well-formed HTTP, or its path cannot be decoded.
    BadRequest,
    /// 408: the request body did not arrive in time.
    RequestTimeout,
    /// 414: the request URI is longer than the server accepts.
    UriTooLong,
    /// 415: a JSON body sent without `Content-Type: application/json`.
    UnsupportedMediaType,
    /// 431: the request headers are larger than the server accepts.
    HeadersTooLarge,
    /// 422: the request is malformed or breaks a domain rule.
    Validation,
    /// 429: too many attempts; retry after `details.retry_after_secs`.
    RateLimited,
    /// 500: the server failed; the request may be retried.
    Internal,
    /// 503: storage is not answering.
    Unavailable,
}

impl ErrorCode {
    /// The HTTP status that carries this code.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            Behind | VersionExists | PromotedImmutable | TagTaken | CodeNameTaken
            | StaleRevision | AlreadyPromoted | GatesFailed | ChangeInUse | NotDeletable
            | NameTaken => 409,
            NotOwner | Forbidden | RegistrationClosed => 403,
            Unauthorized => 401,
            NotFound => 404,
            MethodNotAllowed => 405,
            PayloadTooLarge => 413,
            BadRequest => 400,
            RequestTimeout => 408,
            UriTooLong => 414,
            UnsupportedMediaType => 415,
            HeadersTooLarge => 431,
            Validation | IdempotencyKeyReused => 422,
            RateLimited => 429,
            Internal => 500,
            Unavailable => 503,
        }
    }

    /// The code for an error status that no handler chose (answers of the HTTP layers:
    /// unknown routes, malformed requests, timeouts).
    pub fn for_status(status: u16) -> ErrorCode {
        use ErrorCode::*;
        match status {
            400 => BadRequest,
            401 => Unauthorized,
            403 => Forbidden,
            404 => NotFound,
            405 => MethodNotAllowed,
            408 => RequestTimeout,
            413 => PayloadTooLarge,
            414 => UriTooLong,
            415 => UnsupportedMediaType,
            431 => HeadersTooLarge,
            429 => RateLimited,
            503 => Unavailable,
            _ if (400..500).contains(&status) => Validation,
            _ => Internal,
        }
    }

    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            Behind => "behind",
            VersionExists => "version_exists",
            PromotedImmutable => "promoted_immutable",
            NotOwner => "not_owner",
            TagTaken => "tag_taken",
            CodeNameTaken => "code_name_taken",
            StaleRevision => "stale_revision",
            AlreadyPromoted => "already_promoted",
            GatesFailed => "gates_failed",
            ChangeInUse => "change_in_use",
            NotDeletable => "not_deletable",
            NameTaken => "name_taken",
            IdempotencyKeyReused => "idempotency_key_reused",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            RegistrationClosed => "registration_closed",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            PayloadTooLarge => "payload_too_large",
            BadRequest => "bad_request",
            RequestTimeout => "request_timeout",
            UriTooLong => "uri_too_long",
            UnsupportedMediaType => "unsupported_media_type",
            HeadersTooLarge => "headers_too_large",
            Validation => "validation",
            RateLimited => "rate_limited",
            Internal => "internal",
            Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
    #[serde(default)]
    pub details: serde_json::Value,
}

impl ErrorBody {
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            error,
            message: message.into(),
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn with_details(mut self, details: impl Serialize) -> Self {
        self.details = serde_json::to_value(details)
            .unwrap_or_else(|_| serde_json::Value::Object(Default::default()));
        self
    }

    /// Decodes `details` into the typed shape of its code (see the `*Details` structs).
    pub fn details_as<T: for<'de> Deserialize<'de>>(&self) -> Option<T> {
        serde_json::from_value(self.details.clone()).ok()
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

/// `behind`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BehindDetails {
    pub head: u64,
    pub base_seq: u64,
    /// How many changes the client has not pulled yet (`head - base_seq`).
    pub missing: u64,
}

/// `version_exists` and `already_promoted`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionHolderDetails {
    pub version: String,
    pub generation_id: String,
    pub created_by: String,
    pub created_at: String,
    pub promoted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<String>,
    /// Free versions to use instead: the next free patch and the next free minor.
    pub suggested_versions: Vec<String>,
}

/// `tag_taken`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagTakenDetails {
    pub evolution_id: String,
    pub tag: String,
    pub next_free_rc: u32,
    pub next_free_tag: String,
}

/// `stale_revision`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleRevisionDetails {
    pub id: String,
    pub kind: String,
    pub base_revision: Option<u64>,
    pub current_revision: u64,
}

/// What a `not_found` answer says is missing (or not visible to the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// No route answers that path.
    Route,
    Account,
    Team,
    /// An account that is not a member of the team.
    Member,
    Project,
    Generation,
    /// A device token or API key of the caller.
    Token,
    /// A webhook of the project.
    Webhook,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Route => "route",
            Resource::Account => "account",
            Resource::Team => "team",
            Resource::Member => "member",
            Resource::Project => "project",
            Resource::Generation => "generation",
            Resource::Token => "token",
            Resource::Webhook => "webhook",
        }
    }
}

/// `not_found`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotFoundDetails {
    pub resource: Resource,
    /// The name or id asked for, as the request spelled it (`TEAM/PROJECT` for projects).
    pub name: String,
}

/// `rate_limited`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitedDetails {
    pub retry_after_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_spell_like_serde() {
        use ErrorCode::*;
        for code in [
            Behind,
            VersionExists,
            PromotedImmutable,
            NotOwner,
            TagTaken,
            CodeNameTaken,
            StaleRevision,
            AlreadyPromoted,
            GatesFailed,
            ChangeInUse,
            NotDeletable,
            NameTaken,
            IdempotencyKeyReused,
            Unauthorized,
            Forbidden,
            RegistrationClosed,
            NotFound,
            MethodNotAllowed,
            PayloadTooLarge,
            BadRequest,
            RequestTimeout,
            UriTooLong,
            UnsupportedMediaType,
            HeadersTooLarge,
            Validation,
            RateLimited,
            Internal,
            Unavailable,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::String(code.as_str().into())
            );
            // The layers' statuses map back to the code that carries them.
            if code.http_status() != 409 && code.http_status() != 403 && code.http_status() != 422 {
                assert_eq!(ErrorCode::for_status(code.http_status()), code);
            }
        }
    }

    #[test]
    fn not_found_details_name_the_resource() {
        let body = ErrorBody::new(ErrorCode::NotFound, "team acme not found").with_details(
            NotFoundDetails {
                resource: Resource::Team,
                name: "acme".into(),
            },
        );
        assert_eq!(
            body.details,
            serde_json::json!({"resource": "team", "name": "acme"})
        );
        assert_eq!(
            body.details_as::<NotFoundDetails>().map(|d| d.resource),
            Some(Resource::Team)
        );
    }
}

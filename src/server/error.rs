//! The one place where failures become HTTP answers. Rules, auth and storage return
//! [`ServiceError`]; its `IntoResponse` picks the status from the [`ErrorCode`] and writes the
//! `{error, message, details}` body (plus `Retry-After` for 429). Internal errors are logged
//! here and answered without their inner text.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::storage::StorageError;
use crate::api::error::{NotFoundDetails, Resource};
use crate::api::{ErrorBody, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A rejection the client can act on: a stable code, a message naming the object, details.
    #[error("{}", .0.message)]
    Rejected(Box<ErrorBody>),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ServiceResult<T> = std::result::Result<T, ServiceError>;

impl ServiceError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ServiceError::Rejected(Box::new(ErrorBody::new(code, message)))
    }

    pub fn with(code: ErrorCode, message: impl Into<String>, details: impl Serialize) -> Self {
        ServiceError::Rejected(Box::new(
            ErrorBody::new(code, message).with_details(details),
        ))
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, message)
    }

    /// `not_found` for `resource` named `name`, typed in `details.resource` so clients
    /// never parse the message.
    pub fn not_found(resource: Resource, name: impl Into<String>) -> Self {
        let name = name.into();
        Self::with(
            ErrorCode::NotFound,
            format!("{} {name} not found", resource.as_str()),
            NotFoundDetails { resource, name },
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// The code this error answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Rejected(b) => b.error,
            ServiceError::Storage(StorageError::NameTaken { .. }) => ErrorCode::NameTaken,
            ServiceError::Storage(StorageError::Unavailable(_)) => ErrorCode::Unavailable,
            ServiceError::Storage(_) | ServiceError::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn body(&self) -> ErrorBody {
        match self {
            ServiceError::Rejected(b) => (**b).clone(),
            ServiceError::Storage(e @ StorageError::NameTaken { .. }) => {
                ErrorBody::new(ErrorCode::NameTaken, e.to_string())
            }
            ServiceError::Storage(StorageError::Unavailable(_)) => {
                ErrorBody::new(ErrorCode::Unavailable, "storage is busy; retry the request")
            }
            ServiceError::Storage(_) | ServiceError::Internal(_) => ErrorBody::new(
                ErrorCode::Internal,
                "the server failed to handle the request; it was not applied",
            ),
        }
    }
}

/// An error response from a bare code and message (fallbacks, extractor rejections).
pub fn error_response(code: ErrorCode, message: impl Into<String>) -> Response {
    ServiceError::new(code, message).into_response()
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let body = self.body();
        if body.error == ErrorCode::Internal || body.error == ErrorCode::Unavailable {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::debug!(code = %body.error, message = %body.message, "request rejected");
        }
        let status = StatusCode::from_u16(body.error.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = (body.error == ErrorCode::RateLimited)
            .then(|| {
                body.details
                    .get("retry_after_secs")
                    .and_then(|v| v.as_u64())
            })
            .flatten();
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// Maps an axum extractor rejection (bad JSON, body too large, bad path or query) to the JSON
/// error body.
pub fn rejection(status: StatusCode, text: String) -> ServiceError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ServiceError::new(
            ErrorCode::PayloadTooLarge,
            "the request body is larger than this server accepts",
        ),
        _ => ServiceError::validation(text),
    }
}

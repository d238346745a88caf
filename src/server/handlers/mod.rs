//! HTTP handlers, one module per resource. Handlers parse, authorise, call storage or a
//! rule on a blocking thread, and shape the answer; rules and error mapping live elsewhere.

pub mod accounts;
pub mod health;
pub mod projects;
pub mod teams;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;

use super::error::{ServiceError, rejection};

/// A JSON request body, decoded with the JSON error body on failure (413 above the body
/// limit, 422 for anything malformed). Keeps the raw bytes for request hashing.
pub struct JsonBody<T>(pub T, pub Bytes);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ServiceError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            let status = r.status();
            rejection(status, r.body_text())
        })?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ServiceError::validation(format!("invalid request body: {e}")))?;
        Ok(JsonBody(value, bytes))
    }
}

/// A JSON answer with a status.
pub fn json<T: serde::Serialize>(
    status: axum::http::StatusCode,
    value: T,
) -> axum::response::Response {
    (status, axum::Json(value)).into_response()
}

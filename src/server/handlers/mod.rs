//! HTTP handlers, one module per resource. Handlers parse, authorise, call storage or a
//! rule on a blocking thread, and shape the answer; rules and error mapping live elsewhere.

pub mod accounts;
pub mod health;
pub mod openapi;
pub mod projects;
pub mod teams;
pub mod webhooks;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;

use super::app::AppState;
use super::error::{ServiceError, rejection};
use crate::api::ErrorCode;

/// A JSON request body, decoded with the JSON error body on failure: 415 unless the request
/// says `Content-Type: application/json` (so a browser cannot send one cross-site without a
/// CORS preflight, which this server never grants), 413 above the body limit, 408 when it
/// does not arrive within the body timeout, 422 for anything malformed. Keeps the raw bytes
/// for request hashing.
pub struct JsonBody<T>(pub T, pub Bytes);

/// Whether the headers declare a JSON body: `application/json`, any case, with or without
/// parameters (`; charset=utf-8`).
pub fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ServiceError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !declares_json(req.headers()) {
            return Err(ServiceError::new(
                ErrorCode::UnsupportedMediaType,
                "the request body must be JSON sent with `Content-Type: application/json`",
            ));
        }
        let read = Bytes::from_request(req, state);
        let bytes = tokio::time::timeout(state.config().body_timeout, read)
            .await
            .map_err(|_| {
                ServiceError::new(
                    ErrorCode::RequestTimeout,
                    "the request body did not arrive in time",
                )
            })?
            .map_err(|r| {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_declared_by_the_content_type_alone() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, v.parse().unwrap());
            declares_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!with("multipart/form-data; boundary=x"));
        assert!(!with("application/jsonp"));
        assert!(!declares_json(&HeaderMap::new()));
    }
}

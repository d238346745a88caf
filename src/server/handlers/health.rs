//! `/healthz` (the process answers) and `/readyz` (storage answers).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::json;
use crate::server::app::AppState;
use crate::server::error::ServiceError;

pub async fn healthz() -> Response {
    json(StatusCode::OK, serde_json::json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> Result<Response, ServiceError> {
    state.run(|s| Ok(s.ping()?)).await.map_err(|e| {
        ServiceError::new(
            crate::api::ErrorCode::Unavailable,
            format!("storage is not answering: {e}"),
        )
    })?;
    Ok(json(StatusCode::OK, serde_json::json!({"status": "ready"})))
}

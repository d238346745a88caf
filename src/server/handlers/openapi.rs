//! `GET /v1/openapi.json`: the OpenAPI 3 description of every route (docs/openapi.json,
//! compiled into the binary so the server always serves the description of itself).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// docs/openapi.json as built into this server.
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

pub async fn openapi() -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_JSON,
    )
        .into_response()
}

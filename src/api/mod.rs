//! Wire types shared by the Gryt Cloud client (`sync`) and server (`server`): records,
//! the sync protocol, accounts, and the one error body. Pure serde types and their checks —
//! no HTTP, no storage, no server dependencies. docs/PROTOCOL.md is the reference.

pub mod accounts;
pub mod digest;
pub mod error;
pub mod import;
pub mod records;
pub mod status;
pub mod sync;
pub mod webhooks;

pub use error::{ErrorBody, ErrorCode};
pub use records::{
    EvolutionRecord, GenerationRecord, PipelineRunRecord, Record, RecordKind, RecordProblem,
    RunStatus, StepSummary, Tombstone,
};
pub use status::{ChangeStatus, EvolutionStatusEntry, GenerationStatusResponse};
pub use sync::{
    ChangesPage, PromoteRequest, PromoteResponse, PushAction, PushRecord, PushRequest,
    PushResponse, PushResult,
};

/// Path prefix of every API route.
pub const API_PREFIX: &str = "/v1";
/// Response header naming the server's version (`gryt/0.1.0`).
pub const SERVER_VERSION_HEADER: &str = "x-gryt-server";
/// Response header carrying the project head seq on project routes.
pub const HEAD_HEADER: &str = "x-gryt-head";

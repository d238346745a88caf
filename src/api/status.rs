//! Where a generation stands, as the cloud computes it from its own data
//! (`GET /v1/projects/TEAM/PROJECT/generations/VERSION/status`): the contract's changes, the
//! evolutions proving each, and whether it is ready for promotion — judged by the same gates
//! `gryt promote` runs (`domain::gates::evaluate`), failing ones named.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::sync::GateOutcome;
use crate::domain::{ChangeId, ChangeType, EvolutionStatus, GenerationStatus, Version};

/// The answer of `GET …/generations/{version}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationStatusResponse {
    pub generation_id: Uuid,
    pub version: Version,
    pub status: GenerationStatus,
    pub created_by: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<String>,
    /// The contract's changes in contract order.
    pub changes: Vec<ChangeStatus>,
    /// How many of the changes have a passing evolution.
    pub proven: u64,
    /// A draft whose gates all pass: `gryt promote` would be accepted now. Always false for
    /// a promoted or abandoned generation (its gates are still reported).
    pub ready: bool,
    /// Every gate's outcome; the failing ones say what is missing.
    pub gates: Vec<GateOutcome>,
    /// The project head the answer was read at.
    pub head: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_id: Option<Uuid>,
}

/// One change of the contract and the evolutions that try to prove it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeStatus {
    #[serde(rename = "type")]
    pub kind: ChangeType,
    pub id: ChangeId,
    pub title: String,
    /// Who the change is assigned to, when the contract says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Whether one of its evolutions passed.
    pub proven: bool,
    /// Its evolutions, oldest first.
    pub evolutions: Vec<EvolutionStatusEntry>,
}

/// One evolution as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvolutionStatusEntry {
    pub id: Uuid,
    pub rc: u32,
    /// `vX.Y.Z-rc.N`
    pub tag: String,
    pub code_name: String,
    pub owner: String,
    pub status: EvolutionStatus,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

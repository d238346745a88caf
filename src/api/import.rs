//! `POST …/projects/{team}/{project}/import`: records copied from another project, kept with
//! the authorship they carry (docs/PROTOCOL.md, "Import"). The copy command streams a source
//! project's changes feed into batches of this request.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ErrorBody;
use super::records::Record;

/// Most records accepted in one import batch (as for a push).
pub const MAX_IMPORT_RECORDS: usize = super::sync::MAX_PUSH_RECORDS;
/// Longest `copied_from` accepted.
pub const MAX_COPIED_FROM_LEN: usize = 500;

/// One batch of records to import, as the source's changes feed served them (tombstones
/// included: they are answered `skipped`, never copied).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRequest {
    /// Where the records come from, e.g. `https://cloud.example.com#acme/web`; kept with each
    /// record created.
    pub copied_from: String,
    /// Judge every record exactly as an import would, then roll back: nothing is written.
    #[serde(default)]
    pub dry_run: bool,
    pub records: Vec<Record>,
}

/// Which kind of record a result speaks of (`deleted` for a tombstone of the source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    Generation,
    Evolution,
    PipelineRun,
    Deleted,
}

impl ImportKind {
    pub fn of(record: &Record) -> ImportKind {
        match record {
            Record::Generation(_) => ImportKind::Generation,
            Record::Evolution(_) => ImportKind::Evolution,
            Record::PipelineRun(_) => ImportKind::PipelineRun,
            Record::Deleted(_) => ImportKind::Deleted,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Generation => "generation",
            ImportKind::Evolution => "evolution",
            ImportKind::PipelineRun => "pipeline_run",
            ImportKind::Deleted => "deleted",
        }
    }
}

/// What happened to one record of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportAction {
    /// Written, with a new seq of the destination.
    Created,
    /// The destination holds the same record with identical content: nothing written.
    Unchanged,
    /// A tombstone of the source: nothing to copy.
    Skipped,
    /// Something at the destination is in the way (`conflict` says what): not written, and
    /// nothing there overwritten.
    Conflict,
}

/// The outcome of one record, in request order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportResult {
    pub kind: ImportKind,
    pub id: Uuid,
    /// How people name the record: `v1.2.0`, `v1.2.0-rc.1 (brave-calm-otter)`, `ci run …`.
    pub name: String,
    pub action: ImportAction,
    /// The record's seq at the destination (created or unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// For `conflict`: the refusal a push of the record would get (`version_exists` with the
    /// holder, `promoted_immutable`, `tag_taken`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<ErrorBody>,
}

/// The answer to an import batch: every record's outcome, applied in one transaction (or,
/// with `dry_run`, judged and rolled back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportResponse {
    /// The destination's head after the batch (before it, for a dry run).
    pub head: u64,
    pub dry_run: bool,
    pub created: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub conflicts: u64,
    pub results: Vec<ImportResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_id: Option<Uuid>,
}

/// Where a record of the destination was copied from (kept by the server per record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub copied_from: String,
    pub copied_by: String,
    pub copied_at: String,
}

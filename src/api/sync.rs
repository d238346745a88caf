//! The sync protocol's request and response bodies: the changes feed, the atomic push and
//! the promotion request (docs/PROTOCOL.md).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::records::{Record, RecordKind};

/// Page size when the client does not ask for one, and the most the server ever returns.
pub const DEFAULT_PAGE_LIMIT: u32 = 1000;
/// Most records accepted in one push.
pub const MAX_PUSH_RECORDS: usize = 10_000;
/// Longest long poll of the changes feed (`wait=` seconds); more is answered as this.
pub const MAX_WAIT_SECS: u32 = 30;
/// Most versions one changes request may narrow the feed to (`versions=`).
pub const MAX_VERSIONS: usize = 100;
/// Longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// `GET …/changes?since=SEQ&limit=N`: records changed after `since`, in seq order. Like every
/// answer of a project route, it names the project and the server history it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangesPage {
    pub records: Vec<Record>,
    /// The `since` to ask for next: the seq of the last record here (or the request's `since`
    /// when the page is empty).
    pub next: u64,
    /// The project head when the page was read.
    pub head: u64,
    /// Whether records after `next` exist.
    pub more: bool,
    /// The project's immutable id (absent from servers that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    /// The server's history id: it changes whenever the server's history is rewound (a
    /// restore from a backup), so a cursor kept under another history id is meaningless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_id: Option<Uuid>,
    /// With `versions=`: the versions asked for that the project does not hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// One record of a push. `base_revision` is the revision the client last synced (`None` for
/// a record the client believes is new); the server refuses with `stale_revision` when it
/// differs from the current one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushRecord {
    pub kind: RecordKind,
    #[serde(default)]
    pub base_revision: Option<u64>,
    /// The record, shaped by `kind` (see [`PushRecord::decode`]), kept as its JSON text: the
    /// client encodes it once and the server decodes it once, never as a tree in between.
    pub record: Box<serde_json::value::RawValue>,
}

impl PartialEq for PushRecord {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.base_revision == other.base_revision
            && self.record.get() == other.record.get()
    }
}

impl PushRecord {
    pub fn new(base_revision: Option<u64>, record: &Record) -> Result<Self, serde_json::Error> {
        use serde_json::value::to_raw_value;
        let (kind, record) = match record {
            Record::Generation(g) => (RecordKind::Generation, to_raw_value(g)?),
            Record::Evolution(e) => (RecordKind::Evolution, to_raw_value(e)?),
            Record::PipelineRun(r) => (RecordKind::PipelineRun, to_raw_value(r)?),
            Record::Deleted(_) => {
                return Err(<serde_json::Error as serde::de::Error>::custom(
                    "tombstones cannot be pushed",
                ));
            }
        };
        Ok(PushRecord {
            kind,
            base_revision,
            record,
        })
    }

    /// The typed record, checked by the domain deserializers (not yet by [`Record::validate`]).
    pub fn decode(&self) -> Result<Record, serde_json::Error> {
        let r = self.record.get();
        Ok(match self.kind {
            RecordKind::Generation => Record::Generation(serde_json::from_str(r)?),
            RecordKind::Evolution => Record::Evolution(serde_json::from_str(r)?),
            RecordKind::PipelineRun => Record::PipelineRun(serde_json::from_str(r)?),
        })
    }

    /// The record as a JSON tree (field-by-field comparisons).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(self.record.get()).unwrap_or_default()
    }
}

/// `POST …/push`: applied in one transaction, all or nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    /// The last head the client pulled; the push is refused `behind` if the head moved on.
    pub base_seq: u64,
    /// Unique per logical push; a retry with the same key returns the first answer.
    pub idempotency_key: String,
    pub records: Vec<PushRecord>,
}

/// What happened to one pushed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResult {
    pub kind: RecordKind,
    pub id: Uuid,
    /// `created` or `updated` (`unchanged` when identical to the server's copy).
    pub action: PushAction,
    pub revision: u64,
    pub seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushAction {
    Created,
    Updated,
    Unchanged,
}

/// The answer to an accepted push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    /// The project head after the push (the client's new cursor if it was not behind).
    pub head: u64,
    pub results: Vec<PushResult>,
    /// True when this answer is the stored answer of an earlier request with the same key.
    #[serde(default)]
    pub replayed: bool,
    /// The project's immutable id (absent from servers that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    /// The server's history id: it changes whenever the server's history is rewound (a
    /// restore from a backup), so a cursor kept under another history id is meaningless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_id: Option<Uuid>,
}

/// `POST …/generations/{id}/promote`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoteRequest {
    /// The head the client evaluated the gates at; refused `behind` when an evolution of this
    /// generation changed after it.
    pub base_seq: u64,
    /// The generation's revision the client saw; refused `stale_revision` otherwise.
    pub revision: u64,
}

/// One gate as the server evaluated it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateOutcome {
    pub gate: String,
    pub passed: bool,
    pub detail: String,
}

/// The answer to an accepted promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoteResponse {
    pub generation: super::records::GenerationRecord,
    pub head: u64,
    pub gates: Vec<GateOutcome>,
    /// The project's immutable id (absent from servers that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    /// The server's history id: it changes whenever the server's history is rewound (a
    /// restore from a backup), so a cursor kept under another history id is meaningless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_id: Option<Uuid>,
}

/// `GET …/projects/{team}/{project}`: the cheap status request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectInfo {
    pub team: String,
    pub name: String,
    pub head: u64,
    pub created_at: String,
    /// The project's immutable id (absent from servers that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    /// The server's history id: it changes whenever the server's history is rewound (a
    /// restore from a backup), so a cursor kept under another history id is meaningless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_id: Option<Uuid>,
}

/// `DELETE …/generations/{id}?revision=R`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteResponse {
    pub head: u64,
    /// Ids of the deleted generation and of its evolutions (all now tombstones).
    pub deleted: Vec<Uuid>,
    /// The project's immutable id (absent from servers that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    /// The server's history id: it changes whenever the server's history is rewound (a
    /// restore from a backup), so a cursor kept under another history id is meaningless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_id: Option<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_records_round_trip_through_the_wire_shape() {
        let record: Record =
            serde_json::from_value(serde_json::json!({"kind": "evolution", "record": {
            "id": "01930000-0000-7000-8000-000000000002",
            "generation_id": "01930000-0000-7000-8000-000000000001",
            "change_id": "FEAT-1", "code_name": "brave-calm-otter", "rc": 2, "status": "pending",
            "started_at": "2026-01-01T00:00:00Z"}}))
            .unwrap();
        let pushed = PushRecord::new(Some(3), &record).unwrap();
        let json = serde_json::to_value(&pushed).unwrap();
        assert_eq!(json["kind"], "evolution");
        assert_eq!(json["base_revision"], 3);
        assert_eq!(json["record"]["rc"], 2);
        let back: PushRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back.decode().unwrap(), record);
        let tomb = Record::Deleted(crate::api::Tombstone {
            id: uuid::Uuid::now_v7(),
            record_kind: RecordKind::Generation,
            deleted_by: "ann".into(),
            deleted_at: "2026-01-01T00:00:00Z".into(),
            revision: 2,
            seq: 9,
        });
        assert!(PushRecord::new(None, &tomb).is_err());
    }
}

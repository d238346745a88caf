//! Synced records as they travel between client and server: generations (with their
//! changes), evolutions, pipeline-run summaries, and tombstones for deleted records. Every
//! record carries `revision` (bumped on each accepted change) and `seq` (the project seq of its
//! last change); both are assigned by the server and ignored when a client sends them.
//!
//! [`Record::validate`] checks a record with the *domain* rules (versions, change ids and
//! types are already enforced by the domain types' deserializers; titles, texts and pipeline
//! names by the domain checks), so client and server reject exactly the same input.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::change::{check_text, check_title};
use crate::domain::{Change, EvolutionStatus, GenerationStatus, Version, check_pipeline_name};

/// Longest description accepted (same bound as the YAML contract).
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Longest name (owner, creator, step name) accepted in a record.
pub const MAX_NAME_CHARS: usize = 200;
/// Most steps in one pipeline-run summary.
pub const MAX_STEPS: usize = 1_000;

/// A generation and its changes (the contract) plus status and provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationRecord {
    pub id: Uuid,
    pub version: Version,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_template: Option<String>,
    pub changes: Vec<Change>,
    pub status: GenerationStatus,
    /// Set by the server to the account that first pushed the generation.
    #[serde(default)]
    pub created_by: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<String>,
    #[serde(default)]
    pub revision: u64,
    #[serde(default)]
    pub seq: u64,
}

/// One attempt to prove one change of one generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvolutionRecord {
    pub id: Uuid,
    pub generation_id: Uuid,
    pub change_id: crate::domain::ChangeId,
    pub code_name: String,
    /// The N of the rc tag `vX.Y.Z-rc.N`; unique per generation.
    pub rc: u32,
    /// Set by the server to the account that first pushed the evolution.
    #[serde(default)]
    pub owner: String,
    pub status: EvolutionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_run_id: Option<Uuid>,
    #[serde(default)]
    pub revision: u64,
    #[serde(default)]
    pub seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Pass,
    Fail,
}

/// One step of a pipeline run: what a teammate needs to see, not the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSummary {
    pub name: String,
    /// `None`: killed by a signal, timed out or not run.
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    #[serde(default = "one")]
    pub attempts: u32,
    #[serde(default)]
    pub timed_out: bool,
}

fn one() -> u32 {
    1
}

/// Summary of a pipeline run (status and steps, without output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineRunRecord {
    pub id: Uuid,
    pub pipeline: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evolution_id: Option<Uuid>,
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Set by the server to the account that first pushed the run.
    #[serde(default)]
    pub started_by: String,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub steps: Vec<StepSummary>,
    #[serde(default)]
    pub revision: u64,
    #[serde(default)]
    pub seq: u64,
}

pub use crate::domain::RecordKind;

/// A record that was deleted on the server: pullers remove their synced copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub id: Uuid,
    pub record_kind: RecordKind,
    pub deleted_by: String,
    pub deleted_at: String,
    #[serde(default)]
    pub revision: u64,
    #[serde(default)]
    pub seq: u64,
}

/// Any record of the changes feed, tagged: `{"kind": "generation", "record": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "record", rename_all = "snake_case")]
pub enum Record {
    Generation(GenerationRecord),
    Evolution(EvolutionRecord),
    PipelineRun(PipelineRunRecord),
    Deleted(Tombstone),
}

/// A record rule broken: which field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{field}: {reason}")]
pub struct RecordProblem {
    pub field: String,
    pub reason: String,
}

fn problem(field: &str, reason: impl Into<String>) -> RecordProblem {
    RecordProblem {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// RFC 3339 timestamps only, so every replica sorts and parses them the same way.
pub fn check_timestamp(field: &str, value: &str) -> Result<(), RecordProblem> {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map(|_| ())
        .map_err(|_| {
            problem(
                field,
                format!("`{}` is not an RFC 3339 time", value.escape_debug()),
            )
        })
}

fn check_name(field: &str, value: &str) -> Result<(), RecordProblem> {
    check_text(field, value, MAX_NAME_CHARS).map_err(|e| problem(field, e))?;
    if value.contains('\n') {
        return Err(problem(field, "must be a single line"));
    }
    Ok(())
}

impl Record {
    pub fn kind(&self) -> Option<RecordKind> {
        match self {
            Record::Generation(_) => Some(RecordKind::Generation),
            Record::Evolution(_) => Some(RecordKind::Evolution),
            Record::PipelineRun(_) => Some(RecordKind::PipelineRun),
            Record::Deleted(_) => None,
        }
    }

    pub fn id(&self) -> Uuid {
        match self {
            Record::Generation(g) => g.id,
            Record::Evolution(e) => e.id,
            Record::PipelineRun(r) => r.id,
            Record::Deleted(t) => t.id,
        }
    }

    pub fn seq(&self) -> u64 {
        match self {
            Record::Generation(g) => g.seq,
            Record::Evolution(e) => e.seq,
            Record::PipelineRun(r) => r.seq,
            Record::Deleted(t) => t.seq,
        }
    }

    pub fn revision(&self) -> u64 {
        match self {
            Record::Generation(g) => g.revision,
            Record::Evolution(e) => e.revision,
            Record::PipelineRun(r) => r.revision,
            Record::Deleted(t) => t.revision,
        }
    }

    /// Sets the server-assigned fields.
    pub fn stamp(&mut self, revision: u64, seq: u64) {
        let (r, s) = match self {
            Record::Generation(g) => (&mut g.revision, &mut g.seq),
            Record::Evolution(e) => (&mut e.revision, &mut e.seq),
            Record::PipelineRun(p) => (&mut p.revision, &mut p.seq),
            Record::Deleted(t) => (&mut t.revision, &mut t.seq),
        };
        *r = revision;
        *s = seq;
    }

    /// Checks the record with the domain rules. Cross-record rules (version lock, rc tags,
    /// ownership) are the server's, on its own data.
    pub fn validate(&self) -> Result<(), RecordProblem> {
        match self {
            Record::Generation(g) => g.validate(),
            Record::Evolution(e) => e.validate(),
            Record::PipelineRun(r) => r.validate(),
            Record::Deleted(_) => Err(problem("kind", "tombstones cannot be pushed")),
        }
    }
}

impl GenerationRecord {
    pub fn validate(&self) -> Result<(), RecordProblem> {
        if self.id.is_nil() {
            return Err(problem("id", "must not be the nil UUID"));
        }
        check_text("description", &self.description, MAX_DESCRIPTION_CHARS)
            .map_err(|e| problem("description", e))?;
        if let Some(p) = &self.pipeline_template {
            check_pipeline_name(p).map_err(|e| problem("pipeline_template", e))?;
        }
        if self.changes.is_empty() {
            return Err(problem("changes", "a contract lists at least one change"));
        }
        if self.changes.len() > crate::contract::MAX_CHANGES {
            return Err(problem(
                "changes",
                format!("more than {} changes", crate::contract::MAX_CHANGES),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.changes.iter().enumerate() {
            let field = |f: &str| format!("changes[{i}].{f}");
            if !seen.insert(c.id.as_str()) {
                return Err(problem(
                    &field("id"),
                    format!("duplicate change id {}", c.id),
                ));
            }
            check_title(&c.title).map_err(|e| problem(&field("title"), e))?;
            if let Some(d) = &c.description {
                check_text("description", d, MAX_DESCRIPTION_CHARS)
                    .map_err(|e| problem(&field("description"), e))?;
            }
            if let Some(p) = &c.pipeline {
                check_pipeline_name(p).map_err(|e| problem(&field("pipeline"), e))?;
            }
            if let Some(a) = &c.assignee {
                super::accounts::check_name("account", a)
                    .map_err(|e| problem(&field("assignee"), e))?;
            }
        }
        check_timestamp("created_at", &self.created_at)?;
        check_name("created_by", &self.created_by)?;
        match (&self.promoted_by, &self.promoted_at) {
            (Some(by), Some(at)) => {
                check_name("promoted_by", by)?;
                check_timestamp("promoted_at", at)?;
            }
            (None, None) => {}
            _ => {
                return Err(problem(
                    "promoted_at",
                    "promoted_by and promoted_at go together",
                ));
            }
        }
        Ok(())
    }

    pub fn change(&self, id: &str) -> Option<&Change> {
        self.changes.iter().find(|c| c.id.as_str() == id)
    }

    /// The editable contract part, for content comparisons with the domain.
    pub fn contract(&self) -> crate::domain::generation::Contract {
        crate::domain::generation::Contract {
            version: self.version.clone(),
            description: self.description.clone(),
            pipeline_template: self.pipeline_template.clone(),
            changes: self.changes.clone(),
        }
    }
}

impl EvolutionRecord {
    pub fn validate(&self) -> Result<(), RecordProblem> {
        if self.id.is_nil() {
            return Err(problem("id", "must not be the nil UUID"));
        }
        if !crate::domain::codename::looks_like(&self.code_name) {
            return Err(problem(
                "code_name",
                format!(
                    "`{}` is not a code name (adjective-adjective-noun)",
                    self.code_name.escape_debug()
                ),
            ));
        }
        if self.rc == 0 {
            return Err(problem("rc", "rc numbers start at 1"));
        }
        check_name("owner", &self.owner)?;
        if let Some(n) = &self.note {
            check_text("note", n, MAX_DESCRIPTION_CHARS).map_err(|e| problem("note", e))?;
        }
        check_timestamp("started_at", &self.started_at)?;
        match (&self.completed_at, self.status.is_completed()) {
            (Some(at), true) => check_timestamp("completed_at", at)?,
            (None, true) => {
                return Err(problem(
                    "completed_at",
                    "a decided evolution has a completion time",
                ));
            }
            (Some(_), false) => {
                return Err(problem(
                    "completed_at",
                    "only pass or fail evolutions are completed",
                ));
            }
            (None, false) => {}
        }
        Ok(())
    }

    /// The rc tag, given the version of its generation.
    pub fn tag(&self, version: &Version) -> crate::domain::RcTag {
        crate::domain::RcTag {
            version: version.clone(),
            rc: self.rc,
        }
    }
}

impl PipelineRunRecord {
    pub fn validate(&self) -> Result<(), RecordProblem> {
        if self.id.is_nil() {
            return Err(problem("id", "must not be the nil UUID"));
        }
        check_pipeline_name(&self.pipeline).map_err(|e| problem("pipeline", e))?;
        check_name("started_by", &self.started_by)?;
        if let Some(n) = &self.note {
            check_text("note", n, MAX_DESCRIPTION_CHARS).map_err(|e| problem("note", e))?;
        }
        check_timestamp("started_at", &self.started_at)?;
        if let Some(f) = &self.finished_at {
            check_timestamp("finished_at", f)?;
        }
        if self.steps.len() > MAX_STEPS {
            return Err(problem("steps", format!("more than {MAX_STEPS} steps")));
        }
        for (i, s) in self.steps.iter().enumerate() {
            check_name(&format!("steps[{i}].name"), &s.name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn generation() -> GenerationRecord {
        serde_json::from_value(serde_json::json!({
            "id": "01930000-0000-7000-8000-000000000001",
            "version": "1.2.0",
            "changes": [{"type": "add", "id": "FEAT-1", "title": "Login"}],
            "status": "draft",
            "created_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    }

    #[test]
    fn tagged_round_trip() {
        let rec = Record::Generation(generation());
        let json = serde_json::to_value(&rec).unwrap();
        assert_eq!(json["kind"], "generation");
        assert_eq!(json["record"]["version"], "v1.2.0");
        let back: Record = serde_json::from_value(json).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn domain_rules_apply_on_the_wire() {
        let bad_version = serde_json::json!({"kind": "generation", "record": {
            "id": "01930000-0000-7000-8000-000000000001", "version": "1.2", "changes": [],
            "status": "draft", "created_at": "2026-01-01T00:00:00Z"}});
        assert!(serde_json::from_value::<Record>(bad_version).is_err());
        let mut g = generation();
        assert!(g.validate().is_ok());
        g.changes.push(g.changes[0].clone());
        assert_eq!(g.validate().unwrap_err().field, "changes[1].id");
        let mut g = generation();
        g.changes[0].title = " ".into();
        assert!(g.validate().is_err());
        let mut g = generation();
        g.created_at = "yesterday".into();
        assert_eq!(g.validate().unwrap_err().field, "created_at");
        let mut g = generation();
        g.changes[0].assignee = Some("Ann Smith".into());
        assert_eq!(g.validate().unwrap_err().field, "changes[0].assignee");
        g.changes[0].assignee = Some("ann.smith".into());
        assert!(g.validate().is_ok());
    }

    #[test]
    fn a_change_without_an_assignee_keeps_its_bytes() {
        // Records made before assignees existed hash and travel exactly as they did.
        let g = generation();
        let json = serde_json::to_string(&g.changes[0]).unwrap();
        assert_eq!(json, r#"{"type":"add","id":"FEAT-1","title":"Login"}"#);
        let canonical = crate::api::digest::canonical_json(&Record::Generation(g.clone()));
        assert_eq!(
            String::from_utf8(canonical).unwrap(),
            r#"{"kind":"generation","record":{"id":"01930000-0000-7000-8000-000000000001","version":"v1.2.0","description":"","changes":[{"type":"add","id":"FEAT-1","title":"Login"}],"status":"draft","created_by":"","created_at":"2026-01-01T00:00:00Z","revision":0,"seq":0}}"#
        );
        let hash = crate::api::digest::content_hash(&Record::Generation(g.clone()));
        let mut with = g;
        with.changes[0].assignee = Some("ann".into());
        let json = serde_json::to_string(&with.changes[0]).unwrap();
        assert_eq!(
            json,
            r#"{"type":"add","id":"FEAT-1","title":"Login","assignee":"ann"}"#
        );
        assert_ne!(
            crate::api::digest::content_hash(&Record::Generation(with)),
            hash
        );
    }
}

//! `gryt sync diff`: what a pull and a push would change, field by field. Nothing is applied.
//!
//! - The pull side plans the cloud's changes since the cursor exactly as `gryt sync pull`
//!   would, and compares each planned record with the local one.
//! - The push side takes the records a push would send and compares each with what the cloud
//!   held of it when it was last in sync here (the store saves that value, the *sync base*,
//!   when a synced record is first edited).
//!
//! Records are compared on the fields people edit or decide — a generation's version,
//! description, pipeline template, status, promotion and changes (by change id); an
//! evolution's change, rc, code name, status, note and completion; a run's pipeline, status,
//! note and duration — not on revisions, sequence numbers or who the server says made it.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};
use uuid::Uuid;

use super::pull::{self, Visit};
use super::push::{self, PushOptions, PushReport};
use super::{Cloud, PullOptions};
use crate::api::records::{PipelineRunRecord, Record, RecordKind};
use crate::domain::ConflictReason;
use crate::domain::Version;
use crate::store::Store;
use crate::sync::planner::Op;
use crate::sync::{Result, convert};
use crate::workspace::Workspace;

/// The fields compared, in the order they are shown.
const GENERATION_FIELDS: &[&str] = &[
    "version",
    "description",
    "pipeline_template",
    "status",
    "promoted_by",
    "promoted_at",
    "changes",
];
const EVOLUTION_FIELDS: &[&str] = &[
    "change_id",
    "rc",
    "code_name",
    "status",
    "note",
    "completed_at",
];
const RUN_FIELDS: &[&str] = &["pipeline", "status", "note", "duration_ms"];

fn field_names(kind: RecordKind) -> &'static [&'static str] {
    match kind {
        RecordKind::Generation => GENERATION_FIELDS,
        RecordKind::Evolution => EVOLUTION_FIELDS,
        RecordKind::PipelineRun => RUN_FIELDS,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    New,
    Updated,
    Deleted,
    /// An unsynced local evolution moves to a free rc tag or code name.
    Renumbered,
    /// Changed on both sides, or the same version from another origin: a pull records a
    /// conflict and keeps the local record.
    Conflict,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::New => "new",
            Action::Updated => "updated",
            Action::Deleted => "deleted",
            Action::Renumbered => "renumbered",
            Action::Conflict => "conflict",
        }
    }
}

/// One record a pull or push would change.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    pub kind: RecordKind,
    /// `v1.2.0`, `v1.2.0-rc.3`, `run of v1.2.0-rc.3`.
    pub subject: String,
    pub action: Action,
    /// Why a conflict is one (`both_changed`, `version_taken`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<ConflictReason>,
    pub fields: Vec<FieldChange>,
    /// A pending record edited before this workspace kept synced values: what the cloud
    /// holds is not known here, so `fields` is empty.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub base_unknown: bool,
}

/// One field that differs. Pull side: `from` is the local value, `to` the cloud's. Push
/// side: `from` is the cloud's, `to` the local one. `null` means absent. Changes of a
/// generation are named `changes.ID` (added or removed) or `changes.ID.FIELD`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldChange {
    pub field: String,
    pub from: Option<Value>,
    pub to: Option<Value>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct DiffReport {
    /// What a pull would change here.
    pub pull: Vec<Entry>,
    /// What a push would change in the cloud.
    pub push: Vec<Entry>,
    /// Records a push would not send, with why.
    pub not_pushed: Vec<String>,
    /// The cloud was not asked: `pull` is empty.
    pub offline: bool,
    /// The cloud's head (null offline).
    pub head: Option<u64>,
    pub requests: u32,
}

#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Only this generation, its evolutions and their runs.
    pub version: Option<Version>,
    /// Page size to ask for (the server caps it).
    pub page_limit: Option<u32>,
}

/// The diff against the cloud; with `cloud` = `None`, only the push side (offline).
pub fn diff(ws: &Workspace, cloud: Option<&Cloud<'_>>, opts: &DiffOptions) -> Result<DiffReport> {
    let mut report = DiffReport {
        offline: cloud.is_none(),
        ..DiffReport::default()
    };
    if let Some(cloud) = cloud {
        let (incoming, pulled) = plan_pull(ws, cloud, opts, Incoming::default())?;
        report.pull = incoming.entries;
        report.head = Some(pulled.head);
        report.requests = pulled.requests;
    }
    report.push = outgoing(ws, opts, &mut report.not_pushed)?;
    if let Some(v) = &opts.version {
        let ours = of_version(v);
        let ours = |e: &Entry| ours(&e.subject);
        report.pull.retain(ours);
        report.push.retain(ours);
        let v = v.to_string();
        report
            .not_pushed
            .retain(|n| n.starts_with(&format!("{v} ")));
    }
    Ok(report)
}

/// The pull side, page by page.
#[derive(Default)]
struct Incoming {
    entries: Vec<Entry>,
    /// For a patch (`gryt sync diff --output`): each record a pull would write or delete,
    /// with the local record it replaces.
    hunks: Option<Vec<super::patch::Hunk>>,
    /// Generations arriving in the pull (their evolutions are named after them).
    arriving: HashMap<Uuid, Version>,
    /// Evolutions named so far in the pull, by id (their runs are named after them).
    tags: HashMap<Uuid, String>,
}

impl Incoming {
    fn page(&mut self, s: &Store, ops: &[Op]) -> Result<()> {
        for op in ops {
            if let Op::Insert(Record::Generation(g)) | Op::FastForward(Record::Generation(g)) = op {
                self.arriving.insert(g.id, g.version.clone());
            }
        }
        for op in ops {
            let entry = match op {
                Op::Insert(r) => {
                    let kind = kind_of(r);
                    Entry::new(kind, self.subject(s, r)?, Action::New).with(compare(
                        kind,
                        None,
                        record_fields(r).as_ref(),
                    ))
                }
                Op::FastForward(r) => {
                    let kind = kind_of(r);
                    let local = local_fields(s, kind, &r.id().to_string())?;
                    Entry::new(kind, self.subject(s, r)?, Action::Updated).with(compare(
                        kind,
                        local.as_ref(),
                        record_fields(r).as_ref(),
                    ))
                }
                Op::Delete { kind, id } => {
                    let id = id.to_string();
                    let local = local_fields(s, *kind, &id)?;
                    Entry::new(*kind, super::subject(s, *kind, &id)?, Action::Deleted)
                        .with(compare(*kind, local.as_ref(), None))
                }
                Op::Renumber { id, rc, code_name } => {
                    let Some(e) = s.evolution(&id.to_string())? else {
                        continue;
                    };
                    let mut fields = vec![FieldChange {
                        field: "rc".into(),
                        from: Some(e.rc.into()),
                        to: Some((*rc).into()),
                    }];
                    if let Some(name) = code_name.as_ref().filter(|n| **n != e.code_name) {
                        fields.push(FieldChange {
                            field: "code_name".into(),
                            from: Some(e.code_name.clone().into()),
                            to: Some(name.clone().into()),
                        });
                    }
                    Entry::new(RecordKind::Evolution, e.tag, Action::Renumbered).with(fields)
                }
                Op::Conflict {
                    kind,
                    reason,
                    local,
                    remote,
                    ..
                } => {
                    let local = local.as_deref().and_then(record_fields);
                    let mut entry =
                        Entry::new(*kind, self.subject(s, remote)?, Action::Conflict).with(
                            compare(*kind, local.as_ref(), record_fields(remote).as_ref()),
                        );
                    entry.reason = Some(*reason);
                    entry
                }
                Op::Confirm(_) | Op::Skip | Op::Resend { .. } => continue,
            };
            if let Some(hunks) = self.hunks.as_mut() {
                let (before, after) = match op {
                    Op::Insert(r) => (None, Some(r.clone())),
                    Op::FastForward(r) => (local_record(s, kind_of(r), r.id())?, Some(r.clone())),
                    Op::Delete { kind, id } => (local_record(s, *kind, *id)?, None),
                    _ => (None, None),
                };
                if before.is_some() || after.is_some() {
                    hunks.push(super::patch::Hunk {
                        subject: entry.subject.clone(),
                        kind: entry.kind,
                        before,
                        after,
                    });
                }
            }
            self.entries.push(entry);
        }
        Ok(())
    }

    /// A remote record's name, as the pull would name it.
    fn subject(&mut self, s: &Store, r: &Record) -> Result<String> {
        let name = match r {
            Record::Evolution(e) if self.arriving.contains_key(&e.generation_id) => {
                format!("{}-rc.{}", self.arriving[&e.generation_id], e.rc)
            }
            Record::PipelineRun(p) => run_subject(s, p, &self.tags)?,
            _ => pull::remote_subject(s, r)?,
        };
        if let Record::Evolution(e) = r {
            self.tags.insert(e.id, name.clone());
        }
        Ok(name)
    }
}

/// The push side: each record a push would send, against its sync base.
fn outgoing(
    ws: &Workspace,
    opts: &DiffOptions,
    not_pushed: &mut Vec<String>,
) -> Result<Vec<Entry>> {
    let mut report = PushReport::default();
    let push_opts = PushOptions {
        dry_run: true,
        version: opts.version.clone(),
        ..PushOptions::default()
    };
    let batch = push::outgoing(ws, &push_opts, &mut report, push::UNBOUNDED, None)?;
    not_pushed.extend(report.skipped);
    let s = &ws.store;
    let mut entries = Vec::with_capacity(batch.len());
    for o in batch {
        let kind = o.wire.kind;
        let now = fields(kind, &o.wire.value());
        let id = o.record.id().to_string();
        let subject = match &o.record {
            Record::PipelineRun(p) => run_subject(s, p, &HashMap::new())?,
            _ => o.subject,
        };
        let entry = match o.base {
            None => Entry::new(kind, subject, Action::New).with(compare(kind, None, Some(&now))),
            Some(_) => match s.sync_base(kind, &id)? {
                Some(base) => Entry::new(kind, subject, Action::Updated).with(compare(
                    kind,
                    Some(&strip_nulls(base)),
                    Some(&now),
                )),
                None => Entry {
                    base_unknown: true,
                    ..Entry::new(kind, subject, Action::Updated)
                },
            },
        };
        entries.push(entry);
    }
    Ok(entries)
}

/// `run of v1.2.0-rc.3` (its evolution's rc tag: from `tags`, else as stored here), or
/// `run of PIPELINE` when its evolution is not known.
fn run_subject(s: &Store, run: &PipelineRunRecord, tags: &HashMap<Uuid, String>) -> Result<String> {
    let tag = match run.evolution_id {
        Some(e) => match tags.get(&e) {
            Some(tag) => Some(tag.clone()),
            None => s.evolution(&e.to_string())?.map(|e| e.tag),
        },
        None => None,
    };
    Ok(format!(
        "run of {}",
        tag.as_deref().unwrap_or(&run.pipeline)
    ))
}

impl Entry {
    fn new(kind: RecordKind, subject: String, action: Action) -> Entry {
        Entry {
            kind,
            subject,
            action,
            reason: None,
            fields: Vec::new(),
            base_unknown: false,
        }
    }

    fn with(mut self, fields: Vec<FieldChange>) -> Entry {
        self.fields = fields;
        self
    }
}

fn kind_of(r: &Record) -> RecordKind {
    match r {
        Record::Generation(_) => RecordKind::Generation,
        Record::Evolution(_) => RecordKind::Evolution,
        Record::PipelineRun(_) => RecordKind::PipelineRun,
        Record::Deleted(t) => t.record_kind,
    }
}

/// A record's compared fields (`None` for a tombstone).
pub fn record_fields(r: &Record) -> Option<Value> {
    let kind = r.kind()?;
    let value = serde_json::to_value(r).ok()?;
    Some(fields(kind, &value["record"]))
}

/// The local record as stored now, with the revision it was last synced at.
fn local_record(s: &Store, kind: RecordKind, id: Uuid) -> Result<Option<Record>> {
    let id = id.to_string();
    Ok(match kind {
        RecordKind::PipelineRun => match s.pipeline_run(&id)? {
            Some(r) => Some(convert::run(&r, &s.steps_of(&id)?)?),
            None => None,
        },
        _ => push::current_record(s, kind, &id)?.0,
    })
}

/// What a pull would change here as patch hunks, in the order a pull applies them (the pull
/// side of [`diff`]), and the conflicts a pull would record instead (not in the patch).
pub fn pull_hunks(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    opts: &DiffOptions,
) -> Result<(Vec<super::patch::Hunk>, Vec<Entry>, u64)> {
    let incoming = Incoming {
        hunks: Some(Vec::new()),
        ..Incoming::default()
    };
    let (incoming, pulled) = plan_pull(ws, cloud, opts, incoming)?;
    let mut hunks = incoming.hunks.unwrap_or_default();
    let mut conflicts: Vec<Entry> = incoming
        .entries
        .into_iter()
        .filter(|e| e.action == Action::Conflict)
        .collect();
    if let Some(v) = &opts.version {
        let ours = of_version(v);
        hunks.retain(|h| ours(&h.subject));
        conflicts.retain(|e| ours(&e.subject));
    }
    Ok((hunks, conflicts, pulled.head))
}

/// Plans a pull as `gryt sync pull` would, page by page, into `incoming`; applies nothing.
fn plan_pull(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    opts: &DiffOptions,
    mut incoming: Incoming,
) -> Result<(Incoming, super::PullReport)> {
    let mut visit = |s: &Store, ops: &[Op]| incoming.page(s, ops);
    let pulled = pull::pull_with(
        ws,
        cloud,
        PullOptions {
            dry_run: true,
            page_limit: opts.page_limit,
            ..PullOptions::default()
        },
        &mut |_, _, _| {},
        Some(&mut visit as Visit<'_>),
    )?;
    Ok((incoming, pulled))
}

/// Whether a subject (`v1.2.0`, `v1.2.0-rc.3`, `run of v1.2.0-rc.3`) belongs to `v`.
fn of_version(v: &Version) -> impl Fn(&str) -> bool {
    let v = v.to_string();
    let rc = format!("{v}-rc.");
    let run = format!("run of {v}-rc.");
    move |s: &str| s == v || s.starts_with(&rc) || s.starts_with(&run)
}

/// The local record's compared fields, as stored now.
fn local_fields(s: &Store, kind: RecordKind, id: &str) -> Result<Option<Value>> {
    let record = match kind {
        RecordKind::PipelineRun => match s.pipeline_run(id)? {
            Some(r) => Some(convert::run(&r, &s.steps_of(id)?)?),
            None => None,
        },
        _ => push::current_record(s, kind, id)?.0,
    };
    Ok(record.as_ref().and_then(record_fields))
}

/// The compared fields of a record as it travels (the `record` of a push or of the feed):
/// absent and null values dropped, a generation's changes keyed by change id.
pub fn fields(kind: RecordKind, record: &Value) -> Value {
    let mut out = Map::new();
    for &name in field_names(kind) {
        let value = match (kind, name) {
            (RecordKind::Generation, "changes") => Value::Object(
                record[name]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| {
                        let mut c = c.as_object()?.clone();
                        let id = c.remove("id")?.as_str()?.to_string();
                        Some((id, Value::Object(c)))
                    })
                    .collect(),
            ),
            _ => record.get(name).cloned().unwrap_or(Value::Null),
        };
        out.insert(name.to_string(), value);
    }
    strip_nulls(Value::Object(out))
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The fields that differ between `from` and `to` (each the output of [`fields`]).
pub fn compare(kind: RecordKind, from: Option<&Value>, to: Option<&Value>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    for &name in field_names(kind) {
        let (a, b) = (from.and_then(|f| f.get(name)), to.and_then(|t| t.get(name)));
        match (a, b) {
            // A map appearing or going (the changes of a generation that arrives or goes)
            // is listed member by member: `changes.FEAT-1`, not each field of each change.
            (None, Some(Value::Object(m))) | (Some(Value::Object(m)), None) => {
                for (k, v) in m {
                    let (f, t) = if a.is_none() {
                        (None, Some(v))
                    } else {
                        (Some(v), None)
                    };
                    walk(format!("{name}.{k}"), f, t, &mut out);
                }
            }
            _ => walk(name.to_string(), a, b, &mut out),
        }
    }
    out
}

/// Objects present on both sides are compared key by key; anything else differs whole.
fn walk(path: String, from: Option<&Value>, to: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (from, to) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                walk(format!("{path}.{k}"), a.get(k), b.get(k), out);
            }
        }
        _ if from == to => {}
        _ => out.push(FieldChange {
            field: path,
            from: from.cloned(),
            to: to.cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::EvolutionStatus;
    use crate::store::tests::temp_store;
    use crate::store::{NewEvolution, NewGeneration};

    fn gen_fields(v: Value) -> Value {
        fields(RecordKind::Generation, &v)
    }

    #[test]
    fn fields_drop_absent_values_and_key_changes_by_id() {
        let f = gen_fields(json!({
            "id": "x", "version": "v1.0.0", "description": "", "status": "draft",
            "changes": [{"type": "add", "id": "FEAT-1", "title": "One"}],
            "revision": 3, "seq": 9, "created_by": "ann"
        }));
        assert_eq!(
            f,
            json!({"version": "v1.0.0", "description": "", "status": "draft",
                   "changes": {"FEAT-1": {"type": "add", "title": "One"}}})
        );
    }

    #[test]
    fn compare_names_each_differing_field() {
        let a = gen_fields(json!({
            "version": "v1.0.0", "description": "old", "status": "draft",
            "changes": [{"type": "add", "id": "A", "title": "a"}, {"type": "fix", "id": "B", "title": "b"}]
        }));
        let b = gen_fields(json!({
            "version": "v1.0.0", "description": "new", "status": "draft",
            "changes": [{"type": "add", "id": "A", "title": "a2"}, {"type": "add", "id": "C", "title": "c"}]
        }));
        let got: Vec<(String, Option<Value>, Option<Value>)> =
            compare(RecordKind::Generation, Some(&a), Some(&b))
                .into_iter()
                .map(|c| (c.field, c.from, c.to))
                .collect();
        assert_eq!(
            got,
            vec![
                ("description".into(), Some(json!("old")), Some(json!("new"))),
                (
                    "changes.A.title".into(),
                    Some(json!("a")),
                    Some(json!("a2"))
                ),
                (
                    "changes.B".into(),
                    Some(json!({"type": "fix", "title": "b"})),
                    None
                ),
                (
                    "changes.C".into(),
                    None,
                    Some(json!({"type": "add", "title": "c"}))
                ),
            ]
        );
        assert!(compare(RecordKind::Generation, Some(&a), Some(&a)).is_empty());
    }

    #[test]
    fn a_new_record_lists_every_field_and_each_change() {
        let b = gen_fields(json!({
            "version": "v2.0.0", "description": "d", "status": "draft",
            "changes": [{"type": "add", "id": "A", "title": "a"}]
        }));
        let names: Vec<String> = compare(RecordKind::Generation, None, Some(&b))
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(names, ["version", "description", "status", "changes.A"]);
    }

    /// The store saves sync bases in SQL when a synced record is first edited; they must
    /// have exactly the shape [`fields`] gives the same record on the wire, or every pending
    /// record would show phantom changes.
    #[test]
    fn the_stores_sync_base_is_the_wire_fields_before_the_edit() {
        let (_dir, store) = temp_store();
        const G: &str = "0190a5c4-0000-7000-8000-000000000001";
        const E: &str = "0190a5c4-0000-7000-8000-000000000002";
        let parse = |text: &str| crate::contract::parse(text).unwrap().0;
        let contract = parse(
            "version: v1.2.0\ndescription: Spring\npipeline_template: ci\nchanges:\n  - {type: add, id: FEAT-1, title: One, description: more, pipeline: ci}\n  - {type: fix, id: BUG-2, title: Two, assignee: bob}\n",
        );
        store
            .insert_generation(&NewGeneration {
                id: G,
                contract: &contract,
                created_by: "ann",
                now: "2026-01-01T00:00:00Z",
                file_hash: "h",
            })
            .unwrap();
        store
            .insert_evolution(&NewEvolution {
                id: E,
                generation_id: G,
                change_id: "FEAT-1",
                code_name: "brave-otter",
                rc: 1,
                owner: "ann",
                now: "2026-01-01T00:00:00Z",
            })
            .unwrap();
        let t = "2026-01-02T00:00:00Z";
        store
            .decide_evolution(E, EvolutionStatus::Fail, Some("red"), t)
            .unwrap();
        let wire = |kind: RecordKind, id: &str| {
            let (record, _) = push::current_record(&store, kind, id).unwrap();
            record_fields(&record.unwrap()).unwrap()
        };
        store.mark_synced(RecordKind::Generation, G, 1, t).unwrap();
        store.mark_synced(RecordKind::Evolution, E, 1, t).unwrap();
        let (g_before, e_before) = (
            wire(RecordKind::Generation, G),
            wire(RecordKind::Evolution, E),
        );

        let edited = parse("version: v1.2.0\nchanges:\n  - {type: add, id: FEAT-1, title: One}\n");
        store.replace_contract(G, &edited, t, "h2").unwrap();
        store
            .decide_evolution(E, EvolutionStatus::Pass, None, t)
            .unwrap();
        for (kind, id, before) in [
            (RecordKind::Generation, G, g_before),
            (RecordKind::Evolution, E, e_before),
        ] {
            let base = strip_nulls(store.sync_base(kind, id).unwrap().expect("a base"));
            assert_eq!(base, before, "{kind}");
            assert_ne!(base, wire(kind, id), "{kind} was edited");
        }

        // A second edit keeps the base of the first: the cloud still holds that.
        store
            .decide_evolution(E, EvolutionStatus::Fail, Some("again"), t)
            .unwrap();
        let base = strip_nulls(store.sync_base(RecordKind::Evolution, E).unwrap().unwrap());
        assert_eq!(base["status"], "fail");
        assert_eq!(base["note"], "red");

        // Deleting the record deletes its base.
        store.delete_generation(G).unwrap();
        assert!(
            store
                .sync_base(RecordKind::Generation, G)
                .unwrap()
                .is_none()
        );
        assert!(store.sync_base(RecordKind::Evolution, E).unwrap().is_none());
    }
}

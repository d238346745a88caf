//! gryt-ci rows → gryt records. Every rule here is in the table of docs/SYNC.md ("Coming
//! from gryt-ci"); whatever has no place in gryt becomes one line in the notes.

use std::collections::{HashMap, HashSet};

use time::OffsetDateTime;
use uuid::Uuid;

use super::store::{RawChange, RawEvolution, RawGeneration, RawRun, RawStore};
use super::{GrytCi, GrytCiError, Result, derived_id, parse_time};
use crate::api::records::{
    EvolutionRecord, GenerationRecord, PipelineRunRecord, Record, RecordProblem, RunStatus,
};
use crate::domain::gates;
use crate::domain::version::VersionError;
use crate::domain::{
    Change, ChangeId, ChangeType, EvolutionStatus, GenerationStatus, RcTag, Version, timestamp,
};

/// Longest code name taken (gryt's and gryt-ci's are under 40 characters).
const MAX_CODE_NAME: usize = 100;

/// Who a record is attributed to when gryt-ci recorded nobody.
pub const UNKNOWN_USER: &str = "gryt-ci";

/// `1 evolution had`, `2 evolutions had`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A value from the store as shown in a message or a note: escaped, and cut at 60 characters
/// so a hostile value cannot flood the terminal.
pub(super) fn shown(text: &str) -> String {
    const MAX: usize = 60;
    let mut out: String = text
        .chars()
        .take(MAX)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

fn invalid(table: &'static str, id: &str, field: &str, reason: impl Into<String>) -> GrytCiError {
    GrytCiError::Invalid {
        table,
        id: shown(id),
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// Running state of one mapping: the notes, and counts that become one note each at the end.
#[derive(Default)]
struct Cx {
    notes: Vec<String>,
    zoneless_times: usize,
    derived_ids: usize,
}

impl Cx {
    fn id(&mut self, kind: &str, their: &str) -> Uuid {
        let (id, derived) = derived_id(kind, their);
        self.derived_ids += usize::from(derived);
        id
    }

    fn time(
        &mut self,
        table: &'static str,
        id: &str,
        field: &str,
        value: Option<&str>,
    ) -> Result<Option<OffsetDateTime>> {
        let Some(text) = value.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let (t, zoneless) = parse_time(text)
            .ok_or_else(|| invalid(table, id, field, format!("`{}` is not a time", shown(text))))?;
        self.zoneless_times += usize::from(zoneless);
        Ok(Some(t))
    }

    fn required_time(
        &mut self,
        table: &'static str,
        id: &str,
        field: &str,
        value: Option<&str>,
    ) -> Result<OffsetDateTime> {
        self.time(table, id, field, value)?
            .ok_or_else(|| invalid(table, id, field, "is empty"))
    }
}

/// A user name as gryt-ci recorded it; `None` when it recorded none.
fn user(value: Option<&String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty()).cloned()
}

struct Gen {
    their_id: String,
    record: GenerationRecord,
    created: OffsetDateTime,
    promoted: Option<OffsetDateTime>,
}

struct Evo {
    their_id: String,
    record: EvolutionRecord,
    started: OffsetDateTime,
    tag: Option<String>,
}

pub(super) fn map(raw: RawStore) -> Result<GrytCi> {
    let mut cx = Cx::default();
    let mut gens = generations(&mut cx, &raw.generations, &raw.changes)?;
    gens.sort_by(|a, b| (a.created, &a.record.version).cmp(&(b.created, &b.record.version)));
    let run_ids: HashMap<&str, Uuid> = raw
        .runs
        .iter()
        .map(|r| (r.id.as_str(), cx.id("pipeline_run", &r.id)))
        .collect();
    let mut evos = evolutions(&mut cx, &gens, &raw.evolutions, &run_ids)?;
    check_promoted(&mut cx, &gens, &evos);
    let runs = runs(&mut cx, &raw.runs, &evos, &run_ids)?;
    // As a pull does when it applies a run: an evolution without a run gets the first run that
    // names it (gryt-ci leaves the link empty when the prove crashed), so the records match
    // what the import leaves behind and a second import finds them identical.
    let mut first_run: HashMap<Uuid, Uuid> = HashMap::new();
    for r in &runs {
        if let Some(e) = r.evolution_id {
            first_run.entry(e).or_insert(r.id);
        }
    }
    for e in evos
        .iter_mut()
        .filter(|e| e.record.pipeline_run_id.is_none())
    {
        e.record.pipeline_run_id = first_run.get(&e.record.id).copied();
    }
    if raw.unlinked_steps > 0 {
        cx.notes.push(format!(
            "gryt-ci did not link its {} (table steps_output) to pipeline runs; runs are \
             imported without steps",
            count(raw.unlinked_steps, "step output", "step outputs")
        ));
    }
    if cx.zoneless_times > 0 {
        cx.notes.push(format!(
            "gryt-ci stores times without a time zone: {} read as UTC (those it took from \
             the local clock, generations' created_at and promoted_at and unproven evolutions' \
             started_at, are off by the writing machine's UTC offset if it was not on UTC)",
            count(cx.zoneless_times, "time", "times")
        ));
    }
    if cx.derived_ids > 0 {
        cx.notes.push(format!(
            "{} not a UUID; gryt ids are derived from them (docs/SYNC.md)",
            count(cx.derived_ids, "gryt-ci id is", "gryt-ci ids are")
        ));
    }
    let records: Vec<Record> = gens
        .into_iter()
        .map(|g| Record::Generation(g.record))
        .chain(evos.into_iter().map(|e| Record::Evolution(e.record)))
        .chain(runs.into_iter().map(Record::PipelineRun))
        .collect();
    let mut seen = HashSet::new();
    for r in &records {
        if !seen.insert(r.id()) {
            return Err(invalid(
                "store",
                &r.id().to_string(),
                "id",
                "two gryt-ci rows map to this id",
            ));
        }
    }
    Ok(GrytCi {
        records,
        notes: cx.notes,
    })
}

fn generations(cx: &mut Cx, raw: &[RawGeneration], changes: &[RawChange]) -> Result<Vec<Gen>> {
    let mut changes_of: HashMap<&str, Vec<&RawChange>> = HashMap::new();
    for c in changes {
        changes_of
            .entry(c.generation_id.as_str())
            .or_default()
            .push(c);
    }
    let known: HashSet<&str> = raw.iter().map(|g| g.id.as_str()).collect();
    if let Some(c) = changes
        .iter()
        .find(|c| !known.contains(c.generation_id.as_str()))
    {
        return Err(invalid(
            "generation_changes",
            &c.id,
            "generation_id",
            format!("no generation `{}`", c.generation_id),
        ));
    }
    let mut out: Vec<Gen> = Vec::new();
    let mut versions: HashMap<Version, String> = HashMap::new();
    let mut python_pipelines: Vec<&str> = Vec::new();
    let mut change_states: Vec<&str> = Vec::new();
    for g in raw {
        let table = "generations";
        let text = g
            .version
            .as_deref()
            .ok_or_else(|| invalid(table, &g.id, "version", "is empty"))?;
        let version: Version = text.parse().map_err(|e: VersionError| {
            let reason = format!("invalid version `{}`: {}", shown(text), e.reason);
            invalid(table, &g.id, "version", reason)
        })?;
        if let Some(other) = versions.insert(version.clone(), g.id.clone()) {
            return Err(invalid(
                table,
                &g.id,
                "version",
                format!("{version} is also generation `{}`", shown(&other)),
            ));
        }
        let mine = changes_of.remove(g.id.as_str()).unwrap_or_default();
        for c in &mine {
            if let Some(p) = c.pipeline.as_deref().filter(|p| !p.is_empty()) {
                python_pipelines.push(p);
            }
            if let Some(s) = c.status.as_deref().filter(|s| *s != "pending") {
                change_states.push(s);
            }
        }
        let status = match g.status.as_deref() {
            Some("draft") | None => GenerationStatus::Draft,
            Some("promoted") => GenerationStatus::Promoted,
            Some("abandoned") => GenerationStatus::Abandoned,
            Some("active") => {
                cx.notes.push(format!(
                    "{version} is `active` in gryt-ci; gryt has no such status; imported as draft"
                ));
                GenerationStatus::Draft
            }
            Some(other) => {
                return Err(invalid(
                    table,
                    &g.id,
                    "status",
                    format!("unknown status `{}`", shown(other)),
                ));
            }
        };
        let created = cx.required_time(table, &g.id, "created_at", g.created_at.as_deref())?;
        let created_by = user(g.created_by.as_ref()).unwrap_or_else(|| {
            cx.notes.push(format!(
                "{version}: gryt-ci records no creator; imported as created by `{UNKNOWN_USER}`"
            ));
            UNKNOWN_USER.to_string()
        });
        let promoted_at = cx.time(table, &g.id, "promoted_at", g.promoted_at.as_deref())?;
        let (promoted, promoted_by) = if status == GenerationStatus::Promoted {
            let at = promoted_at.unwrap_or_else(|| {
                cx.notes.push(format!(
                    "{version} is promoted in gryt-ci without a promotion time; its creation \
                     time is used"
                ));
                created
            });
            let by = user(g.promoted_by.as_ref()).unwrap_or_else(|| {
                cx.notes.push(format!(
                    "{version}: gryt-ci records no promoter; imported as promoted by \
                     `{UNKNOWN_USER}`"
                ));
                UNKNOWN_USER.to_string()
            });
            (Some(at), Some(by))
        } else {
            if promoted_at.is_some() || user(g.promoted_by.as_ref()).is_some() {
                cx.notes.push(format!(
                    "{version} is {status} but gryt-ci records a promotion time or promoter; \
                     not imported"
                ));
            }
            (None, None)
        };
        if let Some(team) = user(g.team_id.as_ref()) {
            cx.notes.push(format!(
                "{version} belongs to gryt-ci team `{}`; gryt has no teams, the link is not \
                 imported",
                shown(&team)
            ));
        }
        if let Some(remote) = user(g.remote_id.as_ref()) {
            cx.notes.push(format!(
                "{version} was synced to gryt-ci's cloud (remote id `{}`); the link is not \
                 imported",
                shown(&remote)
            ));
        }
        let record = GenerationRecord {
            id: cx.id("generation", &g.id),
            version: version.clone(),
            description: g.description.clone().unwrap_or_default(),
            pipeline_template: g.pipeline_template.clone().filter(|p| !p.is_empty()),
            changes: mine
                .iter()
                .map(|c| change(c))
                .collect::<Result<Vec<Change>>>()?,
            status,
            created_by,
            created_at: timestamp::format(created),
            promoted_by,
            promoted_at: promoted.map(timestamp::format),
            revision: 0,
            seq: 0,
        };
        record
            .validate()
            .map_err(|p| generation_problem(&g.id, &record, p))?;
        out.push(Gen {
            their_id: g.id.clone(),
            record,
            created,
            promoted,
        });
    }
    if let Some(first) = python_pipelines.first() {
        cx.notes.push(format!(
            "{} a gryt-ci validation pipeline (a Python file such as `{}`); gryt \
             pipelines are YAML, so changes are imported without a pipeline",
            count(python_pipelines.len(), "change names", "changes name"),
            shown(first)
        ));
    }
    if !change_states.is_empty() {
        change_states.sort_unstable();
        change_states.dedup();
        cx.notes.push(format!(
            "gryt-ci's per-change status ({}) is not imported: gryt derives a change's state \
             from its evolutions",
            change_states.join(", ")
        ));
    }
    Ok(out)
}

fn change_id_rule(id: &str) -> String {
    format!(
        "`{}` is not a change id gryt takes (uppercase letters and digits, a dash and a number, \
         like FEAT-001; at most 64 characters)",
        shown(id)
    )
}

fn change(c: &RawChange) -> Result<Change> {
    let table = "generation_changes";
    let id: ChangeId =
        c.id.parse()
            .map_err(|_| invalid(table, &c.id, "change_id", change_id_rule(&c.id)))?;
    let kind: ChangeType = c
        .kind
        .as_deref()
        .ok_or_else(|| invalid(table, &c.id, "type", "is empty"))?
        .parse()
        .map_err(|_| {
            let t = shown(c.kind.as_deref().unwrap_or_default());
            let reason = format!("unknown change type `{t}` (expected fix, refine, add or remove)");
            invalid(table, &c.id, "type", reason)
        })?;
    Ok(Change {
        kind,
        id,
        title: c.title.clone().unwrap_or_default(),
        description: c.description.clone().filter(|d| !d.is_empty()),
        pipeline: None,
        assignee: None,
    })
}

/// A generation record's problem, named by the gryt-ci row it comes from.
fn generation_problem(their_id: &str, g: &GenerationRecord, p: RecordProblem) -> GrytCiError {
    let change = p.field.strip_prefix("changes[").and_then(|rest| {
        let (i, field) = rest.split_once("].")?;
        Some((g.changes.get(i.parse::<usize>().ok()?)?, field))
    });
    match change {
        Some((c, field)) => invalid("generation_changes", c.id.as_str(), field, p.reason),
        None => invalid("generations", their_id, &p.field, p.reason),
    }
}

fn evolutions(
    cx: &mut Cx,
    gens: &[Gen],
    raw: &[RawEvolution],
    run_ids: &HashMap<&str, Uuid>,
) -> Result<Vec<Evo>> {
    let table = "evolutions";
    let mut by_gen: Vec<Vec<Evo>> = gens.iter().map(|_| Vec::new()).collect();
    let gen_index: HashMap<&str, usize> = gens
        .iter()
        .enumerate()
        .map(|(i, g)| (g.their_id.as_str(), i))
        .collect();
    let mut codes: HashMap<String, String> = HashMap::new();
    let mut nobody: Vec<String> = Vec::new();
    for e in raw {
        let gen_id = e
            .generation_id
            .as_deref()
            .ok_or_else(|| invalid(table, &e.id, "generation_id", "is empty"))?;
        let gi = *gen_index.get(gen_id).ok_or_else(|| {
            invalid(
                table,
                &e.id,
                "generation_id",
                format!("no generation `{}`", shown(gen_id)),
            )
        })?;
        let g = &gens[gi].record;
        let change_text = e.change_id.as_deref().unwrap_or_default();
        let change_id: ChangeId = change_text
            .parse()
            .map_err(|_| invalid(table, &e.id, "change_id", change_id_rule(change_text)))?;
        if g.change(change_id.as_str()).is_none() {
            return Err(invalid(
                table,
                &e.id,
                "change_id",
                format!("{change_id} is not a change of {}", g.version),
            ));
        }
        let code_name = e.code_name.clone().unwrap_or_default();
        if code_name.len() > MAX_CODE_NAME || !crate::domain::codename::looks_like(&code_name) {
            return Err(invalid(
                table,
                &e.id,
                "code_name",
                format!(
                    "`{}` is not a code name (adjective-adjective-noun, at most \
                     {MAX_CODE_NAME} characters)",
                    shown(&code_name)
                ),
            ));
        }
        if let Some(other) = codes.insert(code_name.clone(), e.id.clone()) {
            return Err(invalid(
                table,
                &e.id,
                "code_name",
                format!("`{code_name}` is also evolution `{}`", shown(&other)),
            ));
        }
        let status = e
            .status
            .as_deref()
            .map_or(Some(EvolutionStatus::Pending), EvolutionStatus::parse)
            .ok_or_else(|| {
                let s = shown(e.status.as_deref().unwrap_or_default());
                invalid(table, &e.id, "status", format!("unknown status `{s}`"))
            })?;
        let started = cx.required_time(table, &e.id, "started_at", e.started_at.as_deref())?;
        let completed = cx.time(table, &e.id, "completed_at", e.completed_at.as_deref())?;
        let completed = match (status.is_completed(), completed) {
            (true, Some(t)) => Some(t),
            (true, None) => {
                cx.notes.push(format!(
                    "evolution {code_name} is {status} in gryt-ci without a completion time; \
                     its start time is used"
                ));
                Some(started)
            }
            (false, Some(_)) => {
                cx.notes.push(format!(
                    "evolution {code_name} is {status} in gryt-ci but records a completion \
                     time (from an earlier attempt); not imported"
                ));
                None
            }
            (false, None) => None,
        };
        let owner = user(e.created_by.as_ref()).unwrap_or_else(|| {
            nobody.push(code_name.clone());
            UNKNOWN_USER.to_string()
        });
        let pipeline_run_id = match e.pipeline_run_id.as_deref().filter(|r| !r.is_empty()) {
            Some(run) => match run_ids.get(run) {
                Some(id) => Some(*id),
                None => {
                    cx.notes.push(format!(
                        "evolution {code_name} names pipeline run `{}`, which gryt-ci does not \
                         hold; imported without a run",
                        shown(run)
                    ));
                    None
                }
            },
            None => None,
        };
        by_gen[gi].push(Evo {
            their_id: e.id.clone(),
            record: EvolutionRecord {
                id: cx.id("evolution", &e.id),
                generation_id: g.id,
                change_id,
                code_name,
                rc: 0,
                owner,
                status,
                note: None,
                started_at: timestamp::format(started),
                completed_at: completed.map(timestamp::format),
                pipeline_run_id,
                revision: 0,
                seq: 0,
            },
            started,
            tag: e.tag.clone().filter(|t| !t.is_empty()),
        });
    }
    if !nobody.is_empty() {
        cx.notes.push(format!(
            "{} no creator in gryt-ci ({}); imported with owner `{UNKNOWN_USER}`",
            count(nobody.len(), "evolution records", "evolutions record"),
            nobody.join(", ")
        ));
    }
    let mut out = Vec::new();
    for (g, mut evos) in gens.iter().zip(by_gen) {
        evos.sort_by(|a, b| (a.started, &a.their_id).cmp(&(b.started, &b.their_id)));
        number_rcs(cx, &g.record.version, &mut evos)?;
        evos.sort_by_key(|e| e.record.rc);
        for e in &evos {
            e.record
                .validate()
                .map_err(|p| invalid(table, &e.their_id, &p.field, p.reason))?;
        }
        out.extend(evos);
    }
    Ok(out)
}

/// Keeps each rc tag of this generation's version (the first one to claim a number wins) and
/// numbers the rest after the highest, in the order they started.
fn number_rcs(cx: &mut Cx, version: &Version, evos: &mut [Evo]) -> Result<()> {
    let mut taken = HashSet::new();
    let mut rest = Vec::new();
    for (i, e) in evos.iter_mut().enumerate() {
        match e.tag.as_deref().and_then(RcTag::parse) {
            Some(t) if &t.version == version && taken.insert(t.rc) => e.record.rc = t.rc,
            _ => rest.push(i),
        }
    }
    let mut next = taken.iter().max().copied().unwrap_or(0);
    let mut untagged = Vec::new();
    for i in rest {
        let e = &mut evos[i];
        next = next
            .checked_add(1)
            .ok_or_else(|| invalid("evolutions", &e.their_id, "tag", "no rc number is left"))?;
        e.record.rc = next;
        match &e.tag {
            None => untagged.push(format!("rc.{next}")),
            Some(tag) => cx.notes.push(format!(
                "{version}: evolution {}'s tag `{}` is not a free rc tag of {version}; \
                 numbered rc.{next}",
                e.record.code_name,
                shown(tag)
            )),
        }
    }
    if !untagged.is_empty() {
        cx.notes.push(format!(
            "{version}: {} no rc tag; numbered {}",
            count(untagged.len(), "evolution had", "evolutions had"),
            untagged.join(", ")
        ));
    }
    Ok(())
}

/// Promoted generations keep their status; where gryt's gates (with no minimum of evolutions)
/// or its rule against new evolutions after a promotion disagree, a note says so.
fn check_promoted(cx: &mut Cx, gens: &[Gen], evos: &[Evo]) {
    let mut of_generation: HashMap<Uuid, Vec<&Evo>> = HashMap::new();
    for e in evos {
        of_generation
            .entry(e.record.generation_id)
            .or_default()
            .push(e);
    }
    for g in gens
        .iter()
        .filter(|g| g.record.status == GenerationStatus::Promoted)
    {
        let version = &g.record.version;
        let mine = of_generation.remove(&g.record.id).unwrap_or_default();
        let proofs = gates::proofs(
            g.record.changes.iter().map(|c| c.id.as_str()),
            mine.iter()
                .map(|e| (e.record.change_id.as_str(), e.record.status)),
        );
        let failed: Vec<String> = gates::evaluate(&proofs, None)
            .into_iter()
            .filter(|r| !r.passed)
            .map(|r| r.detail)
            .collect();
        if !failed.is_empty() {
            cx.notes.push(format!(
                "{version} is promoted in gryt-ci but fails gryt's gates ({}); imported as \
                 promoted",
                failed.join("; ")
            ));
        }
        if let Some(promoted) = g.promoted {
            let late: Vec<&str> = mine
                .iter()
                .filter(|e| e.started > promoted)
                .map(|e| e.record.code_name.as_str())
                .collect();
            if !late.is_empty() {
                cx.notes.push(format!(
                    "{version}: {} after its promotion in gryt-ci ({}); gryt would have \
                     refused them",
                    count(late.len(), "evolution started", "evolutions started"),
                    late.join(", ")
                ));
            }
        }
    }
}

fn runs(
    cx: &mut Cx,
    raw: &[RawRun],
    evos: &[Evo],
    run_ids: &HashMap<&str, Uuid>,
) -> Result<Vec<PipelineRunRecord>> {
    let table = "pipelines";
    let mut out = Vec::new();
    let (mut from_evolution, mut nobody) = (0usize, 0usize);
    let index = EvoIndex {
        by_their_id: evos
            .iter()
            .enumerate()
            .map(|(i, e)| (e.their_id.as_str(), i))
            .collect(),
        by_run: evos
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((e.record.pipeline_run_id?, i)))
            .collect(),
        evos,
    };
    for r in raw {
        let name = r.name.clone().unwrap_or_default();
        let start = cx.required_time(table, &r.id, "start_timestamp", r.start.as_deref())?;
        let end = cx.time(table, &r.id, "end_timestamp", r.end.as_deref())?;
        let status = match (r.status.as_deref(), end) {
            (Some("success"), _) => RunStatus::Pass,
            (Some("error"), _) => RunStatus::Fail,
            (None, None) => {
                cx.notes.push(format!(
                    "pipeline run {} ({name}) has neither an end nor a status in gryt-ci (it \
                     never finished); imported as running",
                    r.id
                ));
                RunStatus::Running
            }
            (None, Some(_)) => {
                return Err(invalid(
                    table,
                    &r.id,
                    "status",
                    "is empty but the run ended",
                ));
            }
            (Some(other), _) => {
                return Err(invalid(
                    table,
                    &r.id,
                    "status",
                    format!("unknown status `{}`", shown(other)),
                ));
            }
        };
        let (evolution, missing) = run_evolution(r, &index)?;
        if let Some(missing) = missing {
            cx.notes.push(format!(
                "pipeline run {} ({name}) names evolution `{}`, which gryt-ci does not hold; \
                 imported without an evolution",
                r.id,
                shown(&missing)
            ));
        }
        let started_by = match evolution {
            Some(e) => {
                from_evolution += 1;
                e.record.owner.clone()
            }
            None => {
                nobody += 1;
                UNKNOWN_USER.to_string()
            }
        };
        let duration_ms = end
            .map(|end| (end - start).whole_milliseconds())
            .and_then(|ms| u64::try_from(ms).ok());
        let record = PipelineRunRecord {
            id: run_ids[r.id.as_str()],
            pipeline: name,
            evolution_id: evolution.map(|e| e.record.id),
            status,
            note: None,
            started_by,
            started_at: timestamp::format(start),
            finished_at: end.map(timestamp::format),
            duration_ms,
            steps: Vec::new(),
            revision: 0,
            seq: 0,
        };
        record
            .validate()
            .map_err(|p| invalid(table, &r.id, &p.field, p.reason))?;
        out.push((start, r.id.clone(), record));
    }
    if from_evolution + nobody > 0 {
        cx.notes.push(format!(
            "gryt-ci records no user on pipeline runs: {} imported as started by \
             their evolution's owner, {nobody} as started by `{UNKNOWN_USER}`",
            count(from_evolution, "run", "runs")
        ));
    }
    out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(out.into_iter().map(|(_, _, r)| r).collect())
}

/// The evolution a run proved: the `evolution_id` gryt-ci put in the run's `config_json`,
/// else the evolution whose `pipeline_run_id` names the run. The second value is an
/// `evolution_id` the store does not hold.
/// Evolutions by gryt-ci id and by the run they name.
struct EvoIndex<'e> {
    evos: &'e [Evo],
    by_their_id: HashMap<&'e str, usize>,
    by_run: HashMap<Uuid, usize>,
}

fn run_evolution<'e>(
    r: &RawRun,
    index: &EvoIndex<'e>,
) -> Result<(Option<&'e Evo>, Option<String>)> {
    let named = match r.config_json.as_deref().filter(|c| !c.is_empty()) {
        Some(json) => {
            let value: serde_json::Value = serde_json::from_str(json)
                .map_err(|e| invalid("pipelines", &r.id, "config_json", e.to_string()))?;
            value
                .get("evolution_id")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        }
        None => None,
    };
    if let Some(id) = named {
        return Ok(match index.by_their_id.get(id.as_str()) {
            Some(&i) => (Some(&index.evos[i]), None),
            None => (None, Some(id)),
        });
    }
    let run_id = derived_id("pipeline_run", &r.id).0;
    Ok((index.by_run.get(&run_id).map(|&i| &index.evos[i]), None))
}

//! `gryt import`: records from a bundle (or from another tool's store) applied with a pull's
//! rules, all or nothing, in one transaction.
//!
//! The planner runs in its import mode (`Local::import`): a record unknown here is added with
//! its id, owner and promotion; the same content already here is skipped; other content, or a
//! version or rc tag another record holds, is a recorded conflict — nothing here is
//! overwritten. What an import adds is local: never synced, pending for the next push (so
//! importing into a linked workspace and pushing restores a project into a cloud).
//!
//! The caller feeds the records in apply order (generations, evolutions, runs) through a
//! [`Sink`], in chunks, so memory stays flat; a dry run applies them all and rolls back.

use std::path::PathBuf;

use serde::Serialize;

use super::files::Files;
use super::pull::{
    ConflictInfo, Plan, PullReport, Untracked, apply_all, plan_page, untracked_files,
};
use crate::api::records::Record;
use crate::clock;
use crate::domain::RecordKind;
use crate::store::StoreError;
use crate::sync::planner::Op;
use crate::sync::{Result, SyncError};
use crate::workspace::Workspace;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Apply, report, and roll everything back.
    pub dry_run: bool,
    /// Where the records come from, for the audit trail: `bundle release.tar.zst`.
    pub origin: String,
}

#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    /// Versions and rc tags added.
    pub new: Vec<String>,
    pub generations: usize,
    pub evolutions: usize,
    pub pipeline_runs: usize,
    /// Records already here with the same content: skipped.
    pub identical: usize,
    /// Records held here with other content, or whose version or rc tag another record
    /// holds: recorded, nothing overwritten.
    pub conflicts: Vec<ConflictInfo>,
    /// Unsynced local evolutions moved to a free rc tag for an imported one.
    pub renumbered: Vec<String>,
    /// Promoted releases added: a linked workspace publishes them with `gryt sync push
    /// --promoted`.
    pub promoted: Vec<String>,
    /// Pipeline definitions added to `.gryt/pipelines/`.
    pub pipelines_added: Vec<String>,
    /// Pipeline definitions that differ from yours: yours are kept.
    pub pipelines_kept: Vec<String>,
    /// Records read.
    pub records: usize,
    pub dry_run: bool,
}

/// Takes the records of an import, chunk by chunk, inside its transaction.
pub struct Sink<'a> {
    ws: &'a Workspace,
    files: &'a Files,
    untracked: Untracked,
    rng: fastrand::Rng,
    now: String,
    pulled: PullReport,
    /// The records the last chunk added.
    added_ids: std::collections::HashSet<String>,
    origin: String,
    /// Files this import created, removed again when it fails.
    created: Vec<PathBuf>,
    report: ImportReport,
}

impl Sink<'_> {
    /// Applies a chunk of records (generations before the evolutions that prove their
    /// changes, evolutions before their runs). The feeder has checked each with the rules
    /// the cloud applies (`Record::validate`), naming where it came from; a tombstone has no
    /// place in an import.
    pub fn records(&mut self, mut chunk: Vec<Record>) -> Result<()> {
        if let Some(r) = chunk.iter().find(|r| r.kind().is_none()) {
            return Err(SyncError::Corrupt(format!(
                "{} {}: a tombstone has no place in an import",
                kind_name(r),
                r.id()
            )));
        }
        self.report.records += chunk.len();
        // No cloud numbered these: a conflict they cause says so by its seq 0.
        for r in &mut chunk {
            let revision = r.revision();
            r.stamp(revision, 0);
        }
        chunk.sort_by_key(super::pull::apply_rank);
        let (ops, prior) = plan_page(
            self.ws,
            &chunk,
            &self.untracked,
            &mut self.rng,
            Plan::Import,
        )?;
        self.added_ids.clear();
        let mut added: [Vec<String>; 3] = Default::default();
        let ops: Vec<Op> = ops
            .into_iter()
            .map(|op| match op {
                // The same content is here already: nothing to note (a pull would note the
                // cloud's revision).
                Op::Confirm(_) => {
                    self.report.identical += 1;
                    Op::Skip
                }
                op => op,
            })
            .collect();
        for op in &ops {
            if let Op::Insert(r) = op {
                let id = r.id().to_string();
                match r {
                    Record::Generation(g) => {
                        if g.status == crate::domain::GenerationStatus::Promoted {
                            self.report.promoted.push(g.version.to_string());
                        }
                        let path = self.ws.contract_path(&g.version);
                        if !path.exists() {
                            self.created.push(path);
                        }
                        added[0].push(id.clone());
                    }
                    Record::Evolution(_) => added[1].push(id.clone()),
                    _ => added[2].push(id.clone()),
                }
                self.added_ids.insert(id);
            }
        }
        let s = &self.ws.store;
        // A conflict is recorded about the incoming record; the record here keeps its state
        // (a pull marks it in conflict: its next push would overwrite the cloud's).
        let mut kept = Vec::new();
        for op in &ops {
            if let Op::Conflict { local: Some(l), .. } = op
                && let Some(kind) = l.kind()
            {
                let id = l.id().to_string();
                if let Some(state) = s.sync_state(kind, &id)? {
                    kept.push((kind, id, state.sync_status));
                }
            }
        }
        apply_all(
            self.ws,
            s,
            self.files,
            &ops,
            &prior,
            &self.now,
            &mut self.pulled,
        )?;
        for (kind, id, status) in kept {
            s.set_sync_status(kind, &id, status)?;
        }
        // What was added is local and pending, and the audit trail says where it came from:
        // written with the chunk, so memory does not grow with the import.
        let kinds = [
            RecordKind::Generation,
            RecordKind::Evolution,
            RecordKind::PipelineRun,
        ];
        for (kind, ids) in kinds.into_iter().zip(&added) {
            s.mark_imported(kind, ids)?;
        }
        self.report.generations += added[0].len();
        self.report.evolutions += added[1].len();
        self.report.pipeline_runs += added[2].len();
        let mut events = std::mem::take(&mut self.pulled.audit);
        for e in &mut events {
            if let Some(details) = e.details.as_object_mut() {
                details.remove("pulled");
                details.insert("imported".into(), self.origin.as_str().into());
            }
        }
        s.audit_many(&events)?;
        Ok(())
    }

    /// The commands of the steps of a run this import added (the wire record carries the
    /// steps without them). A run that was here already keeps its own.
    pub fn step_commands(&mut self, run: uuid::Uuid, commands: &[String]) -> Result<()> {
        let id = run.to_string();
        if self.added_ids.contains(&id) {
            self.ws.store.set_step_commands(&id, commands)?;
        }
        Ok(())
    }

    /// The contract file of a generation this import added, as the source had it (its
    /// comments and layout), instead of gryt's rendering; the caller checked that it holds
    /// the same contract.
    pub fn contract_text(
        &mut self,
        generation: uuid::Uuid,
        version: &crate::domain::Version,
        text: Vec<u8>,
    ) -> Result<()> {
        if self.added_ids.contains(&generation.to_string()) {
            self.files
                .write(self.ws.contract_path(version), text, false)?;
        }
        Ok(())
    }

    /// Adds a pipeline definition unless one of that name is here: the same text is left
    /// alone, another text is kept and reported.
    pub fn pipeline(&mut self, name: &str, text: &[u8]) -> Result<()> {
        crate::domain::check_pipeline_name(name).map_err(|e| {
            SyncError::Corrupt(format!("pipeline name `{}`: {e}", name.escape_debug()))
        })?;
        let path = self.ws.pipelines_dir().join(format!("{name}.yaml"));
        match std::fs::read(&path) {
            Ok(here) if here == text => {}
            Ok(_) => self.report.pipelines_kept.push(name.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.files.write(path.clone(), text.to_vec(), false)?;
                self.created.push(path);
                self.report.pipelines_added.push(name.to_string());
            }
            Err(e) => return Err(crate::sync::io("read", &path)(e).into()),
        }
        Ok(())
    }

    /// The end of the transaction: every file is on disk.
    fn finish(&mut self) -> Result<()> {
        self.files.flush()
    }
}

fn kind_name(r: &Record) -> &'static str {
    match r {
        Record::Generation(_) => "generation",
        Record::Evolution(_) => "evolution",
        Record::PipelineRun(_) => "pipeline run",
        Record::Deleted(_) => "tombstone",
    }
}

/// Why the import's transaction ends without committing.
enum Stop<E> {
    Failed(E),
    DryRun,
}

impl<E: From<StoreError>> From<StoreError> for Stop<E> {
    fn from(e: StoreError) -> Self {
        Stop::Failed(E::from(e))
    }
}

/// Runs an import: `feed` hands the records to the [`Sink`]; everything it applied commits
/// together, or (on any error, or in a dry run) nothing does.
pub fn import<E>(
    ws: &Workspace,
    opts: &ImportOptions,
    feed: impl FnOnce(&mut Sink<'_>) -> std::result::Result<(), E>,
) -> std::result::Result<ImportReport, E>
where
    E: From<SyncError> + From<StoreError>,
{
    ws.store.prepare_for_sync();
    let files = match opts.dry_run {
        true => Files::discard(),
        false => Files::threaded(),
    };
    let mut sink = Sink {
        ws,
        files: &files,
        untracked: untracked_files(ws).map_err(E::from)?,
        rng: clock::rng(ws.store.change_counter().map_err(E::from)?),
        now: clock::now_string(),
        pulled: PullReport::default(),
        added_ids: Default::default(),
        origin: opts.origin.clone(),
        created: Vec::new(),
        report: ImportReport {
            dry_run: opts.dry_run,
            ..ImportReport::default()
        },
    };
    let outcome = ws.store.tx(|_| -> std::result::Result<(), Stop<E>> {
        feed(&mut sink).map_err(Stop::Failed)?;
        sink.finish().map_err(|e| Stop::Failed(E::from(e)))?;
        match opts.dry_run {
            true => Err(Stop::DryRun),
            false => Ok(()),
        }
    });
    match outcome {
        Ok(()) | Err(Stop::DryRun) => {}
        Err(Stop::Failed(e)) => {
            // The rows are rolled back; so are the files this import created.
            let _ = files.flush();
            for path in &sink.created {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
    }
    let mut report = sink.report;
    report.new = sink.pulled.new;
    report.conflicts = sink.pulled.conflicts;
    report.renumbered = sink.pulled.renumbered;
    if opts.dry_run {
        // The conflicts were rolled back with the rest: they have no number.
        for c in &mut report.conflicts {
            c.id = None;
        }
    }
    Ok(report)
}

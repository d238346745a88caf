//! Copying one cloud project's records into another, on the same server or another one
//! (`gryt cloud copy`): the source's changes feed is read page by page and each page goes to
//! the destination as one import batch (`POST …/import`, docs/PROTOCOL.md), records passed on
//! as the JSON text the source served. Only one page is held at a time, whatever the size of
//! the project.
//!
//! The same walk answers "what would be copied": with `dry_run` every batch is judged by the
//! destination and rolled back. The feed orders records by their last change, so an
//! evolution may come before its generation (a promotion comes after the evolutions it was
//! judged on); the destination takes it, and the dry run's list of generations in the way
//! holds back their evolutions from the copy, so that none arrives without its generation. A record the destination holds already with identical
//! content is `unchanged`, so a copy that was interrupted completes by running it again.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::client::{Client, ClientError, RawChangesPage, Result};
use crate::api::ErrorCode;
use crate::api::import::{ImportAction, ImportKind, ImportResult};

/// Conflicts listed by name in a [`Tally`]; the rest are counted.
pub const MAX_LISTED: usize = 50;

/// One end of a copy: a server, a client carrying the token for it, and `TEAM/PROJECT`.
#[derive(Debug, Clone)]
pub struct Side {
    pub client: Client,
    /// Server URL without a trailing `/`.
    pub url: String,
    pub project: String,
}

impl Side {
    /// `URL#TEAM/PROJECT`, as kept in the destination's provenance.
    pub fn address(&self) -> String {
        format!("{}#{}", self.url, self.project)
    }
}

/// Records per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub generations: u64,
    pub evolutions: u64,
    pub pipeline_runs: u64,
}

impl Counts {
    fn add(&mut self, kind: ImportKind) {
        match kind {
            ImportKind::Generation => self.generations += 1,
            ImportKind::Evolution => self.evolutions += 1,
            ImportKind::PipelineRun => self.pipeline_runs += 1,
            ImportKind::Deleted => {}
        }
    }

    pub fn total(&self) -> u64 {
        self.generations + self.evolutions + self.pipeline_runs
    }
}

/// A record of the source that something at the destination is in the way of.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    pub kind: ImportKind,
    pub name: String,
    pub code: ErrorCode,
    pub message: String,
}

/// What a copy (or its dry run) found, over every page.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Created at the destination (a dry run: would be).
    pub copied: Counts,
    /// At the destination already, identical.
    pub unchanged: Counts,
    /// Tombstones of the source: nothing to copy.
    pub deleted_at_source: u64,
    /// How many records are in the way, and the first [`MAX_LISTED`] of them.
    pub conflicts: u64,
    pub conflicting: Vec<Conflict>,
    /// Records read from the source.
    pub read: u64,
}

impl Tally {
    fn note_conflict(&mut self, c: Conflict) {
        self.conflicts += 1;
        if self.conflicting.len() < MAX_LISTED {
            self.conflicting.push(c);
        }
    }

    /// An evolution not sent: its generation is in the way at the destination.
    fn held_back(&mut self, e: &EvolutionPeek, generation: &str, code: ErrorCode) {
        self.note_conflict(Conflict {
            kind: ImportKind::Evolution,
            name: e.code_name.clone(),
            code,
            message: format!("its generation {generation} is in the way"),
        });
    }

    fn add(&mut self, results: Vec<ImportResult>) {
        for r in results {
            match r.action {
                ImportAction::Created => self.copied.add(r.kind),
                ImportAction::Unchanged => self.unchanged.add(r.kind),
                ImportAction::Skipped => self.deleted_at_source += 1,
                ImportAction::Conflict => {
                    let (code, message) = r
                        .conflict
                        .map(|c| (c.error, c.message))
                        .unwrap_or((ErrorCode::Validation, String::new()));
                    self.note_conflict(Conflict {
                        kind: r.kind,
                        name: r.name,
                        code,
                        message,
                    });
                }
            }
        }
    }
}

/// What one walk keeps besides the tally: the generations of the source that are in the way
/// at the destination (their evolutions are held back: they would belong to nothing there),
/// and in a dry run, how many evolutions of each generation would be copied.
#[derive(Debug, Default)]
pub struct Blocked {
    generations: HashMap<Uuid, (String, ErrorCode)>,
    would_copy: HashMap<Uuid, u64>,
}

/// The little a walk reads of a record it passes on.
#[derive(Deserialize)]
struct Peek<'a> {
    kind: &'a str,
    #[serde(borrow)]
    record: &'a RawValue,
}

#[derive(Deserialize)]
struct EvolutionPeek {
    generation_id: Uuid,
    code_name: String,
}

/// The generation an evolution belongs to (`None` for other kinds).
fn generation_of(raw: &RawValue) -> Result<Option<EvolutionPeek>> {
    let bad = |e: serde_json::Error| ClientError::Protocol(format!("a record of the feed: {e}"));
    let peek: Peek<'_> = serde_json::from_str(raw.get()).map_err(bad)?;
    if peek.kind != "evolution" {
        return Ok(None);
    }
    serde_json::from_str(peek.record.get())
        .map(Some)
        .map_err(bad)
}

/// Walks the source's changes feed from the start and imports each page into the destination
/// (judged and rolled back when `dry_run`). `blocked` carries the generations in the way from
/// the dry run to the copy. `on_page` hears (records read, cursor, head) after each page.
pub fn copy(
    src: &Side,
    dst: &Side,
    dry_run: bool,
    blocked: &mut Blocked,
    page_limit: Option<u32>,
    on_page: &mut dyn FnMut(usize, u64, u64),
) -> Result<Tally> {
    let from = src.address();
    let mut tally = Tally::default();
    let mut since = 0;
    loop {
        let page: RawChangesPage = src.client.changes_raw(&src.project, since, page_limit)?;
        tally.read += page.records.len() as u64;
        let mut sent = Vec::with_capacity(page.records.len());
        let mut parents = Vec::with_capacity(page.records.len());
        for raw in page.records {
            let parent = generation_of(&raw)?;
            if let Some(e) = &parent
                && let Some((name, code)) = blocked.generations.get(&e.generation_id)
            {
                tally.held_back(e, name, *code);
                continue;
            }
            parents.push(parent.map(|e| e.generation_id));
            sent.push(raw);
        }
        if !sent.is_empty() {
            let results = send(dst, &from, dry_run, &sent)?;
            for (result, parent) in results.iter().zip(&parents) {
                match (result.kind, result.action, parent) {
                    (ImportKind::Generation, ImportAction::Conflict, _) => {
                        let code = result
                            .conflict
                            .as_ref()
                            .map_or(ErrorCode::Validation, |c| c.error);
                        blocked
                            .generations
                            .insert(result.id, (result.name.clone(), code));
                    }
                    (ImportKind::Evolution, ImportAction::Created, Some(g)) if dry_run => {
                        *blocked.would_copy.entry(*g).or_default() += 1;
                    }
                    _ => {}
                }
            }
            tally.add(results);
        }
        if page.next <= since && page.more {
            return Err(ClientError::Protocol(format!(
                "the changes feed of {} did not move past {since}",
                src.project
            )));
        }
        since = page.next;
        on_page(tally.read as usize, since, page.head);
        if !page.more {
            break;
        }
    }
    if dry_run {
        // Evolutions judged before their generation turned out to be in the way.
        for (id, (name, code)) in &blocked.generations {
            if let Some(n) = blocked.would_copy.remove(id) {
                tally.copied.evolutions -= n;
                tally.note_conflict(Conflict {
                    kind: ImportKind::Evolution,
                    name: format!("{n} evolution(s) of {name}"),
                    code: *code,
                    message: format!("their generation {name} is in the way"),
                });
                tally.conflicts += n - 1;
            }
        }
    }
    Ok(tally)
}

/// One import batch; a batch the destination finds too large goes again in halves. The
/// results, in the order of `records`.
fn send(
    dst: &Side,
    from: &str,
    dry_run: bool,
    records: &[Box<RawValue>],
) -> Result<Vec<ImportResult>> {
    match dst
        .client
        .import_body(&dst.project, body(from, dry_run, records))
    {
        Err(e) if e.code() == Some(ErrorCode::PayloadTooLarge) && records.len() > 1 => {
            let (a, b) = records.split_at(records.len() / 2);
            let mut results = send(dst, from, dry_run, a)?;
            results.extend(send(dst, from, dry_run, b)?);
            Ok(results)
        }
        Err(e) => Err(e),
        Ok(answer) => Ok(answer.results),
    }
}

/// The `ImportRequest`, written around the records' JSON text as the source served it.
fn body(from: &str, dry_run: bool, records: &[Box<RawValue>]) -> Vec<u8> {
    let size: usize = records.iter().map(|r| r.get().len() + 1).sum();
    let mut out = Vec::with_capacity(size + from.len() + 64);
    out.extend_from_slice(b"{\"copied_from\":");
    out.extend_from_slice(serde_json::Value::from(from).to_string().as_bytes());
    out.extend_from_slice(if dry_run {
        b",\"dry_run\":true,\"records\":["
    } else {
        b",\"dry_run\":false,\"records\":["
    });
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r.get().as_bytes());
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_an_import_request() {
        let records: Vec<Box<serde_json::value::RawValue>> = vec![
            serde_json::value::RawValue::from_string(
                r#"{"kind":"deleted","record":{"id":"01930000-0000-7000-8000-000000000001","record_kind":"generation","deleted_by":"ann","deleted_at":"2026-01-01T00:00:00Z"}}"#.into(),
            )
            .unwrap(),
        ];
        let bytes = body("http://h#a/\"b\"", true, &records);
        let req: crate::api::import::ImportRequest = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(req.copied_from, "http://h#a/\"b\"");
        assert!(req.dry_run);
        assert_eq!(req.records.len(), 1);
    }
}

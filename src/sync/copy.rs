//! Copying one cloud project's records into another, on the same server or another one
//! (`gryt cloud copy`): the source's changes feed is read page by page and each page goes to
//! the destination as one import batch (`POST …/import`, docs/PROTOCOL.md), records passed on
//! as the JSON text the source served. Only one page is held at a time, whatever the size of
//! the project.
//!
//! The same walk answers "what would be copied": with `dry_run` every batch is judged by the
//! destination and rolled back. A record the destination holds already with identical
//! content is `unchanged`, so a copy that was interrupted completes by running it again.

use serde::Serialize;

use super::client::{Client, ClientError, RawChangesPage, Result};
use crate::api::ErrorCode;
use crate::api::import::{ImportAction, ImportKind, ImportResponse};

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
    fn add(&mut self, answer: ImportResponse) {
        for r in answer.results {
            match r.action {
                ImportAction::Created => self.copied.add(r.kind),
                ImportAction::Unchanged => self.unchanged.add(r.kind),
                ImportAction::Skipped => self.deleted_at_source += 1,
                ImportAction::Conflict => {
                    self.conflicts += 1;
                    if self.conflicting.len() < MAX_LISTED {
                        let (code, message) = r
                            .conflict
                            .map(|c| (c.error, c.message))
                            .unwrap_or((ErrorCode::Validation, String::new()));
                        self.conflicting.push(Conflict {
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
}

/// Walks the source's changes feed from the start and imports each page into the destination
/// (judged and rolled back when `dry_run`). `on_page` hears (records read, cursor, head)
/// after each page.
pub fn copy(
    src: &Side,
    dst: &Side,
    dry_run: bool,
    page_limit: Option<u32>,
    on_page: &mut dyn FnMut(usize, u64, u64),
) -> Result<Tally> {
    let from = src.address();
    let mut tally = Tally::default();
    let mut since = 0;
    loop {
        let page: RawChangesPage = src.client.changes_raw(&src.project, since, page_limit)?;
        tally.read += page.records.len() as u64;
        if !page.records.is_empty() {
            send(dst, &from, dry_run, &page.records, &mut tally)?;
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
            return Ok(tally);
        }
    }
}

/// One import batch; a batch the destination finds too large goes again in halves.
fn send(
    dst: &Side,
    from: &str,
    dry_run: bool,
    records: &[Box<serde_json::value::RawValue>],
    tally: &mut Tally,
) -> Result<()> {
    match dst.client.import_body(&dst.project, body(from, dry_run, records)) {
        Err(e) if e.code() == Some(ErrorCode::PayloadTooLarge) && records.len() > 1 => {
            let (a, b) = records.split_at(records.len() / 2);
            send(dst, from, dry_run, a, tally)?;
            send(dst, from, dry_run, b, tally)
        }
        Err(e) => Err(e),
        Ok(answer) => {
            tally.add(answer);
            Ok(())
        }
    }
}

/// The `ImportRequest`, written around the records' JSON text as the source served it.
fn body(from: &str, dry_run: bool, records: &[Box<serde_json::value::RawValue>]) -> Vec<u8> {
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

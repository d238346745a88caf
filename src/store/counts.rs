//! The store's revision, and what `gryt status` needs of each generation kept beside the
//! database under it.
//!
//! `gryt status` and `gryt generation list` show each generation's changes, evolutions and
//! proven changes. Counting them reads every change and evolution, and reading every
//! generation row was most of what was left of a status on a large store. Each generation's
//! [`GenerationState`] (version, status, file hash, the three counts) is therefore kept
//! between commands in `gryt.db-counts` and used only while the store's *revision* is the
//! one it was read at:
//!
//! - every [`Store::tx`] that changed rows writes a new random revision in the same commit,
//!   so a reader's snapshot and its revision always belong together;
//! - a write to `generations` or `evolutions` outside a transaction (seen by SQLite's update
//!   hook) moves the revision before this connection next reads it, and when it closes;
//! - inside a transaction the states are always read afresh (its own writes are not under
//!   any revision yet).
//!
//! The file is a cache: a missing, foreign, truncated or older file is read afresh and
//! replaced, and failing to write it changes nothing but speed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use rusqlite::Connection;

use super::{Result, Store};
use crate::domain::{GenerationStatus, Version};

/// `local_state` key of the revision.
const REVISION: &str = "store.revision";

/// The file's first line: this text, the revision, the number of generations that follow.
/// (Format 1 held the counts only; such a file is read afresh and replaced.)
const MAGIC: &str = "gryt-counts 2";

/// Larger than any real cache (about 160 bytes per generation); a bigger file is not read.
const MAX_BYTES: u64 = 256 << 20;

/// Generation id → [changes, evolutions, changes with a passed evolution].
pub(super) type Counts = HashMap<String, [u32; 3]>;

/// What `gryt status` shows of a generation and compares with its contract file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationState {
    pub version: Version,
    pub status: GenerationStatus,
    /// SHA-256 of the contract file as last written or applied.
    pub file_hash: Option<String>,
    pub changes: u32,
    pub evolutions: u32,
    /// Changes with a passed evolution.
    pub proven: u32,
}

/// Every generation's id and state, newest version first: the file's content.
#[derive(Debug, Default)]
pub(super) struct Kept {
    /// Empty when read without them ([`Ids::Skip`]).
    pub(super) ids: Vec<String>,
    pub(super) states: Vec<GenerationState>,
}

/// Whether [`Store::kept_states`] also returns the generations' ids (`gryt status` needs
/// none of them: a thousand allocations saved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ids {
    Read,
    Skip,
}

/// What the update hook saw of this connection's writes.
#[derive(Debug, Default)]
pub(super) struct Writes {
    in_tx: AtomicBool,
    /// A row of `generations` or `evolutions` changed outside [`Store::tx`] and the revision
    /// has not moved since.
    stray: AtomicBool,
}

impl Writes {
    pub(super) fn watch(conn: &mut Connection) -> Result<Arc<Writes>> {
        let writes = Arc::new(Writes::default());
        let seen = Arc::clone(&writes);
        conn.update_hook(Some(move |_, _: &str, table: &str, _| {
            if !seen.in_tx.load(Relaxed) && (table == "evolutions" || table == "generations") {
                seen.stray.store(true, Relaxed);
            }
        }))?;
        Ok(writes)
    }

    /// Marks the connection as inside [`Store::tx`] until the guard drops.
    pub(super) fn in_tx(&self) -> InTx<'_> {
        self.in_tx.store(true, Relaxed);
        InTx(self)
    }

    pub(super) fn stray(&self) -> bool {
        self.stray.load(Relaxed)
    }

    pub(super) fn settled(&self) {
        self.stray.store(false, Relaxed);
    }
}

pub(super) struct InTx<'a>(&'a Writes);

impl Drop for InTx<'_> {
    fn drop(&mut self) {
        self.0.in_tx.store(false, Relaxed);
    }
}

impl Store {
    /// Writes a new revision (a fresh UUID, so that a store restored from a backup never
    /// meets counts taken from another history at the same number).
    pub(super) fn move_revision(&self) -> Result<()> {
        self.set_local_state(REVISION, Some(&uuid::Uuid::now_v7().to_string()))
    }

    /// Moves the revision past writes this connection made outside a transaction.
    pub(super) fn settle_stray_writes(&self) -> Result<()> {
        if self.writes.stray() && self.conn.is_autocommit() {
            self.move_revision()?;
            self.writes.settled();
        }
        Ok(())
    }

    /// The states kept beside the database, when they were read at the revision of this
    /// snapshot. Call inside [`Store::read`].
    pub(super) fn kept_states(&self, ids: Ids) -> Result<Cached> {
        // Inside `tx` its own writes are not under any revision yet; outside any transaction
        // there is no snapshot to tie the revision to. A store in memory has no file.
        let db = self.conn.path().filter(|p| !p.is_empty());
        let (Some(db), false, false) = (
            db,
            self.writes.in_tx.load(Relaxed),
            self.conn.is_autocommit(),
        ) else {
            return Ok(Cached::Stale(None));
        };
        let Some(revision) = self.local_state(REVISION)? else {
            return Ok(Cached::Stale(None));
        };
        let file = CountsFile {
            path: counts_file(Path::new(db)),
            revision,
        };
        Ok(match load(&file.path, &file.revision, ids) {
            Some(kept) => Cached::Current(kept),
            None => Cached::Stale(Some(file)),
        })
    }
}

/// What [`Store::kept_states`] found.
pub(super) enum Cached {
    /// States read at this snapshot's revision.
    Current(Kept),
    /// None usable: read afresh, and keep them in the file when there is one.
    Stale(Option<CountsFile>),
}

/// Where states read at a revision are kept.
pub(super) struct CountsFile {
    path: PathBuf,
    revision: String,
}

impl CountsFile {
    /// Replaces the file with `kept`; a failure only costs the next reader a read.
    pub(super) fn save(&self, kept: &Kept) {
        use std::fmt::Write;
        let n = kept.states.len();
        if kept.ids.len() != n {
            return;
        }
        let mut text = String::with_capacity(64 + n * 160);
        let _ = writeln!(text, "{MAGIC} {} {n}", self.revision);
        for (id, g) in kept.ids.iter().zip(&kept.states) {
            let _ = writeln!(
                text,
                "{id} {} {} {} {} {} {}",
                g.version,
                g.status.as_str(),
                g.file_hash.as_deref().unwrap_or("-"),
                g.changes,
                g.evolutions,
                g.proven
            );
        }
        let _ = crate::workspace::write_atomic(&self.path, text.as_bytes());
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.settle_stray_writes();
    }
}

fn counts_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-counts");
    PathBuf::from(name)
}

/// The states in `file` when it was written at `revision` and is whole.
fn load(file: &Path, revision: &str, ids: Ids) -> Option<Kept> {
    // Bounded, and only a regular file: a FIFO put in its place is refused, not waited on.
    let bytes = crate::workspace::file::read_limited(file, MAX_BYTES).ok()?;
    let mut lines = std::str::from_utf8(&bytes).ok()?.lines();
    let mut header = lines.next()?.strip_prefix(MAGIC)?.split(' ');
    let (Some(""), Some(at), Some(n), None) =
        (header.next(), header.next(), header.next(), header.next())
    else {
        return None;
    };
    if at != revision {
        return None;
    }
    let n: usize = n.parse().ok()?;
    let capacity = n.min(1 << 20);
    let mut kept = Kept {
        ids: Vec::with_capacity(if ids == Ids::Read { capacity } else { 0 }),
        states: Vec::with_capacity(capacity),
    };
    for line in lines {
        let mut fields = line.split(' ');
        let mut next = || fields.next().filter(|f| !f.is_empty());
        let id = next()?;
        let version = next()?.parse().ok()?;
        let status = GenerationStatus::parse(next()?)?;
        let file_hash = Some(next()?).filter(|h| *h != "-").map(str::to_string);
        let mut count = || next()?.parse::<u32>().ok();
        let (changes, evolutions, proven) = (count()?, count()?, count()?);
        if next().is_some() {
            return None;
        }
        let state = GenerationState {
            version,
            status,
            file_hash,
            changes,
            evolutions,
            proven,
        };
        if ids == Ids::Read {
            kept.ids.push(id.to_string());
        }
        kept.states.push(state);
    }
    (kept.states.len() == n).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::generations::tests::{contract, insert};
    use crate::store::tests::temp_store;

    fn counts(store: &Store) -> Vec<(String, u32, u32)> {
        let mut list: Vec<_> = store
            .list_generations()
            .unwrap()
            .into_iter()
            .map(|g| (g.version.to_string(), g.changes, g.evolutions))
            .collect();
        list.sort();
        list
    }

    fn evolve(store: &Store, n: u32) {
        store
            .insert_evolution(&crate::store::NewEvolution {
                id: &format!("e{n}"),
                generation_id: "g1",
                change_id: "A-1",
                code_name: &format!("code-{n}"),
                rc: n,
                owner: "alice",
                now: "2026-01-01T00:00:00Z",
            })
            .unwrap();
    }

    fn file(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("gryt.db-counts")
    }

    /// Rewrites the kept counts of g1 (2 changes, `evolutions` evolutions, none proven) to 7
    /// changes: a list that shows 7 read the file.
    fn tamper(dir: &tempfile::TempDir, evolutions: u32) {
        let text = std::fs::read_to_string(file(dir)).unwrap();
        let (from, to) = (
            format!(" 2 {evolutions} 0\n"),
            format!(" 7 {evolutions} 0\n"),
        );
        assert!(text.starts_with("gryt-counts 2 ") && text.contains("\ng1 v1.0.0 draft "));
        assert!(text.contains(&from), "{text}");
        std::fs::write(file(dir), text.replace(&from, &to)).unwrap();
    }

    /// A state as the tests compare it.
    type Row = (String, GenerationStatus, Option<String>, [u32; 3]);

    fn row(g: GenerationState) -> Row {
        let counts = [g.changes, g.evolutions, g.proven];
        (g.version.to_string(), g.status, g.file_hash, counts)
    }

    /// Version, status, file hash and counts as `gryt status` reads them, by version.
    fn states(store: &Store) -> Vec<Row> {
        let mut list: Vec<_> = store
            .generation_states()
            .unwrap()
            .into_iter()
            .map(row)
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    #[test]
    fn kept_counts_are_used_only_at_their_revision() {
        let (dir, store) = temp_store();
        store
            .tx(|s| {
                insert(s, "g1", &contract("1.0.0", &["A-1", "B-2"]));
                Ok::<_, crate::store::StoreError>(())
            })
            .unwrap();
        assert_eq!(counts(&store), [("v1.0.0".into(), 2, 0)]);
        tamper(&dir, 0);
        assert_eq!(counts(&store), [("v1.0.0".into(), 7, 0)]);
        assert_eq!(states(&store)[0].3, [7, 0, 0]);
        // A transaction that changes rows moves the revision: counted afresh.
        store
            .tx(|s| {
                evolve(s, 1);
                Ok::<_, crate::store::StoreError>(())
            })
            .unwrap();
        assert_eq!(counts(&store), [("v1.0.0".into(), 2, 1)]);
        // One that changes nothing keeps it.
        store.tx(|_| Ok::<_, crate::store::StoreError>(())).unwrap();
        tamper(&dir, 1);
        assert_eq!(counts(&store), [("v1.0.0".into(), 7, 1)]);
    }

    #[test]
    fn a_write_outside_a_transaction_moves_the_revision() {
        let (dir, store) = temp_store();
        insert(&store, "g1", &contract("1.0.0", &["A-1", "B-2"]));
        assert_eq!(counts(&store), [("v1.0.0".into(), 2, 0)]);
        // In this process: moved before the next read.
        evolve(&store, 1);
        assert_eq!(counts(&store), [("v1.0.0".into(), 2, 1)]);
        // For another process: moved when this one closes the store.
        let other = Store::open(&dir.path().join("gryt.db")).unwrap();
        evolve(&store, 2);
        drop(store);
        assert_eq!(states(&other)[0].3, [2, 2, 0]);
        assert_eq!(counts(&other), [("v1.0.0".into(), 2, 2)]);
    }

    #[test]
    fn a_transaction_counts_its_own_writes() {
        let (dir, store) = temp_store();
        insert(&store, "g1", &contract("1.0.0", &["A-1", "B-2"]));
        assert_eq!(counts(&store), [("v1.0.0".into(), 2, 0)]);
        tamper(&dir, 0);
        store
            .tx(|s| {
                evolve(s, 1);
                assert_eq!(counts(s), [("v1.0.0".into(), 2, 1)]);
                assert_eq!(states(s)[0].3, [2, 1, 0]);
                Ok::<_, crate::store::StoreError>(())
            })
            .unwrap();
    }

    #[test]
    fn a_damaged_counts_file_is_counted_afresh() {
        let (dir, store) = temp_store();
        insert(&store, "g1", &contract("1.0.0", &["A-1", "B-2"]));
        insert(&store, "g2", &contract("2.0.0", &["A-1"]));
        let want = [("v1.0.0".into(), 2, 0), ("v2.0.0".into(), 1, 0)];
        assert_eq!(counts(&store), want);
        let good = std::fs::read_to_string(file(&dir))
            .unwrap()
            .replace(" 2 0 0", " 7 0 0");
        let first_line = good.lines().next().unwrap().to_string();
        let damaged = [
            // Truncated: a generation missing.
            good.lines().take(2).collect::<Vec<_>>().join("\n"),
            // Cut inside a line.
            good[..good.len() - 3].to_string(),
            // A field too many or too few, a negative count, a bad version or status, the
            // format that held counts only, garbage.
            good.replace(" 7 0 0", " 7 0 0 0"),
            good.replace(" 7 0 0", " 7 0"),
            good.replace(" 7 0 0", " -7 0 0"),
            good.replace(" v1.0.0 ", " v1.0 "),
            good.replace(" draft ", " drafted "),
            good.replace("gryt-counts 2", "gryt-counts 1"),
            format!("{first_line}\n\u{0}\u{1}garbage"),
            String::new(),
        ];
        for text in damaged {
            std::fs::write(file(&dir), &text).unwrap();
            assert_eq!(counts(&store), want, "{text:?}");
            std::fs::write(file(&dir), &text).unwrap();
            assert_eq!(states(&store)[0].3, [2, 0, 0], "{text:?}");
        }
        // The intact file is used (so the cases above were refused, not ignored).
        std::fs::write(file(&dir), &good).unwrap();
        assert_eq!(counts(&store)[0].1, 7);
        assert_eq!(states(&store)[0].3, [7, 0, 0]);
    }

    /// A FIFO in place of the counts: counted afresh, without waiting for a writer that
    /// never comes (opening it to read would block), and replaced by a regular file.
    #[cfg(unix)]
    #[test]
    fn a_fifo_in_place_of_the_counts_is_not_waited_on() {
        let (dir, store) = temp_store();
        insert(&store, "g1", &contract("1.0.0", &["A-1", "B-2"]));
        assert_eq!(counts(&store), [("v1.0.0".into(), 2, 0)]);
        std::fs::remove_file(file(&dir)).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(file(&dir))
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(counts(&store), [("v1.0.0".into(), 2, 0)]);
        assert!(std::fs::metadata(file(&dir)).unwrap().is_file());
    }

    /// The states `gryt status` reads are the summaries' own, whichever of the two reads
    /// them afresh and keeps them for the other.
    #[test]
    fn kept_states_match_the_rows() {
        let (dir, store) = temp_store();
        insert(&store, "g1", &contract("1.0.0", &["A-1", "B-2"]));
        insert(&store, "g2", &contract("2.0.0", &["A-1"]));
        store.set_file_hash("g2", "abc").unwrap();
        store
            .mark_promoted("g2", "bob", "2026-01-02T00:00:00Z")
            .unwrap();
        evolve(&store, 1);
        let mut want: Vec<_> = store
            .list_generations()
            .unwrap()
            .iter()
            .map(|g| row(g.state()))
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(want[1].1, GenerationStatus::Promoted);
        assert_eq!(want[1].2.as_deref(), Some("abc"));
        assert_eq!(want[0].3, [2, 1, 0]);
        // Kept by the list, read by the states; then kept by the states, read by the list.
        assert_eq!(states(&store), want);
        std::fs::remove_file(file(&dir)).unwrap();
        assert_eq!(states(&store), want);
        assert!(file(&dir).exists());
        tamper(&dir, 1);
        assert_eq!(counts(&store)[0].1, 7);
    }

    #[test]
    fn a_new_store_has_a_revision() {
        let (_dir, store) = temp_store();
        assert!(store.local_state(REVISION).unwrap().is_some());
    }
}

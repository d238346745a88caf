//! The store's revision, and the per-generation counts kept beside the database under it.
//!
//! `gryt status` and `gryt generation list` show each generation's changes, evolutions and
//! proven changes. Counting them reads every change and evolution, which was most of a status
//! on a large store. The counts are therefore kept between commands in `gryt.db-counts` and
//! used only while the store's *revision* is the one they were counted at:
//!
//! - every [`Store::tx`] that changed rows writes a new random revision in the same commit,
//!   so a reader's snapshot and its revision always belong together;
//! - a write to `generations` or `evolutions` outside a transaction (seen by SQLite's update
//!   hook) moves the revision before this connection next reads it, and when it closes;
//! - inside a transaction the counts are always counted afresh (its own writes are not
//!   under any revision yet).
//!
//! The file is a cache: a missing, foreign, truncated or older file is counted afresh and
//! replaced, and failing to write it changes nothing but speed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use rusqlite::Connection;

use super::{Result, Store};

/// `local_state` key of the revision.
const REVISION: &str = "store.revision";

/// The file's first line: this text, the revision, the number of generations that follow.
const MAGIC: &str = "gryt-counts 1";

/// Larger than any real cache (about 60 bytes per generation); a bigger file is not read.
const MAX_BYTES: u64 = 256 << 20;

/// Generation id → [changes, evolutions, changes with a passed evolution].
pub(super) type Counts = HashMap<String, [u32; 3]>;

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

    /// The counts kept beside the database, when they were taken at the revision of this
    /// snapshot. Call inside [`Store::read`].
    pub(super) fn cached_counts(&self) -> Result<Cached> {
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
        Ok(match load(&file.path, &file.revision) {
            Some(counts) => Cached::Current(counts),
            None => Cached::Stale(Some(file)),
        })
    }
}

/// What [`Store::cached_counts`] found.
pub(super) enum Cached {
    /// Counts taken at this snapshot's revision.
    Current(Counts),
    /// None usable: count afresh, and keep them in the file when there is one.
    Stale(Option<CountsFile>),
}

/// Where counts taken at a revision are kept.
pub(super) struct CountsFile {
    path: PathBuf,
    revision: String,
}

impl CountsFile {
    /// Replaces the file with `counts`; a failure only costs the next reader a count.
    pub(super) fn save(&self, counts: &Counts) {
        use std::fmt::Write;
        let mut text = String::with_capacity(64 + counts.len() * 56);
        let _ = writeln!(text, "{MAGIC} {} {}", self.revision, counts.len());
        for (id, [changes, evolutions, proven]) in counts {
            let _ = writeln!(text, "{id} {changes} {evolutions} {proven}");
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

/// The counts in `file` when it was written at `revision` and is whole.
fn load(file: &Path, revision: &str) -> Option<Counts> {
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
    let mut counts = Counts::with_capacity(n.min(1 << 20));
    for line in lines {
        let mut fields = line.split(' ');
        let id = fields.next().filter(|id| !id.is_empty())?;
        let mut value = [0u32; 3];
        for v in &mut value {
            *v = fields.next()?.parse().ok()?;
        }
        if fields.next().is_some() || counts.insert(id.to_string(), value).is_some() {
            return None;
        }
    }
    (counts.len() == n).then_some(counts)
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

    /// Rewrites the kept counts of g1 to 7 changes: a list that shows 7 read the file.
    fn tamper(dir: &tempfile::TempDir) {
        let text = std::fs::read_to_string(file(dir)).unwrap();
        assert!(text.contains("g1 2 0 0"), "{text}");
        std::fs::write(file(dir), text.replace("g1 2 0 0", "g1 7 0 0")).unwrap();
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
        tamper(&dir);
        assert_eq!(counts(&store), [("v1.0.0".into(), 7, 0)]);
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
        let text = std::fs::read_to_string(file(&dir)).unwrap();
        std::fs::write(file(&dir), text.replace("g1 2 1 0", "g1 7 1 0")).unwrap();
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
        assert_eq!(counts(&other), [("v1.0.0".into(), 2, 2)]);
    }

    #[test]
    fn a_transaction_counts_its_own_writes() {
        let (dir, store) = temp_store();
        insert(&store, "g1", &contract("1.0.0", &["A-1", "B-2"]));
        assert_eq!(counts(&store), [("v1.0.0".into(), 2, 0)]);
        tamper(&dir);
        store
            .tx(|s| {
                evolve(s, 1);
                assert_eq!(counts(s), [("v1.0.0".into(), 2, 1)]);
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
            // A field too many, a negative count, another format, garbage.
            good.replace(" 7 0 0", " 7 0 0 0"),
            good.replace(" 7 0 0", " -7 0 0"),
            good.replace("gryt-counts 1", "gryt-counts 2"),
            format!("{first_line}\n\u{0}\u{1}garbage"),
            String::new(),
        ];
        for text in damaged {
            std::fs::write(file(&dir), &text).unwrap();
            assert_eq!(counts(&store), want, "{text:?}");
        }
        // The intact file is used (so the cases above were refused, not ignored).
        std::fs::write(file(&dir), &good).unwrap();
        assert_eq!(counts(&store)[0].1, 7);
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

    #[test]
    fn a_new_store_has_a_revision() {
        let (_dir, store) = temp_store();
        assert!(store.local_state(REVISION).unwrap().is_some());
    }
}

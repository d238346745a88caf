//! The sync log (`gryt sync log`): every sync attempt writes exactly one row, however it
//! ends — done (`ok`), refused by the cloud or with work left out (`rejected`), failed
//! (`error`: unreachable, not logged in, a lock time-out, …) or stopped by Ctrl-C / SIGTERM
//! (`cancelled`) — with what started it ([`Origin`]).
//!
//! An [`Attempt`] is started before anything can fail (connecting, taking the lock), told
//! how it ended, and writes its row when dropped; one dropped without being told (an early
//! `?`, a panic) is logged as an `error`. While it runs, an interrupt writes its row as
//! `cancelled` from the signal handler, and the process exits 130 (`cli::interrupt`); a
//! shared claim makes sure only one of the two writes. Every sync command follows this shape,
//! and so should a new one (verify, a full resync):
//!
//! ```ignore
//! let attempt = Attempt::start(&ws, Direction::Verify, Origin::Command);
//! let (remote, account) = attempt.check(connect(&ws))?;
//! let _lock = attempt.check(lock(ui, &ws))?;
//! match run_it() {
//!     Ok(r) if r.agrees() => attempt.ok(json!({"records": r.records})),
//!     Ok(r) => attempt.rejected(json!({"differences": r.len()}), "local and cloud differ"),
//!     Err(e) => attempt.failed(&e),
//! }
//! ```
//!
//! Dry runs and read-only reports (`status`, `diff`) are not logged ([`Attempt::unlogged`]).

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::cli::interrupt::{self, Registration};
use crate::store::{Store, SyncLogEntry};
use crate::workspace::Workspace;

/// What a sync attempt did: the `direction` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// `Verify` and `FullPull` are for `gryt sync verify` and `gryt sync pull --full`.
#[allow(dead_code)]
pub enum Direction {
    Pull,
    Push,
    /// A promotion through the cloud (its pull and push are logged as attempts of their own).
    Promote,
    /// A comparison of local and cloud records that changes nothing.
    Verify,
    /// A full resync: the whole project read from seq 0 and matched record by record.
    FullPull,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Pull => "pull",
            Direction::Push => "push",
            Direction::Promote => "promote",
            Direction::Verify => "verify",
            Direction::FullPull => "full-pull",
        }
    }
}

/// What started a sync attempt: the `origin` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Typed: `gryt sync …`, `gryt promote` in a linked repository.
    Command,
    /// The pre-commit hook (`gryt sync pull --hook`).
    Hook,
    /// Execution mode `cloud`: the pull before and the push after a command.
    CloudMode,
    /// A round of `gryt sync watch`.
    Watch,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Command => "command",
            Origin::Hook => "hook",
            Origin::CloudMode => "cloud-mode",
            Origin::Watch => "watch",
        }
    }
}

/// One sync attempt; writes its log row when dropped. See the module documentation.
pub struct Attempt<'w> {
    logged: Option<Logged<'w>>,
}

struct Logged<'w> {
    store: &'w Store,
    row: SyncLogEntry,
    started: Instant,
    /// Taken by whichever writes the row: this attempt when dropped, or the interrupt.
    claimed: Arc<AtomicBool>,
    outcome: RefCell<Option<(&'static str, serde_json::Value, Option<String>)>>,
    _cancel: Registration,
}

impl<'w> Attempt<'w> {
    pub fn start(ws: &'w Workspace, direction: Direction, origin: Origin) -> Attempt<'w> {
        let row = SyncLogEntry {
            started_at: crate::clock::now_string(),
            direction: direction.as_str().to_string(),
            origin: origin.as_str().to_string(),
            counts: serde_json::json!({}),
            duration_ms: 0,
            result: "cancelled".to_string(),
            error: None,
        };
        let started = Instant::now();
        let claimed = Arc::new(AtomicBool::new(false));
        let cancel = {
            let (claimed, row, db) = (claimed.clone(), row.clone(), ws.db_path());
            interrupt::on_interrupt(move || cancelled(&db, row, started, &claimed))
        };
        Attempt {
            logged: Some(Logged {
                store: &ws.store,
                row,
                started,
                claimed,
                outcome: RefCell::new(None),
                _cancel: cancel,
            }),
        }
    }

    /// An attempt that writes nothing (a dry run).
    pub fn unlogged() -> Attempt<'static> {
        Attempt { logged: None }
    }

    fn set(&self, result: &'static str, counts: serde_json::Value, error: Option<String>) {
        if let Some(l) = &self.logged {
            *l.outcome.borrow_mut() = Some((result, counts, error));
        }
    }

    /// It did what it was asked.
    pub fn ok(&self, counts: serde_json::Value) {
        self.set("ok", counts, None);
    }

    /// The cloud refused it, or it left work out (held back by conflicts, not published):
    /// `why` says what.
    pub fn rejected(&self, counts: serde_json::Value, why: impl Into<String>) {
        self.set("rejected", counts, Some(why.into()));
    }

    /// It failed: unreachable, not logged in, the lock not free, a bad answer, …
    pub fn failed(&self, error: &dyn std::fmt::Display) {
        self.set("error", serde_json::json!({}), Some(error.to_string()));
    }

    /// A command's result as this attempt's end: a refusal (exit 3) is `rejected`.
    pub fn settle<T>(
        &self,
        result: Result<T, crate::cli::error::CommandError>,
        counts: serde_json::Value,
    ) -> Result<T, crate::cli::error::CommandError> {
        match &result {
            Ok(_) => self.ok(counts),
            Err(e) if e.kind == crate::cli::error::ExitKind::Rejected => {
                self.rejected(counts, e.message.clone())
            }
            Err(e) => self.failed(e),
        }
        result
    }

    /// `result`, with a failure recorded as this attempt's end.
    pub fn check<T, E: std::fmt::Display>(&self, result: Result<T, E>) -> Result<T, E> {
        if let Err(e) = &result {
            self.failed(e);
        }
        result
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let Some(l) = self.logged.take() else {
            return;
        };
        if l.claimed.swap(true, Ordering::SeqCst) {
            return;
        }
        let (result, counts, error) = l.outcome.take().unwrap_or_else(|| {
            (
                "error",
                serde_json::json!({}),
                Some("stopped before it finished".to_string()),
            )
        });
        let row = SyncLogEntry {
            counts,
            duration_ms: l.started.elapsed().as_millis() as i64,
            result: result.to_string(),
            error,
            ..l.row
        };
        // The log is a record of what happened, never a reason for a sync to fail.
        let _ = l.store.log_sync(&row);
    }
}

/// From the interrupt handler: the attempt's row as `cancelled`, on a connection of its own
/// (the command's may be in the middle of a transaction; this one waits for it).
fn cancelled(db: &Path, row: SyncLogEntry, started: Instant, claimed: &AtomicBool) {
    if claimed.swap(true, Ordering::SeqCst) {
        return;
    }
    let row = SyncLogEntry {
        duration_ms: started.elapsed().as_millis() as i64,
        error: Some("interrupted".to_string()),
        ..row
    };
    if let Ok(store) = Store::open(db) {
        let _ = store.log_sync(&row);
    }
}

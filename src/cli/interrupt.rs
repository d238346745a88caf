//! Ctrl-C and SIGTERM for the whole process: one handler, installed when a command first
//! needs it (`ctrlc` takes one per process).
//!
//! - While cleanup actions are registered ([`on_interrupt`]: a sync attempt writing its
//!   `cancelled` row), they run, then the process exits 130 — a sync stops where it is, which
//!   is safe: every step is a transaction, and a push's saved body is replayed next time.
//! - Otherwise a command that [`cooperate`]s (`gryt run`) is told through the flag and stops
//!   its pipeline itself; any other command exits 130 at once, as without a handler.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Once};

/// The exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_CANCELLED: i32 = 130;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static COOPERATIVE: AtomicBool = AtomicBool::new(false);
static NEXT: AtomicU64 = AtomicU64::new(0);
type Action = Box<dyn FnOnce() + Send>;
static ACTIONS: Mutex<Vec<(u64, Action)>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

fn install() {
    INSTALL.call_once(|| {
        // Without it (a handler already set elsewhere) Ctrl-C keeps its default: the
        // process ends, and the attempt is not logged.
        let _ = ctrlc::set_handler(handle);
    });
}

fn handle() {
    let actions: Vec<(u64, Action)> = match ACTIONS.lock() {
        Ok(mut list) => std::mem::take(&mut *list),
        Err(_) => Vec::new(),
    };
    let had_actions = !actions.is_empty();
    // Innermost first.
    for (_, action) in actions.into_iter().rev() {
        action();
    }
    if had_actions || !COOPERATIVE.load(Ordering::SeqCst) {
        std::process::exit(EXIT_CANCELLED);
    }
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// For a command that stops by itself when interrupted: the flag it watches.
pub fn cooperate() -> &'static AtomicBool {
    COOPERATIVE.store(true, Ordering::SeqCst);
    install();
    &INTERRUPTED
}

/// Registered until dropped: `action` runs if the process is interrupted meanwhile, and the
/// process then exits 130.
pub struct Registration(u64);

pub fn on_interrupt(action: impl FnOnce() + Send + 'static) -> Registration {
    install();
    let id = NEXT.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut list) = ACTIONS.lock() {
        list.push((id, Box::new(action)));
    }
    Registration(id)
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut list) = ACTIONS.lock() {
            list.retain(|(id, _)| *id != self.0);
        }
    }
}

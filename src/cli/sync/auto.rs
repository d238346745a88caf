//! Syncs nobody typed: execution mode `cloud`'s pull before and push after a command, and
//! the pre-commit hook's pull. They give up fast and never fail the command or the commit.

use super::super::error::{CommandError, ExitKind};
use super::super::ui::Ui;
use super::super::workspace;
use super::{
    Attempt, Direction, Origin, conflict_list, connect_opts, pull_logged, push_logged, push_outcome,
};
use crate::sync::engine::{self, Cloud, PullOptions, PushOptions};
use crate::workspace::Workspace;
use crate::workspace::config::ExecutionMode;

/// Execution mode `cloud`: pull before commands that read or write release state, push after
/// them. After a read the push is quiet and only follows a pull that succeeded, so work left
/// pending while offline goes out with the first command that reaches the cloud again. Never
/// fails the command: offline, logged out or refused, the work stays local (pending) and one
/// line on stderr says so.
pub struct AutoSync {
    pull: bool,
    push: bool,
    /// The pull before the command succeeded: the cloud is reachable and the cursor current.
    pulled: std::cell::Cell<bool>,
    /// The pull before the command could not reach the cloud: the push after it does not
    /// try again, and one warning says so for both.
    unreachable: std::cell::RefCell<Option<String>>,
}

impl AutoSync {
    /// For a command that `reads` and/or `writes` release state (`Command::release_state`).
    pub fn for_command((reads, writes): (bool, bool)) -> AutoSync {
        let none = AutoSync {
            pull: false,
            push: false,
            pulled: Default::default(),
            unreachable: Default::default(),
        };
        if !reads && !writes {
            return none;
        }
        // Cheap checks first: most repositories are not in cloud mode.
        let Ok(cwd) = std::env::current_dir() else {
            return none;
        };
        let Some(root) = crate::workspace::find_root(&cwd) else {
            return none;
        };
        let Ok(config) = crate::workspace::load_config(Some(&root)) else {
            return none;
        };
        if config.execution_mode() != ExecutionMode::Cloud || config.get("cloud.project").is_none()
        {
            return none;
        }
        AutoSync {
            pull: reads,
            push: writes,
            pulled: Default::default(),
            unreachable: Default::default(),
        }
    }

    pub fn before(&self, ui: &Ui) {
        if self.pull {
            let show = !ui.quiet;
            self.step(ui, Direction::Pull, |ws, c, attempt| {
                let report = pull_logged(ws, c, PullOptions::default(), show, attempt)?;
                if !report.conflicts.is_empty() {
                    ui.warn(format!(
                        "the cloud pull recorded conflicts, your local work was kept: {}; see gryt sync conflicts",
                        conflict_list(ui, &report.conflicts)
                    ));
                }
                self.pulled.set(true);
                Ok(())
            });
        }
    }

    pub fn after(&self, ui: &Ui) {
        if !self.push {
            if self.pulled.get() {
                self.push_pending(ui);
            }
            return;
        }
        if let Some(why) = self.unreachable.borrow().as_ref() {
            ui.warn(format!("{why}; {STAYS_PENDING}"));
            return;
        }
        let show = !ui.quiet;
        self.step(ui, Direction::Push, |ws, c, attempt| {
            let report = push_logged(ws, c, &PushOptions::default(), show, attempt)?;
            push_outcome(ui, ws, report)
        });
    }

    /// After a read that reached the cloud: sends what is pending, printing nothing unless
    /// it did not all go out, then one warning line.
    fn push_pending(&self, ui: &Ui) {
        let pushed = workspace().and_then(|ws| {
            // Most reads find nothing pending: no connection, no lock.
            if ws.store.unsynced_count().is_ok_and(|n| n == 0) {
                return Ok(());
            }
            in_background(&ws, Origin::CloudMode, Direction::Push, |ws, c, attempt| {
                let report = push_logged(ws, c, &PushOptions::default(), false, attempt)?;
                push_outcome(ui, ws, report)
            })
        });
        match pushed {
            Ok(()) => {}
            // Refused or held back: the message names what did not go out.
            Err(e) if e.kind == ExitKind::Rejected => ui.warn(format!("cloud push: {}", e.message)),
            Err(e) => ui.warn(format!(
                "cloud push skipped: {}; {STAYS_PENDING}",
                e.message
            )),
        }
    }

    fn step(
        &self,
        ui: &Ui,
        direction: Direction,
        f: impl FnOnce(&Workspace, &Cloud<'_>, Attempt<'_>) -> Result<(), CommandError>,
    ) {
        let what = direction.as_str();
        let run = |ws: Workspace| in_background(&ws, Origin::CloudMode, direction, f);
        let Err(e) = workspace().and_then(run) else {
            return;
        };
        if what == "pull" && e.kind == ExitKind::Unreachable && self.push {
            // Said once, after the command, with what happens to its work.
            *self.unreachable.borrow_mut() = Some(format!("cloud sync skipped: {}", e.message));
            return;
        }
        match (what, e.kind) {
            // Refused or held back: the message names what did not go out.
            ("push", ExitKind::Rejected) => ui.warn(format!("cloud push: {}", e.message)),
            ("push", _) => ui.warn(format!(
                "cloud push skipped: {}; {STAYS_PENDING}",
                e.message
            )),
            _ => ui.warn(format!("cloud {what} skipped: {}", e.message)),
        }
        // Offline is one line; a refusal says what to do about it.
        if e.kind != ExitKind::Unreachable {
            for hint in &e.hints {
                ui.status(format!("Hint: {hint}"));
            }
        }
    }
}

const STAYS_PENDING: &str = "your work stays pending and goes out with the next gryt command that reaches the cloud (or `gryt sync push`)";

/// How long a sync nobody asked for waits for another one to finish.
const BACKGROUND_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs `f` against the linked cloud as a sync nobody typed: short timeouts, no retries, a
/// short wait for the lock; one logged attempt of `direction` started by `origin`.
fn in_background(
    ws: &Workspace,
    origin: Origin,
    direction: Direction,
    f: impl FnOnce(&Workspace, &Cloud<'_>, Attempt<'_>) -> Result<(), CommandError>,
) -> Result<(), CommandError> {
    let attempt = Attempt::start(ws, direction, origin);
    let options = crate::sync::client::ClientOptions::background();
    let (remote, account) = attempt.check(connect_opts(ws, options))?;
    let _lock = attempt.check(engine::lock(ws, BACKGROUND_LOCK_WAIT))?;
    f(ws, &remote.cloud(&account), attempt)
}

pub(super) fn hook_pull() {
    let attempt = || -> Result<(), CommandError> {
        let ws = workspace()?;
        if ws.config.execution_mode() == ExecutionMode::Local
            || ws.config.get("cloud.project").is_none()
        {
            return Ok(());
        }
        in_background(&ws, Origin::Hook, Direction::Pull, |ws, c, attempt| {
            pull_logged(ws, c, PullOptions::default(), false, attempt)
                .map(|_| ())
                .map_err(Into::into)
        })
    };
    if let Err(e) = attempt() {
        eprintln!(
            "gryt: sync pull skipped ({}); the commit goes on",
            e.message
        );
    }
}

//! `gryt sync …`: pull, push, status, diff, log, conflicts and their resolution against the linked
//! Gryt Cloud project.

pub mod attempt;
mod auto;
mod conflicts;
mod diff;
pub(crate) mod progress;
mod status;
mod verify;
mod watch;

pub use attempt::{Attempt, Direction, Origin};
pub use auto::AutoSync;
use auto::hook_pull;
use progress::{Progress, Shown};

use clap::Subcommand;

use super::error::CommandError;
use super::ui::Ui;
use super::{version_arg, workspace};
use crate::domain::{RecordKind, Version};
use crate::sync::engine::{self, Cloud, PullOptions, PushOptions, promote};
use crate::sync::remote::Remote;
use crate::sync::{SyncError, remote};
use crate::workspace::Workspace;
use crate::workspace::config::ExecutionMode;

/// Share release state with the linked Gryt Cloud project (`gryt sync` = pull, then push)
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SyncArgs {
    #[command(subcommand)]
    pub command: Option<SyncCommand>,
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    Pull(PullArgs),
    Push(PushArgs),
    PushEvolutions(PushEvolutionsArgs),
    Status(status::StatusArgs),
    Diff(diff::DiffArgs),
    Verify(verify::VerifyArgs),
    Log(status::LogArgs),
    Conflicts(conflicts::ConflictsArgs),
    Resolve(conflicts::ResolveArgs),
    Watch(watch::WatchArgs),
}

/// Fetch what changed in the cloud; never overwrites or deletes local work
///
/// Records unchanged here since the last sync are fast-forwarded; records changed on both
/// sides, and the same version from another origin, become conflicts (`gryt sync conflicts`).
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Only these generations, with their evolutions and runs, read whole from the cloud.
    /// The cursor stays: a later `gryt sync pull` still brings everything (and a push still
    /// needs it first)
    #[arg(value_name = "VERSION", value_parser = version_arg, conflicts_with_all = ["full", "hook"])]
    pub versions: Vec<Version>,
    /// Show what a pull would do, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Read the whole project again from its first change and match every local record by
    /// id and content: what the cloud holds becomes synced, what it lacks becomes pending
    /// again; differences become conflicts (gryt does this by itself when the linked project
    /// or the cloud's history changed)
    #[arg(long)]
    pub full: bool,
    /// For git hooks: silent when not linked or in local mode; any failure is one line on
    /// stderr and exit 0, so a commit is never blocked
    #[arg(long, hide = true)]
    pub hook: bool,
}

/// Send every pending record in one atomic push (refused when the cloud moved on: pull first)
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Only this generation and its evolutions
    #[arg(value_parser = version_arg)]
    pub version: Option<Version>,
    /// Show what would be pushed, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also publish releases promoted here before this workspace was ever synced (all, or
    /// VERSION), each with its evolutions and runs; the cloud takes one only if its version
    /// is free there and the evolutions sent prove every change
    #[arg(long)]
    pub promoted: bool,
}

/// Push only the evolutions (and their runs) of one generation
#[derive(Debug, clap::Args)]
pub struct PushEvolutionsArgs {
    /// The generation whose evolutions to push (it must be in the cloud already)
    #[arg(value_parser = version_arg)]
    pub version: Version,
}

pub fn run(ui: &Ui, args: SyncArgs) -> Result<(), CommandError> {
    match args.command {
        None => {
            let ws = workspace()?;
            // Connecting and locking belong to the pull's attempt: a failure there is its end.
            let pulling = Attempt::start(&ws, Direction::Pull, Origin::Command);
            let (remote, account) = pulling.check(connect(&ws))?;
            let _lock = pulling.check(lock(ui, &ws))?;
            let cloud = remote.cloud(&account);
            let pushing = || Attempt::start(&ws, Direction::Push, Origin::Command);
            if !ui.json {
                cmd_pull(
                    ui,
                    &ws,
                    &cloud,
                    PullOptions::default(),
                    Some((1, 2)),
                    pulling,
                )?;
                let opts = PushOptions::default();
                return cmd_push(ui, &ws, &cloud, &opts, Some((2, 2)), pushing());
            }
            // One JSON document for both halves: {"pull": {...}, "push": {...}}.
            let pulled = pull_logged(&ws, &cloud, PullOptions::default(), false, pulling)?;
            let pushed = push_logged(&ws, &cloud, &PushOptions::default(), false, pushing())?;
            ui.json(&serde_json::json!({"pull": pulled, "push": push_json(&pushed)}))?;
            push_outcome(ui, &ws, pushed)
        }
        Some(SyncCommand::Pull(a)) if a.hook => {
            hook_pull();
            Ok(())
        }
        Some(SyncCommand::Pull(a)) => {
            let direction = if a.full {
                Direction::FullPull
            } else {
                Direction::Pull
            };
            let logged = (!a.dry_run).then_some(direction);
            let opts = PullOptions {
                dry_run: a.dry_run,
                full: a.full,
                only: a.versions,
                ..PullOptions::default()
            };
            with_cloud(ui, logged, |ws, c, at| cmd_pull(ui, ws, c, opts, None, at))
        }
        Some(SyncCommand::Push(a)) => {
            let logged = (!a.dry_run).then_some(Direction::Push);
            with_cloud(ui, logged, |ws, c, at| {
                cmd_push(
                    ui,
                    ws,
                    c,
                    &PushOptions {
                        dry_run: a.dry_run,
                        version: a.version.clone(),
                        publish: a.promoted,
                        ..PushOptions::default()
                    },
                    None,
                    at,
                )
            })
        }
        Some(SyncCommand::PushEvolutions(a)) => {
            with_cloud(ui, Some(Direction::Push), |ws, c, at| {
                cmd_push(
                    ui,
                    ws,
                    c,
                    &PushOptions {
                        dry_run: false,
                        version: Some(a.version.clone()),
                        evolutions_only: true,
                        ..PushOptions::default()
                    },
                    None,
                    at,
                )
            })
        }
        Some(SyncCommand::Status(a)) => status::cmd_status(ui, a),
        Some(SyncCommand::Diff(a)) => diff::cmd_diff(ui, a),
        Some(SyncCommand::Verify(a)) => verify::cmd_verify(ui, a),
        Some(SyncCommand::Log(a)) => status::cmd_log(ui, a),
        Some(SyncCommand::Conflicts(a)) => conflicts::cmd_conflicts(ui, a),
        Some(SyncCommand::Resolve(a)) => conflicts::cmd_resolve(ui, a),
        Some(SyncCommand::Watch(a)) => watch::cmd_watch(ui, a),
    }
}

const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs `f` as a typed sync command: one logged attempt of `direction` (none: a dry run)
/// from connecting on.
fn with_cloud(
    ui: &Ui,
    direction: Option<Direction>,
    f: impl FnOnce(&Workspace, &Cloud<'_>, Attempt<'_>) -> Result<(), CommandError>,
) -> Result<(), CommandError> {
    let ws = workspace()?;
    let attempt = match direction {
        Some(d) => Attempt::start(&ws, d, Origin::Command),
        None => Attempt::unlogged(),
    };
    let (remote, account) = attempt.check(connect(&ws))?;
    let _lock = attempt.check(lock(ui, &ws))?;
    f(&ws, &remote.cloud(&account), attempt)
}

/// The repository's sync lock; says so when it has to wait for another sync.
pub fn lock(ui: &Ui, ws: &Workspace) -> Result<engine::SyncLock, CommandError> {
    match engine::lock(ws, std::time::Duration::ZERO) {
        Err(SyncError::Locked { .. }) => {
            ui.status(format!(
                "Waiting for another sync in this repository to finish (up to {} s)…",
                LOCK_WAIT.as_secs()
            ));
            Ok(engine::lock(ws, LOCK_WAIT)?)
        }
        other => Ok(other?),
    }
}

/// The linked project and the account acting on it (asked of the server when only a
/// `GRYT_TOKEN` is known). Refused in local mode, which never touches the network.
pub fn connect(ws: &Workspace) -> Result<(Remote, String), CommandError> {
    connect_opts(ws, crate::sync::client::ClientOptions::from_env())
}

/// [`connect`] with other timeouts and retries.
fn connect_opts(
    ws: &Workspace,
    opts: crate::sync::client::ClientOptions,
) -> Result<(Remote, String), CommandError> {
    if ws.config.execution_mode() == ExecutionMode::Local {
        return Err(CommandError::user("execution_mode is local: gryt never talks to the cloud here")
            .hint("to sync, run `gryt config execution_mode hybrid` (sync on promote and on `gryt sync`) or `cloud`"));
    }
    let remote = remote::connect(ws, opts)?;
    let account = if remote.account.is_empty() {
        remote.client.whoami()?.username
    } else {
        remote.account.clone()
    };
    Ok((remote, account))
}

/// Undocumented: smaller pages, for tests and for debugging a slow link.
pub(crate) fn page_limit() -> Option<u32> {
    std::env::var("GRYT_SYNC_PAGE_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// Pulls and ends `attempt` with the outcome (its log row); prints nothing.
pub fn pull_logged(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    opts: PullOptions,
    progress: impl Into<Shown>,
    attempt: Attempt<'_>,
) -> Result<engine::PullReport, SyncError> {
    let verb = match opts.full {
        true => "full resync: reading and matching every record",
        false => "pulling",
    };
    let progress = Progress::new(verb, "changes", progress.into(), cloud.client);
    // A full resync asked for, or a narrowed pull, counts from the first change.
    let from = match opts.full || !opts.only.is_empty() {
        true => Some(0),
        false => engine::cursor(&ws.store, cloud).ok(),
    };
    let result = engine::pull(
        ws,
        cloud,
        PullOptions {
            page_limit: page_limit(),
            ..opts
        },
        &mut progress.pull_callback(from),
    );
    let report = attempt.check(result)?;
    let mut counts = serde_json::json!({"new": report.new.len(), "updated": report.updated.len(), "deleted": report.deleted.len(), "conflicts": report.conflicts.len(), "records": report.records});
    if !report.merged.is_empty() {
        counts["merged"] = report.merged.len().into();
    }
    // A repair is part of the story the log tells: why the pull read everything again.
    if let Some(why) = &report.full_resync {
        counts["full_resync"] = why.as_str().into();
    }
    attempt.ok(counts);
    Ok(report)
}

pub fn cmd_pull(
    ui: &Ui,
    ws: &Workspace,
    cloud: &Cloud<'_>,
    opts: PullOptions,
    step: Option<(u8, u8)>,
    attempt: Attempt<'_>,
) -> Result<(), CommandError> {
    let dry_run = opts.dry_run;
    let only: Vec<String> = opts.only.iter().map(ToString::to_string).collect();
    let report = pull_logged(ws, cloud, opts, Shown::bar(!ui.quiet, step), attempt)?;
    if ui.json {
        return ui.json(&report);
    }
    // A narrowed pull names what it was narrowed to: the rest of the project did not come.
    let project = match only.is_empty() {
        true => cloud.project.clone(),
        false => format!("{} ({} only)", cloud.project, only.join(", ")),
    };
    let would = if dry_run { "Would pull" } else { "Pulled" };
    if let Some(why) = &report.full_resync {
        full_resync_note(ui, why, &report, dry_run)?;
    }
    if report.new.is_empty()
        && report.updated.is_empty()
        && report.deleted.is_empty()
        && report.conflicts.is_empty()
        && report.merged.is_empty()
        && report.renumbered.is_empty()
        && report.full_resync.is_none()
    {
        ui.status(format!(
            "Already up to date with {project} (head {})",
            report.head
        ));
        return Ok(());
    }
    ui.line(format!("{would} from {project} (head {}):", report.head))?;
    for (label, list) in [
        ("new", &report.new),
        ("updated", &report.updated),
        ("deleted", &report.deleted),
        ("renumbered", &report.renumbered),
    ] {
        if !list.is_empty() {
            ui.line(format!("  {label:<10} {}", ui.list(list)))?;
        }
    }
    if !report.merged.is_empty() {
        ui.line(format!(
            "  {:<10} {}",
            "merged",
            conflict_list(ui, &report.merged)
        ))?;
        ui.status("Drafts changed on both sides were merged (sync.auto_resolve merge); `gryt sync push` sends them");
    }
    if !report.conflicts.is_empty() {
        ui.line(format!(
            "  {:<10} {}",
            "conflicts",
            conflict_list(ui, &report.conflicts)
        ))?;
        ui.status("Your local work was kept; see `gryt sync conflicts` and resolve with `gryt sync resolve`");
    }
    Ok(())
}

/// What a full resync did, and why it ran: one note on stderr, the records it left to push
/// on stdout.
pub fn full_resync_note(
    ui: &Ui,
    why: &str,
    report: &engine::PullReport,
    dry_run: bool,
) -> Result<(), CommandError> {
    if dry_run {
        ui.status(format!(
            "Note: {why}; a pull would match every record with the cloud again (a full resync)"
        ));
        return Ok(());
    }
    ui.status(format!(
        "Note: {why}; gryt matched every record with the cloud again (a full resync)"
    ));
    for (label, list) in [
        ("resend", &report.resend),
        ("local only", &report.local_only),
    ] {
        if !list.is_empty() {
            ui.line(format!("  {label:<10} {}", ui.list(list)))?;
        }
    }
    if !report.resend.is_empty() || !report.local_only.is_empty() {
        ui.status("The cloud lacks these records: `gryt sync push` sends them");
    }
    if !report.others_lost.is_empty() {
        ui.line(format!(
            "  {:<10} {}",
            "others'",
            ui.list(&report.others_lost)
        ))?;
        ui.status(
            "The cloud lost these records of others: they are kept here, and only their authors can send them again",
        );
    }
    if report.conflicts_superseded > 0 {
        ui.status(format!(
            "{} open conflict{} recorded against the cloud as it was: superseded (what still differs is recorded again)",
            report.conflicts_superseded,
            if report.conflicts_superseded == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}

/// `v1.0.0 (version taken), v1.1.0-rc.2 (both changed)`.
fn conflict_list(ui: &Ui, conflicts: &[engine::ConflictInfo]) -> String {
    let list: Vec<String> = conflicts
        .iter()
        .map(|c| format!("{} ({})", c.subject, c.reason.label()))
        .collect();
    ui.list(&list)
}

/// Pushes and ends `attempt` with the outcome (its log row); prints nothing.
pub fn push_logged(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    opts: &PushOptions,
    progress: impl Into<Shown>,
    attempt: Attempt<'_>,
) -> Result<engine::PushReport, SyncError> {
    let progress = progress.into();
    let opts = &PushOptions {
        // Undocumented, like GRYT_SYNC_PAGE_LIMIT: smaller batches.
        batch_records: opts.batch_records.or_else(|| {
            std::env::var("GRYT_SYNC_BATCH_RECORDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
        }),
        ..opts.clone()
    };
    let progress = Progress::new(
        "pushing",
        "records",
        Shown::bar(progress.on() && !opts.dry_run, progress.step()),
        cloud.client,
    );
    let mut callback = progress.push_callback();
    let callback = progress
        .bar
        .is_some()
        .then_some(&mut callback as engine::PushProgress<'_>);
    let mut report = attempt.check(engine::push_with_progress(ws, cloud, opts, callback))?;
    if let Some(v) = &opts.version {
        // A push of one version reports only the conflicts that hold back its records.
        report.conflicts = promote::conflicts_of(v, std::mem::take(&mut report.conflicts));
    }
    let mut counts = serde_json::json!({"created": report.created.len(), "updated": report.updated.len(), "renumbered": report.renumbered.len(), "published": report.published.len()});
    if let Some(why) = &report.full_resync {
        counts["full_resync"] = why.as_str().into();
    }
    let left_out = if let Some(body) = &report.rejected {
        Some(body.message.clone())
    } else if !report.conflicts.is_empty() {
        Some(promote::held_back_message(&report.conflicts))
    } else if !report.unpublished.is_empty() || !report.publish_refused.is_empty() {
        Some(promote::not_published_message(
            &report.unpublished,
            &report.publish_refused,
        ))
    } else {
        None
    };
    match left_out {
        Some(why) if !opts.dry_run => attempt.rejected(counts, why),
        _ => attempt.ok(counts),
    }
    Ok(report)
}

/// Promotion's pull and push as the command line runs them: logged, with progress, and one
/// status line each when they moved something.
pub struct LoggedSteps<'u> {
    pub ui: &'u Ui,
}

impl promote::Steps for LoggedSteps<'_> {
    fn pull(
        &mut self,
        ws: &Workspace,
        cloud: &Cloud<'_>,
    ) -> crate::sync::Result<engine::PullReport> {
        let attempt = Attempt::start(ws, Direction::Pull, Origin::Command);
        let bar = Shown::bar(!self.ui.quiet, Some((1, 2)));
        let pulled = pull_logged(ws, cloud, PullOptions::default(), bar, attempt)?;
        if !pulled.new.is_empty() || !pulled.updated.is_empty() {
            self.ui.status(format!(
                "Pulled {} new and {} updated from {}",
                pulled.new.len(),
                pulled.updated.len(),
                cloud.project
            ));
        }
        Ok(pulled)
    }

    fn push(
        &mut self,
        ws: &Workspace,
        cloud: &Cloud<'_>,
        opts: &PushOptions,
    ) -> crate::sync::Result<engine::PushReport> {
        let attempt = Attempt::start(ws, Direction::Push, Origin::Command);
        let bar = Shown::bar(!self.ui.quiet, Some((2, 2)));
        let pushed = push_logged(ws, cloud, opts, bar, attempt)?;
        if !pushed.created.is_empty() || !pushed.updated.is_empty() {
            self.ui.status(format!(
                "Pushed {}",
                self.ui
                    .list(&[pushed.created.clone(), pushed.updated.clone()].concat())
            ));
        }
        Ok(pushed)
    }
}

/// A push's refusal or held-back conflicts as the error to exit with (a dry run holds back
/// nothing).
fn push_outcome(ui: &Ui, ws: &Workspace, report: engine::PushReport) -> Result<(), CommandError> {
    promote::push_outcome(report).map_err(|e| super::error::promote_error(ui, ws, e))
}

pub fn cmd_push(
    ui: &Ui,
    ws: &Workspace,
    cloud: &Cloud<'_>,
    opts: &PushOptions,
    step: Option<(u8, u8)>,
    attempt: Attempt<'_>,
) -> Result<(), CommandError> {
    if let Some(v) = &opts.version {
        let g = attempt.check(crate::ops::generation::get(ws, v))?;
        let in_cloud = || -> Result<bool, CommandError> {
            let state = ws.store.sync_state(RecordKind::Generation, &g.id);
            Ok(state
                .map_err(SyncError::from)?
                .and_then(|st| st.base_revision)
                .is_some())
        };
        if opts.evolutions_only && !attempt.check(in_cloud())? {
            return attempt.check(Err(CommandError::user(format!(
                "{v} is not in the cloud yet: its evolutions have nowhere to go"
            ))
            .hint(format!("push it with its evolutions: gryt sync push {v}"))));
        }
    }
    let report = push_logged(ws, cloud, opts, Shown::bar(!ui.quiet, step), attempt)?;
    if let Some(why) = &report.full_resync {
        ui.status(format!(
            "Note: {why}; gryt matched every record with the cloud again (a full resync) before pushing"
        ));
    }
    not_pushed(ui, &report.skipped);
    if !report.renumbered.is_empty() {
        ui.status(format!("Renumbered {}", ui.list(&report.renumbered)));
    }
    if ui.json {
        ui.json(&push_json(&report))?;
    } else if report.created.is_empty()
        && report.updated.is_empty()
        && report.unchanged.is_empty()
        && report.rejected.is_none()
    {
        // Never while something was left out: the outcome below names it.
        if !report.incomplete() && report.unpublished.is_empty() {
            ui.status("Everything up to date");
        }
    } else if report.rejected.is_none() || !report.created.is_empty() || !report.updated.is_empty()
    {
        let would = if opts.dry_run { "Would push" } else { "Pushed" };
        ui.line(format!(
            "{would} to {}{}:",
            cloud.project,
            if opts.dry_run {
                String::new()
            } else {
                format!(" (head {})", report.head)
            }
        ))?;
        for (label, list) in [
            ("created", &report.created),
            ("updated", &report.updated),
            ("published", &report.published),
        ] {
            if !list.is_empty() {
                ui.line(format!("  {label:<10} {}", ui.list(list)))?;
            }
        }
    }
    if opts.dry_run && !report.unpublished.is_empty() {
        ui.warn(format!(
            "{}; publish with gryt sync push --promoted",
            promote::not_published_message(&report.unpublished, &[])
        ));
    }
    push_outcome(ui, ws, report)
}

/// One warning per record a push leaves out, the first few unless `--verbose`.
pub(super) fn not_pushed(ui: &Ui, skipped: &[String]) {
    let (shown, more) = ui.cut(skipped);
    for s in shown {
        ui.warn(format!("not pushed: {s}"));
    }
    if more > 0 {
        ui.warn(format!(
            "not pushed: … and {more} more ({})",
            super::ui::MORE_HINT
        ));
    }
}

/// A push report for scripts: records held back by open conflicts (exit 3) show as
/// `rejected: {"error": "conflict", …}`, so `rejected == null` always means success.
fn push_json(report: &engine::PushReport) -> serde_json::Value {
    let mut v = serde_json::to_value(report).expect("reports serialize");
    if report.rejected.is_none() && !report.dry_run && !report.conflicts.is_empty() {
        let list: Vec<serde_json::Value> = report
            .conflicts
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id, "record_kind": c.record_kind, "subject": c.subject,
                    "reason": c.reason, "strategies": engine::resolve::strategies(c.record_kind, c.reason),
                })
            })
            .collect();
        v["rejected"] = serde_json::json!({
            "error": "conflict",
            "message": promote::held_back_message(&report.conflicts),
            "details": {"conflicts": list},
        });
    } else if report.rejected.is_none()
        && !report.dry_run
        && (!report.unpublished.is_empty() || !report.publish_refused.is_empty())
    {
        v["rejected"] = serde_json::json!({
            "error": "not_published",
            "message": promote::not_published_message(&report.unpublished, &report.publish_refused),
            "details": {"unpublished": report.unpublished, "refused": report.publish_refused},
        });
    }
    v
}

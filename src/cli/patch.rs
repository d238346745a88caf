//! `gryt patch apply`: apply, or undo, a patch made by `gryt sync diff --output`
//! (sync::engine::patch).

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::error::CommandError;
use crate::cli::ui::Ui;
use crate::sync::engine::patch::{self, MAX_PATCH, PatchError};

// The `gryt patch` group. Its help text is the doc comment of `cli::Command::Patch` (a doc
// comment here would replace it once clap builds the deferred group).
#[derive(Debug, clap::Subcommand)]
pub enum PatchCommand {
    Apply(ApplyArgs),
}

/// Apply a patch made by `gryt sync diff --output`, or undo one with --reverse
///
/// Each hunk changes one record, from the base the patch names to its new value. A hunk
/// whose base is not what this workspace holds (the record changed here, or since) refuses
/// the whole patch, naming it; otherwise every hunk applies in one transaction. A pull's
/// rules apply: records land as synced at the cloud's revision, so the next `gryt sync pull`
/// does not bring them again; an unsynced evolution of yours holding an rc tag a new one
/// needs moves to the next free one.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The patch file
    pub file: PathBuf,
    /// Say what would change; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Undo the patch: each record goes back to its base
    #[arg(long)]
    pub reverse: bool,
}

pub fn run(ui: &Ui, cmd: PatchCommand) -> Result<(), CommandError> {
    match cmd {
        PatchCommand::Apply(args) => cmd_apply(ui, args),
    }
}

fn cmd_apply(ui: &Ui, args: ApplyArgs) -> Result<(), CommandError> {
    let shown = args.file.display().to_string();
    let refused = |e: PatchError| -> CommandError {
        match e {
            PatchError::Sync(e) => e.into(),
            PatchError::Store(e) => crate::sync::SyncError::from(e).into(),
            e @ PatchError::Stale { .. } => CommandError::user(format!("{shown}: {e}"))
                .hint("nothing was changed")
                .hint(if args.reverse {
                    "a patch undoes only what it applied, on records unchanged since"
                } else {
                    "make the patch again with `gryt sync diff --output FILE`, or run `gryt sync pull`"
                }),
            e => CommandError::user(format!("{shown}: {e}")).hint("nothing was changed"),
        }
    };
    let text = read_patch(&args.file)?;
    let hunks = patch::parse(&text).map_err(refused)?;
    let ws = super::workspace()?;
    let _lock = match args.dry_run {
        true => None,
        false => Some(crate::sync::engine::lock(&ws, Duration::from_secs(5))?),
    };
    let origin = format!("patch {shown}");
    let report = patch::apply(&ws, &hunks, args.reverse, args.dry_run, &origin).map_err(refused)?;
    if ui.json {
        return ui.json(&report);
    }
    let verb = match (args.dry_run, args.reverse) {
        (true, false) => "Would apply",
        (true, true) => "Would undo",
        (false, false) => "Applied",
        (false, true) => "Undid",
    };
    ui.line(format!(
        "{verb} {} change(s) from {shown}",
        report.applied.len()
    ))?;
    for h in &report.applied {
        ui.line(format!("  {h}"))?;
    }
    for r in &report.renumbered {
        ui.line(format!("  renumbered {r}"))?;
    }
    if args.dry_run {
        ui.status("Dry run: nothing was changed");
    }
    Ok(())
}

/// The patch's text: a regular file (not a FIFO or a device), bounded, UTF-8.
fn read_patch(path: &std::path::Path) -> Result<String, CommandError> {
    use crate::workspace::file::{ReadError, read_limited};
    let shown = path.display();
    let bytes = read_limited(path, MAX_PATCH).map_err(|e| match e {
        ReadError::Io(e) => CommandError::user(format!("cannot read {shown}: {e}")),
        ReadError::TooLarge(_) => CommandError::user(format!(
            "{shown} is larger than gryt reads ({} MiB)",
            MAX_PATCH >> 20
        ))
        .hint("nothing was changed"),
        other => CommandError::user(format!("{shown}: {other}")).hint("nothing was changed"),
    })?;
    String::from_utf8(bytes).map_err(|_| {
        CommandError::user(format!("{shown}: not a gryt patch (not UTF-8 text)"))
            .hint("nothing was changed")
    })
}

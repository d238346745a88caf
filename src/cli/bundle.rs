//! `gryt export` and `gryt import`: release state to a bundle file and back (crate::bundle,
//! sync::engine::import).

use std::path::PathBuf;
use std::time::Duration;

use crate::bundle::{self, Selection};
use crate::cli::error::CommandError;
use crate::cli::ui::Ui;
use crate::domain::Version;
use crate::sync::engine::{ImportOptions, ImportReport};

/// Write generations, their evolutions and pipeline runs to a bundle file
///
/// A bundle is one file (tar + zstd) with a manifest holding the SHA-256 of every entry, the
/// contracts as their YAML files and the records as JSON lines, with their ids, owners and
/// promotion, and the pipeline definitions. `gryt import` reads it into another workspace.
/// Never overwrites a file. The format is in docs/SYNC.md.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Generations to export (with their evolutions and runs)
    #[arg(value_parser = super::version_arg, value_name = "VERSION")]
    pub versions: Vec<Version>,
    /// Export every generation, evolution and pipeline run
    #[arg(long, conflicts_with = "versions")]
    pub all: bool,
    /// The bundle file to write
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

/// Add the release state of a bundle, or of a gryt-ci workspace, to this workspace
///
/// Checks the bundle's format and every checksum before touching anything, then applies it
/// all or nothing. Records keep their ids, owners and promotion. A pull's rules apply: a
/// record already here with the same content is skipped; one with other content, or a
/// version another generation holds here, becomes a recorded conflict (`gryt sync
/// conflicts`), never an overwrite. What is added is local: in a linked repository the next
/// `gryt sync push` sends it.
///
/// With --from-gryt-ci PATH, reads the store of the Python gryt-ci (PATH: its workspace, its
/// .gryt directory or its gryt.db; never modified) and imports its generations, changes,
/// evolutions, pipeline runs and promotions the same way, printing what has no equivalent
/// in gryt. Run it with --dry-run first.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The bundle made by `gryt export`
    #[arg(required_unless_present = "from_gryt_ci")]
    pub file: Option<PathBuf>,
    /// Import a gryt-ci workspace instead of a bundle
    #[arg(long, value_name = "PATH", conflicts_with = "file")]
    pub from_gryt_ci: Option<PathBuf>,
    /// Say what would be added, skipped and in conflict; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

pub fn cmd_export(ui: &Ui, args: ExportArgs) -> Result<(), CommandError> {
    let selection = match (args.all, args.versions.is_empty()) {
        (true, _) => Selection::All,
        (false, false) => Selection::Versions(args.versions),
        (false, true) => return Err(bundle::BundleError::NothingSelected.into()),
    };
    let ws = super::workspace()?;
    let report = bundle::export(&ws, &selection, &args.output)?;
    if ui.json {
        return ui.json(&report);
    }
    let c = report.counts;
    ui.line(format!(
        "Exported {} generations, {} evolutions, {} pipeline runs and {} pipelines to {} ({} bytes)",
        c.generations,
        c.evolutions,
        c.pipeline_runs,
        c.pipelines,
        report.file.display(),
        report.bytes
    ))
}

pub fn cmd_import(ui: &Ui, args: ImportArgs) -> Result<(), CommandError> {
    if let Some(path) = &args.from_gryt_ci {
        return import_gryt_ci(ui, path, args.dry_run);
    }
    let file = args
        .file
        .expect("clap requires FILE without --from-gryt-ci");
    let ws = super::workspace()?;
    // The whole bundle is checked before anything here is touched (the lock file included).
    let checked = bundle::Bundle::open(&file)?;
    // One sync at a time: an import writes what a pull writes (a dry run rolls back).
    let _lock = lock_unless(&ws, args.dry_run)?;
    let (manifest, report) = bundle::import(&ws, checked, &file, args.dry_run)?;
    if ui.json {
        return ui.json(&serde_json::json!({ "manifest": {
            "format_version": manifest.format_version,
            "gryt_version": manifest.gryt_version,
            "created_at": manifest.created_at,
            "source": manifest.source,
            "counts": manifest.counts,
        }, "report": report }));
    }
    print_report(ui, &ws, &report, &file.display().to_string())
}

fn lock_unless(
    ws: &crate::workspace::Workspace,
    dry_run: bool,
) -> Result<Option<crate::sync::engine::SyncLock>, CommandError> {
    Ok(match dry_run {
        true => None,
        false => Some(crate::sync::engine::lock(ws, Duration::from_secs(5))?),
    })
}

/// `gryt import --from-gryt-ci PATH`.
fn import_gryt_ci(ui: &Ui, path: &std::path::Path, dry_run: bool) -> Result<(), CommandError> {
    let ws = super::workspace()?;
    let read = crate::gryt_ci::read(path).map_err(|e| {
        CommandError::user(format!("cannot import from gryt-ci: {e}")).hint("nothing was changed")
    })?;
    let _lock = lock_unless(&ws, dry_run)?;
    let opts = ImportOptions {
        dry_run,
        origin: format!("gryt-ci {}", path.display()),
    };
    let report = crate::sync::engine::import(&ws, &opts, |sink| {
        for chunk in read.records.chunks(1_000) {
            sink.records(chunk.to_vec())?;
        }
        Ok::<(), crate::sync::SyncError>(())
    })?;
    if ui.json {
        return ui.json(&serde_json::json!({ "notes": read.notes, "report": report }));
    }
    print_report(ui, &ws, &report, &format!("gryt-ci {}", path.display()))?;
    if !read.notes.is_empty() {
        ui.line("What gryt-ci holds that gryt has no place for, or had to choose:")?;
        for note in &read.notes {
            ui.line(format!("  note: {note}"))?;
        }
    }
    Ok(())
}

fn print_report(
    ui: &Ui,
    ws: &crate::workspace::Workspace,
    report: &ImportReport,
    from: &str,
) -> Result<(), CommandError> {
    let would = if report.dry_run { "Would add" } else { "Added" };
    ui.line(format!(
        "{would} {} generations, {} evolutions and {} pipeline runs from {from}; {} already here",
        report.generations, report.evolutions, report.pipeline_runs, report.identical
    ))?;
    if ui.verbose > 0 {
        for name in &report.new {
            ui.line(format!("  + {name}"))?;
        }
    }
    for r in &report.renumbered {
        ui.line(format!("  renumbered {r}"))?;
    }
    if !report.pipelines_added.is_empty() {
        ui.line(format!(
            "  pipelines added: {}",
            report.pipelines_added.join(", ")
        ))?;
    }
    if !report.pipelines_kept.is_empty() {
        ui.line(format!(
            "  pipelines kept as they are here (the bundle's differ): {}",
            report.pipelines_kept.join(", ")
        ))?;
    }
    for c in &report.conflicts {
        let id = c.id.map(|i| format!("#{i} ")).unwrap_or_default();
        ui.line(format!(
            "  conflict {id}{} {}: {}",
            c.kind.as_str(),
            c.subject,
            c.reason.as_str()
        ))?;
    }
    if report.dry_run {
        ui.status("Dry run: nothing was changed");
        return Ok(());
    }
    if !report.conflicts.is_empty() {
        ui.status("Conflicting records were not imported; see `gryt sync conflicts`");
    }
    if ws.config.get("cloud.project").is_some() && report.records > report.identical {
        if report.promoted.is_empty() {
            ui.status("Send them to the cloud with `gryt sync push`");
        } else {
            ui.status(format!(
                "Publish the promoted releases ({}) with `gryt sync push --promoted`, then the rest with `gryt sync push`",
                report.promoted.join(", ")
            ));
        }
    }
    Ok(())
}

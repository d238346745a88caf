//! `gryt export` and `gryt import`: release state to a bundle file and back (crate::bundle,
//! sync::engine::import).

use std::path::PathBuf;
use std::time::Duration;

use crate::bundle::{self, Selection};
use crate::cli::error::CommandError;
use crate::cli::ui::Ui;
use crate::domain::Version;

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

/// Add the release state of a bundle to this workspace
///
/// Checks the bundle's format and every checksum before touching anything, then applies it
/// all or nothing. Records keep their ids, owners and promotion. A pull's rules apply: a
/// record already here with the same content is skipped; one with other content, or a
/// version another generation holds here, becomes a recorded conflict (`gryt sync
/// conflicts`), never an overwrite. What is added is local: in a linked repository the next
/// `gryt sync push` sends it.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The bundle made by `gryt export`
    pub file: PathBuf,
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
    let ws = super::workspace()?;
    // The whole bundle is checked before anything here is touched (the lock file included).
    let checked = bundle::Bundle::open(&args.file)?;
    // One sync at a time: an import writes what a pull writes (a dry run rolls back).
    let _lock = match args.dry_run {
        true => None,
        false => Some(crate::sync::engine::lock(&ws, Duration::from_secs(5))?),
    };
    let (manifest, report) = bundle::import(&ws, checked, &args.file, args.dry_run)?;
    if ui.json {
        return ui.json(&serde_json::json!({ "manifest": {
            "format_version": manifest.format_version,
            "gryt_version": manifest.gryt_version,
            "created_at": manifest.created_at,
            "source": manifest.source,
            "counts": manifest.counts,
        }, "report": report }));
    }
    let would = if report.dry_run { "Would add" } else { "Added" };
    ui.line(format!(
        "{would} {} generations, {} evolutions and {} pipeline runs from {}; {} already here",
        report.generations,
        report.evolutions,
        report.pipeline_runs,
        args.file.display(),
        report.identical
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

//! `gryt backup` and `gryt restore`: the workspace database to a checked backup file and
//! back (ops::backup).

use std::path::PathBuf;

use crate::cli::error::CommandError;
use crate::cli::ui::Ui;
use crate::ops::backup;

/// Write a checked copy of the workspace database (.gryt/gryt.db)
///
/// The database holds what exists nowhere else: local evolutions, pipeline runs and sync
/// state. The copy is consistent even while another gryt writes, passes
/// `PRAGMA integrity_check`, and gets its SHA-256 beside it as FILE.sha256 (sha256sum format).
/// Never overwrites a file.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The backup file to write
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

/// Replace the workspace database with a backup made by `gryt backup`
///
/// Checks FILE against FILE.sha256, its integrity and its schema before touching anything,
/// refuses while a sync runs, and keeps the replaced database in .gryt/backups/.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup file (with FILE.sha256 beside it)
    pub file: PathBuf,
}

pub fn cmd_backup(ui: &Ui, args: BackupArgs) -> Result<(), CommandError> {
    let ws = super::workspace()?;
    let report = backup::backup(&ws, &args.output)?;
    if ui.json {
        return ui.json(&report);
    }
    ui.line(format!(
        "Backed up {} to {} ({} bytes, integrity ok); checksum in {}",
        ws.display_path(&ws.db_path()),
        report.file.display(),
        report.bytes,
        report.checksum_file.display()
    ))
}

pub fn cmd_restore(ui: &Ui, args: RestoreArgs) -> Result<(), CommandError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CommandError::user(format!("cannot read the current directory: {e}")))?;
    let report = backup::restore(&cwd, &args.file)?;
    if ui.json {
        return ui.json(&report);
    }
    ui.line(format!(
        "Restored .gryt/gryt.db from {}",
        args.file.display()
    ))?;
    if let Some(kept) = &report.replaced {
        ui.status(format!(
            "The replaced database is kept in {}",
            kept.display()
        ));
    }
    ui.status("Run `gryt sync` to catch up with the cloud, if this repository is linked");
    Ok(())
}

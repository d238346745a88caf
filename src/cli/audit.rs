use std::path::PathBuf;

use clap::Subcommand;

use super::error::CommandError;
use super::ui::{self, Ui};
use super::workspace;
use crate::ops::audit::{self as ops, ExportError, Format};

/// The audit trail: every state change with actor and time
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    Export(ExportArgs),
}

/// Write the whole audit trail to a file
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Output file (its directory must exist; never inside .gryt/)
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Replace FILE if it already exists
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
}

pub fn cmd_audit(ui: &Ui, args: AuditArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    match args.command {
        Some(AuditCommand::Export(e)) => {
            let format = match e.format {
                ExportFormat::Json => Format::Json,
                ExportFormat::Csv => Format::Csv,
            };
            let n = ops::export(&ws, format, &e.output, e.force).map_err(export_error)?;
            if ui.json {
                return ui.json(&serde_json::json!({ "events": n, "path": e.output }));
            }
            ui.line(format!(
                "Exported {n} audit events to {}",
                e.output.display()
            ))
        }
        None => {
            let events = ops::list(&ws)?;
            if ui.json {
                return ui.json(&events);
            }
            if events.is_empty() {
                ui.status("No audit events yet");
                return Ok(());
            }
            let mut t = ui::table(&["at", "actor", "action", "object", "details"]);
            for e in &events {
                t.add_row(vec![
                    e.at.clone(),
                    e.actor.clone(),
                    e.action.clone(),
                    e.object.clone(),
                    details(&e.details),
                ]);
            }
            ui.line(ui::render(&t))
        }
    }
}

fn export_error(e: ExportError) -> CommandError {
    let err = CommandError::user(e.to_string());
    match e {
        ExportError::Op(op) => op.into(),
        ExportError::InsideGryt(_) => err.hint("write the export somewhere outside .gryt/"),
        ExportError::Exists(_) => err.hint("pass --force to replace it, or choose another file"),
        ExportError::IsDirectory(_) | ExportError::NotAFileName(_) => {
            err.hint("give the path of a file to write, e.g. -o audit.json")
        }
        ExportError::NoDirectory(_) => err.hint("create the directory first, or choose another"),
    }
}

/// `{"from": "v1.0.0", "status": "pass"}` → `from=v1.0.0 status=pass` (nulls left out).
fn details(v: &serde_json::Value) -> String {
    let Some(map) = v.as_object() else {
        return v.to_string();
    };
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

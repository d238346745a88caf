use super::error::CommandError;
use super::generation::plural;
use super::ui::{BAD, Ui, WARN};
use super::workspace;
use crate::ops::status::{self as ops, FileState};

/// Show the state of the workspace, like `git status`
///
/// Contract files edited but not applied, the current evolution, drafts and their proof, and
/// the sync configuration.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

pub fn cmd_status(ui: &Ui, _args: StatusArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let s = ops::status(&ws)?;
    if ui.json {
        return ui.json(&s);
    }
    match &s.current_evolution {
        Some(e) => ui.line(format!(
            "Current evolution: {} ({}) of {}, {}",
            e.code_name,
            e.tag(),
            e.change_id,
            e.status
        ))?,
        None => ui.line("No current evolution")?,
    }
    if !s.contracts.is_empty() {
        ui.line("")?;
        ui.line("Contract files not applied (use `gryt generation update VERSION`):")?;
        for c in &s.contracts {
            let (label, style) = match c.state {
                FileState::Modified => ("modified", WARN),
                FileState::Invalid => ("invalid", BAD),
                FileState::Deleted => ("deleted", BAD),
                FileState::Untracked => ("new", WARN),
            };
            let note = if c.promoted {
                "  (promoted: edits will be refused)"
            } else {
                ""
            };
            ui.line(format!(
                "  {}  {}{note}",
                ui.paint(style, format!("{label:<9}")),
                c.path
            ))?;
        }
    }
    ui.line("")?;
    if s.drafts.is_empty() {
        ui.line(format!(
            "No drafts ({} generation{}, {} promoted)",
            s.generations,
            plural(s.generations),
            s.promoted
        ))?;
    } else {
        ui.line(format!(
            "Drafts ({} of {} generation{}):",
            s.drafts.len(),
            s.generations,
            plural(s.generations)
        ))?;
        for d in &s.drafts {
            ui.line(format!(
                "  {:<12} {}/{} changes proven, {} evolution{}",
                d.version.to_string(),
                d.proven,
                d.changes,
                d.evolutions,
                plural(d.evolutions as usize)
            ))?;
        }
    }
    ui.line("")?;
    let mode = serde_json::to_value(s.execution_mode)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    match (&s.cloud_url, &s.cloud_project) {
        (Some(url), Some(project)) => {
            ui.line(format!("Execution mode: {mode}; cloud: {project} at {url}"))
        }
        _ => ui.line(format!("Execution mode: {mode}; no cloud linked")),
    }
}

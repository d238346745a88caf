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
    let mut out: Vec<String> = Vec::new();
    match &s.current_evolution {
        Some(e) => out.push(format!(
            "Current evolution: {} ({}) of {}, {}",
            e.code_name,
            e.tag(),
            e.change_id,
            e.status
        )),
        None => out.push("No current evolution".to_string()),
    }
    if !s.contracts.is_empty() {
        out.push(String::new());
        out.push("Contract files not applied (use `gryt generation update VERSION`):".to_string());
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
            out.push(format!(
                "  {}  {}{note}",
                ui.paint(style, format!("{label:<9}")),
                c.path
            ));
        }
    }
    out.push(String::new());
    if s.drafts.is_empty() {
        out.push(format!(
            "No drafts ({} generation{}, {} promoted)",
            s.generations,
            plural(s.generations),
            s.promoted
        ));
    } else {
        out.push(format!(
            "Drafts ({} of {} generation{}):",
            s.drafts.len(),
            s.generations,
            plural(s.generations)
        ));
        for d in &s.drafts {
            out.push(format!(
                "  {:<12} {}/{} changes proven, {} evolution{}",
                d.version.to_string(),
                d.proven,
                d.changes,
                d.evolutions,
                plural(d.evolutions as usize)
            ));
        }
    }
    out.push(String::new());
    let mode = serde_json::to_value(s.execution_mode)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    match (&s.cloud_url, &s.cloud_project) {
        (Some(url), Some(project)) => {
            out.push(format!("Execution mode: {mode}; cloud: {project} at {url}"))
        }
        _ => out.push(format!("Execution mode: {mode}; no cloud linked")),
    }
    // One write for the whole report, not one per line.
    ui.line(out.join("\n"))
}

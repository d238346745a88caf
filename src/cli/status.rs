use super::error::CommandError;
use super::generation::plural;
use super::ui::{BAD, Ui, WARN};
use super::{workspace, workspace_root};
use crate::ops::status::{self as ops, FileState, Listing};
use crate::store::{GenerationState, GenerationSummary};
use crate::workspace::Workspace;

/// Show the state of the workspace, like `git status`
///
/// Contract files edited but not applied, the current evolution, drafts and their proof (with
/// who each change is assigned to), and the sync configuration.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Only the changes of drafts assigned to you that no passing evolution proves yet. You are
    /// the cloud account this workspace's linked server is logged in as (gryt cloud login)
    #[arg(long)]
    pub mine: bool,
}

pub fn cmd_status(ui: &Ui, args: StatusArgs) -> Result<(), CommandError> {
    if args.mine {
        return cmd_mine(ui, &workspace()?);
    }
    // The contract files are listed while the workspace opens.
    let root = workspace_root()?;
    let listing = Listing::start(&root);
    let ws = Workspace::open(root)?;
    if ui.json {
        return ui.json(&ops::status::<GenerationSummary>(&ws, listing)?);
    }
    let s = ops::status::<GenerationState>(&ws, listing)?;
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
        // One block for a thousand drafts, without a string per line.
        use std::fmt::Write;
        let mut block = String::with_capacity(s.drafts.len() * 56);
        for d in &s.drafts {
            if !block.is_empty() {
                block.push('\n');
            }
            let start = block.len();
            let _ = write!(block, "  {}", d.version);
            let padded = start + 2 + 12;
            while block.len() < padded {
                block.push(' ');
            }
            let _ = write!(
                block,
                " {}/{} changes proven, {} evolution{}{}",
                d.proven,
                d.changes,
                d.evolutions,
                plural(d.evolutions as usize),
                assignees(&s.assigned, &d.version)
            );
        }
        out.push(block);
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

/// `, assigned: ann 2 (1 open), bob 1` for a draft with assigned changes; empty otherwise.
fn assignees(
    assigned: &[crate::store::AssignedChange],
    version: &crate::domain::Version,
) -> String {
    let mut by: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for c in assigned.iter().filter(|c| &c.version == version) {
        let e = by.entry(c.assignee.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(!c.proven);
    }
    if by.is_empty() {
        return String::new();
    }
    let list: Vec<String> = by
        .into_iter()
        .map(|(who, (n, open))| match open {
            0 => format!("{who} {n}"),
            _ => format!("{who} {n} ({open} open)"),
        })
        .collect();
    format!(", assigned: {}", list.join(", "))
}

/// `gryt status --mine`: who "you" are is the account the linked server is logged in as.
fn cmd_mine(ui: &Ui, ws: &crate::workspace::Workspace) -> Result<(), CommandError> {
    let remote = crate::sync::remote::connect(ws, crate::sync::client::ClientOptions::from_env())
        .map_err(|e| {
        CommandError::from(e)
            .hint("--mine lists the changes assigned to the cloud account you are logged in as")
    })?;
    let account = match remote.account.is_empty() {
        true => remote.client.whoami()?.username,
        false => remote.account.clone(),
    };
    let mine = ops::mine(ws, &account)?;
    if ui.json {
        return ui.json(&serde_json::json!({ "account": account, "changes": mine }));
    }
    if mine.is_empty() {
        ui.status(format!(
            "Nothing assigned to {account} is waiting for a proof"
        ));
        return Ok(());
    }
    let mut t = super::ui::table(&["version", "change", "title"]);
    for c in &mine {
        t.add_row(vec![
            c.version.to_string(),
            c.change_id.clone(),
            c.title.clone(),
        ]);
    }
    ui.line(super::ui::render(&t))?;
    ui.status(format!(
        "{} change{} assigned to {account} without a passing evolution (gryt evolution start VERSION --change CHANGE)",
        mine.len(),
        plural(mine.len())
    ));
    Ok(())
}

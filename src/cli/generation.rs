use clap::Subcommand;

use super::error::CommandError;
use super::ui::{self, Ui};
use super::{promote, version_arg, workspace};
use crate::domain::Version;
use crate::ops::generation::{self as ops, NewOptions, Target};

// The `gryt generation` group. Its help text is the doc comment of `cli::Command::Generation` (a doc
// comment here would replace it once clap builds the deferred group).
#[derive(Debug, Subcommand)]
pub enum GenerationCommand {
    New(NewArgs),
    Update(UpdateArgs),
    List(ListArgs),
    Show(ShowArgs),
    Rename(RenameArgs),
    Delete(DeleteArgs),
    Promote(promote::PromoteArgs),
}

/// Create a draft generation and its contract file .gryt/generations/vX.Y.Z.yaml
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The version, X.Y.Z or vX.Y.Z
    #[arg(value_parser = version_arg)]
    pub version: Version,
    /// What this release is about
    #[arg(short, long)]
    pub description: Option<String>,
    /// Pipeline that proves its changes (.gryt/pipelines/NAME.yaml)
    #[arg(short, long, value_name = "NAME", value_parser = super::pipeline_arg)]
    pub pipeline: Option<String>,
}

/// Apply edited contract files to the database
///
/// Validates every file first and reports every problem with its line; then applies all of
/// them in one transaction. A change that has evolutions cannot be removed, and promoted
/// generations cannot change.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The version to update
    #[arg(value_parser = version_arg, required_unless_present = "all", conflicts_with = "all")]
    pub version: Option<Version>,
    /// Update every contract file in .gryt/generations/ (and import new ones)
    #[arg(long)]
    pub all: bool,
}

/// List generations, newest version first
#[derive(Debug, clap::Args)]
pub struct ListArgs {}

/// Show a generation: its changes and the proof of each
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[arg(value_parser = version_arg)]
    pub version: Version,
}

/// Rename a draft that was never synced (its rc tags follow)
#[derive(Debug, clap::Args)]
pub struct RenameArgs {
    #[arg(value_parser = version_arg)]
    pub old: Version,
    #[arg(value_parser = version_arg)]
    pub new: Version,
}

/// Delete a draft that was never synced, with its evolutions and contract file
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    #[arg(value_parser = version_arg)]
    pub version: Version,
    /// Delete even if the contract file has edits that were never applied
    #[arg(long)]
    pub force: bool,
    /// Only the local copy (the only kind gryt deletes today); a same-version conflict it
    /// held is resolved and the cloud's generation comes in on the next pull
    #[arg(long)]
    pub local_only: bool,
}

pub fn run(ui: &Ui, cmd: GenerationCommand) -> Result<(), CommandError> {
    match cmd {
        GenerationCommand::New(args) => cmd_new(ui, args),
        GenerationCommand::Update(args) => cmd_update(ui, args),
        GenerationCommand::List(_) => cmd_list(ui),
        GenerationCommand::Show(args) => cmd_show(ui, &args.version),
        GenerationCommand::Rename(args) => cmd_rename(ui, args),
        GenerationCommand::Delete(args) => cmd_delete(ui, args),
        GenerationCommand::Promote(args) => promote::cmd_promote(ui, args),
    }
}

fn cmd_new(ui: &Ui, args: NewArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let opts = NewOptions {
        version: args.version,
        description: args.description,
        pipeline: args.pipeline,
    };
    let g = ops::create(&ws, &ops::placeholder(&opts))?;
    if ui.json {
        return ui.json(&ops::show(&ws, g.version())?);
    }
    let path = ws.display_path(&ws.contract_path(g.version()));
    ui.line(format!(
        "Created generation {} (draft) in {path}",
        g.version()
    ))?;
    ui.status(format!(
        "Edit its changes, then run `gryt generation update {}`",
        g.version()
    ));
    Ok(())
}

fn cmd_update(ui: &Ui, args: UpdateArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let target = match args.version {
        Some(v) => Target::One(v),
        None => Target::All,
    };
    let report = ops::update(&ws, target)?;
    if ui.json {
        return ui.json(&report);
    }
    for v in &report.created {
        ui.line(format!("Imported {v}"))?;
    }
    for d in &report.updated {
        let mut parts = Vec::new();
        for (label, ids) in [
            ("added", &d.added),
            ("removed", &d.removed),
            ("modified", &d.modified),
        ] {
            if !ids.is_empty() {
                parts.push(format!("{label} {}", ids.join(", ")));
            }
        }
        if parts.is_empty() {
            parts.push("details changed".to_string());
        }
        ui.line(format!("Updated {}: {}", d.version, parts.join("; ")))?;
    }
    for v in &report.unchanged {
        ui.line(format!("{v} is up to date"))?;
    }
    if report.created.is_empty() && report.updated.is_empty() && report.unchanged.is_empty() {
        ui.status("No contract files in .gryt/generations/");
    }
    Ok(())
}

fn cmd_list(ui: &Ui) -> Result<(), CommandError> {
    let ws = workspace()?;
    let list = ops::list(&ws)?;
    if ui.json {
        return ui.json(&list);
    }
    if list.is_empty() {
        ui.status("No generations yet; create one with `gryt generation new VERSION`");
        return Ok(());
    }
    let mut t = ui::table(&[
        "version",
        "status",
        "sync",
        "changes",
        "proven",
        "evolutions",
        "created",
    ]);
    for g in &list {
        t.add_row(vec![
            g.version.to_string(),
            g.status.to_string(),
            g.sync_status.to_string(),
            g.changes.to_string(),
            format!("{}/{}", g.proven, g.changes),
            g.evolutions.to_string(),
            format!("{} by {}", g.created_at, g.created_by),
        ]);
    }
    ui.line(ui::render(&t))
}

pub fn cmd_show(ui: &Ui, version: &Version) -> Result<(), CommandError> {
    let ws = workspace()?;
    let d = ops::show(&ws, version)?;
    if ui.json {
        return ui.json(&d);
    }
    ui.line(format!(
        "Generation {} ({}, {})",
        d.version,
        d.status,
        d.sync_status.as_str().replace('_', " ")
    ))?;
    if !d.description.is_empty() {
        ui.line(format!("Description: {}", d.description))?;
    }
    ui.line(format!("Created:     {} by {}", d.created_at, d.created_by))?;
    if let (Some(at), Some(by)) = (&d.promoted_at, &d.promoted_by) {
        ui.line(format!("Promoted:    {at} by {by}"))?;
    }
    if let Some(p) = &d.pipeline_template {
        ui.line(format!("Pipeline:    {p}"))?;
    }
    ui.line("")?;
    // The assignee column only when someone is assigned.
    let assigned = d.changes.iter().any(|c| c.assignee.is_some());
    let mut t = match assigned {
        true => ui::table(&["id", "type", "title", "assignee", "proven", "evolutions"]),
        false => ui::table(&["id", "type", "title", "proven", "evolutions"]),
    };
    for c in &d.changes {
        let evs = if c.evolutions.is_empty() {
            "none".to_string()
        } else {
            c.evolutions
                .iter()
                .map(|e| format!("{} {} ({}, {})", e.tag, e.status, e.owner, e.code_name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut row = vec![c.id.clone(), c.kind.to_string(), c.title.clone()];
        if assigned {
            row.push(c.assignee.clone().unwrap_or_else(|| "-".to_string()));
        }
        row.extend([if c.proven { "yes" } else { "no" }.to_string(), evs]);
        t.add_row(row);
    }
    ui.line(ui::render(&t))?;
    let refused = d
        .sync_error
        .iter()
        .map(|e| (d.version.to_string(), e))
        .chain(
            d.changes
                .iter()
                .flat_map(|c| &c.evolutions)
                .filter_map(|e| Some((e.tag.clone(), e.sync_error.as_ref()?))),
        );
    for (subject, error) in refused {
        ui.line(format!(
            "Refused by the cloud: {subject}: {error} (gryt sync conflicts)"
        ))?;
    }
    Ok(())
}

fn cmd_rename(ui: &Ui, args: RenameArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let g = ops::rename(&ws, &args.old, &args.new)?;
    if ui.json {
        return ui.json(&serde_json::json!({ "from": args.old, "to": g.version() }));
    }
    ui.line(format!("Renamed {} to {}", args.old, g.version()))
}

fn cmd_delete(ui: &Ui, args: DeleteArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let d = ops::delete(&ws, &args.version, args.force)?;
    if ui.json {
        return ui.json(&d);
    }
    ui.line(format!(
        "Deleted {} ({} change{}, {} evolution{})",
        d.version,
        d.changes,
        plural(d.changes),
        d.evolutions,
        plural(d.evolutions)
    ))
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

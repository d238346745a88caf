//! `gryt sync diff`: what a pull and a push would change, record by record and field by
//! field. Reads only; nothing here or in the cloud changes.

use super::super::error::{CommandError, ExitKind};
use super::super::ui::{self, Ui};
use super::super::{version_arg, workspace};
use crate::domain::Version;
use crate::sync::engine::{self, Action, DiffOptions, DiffReport, Entry, FieldChange};

/// Show what a pull and a push would change, field by field (changes nothing)
///
/// The pull side is planned exactly as `gryt sync pull` would plan it and compares each
/// incoming record with the local one (local → cloud). The push side compares each record a
/// push would send with what the cloud held when it was last in sync here (cloud → local).
/// With --offline only the push side is shown and no request is made.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// Only this generation, its evolutions and their runs
    #[arg(value_parser = version_arg)]
    pub version: Option<Version>,
    /// summary: one line per record with the fields that differ; detailed: each field's old
    /// and new value; json: for scripts (also `--json`)
    #[arg(long, value_enum, default_value_t = Format::Summary)]
    pub format: Format,
    /// Do not contact the cloud: only what a push would send
    #[arg(long)]
    pub offline: bool,
    /// Write what a pull would change as a patch to FILE (a new file), to review and apply
    /// later with `gryt patch apply FILE` (format: docs/SYNC.md)
    #[arg(long, value_name = "FILE", conflicts_with = "offline")]
    pub output: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Summary,
    Detailed,
    Json,
}

pub fn cmd_diff(ui: &Ui, args: DiffArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let opts = DiffOptions {
        version: args.version.clone(),
        page_limit: super::page_limit(),
    };
    if let Some(out) = &args.output {
        return write_patch(ui, &ws, &opts, out);
    }
    let (report, project) = if args.offline {
        let project = ws.config.get("cloud.project").map(str::to_string);
        (engine::diff(&ws, None, &opts)?, project)
    } else {
        let (remote, account) = super::connect(&ws).map_err(offline_hint)?;
        let cloud = remote.cloud(&account);
        let report = engine::diff(&ws, Some(&cloud), &opts)
            .map_err(|e| offline_hint(CommandError::from(e)))?;
        (report, Some(cloud.project.to_string()))
    };
    if let Some(v) = &args.version
        && report.pull.is_empty()
        && report.push.is_empty()
        && crate::ops::generation::get(&ws, v).is_err()
    {
        return Err(CommandError::user(format!(
            "no generation {v} here{}",
            if report.offline {
                ""
            } else {
                " or among the cloud's changes since your last pull"
            }
        ))
        .hint("see the generations with `gryt generation list`"));
    }
    if ui.json || args.format == Format::Json {
        return ui.json(&report);
    }
    print(
        ui,
        &report,
        project.as_deref(),
        args.format == Format::Detailed,
    )?;
    super::not_pushed(ui, &report.not_pushed);
    Ok(())
}

/// A diff that cannot reach the cloud can still show the push side.
fn offline_hint(e: CommandError) -> CommandError {
    if e.kind == ExitKind::Unreachable {
        e.hint("`gryt sync diff --offline` shows what a push would send without asking the cloud")
    } else {
        e
    }
}

fn print(
    ui: &Ui,
    r: &DiffReport,
    project: Option<&str>,
    detailed: bool,
) -> Result<(), CommandError> {
    let project = project.unwrap_or("the cloud");
    if r.pull.is_empty() && r.push.is_empty() {
        match r.head {
            Some(head) => ui.line(format!(
                "Nothing to pull or push: up to date with {project} (head {head})"
            ))?,
            None => ui.line("Nothing to push")?,
        }
        return Ok(());
    }
    if let Some(head) = r.head {
        if r.pull.is_empty() {
            ui.line(format!("Nothing to pull from {project} (head {head})"))?;
        } else {
            ui.line(format!(
                "Pull from {project} (head {head}){}:",
                if detailed { ", here -> cloud" } else { "" }
            ))?;
            section(ui, &r.pull, detailed)?;
        }
    }
    if r.push.is_empty() {
        ui.line("Nothing to push")?;
    } else {
        ui.line(format!(
            "Push to {project}{}:",
            if detailed { ", cloud -> here" } else { "" }
        ))?;
        section(ui, &r.push, detailed)?;
    }
    if r.offline {
        ui.status("Offline: the cloud was not asked, so what a pull would bring is not shown");
    }
    Ok(())
}

fn section(ui: &Ui, entries: &[Entry], detailed: bool) -> Result<(), CommandError> {
    let what = |e: &Entry| match &e.reason {
        Some(reason) => format!("{} ({})", e.action.as_str(), reason.label()),
        None => e.action.as_str().to_string(),
    };
    // One column for the records, after the longest action (`conflict (version taken)`).
    let width = entries
        .iter()
        .map(|e| what(e).len())
        .max()
        .unwrap_or(0)
        .max(23);
    for e in entries {
        let what = what(e);
        // `run of v1.2.0-rc.3` reads as `run v1.2.0-rc.3` next to `evolution v1.2.0-rc.3`.
        let (kind, subject) = match e.subject.strip_prefix("run of ") {
            Some(rest) => ("run", rest),
            None => (e.kind.as_str(), e.subject.as_str()),
        };
        let head = format!("  {what:<width$} {kind} {subject}");
        if detailed {
            ui.line(ui.paint(action_style(e.action), head))?;
            if e.base_unknown {
                ui.line("      (what the cloud holds is not known here: edited before this workspace kept synced values)")?;
            }
            for f in &e.fields {
                ui.line(format!("      {}", field_line(f)))?;
            }
        } else if e.fields.is_empty() || e.action == Action::New {
            ui.line(head)?;
        } else {
            let names: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
            ui.line(format!("{head}: {}", names.join(", ")))?;
        }
    }
    Ok(())
}

fn action_style(a: Action) -> anstyle::Style {
    match a {
        Action::New => ui::GOOD,
        Action::Deleted | Action::Conflict => ui::BAD,
        Action::Updated | Action::Renumbered => ui::WARN,
    }
}

/// `description: "old" -> "new"`; an absent side shows as `(none)`.
pub fn field_line(f: &FieldChange) -> String {
    let show = |v: &Option<serde_json::Value>| match v {
        None => "(none)".to_string(),
        Some(v) => v.to_string(),
    };
    format!("{}: {} -> {}", f.field, show(&f.from), show(&f.to))
}

/// `gryt sync diff --output FILE`: the pull side as a patch.
fn write_patch(
    ui: &Ui,
    ws: &crate::workspace::Workspace,
    opts: &DiffOptions,
    out: &std::path::Path,
) -> Result<(), CommandError> {
    use crate::sync::engine::patch;
    if crate::workspace::file::occupied(out) {
        return Err(CommandError::user(format!(
            "{} already exists; name another file or remove it first",
            out.display()
        )));
    }
    let (remote, account) = super::connect(ws).map_err(offline_hint)?;
    let cloud = remote.cloud(&account);
    let (hunks, conflicts, head) =
        engine::pull_hunks(ws, &cloud, opts).map_err(|e| offline_hint(CommandError::from(e)))?;
    let mut about = vec![
        "What `gryt sync pull` would change in this workspace.".to_string(),
        format!(
            "From {}#{} at head {head}, made by gryt {} at {}.",
            remote.url,
            cloud.project,
            env!("CARGO_PKG_VERSION"),
            crate::clock::now_string()
        ),
        "Apply: gryt patch apply FILE. Undo: gryt patch apply --reverse FILE.".to_string(),
    ];
    for c in &conflicts {
        about.push(format!(
            "Not in this patch: {} {} (a pull records a conflict: {}).",
            c.kind.as_str(),
            c.subject,
            c.reason.map_or("conflict".to_string(), |r| r.label())
        ));
    }
    let text = patch::render(&about, &hunks);
    crate::workspace::write_atomic(out, text.as_bytes())
        .map_err(|e| CommandError::user(e.to_string()))?;
    if ui.json {
        return ui.json(&serde_json::json!({
            "file": out,
            "hunks": hunks.len(),
            "conflicts": conflicts.len(),
        }));
    }
    ui.line(format!(
        "Wrote {} change(s) a pull would make to {}",
        hunks.len(),
        out.display()
    ))?;
    if !conflicts.is_empty() {
        ui.status(format!(
            "{} record(s) a pull would record as conflicts are not in the patch",
            conflicts.len()
        ));
    }
    ui.status(format!(
        "Review it, then apply it with `gryt patch apply {}`",
        out.display()
    ));
    Ok(())
}

use clap::Subcommand;

use super::error::CommandError;
use super::ui::{self, Ui};
use super::{change_id_arg, pipeline_arg, run as run_cmd, version_arg, workspace};
use crate::domain::Version;
use crate::ops::evolution as ops;

// The `gryt evolution` group. Its help text is the doc comment of `cli::Command::Evolution` (a doc
// comment here would replace it once clap builds the deferred group).
#[derive(Debug, Subcommand)]
pub enum EvolutionCommand {
    Start(StartArgs),
    List(ListArgs),
    Show(ShowArgs),
    Prove(ProveArgs),
}

/// Start an evolution of a change; it becomes the current evolution that `gryt run` decides
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    #[arg(value_parser = version_arg)]
    pub version: Version,
    /// The change to prove, e.g. FEAT-001
    #[arg(long, short, value_parser = change_id_arg)]
    pub change: crate::domain::ChangeId,
}

/// List a generation's evolutions
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(value_parser = version_arg)]
    pub version: Version,
}

/// Show an evolution by code name or rc tag, with the steps of the run that decided it
/// (-v adds what each step printed)
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Code name (brave-quiet-otter) or rc tag (v1.2.0-rc.3)
    pub name: String,
}

/// Run a pipeline to decide a named pending evolution
#[derive(Debug, clap::Args)]
pub struct ProveArgs {
    /// Code name or rc tag
    pub name: String,
    /// Pipeline to run (default: the change's, then the generation's template)
    #[arg(long, value_name = "NAME", value_parser = pipeline_arg)]
    pub pipeline: Option<String>,
}

pub fn run(ui: &Ui, cmd: EvolutionCommand) -> Result<(), CommandError> {
    match cmd {
        EvolutionCommand::Start(args) => cmd_start(ui, args),
        EvolutionCommand::List(args) => cmd_list(ui, &args.version),
        EvolutionCommand::Show(args) => cmd_show(ui, &args.name),
        EvolutionCommand::Prove(args) => run_cmd::execute(ui, args.pipeline, Some(args.name)),
    }
}

fn cmd_start(ui: &Ui, args: StartArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let e = ops::start(&ws, &args.version, args.change.as_str())?;
    if ui.json {
        #[derive(serde::Serialize)]
        struct Started<'a> {
            code_name: &'a str,
            tag: &'a str,
            status: crate::domain::EvolutionStatus,
        }
        return ui.json(&Started {
            code_name: &e.code_name,
            tag: &e.tag,
            status: e.status,
        });
    }
    ui.line(format!(
        "Started evolution {} ({}) of {} in {}",
        e.code_name,
        e.tag(),
        e.change_id,
        e.version
    ))?;
    ui.status("It is the current evolution: `gryt run` decides it");
    Ok(())
}

fn cmd_list(ui: &Ui, version: &Version) -> Result<(), CommandError> {
    let ws = workspace()?;
    let list = ops::list(&ws, version)?;
    if ui.json {
        return ui.json(&list);
    }
    if list.is_empty() {
        ui.status(format!("No evolutions of {version} yet; start one with `gryt evolution start {version} --change ID`"));
        return Ok(());
    }
    let mut t = ui::table(&["tag", "code name", "change", "status", "owner", "started"]);
    for e in &list {
        let status = match &e.note {
            Some(note) => format!("{} ({note})", e.status),
            None => e.status.to_string(),
        };
        t.add_row(vec![
            e.tag().to_string(),
            e.code_name.clone(),
            e.change_id.clone(),
            status,
            e.owner.clone(),
            e.started_at.clone(),
        ]);
    }
    ui.line(ui::render(&t))
}

fn cmd_show(ui: &Ui, name: &str) -> Result<(), CommandError> {
    let ws = workspace()?;
    let d = ops::show(&ws, name)?;
    if ui.json {
        return ui.json(&d);
    }
    let e = &d.evolution;
    let current = if d.current { " (current)" } else { "" };
    ui.line(format!("Evolution {} ({}){current}", e.code_name, e.tag))?;
    ui.line(format!("Change:    {} of {}", e.change_id, e.version))?;
    let note = e
        .note
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    ui.line(format!("Status:    {}{note}", ui.paint_status(e.status)))?;
    ui.line(format!("Owner:     {}", e.owner))?;
    ui.line(format!("Started:   {}", e.started_at))?;
    if let Some(done) = &e.completed_at {
        ui.line(format!("Completed: {done}"))?;
    }
    if !d.steps.is_empty() {
        ui.line("")?;
        let mut t = ui::table(&["step", "exit", "attempts", "duration", "command"]);
        for s in &d.steps {
            let exit = match (s.exit_code, s.timed_out) {
                (_, true) => "timeout".to_string(),
                (Some(c), _) => c.to_string(),
                (None, _) => "killed".to_string(),
            };
            t.add_row(vec![
                s.name.clone(),
                exit,
                s.attempts.to_string(),
                format!("{}ms", s.duration_ms),
                s.command.clone(),
            ]);
        }
        ui.line(ui::render(&t))?;
        // -v: the recorded output of each step (the tail gryt keeps).
        if ui.verbose > 0 {
            for step in &d.steps {
                for (stream, text) in [("stdout", &step.stdout), ("stderr", &step.stderr)] {
                    if !text.is_empty() {
                        ui.line(format!("\n--- {stream} of {}", step.name))?;
                        ui.line(text.trim_end())?;
                    }
                }
            }
        } else {
            ui.status("Add -v to see what each step printed");
        }
    }
    Ok(())
}

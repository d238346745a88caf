use clap::Subcommand;

use super::error::CommandError;
use super::ui::{self, Ui};
use super::{pipeline_arg, workspace};
use crate::ops::pipelines as ops;

// The `gryt pipeline` group. Its help text is the doc comment of `cli::Command::Pipeline` (a doc
// comment here would replace it once clap builds the deferred group).
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    New(NewArgs),
    List(ListArgs),
    Runs(RunsArgs),
}

/// Create .gryt/pipelines/NAME.yaml from a template
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    #[arg(value_parser = pipeline_arg)]
    pub name: String,
}

/// List pipelines and whether each file is valid
#[derive(Debug, clap::Args)]
pub struct ListArgs {}

/// List recorded pipeline runs, newest first
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// How many runs to show
    #[arg(short = 'n', long, default_value_t = 50)]
    pub limit: usize,
}

pub fn run(ui: &Ui, cmd: PipelineCommand) -> Result<(), CommandError> {
    let ws = workspace()?;
    match cmd {
        PipelineCommand::New(args) => {
            let path = ops::create(&ws, &args.name)?;
            if ui.json {
                return ui.json(
                    &serde_json::json!({ "name": args.name, "path": ws.display_path(&path) }),
                );
            }
            ui.line(format!(
                "Created pipeline {} in {}",
                args.name,
                ws.display_path(&path)
            ))?;
            ui.status("Replace its placeholder steps with your real build and tests");
            Ok(())
        }
        PipelineCommand::List(_) => {
            let list = ops::list(&ws)?;
            if ui.json {
                return ui.json(&list);
            }
            if list.is_empty() {
                ui.status("No pipelines yet; create one with `gryt pipeline new NAME`");
                return Ok(());
            }
            let mut t = ui::table(&["name", "steps"]);
            for p in &list {
                let steps = match (&p.steps, &p.error) {
                    (Some(n), _) => n.to_string(),
                    (None, Some(e)) => format!("invalid: {}", e.lines().next().unwrap_or("")),
                    (None, None) => String::new(),
                };
                t.add_row(vec![p.name.clone(), steps]);
            }
            ui.line(ui::render(&t))
        }
        PipelineCommand::Runs(args) => {
            let runs = ops::runs(&ws, args.limit)?;
            if ui.json {
                return ui.json(&runs);
            }
            if runs.is_empty() {
                ui.status("No pipeline runs yet");
                return Ok(());
            }
            let mut t = ui::table(&[
                "started",
                "pipeline",
                "status",
                "evolution",
                "duration",
                "by",
            ]);
            for r in &runs {
                let status = match &r.note {
                    Some(n) => format!("{} ({n})", r.status),
                    None => r.status.clone(),
                };
                t.add_row(vec![
                    r.started_at.clone(),
                    r.pipeline.clone(),
                    status,
                    r.evolution.clone().unwrap_or_else(|| "-".into()),
                    r.duration_ms
                        .map(|d| format!("{:.1}s", d as f64 / 1000.0))
                        .unwrap_or_else(|| "-".into()),
                    r.started_by.clone(),
                ]);
            }
            ui.line(ui::render(&t))
        }
    }
}

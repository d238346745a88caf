use super::error::CommandError;
use super::ui::{BAD, BOLD, GOOD, Ui};
use super::{pipeline_arg, workspace};
use crate::ops::run::{self as ops, RunOptions};
use crate::pipeline::runner::Event;

/// Run a pipeline; with a current evolution, decide it (pass only if every step exits 0)
///
/// NAME defaults to the current evolution's change pipeline, then its generation's
/// pipeline_template. Steps run in order from the repository root and stop at the first
/// failure. Exits 1 when the pipeline failed.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Pipeline to run (.gryt/pipelines/NAME.yaml)
    #[arg(value_parser = pipeline_arg)]
    pub name: Option<String>,
}

pub fn cmd_run(ui: &Ui, args: RunArgs) -> Result<(), CommandError> {
    execute(ui, args.name, None)
}

/// Shared by `gryt run` and `gryt evolution prove`.
pub fn execute(
    ui: &Ui,
    pipeline: Option<String>,
    evolution: Option<String>,
) -> Result<(), CommandError> {
    let ws = workspace()?;
    // Ctrl-C stops the running step; the run is then recorded as failed (interrupted).
    let interrupted = super::interrupt::cooperate();
    let opts = RunOptions {
        pipeline,
        evolution,
        stream: !ui.json,
        interrupted,
    };
    let mut on_event = |ev: Event<'_>| match ev {
        Event::StepStarted {
            index,
            total,
            step,
            attempt,
        } => {
            let retry = if attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            ui.status(ui.err_style(
                BOLD,
                format!(
                    "==> [{}/{total}] {}{retry}: {}",
                    index + 1,
                    step.name,
                    step.run
                ),
            ));
        }
        Event::StepFinished { record, passed, .. } => {
            let secs = record.duration_ms as f64 / 1000.0;
            if passed {
                ui.status(format!(
                    "{} {} ({secs:.1}s)",
                    ui.err_style(GOOD, "ok"),
                    record.name
                ));
            } else {
                let why = match (record.exit_code, record.timed_out) {
                    (_, true) => "timed out".to_string(),
                    (Some(c), _) => format!("exit code {c}"),
                    (None, _) => "killed".to_string(),
                };
                ui.status(format!(
                    "{} {} ({why}, {secs:.1}s)",
                    ui.err_style(BAD, "FAILED"),
                    record.name
                ));
            }
        }
    };
    let report = ops::run(&ws, &opts, &mut on_event)?;
    if ui.json {
        ui.json(&report)?;
    } else {
        let verdict = if report.passed {
            ui.paint(GOOD, "passed")
        } else {
            ui.paint(BAD, "failed")
        };
        let interrupted = if report.interrupted {
            " (interrupted)"
        } else {
            ""
        };
        ui.line(format!(
            "Pipeline {} {verdict}{interrupted} in {:.1}s",
            report.pipeline,
            report.duration_ms as f64 / 1000.0
        ))?;
        match &report.evolution {
            Some(e) => ui.line(format!("Evolution {} ({}) of {}: {}", e.code_name, e.tag, e.change_id, ui.paint_status(e.status)))?,
            None => ui.status("No current evolution: this run proves nothing (start one with `gryt evolution start`)"),
        }
    }
    if report.passed {
        Ok(())
    } else if report.interrupted {
        Err(CommandError::user(format!(
            "pipeline {} was interrupted",
            report.pipeline
        )))
    } else {
        Err(CommandError::user(format!(
            "pipeline {} failed",
            report.pipeline
        )))
    }
}

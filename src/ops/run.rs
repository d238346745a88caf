//! Running a pipeline, and with it deciding an evolution: `pass` only when every step exited
//! 0, else `fail`. The evolution is marked `running` (with our pid) before the first step and
//! decided in one transaction with the run's record afterwards; if this process dies in
//! between, the next command marks it failed ("interrupted").

use std::sync::atomic::AtomicBool;

use serde_json::json;

use super::generation::{CURRENT_EVOLUTION, get};
use super::{OpError, Result, evolution, pipelines};
use crate::clock;
use crate::domain::{EvolutionStatus, GenerationStatus};
use crate::pipeline::runner::{self, Event};
use crate::store::{Evolution, NewRun, StepRecord};
use crate::workspace::Workspace;

pub struct RunOptions<'a> {
    /// Pipeline to run; default: the change's pipeline, then the generation's template.
    pub pipeline: Option<String>,
    /// Evolution to decide; default: the current evolution (if any, and still pending).
    pub evolution: Option<String>,
    pub stream: bool,
    pub interrupted: &'a AtomicBool,
}

#[derive(Debug, serde::Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub pipeline: String,
    pub passed: bool,
    pub interrupted: bool,
    pub steps: Vec<StepRecord>,
    pub evolution: Option<DecidedEvolution>,
    pub duration_ms: i64,
}

#[derive(Debug, serde::Serialize)]
pub struct DecidedEvolution {
    pub code_name: String,
    pub tag: String,
    pub change_id: String,
    pub status: EvolutionStatus,
}

pub fn run(
    ws: &Workspace,
    opts: &RunOptions<'_>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<RunReport> {
    let target = match &opts.evolution {
        Some(name) => Some(evolution::find(ws, name)?),
        None => evolution::current(ws)?.filter(|e| e.status == EvolutionStatus::Pending),
    };
    if let Some(e) = &target {
        check_can_decide(ws, e)?;
    }
    let name = match (&opts.pipeline, &target) {
        (Some(name), _) => name.clone(),
        (None, Some(e)) => default_pipeline(ws, e)?,
        (None, None) => {
            return Err(OpError::NoPipeline {
                available: pipelines::names(ws)?,
            });
        }
    };
    let pipeline = pipelines::load(ws, &name)?;

    let now = clock::now_string();
    let run_id = clock::new_id();
    let pid = std::process::id();
    ws.store.tx(|s| -> Result<()> {
        s.insert_run(&NewRun {
            id: &run_id,
            pipeline: &name,
            evolution_id: target.as_ref().map(|e| e.id.as_str()),
            started_by: ws.user(),
            now: &now,
            pid,
        })?;
        match &target {
            Some(e) if !s.start_running(&e.id, &run_id, pid)? => Err(OpError::EvolutionRunning {
                code_name: e.code_name.clone(),
                tag: e.tag().to_string(),
            }),
            _ => Ok(()),
        }
    })?;

    let mut env = vec![
        ("GRYT_ROOT".to_string(), ws.root.display().to_string()),
        ("GRYT_PIPELINE".to_string(), name.clone()),
    ];
    if let Some(e) = &target {
        env.extend([
            ("GRYT_VERSION".to_string(), e.version.to_string()),
            ("GRYT_CHANGE".to_string(), e.change_id.clone()),
            ("GRYT_EVOLUTION".to_string(), e.code_name.clone()),
            ("GRYT_RC_TAG".to_string(), e.tag().to_string()),
        ]);
    }
    let started = std::time::Instant::now();
    let outcome = runner::run(
        &pipeline,
        &runner::Options {
            root: &ws.root,
            env,
            stream: opts.stream,
            interrupted: opts.interrupted,
        },
        on_event,
    );
    let duration_ms = started.elapsed().as_millis() as i64;

    let status = if outcome.passed {
        EvolutionStatus::Pass
    } else {
        EvolutionStatus::Fail
    };
    let note = outcome.interrupted.then_some("interrupted");
    let done = clock::now_string();
    ws.store.tx(|s| -> Result<()> {
        for (i, step) in outcome.steps.iter().enumerate() {
            s.insert_step(&run_id, i, step)?;
        }
        s.finish_run(&run_id, status.as_str(), note, &done, duration_ms)?;
        if let Some(e) = &target {
            s.decide_evolution(&e.id, status, note, &done)?;
            s.audit(
                &done,
                ws.user(),
                "evolution.decided",
                &e.tag().to_string(),
                json!({"status": status, "code_name": e.code_name, "pipeline": name, "note": note}),
            )?;
            if s.local_state(CURRENT_EVOLUTION)?.as_deref() == Some(e.id.as_str()) {
                s.set_local_state(CURRENT_EVOLUTION, None)?;
            }
        }
        Ok(())
    })?;
    Ok(RunReport {
        run_id,
        pipeline: name,
        passed: outcome.passed,
        interrupted: outcome.interrupted,
        steps: outcome.steps,
        evolution: target.map(|e| DecidedEvolution {
            code_name: e.code_name.clone(),
            tag: e.tag().to_string(),
            change_id: e.change_id.clone(),
            status,
        }),
        duration_ms,
    })
}

fn check_can_decide(ws: &Workspace, e: &Evolution) -> Result<()> {
    if e.owner != ws.user() {
        return Err(OpError::NotOwner {
            code_name: e.code_name.clone(),
            owner: e.owner.clone(),
        });
    }
    match e.status {
        EvolutionStatus::Pending => {}
        EvolutionStatus::Running => {
            return Err(OpError::EvolutionRunning {
                code_name: e.code_name.clone(),
                tag: e.tag().to_string(),
            });
        }
        done => {
            return Err(OpError::AlreadyDecided {
                code_name: e.code_name.clone(),
                tag: e.tag().to_string(),
                status: done.as_str(),
            });
        }
    }
    let g = get(ws, &e.version)?;
    if g.status == GenerationStatus::Promoted {
        return Err(OpError::Promoted {
            version: e.version.clone(),
            action: "given new evolution results",
        });
    }
    super::generation::ensure_no_promotion_in_flight(ws, &g, "given new evolution results")
}

fn default_pipeline(ws: &Workspace, e: &Evolution) -> Result<String> {
    let g = get(ws, &e.version)?;
    let from_change = g
        .contract
        .change(&e.change_id)
        .and_then(|c| c.pipeline.clone());
    match from_change.or(g.contract.pipeline_template) {
        Some(name) => Ok(name),
        None => Err(OpError::NoPipeline {
            available: pipelines::names(ws)?,
        }),
    }
}

//! `gryt promote` and `gryt hotfix`: local promotion, or through the cloud when the repository
//! is linked and not in local mode.

use super::error::{CommandError, promote_error};
use super::ui::{BAD, GOOD, Ui};
use super::{sync, version_arg, workspace};
use crate::domain::Version;
use crate::domain::gates::GateResult;
use crate::ops::OpError;
use crate::ops::promote::{self as ops, HotfixOptions, PromoteOptions};
use crate::sync::engine::promote::{self as engine, PromoteError};

/// Promote a fully proven generation: run the gates, mark it promoted, tag it in git
///
/// Gates: every change has a passing evolution; no change's latest completed evolution
/// failed; and, if configured, promote.min_evolutions. Either everything happens (status and
/// annotated tag vX.Y.Z) or nothing does. Exits 5 when a gate fails.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    #[arg(value_parser = version_arg)]
    pub version: Version,
    /// Do not create the git tag
    #[arg(long)]
    pub no_tag: bool,
}

/// Start a hotfix: the next free patch version after a promoted one, with one fix change
#[derive(Debug, clap::Args)]
pub struct HotfixArgs {
    /// The promoted version to fix
    #[arg(value_parser = version_arg)]
    pub base: Version,
    /// Id of the fix, e.g. BUG-77
    #[arg(long, value_parser = super::change_id_arg)]
    pub issue: crate::domain::ChangeId,
    /// What it fixes
    #[arg(long)]
    pub title: String,
}

fn print_gates(ui: &Ui, gates: &[GateResult]) -> Result<(), CommandError> {
    for g in gates {
        let mark = if g.passed {
            ui.paint(GOOD, "pass")
        } else {
            ui.paint(BAD, "FAIL")
        };
        ui.line(format!("  {mark}  {}: {}", g.gate, g.detail))?;
    }
    Ok(())
}

pub fn cmd_promote(ui: &Ui, args: PromoteArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let opts = PromoteOptions {
        version: args.version.clone(),
        tag: !args.no_tag,
    };
    let linked = ws.config.get("cloud.project").is_some()
        && ws.config.execution_mode() != crate::workspace::config::ExecutionMode::Local;
    // Through the sync engine in hybrid and cloud mode: one logged attempt (its pull and
    // push are logged as attempts of their own).
    let attempt = match linked {
        true => sync::Attempt::start(&ws, sync::Direction::Promote, sync::Origin::Command),
        false => sync::Attempt::unlogged(),
    };
    let result = if linked {
        let (remote, account) = attempt.check(sync::connect(&ws))?;
        let _lock = attempt.check(sync::lock(ui, &ws))?;
        engine::promote(
            &ws,
            &remote.cloud(&account),
            &opts,
            &mut sync::LoggedSteps { ui },
        )
    } else {
        ops::promote(&ws, &opts).map_err(PromoteError::Op)
    };
    let shown = show_promotion(ui, &ws, result);
    attempt.settle(shown, serde_json::json!({}))
}

fn show_promotion(
    ui: &Ui,
    ws: &crate::workspace::Workspace,
    result: Result<ops::PromoteReport, PromoteError>,
) -> Result<(), CommandError> {
    match result {
        Ok(report) => {
            for w in &report.warnings {
                ui.warn(w);
            }
            if ui.json {
                return ui.json(&report);
            }
            ui.line(format!("Gates for {}:", report.version))?;
            print_gates(ui, &report.gates)?;
            let tag = match &report.tag {
                Some(t) => format!(", tagged {t}"),
                None => String::new(),
            };
            ui.line(format!(
                "Promoted {} by {}{tag}",
                report.version, report.promoted_by
            ))
        }
        Err(PromoteError::Op(OpError::GatesFailed { version, gates })) => {
            if ui.json {
                ui.json(&ops::GatesReport {
                    version: &version,
                    promoted: false,
                    gates: &gates,
                })?;
            } else {
                ui.line(format!("Gates for {version}:"))?;
                print_gates(ui, &gates)?;
            }
            Err(OpError::GatesFailed { version, gates }.into())
        }
        Err(e) => Err(promote_error(ui, ws, e)),
    }
}

pub fn cmd_hotfix(ui: &Ui, args: HotfixArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let g = ops::hotfix(
        &ws,
        &HotfixOptions {
            base: args.base.clone(),
            issue: args.issue.to_string(),
            title: args.title,
        },
    )?;
    if ui.json {
        return ui.json(&crate::ops::generation::show(&ws, g.version())?);
    }
    ui.line(format!(
        "Created hotfix {} from {} in {}",
        g.version(),
        args.base,
        ws.display_path(&ws.contract_path(g.version()))
    ))?;
    let change = &g.contract.changes[0];
    ui.status(format!(
        "Prove it: `gryt evolution start {} --change {}`, then `gryt run`",
        g.version(),
        change.id
    ));
    Ok(())
}

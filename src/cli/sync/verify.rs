//! `gryt sync verify`: does this workspace hold exactly what the cloud holds? Reads only.

use super::super::error::{CommandError, ExitKind};
use super::super::ui::Ui;
use super::super::version_arg;
use super::attempt::Direction;
use crate::domain::Version;
use crate::sync::engine::{self, Difference, VerifyOptions, VerifyReport};

/// Compare local and cloud records one by one (kind, id, revision, content hash); changes nothing
///
/// One request for the cloud's digest (a hash per bucket of records), then only the buckets
/// that differ, entry by entry. Lists what differs: cloud-only, local-only, in both but
/// different, marked synced but missing in the cloud. Exit 0 when they agree, 6 when not.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Only this generation, its evolutions and their runs
    #[arg(value_parser = version_arg)]
    pub version: Option<Version>,
}

pub fn cmd_verify(ui: &Ui, args: VerifyArgs) -> Result<(), CommandError> {
    super::with_cloud(ui, Some(Direction::Verify), |ws, cloud, attempt| {
        let result = verify(ui, ws, cloud, &args);
        let counts = match &result {
            Ok(r) => serde_json::json!({
                "cloud_only": r.cloud_only.len(), "local_only": r.local_only.len(),
                "different": r.different.len(), "missing_in_cloud": r.missing_in_cloud.len(),
                "records": r.local_records,
            }),
            Err(_) => serde_json::json!({}),
        };
        attempt.settle(result.and_then(outcome), counts)
    })
}

fn verify(
    ui: &Ui,
    ws: &crate::workspace::Workspace,
    cloud: &engine::Cloud<'_>,
    args: &VerifyArgs,
) -> Result<VerifyReport, CommandError> {
    if let Some(v) = &args.version {
        crate::ops::generation::get(ws, v)?;
    }
    let report = engine::verify(
        ws,
        cloud,
        &VerifyOptions {
            version: args.version.clone(),
        },
    )?;
    if let Some(why) = &report.mismatch {
        ui.status(format!(
            "Note: {why}; verify changes nothing: `gryt sync pull` matches every record with the cloud again (a full resync)"
        ));
    }
    if ui.json {
        ui.json(&report)?;
    } else {
        print(ui, &report)?;
    }
    Ok(report)
}

/// Exit 0 when they agree, 6 when not.
fn outcome(report: VerifyReport) -> Result<(), CommandError> {
    if report.agree {
        return Ok(());
    }
    Err(CommandError::new(
        ExitKind::Differs,
        format!(
            "this workspace and {} do not hold the same records",
            report.project
        ),
    )
    .hint("`gryt sync` brings them in step (pull, then push); `gryt sync pull --full` re-matches every record")
    .hint("conflicts that a sync records are listed by `gryt sync conflicts`"))
}

fn print(ui: &Ui, r: &VerifyReport) -> Result<(), CommandError> {
    let scope = r
        .version
        .as_deref()
        .map(|v| format!(" for {v}"))
        .unwrap_or_default();
    if r.agree {
        return ui.line(format!(
            "In step with {} (head {}){scope}: {} records here, {} in the cloud, all identical ({} request{})",
            r.project,
            r.head,
            r.local_records,
            r.cloud_records,
            r.requests,
            if r.requests == 1 { "" } else { "s" }
        ));
    }
    ui.line(format!(
        "Not in step with {} (head {}){scope}: {} records here, {} in the cloud",
        r.project, r.head, r.local_records, r.cloud_records
    ))?;
    let sections: [(&str, &[Difference]); 4] = [
        ("cloud only", &r.cloud_only),
        ("local only", &r.local_only),
        ("different", &r.different),
        (
            "marked synced but missing in the cloud",
            &r.missing_in_cloud,
        ),
    ];
    for (label, list) in sections {
        if list.is_empty() {
            continue;
        }
        ui.line(format!("  {label} ({}):", list.len()))?;
        let (shown, more) = ui.cut(list);
        for d in shown {
            ui.line(format!("    {}", line(d)))?;
        }
        if more > 0 {
            ui.line(format!("    … and {more} more"))?;
        }
    }
    Ok(())
}

/// `v1.2.0-rc.3 (evolution): revision 2 here, 3 in the cloud; content differs`.
fn line(d: &Difference) -> String {
    let mut parts = Vec::new();
    match (d.local_revision, d.cloud_revision) {
        (Some(l), Some(c)) if l != c => parts.push(format!("revision {l} here, {c} in the cloud")),
        _ => {}
    }
    if let (Some(l), Some(c)) = (&d.local_hash, &d.cloud_hash)
        && l != c
    {
        parts.push("content differs".to_string());
    }
    if let Some(s) = d.sync_status
        && d.cloud_hash.is_none()
    {
        parts.push(format!("{} here", s.as_str().replace('_', " ")));
    }
    let what = if d.subject.starts_with(d.kind.as_str()) {
        d.subject.clone()
    } else {
        format!("{} ({})", d.subject, d.kind.as_str())
    };
    if parts.is_empty() {
        what
    } else {
        format!("{what}: {}", parts.join("; "))
    }
}

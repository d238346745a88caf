use super::super::error::CommandError;
use super::super::ui::{self, Ui};
use super::super::{version_arg, workspace};
use crate::api::status::GenerationStatusResponse;
use crate::domain::{GenerationStatus, SyncStatus, Version};
use crate::sync::ClientError;
use crate::sync::engine::{self, LAST_PULL, LAST_PUSH};
use crate::workspace::config::ExecutionMode;

/// Where this workspace stands against the cloud: local only, pending, conflicts, behind
///
/// One cheap request to the cloud (its head); with --offline, or when the cloud cannot be
/// reached, the state as of the last pull. With VERSION: each change, its assignee, who proved
/// it with which rc tag, and whether the generation is ready for promotion — answered by the
/// cloud from its data in one more request (no pull needed), with this workspace's evolutions
/// the cloud does not have yet marked "not pushed".
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// One generation: each change, who proved it, and whether it is ready for promotion
    #[arg(value_parser = version_arg)]
    pub version: Option<Version>,
    /// Do not contact the cloud (with VERSION: the answer from this workspace's data)
    #[arg(long)]
    pub offline: bool,
}

/// Each sync attempt, newest first: time, direction, what started it, result, duration,
/// counts, error
///
/// Every attempt is logged, however it ended: ok, rejected (refused by the cloud, or work left
/// out), error (unreachable, another sync holding the lock, …) or cancelled (Ctrl-C). Origin:
/// command (typed), hook (the pre-commit hook), cloud-mode (the syncs around commands in
/// execution mode cloud). Dry runs are not logged.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// How many attempts to show
    #[arg(short = 'n', long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Debug, Default, serde::Serialize)]
struct Report {
    local_only: Vec<String>,
    cloud_only: Vec<String>,
    synced: Vec<String>,
    pending: Vec<String>,
    conflicts: Vec<String>,
    /// Refused by the cloud for good: `{subject, error}` each.
    failed: Vec<serde_json::Value>,
    /// Changes in the cloud not pulled yet; null when the cloud was not asked.
    behind: Option<u64>,
    head: Option<u64>,
    cursor: u64,
    /// The state is as of the last pull (no request was made or it failed).
    offline: bool,
    /// Why this workspace's sync state does not belong to the cloud project as it is now
    /// (the next sync command repairs it with a full resync); null when it does.
    out_of_step: Option<String>,
    last_pull: Option<String>,
    last_push: Option<String>,
    server: Option<String>,
    project: Option<String>,
    account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<serde_json::Value>,
}

pub fn cmd_status(ui: &Ui, args: StatusArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let mut r = Report {
        last_pull: ws
            .store
            .meta(LAST_PULL)
            .map_err(crate::sync::SyncError::from)?,
        last_push: ws
            .store
            .meta(LAST_PUSH)
            .map_err(crate::sync::SyncError::from)?,
        server: ws.config.get("cloud.url").map(str::to_string),
        project: ws.config.get("cloud.project").map(str::to_string),
        offline: true,
        ..Report::default()
    };
    for row in ws
        .store
        .sync_overview()
        .map_err(crate::sync::SyncError::from)?
    {
        let subject = row.subject;
        match row.sync_status {
            SyncStatus::NotSynced => r.local_only.push(subject),
            SyncStatus::Synced => r.synced.push(subject),
            SyncStatus::Conflict => r.conflicts.push(subject),
            SyncStatus::Failed => r
                .failed
                .push(serde_json::json!({"subject": subject, "error": row.sync_error})),
            SyncStatus::Pending => r.pending.push(subject),
        }
    }
    let mut why_offline = None;
    // The generation as the cloud has it, asked for while connected (VERSION, online).
    let mut from_cloud: Option<Result<GenerationStatusResponse, ClientError>> = None;
    if args.offline {
        why_offline = Some("--offline".to_string());
    } else if ws.config.execution_mode() == ExecutionMode::Local {
        why_offline = Some("execution_mode is local".to_string());
    } else {
        match super::connect(&ws) {
            Err(e) => why_offline = Some(e.message),
            Ok((remote, account)) => {
                let cloud = remote.cloud(&account);
                r.account = Some(account.clone());
                r.cursor = engine::cursor(&ws.store, &cloud)?;
                match cloud.info() {
                    Ok(info) => {
                        r.offline = false;
                        r.head = Some(info.head);
                        let answer = engine::Identity {
                            project_id: info.project_id,
                            history_id: info.history_id,
                        };
                        r.out_of_step = match ws
                            .store
                            .meta(engine::FULL_RESYNC)
                            .map_err(crate::sync::SyncError::from)?
                        {
                            Some(why) => Some(format!("a full resync did not finish ({why})")),
                            None => {
                                engine::mismatch(&ws, &cloud, answer, info.head)?.map(|m| m.why)
                            }
                        };
                        r.behind = Some(info.head.saturating_sub(r.cursor));
                        if info.head > r.cursor {
                            r.cloud_only = engine::peek_unknown(&ws, &cloud, r.cursor)?;
                        }
                        if let Some(v) = &args.version {
                            from_cloud = Some(cloud.client.generation_status(&cloud.project, v));
                        }
                    }
                    Err(e) => why_offline = Some(e.to_string()),
                }
            }
        }
    }
    if let Some(v) = &args.version {
        r.generation = Some(match from_cloud {
            Some(Ok(answer)) => cloud_detail(&ws, answer)?,
            // Not in the cloud (yet): this workspace's answer, which says so.
            Some(Err(ClientError::Api { status: 404, body }))
                if body.details["resource"] == "generation" =>
            {
                let mut local = version_detail(&ws, v)?;
                local["source"] = "local: not in the cloud".into();
                local
            }
            // Lost on the way, or a server without this request (it answers 404 for the
            // route): this workspace's answer, as offline.
            Some(Err(
                e @ (ClientError::Unreachable { .. } | ClientError::Api { status: 404, .. }),
            )) => {
                let mut local = version_detail(&ws, v)?;
                local["source"] = "local".into();
                local["cloud_error"] = e.to_string().into();
                local
            }
            Some(Err(e)) => return Err(e.into()),
            None => version_detail(&ws, v)?,
        });
    }
    if ui.json {
        return ui.json(&r);
    }
    match (&r.project, &r.server) {
        (Some(p), Some(s)) => ui.line(format!(
            "Project {p} at {s}{}",
            r.account
                .as_deref()
                .map(|a| format!(" as {a}"))
                .unwrap_or_default()
        ))?,
        _ => ui.line("Not linked to a cloud project (gryt cloud link TEAM/PROJECT)")?,
    }
    match (r.behind, &why_offline) {
        _ if r.out_of_step.is_some() => ui.line(format!(
            "Out of step with the cloud: {}; the next `gryt sync` matches every record again (a full resync)",
            r.out_of_step.as_deref().unwrap_or_default()
        ))?,
        (Some(0), _) => ui.line("Up to date with the cloud")?,
        (Some(n), _) => ui.line(format!(
            "Behind the cloud by {n} change{} (gryt sync pull){}",
            if n == 1 { "" } else { "s" },
            if r.cloud_only.is_empty() {
                String::new()
            } else {
                format!(": {}", ui.list(&r.cloud_only))
            }
        ))?,
        // "Not linked" above says it already.
        (None, Some(_)) if r.project.is_none() => {}
        (None, Some(why)) => ui.line(format!("Offline ({why}): the state as of the last pull"))?,
        (None, None) => {}
    }
    ui.line(format!(
        "Last pull: {}   Last push: {}",
        r.last_pull.as_deref().unwrap_or("never"),
        r.last_push.as_deref().unwrap_or("never")
    ))?;
    for (label, list) in [
        ("Local only (not pushed yet)", &r.local_only),
        ("Pending (changed since the last sync)", &r.pending),
        ("Conflicts (gryt sync conflicts)", &r.conflicts),
    ] {
        if !list.is_empty() {
            ui.line(format!("{label}: {}", ui.list(list)))?;
        }
    }
    let (failed, more) = ui.cut(&r.failed);
    for f in failed {
        ui.line(format!(
            "Refused by the cloud: {}: {} (gryt sync conflicts)",
            f["subject"].as_str().unwrap_or_default(),
            f["error"].as_str().unwrap_or("refused")
        ))?;
    }
    if more > 0 {
        ui.line(format!(
            "Refused by the cloud: … and {more} more ({})",
            ui::MORE_HINT
        ))?;
    }
    ui.line(format!("Synced: {}", r.synced.len()))?;
    if let Some(g) = &r.generation {
        print_generation(ui, g)?;
    }
    Ok(())
}

/// One generation: each change, who proved it, and whether the gates pass here.
fn version_detail(
    ws: &crate::workspace::Workspace,
    v: &Version,
) -> Result<serde_json::Value, CommandError> {
    let detail = crate::ops::generation::show(ws, v)?;
    let g = crate::ops::generation::get(ws, v)?;
    let gates = crate::ops::promote::evaluate_gates(ws, &g)?;
    // Why not, besides the gates: a promotion needs a draft the cloud can take.
    let blocked = match (g.status, detail.sync_status.as_str()) {
        (crate::domain::GenerationStatus::Promoted, _) => Some("it is promoted already"),
        (crate::domain::GenerationStatus::Abandoned, _) => Some("it is abandoned"),
        (_, "conflict") => Some("it is in conflict with the cloud (gryt sync conflicts)"),
        _ if !crate::domain::gates::all_passed(&gates) => Some("a gate fails"),
        _ => None,
    };
    let ready = blocked.is_none();
    Ok(serde_json::json!({
        "source": "local",
        "version": detail.version,
        "status": detail.status,
        "sync_status": detail.sync_status,
        "changes": detail.changes,
        "gates": gates,
        "ready_for_promotion": ready,
        "not_ready_because": blocked,
    }))
}

/// One generation as the cloud answers it (who proved what, its gates), with this
/// workspace's evolutions of it that the cloud does not have yet marked `"pushed": false`.
/// The JSON has the shape of [`version_detail`]'s, so both print alike.
fn cloud_detail(
    ws: &crate::workspace::Workspace,
    answer: GenerationStatusResponse,
) -> Result<serde_json::Value, CommandError> {
    let mut changes = serde_json::to_value(&answer.changes)
        .map_err(|e| CommandError::user(format!("cannot encode the cloud's answer: {e}")))?;
    for c in changes.as_array_mut().into_iter().flatten() {
        for e in c["evolutions"].as_array_mut().into_iter().flatten() {
            e["pushed"] = true.into();
        }
    }
    // This workspace's generation, when it is the cloud's (not another one of that version).
    let local = crate::ops::generation::get(ws, &answer.version).ok();
    let mut sync_status = serde_json::Value::from(match &local {
        None => "not here (gryt sync pull)",
        Some(_) => "another generation of this version here (gryt sync conflicts)",
    });
    let here = local.filter(|g| g.id == answer.generation_id.to_string());
    let mut unpushed = 0;
    if here.is_some() {
        let detail = crate::ops::generation::show(ws, &answer.version)?;
        sync_status = serde_json::to_value(detail.sync_status).unwrap_or_default();
        for local in &detail.changes {
            let Some(c) = changes
                .as_array_mut()
                .and_then(|cs| cs.iter_mut().find(|c| c["id"] == local.id.as_str()))
            else {
                continue;
            };
            for e in &local.evolutions {
                if e.sync_status == SyncStatus::Synced {
                    continue;
                }
                unpushed += 1;
                let list = c["evolutions"].as_array_mut().expect("an array");
                match list.iter_mut().find(|x| x["tag"] == e.tag.as_str()) {
                    // Known to the cloud, changed here since: what it is here.
                    Some(x) => {
                        x["pushed"] = false.into();
                        x["local_status"] = serde_json::to_value(e.status).unwrap_or_default();
                    }
                    None => list.push(serde_json::json!({
                        "tag": e.tag,
                        "code_name": e.code_name,
                        "owner": e.owner,
                        "status": e.status,
                        "pushed": false,
                    })),
                }
            }
        }
    }
    let failing: Vec<&str> = answer
        .gates
        .iter()
        .filter(|g| !g.passed)
        .map(|g| g.gate.as_str())
        .collect();
    let blocked = match answer.status {
        GenerationStatus::Promoted => Some("it is promoted already".to_string()),
        GenerationStatus::Abandoned => Some("it is abandoned".to_string()),
        _ if !answer.ready => Some(format!("a gate fails ({})", failing.join(", "))),
        _ => None,
    };
    Ok(serde_json::json!({
        "source": "cloud",
        "head": answer.head,
        "version": answer.version,
        "status": answer.status,
        "sync_status": sync_status,
        "created_by": answer.created_by,
        "promoted_by": answer.promoted_by,
        "promoted_at": answer.promoted_at,
        "changes": changes,
        "proven": answer.proven,
        "unpushed": unpushed,
        "gates": answer.gates,
        "ready_for_promotion": blocked.is_none(),
        "not_ready_because": blocked,
    }))
}

fn print_generation(ui: &Ui, g: &serde_json::Value) -> Result<(), CommandError> {
    ui.line("")?;
    let source = match g["source"].as_str() {
        Some("cloud") => format!("as the cloud has it at head {}", g["head"]),
        Some("local: not in the cloud") => "not in the cloud: as this workspace has it".into(),
        _ => match g["cloud_error"].as_str() {
            Some(why) => format!("as this workspace has it (the cloud did not answer: {why})"),
            None => "as this workspace has it".into(),
        },
    };
    ui.line(format!(
        "Generation {} ({}, {}), {source}",
        g["version"].as_str().unwrap_or(""),
        g["status"].as_str().unwrap_or(""),
        g["sync_status"].as_str().unwrap_or("").replace('_', " ")
    ))?;
    let changes = g["changes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    // The assignee column only when someone is assigned.
    let assigned = changes.iter().any(|c| c["assignee"].is_string());
    let mut t = match assigned {
        true => ui::table(&["change", "title", "assignee", "proven by"]),
        false => ui::table(&["change", "title", "proven by"]),
    };
    for c in changes {
        let proofs: Vec<String> = c["evolutions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let status = e["local_status"].as_str().or(e["status"].as_str());
                format!(
                    "{} {} ({}){}",
                    e["tag"].as_str().unwrap_or(""),
                    status.unwrap_or(""),
                    e["owner"].as_str().unwrap_or(""),
                    match e["pushed"] == false {
                        true => ", not pushed",
                        false => "",
                    }
                )
            })
            .collect();
        let mut row = vec![
            c["id"].as_str().unwrap_or("").to_string(),
            c["title"].as_str().unwrap_or("").to_string(),
        ];
        if assigned {
            row.push(c["assignee"].as_str().unwrap_or("-").to_string());
        }
        row.push(match proofs.is_empty() {
            true => "-".to_string(),
            false => proofs.join(", "),
        });
        t.add_row(row);
    }
    ui.line(ui::render(&t))?;
    match g["not_ready_because"].as_str() {
        None => ui.line("Ready for promotion: yes"),
        Some(why) => ui.line(format!("Ready for promotion: no, {why}")),
    }
}

pub fn cmd_log(ui: &Ui, args: LogArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let entries = ws
        .store
        .sync_log(args.limit)
        .map_err(crate::sync::SyncError::from)?;
    if ui.json {
        return ui.json(&entries);
    }
    if entries.is_empty() {
        ui.status("No syncs yet");
        return Ok(());
    }
    let mut t = ui::table(&[
        "at",
        "direction",
        "origin",
        "result",
        "duration",
        "counts",
        "error",
    ]);
    for e in &entries {
        let counts = e
            .counts
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v.as_u64() != Some(0))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        t.add_row(vec![
            e.started_at.clone(),
            e.direction.clone(),
            e.origin.clone(),
            e.result.clone(),
            format!("{}ms", e.duration_ms),
            counts,
            e.error.clone().unwrap_or_default(),
        ]);
    }
    ui.line(ui::render(&t))
}

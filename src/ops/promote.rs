//! Promotion (gates, then promoted status and an annotated git tag — all or nothing) and
//! hotfixes (the next free patch after a promoted version).

use serde_json::json;

use super::generation::{self, ensure_file_clean, get};
use super::{OpError, Result};
use crate::clock;
use crate::domain::gates::{self, GateResult};
use crate::domain::generation::{Contract, next_free_patch};
use crate::domain::{Change, ChangeType, EvolutionStatus, GenerationStatus, Version};
use crate::git;
use crate::store::Generation;
use crate::workspace::Workspace;
use crate::workspace::file::occupied;

pub struct PromoteOptions {
    pub version: Version,
    pub tag: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct PromoteReport {
    pub version: Version,
    /// Always true here; `GatesReport` carries `false`, so scripts can test one field.
    pub promoted: bool,
    pub gates: Vec<GateResult>,
    pub promoted_by: String,
    pub promoted_at: String,
    /// The git tag created, if any.
    pub tag: Option<String>,
    pub warnings: Vec<String>,
}

/// Evaluates the gates on the local data of a generation.
pub fn evaluate_gates(ws: &Workspace, g: &Generation) -> Result<Vec<GateResult>> {
    let evolutions = ws.store.evolutions_of(&g.id)?;
    let proofs = gates::proofs(
        g.contract.changes.iter().map(|c| c.id.as_str()),
        evolutions.iter().map(|e| (e.change_id.as_str(), e.status)),
    );
    Ok(gates::evaluate(&proofs, ws.config.min_evolutions()))
}

/// Promotes locally: [`prepare`], then [`finalize`] as the acting user, now.
pub fn promote(ws: &Workspace, opts: &PromoteOptions) -> Result<PromoteReport> {
    let prepared = prepare(ws, opts)?;
    finalize(ws, prepared, ws.user(), &clock::now_string(), |_| Ok(()))
}

/// A generation that passed every check and gate, ready to be promoted.
pub struct Prepared {
    pub generation: Generation,
    pub gates: Vec<GateResult>,
    make_tag: bool,
    pub warnings: Vec<String>,
}

/// Everything that can refuse a promotion, checked before anything changes: status, unapplied
/// contract edits, running evolutions, the gates, and the git tag (free, and a commit to put
/// it on).
pub fn prepare(ws: &Workspace, opts: &PromoteOptions) -> Result<Prepared> {
    let version = &opts.version;
    let g = get(ws, version)?;
    match g.status {
        GenerationStatus::Promoted => {
            return Err(OpError::Promoted {
                version: version.clone(),
                action: "promoted again",
            });
        }
        GenerationStatus::Abandoned => {
            return Err(OpError::NotDraft {
                version: version.clone(),
                status: "abandoned",
                action: "promoted",
            });
        }
        GenerationStatus::Draft => {}
    }
    ensure_file_clean(ws, &g)?;
    let running: Vec<String> = ws
        .store
        .evolutions_of(&g.id)?
        .iter()
        .filter(|e| e.status == EvolutionStatus::Running)
        .map(|e| e.tag().to_string())
        .collect();
    if !running.is_empty() {
        return Err(OpError::RunningEvolutions {
            version: version.clone(),
            list: running.join(", "),
        });
    }
    let gates = evaluate_gates(ws, &g)?;
    if !gates::all_passed(&gates) {
        return Err(OpError::GatesFailed {
            version: version.clone(),
            gates,
        });
    }
    let mut warnings = Vec::new();
    let make_tag = plan_tag(ws, opts, false, &mut warnings)?;
    Ok(Prepared {
        generation: g,
        gates,
        make_tag,
        warnings,
    })
}

/// Whether to create the git tag: asked for, inside a git work tree with a commit, and the
/// tag is free (taken: refused, or with `keep_existing` left as it is with a warning).
fn plan_tag(
    ws: &Workspace,
    opts: &PromoteOptions,
    keep_existing: bool,
    warnings: &mut Vec<String>,
) -> Result<bool> {
    let version = &opts.version;
    let tag_name = version.to_string();
    if !opts.tag {
        return Ok(false);
    }
    if !git::is_work_tree(&ws.root) {
        warnings.push(format!(
            "not inside a git repository: {version} was promoted without a git tag"
        ));
        return Ok(false);
    }
    if git::tag_exists(&ws.root, &tag_name)? {
        if keep_existing {
            warnings.push(format!(
                "git tag {tag_name} already exists; it was left as it is"
            ));
            return Ok(false);
        }
        return Err(OpError::TagExists(tag_name));
    }
    if !git::has_commits(&ws.root) {
        return Err(OpError::NoCommits);
    }
    Ok(true)
}

/// Whether this workspace finished promoting `version` itself (its audit trail says so);
/// a generation a pull brought in promoted has only a pulled one.
pub fn promoted_here(ws: &Workspace, version: &Version) -> Result<bool> {
    let object = version.to_string();
    Ok(ws.store.audit_events()?.iter().any(|e| {
        // A promotion that arrived by pull was not finished here (no tag).
        e.action == "generation.promoted" && e.object == object && e.details["pulled"] != true
    }))
}

/// A generation already promoted (in the cloud, by this account: an earlier attempt whose
/// answer was lost, then a pull brought it in) that this workspace has not finished
/// promoting: [`finalize`] records it here and creates the git tag.
pub fn prepare_promoted(ws: &Workspace, opts: &PromoteOptions) -> Result<Prepared> {
    let g = get(ws, &opts.version)?;
    let gates = evaluate_gates(ws, &g)?;
    let mut warnings = Vec::new();
    let make_tag = plan_tag(ws, opts, true, &mut warnings)?;
    Ok(Prepared {
        generation: g,
        gates,
        make_tag,
        warnings,
    })
}

/// Marks a prepared generation promoted by `by` at `at` and creates its tag — all or
/// nothing. `also` runs inside the same transaction (the cloud path records the revision
/// the cloud gave the promotion there).
pub fn finalize(
    ws: &Workspace,
    p: Prepared,
    by: &str,
    at: &str,
    also: impl FnOnce(&crate::store::Store) -> Result<()>,
) -> Result<PromoteReport> {
    let g = &p.generation;
    let tag_name = g.version().to_string();
    let mut tagged = false;
    let result = ws.store.tx(|s| -> Result<()> {
        s.mark_promoted(&g.id, by, at)?;
        s.audit(
            at,
            by,
            "generation.promoted",
            &tag_name,
            json!({"tag": p.make_tag, "changes": g.contract.changes.len()}),
        )?;
        also(s)?;
        if p.make_tag {
            git::create_annotated_tag(&ws.root, &tag_name, &tag_message(&g.contract, by))?;
            tagged = true;
        }
        Ok(())
    });
    if let Err(e) = result {
        if tagged {
            // The commit failed after the tag was made: take the tag back so nothing changed.
            let _ = git::delete_tag(&ws.root, &tag_name);
        }
        return Err(e);
    }
    Ok(PromoteReport {
        version: g.version().clone(),
        promoted: true,
        gates: p.gates,
        promoted_by: by.to_string(),
        promoted_at: at.to_string(),
        tag: p.make_tag.then_some(tag_name),
        warnings: p.warnings,
    })
}

fn tag_message(c: &Contract, user: &str) -> String {
    let mut msg = format!("Release {}\n\n", c.version);
    if !c.description.is_empty() {
        msg.push_str(&c.description);
        msg.push_str("\n\n");
    }
    for change in &c.changes {
        msg.push_str(&format!(
            "- {} {}: {}\n",
            change.kind, change.id, change.title
        ));
    }
    msg.push_str(&format!("\nPromoted by {user} with gryt\n"));
    msg
}

/// The `--json` answer when gates refuse a promotion.
#[derive(Debug, serde::Serialize)]
pub struct GatesReport<'a> {
    pub version: &'a Version,
    pub promoted: bool,
    pub gates: &'a [GateResult],
}

pub struct HotfixOptions {
    pub base: Version,
    pub issue: String,
    pub title: String,
}

/// Creates the next free patch version after a promoted `base`, with one `fix` change.
pub fn hotfix(ws: &Workspace, opts: &HotfixOptions) -> Result<Generation> {
    let base = get(ws, &opts.base)?;
    if base.status != GenerationStatus::Promoted {
        return Err(OpError::HotfixBaseNotPromoted {
            version: opts.base.clone(),
            status: base.status.as_str(),
        });
    }
    let id = opts.issue.parse().map_err(|reason| OpError::Invalid {
        what: "issue id",
        reason,
    })?;
    crate::domain::change::check_title(&opts.title).map_err(|reason| OpError::Invalid {
        what: "title",
        reason,
    })?;
    let mut taken_err = None;
    let version = opts.base.next_patch().and_then(|start| {
        next_free_patch(&start, |v| {
            ws.store.version_exists(v).unwrap_or_else(|e| {
                taken_err.get_or_insert(e);
                false
            }) || occupied(&ws.contract_path(v))
        })
    });
    if let Some(e) = taken_err {
        return Err(e.into());
    }
    let version = version.ok_or_else(|| OpError::Invalid {
        what: "hotfix",
        reason: format!("{} has no free patch version after it", opts.base),
    })?;
    let contract = Contract {
        version,
        description: format!("Hotfix for {}", opts.base),
        pipeline_template: base.contract.pipeline_template.clone(),
        changes: vec![Change {
            kind: ChangeType::Fix,
            id,
            title: opts.title.trim().to_string(),
            description: None,
            pipeline: None,
            assignee: None,
        }],
    };
    generation::create(ws, &contract)
}

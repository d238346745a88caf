//! Generations: create, update from YAML, list, show, rename, delete.

use std::collections::BTreeMap;

use serde_json::json;

use super::{OpError, Result, io};
use crate::clock;
use crate::contract;
use crate::domain::generation::Contract;
use crate::domain::{Change, ChangeType, GenerationStatus, Version};
use crate::store::{Evolution, Generation, GenerationSummary, NewGeneration};
use crate::workspace::file::occupied;
use crate::workspace::{ContractFile, Workspace, bytes_hash, file_hash, write_atomic};

pub struct NewOptions {
    pub version: Version,
    pub description: Option<String>,
    pub pipeline: Option<String>,
}

/// The contract `generation new` writes: one placeholder change the user replaces.
pub fn placeholder(opts: &NewOptions) -> Contract {
    Contract {
        version: opts.version.clone(),
        description: opts.description.clone().unwrap_or_default(),
        pipeline_template: opts.pipeline.clone(),
        changes: vec![Change {
            kind: ChangeType::Add,
            id: "CHANGE-1".parse().expect("a valid id"),
            title: "Describe the first change of this release".to_string(),
            description: None,
            pipeline: None,
            assignee: None,
        }],
    }
}

/// Creates a draft generation: the DB row and its YAML file, both or neither.
pub fn create(ws: &Workspace, contract: &Contract) -> Result<Generation> {
    if let Some(d) = &contract.pipeline_template {
        super::check_pipeline_name(d)?;
    }
    crate::domain::change::check_text("description", &contract.description, 10_000).map_err(
        |reason| OpError::Invalid {
            what: "description",
            reason,
        },
    )?;
    // Validate exactly what will be on disk.
    let text = contract::render(contract);
    contract::parse(&text).map_err(|problems| OpError::Invalid {
        what: "contract",
        reason: problems
            .into_iter()
            .map(|p| p.message)
            .collect::<Vec<_>>()
            .join("; "),
    })?;
    let version = &contract.version;
    if ws.store.version_exists(version)? {
        return Err(version_exists(ws, version));
    }
    let path = ws.contract_path(version);
    if occupied(&path) {
        return Err(OpError::ContractFileExists {
            version: version.clone(),
            path: ws.display_path(&path),
        });
    }
    let now = clock::now_string();
    let id = clock::new_id();
    let result = ws.store.tx(|s| -> Result<()> {
        s.insert_generation(&NewGeneration {
            id: &id,
            contract,
            created_by: ws.user(),
            now: &now,
            file_hash: &bytes_hash(text.as_bytes()),
        })?;
        s.audit(
            &now,
            ws.user(),
            "generation.created",
            &version.to_string(),
            json!({"changes": contract.changes.len()}),
        )?;
        write_atomic(&path, text.as_bytes()).map_err(io("write", &path))?;
        Ok(())
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    result?;
    get(ws, version)
}

pub fn get(ws: &Workspace, version: &Version) -> Result<Generation> {
    ws.store
        .generation(version)?
        .ok_or_else(|| OpError::GenerationNotFound(version.clone()))
}

pub fn list(ws: &Workspace) -> Result<Vec<GenerationSummary>> {
    Ok(ws.store.list_generations()?)
}

#[derive(Debug, serde::Serialize)]
pub struct ChangeDetail {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ChangeType,
    pub title: String,
    pub description: Option<String>,
    pub pipeline: Option<String>,
    /// Who is to prove it (a cloud account name).
    pub assignee: Option<String>,
    pub proven: bool,
    pub evolutions: Vec<EvolutionBrief>,
}

#[derive(Debug, serde::Serialize)]
pub struct EvolutionBrief {
    pub code_name: String,
    pub tag: String,
    pub status: crate::domain::EvolutionStatus,
    pub owner: String,
    pub sync_status: crate::domain::SyncStatus,
    /// Why the cloud refused it (`sync_status` `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_error: Option<String>,
}

impl From<&Evolution> for EvolutionBrief {
    fn from(e: &Evolution) -> Self {
        EvolutionBrief {
            code_name: e.code_name.clone(),
            tag: e.tag().to_string(),
            status: e.status,
            owner: e.owner.clone(),
            sync_status: e.sync_status,
            sync_error: e.sync_error.clone(),
        }
    }
}

#[derive(Debug, serde::Serialize)]
pub struct GenerationDetail {
    pub version: Version,
    pub status: GenerationStatus,
    pub description: String,
    pub pipeline_template: Option<String>,
    pub sync_status: crate::domain::SyncStatus,
    /// Why the cloud refused it (`sync_status` `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_error: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub promoted_by: Option<String>,
    pub promoted_at: Option<String>,
    pub changes: Vec<ChangeDetail>,
}

pub fn show(ws: &Workspace, version: &Version) -> Result<GenerationDetail> {
    let g = get(ws, version)?;
    let evolutions = ws.store.evolutions_of(&g.id)?;
    let changes = g
        .contract
        .changes
        .iter()
        .map(|c| {
            let evs: Vec<EvolutionBrief> = evolutions
                .iter()
                .filter(|e| e.change_id == c.id.as_str())
                .map(EvolutionBrief::from)
                .collect();
            ChangeDetail {
                id: c.id.to_string(),
                kind: c.kind,
                title: c.title.clone(),
                description: c.description.clone(),
                pipeline: c.pipeline.clone(),
                assignee: c.assignee.clone(),
                proven: evs
                    .iter()
                    .any(|e| e.status == crate::domain::EvolutionStatus::Pass),
                evolutions: evs,
            }
        })
        .collect();
    Ok(GenerationDetail {
        version: g.contract.version,
        status: g.status,
        description: g.contract.description,
        pipeline_template: g.contract.pipeline_template,
        sync_status: g.sync_status,
        sync_error: g.sync_error,
        created_by: g.created_by,
        created_at: g.created_at,
        promoted_by: g.promoted_by,
        promoted_at: g.promoted_at,
        changes,
    })
}

pub enum Target {
    One(Version),
    All,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct UpdateReport {
    pub created: Vec<Version>,
    pub updated: Vec<ContractDiff>,
    pub unchanged: Vec<Version>,
}

#[derive(Debug, serde::Serialize)]
pub struct ContractDiff {
    pub version: Version,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
    pub details_changed: bool,
}

impl ContractDiff {
    fn between(old: &Contract, new: &Contract) -> ContractDiff {
        let old_ids: BTreeMap<&str, &Change> =
            old.changes.iter().map(|c| (c.id.as_str(), c)).collect();
        let new_ids: BTreeMap<&str, &Change> =
            new.changes.iter().map(|c| (c.id.as_str(), c)).collect();
        ContractDiff {
            version: new.version.clone(),
            added: new_ids
                .keys()
                .filter(|k| !old_ids.contains_key(*k))
                .map(|k| k.to_string())
                .collect(),
            removed: old_ids
                .keys()
                .filter(|k| !new_ids.contains_key(*k))
                .map(|k| k.to_string())
                .collect(),
            modified: new_ids
                .iter()
                .filter(|(k, c)| old_ids.get(*k).is_some_and(|o| o != *c))
                .map(|(k, _)| k.to_string())
                .collect(),
            details_changed: old.description != new.description
                || old.pipeline_template != new.pipeline_template
                || old
                    .changes
                    .iter()
                    .map(|c| &c.id)
                    .ne(new.changes.iter().map(|c| &c.id)),
        }
    }
}

/// What `update` will do with one file, decided before anything is written.
enum Plan {
    Create {
        contract: Contract,
        file_hash: String,
    },
    Update {
        id: String,
        old: Contract,
        contract: Contract,
        file_hash: String,
    },
    Unchanged {
        id: String,
        version: Version,
        file_hash: String,
    },
}

/// YAML → DB. Every targeted file is validated (and every refusal found) before one
/// transaction applies them all.
pub fn update(ws: &Workspace, target: Target) -> Result<UpdateReport> {
    let paths = match &target {
        Target::One(v) => {
            let path = ws.contract_path(v);
            if !occupied(&path) {
                return Err(match ws.store.version_exists(v)? {
                    true => OpError::ContractMissing {
                        path: ws.display_path(&path),
                    },
                    false => OpError::GenerationNotFound(v.clone()),
                });
            }
            vec![(v.clone(), path)]
        }
        Target::All => contract_files(ws)?,
    };
    let mut plans = Vec::new();
    let mut errors: Vec<OpError> = Vec::new();
    for (version, path) in &paths {
        match plan_one(ws, version, path) {
            Ok(plan) => plans.push(plan),
            Err(e) => errors.push(e),
        }
    }
    if let Some(first) = combine(errors) {
        return Err(first);
    }
    let now = clock::now_string();
    let mut report = UpdateReport::default();
    ws.store.tx(|s| -> Result<()> {
        for plan in plans {
            match plan {
                Plan::Create { contract, file_hash } => {
                    let id = clock::new_id();
                    s.insert_generation(&NewGeneration { id: &id, contract: &contract, created_by: ws.user(), now: &now, file_hash: &file_hash })?;
                    s.audit(&now, ws.user(), "generation.created", &contract.version.to_string(), json!({"changes": contract.changes.len(), "from": "file"}))?;
                    report.created.push(contract.version);
                }
                Plan::Update { id, old, contract, file_hash } => {
                    s.replace_contract(&id, &contract, &now, &file_hash)?;
                    let diff = ContractDiff::between(&old, &contract);
                    s.audit(&now, ws.user(), "generation.updated", &contract.version.to_string(), json!({"added": diff.added, "removed": diff.removed, "modified": diff.modified}))?;
                    report.updated.push(diff);
                }
                Plan::Unchanged { id, version, file_hash } => {
                    s.set_file_hash(&id, &file_hash)?;
                    report.unchanged.push(version);
                }
            }
        }
        Ok(())
    })?;
    Ok(report)
}

/// Several failing files become one error listing all of them.
fn combine(mut errors: Vec<OpError>) -> Option<OpError> {
    match errors.len() {
        0 | 1 => errors.pop(),
        _ => Some(OpError::Many(errors)),
    }
}

fn plan_one(ws: &Workspace, version: &Version, path: &std::path::Path) -> Result<Plan> {
    let contract = contract::load(path, Some(version)).map_err(|e| e.relative_to(&ws.root))?;
    let file_hash = file_hash(path)
        .map_err(io("read", &std::path::PathBuf::from(ws.display_path(path))))?
        .unwrap_or_default();
    let Some(g) = ws.store.generation(version)? else {
        return Ok(Plan::Create {
            contract,
            file_hash,
        });
    };
    if g.contract == contract {
        return Ok(Plan::Unchanged {
            id: g.id,
            version: version.clone(),
            file_hash,
        });
    }
    match g.status {
        GenerationStatus::Promoted => {
            return Err(OpError::Promoted {
                version: version.clone(),
                action: "edited",
            });
        }
        GenerationStatus::Abandoned => {
            return Err(OpError::NotDraft {
                version: version.clone(),
                status: "abandoned",
                action: "edited",
            });
        }
        GenerationStatus::Draft => ensure_no_promotion_in_flight(ws, &g, "edited")?,
    }
    let mut proven = Vec::new();
    for old in &g.contract.changes {
        if contract.change(old.id.as_str()).is_none() {
            let n = ws
                .store
                .count_evolutions_of_change(&g.id, old.id.as_str())?;
            if n > 0 {
                proven.push(format!(
                    "{} ({n} evolution{})",
                    old.id,
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
    }
    if !proven.is_empty() {
        return Err(OpError::ChangeHasEvolutions {
            version: version.clone(),
            path: ws.display_path(path),
            list: proven,
        });
    }
    Ok(Plan::Update {
        id: g.id,
        old: g.contract,
        contract,
        file_hash,
    })
}

/// Every `vX.Y.Z.yaml` in the generations directory, by version.
pub fn contract_files(ws: &Workspace) -> Result<Vec<(Version, std::path::PathBuf)>> {
    Ok(ws.contract_files()?)
}

/// Refuses when the YAML on disk differs from what the DB last saw (it would be lost).
pub fn ensure_file_clean(ws: &Workspace, g: &Generation) -> Result<()> {
    match ws.contract_file(g)? {
        ContractFile::Missing | ContractFile::Clean => Ok(()),
        ContractFile::Edited(_) => Err(OpError::ModifiedOnDisk {
            path: ws.display_path(&ws.contract_path(g.version())),
        }),
    }
}

/// Refuses to change generation `g` while a promotion of it awaits the cloud's answer (see
/// [`crate::store::Store::promotion_in_flight`]): the cloud may hold it promoted already, and
/// a change made here now would come back as a conflict with oneself.
pub fn ensure_no_promotion_in_flight(
    ws: &Workspace,
    g: &Generation,
    action: &'static str,
) -> Result<()> {
    if g.status == GenerationStatus::Draft && ws.store.promotion_in_flight(&g.id)? {
        return Err(OpError::PromotionInFlight {
            version: g.version().clone(),
            action,
        });
    }
    Ok(())
}

fn ensure_local_draft(g: &Generation, action: &'static str) -> Result<()> {
    match g.status {
        GenerationStatus::Promoted => Err(OpError::Promoted {
            version: g.version().clone(),
            action,
        }),
        GenerationStatus::Abandoned => Err(OpError::NotDraft {
            version: g.version().clone(),
            status: "abandoned",
            action,
        }),
        GenerationStatus::Draft if !g.never_synced() => Err(OpError::Synced {
            version: g.version().clone(),
            action,
        }),
        GenerationStatus::Draft => Ok(()),
    }
}

/// The next free patch and minor after `version`, as far as this workspace knows (after a
/// pull it knows every version of the project): neither a generation nor a contract file
/// holds them.
pub fn free_versions(ws: &Workspace, version: &Version) -> Result<Vec<Version>> {
    let mut failed = None;
    let free = crate::domain::generation::free_versions(version, |v| {
        ws.contract_path(v).exists()
            || ws.store.version_exists(v).unwrap_or_else(|e| {
                failed.get_or_insert(e);
                true
            })
    });
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(free),
    }
}

/// `version` is taken here: the refusal, with the free versions to pick instead.
fn version_exists(ws: &Workspace, version: &Version) -> OpError {
    match free_versions(ws, version) {
        Ok(free) => OpError::VersionExists {
            version: version.clone(),
            free,
        },
        Err(e) => e,
    }
}

/// Renames a never-synced draft: DB row, YAML file (rewritten with the new version), and
/// the rc tags of its evolutions, which follow the version.
pub fn rename(ws: &Workspace, old: &Version, new: &Version) -> Result<Generation> {
    let g = get(ws, old)?;
    ensure_local_draft(&g, "renamed")?;
    if old == new {
        return Err(OpError::Invalid {
            what: "rename",
            reason: format!("{old} is already called {new}"),
        });
    }
    if ws.store.version_exists(new)? {
        return Err(version_exists(ws, new));
    }
    let new_path = ws.contract_path(new);
    if occupied(&new_path) {
        return Err(OpError::ContractFileExists {
            version: new.clone(),
            path: ws.display_path(&new_path),
        });
    }
    ensure_file_clean(ws, &g)?;
    let old_path = ws.contract_path(old);
    let contract = Contract {
        version: new.clone(),
        ..g.contract.clone()
    };
    let text = contract::render(&contract);
    let now = clock::now_string();
    let result = ws.store.tx(|s| -> Result<()> {
        s.rename_generation(&g.id, &contract, &now, &bytes_hash(text.as_bytes()))?;
        if g.sync_status == crate::domain::SyncStatus::Conflict {
            s.set_sync_status(
                crate::domain::RecordKind::Generation,
                &g.id,
                crate::domain::SyncStatus::NotSynced,
            )?;
        }
        settle_version_conflicts(s, old, &format!("renamed to {new}"), &now)?;
        s.audit(
            &now,
            ws.user(),
            "generation.renamed",
            &new.to_string(),
            json!({"from": old.to_string()}),
        )?;
        write_atomic(&new_path, text.as_bytes()).map_err(io("write", &new_path))?;
        Ok(())
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&new_path);
    }
    result?;
    if occupied(&old_path) {
        std::fs::remove_file(&old_path).map_err(io("remove", &old_path))?;
    }
    get(ws, new)
}

#[derive(Debug, serde::Serialize)]
pub struct Deleted {
    pub version: Version,
    pub changes: usize,
    pub evolutions: usize,
}

/// Deletes a never-synced draft with its evolutions and contract file. A contract with
/// unsaved edits on disk is kept unless `force`.
pub fn delete(ws: &Workspace, version: &Version, force: bool) -> Result<Deleted> {
    let g = get(ws, version)?;
    ensure_local_draft(&g, "deleted")?;
    if !force {
        ensure_file_clean(ws, &g)?;
    }
    let evolutions = ws.store.evolutions_of(&g.id)?.len();
    let path = ws.contract_path(version);
    let now = clock::now_string();
    ws.store.tx(|s| -> Result<()> {
        s.delete_generation(&g.id)?;
        if ws
            .store
            .local_state(CURRENT_EVOLUTION)?
            .is_some_and(|id| s.evolution(&id).ok().flatten().is_none())
        {
            s.set_local_state(CURRENT_EVOLUTION, None)?;
        }
        settle_version_conflicts(s, version, "deleted locally", &now)?;
        s.audit(
            &now,
            ws.user(),
            "generation.deleted",
            &version.to_string(),
            json!({"changes": g.contract.changes.len(), "evolutions": evolutions}),
        )
        .map_err(OpError::from)
    })?;
    // After the commit: if this fails, the file shows as untracked and nothing is lost.
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io("remove", &path)(e).into());
        }
        _ => {}
    }
    Ok(Deleted {
        version: version.clone(),
        changes: g.contract.changes.len(),
        evolutions,
    })
}

/// A same-version conflict the local generation of `version` held is settled once it moves
/// away or goes: the cloud's generation comes in on the next pull.
fn settle_version_conflicts(
    s: &crate::store::Store,
    version: &Version,
    how: &str,
    now: &str,
) -> Result<()> {
    for c in s.conflicts(false)? {
        if c.reason == crate::domain::ConflictReason::VersionTaken
            && c.subject == version.to_string()
        {
            s.settle_for_remote(c.id, how, now)?;
        }
    }
    Ok(())
}

/// `local_state` key of the workspace's current evolution (its id).
pub const CURRENT_EVOLUTION: &str = "current_evolution";

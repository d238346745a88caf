//! `gryt status`: what differs between the contract files and the database, the current
//! evolution, drafts, and the sync configuration. Reads only.

use super::{Result, evolution, io};
use crate::contract;
use crate::domain::{GenerationStatus, Version};
use crate::store::{AssignedChange, Evolution, GenerationSummary};
use crate::workspace::config::ExecutionMode;
use crate::workspace::statcache::{self, StatCache};
use crate::workspace::{Workspace, file_hash};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Edited on disk, not yet `gryt generation update`d.
    Modified,
    /// Edited on disk and not valid.
    Invalid,
    /// In the database, file gone.
    Deleted,
    /// A contract file the database does not know.
    Untracked,
}

#[derive(Debug, serde::Serialize)]
pub struct ContractState {
    pub version: Version,
    pub path: String,
    pub state: FileState,
    pub promoted: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct StatusReport {
    pub current_evolution: Option<Evolution>,
    pub contracts: Vec<ContractState>,
    pub drafts: Vec<GenerationSummary>,
    /// The assigned changes of the drafts, proven or not.
    pub assigned: Vec<AssignedChange>,
    pub generations: usize,
    pub promoted: usize,
    pub execution_mode: ExecutionMode,
    pub cloud_url: Option<String>,
    pub cloud_project: Option<String>,
}

pub fn status(ws: &Workspace) -> Result<StatusReport> {
    // The contract files are listed and stat'ed (one stat per file, relative to the
    // directory) on a thread of their own while the database and the stat cache are read:
    // neither needs the other until they are compared.
    let generations_dir = ws.generations_dir();
    let (generations, cache, files) = std::thread::scope(|scope| {
        let listing = scope.spawn(|| crate::workspace::contract_files_in(&generations_dir, true));
        let generations = ws.store.list_generations();
        // An unchanged file (size, mtime, inode) is not read again: its hash from last time.
        let cache = StatCache::load(ws);
        let files = listing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (generations, cache, files)
    });
    let (generations, mut cache, files) = (generations?, cache, files?);
    let mut contracts = Vec::new();
    for g in &generations {
        let listed = files
            .binary_search_by(|(v, _, _)| v.cmp(&g.version))
            .ok()
            .map(|i| &files[i]);
        let found;
        let (path, meta) = match listed {
            Some((_, path, meta)) => (path, meta.as_ref()),
            None => {
                let path = ws.contract_path(&g.version);
                let meta = std::fs::metadata(&path).ok();
                found = (path, meta);
                (&found.0, found.1.as_ref())
            }
        };
        let promoted = g.status == GenerationStatus::Promoted;
        let shown = || std::path::PathBuf::from(ws.display_path(path));
        let hash = match meta {
            Some(meta) if meta.is_file() => match cache.hash(path, meta) {
                Some(h) => Some(h.to_string()),
                None => {
                    let h = file_hash(path).map_err(|e| io("read", &shown())(e))?;
                    if let Some(h) = &h {
                        cache.remember(path, meta, h);
                    }
                    h
                }
            },
            // Missing, or not a regular file: the bounded reader says which.
            _ => file_hash(path).map_err(|e| io("read", &shown())(e))?,
        };
        let state = match hash {
            None => Some(FileState::Deleted),
            Some(h) if Some(&h) == g.file_hash.as_ref() => None,
            // Bytes differ: compare content, so reformatting alone is not a modification.
            Some(_) => match contract::load(path, Some(&g.version)) {
                Ok(c) if c.content_hash() == g.content_hash => None,
                Ok(_) => Some(FileState::Modified),
                Err(_) => Some(FileState::Invalid),
            },
        };
        if let Some(state) = state {
            contracts.push(ContractState {
                version: g.version.clone(),
                path: ws.display_path(path),
                state,
                promoted,
            });
        }
    }
    let names = files
        .iter()
        .filter_map(|(_, path, _)| statcache::key(path))
        .collect();
    cache.retain(&names);
    cache.save();
    let known: std::collections::HashSet<&Version> =
        generations.iter().map(|g| &g.version).collect();
    for (version, path, _) in files {
        if !known.contains(&version) {
            contracts.push(ContractState {
                version,
                path: ws.display_path(&path),
                state: FileState::Untracked,
                promoted: false,
            });
        }
    }
    contracts.sort_by(|a, b| a.version.cmp(&b.version));
    let promoted = generations
        .iter()
        .filter(|g| g.status == GenerationStatus::Promoted)
        .count();
    let total = generations.len();
    let drafts = generations
        .into_iter()
        .filter(|g| g.status == GenerationStatus::Draft)
        .collect();
    Ok(StatusReport {
        current_evolution: evolution::current(ws)?,
        contracts,
        drafts,
        assigned: ws.store.assigned_changes()?,
        generations: total,
        promoted,
        execution_mode: ws.config.execution_mode(),
        cloud_url: ws.config.get("cloud.url").map(str::to_string),
        cloud_project: ws.config.get("cloud.project").map(str::to_string),
    })
}

/// `gryt status --mine`: the changes of drafts assigned to `account` that no passing
/// evolution proves yet.
pub fn mine(ws: &Workspace, account: &str) -> Result<Vec<AssignedChange>> {
    Ok(ws
        .store
        .assigned_changes()?
        .into_iter()
        .filter(|c| c.assignee == account && !c.proven)
        .collect())
}

//! `gryt status`: what differs between the contract files and the database, the current
//! evolution, drafts, and the sync configuration. Reads only.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::{Result, evolution, io};
use crate::contract;
use crate::domain::{GenerationStatus, Version};
use crate::store::{AssignedChange, Evolution, GenerationState, GenerationSummary, Store};
use crate::workspace::config::ExecutionMode;
use crate::workspace::statcache::{FileStat, StatCache};
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

/// A generation as a status lists it: its [`GenerationState`] for the text report (kept
/// beside the database, so an unchanged store is not read row by row), its full
/// [`GenerationSummary`] for `--json`.
pub trait Listed: Sized {
    fn list(store: &Store) -> crate::store::Result<Vec<Self>>;
    /// Its version, status and file hash.
    fn parts(&self) -> (&Version, GenerationStatus, Option<&str>);
    /// The hash of the contract's content, to tell a reformatted file from an edited one;
    /// `None` when the generation is gone.
    fn content_hash(&self, store: &Store) -> Result<Option<String>>;
}

impl Listed for GenerationSummary {
    fn list(store: &Store) -> crate::store::Result<Vec<Self>> {
        store.list_generations()
    }
    fn parts(&self) -> (&Version, GenerationStatus, Option<&str>) {
        (&self.version, self.status, self.file_hash.as_deref())
    }
    fn content_hash(&self, _: &Store) -> Result<Option<String>> {
        Ok(Some(self.content_hash.clone()))
    }
}

impl Listed for GenerationState {
    fn list(store: &Store) -> crate::store::Result<Vec<Self>> {
        store.generation_states()
    }
    fn parts(&self) -> (&Version, GenerationStatus, Option<&str>) {
        (&self.version, self.status, self.file_hash.as_deref())
    }
    fn content_hash(&self, store: &Store) -> Result<Option<String>> {
        // Only for a file whose bytes changed: one lookup, not a column of every row.
        Ok(store.generation(&self.version)?.map(|g| g.content_hash))
    }
}

/// The contract files (version, path, metadata), listed and stat'ed by two threads: a helper
/// started before the workspace opens, and the command's own thread once it has read the
/// store. Whichever is free takes the next files, so the command never waits for the helper
/// to be scheduled (on a busy machine a new thread can wait milliseconds for a CPU), and
/// when both run the stats are shared.
pub struct Listing {
    shared: Arc<Shared>,
    helper: std::thread::JoinHandle<()>,
}

struct Shared {
    dir: PathBuf,
    /// The directory's contract files, read once by whichever thread comes first.
    listed: OnceLock<crate::workspace::Result<Entries>>,
}

struct Entries {
    entries: Vec<(Version, std::fs::DirEntry)>,
    stats: Vec<OnceLock<Option<FileStat>>>,
    /// The first entry no thread has taken yet.
    next: AtomicUsize,
}

/// Entries a thread takes at a time.
const CHUNK: usize = 32;

impl Shared {
    /// Lists the directory unless it is listed, then stats entries until none is left.
    fn work(&self) {
        let Ok(listed) = self.listed.get_or_init(|| {
            let entries = crate::workspace::contract_entries_in(&self.dir)?;
            let stats = entries.iter().map(|_| OnceLock::new()).collect();
            Ok(Entries {
                entries,
                stats,
                next: AtomicUsize::new(0),
            })
        }) else {
            return;
        };
        let n = listed.entries.len();
        loop {
            let start = listed.next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= n {
                return;
            }
            for i in start..(start + CHUNK).min(n) {
                let stat = crate::workspace::stat_entry(&listed.entries[i].1);
                let _ = listed.stats[i].set(stat);
            }
        }
    }
}

/// Version, path and what one stat of the file said, sorted by version.
type Files = Vec<(Version, PathBuf, Option<FileStat>)>;

impl Listing {
    /// Starts listing the contract files of the workspace at `root`.
    pub fn start(root: &Path) -> Listing {
        let shared = Arc::new(Shared {
            dir: crate::workspace::generations_dir_in(root),
            listed: OnceLock::new(),
        });
        let helper = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || shared.work())
        };
        Listing { shared, helper }
    }

    /// Takes what is left of the work and returns every file, sorted by version. The files
    /// the helper took last and has not stat'ed yet are stat'ed here too rather than waited
    /// for, and the helper ends on its own. Only a failed listing waits for it (to take its
    /// error).
    fn finish(self) -> crate::workspace::Result<Files> {
        self.shared.work();
        let listed = match self.shared.listed.get() {
            Some(Ok(listed)) => listed,
            _ => return Err(self.failure()),
        };
        let mut files: Files = listed
            .entries
            .iter()
            .zip(&listed.stats)
            .map(|((v, entry), stat)| {
                let stat = *stat.get_or_init(|| crate::workspace::stat_entry(entry));
                (v.clone(), entry.path(), stat)
            })
            .collect();
        // Unstable: the names are canonical, so no two have the same version.
        files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(files)
    }

    /// Why the directory could not be listed, once the helper has ended.
    fn failure(self) -> crate::workspace::WorkspaceError {
        self.helper
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let shared = Arc::into_inner(self.shared).expect("the helper has ended");
        shared
            .listed
            .into_inner()
            .and_then(std::result::Result::err)
            .expect("work() has tried to list the directory and failed")
    }
}

#[derive(Debug, serde::Serialize)]
pub struct StatusReport<G> {
    pub current_evolution: Option<Evolution>,
    pub contracts: Vec<ContractState>,
    pub drafts: Vec<G>,
    /// The assigned changes of the drafts, proven or not.
    pub assigned: Vec<AssignedChange>,
    pub generations: usize,
    pub promoted: usize,
    pub execution_mode: ExecutionMode,
    pub cloud_url: Option<String>,
    pub cloud_project: Option<String>,
}

/// The status of `ws`, with the contract files from `listing` (started on `ws.root`).
pub fn status<G: Listed>(ws: &Workspace, listing: Listing) -> Result<StatusReport<G>> {
    let generations = G::list(&ws.store)?;
    // An unchanged file (size, mtime, inode) is not read again: its hash from last time.
    let mut cache = StatCache::load(ws);
    let files = listing.finish()?;
    // Files some generation looked up; the others are new.
    let mut claimed = vec![false; files.len()];
    let mut contracts = Vec::new();
    for g in &generations {
        let (version, status, stored_hash) = g.parts();
        let listed = files
            .binary_search_by(|(v, _, _)| v.cmp(version))
            .ok()
            .map(|i| {
                claimed[i] = true;
                &files[i]
            });
        let found;
        let (path, meta) = match listed {
            Some((_, path, meta)) => (path, meta.as_ref()),
            None => {
                let path = ws.contract_path(version);
                let meta = std::fs::metadata(&path).ok().map(|m| FileStat::of(&m));
                found = (path, meta);
                (&found.0, found.1.as_ref())
            }
        };
        let promoted = status == GenerationStatus::Promoted;
        let shown = || PathBuf::from(ws.display_path(path));
        let same = |h: &str| Some(h) == stored_hash;
        // Unchanged since last seen: the hash from then, compared without reading the file.
        let seen = meta.and_then(|meta| cache.hash(path, meta).map(same));
        let same_bytes = match seen {
            Some(same) => Some(same),
            None => {
                // Missing, not a regular file (the bounded reader says which), changed
                // since last seen, or never seen: read and hashed.
                let hash = file_hash(path).map_err(|e| io("read", &shown())(e))?;
                if let (Some(h), Some(meta)) = (&hash, meta) {
                    cache.remember(path, meta, h);
                }
                hash.map(|h| same(&h))
            }
        };
        let state = match same_bytes {
            None => Some(FileState::Deleted),
            Some(true) => None,
            // Bytes differ: compare content, so reformatting alone is not a modification.
            // (A generation removed since it was listed is left to the next status.)
            Some(false) => match contract::load(path, Some(version)) {
                Ok(c) => match g.content_hash(&ws.store)? {
                    Some(stored) if stored != c.content_hash() => Some(FileState::Modified),
                    _ => None,
                },
                Err(_) => Some(FileState::Invalid),
            },
        };
        if let Some(state) = state {
            contracts.push(ContractState {
                version: version.clone(),
                path: ws.display_path(path),
                state,
                promoted,
            });
        }
    }
    // Entries of files no generation looked up (removed or renamed) are dropped.
    cache.save();
    for ((version, path, _), claimed) in files.into_iter().zip(claimed) {
        if !claimed {
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
        .filter(|g| g.parts().1 == GenerationStatus::Promoted)
        .count();
    let total = generations.len();
    let drafts = generations
        .into_iter()
        .filter(|g| g.parts().1 == GenerationStatus::Draft)
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

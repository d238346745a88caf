//! Operations: one function per user-visible action, combining the workspace (files,
//! config), the store and the domain rules. The CLI parses arguments, calls one of these and
//! formats the result; it never touches SQL or files itself.

pub mod audit;
pub mod backup;
pub mod evolution;
pub mod generation;
pub mod pipelines;
pub mod promote;
pub mod run;
pub mod status;

use crate::contract::ContractError;
use crate::domain::Version;
use crate::domain::gates::GateResult;
use crate::domain::version::VersionError;
use crate::git::GitError;
use crate::store::StoreError;
use crate::workspace::config::ConfigError;
use crate::workspace::{IoError, WorkspaceError};

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Backup(#[from] crate::store::backup::BackupError),
    #[error("a sync is running in this repository")]
    SyncRunning,
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    BadVersion(#[from] VersionError),
    #[error("generation {0} does not exist")]
    GenerationNotFound(Version),
    #[error("generation {version} already exists")]
    VersionExists {
        version: Version,
        /// Free versions to pick instead (`generation::free_versions`).
        free: Vec<Version>,
    },
    #[error("a contract file for {version} already exists at {path}")]
    ContractFileExists { version: Version, path: String },
    #[error("generation {version} is promoted and cannot be {action}")]
    Promoted {
        version: Version,
        action: &'static str,
    },
    #[error(
        "generation {version} cannot be {action}: its promotion was sent to the cloud and the answer never came"
    )]
    PromotionInFlight {
        version: Version,
        action: &'static str,
    },
    #[error("generation {version} is {status} and cannot be {action}")]
    NotDraft {
        version: Version,
        status: &'static str,
        action: &'static str,
    },
    #[error("generation {version} has been synced with the cloud and cannot be {action}")]
    Synced {
        version: Version,
        action: &'static str,
    },
    #[error("generation {version} has no change {change} (its changes: {known})")]
    UnknownChange {
        version: Version,
        change: String,
        known: String,
    },
    #[error("{path}: cannot remove {} from {version}: evolutions prove {}", list.join(", "), if list.len() == 1 { "it" } else { "them" })]
    ChangeHasEvolutions {
        version: Version,
        path: String,
        list: Vec<String>,
    },
    #[error("{path} has edits that are not in the database")]
    ModifiedOnDisk { path: String },
    #[error("the contract file {path} is missing")]
    ContractMissing { path: String },
    #[error("no evolution named `{0}` (give a code name or an rc tag like v1.2.0-rc.1)")]
    EvolutionNotFound(String),
    #[error("evolution {code_name} ({tag}) is already decided: {status}")]
    AlreadyDecided {
        code_name: String,
        tag: String,
        status: &'static str,
    },
    #[error("evolution {code_name} ({tag}) is running in another process")]
    EvolutionRunning { code_name: String, tag: String },
    #[error("evolution {code_name} belongs to {owner}; only its owner may change it")]
    NotOwner { code_name: String, owner: String },
    #[error("pipeline `{name}` does not exist ({path})")]
    PipelineNotFound { name: String, path: String },
    #[error("pipeline `{0}` already exists")]
    PipelineExists(String),
    #[error("no pipeline to run")]
    NoPipeline { available: Vec<String> },
    #[error("the git repository has no commit to tag yet")]
    NoCommits,
    #[error("git tag {0} already exists")]
    TagExists(String),
    #[error("promotion gates failed for {version}")]
    GatesFailed {
        version: Version,
        gates: Vec<GateResult>,
    },
    #[error("evolutions of {version} are still running: {list}")]
    RunningEvolutions { version: Version, list: String },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<OpError>),
    #[error("{version} is {status}: a hotfix starts from a promoted generation")]
    HotfixBaseNotPromoted {
        version: Version,
        status: &'static str,
    },
    #[error("invalid pipeline name `{name}`: {reason}")]
    BadPipelineName { name: String, reason: String },
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error(transparent)]
    Io(#[from] IoError),
}

pub type Result<T> = std::result::Result<T, OpError>;

pub(crate) use crate::workspace::io;

pub(crate) fn check_pipeline_name(name: &str) -> Result<()> {
    crate::domain::check_pipeline_name(name).map_err(|reason| OpError::BadPipelineName {
        name: name.escape_debug().to_string(),
        reason,
    })
}

//! The one error type commands return, and the one mapping from library errors to messages,
//! hints and exit codes (see the README for the codes): local work here, the cloud client's
//! errors in [`cloud`], the sync engine's in [`sync`]. Commands add hints of their own with
//! [`CommandError::hint`]; they do not map library errors themselves.

mod cloud;
mod sync;

pub use cloud::client_error;
pub use sync::promote_error;

use crate::ops::OpError;
use crate::workspace::WorkspaceError;
use crate::workspace::config::{ConfigError, key_list};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Output was cut off by a closed pipe: exit quietly.
    BrokenPipe,
    Error,
    Usage,
    Rejected,
    Unreachable,
    GatesFailed,
    /// `gryt sync verify` found the workspace and the cloud holding different records.
    Differs,
}

impl ExitKind {
    pub fn code(self) -> i32 {
        match self {
            ExitKind::BrokenPipe => 0,
            ExitKind::Error => 1,
            ExitKind::Usage => 2,
            ExitKind::Rejected => 3,
            ExitKind::Unreachable => 4,
            ExitKind::GatesFailed => 5,
            ExitKind::Differs => 6,
        }
    }
}

#[derive(Debug)]
pub struct CommandError {
    pub kind: ExitKind,
    pub message: String,
    pub hints: Vec<String>,
}

/// The message alone (as the sync log records it).
impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl CommandError {
    pub fn new(kind: ExitKind, message: impl Into<String>) -> Self {
        CommandError {
            kind,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    pub fn user(message: impl Into<String>) -> Self {
        Self::new(ExitKind::Error, message)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitKind::Usage, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub fn from_io(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Self::new(ExitKind::BrokenPipe, "")
        } else {
            Self::user(format!("cannot write output: {e}"))
        }
    }
}

impl From<OpError> for CommandError {
    fn from(e: OpError) -> Self {
        let message = e.to_string();
        let err = CommandError::user(message);
        match e {
            OpError::Workspace(WorkspaceError::NotARepo) => err,
            OpError::Workspace(WorkspaceError::Config(c)) | OpError::Config(c) => config_hint(err, &c),
            OpError::Workspace(WorkspaceError::Store(crate::store::StoreError::TooNew { .. }))
            | OpError::Store(crate::store::StoreError::TooNew { .. }) => {
                err.hint("upgrade gryt to open this repository")
            }
            OpError::Contract(_) => err.hint("fix the file, then run the command again"),
            OpError::SyncRunning => err.hint("wait for the sync to finish, then restore again"),
            OpError::Backup(b) => backup_hint(err, &b),
            OpError::BadVersion(_) | OpError::BadPipelineName { .. } => {
                CommandError { kind: ExitKind::Usage, ..err }
            }
            OpError::GenerationNotFound(_) => err.hint("see the generations with `gryt generation list`"),
            OpError::VersionExists { free, .. } => {
                let free: Vec<String> = free.iter().map(ToString::to_string).collect();
                err.hint(format!("pick a free version, e.g. {}", free.join(" or ")))
            }
            OpError::ContractFileExists { version, .. } => {
                err.hint(format!("import it with `gryt generation update {version}`, or remove the file"))
            }
            OpError::Promoted { .. } => {
                err.hint("promoted generations are immutable; release the fix as a new version (`gryt hotfix`)")
            }
            OpError::PromotionInFlight { version, .. } => err.hint(format!(
                "run `gryt promote {version}` again: it finishes the promotion if the cloud took it, \
                 or asks again"
            )),
            OpError::Synced { .. } => err.hint("others may have it: create a new version instead"),
            OpError::UnknownChange { version, .. } => err.hint(format!(
                "add the change to .gryt/generations/{} and run `gryt generation update {version}`",
                version.file_name()
            )),
            OpError::ChangeHasEvolutions { .. } => {
                err.hint("keep the change in the contract: its evolutions are proof that must not drift")
            }
            OpError::ModifiedOnDisk { path } => err.hint(format!(
                "apply the edits with `gryt generation update`, or discard them with `git checkout -- {path}`"
            )),
            OpError::ContractMissing { path } => err.hint(format!("restore it, e.g. `git checkout -- {path}`")),
            OpError::EvolutionNotFound(_) => err.hint("see the evolutions with `gryt evolution list VERSION`"),
            OpError::AlreadyDecided { .. } => {
                err.hint("an evolution proves once; start another with `gryt evolution start VERSION --change ID`")
            }
            OpError::NotOwner { .. } => err.hint("start your own evolution with `gryt evolution start`"),
            OpError::PipelineNotFound { name, .. } => {
                err.hint(format!("create it with `gryt pipeline new {name}`"))
            }
            OpError::NoPipeline { available } if available.is_empty() => err
                .hint("create one with `gryt pipeline new NAME`, then set `pipeline_template: NAME` in the contract"),
            OpError::NoPipeline { available } => err.hint(format!(
                "name one (`gryt run {}`), or set `pipeline:` on the change or `pipeline_template:` in the contract",
                available[0]
            )),
            OpError::NoCommits => {
                err.hint("commit first (the release tag points at a commit), or promote with --no-tag")
            }
            OpError::TagExists(_) => err.hint("promote another version, or remove the tag in git if it is wrong"),
            OpError::GatesFailed { version, .. } => CommandError {
                kind: ExitKind::GatesFailed,
                ..err.hint(format!(
                    "prove the changes: `gryt evolution start {version} --change ID`, then `gryt run`"
                ))
            },
            OpError::RunningEvolutions { .. } => err.hint("wait for the runs to finish"),
            OpError::HotfixBaseNotPromoted { version, .. } => err.hint(format!(
                "a draft is still open for changes: add the fix to it (edit its contract, then \
                 `gryt generation update {version}`)"
            )),
            OpError::Many(_) => err.hint("fix the files, then run the command again"),
            OpError::Workspace(WorkspaceError::Store(crate::store::StoreError::NotADatabase {
                ..
            })) => err.hint(
                "restore .gryt/gryt.db from a backup; or move it away, run `gryt init` and \
                 `gryt generation update --all` to re-import the contract files",
            ),
            OpError::Store(crate::store::StoreError::Corrupt(_))
            | OpError::Workspace(WorkspaceError::Store(crate::store::StoreError::Corrupt(_))) => {
                err.hint("the database .gryt/gryt.db was damaged or edited; restore it from a backup")
            }
            _ => err,
        }
    }
}

fn backup_hint(err: CommandError, e: &crate::store::backup::BackupError) -> CommandError {
    use crate::store::backup::BackupError as B;
    match e {
        B::Exists(_) => err.hint("choose another -o FILE, or move the old backup away"),
        B::ChecksumMissing(_) | B::ChecksumMalformed(_) => {
            err.hint("restore only files written by `gryt backup`, with their FILE.sha256")
        }
        B::ChecksumMismatch { .. } => err.hint(
            "the file changed since it was backed up (damaged or truncated): use another backup",
        ),
        B::NotWorkspaceDatabase { .. } | B::Integrity { .. } => {
            err.hint("use another backup; nothing was changed")
        }
        B::TooNew { .. } => err.hint("restore it with the newer gryt that wrote it"),
        _ => err,
    }
}

fn config_hint(err: CommandError, e: &ConfigError) -> CommandError {
    match e {
        ConfigError::UnknownKey(k) if k.contains("token") || k.contains("password") || k.contains("secret") => err
            .hint("secrets never go in config files; use `gryt cloud login` or the GRYT_TOKEN variable")
            .hint(format!("valid keys: {}", key_list())),
        ConfigError::UnknownKey(_) => err.hint(format!("valid keys: {}", key_list())),
        _ => err,
    }
}

impl From<crate::workspace::WorkspaceError> for CommandError {
    fn from(e: crate::workspace::WorkspaceError) -> Self {
        OpError::from(e).into()
    }
}

/// The server's start-up and administration errors (`gryt cloud serve`, `gryt cloud admin`).
#[cfg(feature = "server")]
impl From<crate::server::ServerError> for CommandError {
    fn from(e: crate::server::ServerError) -> Self {
        CommandError::user(e.to_string())
    }
}

impl From<ConfigError> for CommandError {
    fn from(e: ConfigError) -> Self {
        OpError::from(e).into()
    }
}

impl From<crate::bundle::BundleError> for CommandError {
    fn from(e: crate::bundle::BundleError) -> Self {
        use crate::bundle::BundleError as B;
        match e {
            B::Sync(s) => s.into(),
            B::Store(s) => OpError::from(s).into(),
            e @ B::Refused { .. } => CommandError::user(e.to_string())
                .hint("nothing was changed; export the bundle again from its source"),
            e @ B::UnknownVersion(_) => CommandError::user(e.to_string())
                .hint("list the generations with `gryt generation list`"),
            e @ B::NothingSelected => CommandError::usage(e.to_string()),
            other => CommandError::user(other.to_string()),
        }
    }
}

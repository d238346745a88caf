//! The client side of Gryt Cloud (docs/SYNC.md): the HTTP client and credentials, and the sync
//! engine — a pure planner (local state + remote changes → operations) and an executor that
//! applies a plan in one transaction. Depends on `api`, `store`, `domain`, `contract` and
//! `workspace`; never on `server`.

pub mod client;
pub mod convert;
pub mod copy;
pub mod credentials;
pub mod engine;
pub mod merge;
pub mod planner;
pub mod remote;

use std::path::PathBuf;

use crate::workspace::IoError;

pub use client::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Workspace(#[from] crate::workspace::WorkspaceError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("another sync is running in this repository (lock: {})", path.display())]
    Locked { path: PathBuf },
    #[error("inconsistent sync data: {0}")]
    Corrupt(String),
    /// A pull narrowed to versions (`gryt sync pull VERSION…`) named some the cloud lacks.
    #[error("not in the cloud: {}", .0.join(", "))]
    NotInCloud(Vec<String>),
    /// A pull narrowed to versions cannot start or go on with a full resync.
    #[error("this repository needs a full resync first ({0})")]
    NeedsFullPull(String),
}

pub type Result<T> = std::result::Result<T, SyncError>;

pub(crate) use crate::workspace::io;

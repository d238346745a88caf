//! The client side of Gryt Cloud (docs/SYNC.md): the HTTP client and credentials, and the sync
//! engine — a pure planner (local state + remote changes → operations) and an executor that
//! applies a plan in one transaction. Depends on `api`, `store`, `domain`, `contract` and
//! `workspace`; never on `server`.

pub mod client;
pub mod convert;
pub mod credentials;
pub mod engine;
pub mod planner;
pub mod remote;

use std::path::PathBuf;

pub use client::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Workspace(#[from] crate::workspace::WorkspaceError),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another sync is running in this repository (lock: {})", path.display())]
    Locked { path: PathBuf },
    #[error("inconsistent sync data: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, SyncError>;

pub(crate) fn io(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> SyncError {
    let path = path.to_path_buf();
    move |source| SyncError::Io {
        action,
        path,
        source,
    }
}

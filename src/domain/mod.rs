//! The release domain: versions, changes, generations, evolutions, promotion gates and
//! code names. Pure values and rules — no I/O, no clock, no randomness of its own (callers
//! pass an RNG), so every rule here is testable with plain table cases.

pub mod change;
pub mod codename;
pub mod evolution;
pub mod gates;
pub mod generation;
pub mod version;

pub use change::{Change, ChangeId, ChangeType};
pub use evolution::{EvolutionStatus, RcTag};
pub use generation::GenerationStatus;
pub use version::Version;

/// Sync state of a local record (docs/SYNC.md). Lives in the domain because both the store
/// and the CLI speak it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    NotSynced,
    Synced,
    Pending,
    Conflict,
    Failed,
}

impl SyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::NotSynced => "not_synced",
            SyncStatus::Synced => "synced",
            SyncStatus::Pending => "pending",
            SyncStatus::Conflict => "conflict",
            SyncStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "not_synced" => SyncStatus::NotSynced,
            "synced" => SyncStatus::Synced,
            "pending" => SyncStatus::Pending,
            "conflict" => SyncStatus::Conflict,
            "failed" => SyncStatus::Failed,
            _ => return None,
        })
    }
}

impl std::fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Pipeline names double as file names. The error is the reason only; callers name the value.
/// (`.gryt/pipelines/NAME.yaml`): ASCII letters, digits,
/// `-`, `_` and `.`, starting with a letter or digit, at most 64 characters.
pub fn check_pipeline_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(
            "use letters, digits, `-`, `_` and `.` (at most 64, starting with a letter or digit)"
                .to_string(),
        )
    }
}

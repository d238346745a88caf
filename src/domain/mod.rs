//! The release domain: versions, changes, generations, evolutions, promotion gates and
//! code names. Pure values and rules — no I/O, no clock, no randomness of its own (callers
//! pass an RNG), so every rule here is testable with plain table cases.

pub mod change;
pub mod codename;
pub mod evolution;
pub mod gates;
pub mod generation;
pub mod sync;
pub mod version;

pub use change::{Change, ChangeId, ChangeType};
pub use evolution::{EvolutionStatus, RcTag};
pub use generation::GenerationStatus;
pub use sync::{ConflictReason, RecordKind, SyncStatus, UnknownValue};
pub use version::Version;

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

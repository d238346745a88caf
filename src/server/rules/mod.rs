//! The sync rules, written once against [`ProjectTx`] so every storage backend enforces them
//! identically: compare-and-swap on `base_seq`, the per-project version lock, immutability
//! of promoted generations, evolution ownership, rc-tag and code-name uniqueness,
//! idempotent replays, and the promotion gates on the server's own data; and the team rules
//! (membership, roles, a team always keeps an owner) against [`TeamTx`](super::storage::TeamTx).

mod import;
mod promote;
mod push;
pub mod status;
pub mod teams;

pub use import::{DecodedImport, decode_import, import};
pub use promote::{delete_generation, promote};
pub use push::{DecodedPush, decode_push, push};

use serde::Serialize;

use super::ServiceError;
use super::storage::ProjectTx;
use crate::api::ErrorCode;
use crate::api::error::{BehindDetails, VersionHolderDetails};
use crate::api::records::GenerationRecord;
use crate::domain::{GenerationStatus, Version};

/// Who is acting: the authenticated account.
#[derive(Debug, Clone)]
pub struct Actor {
    pub account_id: String,
    pub username: String,
}

/// The next free patch and the next free minor after `version`, where they exist
/// ([`crate::domain::generation::free_versions`]).
pub fn suggested_versions(
    tx: &mut dyn ProjectTx,
    version: &Version,
) -> Result<Vec<String>, ServiceError> {
    let mut failed = None;
    let free =
        crate::domain::generation::free_versions(version, |v| match tx.generation_by_version(v) {
            Ok(held) => held.is_some(),
            Err(e) => {
                failed.get_or_insert(e);
                false
            }
        });
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(free.iter().map(ToString::to_string).collect())
}

pub(crate) fn holder_details(
    tx: &mut dyn ProjectTx,
    g: &GenerationRecord,
) -> Result<VersionHolderDetails, ServiceError> {
    Ok(VersionHolderDetails {
        version: g.version.to_string(),
        generation_id: g.id.to_string(),
        created_by: g.created_by.clone(),
        created_at: g.created_at.clone(),
        promoted: g.status == GenerationStatus::Promoted,
        promoted_by: g.promoted_by.clone(),
        promoted_at: g.promoted_at.clone(),
        suggested_versions: suggested_versions(tx, &g.version)?,
    })
}

pub(crate) fn behind(head: u64, base_seq: u64) -> ServiceError {
    let missing = head.saturating_sub(base_seq);
    ServiceError::with(
        ErrorCode::Behind,
        format!(
            "the project has {missing} change(s) you have not pulled (head {head}, yours {base_seq})"
        ),
        BehindDetails {
            head,
            base_seq,
            missing,
        },
    )
}

pub(crate) fn details<T: Serialize>(value: T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

#[cfg(test)]
mod tests;

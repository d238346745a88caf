//! Reading a workspace of gryt-ci (gryt's Python predecessor) into gryt records, for
//! `gryt import --from-gryt-ci`. [`read`] opens gryt-ci's `.gryt/gryt.db` read-only, maps its
//! generations, evolutions and pipeline runs to the wire records of `api::records`, and says
//! in [`GrytCi::notes`] what gryt-ci held that gryt has no place for. It writes nothing.
//!
//! Invariants: every record returned passes [`Record::validate`]; a row that cannot be mapped
//! is an error naming its table, its gryt-ci id and the field, never a silent drop; a status is
//! never changed without a note; the same store read twice gives the same records (ids are
//! gryt-ci's own UUIDs, or derived from them, see [`derived_id`]). docs/SYNC.md ("Coming from
//! gryt-ci") has the mapping table.

mod contracts;
mod map;
pub use map::UNKNOWN_USER;
mod store;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use crate::api::records::Record;

/// What a gryt-ci workspace becomes: records in apply order (generations with their
/// contracts, then evolutions, then pipeline runs) and one line for each thing that had no
/// equivalent in gryt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrytCi {
    pub records: Vec<Record>,
    pub notes: Vec<String>,
}

/// Why a gryt-ci workspace cannot be read. Nothing was changed, here or in the store.
#[derive(Debug, thiserror::Error)]
pub enum GrytCiError {
    #[error("{}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "{}: no gryt-ci store here (expected .gryt/gryt.db in it)",
        path.display()
    )]
    NoStore { path: PathBuf },
    #[error("{}: not a SQLite database", path.display())]
    NotSqlite { path: PathBuf },
    #[error("{}: the database is damaged or truncated: {reason}", path.display())]
    Damaged { path: PathBuf, reason: String },
    #[error("{}: not a gryt-ci store: {what}", path.display())]
    NotGrytCi { path: PathBuf, what: String },
    #[error("{}: {reason}", path.display())]
    Sqlite { path: PathBuf, reason: String },
    /// A row gryt cannot take: gryt-ci's table, its id for the row, and the field.
    #[error("gryt-ci {table} `{id}`: {field}: {reason}")]
    Invalid {
        table: &'static str,
        id: String,
        field: String,
        reason: String,
    },
}

pub type Result<T, E = GrytCiError> = std::result::Result<T, E>;

/// Reads the gryt-ci workspace at `path` (the directory holding `.gryt/`, the `.gryt`
/// directory, or its `gryt.db`).
pub fn read(path: &Path) -> Result<GrytCi> {
    let db = store::locate(path)?;
    let raw = store::read(&db)?;
    let mut got = map::map(raw)?;
    if let Some(dir) = db.parent().map(|p| p.join("generations")) {
        let generations: Vec<_> = got
            .records
            .iter()
            .filter_map(|r| match r {
                Record::Generation(g) => Some(g),
                _ => None,
            })
            .collect();
        let notes = contracts::compare(&dir, &generations);
        got.notes.extend(notes);
    }
    Ok(got)
}

/// Namespace of the ids derived for gryt-ci rows whose id is not a UUID.
const ID_NAMESPACE: &str = "gryt import from gryt-ci";

/// The id of a gryt-ci row: its own id when that is a UUID (gryt-ci makes UUIDv4s), else a
/// UUID derived from the first 16 bytes of SHA-256(`ID_NAMESPACE` NUL kind NUL id), marked as
/// version 8 (custom) with the RFC 9562 variant. The second value says whether it was derived.
fn derived_id(kind: &str, their_id: &str) -> (Uuid, bool) {
    if let Some(id) = Uuid::try_parse(their_id).ok().filter(|id| !id.is_nil()) {
        return (id, false);
    }
    let mut h = Sha256::new();
    h.update(ID_NAMESPACE.as_bytes());
    h.update([0]);
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(their_id.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    (uuid::Builder::from_custom_bytes(bytes).into_uuid(), true)
}

/// A gryt-ci time. It writes `2026-03-01 12:00:00[.ffffff]` (SQLite's clock, UTC; Python's
/// `datetime.now()`, local) and `2026-03-01T12:00:00.ffffff` (`utcnow().isoformat()`), all
/// without a zone; those are read as UTC (the `bool` says so). A time with an offset is
/// taken as it is.
fn parse_time(text: &str) -> Option<(OffsetDateTime, bool)> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some((t, false));
    }
    let spaced = text.replacen('T', " ", 1);
    let with_fraction =
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");
    let whole = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(&spaced, with_fraction)
        .or_else(|_| PrimitiveDateTime::parse(&spaced, whole))
        .ok()
        .map(|t| (t.assume_utc(), true))
}

//! The vocabulary of sync shared by the store, the engine, the wire format and the CLI: which
//! kind a record is, its local sync state, and why a pull or push left it in conflict. Each
//! value has one spelling, used on the wire, in the database and in `--json` output; parsing
//! an unknown spelling is an error (a value this version of gryt does not know is never
//! taken for another).

use std::fmt;
use std::str::FromStr;

/// A spelling that names none of a type's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

/// Declares the string forms of a fieldless enum: `as_str`, `ALL`, `Display` and `FromStr`.
macro_rules! spelled {
    ($ty:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(UnknownValue { what: $what, value: s.to_string() }),
                }
            }
        }
    };
}

/// The kinds of record a cloud project holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Generation,
    Evolution,
    PipelineRun,
}

spelled!(RecordKind, "record kind", {
    Generation => "generation",
    Evolution => "evolution",
    PipelineRun => "pipeline_run",
});

/// Sync state of a local record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// Local only: never pushed.
    NotSynced,
    /// The cloud has exactly this, at its base revision.
    Synced,
    /// Synced once, changed here since.
    Pending,
    /// A pull found it changed on both sides (or its version taken).
    Conflict,
    /// The cloud refused it; the record's `sync_error` says why.
    Failed,
}

spelled!(SyncStatus, "sync status", {
    NotSynced => "not_synced",
    Synced => "synced",
    Pending => "pending",
    Conflict => "conflict",
    Failed => "failed",
});

impl SyncStatus {
    /// [`FromStr`] without the error, for callers that name the value themselves.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

/// Why a record is held back as a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictReason {
    /// Changed here (unpushed edits or unapplied file edits) and in the cloud.
    BothChanged,
    /// The cloud holds this version for a different generation than this workspace.
    VersionTaken,
    /// The cloud removed changes that local evolutions prove.
    ChangesInUse,
    /// Deleted in the cloud while this workspace has work on it.
    DeletedRemotely,
    /// An evolution of a generation this workspace does not have (it is in conflict).
    MissingGeneration,
    /// The cloud refused a push of this record for good: it will never accept it as it is
    /// (its generation is promoted, or it belongs to another account).
    Refused,
}

spelled!(ConflictReason, "conflict reason", {
    BothChanged => "both_changed",
    VersionTaken => "version_taken",
    ChangesInUse => "changes_in_use",
    DeletedRemotely => "deleted_remotely",
    MissingGeneration => "missing_generation",
    Refused => "refused",
});

impl ConflictReason {
    /// For people: `both changed`.
    pub fn label(self) -> String {
        self.as_str().replace('_', " ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Display, FromStr and serde agree on every value, and unknown spellings are refused.
    #[test]
    fn spellings_round_trip() {
        fn check<T>(all: &[T])
        where
            T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr + serde::Serialize,
            T: serde::de::DeserializeOwned,
        {
            for v in all {
                let text = v.to_string();
                assert_eq!(text.parse::<T>().ok(), Some(*v));
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(text));
                let back: T = serde_json::from_value(serde_json::json!(text)).unwrap();
                assert_eq!(back, *v);
            }
        }
        check(RecordKind::ALL);
        check(SyncStatus::ALL);
        check(ConflictReason::ALL);
        let err = "pipeline_runs".parse::<RecordKind>().unwrap_err();
        assert_eq!(err.to_string(), "unknown record kind `pipeline_runs`");
        assert!("".parse::<ConflictReason>().is_err());
        assert!("Synced".parse::<SyncStatus>().is_err());
    }
}

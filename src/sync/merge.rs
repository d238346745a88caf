//! The three-way merge of a draft generation changed both here and in the cloud (`gryt sync
//! resolve ID --strategy merge`, and `sync.auto_resolve merge` on a pull). Pure: the base
//! (what the cloud held when the record was last in sync here, the store's `sync_base`), your
//! copy and the cloud's in; the merged contract or the fields that conflict out.
//!
//! Values are compared as `gryt sync diff` compares them (`engine::compared_fields`: absent
//! and null dropped, a generation's changes keyed by change id), field by field:
//!
//! - equal on both sides: that value;
//! - changed on one side only (the other still equals the base): that side's value — a change
//!   added on one side is kept, one removed on one side and untouched on the other is removed;
//! - changed differently on both sides: a conflict, named like a diff's field (`description`,
//!   `changes.FEAT-1.title`, or `changes.FEAT-1` for a change removed on one side and edited on
//!   the other).
//!
//! Changes keep your order; those only the cloud has follow, in the cloud's order.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::api::records::{GenerationRecord, RecordKind};
use crate::domain::generation::Contract;
use crate::domain::{Change, GenerationStatus};

/// One field changed differently on both sides (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldConflict {
    pub field: String,
    pub base: Option<Value>,
    pub local: Option<Value>,
    pub remote: Option<Value>,
    /// Why, when it is not simply two different values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

/// Why two copies do not merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeError {
    /// Fields changed differently on both sides.
    Conflicts(Vec<FieldConflict>),
    /// Not two drafts: a promoted or abandoned generation is never merged.
    NotDraft {
        local: GenerationStatus,
        remote: GenerationStatus,
    },
    /// The merged contract breaks a contract rule (say, no change left).
    Invalid(String),
}

/// Merges `local` and `remote` against `base` (the compared fields of the cloud's copy when
/// it was last in sync here). `in_use`: change ids local evolutions prove — the merge never
/// removes one of those.
pub fn merge_generation(
    base: &Value,
    local: &GenerationRecord,
    remote: &GenerationRecord,
    in_use: &BTreeSet<String>,
) -> Result<Contract, MergeError> {
    if local.status != GenerationStatus::Draft || remote.status != GenerationStatus::Draft {
        return Err(MergeError::NotDraft {
            local: local.status,
            remote: remote.status,
        });
    }
    let fields = |r: &GenerationRecord| {
        crate::sync::engine::compared_fields(
            RecordKind::Generation,
            &serde_json::to_value(r).unwrap_or_default(),
        )
    };
    let base = strip_nulls(base.clone());
    let (l, r) = (fields(local), fields(remote));
    let mut conflicts = Vec::new();
    let merged = merge_fields(&base, &l, &r, &mut conflicts);
    if merged.get("version") != l.get("version") && !conflicts.iter().any(|c| c.field == "version")
    {
        conflicts.push(FieldConflict {
            field: "version".into(),
            base: base.get("version").cloned(),
            local: l.get("version").cloned(),
            remote: r.get("version").cloned(),
            note: Some("renamed on one side: only copies of the same version merge"),
        });
    }
    let changes = merged.get("changes").and_then(Value::as_object);
    for id in in_use {
        let gone = changes.is_none_or(|c| !c.contains_key(id));
        if gone && l["changes"].get(id).is_some() {
            conflicts.push(FieldConflict {
                field: format!("changes.{id}"),
                base: base["changes"].get(id).cloned(),
                local: l["changes"].get(id).cloned(),
                remote: r["changes"].get(id).cloned(),
                note: Some("removed in the cloud, but evolutions here prove it"),
            });
        }
    }
    if !conflicts.is_empty() {
        conflicts.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(MergeError::Conflicts(conflicts));
    }
    let contract = to_contract(&merged, local, remote)?;
    let record = GenerationRecord {
        version: contract.version.clone(),
        description: contract.description.clone(),
        pipeline_template: contract.pipeline_template.clone(),
        changes: contract.changes.clone(),
        ..local.clone()
    };
    record
        .validate()
        .map_err(|p| MergeError::Invalid(p.to_string()))?;
    Ok(contract)
}

/// The three-way merge of two objects of compared fields against `base`; conflicts are
/// added to `out` (named from `path`) and leave the local value in the result.
pub fn merge_fields(
    base: &Value,
    local: &Value,
    remote: &Value,
    out: &mut Vec<FieldConflict>,
) -> Value {
    merge_object(
        "",
        base.as_object(),
        local.as_object(),
        remote.as_object(),
        out,
    )
}

fn merge_object(
    path: &str,
    base: Option<&Map<String, Value>>,
    local: Option<&Map<String, Value>>,
    remote: Option<&Map<String, Value>>,
    out: &mut Vec<FieldConflict>,
) -> Value {
    let keys: BTreeSet<&String> = [base, local, remote]
        .into_iter()
        .flatten()
        .flat_map(|m| m.keys())
        .collect();
    let mut merged = Map::new();
    for k in keys {
        let name = match path {
            "" => k.clone(),
            p => format!("{p}.{k}"),
        };
        let [b, l, r] = [base, local, remote]
            .map(|m| m.and_then(|m| m.get(k.as_str())).filter(|v| !v.is_null()));
        if let Some(v) = merge_value(&name, b, l, r, out) {
            merged.insert(k.clone(), v);
        }
    }
    Value::Object(merged)
}

/// One value: equal sides agree, a side equal to the base yields to the other, and two
/// objects changed on both sides are merged member by member.
fn merge_value(
    path: &str,
    base: Option<&Value>,
    local: Option<&Value>,
    remote: Option<&Value>,
    out: &mut Vec<FieldConflict>,
) -> Option<Value> {
    if local == remote {
        return local.cloned();
    }
    if local == base {
        return remote.cloned();
    }
    if remote == base {
        return local.cloned();
    }
    match (local, remote) {
        (Some(Value::Object(l)), Some(Value::Object(r))) => Some(merge_object(
            path,
            base.and_then(Value::as_object),
            Some(l),
            Some(r),
            out,
        )),
        _ => {
            out.push(FieldConflict {
                field: path.to_string(),
                base: base.cloned(),
                local: local.cloned(),
                remote: remote.cloned(),
                note: match (local, remote) {
                    (None, _) => Some("removed here, changed in the cloud"),
                    (_, None) => Some("changed here, removed in the cloud"),
                    _ => None,
                },
            });
            local.cloned()
        }
    }
}

/// The merged fields as a contract: changes in your order, then the cloud's new ones.
fn to_contract(
    merged: &Value,
    local: &GenerationRecord,
    remote: &GenerationRecord,
) -> Result<Contract, MergeError> {
    let invalid = |e: serde_json::Error| MergeError::Invalid(e.to_string());
    let empty = Map::new();
    let changes = merged
        .get("changes")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let order: Vec<&str> = local
        .changes
        .iter()
        .chain(&remote.changes)
        .map(|c| c.id.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    let mut list: Vec<Change> = Vec::with_capacity(changes.len());
    for id in order {
        let Some(c) = changes.get(id) else { continue };
        if !seen.insert(id) {
            continue;
        }
        let mut c = c.clone();
        if let Some(m) = c.as_object_mut() {
            m.insert("id".into(), Value::String(id.to_string()));
        }
        list.push(serde_json::from_value(c).map_err(invalid)?);
    }
    Ok(Contract {
        version: serde_json::from_value(merged.get("version").cloned().unwrap_or_default())
            .map_err(invalid)?,
        description: merged
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        pipeline_template: merged
            .get("pipeline_template")
            .and_then(Value::as_str)
            .map(str::to_string),
        changes: list,
    })
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests;

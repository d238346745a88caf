use serde_json::json;

use super::*;

/// A draft v1.0.0 with `changes` (`[id, title]` or full objects) and `extra` top-level fields.
fn record(changes: Value, extra: Value) -> GenerationRecord {
    let changes: Vec<Value> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| match c {
            Value::Array(pair) => json!({"type": "add", "id": pair[0], "title": pair[1]}),
            other => other.clone(),
        })
        .collect();
    let mut v = json!({
        "id": "01930000-0000-7000-8000-000000000001",
        "version": "1.0.0",
        "changes": changes,
        "status": "draft",
        "created_at": "2026-01-01T00:00:00Z",
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value(v).unwrap()
}

/// The base as the store keeps it: the compared fields (nulls included, as SQLite writes them).
fn base_of(r: &GenerationRecord) -> Value {
    let mut v = crate::sync::engine::compared_fields(
        RecordKind::Generation,
        &serde_json::to_value(r).unwrap(),
    );
    v["pipeline_template"] = Value::Null;
    v
}

fn merge(
    base: &GenerationRecord,
    local: &GenerationRecord,
    remote: &GenerationRecord,
) -> Result<Contract, MergeError> {
    merge_generation(&base_of(base), local, remote, &BTreeSet::new())
}

fn ids(c: &Contract) -> Vec<&str> {
    c.changes.iter().map(|c| c.id.as_str()).collect()
}

fn conflicts(e: MergeError) -> Vec<FieldConflict> {
    match e {
        MergeError::Conflicts(c) => c,
        other => panic!("expected conflicts, got {other:?}"),
    }
}

#[test]
fn changes_added_on_either_side_are_kept() {
    let base = record(json!([["A-1", "a"]]), json!({}));
    let local = record(json!([["A-1", "a"], ["L-1", "mine"]]), json!({}));
    let remote = record(json!([["R-1", "theirs"], ["A-1", "a"]]), json!({}));
    let c = merge(&base, &local, &remote).unwrap();
    assert_eq!(ids(&c), ["A-1", "L-1", "R-1"]);
    assert_eq!(c.changes[2].title, "theirs");
}

#[test]
fn a_field_changed_on_one_side_takes_that_side() {
    let base = record(
        json!([["A-1", "a"], ["B-1", "b"]]),
        json!({"description": "old"}),
    );
    let local = record(
        json!([["A-1", "a local"], ["B-1", "b"]]),
        json!({"description": "old"}),
    );
    let remote = record(
        json!([["A-1", "a"], {"type": "fix", "id": "B-1", "title": "b", "assignee": "bob"}]),
        json!({"description": "new", "pipeline_template": "ci"}),
    );
    let c = merge(&base, &local, &remote).unwrap();
    assert_eq!(c.description, "new");
    assert_eq!(c.pipeline_template.as_deref(), Some("ci"));
    assert_eq!(c.changes[0].title, "a local");
    assert_eq!(c.changes[1].kind, crate::domain::ChangeType::Fix);
    assert_eq!(c.changes[1].assignee.as_deref(), Some("bob"));
}

#[test]
fn different_fields_of_one_change_merge() {
    let base = record(
        json!([{"type": "add", "id": "A-1", "title": "a", "description": "d"}]),
        json!({}),
    );
    let local = record(
        json!([{"type": "add", "id": "A-1", "title": "new title", "description": "d"}]),
        json!({}),
    );
    let remote = record(
        json!([{"type": "add", "id": "A-1", "title": "a", "description": "new d", "assignee": "ann"}]),
        json!({}),
    );
    let c = merge(&base, &local, &remote).unwrap();
    let a = &c.changes[0];
    assert_eq!(
        (
            a.title.as_str(),
            a.description.as_deref(),
            a.assignee.as_deref()
        ),
        ("new title", Some("new d"), Some("ann"))
    );
}

#[test]
fn a_field_changed_differently_on_both_sides_is_a_conflict() {
    let base = record(
        json!([["A-1", "a"], ["B-1", "b"]]),
        json!({"description": "old"}),
    );
    let local = record(
        json!([["A-1", "a here"], ["B-1", "b here"]]),
        json!({"description": "here"}),
    );
    let remote = record(
        json!([["A-1", "a there"], ["B-1", "b"]]),
        json!({"description": "there"}),
    );
    let c = conflicts(merge(&base, &local, &remote).unwrap_err());
    let fields: Vec<&str> = c.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["changes.A-1.title", "description"]);
    assert_eq!(c[0].base, Some(json!("a")));
    assert_eq!(c[0].local, Some(json!("a here")));
    assert_eq!(c[0].remote, Some(json!("a there")));
    assert_eq!(c[1].base, Some(json!("old")));
}

#[test]
fn the_same_edit_on_both_sides_is_no_conflict() {
    let base = record(json!([["A-1", "a"]]), json!({}));
    let both = record(
        json!([["A-1", "same"], ["N-1", "new"]]),
        json!({"description": "x"}),
    );
    let c = merge(&base, &both, &both).unwrap();
    assert_eq!(c, both.contract());
}

#[test]
fn removed_on_one_side_and_untouched_on_the_other_is_removed() {
    let base = record(json!([["A-1", "a"], ["B-1", "b"], ["C-1", "c"]]), json!({}));
    let local = record(json!([["A-1", "a"], ["C-1", "c"]]), json!({}));
    let remote = record(json!([["A-1", "a"], ["B-1", "b"]]), json!({}));
    assert_eq!(ids(&merge(&base, &local, &remote).unwrap()), ["A-1"]);
}

#[test]
fn removed_on_one_side_and_edited_on_the_other_is_a_conflict() {
    let base = record(json!([["A-1", "a"], ["B-1", "b"]]), json!({}));
    let local = record(json!([["A-1", "a"]]), json!({}));
    let remote = record(json!([["A-1", "a"], ["B-1", "b edited"]]), json!({}));
    let c = conflicts(merge(&base, &local, &remote).unwrap_err());
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].field, "changes.B-1");
    assert_eq!(c[0].local, None);
    assert_eq!(
        c[0].remote,
        Some(json!({"type": "add", "title": "b edited"}))
    );
    assert!(c[0].note.unwrap().contains("removed here"));
    // And the other way round.
    let c = conflicts(merge(&base, &remote, &local).unwrap_err());
    assert_eq!(c[0].field, "changes.B-1");
    assert!(c[0].note.unwrap().contains("removed in the cloud"));
}

#[test]
fn added_on_both_sides_with_the_same_id_merges_field_by_field() {
    let base = record(json!([["A-1", "a"]]), json!({}));
    let local = record(
        json!([["A-1", "a"], {"type": "add", "id": "N-1", "title": "n", "pipeline": "ci"}]),
        json!({}),
    );
    let remote = record(
        json!([["A-1", "a"], {"type": "add", "id": "N-1", "title": "n", "assignee": "bob"}]),
        json!({}),
    );
    let c = merge(&base, &local, &remote).unwrap();
    assert_eq!(c.changes[1].pipeline.as_deref(), Some("ci"));
    assert_eq!(c.changes[1].assignee.as_deref(), Some("bob"));
    let other = record(json!([["A-1", "a"], ["N-1", "other"]]), json!({}));
    let c = conflicts(merge(&base, &local, &other).unwrap_err());
    assert_eq!(c[0].field, "changes.N-1.title");
    assert_eq!(c[0].base, None);
}

#[test]
fn an_optional_field_set_on_one_side_and_cleared_on_the_other() {
    let base = record(
        json!([{"type": "add", "id": "A-1", "title": "a", "assignee": "ann"}]),
        json!({}),
    );
    let cleared = record(json!([["A-1", "a"]]), json!({}));
    let same = base.clone();
    // Cleared here, untouched there: cleared.
    let c = merge(&base, &cleared, &same).unwrap();
    assert_eq!(c.changes[0].assignee, None);
    // Cleared here, reassigned there: a conflict showing the absence.
    let bob = record(
        json!([{"type": "add", "id": "A-1", "title": "a", "assignee": "bob"}]),
        json!({}),
    );
    let c = conflicts(merge(&base, &cleared, &bob).unwrap_err());
    assert_eq!(c[0].field, "changes.A-1.assignee");
    assert_eq!(
        (c[0].local.clone(), c[0].remote.clone()),
        (None, Some(json!("bob")))
    );
}

#[test]
fn a_merge_that_leaves_no_change_is_invalid() {
    let base = record(json!([["A-1", "a"], ["B-1", "b"]]), json!({}));
    let local = record(json!([["A-1", "a"]]), json!({}));
    let remote = record(json!([["B-1", "b"]]), json!({}));
    match merge(&base, &local, &remote) {
        Err(MergeError::Invalid(why)) => assert!(why.contains("at least one change"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_removed_change_that_local_evolutions_prove_is_a_conflict() {
    let base = record(json!([["A-1", "a"], ["B-1", "b"]]), json!({}));
    let local = record(json!([["A-1", "a here"], ["B-1", "b"]]), json!({}));
    let remote = record(json!([["A-1", "a"]]), json!({}));
    let in_use: BTreeSet<String> = ["B-1".to_string()].into();
    let e = merge_generation(&base_of(&base), &local, &remote, &in_use).unwrap_err();
    let c = conflicts(e);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].field, "changes.B-1");
    assert!(c[0].note.unwrap().contains("evolutions"));
    // Not in use: removed.
    assert_eq!(ids(&merge(&base, &local, &remote).unwrap()), ["A-1"]);
}

#[test]
fn only_drafts_merge() {
    let base = record(json!([["A-1", "a"]]), json!({}));
    let local = record(json!([["A-1", "b"]]), json!({}));
    let promoted = record(
        json!([["A-1", "a"]]),
        json!({"status": "promoted", "promoted_by": "ann", "promoted_at": "2026-01-02T00:00:00Z"}),
    );
    assert_eq!(
        merge(&base, &local, &promoted).unwrap_err(),
        MergeError::NotDraft {
            local: GenerationStatus::Draft,
            remote: GenerationStatus::Promoted
        }
    );
}

#[test]
fn a_version_renamed_on_one_side_does_not_merge() {
    let base = record(json!([["A-1", "a"]]), json!({}));
    let local = record(json!([["A-1", "b"]]), json!({}));
    let renamed = record(json!([["A-1", "a"]]), json!({"version": "1.1.0"}));
    let c = conflicts(merge(&base, &local, &renamed).unwrap_err());
    assert_eq!(c[0].field, "version");
    assert!(c[0].note.is_some());
    // Renamed here only: the merge keeps your version.
    let c = merge(&base, &renamed, &local).unwrap();
    assert_eq!(c.version.to_string(), "v1.1.0");
    assert_eq!(c.changes[0].title, "b");
}

#[test]
fn nothing_changed_anywhere_is_the_base() {
    let base = record(
        json!([["A-1", "a"], ["B-1", "b"]]),
        json!({"description": "d"}),
    );
    assert_eq!(merge(&base, &base, &base).unwrap(), base.contract());
}

#[test]
fn order_is_yours_then_the_clouds_new_ones() {
    let base = record(json!([["A-1", "a"], ["B-1", "b"]]), json!({}));
    let local = record(json!([["B-1", "b"], ["L-1", "l"], ["A-1", "a"]]), json!({}));
    let remote = record(
        json!([["R-2", "r2"], ["A-1", "a"], ["R-1", "r1"], ["B-1", "b"]]),
        json!({}),
    );
    assert_eq!(
        ids(&merge(&base, &local, &remote).unwrap()),
        ["B-1", "L-1", "A-1", "R-2", "R-1"]
    );
}

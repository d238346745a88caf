//! Table cases for the pull planner: one local state, one page, the operations expected.

use super::*;
use crate::api::records::Tombstone;
use crate::domain::{Change, ChangeType, EvolutionStatus, GenerationStatus};

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn generation(id: u128, version: &str, changes: &[&str], revision: u64) -> Record {
    Record::Generation(GenerationRecord {
        id: uuid(id),
        version: version.parse().unwrap(),
        description: String::new(),
        pipeline_template: None,
        changes: changes
            .iter()
            .map(|c| Change {
                kind: ChangeType::Add,
                id: c.parse().unwrap(),
                title: format!("title {c}"),
                description: None,
                pipeline: None,
                assignee: None,
            })
            .collect(),
        status: GenerationStatus::Draft,
        created_by: "ann".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        promoted_by: None,
        promoted_at: None,
        revision,
        seq: revision,
    })
}

fn evolution(
    id: u128,
    generation: u128,
    change: &str,
    rc: u32,
    code_name: &str,
    revision: u64,
) -> Record {
    Record::Evolution(EvolutionRecord {
        id: uuid(id),
        generation_id: uuid(generation),
        change_id: change.parse().unwrap(),
        code_name: code_name.into(),
        rc,
        owner: "ann".into(),
        status: EvolutionStatus::Pending,
        note: None,
        started_at: "2026-01-01T00:00:00Z".into(),
        completed_at: None,
        pipeline_run_id: None,
        revision,
        seq: revision,
    })
}

fn tombstone(id: u128, kind: RecordKind) -> Record {
    Record::Deleted(Tombstone {
        id: uuid(id),
        record_kind: kind,
        deleted_by: "ann".into(),
        deleted_at: "2026-01-01T00:00:00Z".into(),
        revision: 9,
        seq: 9,
    })
}

fn have(local: &mut Local, record: Record, status: SyncStatus, base: Option<u64>) {
    if let Record::Generation(g) = &record {
        local.versions.insert(g.version.clone(), g.id);
    }
    if let Record::Evolution(e) = &record {
        local.rc_slots.insert((e.generation_id, e.rc), e.id);
        local.code_names.insert(e.code_name.clone(), e.id);
        if let Some(g) = local.records.get_mut(&e.generation_id) {
            g.changes_in_use.insert(e.change_id.to_string());
            if status != SyncStatus::Synced {
                g.unsynced_evolutions += 1;
            }
        }
    }
    local.records.insert(
        record.id(),
        LocalRecord {
            record,
            sync_status: status,
            base_revision: base,
            file: FileState::Clean,
            changes_in_use: BTreeSet::new(),
            unsynced_evolutions: 0,
        },
    );
}

/// A compact rendering of a plan: one word per op.
fn render(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .map(|op| match op {
            Op::Insert(r) => format!("insert {}", r.id().as_u128()),
            Op::FastForward(r) => format!("fast-forward {}", r.id().as_u128()),
            Op::Confirm(r) => format!("confirm {} r{}", r.id().as_u128(), r.revision()),
            Op::Delete { id, .. } => format!("delete {}", id.as_u128()),
            Op::Renumber { id, rc, code_name } => {
                format!(
                    "renumber {} rc{rc}{}",
                    id.as_u128(),
                    if code_name.is_some() { " renamed" } else { "" }
                )
            }
            Op::Conflict { id, reason, .. } => {
                format!("conflict {} {}", id.as_u128(), reason.as_str())
            }
            Op::Skip => "skip".to_string(),
            Op::Resend { id, revision, .. } => format!("resend {} on r{revision}", id.as_u128()),
        })
        .collect()
}

fn run(local: &mut Local, page: &[Record]) -> Vec<String> {
    render(&plan(local, page, &mut fastrand::Rng::with_seed(1)))
}

#[test]
fn unknown_records_are_inserted_in_page_order() {
    let mut local = Local::default();
    let page = [
        generation(1, "1.0.0", &["A-1"], 1),
        evolution(2, 1, "A-1", 1, "bold-brave-fox", 1),
    ];
    assert_eq!(run(&mut local, &page), ["insert 1", "insert 2"]);
}

#[test]
fn synced_records_fast_forward_and_local_work_conflicts() {
    let cases: &[(SyncStatus, FileState, &str)] = &[
        (SyncStatus::Synced, FileState::Clean, "fast-forward 1"),
        (
            SyncStatus::Pending,
            FileState::Clean,
            "conflict 1 both_changed",
        ),
        (
            SyncStatus::NotSynced,
            FileState::Clean,
            "conflict 1 both_changed",
        ),
        (
            SyncStatus::Failed,
            FileState::Clean,
            "conflict 1 both_changed",
        ),
        (
            SyncStatus::Conflict,
            FileState::Clean,
            "conflict 1 both_changed",
        ),
        // unapplied edits in the contract file are local work too
        (
            SyncStatus::Synced,
            FileState::Edited(None),
            "conflict 1 both_changed",
        ),
    ];
    for (status, file, expected) in cases {
        let mut local = Local::default();
        have(
            &mut local,
            generation(1, "1.0.0", &["A-1"], 1),
            *status,
            Some(1),
        );
        local.records.get_mut(&uuid(1)).unwrap().file = file.clone();
        let page = [generation(1, "1.0.0", &["A-1", "B-2"], 2)];
        assert_eq!(run(&mut local, &page), [*expected], "{status:?} {file:?}");
    }
}

#[test]
fn a_file_already_holding_the_incoming_contract_is_not_a_conflict() {
    let mut local = Local::default();
    have(
        &mut local,
        generation(1, "1.0.0", &["A-1"], 1),
        SyncStatus::Synced,
        Some(1),
    );
    let incoming = generation(1, "1.0.0", &["A-1", "B-2"], 2);
    let Record::Generation(g) = &incoming else {
        unreachable!()
    };
    local.records.get_mut(&uuid(1)).unwrap().file = FileState::Edited(Some(g.contract()));
    assert_eq!(run(&mut local, &[incoming]), ["fast-forward 1"]);
}

/// A full resync trusts content, not remembered revisions: the same content is confirmed at
/// the cloud's revision (even one below ours, after a restore), a newer revision here than in
/// the cloud is sent again, the same revision with other content is a conflict, and a newer
/// revision in the cloud is taken as a pull would.
#[test]
fn a_full_resync_matches_content_not_remembered_revisions() {
    let cases: &[(u64, SyncStatus, &[&str], &str)] = &[
        (3, SyncStatus::Synced, &["A-1"], "confirm 1 r2"),
        (3, SyncStatus::Synced, &["A-1", "B-2"], "resend 1 on r2"),
        (3, SyncStatus::Pending, &["A-1", "B-2"], "resend 1 on r2"),
        (
            2,
            SyncStatus::Synced,
            &["A-1", "B-2"],
            "conflict 1 both_changed",
        ),
        (1, SyncStatus::Synced, &["A-1", "B-2"], "fast-forward 1"),
        (
            1,
            SyncStatus::Pending,
            &["A-1", "B-2"],
            "conflict 1 both_changed",
        ),
    ];
    for (base, status, remote, expected) in cases {
        for full in [true, false] {
            let mut local = Local {
                full,
                ..Local::default()
            };
            have(
                &mut local,
                generation(1, "1.0.0", &["A-1"], *base),
                *status,
                Some(*base),
            );
            let page = [generation(1, "1.0.0", remote, 2)];
            let got = run(&mut local, &page);
            if full {
                assert_eq!(got, [*expected], "base {base} {status:?} {remote:?}");
            } else if *base >= 2 {
                assert_eq!(got, ["skip"], "a pull skips what it synced: base {base}");
            }
        }
    }
}

/// The cloud promoted a generation whose contract file holds unapplied edits: its contract
/// is unchanged, so the promotion is taken and the edits stay in the file. A contract changed
/// in the cloud as well is a conflict, as is any change to a record changed here.
#[test]
fn a_state_change_in_the_cloud_passes_unapplied_edits_in_the_file() {
    let promoted = |changes: &[&str]| {
        let mut r = generation(1, "1.0.0", changes, 2);
        if let Record::Generation(g) = &mut r {
            g.status = GenerationStatus::Promoted;
            g.promoted_by = Some("ann".into());
        }
        r
    };
    let cases: &[(SyncStatus, FileState, &[&str], &str)] = &[
        (
            SyncStatus::Synced,
            FileState::Edited(None),
            &["A-1"],
            "fast-forward 1",
        ),
        (
            SyncStatus::Synced,
            FileState::Edited(None),
            &["A-1", "B-2"],
            "conflict 1 both_changed",
        ),
        (
            SyncStatus::Pending,
            FileState::Clean,
            &["A-1"],
            "conflict 1 both_changed",
        ),
    ];
    for (status, file, changes, expected) in cases {
        let mut local = Local::default();
        have(
            &mut local,
            generation(1, "1.0.0", &["A-1"], 1),
            *status,
            Some(1),
        );
        local.records.get_mut(&uuid(1)).unwrap().file = file.clone();
        let page = [promoted(changes)];
        assert_eq!(
            run(&mut local, &page),
            [*expected],
            "{status:?} {file:?} {changes:?}"
        );
        if *expected == "fast-forward 1" {
            assert_eq!(
                local.records[&uuid(1)].file,
                *file,
                "the file keeps its edits"
            );
        }
    }
}

#[test]
fn identical_content_is_confirmed_whatever_the_local_status() {
    // e.g. our own push whose answer was lost: local still not_synced, cloud has it
    let mut local = Local::default();
    have(
        &mut local,
        generation(1, "1.0.0", &["A-1"], 0),
        SyncStatus::NotSynced,
        None,
    );
    let mut remote = generation(1, "1.0.0", &["A-1"], 3);
    if let Record::Generation(g) = &mut remote {
        g.created_by = "the-account".into();
    }
    assert_eq!(run(&mut local, &[remote]), ["confirm 1 r3"]);
}

#[test]
fn known_revisions_are_skipped() {
    let mut local = Local::default();
    have(
        &mut local,
        generation(1, "1.0.0", &["A-1"], 4),
        SyncStatus::Synced,
        Some(4),
    );
    assert_eq!(
        run(&mut local, &[generation(1, "1.0.0", &["A-1"], 4)]),
        ["skip"]
    );
    assert_eq!(
        run(&mut local, &[generation(1, "1.0.0", &["A-1"], 3)]),
        ["skip"]
    );
    // a local edit of a record the cloud has not changed since is pending, not a conflict
    for status in [SyncStatus::Pending, SyncStatus::Failed] {
        let mut local = Local::default();
        have(
            &mut local,
            generation(1, "1.0.0", &["A-1", "B-2"], 4),
            status,
            Some(4),
        );
        local.records.get_mut(&uuid(1)).unwrap().file = FileState::Edited(None);
        let remote = generation(1, "1.0.0", &["A-1"], 4);
        assert_eq!(run(&mut local, &[remote]), ["skip"], "{status:?}");
    }
}

#[test]
fn the_same_version_from_another_origin_is_a_conflict() {
    let mut local = Local::default();
    have(
        &mut local,
        generation(7, "1.0.0", &["A-1"], 0),
        SyncStatus::NotSynced,
        None,
    );
    let page = [
        generation(1, "1.0.0", &["A-1"], 1),
        evolution(2, 1, "A-1", 1, "bold-brave-fox", 1),
    ];
    // its evolutions cannot land either: their generation is not here
    assert_eq!(
        run(&mut local, &page),
        ["conflict 1 version_taken", "conflict 2 missing_generation"]
    );

    // an untracked contract file that holds something else is local work too
    let mut local = Local::default();
    local.untracked_files.insert("1.0.0".parse().unwrap(), None);
    assert_eq!(run(&mut local, &page[..1]), ["conflict 1 version_taken"]);
}

#[test]
fn a_committed_contract_file_holding_the_incoming_contract_is_adopted() {
    // a fresh clone: the contract came with git, the generation comes from the cloud
    let incoming = generation(1, "1.0.0", &["A-1"], 1);
    let Record::Generation(g) = &incoming else {
        unreachable!()
    };
    let mut local = Local::default();
    local
        .untracked_files
        .insert(g.version.clone(), Some(g.contract()));
    assert_eq!(
        run(&mut local, std::slice::from_ref(&incoming)),
        ["insert 1"]
    );
    let mut local = Local::default();
    let other = generation(1, "1.0.0", &["B-2"], 1);
    let Record::Generation(o) = &other else {
        unreachable!()
    };
    local
        .untracked_files
        .insert(o.version.clone(), Some(o.contract()));
    assert_eq!(run(&mut local, &[incoming]), ["conflict 1 version_taken"]);
}

#[test]
fn an_evolution_needs_its_change_in_the_local_contract() {
    let mut local = Local::default();
    have(
        &mut local,
        generation(1, "1.0.0", &["A-1"], 1),
        SyncStatus::Conflict,
        Some(1),
    );
    let page = [
        evolution(2, 1, "A-1", 1, "bold-brave-fox", 2),
        evolution(3, 1, "B-2", 2, "calm-keen-owl", 3),
    ];
    assert_eq!(
        run(&mut local, &page),
        ["insert 2", "conflict 3 missing_generation"]
    );
}

#[test]
fn removing_a_change_that_local_evolutions_prove_is_a_conflict() {
    let mut local = Local::default();
    have(
        &mut local,
        generation(1, "1.0.0", &["A-1", "B-2"], 1),
        SyncStatus::Synced,
        Some(1),
    );
    have(
        &mut local,
        evolution(2, 1, "B-2", 1, "bold-brave-fox", 0),
        SyncStatus::NotSynced,
        None,
    );
    assert_eq!(
        run(&mut local, &[generation(1, "1.0.0", &["A-1"], 2)]),
        ["conflict 1 changes_in_use"]
    );
}

#[test]
fn an_unsynced_evolution_moves_out_of_a_taken_rc_and_code_name() {
    let mut local = Local::default();
    have(
        &mut local,
        generation(1, "1.0.0", &["A-1"], 1),
        SyncStatus::Synced,
        Some(1),
    );
    have(
        &mut local,
        evolution(5, 1, "A-1", 1, "bold-brave-fox", 0),
        SyncStatus::NotSynced,
        None,
    );
    let page = [evolution(2, 1, "A-1", 1, "calm-keen-owl", 2)];
    assert_eq!(run(&mut local, &page), ["renumber 5 rc2", "insert 2"]);
    // a later arrival in the same page sees rc 2 taken now
    let page = [evolution(3, 1, "A-1", 2, "bold-brave-fox", 3)];
    assert_eq!(
        run(&mut local, &page),
        ["renumber 5 rc3 renamed", "insert 3"]
    );
}

#[test]
fn tombstones() {
    let mut local = Local::default();
    have(
        &mut local,
        generation(1, "1.0.0", &["A-1"], 1),
        SyncStatus::Synced,
        Some(1),
    );
    have(
        &mut local,
        generation(2, "2.0.0", &["A-1"], 1),
        SyncStatus::Pending,
        Some(1),
    );
    have(
        &mut local,
        generation(3, "3.0.0", &["A-1"], 1),
        SyncStatus::Synced,
        Some(1),
    );
    have(
        &mut local,
        evolution(4, 3, "A-1", 1, "bold-brave-fox", 0),
        SyncStatus::NotSynced,
        None,
    );
    let page = [
        tombstone(1, RecordKind::Generation),
        tombstone(2, RecordKind::Generation),
        tombstone(3, RecordKind::Generation),
        tombstone(99, RecordKind::Evolution),
    ];
    assert_eq!(
        run(&mut local, &page),
        [
            "delete 1",
            "conflict 2 deleted_remotely",
            "conflict 3 deleted_remotely",
            "skip"
        ]
    );
    // the deleted version is free again for a new generation
    assert_eq!(
        run(&mut local, &[generation(8, "1.0.0", &["A-1"], 10)]),
        ["insert 8"]
    );
}

#[test]
fn same_content_ignores_server_stamps() {
    let a = generation(1, "1.0.0", &["A-1"], 1);
    let mut b = generation(1, "1.0.0", &["A-1"], 5);
    if let Record::Generation(g) = &mut b {
        g.created_by = "someone".into();
    }
    assert!(same_content(&a, &b));
    assert!(!same_content(&a, &generation(1, "1.0.1", &["A-1"], 1)));
}

/// An import: content decides, never a revision, and nothing held here is replaced — a
/// synced record a pull would fast-forward is a conflict; the same content is confirmed
/// (skipped by the import) whatever the revisions say.
#[test]
fn an_import_never_replaces_what_is_here() {
    let import = || Local {
        import: true,
        ..Local::default()
    };
    let mut local = import();
    have(
        &mut local,
        generation(1, "1.0.0", &["A-1"], 3),
        SyncStatus::Synced,
        Some(3),
    );
    have(
        &mut local,
        evolution(2, 1, "A-1", 1, "bold-brave-fox", 3),
        SyncStatus::Synced,
        Some(3),
    );
    // Older and newer revisions alike: content decides.
    let page = [
        generation(1, "1.0.0", &["A-1", "B-2"], 9),
        evolution(2, 1, "A-1", 1, "bold-brave-fox", 1),
    ];
    assert_eq!(
        run(&mut local, &page),
        ["conflict 1 both_changed", "confirm 2 r1"]
    );
    // The same page in a pull: the generation fast-forwards, the evolution is known.
    let mut pulled = Local {
        import: false,
        ..local.clone()
    };
    pulled.records.insert(
        uuid(1),
        LocalRecord {
            record: generation(1, "1.0.0", &["A-1"], 3),
            sync_status: SyncStatus::Synced,
            base_revision: Some(3),
            file: FileState::Clean,
            changes_in_use: BTreeSet::new(),
            unsynced_evolutions: 0,
        },
    );
    assert_eq!(run(&mut pulled, &page), ["fast-forward 1", "skip"]);
}

/// An import moves a never-synced evolution out of a taken rc tag, as a pull does, but never
/// one a cloud has seen: the arriving evolution is a conflict then.
#[test]
fn an_import_moves_only_evolutions_no_cloud_has_seen() {
    for (status, expected) in [
        (SyncStatus::NotSynced, vec!["renumber 2 rc2", "insert 3"]),
        (SyncStatus::Synced, vec!["conflict 3 both_changed"]),
        (SyncStatus::Pending, vec!["conflict 3 both_changed"]),
    ] {
        let mut local = Local {
            import: true,
            ..Local::default()
        };
        have(
            &mut local,
            generation(1, "1.0.0", &["A-1"], 1),
            SyncStatus::Synced,
            Some(1),
        );
        have(
            &mut local,
            evolution(2, 1, "A-1", 1, "bold-brave-fox", 1),
            status,
            Some(1),
        );
        let page = [evolution(3, 1, "A-1", 1, "calm-quick-owl", 4)];
        assert_eq!(run(&mut local, &page), expected, "{status:?}");
    }
}

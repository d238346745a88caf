//! The committed gryt-ci fixtures (made by the real gryt-ci, fixtures/gryt-ci/make.sh) read
//! to concrete records, and every kind of bad input refused by name.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::*;
use crate::api::records::{EvolutionRecord, GenerationRecord, PipelineRunRecord, RunStatus};
use crate::domain::{EvolutionStatus, GenerationStatus};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/gryt-ci")
        .join(name)
}

fn generations(got: &GrytCi) -> Vec<&GenerationRecord> {
    got.records
        .iter()
        .filter_map(|r| match r {
            Record::Generation(g) => Some(g),
            _ => None,
        })
        .collect()
}

fn evolutions(got: &GrytCi) -> Vec<&EvolutionRecord> {
    got.records
        .iter()
        .filter_map(|r| match r {
            Record::Evolution(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn runs(got: &GrytCi) -> Vec<&PipelineRunRecord> {
    got.records
        .iter()
        .filter_map(|r| match r {
            Record::PipelineRun(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// (version, change, code name, rc, status, owner) of each evolution, in record order.
fn evolution_rows(got: &GrytCi) -> Vec<(String, String, String, u32, EvolutionStatus, String)> {
    let gens = generations(got);
    evolutions(got)
        .into_iter()
        .map(|e| {
            let g = gens.iter().find(|g| g.id == e.generation_id).unwrap();
            (
                g.version.to_string(),
                e.change_id.to_string(),
                e.code_name.clone(),
                e.rc,
                e.status,
                e.owner.clone(),
            )
        })
        .collect()
}

fn has_note(got: &GrytCi, text: &str) -> bool {
    got.notes.iter().any(|n| n == text)
}

/// Records come in apply order, each valid, ids unique.
fn check_shape(got: &GrytCi) {
    let kinds: Vec<_> = got.records.iter().map(|r| r.kind().unwrap()).collect();
    let mut sorted = kinds.clone();
    sorted.sort_by_key(|k| match k {
        RecordKind::Generation => 0,
        RecordKind::Evolution => 1,
        RecordKind::PipelineRun => 2,
    });
    assert_eq!(kinds, sorted, "generations, then evolutions, then runs");
    let mut ids = std::collections::HashSet::new();
    for r in &got.records {
        r.validate().unwrap_or_else(|e| panic!("{r:?}: {e}"));
        assert!(ids.insert(r.id()));
        assert_eq!((r.revision(), r.seq()), (0, 0));
    }
}

use crate::domain::RecordKind;

#[test]
fn basic_fixture() {
    let got = read(&fixture("basic")).unwrap();
    check_shape(&got);
    let gens = generations(&got);
    assert_eq!(gens.len(), 2);
    let v1 = gens[0];
    assert_eq!(v1.version.to_string(), "v1.0.0");
    // gryt-ci's own UUIDs are kept.
    assert_eq!(v1.id.to_string(), "bf6b52f2-86d4-401d-909c-60421975e7d8");
    assert_eq!(v1.status, GenerationStatus::Draft);
    assert_eq!(v1.description, "First release");
    assert_eq!(v1.created_by, "alice");
    assert_eq!(v1.created_at, "2026-12-07T04:59:55Z");
    assert_eq!(
        (v1.promoted_at.as_deref(), v1.promoted_by.as_deref()),
        (None, None)
    );
    let changes: Vec<(String, &str, &str)> = v1
        .changes
        .iter()
        .map(|c| (c.id.to_string(), c.kind.as_str(), c.title.as_str()))
        .collect();
    assert_eq!(
        changes,
        [
            ("FEAT-1".to_string(), "add", "Login form"),
            ("FIX-1".to_string(), "fix", "Crash on empty password"),
        ]
    );
    assert_eq!(
        v1.changes[1].description.as_deref(),
        Some("The login handler read a field that may be missing.")
    );
    assert!(v1.changes.iter().all(|c| c.pipeline.is_none()));
    let v11 = gens[1];
    assert_eq!(v11.version.to_string(), "v1.1.0");
    assert_eq!(
        v11.changes
            .iter()
            .map(|c| c.kind.as_str())
            .collect::<Vec<_>>(),
        ["refine", "remove"]
    );

    use EvolutionStatus::{Pass, Pending};
    let row = |v: &str, c: &str, n: &str, rc, s| {
        (v.into(), c.into(), n.into(), rc, s, "alice".to_string())
    };
    assert_eq!(
        evolution_rows(&got),
        [
            row("v1.0.0", "FEAT-1", "winter-radiant-rocket", 1, Pass),
            row("v1.0.0", "FIX-1", "witty-twilight-walrus", 2, Pass),
            row("v1.1.0", "REF-1", "epic-fiery-tiger", 1, Pass),
            row("v1.1.0", "REM-1", "jolly-silver-breeze", 2, Pending),
        ]
    );
    let evos = evolutions(&got);
    assert_eq!(evos[0].started_at, "2026-12-07T05:00:03Z");
    assert_eq!(
        evos[0].completed_at.as_deref(),
        Some("2026-12-07T05:00:03Z")
    );
    assert_eq!(evos[3].completed_at, None);
    assert_eq!(evos[3].pipeline_run_id, None);

    let runs = runs(&got);
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0].pipeline, "v1_0_0_FEAT_1_VALIDATION_PIPELINE.py");
    assert_eq!(runs[0].status, RunStatus::Pass);
    assert_eq!(runs[0].evolution_id, Some(evos[0].id));
    assert_eq!(evos[0].pipeline_run_id, Some(runs[0].id));
    assert_eq!(runs[0].started_by, "alice");
    assert_eq!(runs[0].duration_ms, Some(104));
    assert!(runs.iter().all(|r| r.steps.is_empty()));

    // Tagged evolutions need no renumbering; nothing promoted, nobody missing.
    assert!(
        !got.notes.iter().any(|n| n.contains("rc tag")),
        "{:#?}",
        got.notes
    );
    assert_eq!(
        got.notes,
        [
            "4 changes name a gryt-ci validation pipeline (a Python file such as \
             `v1_0_0_FEAT_1_VALIDATION_PIPELINE.py`); gryt pipelines are YAML, so changes are \
             imported without a pipeline",
            "gryt-ci records no user on pipeline runs: 3 runs imported as started by their \
             evolution's owner, 0 as started by `gryt-ci`",
            "gryt-ci did not link its 3 step outputs (table steps_output) to pipeline runs; runs \
             are imported without steps",
            "gryt-ci stores times without a time zone: 15 times read as UTC (those it took from \
             the local clock, generations' created_at and promoted_at and unproven evolutions' \
             started_at, are off by the writing machine's UTC offset if it was not on UTC)",
        ]
    );
}

#[test]
fn promoted_fixture() {
    let got = read(&fixture("promoted")).unwrap();
    check_shape(&got);
    let gens = generations(&got);
    let summary: Vec<(String, GenerationStatus, &str, Option<&str>)> = gens
        .iter()
        .map(|g| {
            (
                g.version.to_string(),
                g.status,
                g.created_by.as_str(),
                g.promoted_by.as_deref(),
            )
        })
        .collect();
    use GenerationStatus::{Draft, Promoted};
    assert_eq!(
        summary,
        [
            ("v2.0.0".into(), Promoted, "bob", Some("bob")),
            ("v2.0.1".into(), Promoted, "gryt-ci", Some("bob")),
            ("v2.1.0".into(), Draft, "bob", None),
        ]
    );
    assert_eq!(gens[0].promoted_at.as_deref(), Some("2026-12-07T05:00:49Z"));
    assert_eq!(gens[2].pipeline_template.as_deref(), Some("release"));
    assert_eq!(
        gens[1].changes[0].description.as_deref(),
        Some("Hot-fix for v2.0.0")
    );

    use EvolutionStatus::{Fail, Pass, Pending};
    let row = |v: &str, c: &str, n: &str, rc, s, o: &str| {
        (v.into(), c.into(), n.into(), rc, s, o.to_string())
    };
    assert_eq!(
        evolution_rows(&got),
        [
            row("v2.0.0", "API-2", "winter-wild-tsunami", 1, Pass, "bob"),
            row("v2.0.0", "BUG-7", "proud-frosty-meteor", 2, Pass, "bob"),
            row("v2.0.0", "API-2", "magic-kind-falcon", 3, Fail, "bob"),
            row("v2.0.1", "BUG-8", "snowy-misty-tundra", 1, Pass, "gryt-ci"),
            row(
                "v2.0.1",
                "BUG-8",
                "golden-twilight-hawk",
                2,
                Fail,
                "gryt-ci"
            ),
            // rc.1 is gryt-ci's tag; the untagged ones follow it in start order.
            row("v2.1.0", "FEAT-2", "happy-grand-tornado", 1, Fail, "bob"),
            row("v2.1.0", "FEAT-2", "silent-bold-monsoon", 2, Pass, "bob"),
            row(
                "v2.1.0",
                "FEAT-3",
                "vibrant-misty-walrus",
                3,
                Pending,
                "bob"
            ),
        ]
    );

    let runs = runs(&got);
    let statuses: Vec<RunStatus> = runs.iter().map(|r| r.status).collect();
    use RunStatus::{Fail as RFail, Pass as RPass, Running};
    assert_eq!(
        statuses,
        [RPass, RPass, Running, RPass, RFail, RFail, RPass]
    );
    // The run that crashed while loading: linked through its config, never finished.
    let crashed = runs[2];
    assert_eq!(
        crashed.id.to_string(),
        "66987806-bfb5-47f2-9bd2-01e6921e953e"
    );
    assert_eq!(
        (crashed.finished_at.as_deref(), crashed.duration_ms),
        (None, None)
    );
    let falcon = evolutions(&got)[2];
    assert_eq!(crashed.evolution_id, Some(falcon.id));
    // gryt-ci left the evolution's link empty; it is the run's, as a pull would link it.
    assert_eq!(falcon.pipeline_run_id, Some(crashed.id));

    for note in [
        "v2.0.1: gryt-ci records no creator; imported as created by `gryt-ci`",
        "2 evolutions record no creator in gryt-ci (snowy-misty-tundra, golden-twilight-hawk); \
         imported with owner `gryt-ci`",
        "v2.0.0: 3 evolutions had no rc tag; numbered rc.1, rc.2, rc.3",
        "v2.0.1: 2 evolutions had no rc tag; numbered rc.1, rc.2",
        "v2.1.0: 2 evolutions had no rc tag; numbered rc.2, rc.3",
        "v2.0.0 is promoted in gryt-ci but fails gryt's gates (latest evolution failed: API-2); \
         imported as promoted",
        "v2.0.0: 1 evolution started after its promotion in gryt-ci (magic-kind-falcon); gryt \
         would have refused them",
        "v2.0.1 is promoted in gryt-ci but fails gryt's gates (latest evolution failed: BUG-8); \
         imported as promoted",
        "pipeline run 66987806-bfb5-47f2-9bd2-01e6921e953e \
         (v2_0_0_API_2_VALIDATION_PIPELINE.py) has neither an end nor a status in gryt-ci (it \
         never finished); imported as running",
        "gryt-ci records no user on pipeline runs: 7 runs imported as started by their \
         evolution's owner, 0 as started by `gryt-ci`",
    ] {
        assert!(
            has_note(&got, note),
            "missing note {note:?} in {:#?}",
            got.notes
        );
    }
    assert_eq!(got.notes.len(), 13, "{:#?}", got.notes);
}

#[test]
fn reading_twice_gives_the_same_records_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    copy_fixture("promoted", &ws);
    let db = ws.join(".gryt/gryt.db");
    let before = std::fs::read(&db).unwrap();
    let first = read(&ws).unwrap();
    // The same store through each accepted path.
    assert_eq!(read(&ws.join(".gryt")).unwrap(), first);
    assert_eq!(read(&db).unwrap(), first);
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the store is not written"
    );
    let mut files: Vec<String> = std::fs::read_dir(ws.join(".gryt"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["generations", "gryt.db"], "no journal or WAL left");
}

#[test]
fn ids_that_are_not_uuids_are_derived_the_same_way_every_time() {
    let (_dir, ws) = edited("basic", |c| {
        c.execute_batch(
            "PRAGMA foreign_keys = OFF;
             UPDATE generations SET generation_id = 'gen-1' WHERE version = 'v1.0.0';
             UPDATE generation_changes SET generation_id = 'gen-1'
               WHERE generation_id = 'bf6b52f2-86d4-401d-909c-60421975e7d8';
             UPDATE evolutions SET generation_id = 'gen-1', evolution_id = 'evo-' || change_id
               WHERE generation_id = 'bf6b52f2-86d4-401d-909c-60421975e7d8';",
        )
        .unwrap();
    });
    let first = read(&ws).unwrap();
    let second = read(&ws).unwrap();
    assert_eq!(first, second);
    let v1 = generations(&first)[0];
    assert_eq!(v1.version.to_string(), "v1.0.0");
    assert_eq!(v1.id, derived_id("generation", "gen-1").0);
    assert_eq!(v1.id.get_version_num(), 8);
    // Pinned: a change to the derivation would make a second import see new records. Python:
    // b = sha256(b"gryt import from gryt-ci\0generation\0gen-1").digest()[:16], version and
    // variant bits set (b[6] = b[6] & 0x0f | 0x80; b[8] = b[8] & 0x3f | 0x80).
    assert_eq!(v1.id.to_string(), "bbb37237-9a00-8fd6-963f-423101b0e376");
    // The same text as another kind's id gives another UUID.
    assert_ne!(v1.id, derived_id("evolution", "gen-1").0);
    let evos = evolutions(&first);
    assert_eq!(evos[0].generation_id, v1.id);
    assert_eq!(evos[0].id, derived_id("evolution", "evo-FEAT-1").0);
    assert!(has_note(
        &first,
        "3 gryt-ci ids are not a UUID; gryt ids are derived from them (docs/SYNC.md)"
    ));
}

#[test]
fn statuses_and_tags_gryt_has_no_place_for_are_noted() {
    let (_dir, ws) = edited("basic", |c| {
        c.execute_batch(
            "UPDATE generations SET status = 'active' WHERE version = 'v1.1.0';
             UPDATE evolutions SET tag = 'v9.9.9-rc.1' WHERE code_name = 'epic-fiery-tiger';
             UPDATE evolutions SET tag = 'v1.0.0-rc.1' WHERE code_name = 'witty-twilight-walrus';
             UPDATE evolutions SET status = 'running',
               completed_at = '2026-12-07T05:00:30' WHERE code_name = 'jolly-silver-breeze';
             UPDATE generation_changes SET status = 'done' WHERE change_id = 'FEAT-1';",
        )
        .unwrap();
    });
    let got = read(&ws).unwrap();
    check_shape(&got);
    assert_eq!(generations(&got)[1].status, GenerationStatus::Draft);
    let rcs: Vec<(String, u32)> = evolution_rows(&got)
        .into_iter()
        .map(|r| (r.2, r.3))
        .collect();
    assert_eq!(
        rcs,
        [
            ("winter-radiant-rocket".to_string(), 1),
            ("witty-twilight-walrus".to_string(), 2),
            // Its tag v1.1.0-rc.2 is kept; the one with another version's tag comes after.
            ("jolly-silver-breeze".to_string(), 2),
            ("epic-fiery-tiger".to_string(), 3),
        ]
    );
    let running = evolutions(&got)[2];
    assert_eq!(
        (running.status, running.completed_at.as_deref()),
        (EvolutionStatus::Running, None)
    );
    for note in [
        "v1.1.0 is `active` in gryt-ci; gryt has no such status; imported as draft",
        "v1.0.0: evolution witty-twilight-walrus's tag `v1.0.0-rc.1` is not a free rc tag of \
         v1.0.0; numbered rc.2",
        "v1.1.0: evolution epic-fiery-tiger's tag `v9.9.9-rc.1` is not a free rc tag of \
         v1.1.0; numbered rc.3",
        "evolution jolly-silver-breeze is running in gryt-ci but records a completion time \
         (from an earlier attempt); not imported",
        "gryt-ci's per-change status (done) is not imported: gryt derives a change's state from \
         its evolutions",
    ] {
        assert!(
            has_note(&got, note),
            "missing note {note:?} in {:#?}",
            got.notes
        );
    }
}

/// A gryt-ci store that gryt-ci itself would write: the real version of the fixture, whose
/// value at `sql` is then made hostile. The error must name the table, the row and the field.
#[test]
fn hostile_values_are_refused_by_name() {
    let long = "x".repeat(201);
    let huge = "d".repeat(10_001);
    let cases: Vec<(String, &str)> = vec![
        (
            "UPDATE generations SET version = '../../etc/passwd' WHERE version = 'v1.0.0'".into(),
            "gryt-ci generations `bf6b52f2-86d4-401d-909c-60421975e7d8`: version: invalid \
             version `../../etc/passwd`",
        ),
        (
            "UPDATE generations SET version = 'v1.0.0-rc.1' WHERE version = 'v1.0.0'".into(),
            "version: invalid version `v1.0.0-rc.1`",
        ),
        (
            "UPDATE generations SET version = '1.1.0' WHERE version = 'v1.0.0'".into(),
            "gryt-ci generations `ae2ef99a-a5a7-49c0-a410-c2430f3cb39e`: version: v1.1.0 is \
             also generation `bf6b52f2-86d4-401d-909c-60421975e7d8`",
        ),
        (
            "UPDATE generations SET version = X'76312E302E30' WHERE version = 'v1.0.0'".into(),
            "version: is not text",
        ),
        (
            format!("UPDATE generation_changes SET title = '{long}' WHERE change_id = 'FEAT-1'"),
            "gryt-ci generation_changes `FEAT-1`: title: title is longer than 200 characters",
        ),
        (
            "UPDATE generation_changes SET title = 'a' || char(10) || 'b' \
             WHERE change_id = 'FEAT-1'"
                .into(),
            "gryt-ci generation_changes `FEAT-1`: title: title must be a single line",
        ),
        (
            format!("UPDATE generations SET description = '{huge}' WHERE version = 'v1.0.0'"),
            "description: description is longer than 10000 characters",
        ),
        (
            "UPDATE generations SET pipeline_template = '../evil' WHERE version = 'v1.0.0'".into(),
            "pipeline_template: use letters",
        ),
        (
            "UPDATE generation_changes SET type = 'feature' WHERE change_id = 'FEAT-1'".into(),
            "gryt-ci generation_changes `FEAT-1`: type: unknown change type `feature`",
        ),
        (
            "DELETE FROM generation_changes WHERE generation_id = \
             'ae2ef99a-a5a7-49c0-a410-c2430f3cb39e'; DELETE FROM evolutions WHERE \
             generation_id = 'ae2ef99a-a5a7-49c0-a410-c2430f3cb39e'"
                .into(),
            "gryt-ci generations `ae2ef99a-a5a7-49c0-a410-c2430f3cb39e`: changes: a contract \
             lists at least one change",
        ),
        (
            "UPDATE generations SET status = 'shipped' WHERE version = 'v1.0.0'".into(),
            "status: unknown status `shipped`",
        ),
        (
            "UPDATE generations SET created_at = 'yesterday' WHERE version = 'v1.0.0'".into(),
            "created_at: `yesterday` is not a time",
        ),
        (
            format!("UPDATE generations SET created_by = '{long}' WHERE version = 'v1.0.0'"),
            "created_by: created_by is longer than 200 characters",
        ),
        (
            "UPDATE evolutions SET status = 'exploded' WHERE code_name = 'epic-fiery-tiger'".into(),
            "gryt-ci evolutions `6b987372-0c11-4bf4-9941-b3ef8efd253d`: status: unknown status \
             `exploded`",
        ),
        (
            "UPDATE evolutions SET code_name = '../Evil Name' WHERE code_name = 'epic-fiery-tiger'"
                .into(),
            "code_name: `../Evil Name` is not a code name",
        ),
        (
            format!(
                "UPDATE evolutions SET code_name = '{}' WHERE code_name = 'epic-fiery-tiger'",
                "a-b-".repeat(30) + "c"
            ),
            "at most 100 characters",
        ),
        (
            format!(
                "UPDATE generations SET version = 'v{}' WHERE version = 'v1.0.0'",
                "9".repeat(5000)
            ),
            "version: invalid version `v99999",
        ),
        (
            format!(
                "UPDATE generation_changes SET type = '{}' WHERE change_id = 'FEAT-1'",
                "z".repeat(5000)
            ),
            "type: unknown change type `zzz",
        ),
        (
            "PRAGMA foreign_keys = OFF; UPDATE generation_changes SET change_id = 'CHANGE-1A2B3C4D' \
             WHERE change_id = 'FEAT-1'; UPDATE evolutions SET change_id = 'CHANGE-1A2B3C4D' \
             WHERE change_id = 'FEAT-1'"
                .into(),
            "gryt-ci generation_changes `CHANGE-1A2B3C4D`: change_id: `CHANGE-1A2B3C4D` is not \
             a change id gryt takes",
        ),
        (
            "UPDATE evolutions SET change_id = 'FEAT-1' WHERE code_name = 'epic-fiery-tiger'"
                .into(),
            "change_id: FEAT-1 is not a change of v1.1.0",
        ),
        (
            "UPDATE evolutions SET started_at = NULL WHERE code_name = 'epic-fiery-tiger'".into(),
            "started_at: is empty",
        ),
        (
            "UPDATE pipelines SET name = '../../bin/sh' WHERE name LIKE 'v1_1_0%'".into(),
            "gryt-ci pipelines `bb8cad3b-da97-4225-8042-70a9a8cb8429`: pipeline: use letters",
        ),
        (
            "UPDATE pipelines SET status = 'maybe' WHERE name LIKE 'v1_1_0%'".into(),
            "status: unknown status `maybe`",
        ),
        (
            "UPDATE pipelines SET config_json = '{not json' WHERE name LIKE 'v1_1_0%'".into(),
            "config_json: key must be a string",
        ),
    ];
    for (sql, expected) in cases {
        let (_dir, ws) = edited("basic", |c| c.execute_batch(&sql).unwrap());
        let err = read(&ws).expect_err(&sql);
        assert!(matches!(err, GrytCiError::Invalid { .. }), "{sql}: {err:?}");
        let message = err.to_string();
        assert!(
            message.contains(expected),
            "{sql}:\n  got {message}\n  want {expected}"
        );
        assert!(message.len() < 400, "the message stays short: {message}");
    }
}

#[test]
fn what_is_not_a_gryt_ci_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();

    let missing = root.join("nowhere");
    let err = read(&missing).unwrap_err();
    assert!(matches!(err, GrytCiError::Unreadable { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&missing.display().to_string()));

    let err = read(Path::new("/dev/null")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/dev/null: not a regular file or a directory"
    );

    let err = read(root).unwrap_err();
    assert!(matches!(err, GrytCiError::NoStore { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: no gryt-ci store here (expected .gryt/gryt.db in it)",
            root.display()
        )
    );

    let text = root.join("notes.txt");
    std::fs::write(&text, "version: v1.0.0\n".repeat(100)).unwrap();
    let err = read(&text).unwrap_err();
    assert!(matches!(err, GrytCiError::NotSqlite { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{}: not a SQLite database", text.display())
    );

    // A SQLite database of something else.
    let other = root.join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let err = read(&other).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: not a gryt-ci store: it has no `generations` table",
            other.display()
        )
    );

    // A store from before gryt-ci added a column.
    let (_d, ws) = edited("basic", |c| {
        c.execute_batch("ALTER TABLE evolutions DROP COLUMN created_by")
            .unwrap()
    });
    let err = read(&ws).unwrap_err();
    assert!(
        err.to_string().ends_with(
            "not a gryt-ci store: table `evolutions` has no `created_by` column (a store from \
             an older gryt-ci: run `gryt migrate` with gryt-ci first)"
        ),
        "{err}"
    );
}

#[test]
fn damaged_stores_are_refused() {
    let bytes = std::fs::read(fixture("basic/.gryt/gryt.db")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let damaged = "the database is damaged or truncated: database disk image is malformed";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", bytes[..bytes.len() / 2].to_vec(), damaged),
        ("header-only", bytes[..100].to_vec(), damaged),
        // SQLite reads an empty file as an empty database.
        (
            "empty",
            Vec::new(),
            "not a gryt-ci store: it has no `generations` table",
        ),
        (
            "zeroed-pages",
            {
                let mut b = bytes.clone();
                b[8192..40960].fill(0);
                b
            },
            damaged,
        ),
        (
            "scribbled-pages",
            {
                let mut b = bytes.clone();
                for (i, x) in b[4096..].iter_mut().enumerate() {
                    *x ^= (i % 251) as u8;
                }
                b
            },
            damaged,
        ),
    ];
    for (name, content, expected) in cases {
        let db = dir.path().join(format!("{name}.db"));
        std::fs::write(&db, &content).unwrap();
        let err = read(&db).expect_err(name);
        assert_eq!(
            err.to_string(),
            format!("{}: {expected}", db.display()),
            "{name}"
        );
        assert_eq!(std::fs::read(&db).unwrap(), content, "{name}: not written");
    }
}

/// Copies the fixture workspace `name` to `to`.
fn copy_fixture(name: &str, to: &Path) {
    let from = fixture(name);
    for entry in ["gryt.db", "generations"] {
        let src = from.join(".gryt").join(entry);
        let dst = to.join(".gryt").join(entry);
        if src.is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            for f in std::fs::read_dir(&src).unwrap() {
                let f = f.unwrap();
                std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
            }
        } else {
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A copy of fixture `name` in a temporary directory, changed by `edit`.
fn edited(name: &str, edit: impl FnOnce(&Connection)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    copy_fixture(name, &ws);
    let conn = Connection::open(ws.join(".gryt/gryt.db")).unwrap();
    edit(&conn);
    drop(conn);
    (dir, ws)
}

#[test]
fn contract_files_that_differ_from_the_store_are_noted() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    copy_fixture("basic", &ws);
    let files = ws.join(".gryt/generations");
    let before = read(&ws).unwrap();
    // An edit gryt-ci's database never got: a third change.
    let mut text = std::fs::read_to_string(files.join("v1.0.0.yaml")).unwrap();
    text.push_str("- id: FEAT-9\n  type: add\n  title: Not updated yet\n");
    std::fs::write(files.join("v1.0.0.yaml"), text).unwrap();
    // A file that is not YAML, and a directory in place of a file.
    std::fs::write(files.join("v1.1.0.yaml"), "changes: [unclosed\n").unwrap();
    let got = read(&ws).unwrap();
    assert_eq!(
        got.records, before.records,
        "the store's contracts are imported"
    );
    let added: Vec<&String> = got.notes[before.notes.len()..].iter().collect();
    assert_eq!(added.len(), 2, "{added:#?}");
    assert_eq!(
        added[0],
        "v1.0.0: .gryt/generations/v1.0.0.yaml differs from gryt-ci's database (edited after \
         the last `gryt generation update`?); the database's contract is imported"
    );
    assert!(
        added[1].starts_with("v1.1.0: .gryt/generations/v1.1.0.yaml cannot be read ("),
        "{}",
        added[1]
    );
    std::fs::remove_file(files.join("v1.1.0.yaml")).unwrap();
    std::fs::create_dir(files.join("v1.1.0.yaml")).unwrap();
    let got = read(&ws).unwrap();
    assert!(has_note(
        &got,
        "v1.1.0: .gryt/generations/v1.1.0.yaml is not a regular file; the database's contract \
         is imported"
    ));
}

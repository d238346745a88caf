//! The rules against a real storage backend, without HTTP: fast table-style checks of the
//! decisions the handlers rely on.

use serde_json::json;
use uuid::Uuid;

use super::{Actor, decode_push, promote, push};
use crate::api::{ErrorCode, PromoteRequest, PushRecord, PushRequest, Record};
use crate::server::ServiceError;
use crate::server::storage::{self, SqliteStorage, Storage};

struct Fixture {
    _dir: tempfile::TempDir,
    storage: SqliteStorage,
    project: String,
    ann: Actor,
    bob: Actor,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let now = "2026-01-01T00:00:00Z";
    let ann = storage.create_account("ann", "x", now).unwrap();
    let bob = storage.create_account("bob", "x", now).unwrap();
    let team = storage.create_team("acme", &ann.id, now).unwrap();
    let project = storage.create_project(&team, "web", now).unwrap().id;
    let actor = |a: crate::server::storage::AccountRow| Actor {
        account_id: a.id,
        username: a.username,
    };
    Fixture {
        _dir: dir,
        storage,
        project,
        ann: actor(ann),
        bob: actor(bob),
    }
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 | n)
}

fn generation(n: u128, version: &str) -> Record {
    serde_json::from_value(json!({"kind": "generation", "record": {
        "id": id(n), "version": version, "status": "draft", "created_at": "2026-01-01T00:00:00Z",
        "changes": [{"type": "add", "id": "A-1", "title": "One"}]}}))
    .unwrap()
}

fn evolution(n: u128, generation: u128, rc: u32, status: &str) -> Record {
    let completed = (status == "pass" || status == "fail").then_some("2026-01-01T00:00:01Z");
    serde_json::from_value(json!({"kind": "evolution", "record": {
        "id": id(n), "generation_id": id(generation), "change_id": "A-1", "rc": rc,
        "code_name": format!("brave-calm-otter{n}"), "status": status,
        "started_at": "2026-01-01T00:00:00Z", "completed_at": completed}}))
    .unwrap()
}

impl Fixture {
    fn push(
        &self,
        who: &Actor,
        base_seq: u64,
        records: &[(Option<u64>, Record)],
    ) -> Result<u64, ErrorCode> {
        let req = PushRequest {
            base_seq,
            idempotency_key: Uuid::now_v7().to_string(),
            records: records
                .iter()
                .map(|(b, r)| PushRecord::new(*b, r).unwrap())
                .collect(),
        };
        let body = serde_json::to_vec(&req).unwrap();
        let decoded = decode_push(req, &body).map_err(|e| e.code())?;
        storage::transact(&self.storage, &self.project, |tx| {
            push(tx, who, &decoded, "2026-01-02T00:00:00Z")
        })
        .map(|r| r.head)
        .map_err(|e: ServiceError| e.code())
    }

    fn promote(
        &self,
        who: &Actor,
        n: u128,
        base_seq: u64,
        revision: u64,
    ) -> Result<u64, ErrorCode> {
        storage::transact(&self.storage, &self.project, |tx| {
            promote(
                tx,
                who,
                id(n),
                &PromoteRequest { base_seq, revision },
                "2026-01-03T00:00:00Z",
            )
        })
        .map(|r| r.head)
        .map_err(|e| e.code())
    }

    fn head(&self) -> u64 {
        self.storage.changes(&self.project, 0, 1).unwrap().head
    }
}

/// (who, base_seq, records with base revisions, expected head or code)
type Case<'a> = (
    &'a Actor,
    u64,
    Vec<(Option<u64>, Record)>,
    Result<u64, ErrorCode>,
);

#[test]
fn push_decisions() {
    let f = fixture();
    assert_eq!(f.push(&f.ann, 0, &[(None, generation(1, "1.0.0"))]), Ok(1));
    let cases: Vec<Case<'_>> = vec![
        (
            &f.ann,
            0,
            vec![(None, generation(2, "2.0.0"))],
            Err(ErrorCode::Behind),
        ),
        (
            &f.ann,
            5,
            vec![(None, generation(2, "2.0.0"))],
            Err(ErrorCode::Validation),
        ),
        (
            &f.bob,
            1,
            vec![(None, generation(2, "1.0.0"))],
            Err(ErrorCode::VersionExists),
        ),
        (
            &f.ann,
            1,
            vec![(None, generation(1, "1.0.1"))],
            Err(ErrorCode::StaleRevision),
        ),
        (&f.ann, 1, vec![(None, generation(1, "1.0.0"))], Ok(1)),
        (
            &f.ann,
            1,
            vec![(None, evolution(3, 9, 1, "pending"))],
            Err(ErrorCode::Validation),
        ),
        (
            &f.ann,
            1,
            vec![(None, evolution(3, 1, 1, "pending"))],
            Ok(2),
        ),
        (
            &f.ann,
            2,
            vec![(None, evolution(4, 1, 1, "pending"))],
            Err(ErrorCode::TagTaken),
        ),
        (
            &f.bob,
            2,
            vec![(Some(1), evolution(3, 1, 1, "pass"))],
            Err(ErrorCode::NotOwner),
        ),
        (
            &f.ann,
            2,
            vec![(Some(1), evolution(3, 1, 1, "pass"))],
            Ok(3),
        ),
        (
            &f.ann,
            3,
            vec![(Some(2), evolution(3, 1, 1, "fail"))],
            Err(ErrorCode::Validation),
        ),
    ];
    for (i, (who, base, records, expected)) in cases.into_iter().enumerate() {
        assert_eq!(f.push(who, base, &records), expected, "case {i}");
    }
    assert_eq!(f.head(), 3);
}

#[test]
fn a_failing_record_rolls_back_the_whole_push() {
    let f = fixture();
    f.push(&f.ann, 0, &[(None, generation(1, "1.0.0"))])
        .unwrap();
    let result = f.push(
        &f.ann,
        1,
        &[
            (None, generation(2, "2.0.0")),
            (None, generation(3, "1.0.0")),
            (None, generation(4, "4.0.0")),
        ],
    );
    assert_eq!(result, Err(ErrorCode::VersionExists));
    assert_eq!(f.head(), 1);
    assert_eq!(
        f.storage.changes(&f.project, 0, 100).unwrap().bodies.len(),
        1
    );
}

#[test]
fn promotion_decisions() {
    let f = fixture();
    f.push(
        &f.ann,
        0,
        &[
            (None, generation(1, "1.0.0")),
            (None, evolution(2, 1, 1, "fail")),
        ],
    )
    .unwrap();
    assert_eq!(f.promote(&f.ann, 1, 2, 1), Err(ErrorCode::GatesFailed));
    f.push(&f.bob, 2, &[(None, evolution(3, 1, 2, "pass"))])
        .unwrap();
    assert_eq!(f.promote(&f.ann, 1, 2, 1), Err(ErrorCode::Behind));
    assert_eq!(f.promote(&f.ann, 1, 3, 7), Err(ErrorCode::StaleRevision));
    assert_eq!(f.promote(&f.ann, 9, 3, 1), Err(ErrorCode::NotFound));
    assert_eq!(f.promote(&f.bob, 1, 3, 1), Ok(4));
    assert_eq!(f.promote(&f.ann, 1, 4, 2), Err(ErrorCode::AlreadyPromoted));
    assert_eq!(
        f.push(
            &f.bob,
            4,
            &[
                (Some(1), evolution(3, 1, 2, "pass")),
                (None, evolution(5, 1, 3, "pass"))
            ]
        ),
        Err(ErrorCode::PromotedImmutable)
    );
}

#[test]
fn gates_order_attempts_by_instant_not_text() {
    let f = fixture();
    // rc 1 passes at 10:00+02:00 (08:00Z); rc 2 fails at 09:00Z — later, although its text
    // sorts first. The latest completed attempt failed: no promotion.
    let mut pass = evolution(2, 1, 1, "pass");
    let mut fail = evolution(3, 1, 2, "fail");
    if let (Record::Evolution(p), Record::Evolution(x)) = (&mut pass, &mut fail) {
        p.started_at = "2026-01-01T10:00:00+02:00".into();
        x.started_at = "2026-01-01T09:00:00Z".into();
    }
    f.push(
        &f.ann,
        0,
        &[(None, generation(1, "1.0.0")), (None, pass), (None, fail)],
    )
    .unwrap();
    assert_eq!(f.promote(&f.ann, 1, 3, 1), Err(ErrorCode::GatesFailed));
}

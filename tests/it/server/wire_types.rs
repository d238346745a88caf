//! Every answer decodes into the shared `gryt::api` types the client uses, including the typed
//! `details` of each rejection — so client and server cannot drift apart silently.

use gryt::api::accounts::{Account, IssuedToken, Member, Project, Team, TokenInfo, WhoAmI};
use gryt::api::error::{
    BehindDetails, StaleRevisionDetails, TagTakenDetails, VersionHolderDetails,
};
use gryt::api::sync::{DeleteResponse, ProjectInfo};
use gryt::api::{
    ChangesPage, ErrorBody, ErrorCode, PromoteRequest, PromoteResponse, PushRecord, PushRequest,
    PushResponse, Record,
};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::harness::*;

#[track_caller]
fn typed<T: DeserializeOwned>(r: &Resp) -> T {
    serde_json::from_value(r.json.clone())
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", r.json))
}

#[track_caller]
fn error(r: &Resp, code: ErrorCode) -> ErrorBody {
    let body: ErrorBody = typed(r);
    assert_eq!(body.error, code, "{}", r.json);
    assert_eq!(r.status, code.http_status());
    body
}

fn push_req(base_seq: u64, records: &[(Option<u64>, Record)]) -> serde_json::Value {
    let req = PushRequest {
        base_seq,
        idempotency_key: uuid::Uuid::now_v7().to_string(),
        records: records
            .iter()
            .map(|(b, r)| PushRecord::new(*b, r).unwrap())
            .collect(),
    };
    serde_json::to_value(req).unwrap()
}

fn record(push_entry: serde_json::Value) -> Record {
    serde_json::from_value(json!({"kind": push_entry["kind"], "record": push_entry["record"]}))
        .unwrap()
}

#[test]
fn answers_decode_into_the_shared_types() {
    let s = TestServer::start();
    let c = s.client();
    let account: Account = typed(&c.post(
        "/v1/accounts",
        json!({"username": "ann", "password": "password-ann"}),
    ));
    assert_eq!(account.username, "ann");
    let issued: IssuedToken = typed(&c.post(
        "/v1/auth/login",
        json!({"username": "ann", "password": "password-ann"}),
    ));
    let ann = c.with_token(&issued.token);
    let me: WhoAmI = typed(&ann.get("/v1/auth/whoami"));
    assert!(me.token.current);
    let _: Vec<TokenInfo> = typed(&ann.get("/v1/tokens"));
    let _: Team = typed(&ann.post("/v1/teams", json!({"name": "acme"})));
    let _: Vec<Team> = typed(&ann.get("/v1/teams"));
    let _: Project = typed(&ann.post("/v1/teams/acme/projects", json!({"name": "web"})));
    let _: Vec<Project> = typed(&ann.get("/v1/teams/acme/projects"));
    let _: Vec<Member> = typed(&ann.get("/v1/teams/acme/members"));
    let p = "acme/web";
    let info: ProjectInfo = typed(&ann.get(&format!("/v1/projects/{p}")));
    assert_eq!(info.head, 0);

    let g = record(generation(gen_record(&uid(1), "1.0.0", &["A-1"])));
    let e = record(evolution(evo_record(
        &uid(2),
        &uid(1),
        "A-1",
        1,
        &code_name(2),
        "pass",
    )));
    let pushed: PushResponse = typed(&ann.post(
        &format!("/v1/projects/{p}/push"),
        push_req(0, &[(None, g.clone()), (None, e.clone())]),
    ));
    assert_eq!(pushed.head, 2);

    let r = ann.post(
        &format!("/v1/projects/{p}/push"),
        push_req(0, &[(None, g.clone())]),
    );
    let d: BehindDetails = error(&r, ErrorCode::Behind).details_as().unwrap();
    assert_eq!(d.missing, 2);
    let other = record(generation(gen_record(&uid(7), "1.0.0", &["A-1"])));
    let r = ann.post(
        &format!("/v1/projects/{p}/push"),
        push_req(2, &[(None, other)]),
    );
    let d: VersionHolderDetails = error(&r, ErrorCode::VersionExists).details_as().unwrap();
    assert_eq!(d.suggested_versions, ["v1.0.1", "v1.1.0"]);
    let taken = record(evolution(evo_record(
        &uid(3),
        &uid(1),
        "A-1",
        1,
        &code_name(3),
        "pending",
    )));
    let r = ann.post(
        &format!("/v1/projects/{p}/push"),
        push_req(2, &[(None, taken)]),
    );
    let d: TagTakenDetails = error(&r, ErrorCode::TagTaken).details_as().unwrap();
    assert_eq!(d.next_free_rc, 2);
    let stale = record(generation(gen_record(&uid(1), "1.0.0", &["A-1", "A-2"])));
    let r = ann.post(
        &format!("/v1/projects/{p}/push"),
        push_req(2, &[(Some(9), stale)]),
    );
    let d: StaleRevisionDetails = error(&r, ErrorCode::StaleRevision).details_as().unwrap();
    assert_eq!(d.current_revision, 1);

    let page: ChangesPage = typed(&ann.get(&format!("/v1/projects/{p}/changes?since=0")));
    assert_eq!(page.records, {
        let (mut g, mut e) = (g, e);
        if let (Record::Generation(g), Record::Evolution(e)) = (&mut g, &mut e) {
            g.created_by = "ann".into();
            (g.revision, g.seq) = (1, 1);
            e.owner = "ann".into();
            (e.revision, e.seq) = (1, 2);
        }
        vec![g, e]
    });
    assert_eq!((page.next, page.head, page.more), (2, 2, false));

    let promote = |req: PromoteRequest| {
        ann.post(
            &format!("/v1/projects/{p}/generations/{}/promote", uid(1)),
            serde_json::to_value(req).unwrap(),
        )
    };
    let done: PromoteResponse = typed(&promote(PromoteRequest {
        base_seq: 2,
        revision: 1,
    }));
    assert!(done.gates.iter().all(|g| g.passed));
    let d: VersionHolderDetails = error(
        &promote(PromoteRequest {
            base_seq: 3,
            revision: 2,
        }),
        ErrorCode::AlreadyPromoted,
    )
    .details_as()
    .unwrap();
    assert_eq!(d.promoted_by.as_deref(), Some("ann"));

    let draft = record(generation(gen_record(&uid(10), "2.0.0", &["A-1"])));
    ann.post(
        &format!("/v1/projects/{p}/push"),
        push_req(3, &[(None, draft)]),
    )
    .ok();
    let deleted: DeleteResponse =
        typed(&ann.delete(&format!("/v1/projects/{p}/generations/{}", uid(10))));
    assert_eq!(deleted.head, 5);
    let page: ChangesPage = typed(&ann.get(&format!("/v1/projects/{p}/changes?since=4")));
    assert!(matches!(&page.records[..], [Record::Deleted(t)] if t.id.to_string() == uid(10)));
}

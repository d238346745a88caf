//! `GET …/generations/{version}/status`: where a generation stands, computed by the server
//! from its own data with the gates promotion runs.

use serde_json::{Value, json};

use super::harness::*;

fn status(c: &Client, p: &str, version: &str) -> Resp {
    c.get(&format!("/v1/projects/{p}/generations/{version}/status"))
}

fn evo_at(id: u128, change: &str, rc: u32, status: &str, started_at: &str) -> Value {
    let mut e = evo_record(&uid(id), &uid(1), change, rc, &code_name(id as u64), status);
    e["started_at"] = json!(started_at);
    e
}

/// (tag, owner, status) of an evolution.
type Proof = (String, String, String);

/// (change id, proven, [proof]) of every change, in the answer's order.
fn changes(r: &Value) -> Vec<(String, bool, Vec<Proof>)> {
    r["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            let evs = c["evolutions"]
                .as_array()
                .expect("evolutions")
                .iter()
                .map(|e| {
                    (
                        e["tag"].as_str().unwrap().to_string(),
                        e["owner"].as_str().unwrap().to_string(),
                        e["status"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            (
                c["id"].as_str().unwrap().to_string(),
                c["proven"].as_bool().unwrap(),
                evs,
            )
        })
        .collect()
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn the_status_shows_each_change_its_proofs_and_the_gates_promotion_would_judge() {
    let srv = TestServer::start();
    let ann = srv.user("ann");
    let bob = srv.user("bob");
    let p = ann.project("acme", "web");
    ann.post("/v1/teams/acme/members", json!({"username": "bob"}))
        .ok();
    let mut g = gen_record(&uid(1), "2.0.0", &["B-2", "A-1", "C-3"]);
    g["changes"][0]["type"] = json!("fix");
    ann.push(&p, 0, vec![generation(g)]).ok();
    // rc 2 sorts first as text but started later (another offset): the instant counts.
    ann.push(
        &p,
        1,
        vec![
            evolution(evo_at(2, "A-1", 1, "fail", "2026-01-01T10:00:00Z")),
            evolution(evo_at(3, "A-1", 2, "pass", "2026-01-01T09:00:00-02:00")),
        ],
    )
    .ok();
    bob.push(
        &p,
        3,
        vec![
            evolution(evo_at(4, "B-2", 3, "pass", "2026-01-01T12:00:00Z")),
            evolution(evo_at(5, "B-2", 4, "fail", "2026-01-01T13:00:00Z")),
        ],
    )
    .ok();

    let r = status(&bob, &p, "2.0.0");
    let body = r.ok().clone();
    assert_eq!(r.header("x-gryt-head"), Some("5"));
    assert_eq!(body["head"], 5);
    assert_eq!(body["version"], "v2.0.0");
    assert_eq!(body["generation_id"], uid(1));
    assert_eq!(body["status"], "draft");
    assert_eq!(body["created_by"], "ann");
    assert!(body.get("promoted_by").is_none(), "{body}");
    assert_eq!(body["changes"][0]["type"], "fix");
    assert_eq!(body["changes"][0]["title"], "Change B-2");
    assert_eq!(
        changes(&body),
        vec![
            (
                s("B-2"),
                true,
                vec![
                    (s("v2.0.0-rc.3"), s("bob"), s("pass")),
                    (s("v2.0.0-rc.4"), s("bob"), s("fail")),
                ]
            ),
            (
                s("A-1"),
                true,
                vec![
                    (s("v2.0.0-rc.1"), s("ann"), s("fail")),
                    (s("v2.0.0-rc.2"), s("ann"), s("pass")),
                ]
            ),
            (s("C-3"), false, vec![]),
        ]
    );
    let a1 = &body["changes"][1]["evolutions"][0];
    assert_eq!(a1["started_at"], "2026-01-01T10:00:00Z");
    assert_eq!(a1["completed_at"], T0);
    assert_eq!(a1["code_name"], code_name(2));
    assert_eq!(a1["id"], uid(2));
    assert_eq!(body["proven"], 2);
    assert_eq!(body["ready"], false);
    // The answer is the shared wire type, field for field.
    let typed: gryt::api::GenerationStatusResponse =
        serde_json::from_value(body.clone()).expect("decodes");
    assert_eq!(serde_json::to_value(&typed).unwrap(), body);
    let failing: Vec<&str> = body["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["passed"] == false)
        .map(|g| g["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        failing,
        vec!["not proven: C-3", "latest evolution failed: B-2"]
    );
    // Exactly the gates a promotion is refused with.
    let refused = ann.post(
        &format!("/v1/projects/{p}/generations/{}/promote", uid(1)),
        json!({"base_seq": 5, "revision": 1}),
    );
    assert_eq!(
        refused.expect_error(409, "gates_failed")["gates"],
        body["gates"]
    );

    // Both proven, the latest of each a pass: ready, and promotion agrees.
    bob.push(
        &p,
        5,
        vec![
            evolution(evo_at(6, "B-2", 5, "pass", "2026-01-01T14:00:00Z")),
            evolution(evo_at(7, "C-3", 6, "pass", "2026-01-01T14:00:00Z")),
        ],
    )
    .ok();
    let ready = status(&ann, &p, "v2.0.0").ok().clone();
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["proven"], 3);
    assert!(
        ready["gates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["passed"] == true)
    );
    let promoted = ann.post(
        &format!("/v1/projects/{p}/generations/{}/promote", uid(1)),
        json!({"base_seq": 7, "revision": 1}),
    );
    assert_eq!(promoted.ok()["gates"], ready["gates"]);

    let after = status(&bob, &p, "2.0.0").ok().clone();
    assert_eq!(after["status"], "promoted");
    assert_eq!(after["promoted_by"], "ann");
    assert_eq!(
        after["promoted_at"],
        promoted.json["generation"]["promoted_at"]
    );
    assert_eq!(after["ready"], false, "promoted already: not ready again");
    assert_eq!(after["head"], 8);
}

#[test]
fn unknown_deleted_and_malformed_versions_are_refused() {
    let srv = TestServer::start();
    let ann = srv.user("ann");
    let p = ann.project("acme", "web");
    ann.push(
        &p,
        0,
        vec![
            generation(gen_record(&uid(1), "1.0.0", &["A-1"])),
            generation(gen_record(&uid(2), "1.1.0", &["A-1"])),
        ],
    )
    .ok();
    let head = ann.head(&p);

    let d = status(&ann, &p, "3.0.0")
        .expect_error(404, "not_found")
        .clone();
    assert_eq!(d["resource"], "generation");
    assert_eq!(d["name"], "3.0.0");
    // A deleted generation is gone from the status too.
    status(&ann, &p, "1.1.0").ok();
    ann.delete(&format!("/v1/projects/{p}/generations/{}", uid(2)))
        .ok();
    status(&ann, &p, "1.1.0").expect_error(404, "not_found");
    for bad in ["2.0", "banana", "v1.0.0-rc.1", "1.0.0.0", "%20"] {
        let r = status(&ann, &p, bad);
        r.expect_error(400, "bad_request");
        assert!(
            r.json["message"].as_str().unwrap().contains("2.0.0"),
            "{}",
            r.json
        );
    }
    // Without credentials: 401, nothing said about the project.
    srv.client()
        .get(&format!("/v1/projects/{p}/generations/1.0.0/status"))
        .expect_error(401, "unauthorized");
    // A read changes nothing.
    assert_eq!(ann.head(&p), head + 1);
}

//! Promotion: gates on the server's data, first promoter wins, stale and behind checks.

use serde_json::json;

use super::harness::*;

fn promote(c: &Client, p: &str, id: &str, base_seq: u64, revision: u64) -> Resp {
    c.post(
        &format!("/v1/projects/{p}/generations/{id}/promote"),
        json!({"base_seq": base_seq, "revision": revision}),
    )
}

#[test]
fn promotion_checks_gates_then_wins_once() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let bob = s.user("bob");
    let p = ann.project("acme", "web");
    ann.post("/v1/teams/acme/members", json!({"username": "bob"}))
        .ok();
    ann.push(
        &p,
        0,
        vec![generation(gen_record(&uid(1), "1.0.0", &["A-1", "B-2"]))],
    )
    .ok();

    // No evolutions: gates fail, with each gate reported.
    let r = promote(&ann, &p, &uid(1), 1, 1);
    let d = r.expect_error(409, "gates_failed");
    assert_eq!(d["gates"][0]["passed"], false);
    assert!(
        d["gates"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("A-1, B-2")
    );

    ann.push(
        &p,
        1,
        vec![evolution(evo_record(
            &uid(2),
            &uid(1),
            "A-1",
            1,
            &code_name(2),
            "pass",
        ))],
    )
    .ok();
    bob.push(
        &p,
        2,
        vec![evolution(evo_record(
            &uid(3),
            &uid(1),
            "B-2",
            2,
            &code_name(3),
            "pass",
        ))],
    )
    .ok();
    bob.push(
        &p,
        3,
        vec![evolution(evo_record(
            &uid(4),
            &uid(1),
            "B-2",
            3,
            &code_name(4),
            "fail",
        ))],
    )
    .ok();
    let d = promote(&ann, &p, &uid(1), 4, 1)
        .expect_error(409, "gates_failed")
        .clone();
    assert!(
        d["gates"][1]["detail"].as_str().unwrap().contains("B-2"),
        "{d}"
    );

    // A passing run after the failure clears it.
    bob.push(
        &p,
        4,
        vec![evolution(evo_record(
            &uid(5),
            &uid(1),
            "B-2",
            4,
            &code_name(5),
            "pass",
        ))],
    )
    .ok();
    // The client's view is behind a change to this generation's evolutions.
    promote(&ann, &p, &uid(1), 4, 1).expect_error(409, "behind");
    promote(&ann, &p, &uid(1), 5, 0).expect_error(409, "stale_revision");
    promote(&ann, &p, &uid(99), 5, 1).expect_error(404, "not_found");
    promote(&ann, &p, "v1.0.0", 5, 1).expect_error(404, "not_found");

    let r = promote(&ann, &p, &uid(1), 5, 1);
    let body = r.ok();
    assert_eq!(body["generation"]["status"], "promoted");
    assert_eq!(body["generation"]["promoted_by"], "ann");
    assert_eq!(body["generation"]["revision"], 2);
    assert_eq!(body["head"], 6);

    let d = promote(&bob, &p, &uid(1), 5, 1)
        .expect_error(409, "already_promoted")
        .clone();
    assert_eq!(d["promoted_by"], "ann");
    assert!(d["promoted_at"].is_string());
    assert_eq!(d["suggested_versions"], json!(["v1.0.1", "v1.1.0"]));
    // The feed carries the promotion.
    let (feed, _) = ann.pull_all(&p, 1000);
    assert_eq!(feed.last().unwrap()["record"]["status"], "promoted");
}

#[test]
fn promotion_unrelated_to_later_pushes_is_not_behind() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    ann.push(
        &p,
        0,
        vec![
            generation(gen_record(&uid(1), "1.0.0", &["A-1"])),
            evolution(evo_record(
                &uid(2),
                &uid(1),
                "A-1",
                1,
                &code_name(2),
                "pass",
            )),
        ],
    )
    .ok();
    ann.push(
        &p,
        2,
        vec![generation(gen_record(&uid(3), "2.0.0", &["A-1"]))],
    )
    .ok();
    let r = promote(&ann, &p, &uid(1), 2, 1);
    assert_eq!(r.ok()["head"], 4);
    let mut abandoned = gen_record(&uid(3), "2.0.0", &["A-1"]);
    abandoned["status"] = json!("abandoned");
    ann.push(&p, 4, vec![rec("generation", Some(1), abandoned)])
        .ok();
    promote(&ann, &p, &uid(3), 5, 2).expect_error(422, "validation");
    ann.post_raw(
        &format!("/v1/projects/{p}/generations/{}/promote", uid(3)),
        b"[]".to_vec(),
    )
    .expect_error(422, "validation");
}

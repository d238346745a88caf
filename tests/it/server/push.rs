//! The atomic push: every rejection code, atomicity, idempotency, body limit.

use gryt::server::ServerConfig;
use serde_json::{Value, json};

use super::harness::*;

fn setup() -> (TestServer, Client, String) {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    (s, ann, p)
}

fn changes(c: &Client, p: &str) -> Vec<Value> {
    c.pull_all(p, 1000).0
}

#[test]
fn create_update_and_unchanged() {
    let (_s, ann, p) = setup();
    let g = gen_record(&uid(1), "1.0.0", &["FEAT-1"]);
    let r = ann.push(&p, 0, vec![generation(g.clone())]);
    let body = r.ok();
    assert_eq!(body["head"], 1);
    assert_eq!(body["results"][0]["action"], "created");
    assert_eq!(body["results"][0]["revision"], 1);
    assert_eq!(r.header("x-gryt-head"), Some("1"));

    let feed = changes(&ann, &p);
    assert_eq!(feed.len(), 1);
    let stored = &feed[0]["record"];
    assert_eq!(feed[0]["kind"], "generation");
    assert_eq!(stored["id"], uid(1));
    assert_eq!(stored["version"], "v1.0.0");
    assert_eq!(stored["created_by"], "ann");
    assert_eq!(
        (stored["revision"].as_u64(), stored["seq"].as_u64()),
        (Some(1), Some(1))
    );

    // Same content again: unchanged, the head does not move.
    let r = ann.push(&p, 1, vec![rec("generation", Some(1), g.clone())]);
    assert_eq!(r.ok()["results"][0]["action"], "unchanged");
    assert_eq!(r.json["head"], 1);

    let mut edited = g.clone();
    edited["description"] = json!("now with a description");
    edited["changes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "fix", "id": "BUG-2", "title": "Crash"}));
    let r = ann.push(&p, 1, vec![rec("generation", Some(1), edited)]);
    assert_eq!(r.ok()["results"][0]["action"], "updated");
    assert_eq!(
        (
            r.json["results"][0]["revision"].as_u64(),
            r.json["head"].as_u64()
        ),
        (Some(2), Some(2))
    );
    let feed = changes(&ann, &p);
    assert_eq!(feed.len(), 1, "one record, at its latest seq");
    assert_eq!(feed[0]["record"]["seq"], 2);
    assert_eq!(feed[0]["record"]["changes"].as_array().unwrap().len(), 2);
}

#[test]
fn generation_evolution_and_run_in_one_push() {
    let (_s, ann, p) = setup();
    let r = ann.push(
        &p,
        0,
        vec![
            rec("pipeline_run", None, run_record(&uid(3), Some(&uid(2)))),
            evolution(evo_record(
                &uid(2),
                &uid(1),
                "FEAT-1",
                1,
                &code_name(1),
                "pass",
            )),
            generation(gen_record(&uid(1), "1.0.0", &["FEAT-1"])),
        ],
    );
    let results = r.ok()["results"].as_array().unwrap();
    let kinds: Vec<&str> = results
        .iter()
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["generation", "evolution", "pipeline_run"],
        "applied in dependency order"
    );
    assert_eq!(r.json["head"], 3);
    let feed = changes(&ann, &p);
    assert_eq!(feed[1]["record"]["owner"], "ann");
    assert_eq!(feed[2]["record"]["started_by"], "ann");
    assert_eq!(feed[2]["record"]["steps"][0]["exit_code"], 0);
}

#[test]
fn behind_reports_missing_changes() {
    let (_s, ann, p) = setup();
    ann.push(
        &p,
        0,
        vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))],
    )
    .ok();
    ann.push(
        &p,
        1,
        vec![generation(gen_record(&uid(2), "1.1.0", &["A-1"]))],
    )
    .ok();
    let r = ann.push(
        &p,
        0,
        vec![generation(gen_record(&uid(3), "1.2.0", &["A-1"]))],
    );
    let d = r.expect_error(409, "behind");
    assert_eq!(
        r.header("x-gryt-head"),
        Some("2"),
        "rejections carry the head too"
    );
    assert_eq!(
        (
            d["head"].as_u64(),
            d["base_seq"].as_u64(),
            d["missing"].as_u64()
        ),
        (Some(2), Some(0), Some(2))
    );
    assert_eq!(ann.head(&p), 2);
    ann.push(&p, 7, vec![]).expect_error(422, "validation");
}

#[test]
fn version_exists_names_the_holder_and_suggests_free_versions() {
    let (s, ann, p) = setup();
    let bob = s.user("bob");
    ann.post("/v1/teams/acme/members", json!({"username": "bob"}))
        .ok();
    ann.push(
        &p,
        0,
        vec![
            generation(gen_record(&uid(1), "1.0.0", &["A-1"])),
            generation(gen_record(&uid(2), "1.0.1", &["A-1"])),
        ],
    )
    .ok();
    let r = bob.push(
        &p,
        2,
        vec![generation(gen_record(&uid(9), "v1.0.0", &["B-1"]))],
    );
    let d = r.expect_error(409, "version_exists");
    assert_eq!(d["version"], "v1.0.0");
    assert_eq!(d["created_by"], "ann");
    assert_eq!(d["created_at"], T0);
    assert_eq!(d["promoted"], false);
    assert_eq!(d["suggested_versions"], json!(["v1.0.2", "v1.1.0"]));
    // A rename to a taken version is refused the same way.
    let mut renamed = gen_record(&uid(2), "1.0.0", &["A-1"]);
    renamed["version"] = json!("1.0.0");
    ann.push(&p, 2, vec![rec("generation", Some(1), renamed)])
        .expect_error(409, "version_exists");
    // Renaming to a free version works and frees the old one.
    ann.push(
        &p,
        2,
        vec![rec(
            "generation",
            Some(1),
            gen_record(&uid(2), "2.0.0", &["A-1"]),
        )],
    )
    .ok();
    bob.push(
        &p,
        3,
        vec![generation(gen_record(&uid(9), "1.0.1", &["B-1"]))],
    )
    .ok();
}

/// Versions and rc numbers at the top of their range: the suggestions and hints past them do
/// not exist, and the answers say so instead of failing (they were 500s: an overflow).
#[test]
fn the_largest_versions_and_rc_numbers_get_answers() {
    let (_s, ann, p) = setup();
    let top = "1.18446744073709551615.18446744073709551615";
    let last_patch = "1.0.18446744073709551615";
    ann.push(
        &p,
        0,
        vec![
            generation(gen_record(&uid(1), top, &["A-1"])),
            generation(gen_record(&uid(2), last_patch, &["A-1"])),
            evolution(evo_record(
                &uid(3),
                &uid(1),
                "A-1",
                u32::MAX,
                &code_name(3),
                "pending",
            )),
        ],
    )
    .ok();
    let d = ann
        .push(&p, 3, vec![generation(gen_record(&uid(9), top, &["B-1"]))])
        .expect_error(409, "version_exists")
        .clone();
    assert_eq!(d["suggested_versions"], json!([]), "{d}");
    let d = ann
        .push(
            &p,
            3,
            vec![generation(gen_record(&uid(9), last_patch, &["B-1"]))],
        )
        .expect_error(409, "version_exists")
        .clone();
    assert_eq!(d["suggested_versions"], json!(["v1.1.0"]), "{d}");
    // The largest rc is taken: no next one to offer, so a plain validation error.
    let r = ann.push(
        &p,
        3,
        vec![evolution(evo_record(
            &uid(4),
            &uid(1),
            "A-1",
            u32::MAX,
            &code_name(4),
            "pending",
        ))],
    );
    let d = r.expect_error(422, "validation");
    assert_eq!(
        (d["field"].as_str(), d["index"].as_u64()),
        (Some("rc"), Some(0))
    );
    assert_eq!(ann.head(&p), 3, "nothing applied");
}

#[test]
fn stale_revision() {
    let (_s, ann, p) = setup();
    ann.push(
        &p,
        0,
        vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))],
    )
    .ok();
    ann.push(
        &p,
        1,
        vec![rec(
            "generation",
            Some(1),
            gen_record(&uid(1), "1.0.0", &["A-1", "A-2"]),
        )],
    )
    .ok();
    let r = ann.push(
        &p,
        2,
        vec![rec(
            "generation",
            Some(1),
            gen_record(&uid(1), "1.0.0", &["A-3"]),
        )],
    );
    let d = r.expect_error(409, "stale_revision");
    assert_eq!(
        (d["base_revision"].as_u64(), d["current_revision"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(d["id"], uid(1));
    // A record pushed as new that exists already is stale too.
    ann.push(
        &p,
        2,
        vec![generation(gen_record(&uid(1), "1.0.0", &["A-3"]))],
    )
    .expect_error(409, "stale_revision");
    // A base revision for a record the server never had is a client bug.
    ann.push(
        &p,
        2,
        vec![rec(
            "generation",
            Some(3),
            gen_record(&uid(5), "5.0.0", &["A-3"]),
        )],
    )
    .expect_error(422, "validation");
}

/// A proven, promoted v1.0.0 (generation uid(1), evolution uid(2) by ann). Head 3.
pub fn promoted(ann: &Client, p: &str) {
    ann.push(
        p,
        0,
        vec![
            generation(gen_record(&uid(1), "1.0.0", &["A-1"])),
            evolution(evo_record(
                &uid(2),
                &uid(1),
                "A-1",
                1,
                &code_name(1),
                "pass",
            )),
        ],
    )
    .ok();
    ann.post(
        &format!("/v1/projects/{p}/generations/{}/promote", uid(1)),
        json!({"base_seq": 2, "revision": 1}),
    )
    .ok();
}

#[test]
fn promoted_generations_are_immutable() {
    let (_s, ann, p) = setup();
    promoted(&ann, &p);
    let mut edit = gen_record(&uid(1), "1.0.0", &["A-1", "A-2"]);
    edit["status"] = json!("promoted");
    let d = ann
        .push(&p, 3, vec![rec("generation", Some(2), edit)])
        .expect_error(409, "promoted_immutable")
        .clone();
    assert_eq!(d["promoted_by"], "ann");
    let mut abandon = gen_record(&uid(1), "1.0.0", &["A-1"]);
    abandon["status"] = json!("abandoned");
    ann.push(&p, 3, vec![rec("generation", Some(2), abandon)])
        .expect_error(409, "promoted_immutable");
    // No new evolution, no change to an existing one.
    ann.push(
        &p,
        3,
        vec![evolution(evo_record(
            &uid(5),
            &uid(1),
            "A-1",
            2,
            &code_name(5),
            "pending",
        ))],
    )
    .expect_error(409, "promoted_immutable");
    let mut evo = evo_record(&uid(2), &uid(1), "A-1", 1, &code_name(1), "pass");
    evo["note"] = json!("rewritten history");
    ann.push(&p, 3, vec![rec("evolution", Some(1), evo)])
        .expect_error(409, "promoted_immutable");
    // An identical copy is accepted as unchanged (a retried sync is harmless).
    let mut same = gen_record(&uid(1), "1.0.0", &["A-1"]);
    same["status"] = json!("promoted");
    assert_eq!(
        ann.push(&p, 3, vec![rec("generation", Some(2), same)]).ok()["results"][0]["action"],
        "unchanged"
    );
    // A new generation arriving promoted must bring its proof (tests/it/server/publish.rs).
    let mut fake = gen_record(&uid(7), "7.0.0", &["A-1"]);
    fake["status"] = json!("promoted");
    ann.push(&p, 3, vec![generation(fake)])
        .expect_error(409, "gates_failed");
    // Pushing "promoted" for a draft the cloud holds is not how promotion works.
    ann.push(
        &p,
        3,
        vec![generation(gen_record(&uid(8), "8.0.0", &["A-1"]))],
    )
    .ok();
    let mut draft = gen_record(&uid(8), "8.0.0", &["A-1"]);
    draft["status"] = json!("promoted");
    ann.push(&p, 4, vec![rec("generation", Some(1), draft)])
        .expect_error(422, "validation");
    assert_eq!(ann.head(&p), 4);
}

#[test]
fn evolutions_belong_to_their_owner() {
    let (s, ann, p) = setup();
    let bob = s.user("bob");
    ann.post("/v1/teams/acme/members", json!({"username": "bob"}))
        .ok();
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
                &code_name(1),
                "running",
            )),
        ],
    )
    .ok();
    let r = bob.push(
        &p,
        2,
        vec![rec(
            "evolution",
            Some(1),
            evo_record(&uid(2), &uid(1), "A-1", 1, &code_name(1), "pass"),
        )],
    );
    let d = r.expect_error(403, "not_owner");
    assert_eq!(d["owner"], "ann");
    // bob proves the same change with his own evolution: both are kept.
    bob.push(
        &p,
        2,
        vec![evolution(evo_record(
            &uid(3),
            &uid(1),
            "A-1",
            2,
            &code_name(2),
            "pass",
        ))],
    )
    .ok();
    ann.push(
        &p,
        3,
        vec![rec(
            "evolution",
            Some(1),
            evo_record(&uid(2), &uid(1), "A-1", 1, &code_name(1), "fail"),
        )],
    )
    .ok();
    let feed = changes(&ann, &p);
    let owners: Vec<&str> = feed[1..]
        .iter()
        .map(|r| r["record"]["owner"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["bob", "ann"]);
    // Runs belong to who started them.
    ann.push(
        &p,
        4,
        vec![rec(
            "pipeline_run",
            None,
            run_record(&uid(8), Some(&uid(2))),
        )],
    )
    .ok();
    let mut run = run_record(&uid(8), Some(&uid(2)));
    run["status"] = json!("fail");
    bob.push(&p, 5, vec![rec("pipeline_run", Some(1), run)])
        .expect_error(403, "not_owner");
}

#[test]
fn rc_tags_and_code_names_are_unique() {
    let (_s, ann, p) = setup();
    ann.push(
        &p,
        0,
        vec![
            generation(gen_record(&uid(1), "2.0.0", &["A-1", "A-2"])),
            evolution(evo_record(
                &uid(2),
                &uid(1),
                "A-1",
                1,
                &code_name(1),
                "pass",
            )),
            evolution(evo_record(
                &uid(3),
                &uid(1),
                "A-2",
                2,
                &code_name(2),
                "pass",
            )),
        ],
    )
    .ok();
    let r = ann.push(
        &p,
        3,
        vec![evolution(evo_record(
            &uid(4),
            &uid(1),
            "A-2",
            1,
            &code_name(4),
            "pending",
        ))],
    );
    let d = r.expect_error(409, "tag_taken");
    assert_eq!(d["tag"], "v2.0.0-rc.1");
    assert_eq!(
        (d["next_free_rc"].as_u64(), d["next_free_tag"].as_str()),
        (Some(3), Some("v2.0.0-rc.3"))
    );
    ann.push(
        &p,
        3,
        vec![evolution(evo_record(
            &uid(4),
            &uid(1),
            "A-2",
            3,
            &code_name(1),
            "pending",
        ))],
    )
    .expect_error(409, "code_name_taken");
    ann.push(
        &p,
        3,
        vec![evolution(evo_record(
            &uid(4),
            &uid(1),
            "Z-9",
            3,
            &code_name(4),
            "pending",
        ))],
    )
    .expect_error(422, "validation");
    ann.push(
        &p,
        3,
        vec![evolution(evo_record(
            &uid(4),
            &uid(99),
            "A-2",
            3,
            &code_name(4),
            "pending",
        ))],
    )
    .expect_error(422, "validation");
    // Decided evolutions stay decided; immutable fields stay.
    ann.push(
        &p,
        3,
        vec![rec(
            "evolution",
            Some(1),
            evo_record(&uid(2), &uid(1), "A-1", 1, &code_name(1), "fail"),
        )],
    )
    .expect_error(422, "validation");
    ann.push(
        &p,
        3,
        vec![rec(
            "evolution",
            Some(1),
            evo_record(&uid(2), &uid(1), "A-2", 1, &code_name(1), "pass"),
        )],
    )
    .expect_error(422, "validation");
    // A change with evolutions cannot leave the contract.
    ann.push(
        &p,
        3,
        vec![rec(
            "generation",
            Some(1),
            gen_record(&uid(1), "2.0.0", &["A-1"]),
        )],
    )
    .expect_error(409, "change_in_use");
    assert_eq!(ann.head(&p), 3);
}

#[test]
fn validation_uses_the_domain_rules() {
    let (_s, ann, p) = setup();
    let good = gen_record(&uid(1), "1.0.0", &["FEAT-1"]);
    let cases: Vec<(&str, Value)> = vec![
        ("version", json!("1.0")),
        ("version", json!("1.0.0-rc.1")),
        ("id", json!("not-a-uuid")),
        ("changes", json!([])),
        (
            "changes",
            json!([{"type": "feature", "id": "FEAT-1", "title": "x"}]),
        ),
        (
            "changes",
            json!([{"type": "add", "id": "feat-1", "title": "x"}]),
        ),
        (
            "changes",
            json!([{"type": "add", "id": "FEAT-1", "title": "  "}]),
        ),
        (
            "changes",
            json!([{"type": "add", "id": "FEAT-1", "title": "a"}, {"type": "fix", "id": "FEAT-1", "title": "b"}]),
        ),
        ("created_at", json!("yesterday")),
        ("pipeline_template", json!("../etc")),
        (
            "changes",
            json!([{"type": "add", "id": "FEAT-1", "title": "x", "assignee": "Ann Lee"}]),
        ),
        (
            "changes",
            json!([{"type": "add", "id": "FEAT-1", "title": "x", "assignee": ""}]),
        ),
    ];
    for (field, value) in cases {
        let mut g = good.clone();
        g[field] = value.clone();
        let r = ann.push(&p, 0, vec![generation(g)]);
        let d = r.expect_error(422, "validation");
        assert_eq!(d["index"], 0, "{field}={value}");
    }
    ann.post_raw(
        &format!("/v1/projects/{p}/push"),
        b"{\"base_seq\": 0".to_vec(),
    )
    .expect_error(422, "validation");
    ann.push(&p, 0, vec![json!({"kind": "planet", "record": {}})])
        .expect_error(422, "validation");
    ann.push_keyed(&p, 0, "", vec![])
        .expect_error(422, "validation");
    assert_eq!(ann.head(&p), 0);
}

/// A change's assignee is stored as sent and comes back in the feed; a change without one
/// comes back without the field at all.
#[test]
fn assignees_are_kept() {
    let (_s, ann, p) = setup();
    let mut g = gen_record(&uid(1), "1.0.0", &["FEAT-1", "FEAT-2"]);
    g["changes"][0]["assignee"] = json!("bob.k");
    ann.push(&p, 0, vec![generation(g)]).ok();
    let feed = changes(&ann, &p);
    let stored = &feed[0]["record"]["changes"];
    assert_eq!(stored[0]["assignee"], "bob.k");
    assert!(
        stored[1].as_object().unwrap().get("assignee").is_none(),
        "{stored}"
    );
}

#[test]
fn a_bad_record_in_the_middle_applies_nothing() {
    let (_s, ann, p) = setup();
    ann.push(
        &p,
        0,
        vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))],
    )
    .ok();
    // Rule failure in the middle (version lock), after valid records that would be written first.
    let r = ann.push(
        &p,
        1,
        vec![
            generation(gen_record(&uid(10), "2.0.0", &["A-1"])),
            generation(gen_record(&uid(11), "1.0.0", &["A-1"])),
            generation(gen_record(&uid(12), "3.0.0", &["A-1"])),
        ],
    );
    r.expect_error(409, "version_exists");
    // Domain failure in the middle.
    let mut bad = gen_record(&uid(21), "4.0.0", &["A-1"]);
    bad["changes"][0]["title"] = json!("");
    let r = ann.push(
        &p,
        1,
        vec![
            generation(gen_record(&uid(20), "5.0.0", &["A-1"])),
            generation(bad),
            generation(gen_record(&uid(22), "6.0.0", &["A-1"])),
        ],
    );
    assert_eq!(r.expect_error(422, "validation")["index"], 1);
    // Ownership failure after a valid evolution.
    assert_eq!(ann.head(&p), 1);
    let feed = changes(&ann, &p);
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0]["record"]["id"], uid(1));
}

#[test]
fn the_same_push_twice_applies_once() {
    let (s, ann, p) = setup();
    let records = vec![
        generation(gen_record(&uid(1), "1.0.0", &["A-1"])),
        evolution(evo_record(
            &uid(2),
            &uid(1),
            "A-1",
            1,
            &code_name(1),
            "pass",
        )),
    ];
    let first = ann.push_keyed(&p, 0, "key-1", records.clone());
    first.ok();
    assert_eq!(first.json["replayed"], false);
    let again = ann.push_keyed(&p, 0, "key-1", records.clone());
    assert_eq!(again.ok()["replayed"], true);
    assert_eq!(again.json["results"], first.json["results"]);
    assert_eq!(again.json["head"], first.json["head"]);
    assert_eq!(ann.head(&p), 2);
    assert_eq!(changes(&ann, &p).len(), 2);
    // The same key for a different request is refused.
    ann.push_keyed(
        &p,
        2,
        "key-1",
        vec![generation(gen_record(&uid(5), "5.0.0", &["A-1"]))],
    )
    .expect_error(422, "idempotency_key_reused");
    // Another account cannot replay someone else's answer.
    let bob = s.user("bob");
    ann.post("/v1/teams/acme/members", json!({"username": "bob"}))
        .ok();
    bob.push_keyed(&p, 0, "key-1", records)
        .expect_error(422, "idempotency_key_reused");
}

#[test]
fn body_limit_answers_413_json() {
    let s = TestServer::start_with(ServerConfig {
        body_limit: 4096,
        ..ServerConfig::default()
    });
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let mut g = gen_record(&uid(1), "1.0.0", &["A-1"]);
    g["description"] = json!("x".repeat(5000));
    ann.push(&p, 0, vec![generation(g)])
        .expect_error(413, "payload_too_large");
    assert_eq!(ann.head(&p), 0);
}

#[test]
fn deleting_drafts() {
    let (s, ann, p) = setup();
    let bob = s.user("bob");
    ann.post("/v1/teams/acme/members", json!({"username": "bob"}))
        .ok();
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
                &code_name(1),
                "pending",
            )),
            generation(gen_record(&uid(3), "2.0.0", &["A-1"])),
        ],
    )
    .ok();
    bob.push(
        &p,
        3,
        vec![evolution(evo_record(
            &uid(4),
            &uid(3),
            "A-1",
            1,
            &code_name(4),
            "pending",
        ))],
    )
    .ok();
    let base = format!("/v1/projects/{p}/generations");
    ann.delete(&format!("{base}/{}", uid(3)))
        .expect_error(409, "not_deletable");
    ann.delete(&format!("{base}/{}?revision=7", uid(1)))
        .expect_error(409, "stale_revision");
    ann.delete(&format!("{base}/{}", uid(77)))
        .expect_error(404, "not_found");
    let r = ann.delete(&format!("{base}/{}?revision=1", uid(1)));
    assert_eq!(r.ok()["head"], 6);
    assert_eq!(r.json["deleted"], json!([uid(2), uid(1)]));
    let feed = changes(&ann, &p);
    let tail: Vec<(&str, &str)> = feed[feed.len() - 2..]
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap(),
                r["record"]["record_kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(tail, [("deleted", "evolution"), ("deleted", "generation")]);
    // The version is free again; the deleted id cannot be resurrected by a stale client.
    ann.push(
        &p,
        6,
        vec![generation(gen_record(&uid(9), "1.0.0", &["A-1"]))],
    )
    .ok();
    ann.push(
        &p,
        7,
        vec![rec(
            "generation",
            Some(1),
            gen_record(&uid(1), "1.5.0", &["A-1"]),
        )],
    )
    .expect_error(409, "stale_revision");
    promoted_at(&ann, &p, 7);
    ann.delete(&format!("{base}/{}", uid(50)))
        .expect_error(409, "promoted_immutable");
}

fn promoted_at(ann: &Client, p: &str, base: u64) {
    ann.push(
        p,
        base,
        vec![
            generation(gen_record(&uid(50), "9.0.0", &["A-1"])),
            evolution(evo_record(
                &uid(51),
                &uid(50),
                "A-1",
                1,
                &code_name(51),
                "pass",
            )),
        ],
    )
    .ok();
    ann.post(
        &format!("/v1/projects/{p}/generations/{}/promote", uid(50)),
        json!({"base_seq": base + 2, "revision": 1}),
    )
    .ok();
}

//! The import: records copied from another project keep their authorship and promotion, get
//! new seqs, and never overwrite what the destination holds; owners only; bad input changes
//! nothing.

use serde_json::{Value, json};

use super::harness::*;

const FROM: &str = "http://127.0.0.1#acme/web";

fn import(c: &Client, p: &str, records: Vec<Value>) -> Resp {
    c.post(
        &format!("/v1/projects/{p}/import"),
        json!({"copied_from": FROM, "records": records}),
    )
}

/// acme/web with bob's generation v1.0.0 (two changes, both proven by bob, promoted by ann),
/// bob's draft v1.1.0 and a pipeline run; acme/copy empty. ann owns acme, bob is a member.
fn source() -> (TestServer, Client, Client) {
    let s = TestServer::start();
    let ann = s.user("ann");
    let bob = s.user("bob");
    ann.project("acme", "web");
    ann.post("/v1/teams/acme/projects", json!({"name": "copy"}))
        .ok();
    ann.post("/v1/teams/acme/members", json!({"username": "bob"}))
        .ok();
    let p = "acme/web";
    bob.push(
        p,
        0,
        vec![
            generation(gen_record(&uid(1), "1.0.0", &["A-1", "B-2"])),
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
                "B-2",
                2,
                &code_name(2),
                "pass",
            )),
            rec("pipeline_run", None, run_record(&uid(4), Some(&uid(2)))),
            generation(gen_record(&uid(5), "1.1.0", &["C-3"])),
        ],
    )
    .ok();
    ann.post(
        &format!("/v1/projects/{p}/generations/{}/promote", uid(1)),
        json!({"base_seq": 5, "revision": 1}),
    )
    .ok();
    (s, ann, bob)
}

/// The feed's records without their seqs, by id.
fn content(feed: &[Value]) -> std::collections::BTreeMap<String, Value> {
    feed.iter()
        .map(|r| {
            let mut r = r.clone();
            r["record"]["seq"] = json!(0);
            (r["record"]["id"].as_str().unwrap().to_string(), r)
        })
        .collect()
}

#[test]
fn records_arrive_with_their_authors_and_promotion_once() {
    let (s, ann, bob) = source();
    let (feed, _) = ann.pull_all("acme/web", 1000);
    // Promoted after its evolutions: the generation comes after them in the feed.
    assert_eq!(feed.last().unwrap()["record"]["id"], uid(1));

    let r = import(&ann, "acme/copy", feed.clone());
    let body = r.ok();
    assert_eq!(
        (body["created"].as_u64(), body["conflicts"].as_u64()),
        (Some(5), Some(0)),
        "{body}"
    );
    assert_eq!(body["head"], 5);
    assert_eq!(r.header("x-gryt-head"), Some("5"));
    let copied = ann.pull_all("acme/copy", 2).0;
    assert_eq!(content(&copied), content(&feed));
    let g = &copied.iter().find(|r| r["record"]["id"] == uid(1)).unwrap()["record"];
    assert_eq!(
        (&g["status"], &g["created_by"], &g["promoted_by"]),
        (&json!("promoted"), &json!("bob"), &json!("ann"))
    );
    // New seqs, one per record, in the order they came.
    let seqs: Vec<u64> = copied
        .iter()
        .map(|r| r["record"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    // Provenance: where from, who copied, one row per record.
    assert_eq!(
        s.execute_sql(&format!(
            "UPDATE record_copies SET copied_at = copied_at WHERE copied_from = '{FROM}' AND copied_by = 'ann'"
        )),
        5
    );

    // Again: nothing copied, the head stays.
    let again = import(&ann, "acme/copy", feed.clone());
    let body = again.ok();
    assert_eq!(
        (body["created"].as_u64(), body["unchanged"].as_u64()),
        (Some(0), Some(5))
    );
    assert_eq!(ann.head("acme/copy"), 5);

    // Promoted at the destination: immutable there as any promoted generation.
    let mut changed = g.clone();
    changed["description"] = json!("edited");
    let r = bob.push("acme/copy", 5, vec![rec("generation", Some(2), changed)]);
    r.expect_error(409, "promoted_immutable");
    let r = bob.push(
        "acme/copy",
        5,
        vec![evolution(evo_record(
            &uid(9),
            &uid(1),
            "A-1",
            3,
            &code_name(9),
            "pending",
        ))],
    );
    r.expect_error(409, "promoted_immutable");
    // bob's evolutions are still his to keep (and the draft his to edit).
    let mut draft = gen_record(&uid(5), "1.1.0", &["C-3", "D-4"]);
    draft["created_by"] = json!("bob");
    let r = bob.push("acme/copy", 5, vec![rec("generation", Some(1), draft)]);
    assert_eq!(r.ok()["results"][0]["action"], "updated");
}

#[test]
fn what_is_in_the_way_is_reported_and_the_rest_applied() {
    let (_s, ann, _bob) = source();
    let (feed, _) = ann.pull_all("acme/web", 1000);
    // The destination already has another generation at v1.1.0, and bob's v1.0.0 under its
    // own id with other content.
    ann.push(
        "acme/copy",
        0,
        vec![
            generation(gen_record(&uid(50), "1.1.0", &["X-1"])),
            generation(gen_record(&uid(1), "1.0.0", &["A-1"])),
        ],
    )
    .ok();
    let before = ann.pull_all("acme/copy", 1000).0;

    let body = import(&ann, "acme/copy", feed).ok().clone();
    assert_eq!(body["conflicts"], 3, "{body}");
    let by_name = |name: &str| -> Value {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {body}"))
            .clone()
    };
    let held = by_name("v1.1.0");
    assert_eq!(held["action"], "conflict");
    assert_eq!(held["conflict"]["error"], "version_exists");
    assert_eq!(held["conflict"]["details"]["generation_id"], uid(50));
    assert_eq!(held["conflict"]["details"]["created_by"], "ann");
    let differs = by_name("v1.0.0");
    assert_eq!(differs["conflict"]["error"], "stale_revision");
    // A-1's evolution fits the generation that is there, B-2's does not (no such change).
    let b2 = by_name(&format!("v1.0.0-rc.2 ({})", code_name(2)));
    assert_eq!(b2["conflict"]["error"], "validation");
    assert_eq!(
        by_name(&format!("v1.0.0-rc.1 ({})", code_name(1)))["action"],
        "created"
    );
    assert_eq!(body["created"], 2);
    // Nothing that was there changed.
    let after = ann.pull_all("acme/copy", 1000).0;
    for record in &before {
        let id = &record["record"]["id"];
        let now = after.iter().find(|r| &r["record"]["id"] == id).unwrap();
        assert_eq!(now, record);
    }
}

#[test]
fn a_new_evolution_of_a_generation_promoted_here_is_refused() {
    let (_s, ann, _bob) = source();
    let (feed, _) = ann.pull_all("acme/web", 1000);
    let generation = feed
        .iter()
        .find(|r| r["record"]["id"] == uid(1))
        .unwrap()
        .clone();
    let evolution = feed
        .iter()
        .find(|r| r["record"]["id"] == uid(2))
        .unwrap()
        .clone();
    import(&ann, "acme/copy", vec![generation]).ok();
    let body = import(&ann, "acme/copy", vec![evolution]).ok().clone();
    assert_eq!(body["results"][0]["action"], "conflict");
    assert_eq!(
        body["results"][0]["conflict"]["error"],
        "promoted_immutable"
    );
    assert_eq!(ann.head("acme/copy"), 1);
}

#[test]
fn a_dry_run_judges_and_writes_nothing() {
    let (_s, ann, _bob) = source();
    let (feed, _) = ann.pull_all("acme/web", 1000);
    let r = ann.post(
        "/v1/projects/acme/copy/import",
        json!({"copied_from": FROM, "dry_run": true, "records": feed}),
    );
    let body = r.ok();
    assert_eq!(
        (body["created"].as_u64(), body["dry_run"].as_bool()),
        (Some(5), Some(true))
    );
    assert_eq!(body["head"], 0);
    assert_eq!(ann.head("acme/copy"), 0);
    assert!(ann.pull_all("acme/copy", 1000).0.is_empty());
}

#[test]
fn tombstones_are_skipped() {
    let (_s, ann, _bob) = source();
    ann.delete(&format!(
        "/v1/projects/acme/web/generations/{}?revision=1",
        uid(5)
    ))
    .ok();
    let (feed, _) = ann.pull_all("acme/web", 1000);
    assert!(feed.iter().any(|r| r["kind"] == "deleted"));
    let body = import(&ann, "acme/copy", feed).ok().clone();
    assert_eq!(
        (body["created"].as_u64(), body["skipped"].as_u64()),
        (Some(4), Some(1)),
        "{body}"
    );
}

#[test]
fn only_owners_import_and_bad_input_changes_nothing() {
    let (s, ann, bob) = source();
    let (feed, _) = ann.pull_all("acme/web", 1000);
    let good = feed[0].clone();

    // A member, not an owner.
    import(&bob, "acme/copy", feed.clone()).expect_error(403, "forbidden");
    // Another team's project answers like a missing one.
    let eve = s.user("eve");
    eve.project("evil", "x");
    import(&eve, "acme/copy", feed.clone()).expect_error(404, "not_found");
    import(&ann, "evil/x", feed.clone()).expect_error(404, "not_found");

    let post = |body: Value| ann.post("/v1/projects/acme/copy/import", body);
    let raw = ann.post_raw("/v1/projects/acme/copy/import", b"{not json".to_vec());
    raw.expect_error(422, "validation");
    post(json!({"records": [good]})).expect_error(422, "validation");
    post(json!({"copied_from": " ", "records": [good]})).expect_error(422, "validation");
    post(json!({"copied_from": "a\nb", "records": [good]})).expect_error(422, "validation");
    post(json!({"copied_from": FROM, "records": [good, good]})).expect_error(422, "validation");

    let mut bad_version = good.clone();
    bad_version["record"]["version"] = json!("1.0");
    post(json!({"copied_from": FROM, "records": [bad_version]})).expect_error(422, "validation");
    let mut anonymous = good.clone();
    anonymous["record"]["created_by"] = json!("");
    let d = post(json!({"copied_from": FROM, "records": [anonymous]}))
        .expect_error(422, "validation")
        .clone();
    assert_eq!(d["field"], "created_by");
    let promoted = feed.iter().find(|r| r["record"]["id"] == uid(1)).unwrap();
    let mut unsigned = promoted.clone();
    unsigned["record"]
        .as_object_mut()
        .unwrap()
        .remove("promoted_by");
    post(json!({"copied_from": FROM, "records": [unsigned]})).expect_error(422, "validation");
    let mut ownerless = feed
        .iter()
        .find(|r| r["kind"] == "evolution")
        .unwrap()
        .clone();
    ownerless["record"]["owner"] = json!(" ");
    post(json!({"copied_from": FROM, "records": [ownerless]})).expect_error(422, "validation");
    let many: Vec<Value> = (0..10_001u128)
        .map(|n| {
            let mut g = good.clone();
            g["record"]["id"] = json!(uid(100_000 + n));
            g
        })
        .collect();
    let r = post(json!({"copied_from": FROM, "records": many}));
    assert!(
        r.code() == "validation" || r.code() == "payload_too_large",
        "{}",
        r.json
    );

    assert_eq!(ann.head("acme/copy"), 0);
    assert_eq!(
        s.execute_sql("UPDATE record_copies SET copied_at = copied_at"),
        0
    );
}

#[test]
fn a_body_over_the_limit_is_refused() {
    let s = TestServer::start_with(gryt::server::ServerConfig {
        body_limit: 4 * 1024,
        ..Default::default()
    });
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let mut g = gen_record(&uid(1), "1.0.0", &["A-1"]);
    g["created_by"] = json!("ann");
    g["description"] = json!("x".repeat(8 * 1024));
    let r = import(&ann, &p, vec![json!({"kind": "generation", "record": g})]);
    r.expect_error(413, "payload_too_large");
    assert_eq!(ann.head(&p), 0);
}

/// Batches of one record in feed order: evolutions and runs arrive before the generation
/// promoted after them, and the destination ends up as the source.
#[test]
fn records_may_come_before_what_they_belong_to() {
    let (_s, ann, _bob) = source();
    let (feed, _) = ann.pull_all("acme/web", 1000);
    for record in &feed {
        let body = import(&ann, "acme/copy", vec![record.clone()]).ok().clone();
        assert_eq!(body["created"], 1, "{body}");
    }
    assert_eq!(content(&ann.pull_all("acme/copy", 1000).0), content(&feed));
}

#[test]
fn an_evolution_of_a_generation_deleted_here_is_refused() {
    let (_s, ann, _bob) = source();
    let (feed, _) = ann.pull_all("acme/web", 1000);
    // v1.1.0 (a draft) copied, then deleted at the destination.
    let draft = feed
        .iter()
        .find(|r| r["record"]["id"] == uid(5))
        .unwrap()
        .clone();
    import(&ann, "acme/copy", vec![draft.clone()]).ok();
    ann.delete(&format!(
        "/v1/projects/acme/copy/generations/{}?revision=1",
        uid(5)
    ))
    .ok();
    let head = ann.head("acme/copy");
    let mut evolution = feed
        .iter()
        .find(|r| r["record"]["id"] == uid(2))
        .unwrap()
        .clone();
    evolution["record"]["generation_id"] = json!(uid(5));
    evolution["record"]["change_id"] = json!("C-3");
    let body = import(&ann, "acme/copy", vec![draft, evolution])
        .ok()
        .clone();
    assert_eq!(body["conflicts"], 2, "{body}");
    assert_eq!(body["results"][0]["conflict"]["error"], "stale_revision");
    assert_eq!(body["results"][1]["conflict"]["error"], "stale_revision");
    assert_eq!(ann.head("acme/copy"), head);
}

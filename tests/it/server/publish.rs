//! Publishing a release promoted before the workspace was linked: a push may carry a new
//! generation that is already promoted, with its evolutions and pipeline runs. Accepted only
//! if its version is free and the gates hold on what was sent; then immutable.

use serde_json::{Value, json};

use super::harness::*;

const PROMOTED_AT: &str = "2026-01-02T03:04:05Z";

/// v1.0.0 promoted locally by "local-ann", with changes.
fn promoted(id: &str) -> Value {
    let mut g = gen_record(id, "1.0.0", &["A-1", "A-2"]);
    g["status"] = json!("promoted");
    g["promoted_by"] = json!("local-ann");
    g["promoted_at"] = json!(PROMOTED_AT);
    g
}

fn with_proof(statuses: &[(&str, &str)]) -> Vec<Value> {
    let mut records = vec![generation(promoted(&uid(1)))];
    for (i, (change, status)) in statuses.iter().enumerate() {
        let e = uid(10 + i as u128);
        let mut evo = evo_record(
            &e,
            &uid(1),
            change,
            i as u32 + 1,
            &code_name(i as u64),
            status,
        );
        evo["pipeline_run_id"] = json!(uid(20 + i as u128));
        records.push(evolution(evo));
        records.push(rec(
            "pipeline_run",
            None,
            run_record(&uid(20 + i as u128), Some(&e)),
        ));
    }
    records
}

#[test]
fn a_local_promotion_with_passing_gates_is_published_and_then_immutable() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let answer = ann
        .push(
            &p,
            0,
            with_proof(&[("A-1", "pass"), ("A-2", "fail"), ("A-2", "pass")]),
        )
        .ok()
        .clone();
    assert_eq!(answer["head"], 7);
    let (feed, _) = ann.pull_all(&p, 1000);
    let g = feed.iter().find(|r| r["kind"] == "generation").unwrap()["record"].clone();
    assert_eq!(g["status"], "promoted");
    assert_eq!(
        g["promoted_by"], "ann",
        "the promoter is the publishing account"
    );
    assert_eq!(
        g["promoted_at"], PROMOTED_AT,
        "the promotion keeps its time"
    );
    assert_eq!(g["revision"], 1);
    assert_eq!(feed.iter().filter(|r| r["kind"] == "evolution").count(), 3);
    assert_eq!(
        feed.iter().filter(|r| r["kind"] == "pipeline_run").count(),
        3
    );

    // The same push again (a retry without its answer): nothing changes.
    let again = ann
        .push(
            &p,
            7,
            with_proof(&[("A-1", "pass"), ("A-2", "fail"), ("A-2", "pass")]),
        )
        .ok()
        .clone();
    assert_eq!(again["head"], 7);

    // Immutable like any promotion.
    let mut changed = promoted(&uid(1));
    changed["description"] = json!("edited");
    ann.push(&p, 7, vec![rec("generation", Some(1), changed)])
        .expect_error(409, "promoted_immutable");
    ann.push(
        &p,
        7,
        vec![evolution(evo_record(
            &uid(30),
            &uid(1),
            "A-1",
            9,
            &code_name(30),
            "pass",
        ))],
    )
    .expect_error(409, "promoted_immutable");
    ann.delete(&format!("/v1/projects/{p}/generations/{}", uid(1)))
        .expect_error(409, "promoted_immutable");
    ann.post(
        &format!("/v1/projects/{p}/generations/{}/promote", uid(1)),
        json!({"base_seq": 7, "revision": 1}),
    )
    .expect_error(409, "already_promoted");
    assert_eq!(ann.head(&p), 7);
}

#[test]
fn a_taken_version_is_refused_with_its_holder() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = &ann.project("acme", "web");
    let bob = s.user("bob");
    ann.post(
        "/v1/teams/acme/members",
        json!({"username": "bob", "role": "member"}),
    )
    .ok();
    bob.push(
        p,
        0,
        vec![generation(gen_record(&uid(99), "1.0.0", &["B-1"]))],
    )
    .ok();
    let d = ann
        .push(p, 1, with_proof(&[("A-1", "pass"), ("A-2", "pass")]))
        .expect_error(409, "version_exists")
        .clone();
    assert_eq!(d["generation_id"], uid(99));
    assert_eq!(d["created_by"], "bob");
    assert_eq!(d["promoted"], false);
    assert_eq!(d["suggested_versions"], json!(["v1.0.1", "v1.1.0"]));
    assert_eq!(ann.head(p), 1, "nothing applied");
}

#[test]
fn failing_gates_refuse_the_whole_push() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    for proof in [
        vec![("A-1", "pass")],                  // A-2 unproven
        vec![("A-1", "pass"), ("A-2", "fail")], // A-2's latest attempt failed
        vec![],                                 // no evolutions sent at all
    ] {
        let d = ann
            .push(&p, 0, with_proof(&proof))
            .expect_error(409, "gates_failed")
            .clone();
        let gates = d["gates"].as_array().unwrap();
        assert!(gates.iter().any(|g| g["passed"] == false), "{d}");
    }
    assert_eq!(ann.head(&p), 0, "nothing applied");
    // Evolutions already on the server do not count: the proof travels with the promotion.
    ann.push(
        &p,
        0,
        vec![generation(gen_record(&uid(50), "2.0.0", &["A-1"]))],
    )
    .ok();
    let mut late = promoted(&uid(51));
    late["version"] = json!("3.0.0");
    late["changes"] = json!([{"type": "add", "id": "A-1", "title": "Change A-1"}]);
    ann.push(&p, 1, vec![generation(late)])
        .expect_error(409, "gates_failed");
}

//! The changes feed's long poll (`wait=`) and its narrowing to versions (`versions=`).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::harness::*;

fn seqs(page: &Value) -> Vec<u64> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record"]["seq"].as_u64().unwrap())
        .collect()
}

/// A long poll level with the head answers as soon as a push commits, with that push's
/// record; one behind the head answers at once.
#[test]
fn a_long_poll_answers_when_a_push_commits() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let head = ann.head(&p);
    let waiter = long_poll(&ann, &p, head);
    // Pushed while the poll waits (or, on a slow start, just before it: then it answers
    // at once — the same page either way).
    std::thread::sleep(Duration::from_millis(200));
    let pushed = ann
        .push(
            &p,
            head,
            vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))],
        )
        .ok()["head"]
        .as_u64()
        .unwrap();
    let page = waiter.join().unwrap();
    assert_eq!(seqs(&page), vec![pushed]);
    assert_eq!(page["head"], pushed);

    // Behind the head: no waiting, the records at once.
    let page = ann
        .get(&format!("/v1/projects/{p}/changes?since=0&wait=30"))
        .ok()
        .clone();
    assert_eq!(seqs(&page), vec![pushed]);
}

/// Nothing arrives: after `wait` seconds an empty page with the head. `wait` above the cap
/// is answered as the cap, and a malformed one is refused like any bad query.
#[test]
fn a_long_poll_with_nothing_new_answers_an_empty_page() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let page = ann
        .get(&format!("/v1/projects/{p}/changes?since=0&wait=1"))
        .ok()
        .clone();
    assert_eq!(seqs(&page), Vec::<u64>::new());
    assert_eq!(page["next"], 0);
    assert_eq!(page["more"], false);
    ann.get(&format!("/v1/projects/{p}/changes?since=0&wait=soon"))
        .expect_error(422, "validation");
    ann.get(&format!("/v1/projects/{p}/changes?since=0&wait=-1"))
        .expect_error(422, "validation");
}

/// Stopping the server answers the requests waiting in a long poll instead of holding the
/// drain for their whole wait.
#[test]
fn a_stopping_server_answers_long_polls_at_once() {
    let mut s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let waiter = long_poll(&ann, &p, 0);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    s.stop();
    let page = waiter.join().unwrap();
    assert_eq!(seqs(&page), Vec::<u64>::new());
    // A bound far from the 30 s wait, not a timing measurement: the drain did not wait it out.
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// `versions=` narrows the feed to those generations, their evolutions and their runs, and
/// names the versions the project does not hold; bad lists are refused.
#[test]
fn the_feed_narrowed_to_versions() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let (g1, g2) = (uid(1), uid(2));
    let (e1, e2) = (uid(11), uid(12));
    let (r1, r2) = (uid(21), uid(22));
    let mut head = ann.head(&p);
    let batch = vec![
        generation(gen_record(&g1, "1.0.0", &["A-1"])),
        generation(gen_record(&g2, "2.0.0", &["B-1"])),
        rec("pipeline_run", None, run_record(&r1, Some(&e1))),
        rec("pipeline_run", None, run_record(&r2, Some(&e2))),
        evolution(evo_record(&e1, &g1, "A-1", 1, &code_name(1), "pass")),
        evolution(evo_record(&e2, &g2, "B-1", 1, &code_name(2), "pass")),
    ];
    head = ann.push(&p, head, batch).ok()["head"].as_u64().unwrap();
    let ids = |page: &Value| -> Vec<String> {
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["record"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    let page = ann
        .get(&format!("/v1/projects/{p}/changes?since=0&versions=v2.0.0"))
        .ok()
        .clone();
    let mut got = ids(&page);
    got.sort();
    let mut want = vec![g2.clone(), e2.clone(), r2.clone()];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(page["head"], head);
    assert!(page.get("missing").is_none(), "{page:#}");

    // Both, one unknown (named), written without the `v` and twice.
    let page = ann
        .get(&format!(
            "/v1/projects/{p}/changes?since=0&versions=1.0.0,v2.0.0,9.9.9,v1.0.0"
        ))
        .ok()
        .clone();
    assert_eq!(ids(&page).len(), 6);
    assert_eq!(page["missing"], serde_json::json!(["v9.9.9"]));

    // Paged like the whole feed.
    let page = ann
        .get(&format!(
            "/v1/projects/{p}/changes?since=0&limit=2&versions=v1.0.0"
        ))
        .ok()
        .clone();
    assert_eq!(ids(&page).len(), 2);
    assert_eq!(page["more"], true);
    let next = page["next"].as_u64().unwrap();
    let rest = ann
        .get(&format!(
            "/v1/projects/{p}/changes?since={next}&limit=2&versions=v1.0.0"
        ))
        .ok()
        .clone();
    assert_eq!(ids(&rest).len(), 1);
    assert_eq!(rest["more"], false);

    for bad in ["", "v1.0", "v1.0.0,../x", "%3Cscript%3E"] {
        ann.get(&format!("/v1/projects/{p}/changes?versions={bad}"))
            .expect_error(422, "validation");
    }
    let many: Vec<String> = (0..101).map(|i| format!("1.0.{i}")).collect();
    ann.get(&format!(
        "/v1/projects/{p}/changes?versions={}",
        many.join(",")
    ))
    .expect_error(422, "validation");
}

//! `gryt sync diff`: what a pull and a push would change, field by field, against a real
//! cloud — and that asking changes nothing.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::proxy::proxy;
use super::{Dev, dev, prove, team};

fn contract(dev: &Dev, version: &str, description: &str, changes: &[(&str, &str, &str)]) {
    dev.env.write_contract(
        &format!("v{version}"),
        changes,
        &format!("description: {description}\n"),
    );
    dev.run(&["generation", "update", version]).ok();
}

/// The entry for `subject` on one side of a `--format json` diff.
fn entry<'a>(diff: &'a Value, side: &str, subject: &str) -> &'a Value {
    diff[side]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"] == subject)
        .unwrap_or_else(|| panic!("no {side} entry for {subject}: {diff:#}"))
}

fn fields(e: &Value) -> Vec<(String, Value, Value)> {
    e["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_string(),
                f["from"].clone(),
                f["to"].clone(),
            )
        })
        .collect()
}

/// The pull side names each field the cloud changed (local → cloud); the push side lists
/// what is only here; nothing changes locally or in the cloud.
#[test]
fn diff_shows_each_field_a_pull_and_a_push_would_change() {
    let (server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    contract(a, "1.0.0", "Spring", &[("add", "FEAT-1", "Search")]);
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    contract(
        a,
        "1.0.0",
        "Spring release",
        &[("add", "FEAT-1", "Search"), ("fix", "BUG-2", "Crash")],
    );
    let tag = prove(a, "1.0.0", "FEAT-1", "ok");
    a.run(&["sync", "push"]).ok();
    b.run(&["generation", "new", "3.0.0"]).ok();

    let before = b.state();
    let head = |s: &crate::server::harness::TestServer| {
        s.client().login("ann").get("/v1/projects/acme/web").ok()["head"].clone()
    };
    let cloud_head = head(&server);
    let d = b.run(&["sync", "diff", "--format", "json"]).ok().json();
    assert_eq!(d["offline"], false);

    let g = entry(&d, "pull", "v1.0.0");
    assert_eq!(g["action"], "updated");
    assert_eq!(
        fields(g),
        vec![
            (
                "description".into(),
                json!("Spring"),
                json!("Spring release")
            ),
            (
                "changes.BUG-2".into(),
                Value::Null,
                json!({"type": "fix", "title": "Crash"})
            ),
        ]
    );
    let e = entry(&d, "pull", &tag);
    assert_eq!(e["action"], "new");
    let names: Vec<String> = fields(e).into_iter().map(|f| f.0).collect();
    assert!(names.contains(&"status".to_string()), "{names:?}");
    assert_eq!(
        fields(e).iter().find(|f| f.0 == "status").unwrap().2,
        json!("pass")
    );

    let mine = entry(&d, "push", "v3.0.0");
    assert_eq!(mine["action"], "new");
    assert!(
        fields(mine).contains(&("version".into(), Value::Null, json!("v3.0.0"))),
        "{mine:#}"
    );
    assert_eq!(d["push"].as_array().unwrap().len(), 1, "{d:#}");

    // --json is the same as --format json; the summary names the fields
    assert_eq!(b.run(&["sync", "diff", "--json"]).ok().json(), d);
    let summary = b.run(&["sync", "diff"]).ok();
    assert!(
        summary
            .stdout
            .contains("  updated                 generation v1.0.0: description, changes.BUG-2"),
        "{}",
        summary.render()
    );
    assert!(
        summary
            .stdout
            .contains(&format!("  new                     run {tag}\n")),
        "{}",
        summary.render()
    );
    let detailed = b.run(&["sync", "diff", "--format", "detailed"]).ok();
    assert!(
        detailed
            .stdout
            .contains(r#"description: "Spring" -> "Spring release""#),
        "{}",
        detailed.render()
    );

    assert!(b.state() == before, "a diff changed the local store");
    assert_eq!(head(&server), cloud_head, "a diff changed the cloud");
    // and the pull it predicted is the pull that happens
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["updated"], json!(["v1.0.0"]));
    assert_eq!(pulled["new"], json!([tag]));
    assert!(
        b.run(&["sync", "diff", "--json"]).ok().json()["pull"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// The push side of an edited synced record compares it with what the cloud held when it was
/// last in sync here (cloud → local), also offline; an edit made twice keeps the first base.
#[test]
fn push_side_compares_with_the_last_synced_values() {
    let (_server, devs) = team(&["ann"]);
    let a = &devs[0];
    a.run(&["generation", "new", "1.0.0"]).ok();
    contract(a, "1.0.0", "Old", &[("add", "FEAT-1", "Search")]);
    a.run(&["sync", "push"]).ok();
    contract(a, "1.0.0", "Newer", &[("add", "FEAT-1", "Search more")]);
    contract(a, "1.0.0", "Newest", &[("add", "FEAT-1", "Search more")]);
    let d = a.run(&["sync", "diff", "--offline", "--json"]).ok().json();
    assert_eq!(d["offline"], true);
    assert_eq!(d["head"], Value::Null);
    assert_eq!(d["pull"], json!([]));
    let g = entry(&d, "push", "v1.0.0");
    assert_eq!(g["action"], "updated");
    assert_eq!(
        fields(g),
        vec![
            ("description".into(), json!("Old"), json!("Newest")),
            (
                "changes.FEAT-1.title".into(),
                json!("Search"),
                json!("Search more")
            ),
        ]
    );
    // after the push the record is in sync: nothing to show
    a.run(&["sync", "push"]).ok();
    let out = a.run(&["sync", "diff"]).ok();
    assert!(
        out.stdout
            .starts_with("Nothing to pull or push: up to date with acme/web"),
        "{}",
        out.render()
    );
}

/// Changed on both sides: the pull side says conflict and why, with the fields that differ.
#[test]
fn diff_shows_a_conflict_before_the_pull_records_it() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    contract(a, "1.0.0", "Ann's", &[("add", "A-1", "Ann")]);
    a.run(&["sync", "push"]).ok();
    contract(b, "1.0.0", "Bob's", &[("add", "B-1", "Bob")]);
    let d = b.run(&["sync", "diff", "--json"]).ok().json();
    let g = entry(&d, "pull", "v1.0.0");
    assert_eq!(g["action"], "conflict");
    assert_eq!(g["reason"], "both_changed");
    assert!(
        fields(g).contains(&("description".into(), json!("Bob's"), json!("Ann's"))),
        "{g:#}"
    );
    let summary = b.run(&["sync", "diff"]).ok();
    assert!(
        summary.stdout.contains("conflict (both changed)"),
        "{}",
        summary.render()
    );
    assert_eq!(
        b.run(&["sync", "conflicts", "--json"]).ok().json(),
        json!([]),
        "a diff recorded a conflict"
    );
    // keep-local: the push side then compares with what the cloud holds, Ann's
    b.run(&["sync", "pull"]).ok();
    let id = b.run(&["sync", "conflicts", "--json"]).ok().json()[0]["id"].to_string();
    b.run(&["sync", "resolve", &id, "--strategy", "keep-local"])
        .ok();
    let d = b.run(&["sync", "diff", "--json"]).ok().json();
    assert_eq!(d["pull"], json!([]), "{d:#}");
    let g = entry(&d, "push", "v1.0.0");
    assert_eq!(g["action"], "updated");
    assert_eq!(
        fields(g),
        vec![
            ("description".into(), json!("Ann's"), json!("Bob's")),
            (
                "changes.A-1".into(),
                json!({"type": "add", "title": "Ann"}),
                Value::Null
            ),
            (
                "changes.B-1".into(),
                Value::Null,
                json!({"type": "add", "title": "Bob"})
            ),
        ]
    );
}

/// VERSION keeps one generation, its evolutions and their runs.
#[test]
fn diff_of_one_version() {
    let (_server, devs) = team(&["ann"]);
    let a = &devs[0];
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["generation", "new", "2.0.0"]).ok();
    let tag = prove(a, "1.0.0", "CHANGE-1", "ok");
    prove(a, "2.0.0", "CHANGE-1", "ok");
    let d = a.run(&["sync", "diff", "1.0.0", "--json"]).ok().json();
    let subjects: Vec<&str> = d["push"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["v1.0.0", tag.as_str(), &format!("run of {tag}")],
        "{d:#}"
    );
}

/// An unreachable cloud is exit 4 with a pointer to --offline, which still answers.
#[test]
fn unreachable_cloud_is_exit_4_and_offline_still_answers() {
    let (server, devs) = team(&["ann"]);
    drop(devs);
    let p = proxy(server.base.clone(), 0);
    let a = dev(&server, "ann", &p.url);
    a.run(&["generation", "new", "1.0.0"]).ok();
    p.down.store(true, Ordering::SeqCst);
    let out = a.run(&["sync", "diff"]).fails(4);
    assert!(
        out.stderr.contains("gryt sync diff --offline"),
        "{}",
        out.render()
    );
    let out = a.run(&["sync", "diff", "--offline"]).ok();
    assert!(
        out.stdout
            .contains("  new                     generation v1.0.0"),
        "{}",
        out.render()
    );
    assert!(out.stderr.contains("Offline"), "{}", out.render());
}

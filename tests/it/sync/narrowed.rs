//! `gryt sync pull VERSION…`: only those generations with their evolutions and runs; the
//! cursor stays, so the next whole pull still brings everything and a push still needs it.

use super::{Dev, draft, prove, team};

fn versions(dev: &Dev) -> Vec<String> {
    let list = dev.run(&["generation", "list", "--json"]).ok().json();
    let mut v: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["version"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn a_narrowed_pull_brings_only_those_versions_and_the_next_pull_the_rest() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (ann, bob) = (&devs[0], &devs[1]);
    for (v, c) in [
        ("1.0.0", "FEAT-1"),
        ("2.0.0", "FEAT-2"),
        ("3.0.0", "FEAT-3"),
    ] {
        draft(ann, v, &[("add", c, "A change")]);
    }
    ann.run(&["sync"]).ok();
    prove(ann, "1.0.0", "FEAT-1", "ok");
    prove(ann, "2.0.0", "FEAT-2", "ok");
    ann.run(&["sync", "push"]).ok();

    let pulled = bob.run(&["sync", "pull", "2.0.0", "--json"]).ok().json();
    assert_eq!(pulled["new"], serde_json::json!(["v2.0.0", "v2.0.0-rc.1"]));
    assert_eq!(versions(bob), vec!["v2.0.0"]);
    let evolutions = bob
        .run(&["evolution", "list", "2.0.0", "--json"])
        .ok()
        .json();
    assert_eq!(evolutions.as_array().unwrap().len(), 1, "{evolutions:#}");
    // Its run came with it: the evolution's pipeline output is known here.
    let shown = bob
        .run(&["evolution", "show", "v2.0.0-rc.1", "--json"])
        .ok()
        .json();
    assert!(shown["pipeline_run_id"].is_string(), "{shown:#}");
    assert_eq!(shown["steps"][0]["name"], "check", "{shown:#}");
    // The human report says what it was narrowed to.
    let again = bob.run(&["sync", "pull", "v2.0.0", "v3.0.0"]).ok();
    assert!(
        again.stdout.contains("v2.0.0, v3.0.0 only"),
        "{}",
        again.render()
    );

    // The cursor stayed: a push is behind until a whole pull.
    draft(bob, "4.0.0", &[("add", "FEAT-4", "A change")]);
    bob.run(&["sync", "push"]).fails(3);
    let rest = bob.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(
        rest["new"],
        serde_json::json!(["v1.0.0", "v1.0.0-rc.1"]),
        "{rest:#}"
    );
    assert_eq!(rest["conflicts"], serde_json::json!([]));
    assert_eq!(versions(bob), vec!["v1.0.0", "v2.0.0", "v3.0.0", "v4.0.0"]);
    bob.run(&["sync", "push"]).ok();
    bob.run(&["sync", "verify"]).ok();
}

#[test]
fn a_narrowed_pull_refuses_what_it_cannot_do_and_changes_nothing() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (ann, bob) = (&devs[0], &devs[1]);
    draft(ann, "1.0.0", &[("add", "FEAT-1", "A change")]);
    ann.run(&["sync"]).ok();

    let out = bob.run(&["sync", "pull", "1.0.0", "9.9.9"]).fails(1);
    assert!(
        out.stderr.contains("not in the cloud: v9.9.9"),
        "{}",
        out.render()
    );
    bob.run(&["sync", "pull", "1.0.0", "--full"]).fails(2);
    bob.run(&["sync", "pull", "one-point-oh"]).fails(2);
    assert_eq!(versions(bob), Vec::<String>::new());
    // Nothing came: a whole pull still brings v1.0.0 as new.
    let pulled = bob.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["new"], serde_json::json!(["v1.0.0"]));
}

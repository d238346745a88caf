//! Publishing a release promoted in local mode, before the workspace ever synced it: a plain
//! push names it and exits 3 (never "Everything up to date"); `gryt sync push --promoted`
//! sends it promoted with its evolutions and runs, and the cloud takes it only if its version
//! is free there.

use super::{Dev, assert_stderr_has, assert_stdout_has, feed, prove, team};

/// v7.0.0 with change CHANGE-1 proven by a passing run, promoted in local mode; back in
/// hybrid mode afterwards.
fn promote_locally(dev: &Dev, version: &str) {
    dev.run(&["config", "execution_mode", "local"]).ok();
    dev.run(&["generation", "new", version]).ok();
    prove(dev, version, "CHANGE-1", "ok");
    dev.run(&["promote", version, "--no-tag"]).ok();
    dev.run(&["config", "execution_mode", "hybrid"]).ok();
}

fn show(dev: &Dev, version: &str) -> serde_json::Value {
    dev.run(&["generation", "show", version, "--json"])
        .ok()
        .json()
}

#[test]
fn a_plain_push_names_the_local_promotion_and_exits_3() {
    let (server, devs) = team(&["ann"]);
    let a = &devs[0];
    promote_locally(a, "7.0.0");
    a.run(&["generation", "new", "7.1.0"]).ok();
    let out = a.run(&["sync", "push"]).fails(3);
    assert_stdout_has(&out, "created    v7.1.0");
    assert_stderr_has(
        &out,
        "Error: not pushed: v7.0.0 (promoted here before it was ever synced)",
    );
    assert_stderr_has(&out, "Hint: publish it: gryt sync push --promoted");
    assert!(
        !out.stderr.contains("Everything up to date"),
        "{}",
        out.render()
    );

    // Nothing else pending: still not "up to date".
    let out = a.run(&["sync", "push"]).fails(3);
    assert!(
        !out.stderr.contains("Everything up to date"),
        "{}",
        out.render()
    );
    assert_stderr_has(&out, "v7.0.0");
    let json = a.run(&["sync", "push", "--json"]).fails(3).json();
    assert_eq!(json["unpublished"], serde_json::json!(["v7.0.0"]));
    assert_eq!(json["rejected"]["error"], "not_published");
    // `gryt sync` (pull, then push) says the same.
    let out = a.run(&["sync"]).fails(3);
    assert_stderr_has(&out, "gryt sync push --promoted");
    let status = a.run(&["sync", "status", "--json"]).ok().json();
    assert_eq!(
        status["local_only"],
        serde_json::json!(["v7.0.0", "v7.0.0-rc.1"]),
        "{status:#}"
    );
    // A dry run says what a push would leave out, and succeeds.
    let out = a.run(&["sync", "push", "--dry-run"]).ok();
    assert_stderr_has(&out, "publish with gryt sync push --promoted");
    let versions: Vec<_> = super::feed_versions(&server);
    assert_eq!(versions, ["v7.1.0"], "the local promotion was sent");
}

#[test]
fn a_free_version_is_published_promoted_and_then_immutable() {
    let (server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    promote_locally(a, "7.0.0");
    let dry = a.run(&["sync", "push", "--promoted", "--dry-run"]).ok();
    assert_stdout_has(&dry, "Would push to acme/web:");
    assert_stdout_has(&dry, "v7.0.0, v7.0.0-rc.1");
    assert!(super::feed_versions(&server).is_empty(), "a dry run pushed");

    let out = a.run(&["sync", "push", "--promoted"]).ok();
    assert_stdout_has(&out, "published  v7.0.0");
    let records = feed(&server);
    let g = &records.iter().find(|r| r["kind"] == "generation").unwrap()["record"];
    assert_eq!(g["status"], "promoted");
    assert_eq!(g["promoted_by"], "ann");
    assert_eq!(
        records.iter().filter(|r| r["kind"] == "evolution").count(),
        1
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r["kind"] == "pipeline_run")
            .count(),
        1
    );
    let shown = show(a, "7.0.0");
    assert_eq!(shown["sync_status"], "synced", "{shown:#}");
    let out = a.run(&["sync", "push"]).ok();
    assert_stderr_has(&out, "Everything up to date");

    // Bob gets it promoted.
    b.run(&["sync", "pull"]).ok();
    let shown = show(b, "7.0.0");
    assert_eq!(shown["status"], "promoted", "{shown:#}");
    assert_eq!(shown["promoted_by"], "ann");

    // Immutable in the cloud: a push changing it is refused.
    let mut changed = g.clone();
    changed["description"] = serde_json::json!("edited after the release");
    let head = server.client().login("ann").head("acme/web");
    server
        .client()
        .login("ann")
        .push(
            "acme/web",
            head,
            vec![serde_json::json!({"kind": "generation", "base_revision": 1, "record": changed})],
        )
        .expect_error(409, "promoted_immutable");
    // And so is a new evolution of it from bob's workspace.
    let out = b.run(&["evolution", "start", "7.0.0", "--change", "CHANGE-1"]);
    assert_ne!(out.code, 0, "{}", out.render());
}

/// The version is taken in the cloud: the pull records a `version_taken` conflict, and the
/// push (with or without --promoted) exits 3 naming the holder and free versions; nothing
/// changes here, and the hinted command works.
#[test]
fn a_taken_version_is_refused_with_its_holder_and_nothing_changes_here() {
    let (server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    b.run(&["generation", "new", "7.0.0"]).ok();
    b.run(&["sync", "push"]).ok();
    promote_locally(a, "7.0.0");
    let out = a.run(&["sync", "pull"]).ok();
    assert_stdout_has(&out, "conflicts  v7.0.0 (version taken)");
    let before = a.state();
    for args in [&["sync", "push", "--promoted"][..], &["sync", "push"]] {
        let out = a.run(args).fails(3);
        assert_stderr_has(
            &out,
            "Error: not pushed, in conflict with the cloud: v7.0.0",
        );
        assert_stderr_has(
            &out,
            "Hint: v7.0.0 is held in the cloud by bob (created 2026-03-01T12:00:00Z); yours is promoted here and stays so",
        );
        assert_stderr_has(&out, "gryt generation new v7.0.1 (or v7.1.0)");
        assert!(!out.stderr.contains("rename"), "{}", out.render());
    }
    assert_eq!(a.state(), before, "nothing changed here");
    assert_eq!(show(a, "7.0.0")["status"], "promoted");
    let g = &feed(&server)
        .into_iter()
        .find(|r| r["kind"] == "generation")
        .unwrap()["record"];
    assert_eq!(g["created_by"], "bob");
    assert_eq!(g["status"], "draft");
    a.run(&["generation", "new", "7.0.1"]).ok();
}

//! `gryt cloud copy SRC DST`: a project's release state copied into another project on the
//! same server and on a second server (two real servers in-process), read back by pulling
//! into fresh workspaces; promotion kept and immutable; a second run copies nothing; what is
//! in the way reported and left alone; owners only; a copy killed with SIGKILL completes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::proxy::proxy;
use super::{Dev, PROJECT, assert_stderr_has, assert_stdout_has, prove, team};
use crate::server::harness::{TestServer, gen_record, generation, uid};

/// acme/web with ann's v1.0.0 proven and promoted, and bob's v1.1.0 proven (a draft); an
/// empty acme/copy. ann owns acme, bob is a member.
fn released() -> (TestServer, Dev, Dev) {
    let (server, mut devs) = team(&["ann", "bob"]);
    let b = devs.pop().unwrap();
    let a = devs.pop().unwrap();
    a.run(&["generation", "new", "1.0.0"]).ok();
    prove(&a, "1.0.0", "CHANGE-1", "ok");
    a.run(&["sync"]).ok();
    a.run(&["promote", "1.0.0", "--no-tag"]).ok();
    b.run(&["sync", "pull"]).ok();
    b.run(&["generation", "new", "1.1.0"]).ok();
    prove(&b, "1.1.0", "CHANGE-1", "ok");
    b.run(&["sync"]).ok();
    server
        .client()
        .login("ann")
        .post("/v1/teams/acme/projects", json!({"name": "copy"}))
        .ok();
    (server, a, b)
}

/// A fresh workspace of `name`, logged in at `url` and linked to `project` there, pulled.
fn pulled(name: &str, url: &str, project: &str) -> Dev {
    let dev = Dev::at(url);
    crate::dev::login(&dev.env, &dev.env.repo, name, url).ok();
    dev.run(&["cloud", "link", project, "--url", url]).ok();
    dev.run(&["config", "execution_mode", "hybrid"]).ok();
    dev.run(&["sync", "pull"]).ok();
    dev
}

/// What a workspace lists: generations, each one's evolutions, pipeline runs (`--json`).
fn listings(dev: &Dev) -> Value {
    let generations = dev.run(&["generation", "list", "--json"]).ok().json();
    let mut evolutions = serde_json::Map::new();
    for g in generations.as_array().unwrap() {
        let v = g["version"].as_str().unwrap().to_string();
        let listed = dev.run(&["evolution", "list", &v, "--json"]).ok().json();
        evolutions.insert(v, listed);
    }
    let runs = dev.run(&["pipeline", "runs", "--json"]).ok().json();
    json!({"generations": generations, "evolutions": evolutions, "runs": runs})
}

fn head(server: &TestServer, project: &str) -> u64 {
    server.client().login("ann").head(project)
}

#[test]
fn a_copy_on_one_server_lists_the_same_and_a_second_run_copies_nothing() {
    let (server, a, _b) = released();

    let dry = a
        .run(&["cloud", "copy", PROJECT, "acme/copy", "--dry-run"])
        .ok();
    assert_stdout_has(
        &dry,
        "To copy:       2 generations, 2 evolutions, 2 pipeline runs",
    );
    assert_eq!(head(&server, "acme/copy"), 0, "a dry run copies nothing");

    let out = a.run(&["cloud", "copy", PROJECT, "acme/copy"]).ok();
    assert_stdout_has(
        &out,
        "Copied 2 generations, 2 evolutions, 2 pipeline runs from acme/web to acme/copy",
    );
    let source = listings(&pulled("bob", &server.base, PROJECT));
    let copied = listings(&pulled("bob", &server.base, "acme/copy"));
    assert_eq!(copied, source);
    let v1 = copied["generations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["version"] == "v1.0.0")
        .unwrap();
    assert_eq!(
        (&v1["status"], &v1["created_by"]),
        (&json!("promoted"), &json!("ann")),
        "{v1}"
    );

    // Again: nothing to copy, the destination does not move.
    let head_after = head(&server, "acme/copy");
    let again = a
        .run(&["cloud", "copy", PROJECT, "acme/copy", "--json"])
        .ok()
        .json();
    assert_eq!(again["difference"]["copied"]["generations"], 0);
    assert_eq!(again["difference"]["unchanged"]["evolutions"], 2);
    assert!(again["copied"].is_null());
    assert_eq!(head(&server, "acme/copy"), head_after);

    // Promoted at the destination, and immutable there.
    let bob = server.client().login("bob");
    let feed = bob.pull_all("acme/copy", 1000).0;
    let mut promoted = feed
        .iter()
        .find(|r| r["kind"] == "generation" && r["record"]["status"] == "promoted")
        .unwrap()["record"]
        .clone();
    assert_eq!(promoted["promoted_by"], "ann");
    let revision = promoted["revision"].as_u64();
    promoted["description"] = json!("changed after the copy");
    let r = bob.push(
        "acme/copy",
        head_after,
        vec![json!({"kind": "generation", "base_revision": revision, "record": promoted})],
    );
    r.expect_error(409, "promoted_immutable");
}

#[test]
fn a_copy_to_another_server_lists_the_same() {
    let (server, a, _b) = released();
    let other = TestServer::start();
    let ann = other.user("ann");
    ann.project("north", "web");
    other.user("bob");
    ann.post(
        "/v1/teams/north/members",
        json!({"username": "bob", "role": "member"}),
    )
    .ok();
    crate::dev::login(&a.env, &a.env.repo, "ann", &other.base).ok();

    let dst = format!("{}#north/web", other.base);
    let out = a.run(&["cloud", "copy", PROJECT, &dst]).ok();
    assert_stdout_has(&out, "Copied 2 generations, 2 evolutions, 2 pipeline runs");
    let source = listings(&pulled("bob", &server.base, PROJECT));
    let copied = listings(&pulled("bob", &other.base, "north/web"));
    assert_eq!(copied, source);

    // Both sides named by URL, from a workspace linked to neither.
    let back = TestServer::start();
    back.user("ann").project("south", "web");
    crate::dev::login(&a.env, &a.env.repo, "ann", &back.base).ok();
    let src = format!("{}#north/web", other.base);
    let out = a
        .run(&["cloud", "copy", &src, &format!("{}#south/web", back.base)])
        .ok();
    assert_stdout_has(&out, "Copied 2 generations");
}

#[test]
fn what_is_in_the_way_is_reported_not_overwritten() {
    let (server, a, _b) = released();
    // acme/copy already holds another generation at v1.1.0.
    let ann = server.client().login("ann");
    let mut other = gen_record(&uid(77), "1.1.0", &["OTHER-1"]);
    other["description"] = json!("ours");
    ann.push("acme/copy", 0, vec![generation(other)]).ok();
    let before = ann.pull_all("acme/copy", 1000).0;

    let dry = a
        .run(&["cloud", "copy", PROJECT, "acme/copy", "--dry-run"])
        .fails(3);
    assert_stdout_has(&dry, "In the way:    2");
    assert_stdout_has(
        &dry,
        "generation v1.1.0: version v1.1.0 is already held here",
    );

    let out = a.run(&["cloud", "copy", PROJECT, "acme/copy"]).fails(3);
    assert_stdout_has(&out, "version_exists");
    assert_stderr_has(&out, "are in the way at");
    assert_stderr_has(&out, "v1.1.0");
    assert_stderr_has(&out, "Hint: nothing at the destination was overwritten");
    let after = ann.pull_all("acme/copy", 1000).0;
    let ours = after.iter().find(|r| r["record"]["id"] == uid(77)).unwrap();
    assert_eq!(ours, &before[0]);
    // v1.0.0 and its evolution came; v1.1.0's evolution did not (it would belong to nothing).
    let kinds: Vec<(&str, &str)> = after
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap(),
                r["record"]["version"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds.iter().filter(|(k, _)| *k == "evolution").count(),
        1,
        "{kinds:?}"
    );
    // The destination pulls cleanly.
    pulled("ann", &server.base, "acme/copy");
}

#[test]
fn only_owners_of_the_destination_copy_and_bad_arguments_change_nothing() {
    let (server, a, b) = released();
    let out = b.run(&["cloud", "copy", PROJECT, "acme/copy"]).fails(3);
    assert_stderr_has(&out, "only owners of team acme");
    let out = a.run(&["cloud", "copy", PROJECT, "acme/nope"]).fails(3);
    assert_stderr_has(&out, "destination");
    assert_stderr_has(&out, "not found");
    a.run(&["cloud", "copy", PROJECT, PROJECT]).fails(2);
    a.run(&["cloud", "copy", PROJECT, "acme"]).fails(2);
    a.run(&["cloud", "copy", PROJECT, "ftp://x#acme/copy"])
        .fails(2);
    let out = a
        .run(&["cloud", "copy", PROJECT, "http://127.0.0.1:9#acme/copy"])
        .fails(1);
    assert_stderr_has(&out, "not logged in to http://127.0.0.1:9");
    assert_eq!(head(&server, "acme/copy"), 0);
}

/// A copy through a slow link, killed with SIGKILL part-way (pages of one record, so many
/// batches), then run again: the destination lists what the source does.
#[test]
fn a_killed_copy_completes_when_run_again() {
    let (server, a, _b) = released();
    let p = proxy(server.base.clone(), 0);
    p.delay_ms.store(100, std::sync::atomic::Ordering::SeqCst);
    let ann = server.client().login("ann");
    crate::dev::login(&a.env, &a.env.repo, "ann", &p.url).ok();
    let dst = format!("{}#acme/copy", p.url);
    let mut child = a
        .command(&["cloud", "copy", PROJECT, &dst])
        .env("GRYT_SYNC_PAGE_LIMIT", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the copy has written part of the project, before it is done.
    let start = Instant::now();
    while ann.head("acme/copy") < 2 {
        assert!(child.try_wait().unwrap().is_none(), "the copy ended early");
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the copy never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = ann.head("acme/copy");
    assert!((2..6).contains(&partial), "killed mid-copy: head {partial}");

    let out = a.run(&["cloud", "copy", PROJECT, &dst]).ok();
    assert_stdout_has(&out, "Already there:");
    assert_eq!(head(&server, "acme/copy"), 6);
    let source = listings(&pulled("bob", &server.base, PROJECT));
    let copied = listings(&pulled("bob", &server.base, "acme/copy"));
    assert_eq!(copied, source);
}

#[test]
fn an_unreachable_destination_exits_4_and_says_what_to_do() {
    let (server, a, _b) = released();
    let mut other = TestServer::start();
    other.user("ann").project("north", "web");
    crate::dev::login(&a.env, &a.env.repo, "ann", &other.base).ok();
    let dst = format!("{}#north/web", other.base);
    let source_head = head(&server, PROJECT);
    other.stop();
    let out = a.run(&["cloud", "copy", PROJECT, &dst]).fails(4);
    assert_stderr_has(&out, "cannot reach the cloud");
    assert_eq!(
        head(&server, PROJECT),
        source_head,
        "the source is only read"
    );
}

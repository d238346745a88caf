//! A workspace's sync state belongs to one cloud project in one server history. When that no
//! longer holds — the server was restored from a backup, the repository was linked to another
//! project — the next sync command says so and repairs it with a full resync, and nothing the
//! cloud lost is left behind.

use std::collections::BTreeSet;

use gryt::server::{ServerConfig, admin_backup, admin_restore};
use serde_json::json;

use super::proxy::{Proxy, proxy};
use super::replica;
use super::{Dev, PROJECT, assert_stderr_has, dev, prove};
use crate::server::harness::{Client, TestServer};

/// A cloud on a data dir the test keeps (so it can be restored and restarted), with team
/// acme, project web and one workspace per name, all linked through one proxy (whose
/// upstream follows the server across restarts).
pub(super) fn world(names: &[&str]) -> (tempfile::TempDir, TestServer, Proxy, Vec<Dev>) {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_sqlite_in(data.path(), ServerConfig::default());
    super::found_team(&server, names);
    let link = proxy(server.base.clone(), 0);
    let devs = names.iter().map(|n| dev(&server, n, &link.url)).collect();
    (data, server, link, devs)
}

/// `gryt sync` succeeds (exit 0).
#[track_caller]
fn sync(d: &Dev) -> crate::common::Out {
    let out = d.run(&["sync"]);
    assert_eq!(out.code, 0, "{}: {}", d.name, out.render());
    out
}

/// The workspace equals the cloud, record by record, and `gryt sync verify` says so.
#[track_caller]
fn in_step(d: &Dev, api: &Client) {
    let cloud = replica::cloud(api);
    assert_eq!(
        replica::replica_differences(d, &cloud, &BTreeSet::new()),
        Vec::<String>::new()
    );
    // `gryt sync verify` agrees, record by record.
    let verified = d.run(&["sync", "verify"]);
    assert_eq!(verified.code, 0, "{}: {}", d.name, verified.render());
}

/// Three workspaces, a backup, more work from each, a restore: every workspace notices on its
/// next sync command, repairs, and sends again what the restore lost; then every replica
/// equals the server.
#[test]
fn a_restored_server_is_noticed_and_each_workspace_sends_what_it_lost() {
    let (data, mut server, link, devs) = world(&["ann", "bob", "cid"]);
    let (a, b, c) = (&devs[0], &devs[1], &devs[2]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    sync(a);
    b.run(&["generation", "new", "2.0.0"]).ok();
    sync(b);
    sync(c);
    let backup = data.path().join("before.db");
    admin_backup(data.path(), &backup).unwrap();

    // Work the restore will lose: a new evolution, new generations, an update of a synced one.
    let lost_rc = prove(a, "1.0.0", "CHANGE-1", "ok");
    a.run(&["generation", "new", "3.0.0"]).ok();
    sync(a);
    b.env.write_contract(
        "v2.0.0",
        &[
            (
                "add",
                "CHANGE-1",
                "Describe the first change of this release",
            ),
            ("add", "BOB-2", "A second change"),
        ],
        "",
    );
    b.run(&["generation", "update", "2.0.0"]).ok();
    sync(b);
    c.run(&["generation", "new", "5.0.0"]).ok();
    sync(c);
    let api = server.client().login("ann");
    let before_restore = replica::cloud(&api);

    server.stop();
    admin_restore(&backup, data.path()).unwrap();
    let server = TestServer::start_sqlite_in(data.path(), ServerConfig::default());
    *link.upstream.lock().unwrap() = server.base.clone();
    let api = server.client().login("ann");
    assert!(replica::cloud(&api).gens.len() < before_restore.gens.len());

    for d in [a, b, c] {
        let out = sync(d);
        assert_stderr_has(&out, "the cloud's history was rewound");
        assert_stderr_has(&out, "a full resync");
        // The sync log tells the repair too.
        let log = d.run(&["sync", "log", "--json"]).ok().json();
        assert!(
            log.as_array()
                .unwrap()
                .iter()
                .any(|e| e["direction"] == "pull"
                    && e["counts"]["full_resync"]
                        .as_str()
                        .is_some_and(|w| w.contains("rewound"))),
            "{log:#}"
        );
    }
    for d in [a, b, c] {
        sync(d);
    }
    let after = replica::cloud(&api);
    for (id, g) in &before_restore.gens {
        let now = after
            .gens
            .get(id)
            .unwrap_or_else(|| panic!("{} is lost", g.version));
        assert_eq!(now.changes, g.changes, "{}", g.version);
    }
    assert_eq!(
        after.evos.len(),
        before_restore.evos.len(),
        "{lost_rc} was sent again"
    );
    for d in [a, b, c] {
        in_step(d, &api);
        let all = d.run(&["sync", "conflicts", "--all", "--json"]).ok().json();
        assert_eq!(all, json!([]), "{}", d.name);
    }
}

/// Linked to an empty project, the workspace's records are local only there and go out with
/// the next push; linked back, they match the first project again and nothing moves.
#[test]
fn relinking_moves_the_sync_state_with_it() {
    let (_data, server, link, devs) = world(&["ann"]);
    let a = &devs[0];
    a.run(&["generation", "new", "1.0.0"]).ok();
    prove(a, "1.0.0", "CHANGE-1", "ok");
    sync(a);
    let api = server.client().login("ann");
    api.post("/v1/teams/acme/projects", json!({"name": "web2"}))
        .ok();
    let head = api.head(PROJECT);

    a.run(&["cloud", "link", "acme/web2", "--url", &link.url])
        .ok();
    let status = a.run(&["sync", "status"]);
    assert!(!status.stdout.contains("Up to date"), "{}", status.render());
    let out = sync(a);
    assert_stderr_has(&out, "a full resync");
    let (web2, _) = api.pull_all("acme/web2", 1000);
    assert_eq!(
        web2.len(),
        3,
        "the generation, its evolution and its run: {web2:#?}"
    );
    let pushed = a.run(&["sync", "push"]).ok();
    assert!(
        pushed.stdout.contains("Everything up to date")
            || pushed.stderr.contains("Everything up to date"),
        "{}",
        pushed.render()
    );

    a.run(&["cloud", "link", PROJECT, "--url", &link.url]).ok();
    let out = sync(a);
    assert_stderr_has(&out, "a full resync");
    assert_eq!(api.head(PROJECT), head, "nothing new went to acme/web");
    in_step(a, &api);

    // Asked for: the whole project again, nothing changes, logged as a full pull.
    let full = a.run(&["sync", "pull", "--full", "--json"]).ok().json();
    assert_eq!(
        full["full_resync"], "asked for (gryt sync pull --full)",
        "{full:#}"
    );
    assert_eq!(full["conflicts"], json!([]), "{full:#}");
    let log = a.run(&["sync", "log", "--json"]).ok().json();
    assert_eq!(log[0]["direction"], "full-pull", "{log:#}");
    in_step(a, &api);
}

/// A conflict recorded against one project does not follow the repository to another: the
/// full resync supersedes it (and says so), and records again only what differs from the
/// project linked now.
#[test]
fn conflicts_recorded_against_another_project_do_not_follow_a_relink() {
    let (_data, server, link, devs) = world(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    sync(a);
    sync(b);
    let edit = |d: &Dev, change: &str| {
        d.env.write_contract(
            "v1.0.0",
            &[
                (
                    "add",
                    "CHANGE-1",
                    "Describe the first change of this release",
                ),
                ("add", change, "An edit"),
            ],
            "",
        );
        d.run(&["generation", "update", "1.0.0"]).ok();
    };
    edit(a, "ANN-1");
    sync(a);
    edit(b, "BOB-1");
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(
        pulled["conflicts"][0]["reason"], "both_changed",
        "{pulled:#}"
    );

    let api = server.client().login("ann");
    api.post("/v1/teams/acme/projects", json!({"name": "web2"}))
        .ok();
    b.run(&["cloud", "link", "acme/web2", "--url", &link.url])
        .ok();
    let out = sync(b);
    assert_stderr_has(
        &out,
        "1 open conflict recorded against the cloud as it was: superseded",
    );
    let open = b.run(&["sync", "conflicts", "--json"]).ok().json();
    assert_eq!(open, json!([]), "nothing differs from acme/web2");
    let (web2, _) = api.pull_all("acme/web2", 1000);
    let changes = &web2[0]["record"]["changes"];
    assert_eq!(
        changes[1]["id"], "BOB-1",
        "bob's copy went to web2: {web2:#?}"
    );

    // Back to acme/web, where ann's edit still differs from his: a conflict again.
    b.run(&["cloud", "link", PROJECT, "--url", &link.url]).ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(
        pulled["conflicts"][0]["reason"], "both_changed",
        "{pulled:#}"
    );
    assert_eq!(
        pulled["conflicts"].as_array().unwrap().len(),
        1,
        "{pulled:#}"
    );
}

/// A workspace that only ever pushed knows its history as well as one that pulled: after a
/// restore brings the head back to exactly its cursor, its next push is not taken on that
/// stale base — it notices, resyncs, and sends what the restore lost.
#[test]
fn a_workspace_that_only_pushed_notices_a_restore_that_lands_on_its_cursor() {
    let (data, mut server, link, devs) = world(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    let backup = data.path().join("empty.db");
    admin_backup(data.path(), &backup).unwrap();
    for v in ["1.0.0", "1.1.0"] {
        a.run(&["generation", "new", v]).ok();
        a.run(&["sync", "push"]).ok();
    }
    server.stop();
    admin_restore(&backup, data.path()).unwrap();
    let server = TestServer::start_sqlite_in(data.path(), ServerConfig::default());
    *link.upstream.lock().unwrap() = server.base.clone();
    for v in ["2.0.0", "2.1.0"] {
        b.run(&["generation", "new", v]).ok();
        sync(b);
    }
    let api = server.client().login("ann");
    assert_eq!(
        api.head(PROJECT),
        2,
        "the head is back where ann's cursor is"
    );

    a.run(&["generation", "new", "1.2.0"]).ok();
    let out = a.run(&["sync", "push"]).ok();
    assert_stderr_has(&out, "the cloud's history was rewound");
    let versions: BTreeSet<String> = replica::cloud(&api)
        .gens
        .values()
        .map(|g| g.version.clone())
        .collect();
    let want: BTreeSet<String> = ["v1.0.0", "v1.1.0", "v1.2.0", "v2.0.0", "v2.1.0"]
        .map(String::from)
        .into();
    assert_eq!(versions, want);
    in_step(a, &api);
}

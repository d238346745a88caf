//! `gryt cloud admin migrate --from DIR --to postgres://…`: a SQLite server with a team's work
//! moves to PostgreSQL, and every workspace goes on syncing against it with no change — same
//! project, same history, nothing to repair, `gryt sync verify` agreeing. Refusals change
//! nothing; an interrupted migration is simply run again. Needs `GRYT_TEST_POSTGRES`.

use std::collections::BTreeSet;
use std::time::Duration;

use gryt::server::ServerConfig;

use super::replica;
use super::{Dev, prove};
use crate::common::TestEnv;
use crate::server::harness::{Backend, Client, TestServer, schema_for};

/// `gryt cloud admin …` through the real binary, in a bare environment.
fn admin(env: &TestEnv, args: &[&str]) -> crate::common::Out {
    let mut full = vec!["cloud", "admin"];
    full.extend_from_slice(args);
    env.run(&full)
}

/// Every workspace equals the cloud and `gryt sync verify` agrees.
#[track_caller]
fn in_step(devs: &[&Dev], api: &Client) {
    let cloud = replica::cloud(api);
    for d in devs {
        assert_eq!(
            replica::replica_differences(d, &cloud, &BTreeSet::new()),
            Vec::<String>::new(),
            "{}",
            d.name
        );
        let verified = d.run(&["sync", "verify"]);
        assert_eq!(verified.code, 0, "{}: {}", d.name, verified.render());
    }
}

#[test]
fn a_migrated_server_is_the_same_server_to_every_workspace() {
    let Some(base) = Backend::postgres("a_migrated_server_is_the_same_server") else {
        return;
    };
    let (data, mut server, link, devs) = super::identity::world(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    // A webhook nobody answers: its deliveries stay pending, with their errors, and move too.
    let hook = server.client().login("ann").post(
        "/v1/projects/acme/web/webhooks",
        serde_json::json!({"url": "http://127.0.0.1:9/unanswered"}),
    );
    assert_eq!(hook.status, 201, "{}", hook.json);
    a.env.write_pipeline("ok", "true");
    b.env.write_pipeline("ok", "true");
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync"]).ok();
    prove(a, "1.0.0", "CHANGE-1", "ok");
    a.run(&["promote", "1.0.0"]).ok();
    b.run(&["sync"]).ok();
    b.run(&["generation", "new", "2.0.0"]).ok();
    b.run(&["sync"]).ok();
    a.run(&["sync"]).ok();
    let before = replica::cloud(&server.client().login("ann"));

    let env = TestEnv::bare();
    let from = data.path().to_str().unwrap().to_string();
    // The PostgreSQL server will serve this schema (one per data dir: see TestServer).
    let pg_dir = tempfile::tempdir().unwrap();
    let to =
        gryt::server::storage::postgres::schema_url(&base, &schema_for(pg_dir.path())).unwrap();

    // Refused while a server runs on the data directory: its writes would be lost.
    let refused = admin(&env, &["migrate", "--from", &from, "--to", &to]);
    assert_ne!(refused.code, 0, "{}", refused.render());
    assert!(
        refused.stderr.contains("a server is running"),
        "{}",
        refused.render()
    );
    server.stop();

    // Not a PostgreSQL URL, no server database there: clear refusals.
    let bad = admin(&env, &["migrate", "--from", &from, "--to", "mysql://x/y"]);
    assert_eq!(bad.code, 2, "{}", bad.render());
    assert!(
        bad.stderr.contains("is not a PostgreSQL URL"),
        "{}",
        bad.render()
    );
    let empty = tempfile::tempdir().unwrap();
    let none = admin(
        &env,
        &[
            "migrate",
            "--from",
            empty.path().to_str().unwrap(),
            "--to",
            &to,
        ],
    );
    assert_ne!(none.code, 0);
    assert!(
        none.stderr.contains("no server database"),
        "{}",
        none.render()
    );

    // Interrupted (killed at once, or a moment later), then run again: it completes, or it
    // had completed and the target is no longer empty.
    for after in [Duration::ZERO, Duration::from_millis(150)] {
        let mut child = env
            .command(
                &env.repo,
                &["cloud", "admin", "migrate", "--from", &from, "--to", &to],
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(after);
        let _ = child.kill();
        let _ = child.wait();
    }
    let done = admin(&env, &["migrate", "--from", &from, "--to", &to, "--json"]);
    let migrated = match done.code {
        0 => true,
        _ => {
            assert!(
                done.stderr.contains("already holds Gryt Cloud data"),
                "{}",
                done.render()
            );
            false
        }
    };
    if migrated {
        let report = done.json();
        let tables: Vec<&str> = report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["table"].as_str().unwrap())
            .collect();
        assert_eq!(
            tables,
            [
                "accounts",
                "tokens",
                "teams",
                "team_members",
                "projects",
                "records",
                "idempotency",
                "record_copies",
                "webhooks",
                "webhook_deliveries"
            ]
        );
        assert!(
            report["tables"][5]["rows"].as_u64().unwrap() >= 4,
            "{report:#}"
        );
        assert_eq!(report["tables"][8]["rows"], 1, "{report:#}");
        assert!(
            report["tables"][9]["rows"].as_u64().unwrap() >= 4,
            "one delivery per event: {report:#}"
        );
    }

    // A second migration into the now full database is refused, and changes nothing.
    let again = admin(&env, &["migrate", "--from", &from, "--to", &to]);
    assert_ne!(again.code, 0, "{}", again.render());
    assert!(
        again.stderr.contains("already holds Gryt Cloud data"),
        "{}",
        again.render()
    );
    assert!(again.stderr.contains("createdb"), "{}", again.render());

    // The same server, on PostgreSQL: the workspaces notice nothing (no repair, no change).
    let server = TestServer::start_on(
        Backend::Postgres(base),
        pg_dir.path(),
        ServerConfig::default(),
    );
    *link.upstream.lock().unwrap() = server.base.clone();
    let api = server.client().login("ann"); // password hashes came along
    assert_eq!(replica::cloud(&api).gens, before.gens);
    let hooks = api.get("/v1/projects/acme/web/webhooks");
    assert_eq!(hooks.ok()[0]["url"], "http://127.0.0.1:9/unanswered");
    for d in [a, b] {
        let out = d.run(&["sync"]).ok();
        assert!(
            !out.stderr.contains("full resync"),
            "{}: {}",
            d.name,
            out.render()
        );
        assert!(
            out.stderr.contains("Already up to date"),
            "{}: {}",
            d.name,
            out.render()
        );
    }
    in_step(&[a, b], &api);
    // Tokens came along too (hashed): the workspaces' logins still work, and work goes on.
    b.run(&["generation", "new", "3.0.0"]).ok();
    b.run(&["sync"]).ok();
    a.run(&["sync"]).ok();
    in_step(&[a, b], &api);
}

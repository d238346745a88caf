//! `gryt sync watch` against a real cloud: it pulls what others push as it happens (a
//! promotion, a draft edited elsewhere), pushes local work by itself, rides out the server
//! stopping and starting, and ends cleanly on SIGTERM and SIGINT. Waits are for events the
//! watcher prints (deadlines against hangs, not timings).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gryt::server::ServerConfig;
use serde_json::Value;

use super::identity::world;
use super::{Dev, draft, prove, team};
use crate::server::harness::TestServer;

/// Long enough for any round on a loaded machine; a watcher that misses an event fails here
/// instead of hanging the suite.
const DEADLINE: Duration = Duration::from_secs(60);

/// A running `gryt sync watch --json` and the events it printed.
struct Watcher {
    child: Child,
    events: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Watcher {
    fn start(dev: &Dev, extra: &[&str]) -> Watcher {
        let mut args = vec!["sync", "watch", "--json", "--poll", "5"];
        args.extend_from_slice(extra);
        let mut child = dev
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("gryt sync watch starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let event: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        let mut w = Watcher {
            child,
            events,
            seen: Vec::new(),
        };
        w.expect("the first round", |e| e["event"] == "watching");
        w
    }

    /// Waits for an event `matches` accepts (events before it are kept in `seen`).
    #[track_caller]
    fn expect(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) => {
                    self.seen.push(e.clone());
                    if matches(&e) {
                        return e;
                    }
                }
                Err(_) => panic!("no event for {what}; saw {:#?}", self.seen),
            }
        }
    }

    /// Sends `signal` and waits for the process to end; its exit code.
    fn stop(mut self, signal: &str) -> (i32, Vec<Value>) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let until = Instant::now() + DEADLINE;
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < until, "watch did not stop on {signal}");
            std::thread::sleep(Duration::from_millis(50));
        };
        self.seen.extend(self.events.try_iter());
        (code, self.seen)
    }
}

fn pushed_at_least(n: u64) -> impl Fn(&Value) -> bool {
    move |e| e["event"] == "synced" && e["pushed"].as_u64().unwrap_or(0) >= n
}

/// The lead watches; a developer's proofs and promotion arrive by themselves, a draft the
/// lead makes goes out by itself, and an edit of it made elsewhere comes back.
#[test]
fn watch_pulls_remote_work_and_pushes_local_work_by_itself() {
    let (server, devs) = team(&["lead", "ann"]);
    let (lead, ann) = (&devs[0], &devs[1]);
    draft(ann, "1.0.0", &[("add", "FEAT-1", "Search")]);
    ann.run(&["sync"]).ok();

    let mut watch = Watcher::start(lead, &[]);
    // The first round brings what was there: the version ann took.
    let taken = watch.expect("v1.0.0 taken by ann", |e| e["event"] == "taken");
    assert_eq!(taken["subject"], "v1.0.0");
    assert_eq!(taken["by"], "ann");

    // A proof and a promotion made elsewhere arrive without anyone typing a sync.
    prove(ann, "1.0.0", "FEAT-1", "ok");
    ann.run(&["sync", "push"]).ok();
    let decided = watch.expect("rc.1 passed", |e| e["event"] == "decided");
    assert_eq!(decided["subject"], "v1.0.0-rc.1");
    assert_eq!(decided["status"], "pass");
    ann.run(&["promote", "1.0.0"]).ok();
    let promoted = watch.expect("v1.0.0 promoted", |e| e["event"] == "promoted");
    assert_eq!(promoted["subject"], "v1.0.0");
    assert_eq!(promoted["by"], "ann");
    let shown = lead
        .run(&["generation", "show", "1.0.0", "--json"])
        .ok()
        .json();
    assert_eq!(shown["status"], "promoted");

    // Local work goes out by itself: the lead drafts v2.0.0 and types no sync.
    draft(lead, "2.0.0", &[("add", "FEAT-2", "Filters")]);
    watch.expect("the draft pushed", pushed_at_least(1));
    assert!(
        super::feed_versions(&server).contains(&"v2.0.0".to_string()),
        "{:?}",
        super::feed_versions(&server)
    );

    // ann edits the lead's draft; the edit reaches the lead's contract file.
    ann.run(&["sync", "pull"]).ok();
    ann.env.write_contract(
        "v2.0.0",
        &[("add", "FEAT-2", "Filters"), ("fix", "BUG-7", "Crash")],
        "pipeline_template: ok\n",
    );
    ann.run(&["generation", "update", "2.0.0"]).ok();
    ann.run(&["sync", "push"]).ok();
    watch.expect("the edit pulled", |e| {
        e["event"] == "synced" && e["pulled"].as_u64().unwrap_or(0) >= 1
    });
    assert!(
        lead.env
            .read(".gryt/generations/v2.0.0.yaml")
            .contains("BUG-7")
    );
    // The watcher holds the sync lock only during a round: a manual sync runs beside it.
    lead.run(&["sync"]).ok();

    let (code, events) = watch.stop("TERM");
    assert_eq!(code, 0, "{events:#?}");
    assert_eq!(events.last().unwrap()["event"], "stopped", "{events:#?}");
    // Its rounds are in the sync log, marked as the watcher's.
    let log = lead.run(&["sync", "log", "--json"]).ok().json();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|row| row["origin"] == "watch"),
        "{log:#}"
    );
    // Nothing was left behind: the lock is free for a manual sync.
    lead.run(&["sync"]).ok();
}

/// The server stops: one `offline` event (not one per retry); it starts again: one `online`
/// event and a round at once, which pushes what was made meanwhile. Ctrl-C ends it.
#[test]
fn watch_survives_the_server_stopping_and_starting() {
    let (data, mut server, link, devs) = world(&["ann", "bob"]);
    let (ann, bob) = (&devs[0], &devs[1]);
    let mut watch = Watcher::start(ann, &[]);

    server.stop();
    watch.expect("offline", |e| e["event"] == "offline");
    // Work made while offline waits for the link.
    draft(ann, "3.0.0", &[("add", "FEAT-3", "Offline work")]);
    let server = TestServer::start_sqlite_in(data.path(), ServerConfig::default());
    *link.upstream.lock().unwrap() = server.base.clone();
    watch.expect("online", |e| e["event"] == "online");
    watch.expect("the offline work pushed", pushed_at_least(1));
    bob.run(&["sync", "pull"]).ok();
    bob.run(&["generation", "show", "3.0.0"]).ok();

    let (code, events) = watch.stop("INT");
    assert_eq!(code, 0, "{events:#?}");
    let offline = events.iter().filter(|e| e["event"] == "offline").count();
    assert_eq!(offline, 1, "one line when the link goes: {events:#?}");
}

/// Both take v4.0.0 and ann's reaches the cloud first: the watcher's round records the
/// conflict, reports it once and holds bob's draft back; later rounds (brought by other
/// changes) neither record it again nor push the held-back draft.
#[test]
fn a_conflict_is_reported_once_and_not_retried_in_a_loop() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (ann, bob) = (&devs[0], &devs[1]);
    draft(ann, "4.0.0", &[("add", "FEAT-4", "Ann's")]);
    ann.run(&["sync"]).ok();
    draft(bob, "4.0.0", &[("add", "FEAT-4", "Bob's")]);
    let mut watch = Watcher::start(bob, &[]);
    watch.expect("the conflict", |e| {
        e["event"] == "synced" && e["conflicts"].as_u64().unwrap_or(0) > 0
    });
    for (version, change) in [("4.1.0", "FEAT-5"), ("4.2.0", "FEAT-6")] {
        draft(ann, version, &[("add", change, "More")]);
        ann.run(&["sync"]).ok();
        let subject = format!("v{version}");
        watch.expect("the next version taken", |e| {
            e["event"] == "taken" && e["subject"] == subject.as_str()
        });
    }
    let (code, events) = watch.stop("TERM");
    assert_eq!(code, 0);
    let reported: u64 = events.iter().filter_map(|e| e["conflicts"].as_u64()).sum();
    assert_eq!(reported, 1, "{events:#?}");
    let conflicts = bob.run(&["sync", "conflicts", "--json"]).ok().json();
    assert_eq!(conflicts.as_array().unwrap().len(), 1, "{conflicts:#}");
    let log = bob.run(&["sync", "log", "--json"]).ok().json();
    let rows = log.as_array().unwrap();
    let pushes = rows
        .iter()
        .filter(|row| row["origin"] == "watch" && row["direction"] == "push")
        .count();
    assert_eq!(pushes, 0, "{log:#}");
    // One pull per round: the first and one per version ann took.
    let pulls = rows
        .iter()
        .filter(|row| row["origin"] == "watch" && row["direction"] == "pull")
        .count();
    assert_eq!(pulls, 3, "{log:#}");
}

/// For people: one line per event.
#[test]
fn watch_prints_one_line_per_event() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (ann, bob) = (&devs[0], &devs[1]);
    draft(ann, "1.0.0", &[("add", "FEAT-1", "Search")]);
    prove(ann, "1.0.0", "FEAT-1", "ok");
    ann.run(&["sync"]).ok();
    ann.run(&["promote", "1.0.0"]).ok();
    let out = bob.run(&["sync", "watch", "--rounds", "1"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("Watching acme/web at http://127.0.0.1:"),
        "{}",
        out.render()
    );
    for line in [
        "v1.0.0 taken by ann",
        "v1.0.0-rc.1 passed (ann)",
        "v1.0.0 promoted by ann",
        "Pulled 2, pushed 0",
        "Stopped after 1 round(s)",
    ] {
        assert!(lines.contains(&line), "{line:?} in {}", out.render());
    }
}

/// The server is restored from an older backup while a watcher runs: its head goes back. The
/// watcher follows it down (a full resync), sends again what the restore lost, and still
/// pushes new local work by itself.
#[test]
fn watch_follows_a_server_restored_to_an_older_head() {
    let (data, mut server, link, devs) = world(&["ann"]);
    let ann = &devs[0];
    draft(ann, "1.0.0", &[("add", "FEAT-1", "Kept")]);
    ann.run(&["sync"]).ok();
    let backup = data.path().join("before.db");
    gryt::server::admin_backup(data.path(), &backup).unwrap();
    for (v, c) in [("2.0.0", "FEAT-2"), ("3.0.0", "FEAT-3")] {
        draft(ann, v, &[("add", c, "Lost by the restore")]);
    }
    ann.run(&["sync"]).ok();

    let mut watch = Watcher::start(ann, &[]);
    server.stop();
    gryt::server::admin_restore(&backup, data.path()).unwrap();
    let server = TestServer::start_sqlite_in(data.path(), ServerConfig::default());
    *link.upstream.lock().unwrap() = server.base.clone();
    // What the restore lost goes out again; then a new draft goes out by itself.
    watch.expect("the lost drafts sent again", pushed_at_least(2));
    draft(ann, "4.0.0", &[("add", "FEAT-4", "New")]);
    watch.expect("the new draft pushed", pushed_at_least(1));
    let (code, events) = watch.stop("TERM");
    assert_eq!(code, 0, "{events:#?}");
    let api = server.client().login("ann");
    let page = api
        .get("/v1/projects/acme/web/changes?since=0")
        .ok()
        .clone();
    let versions: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["record"]["version"].as_str())
        .collect();
    for v in ["v1.0.0", "v2.0.0", "v3.0.0", "v4.0.0"] {
        assert!(versions.contains(&v), "{v} in {versions:?}");
    }
}

//! The sync log tells the whole story: every attempt of every sync command writes exactly one
//! row, however it ends (ok, rejected, error, a lock time-out, cancelled), with what started
//! it (command, hook, cloud-mode).

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::Value;

use super::{Dev, assert_stderr_has, team};

fn log(dev: &Dev) -> Vec<Value> {
    dev.run(&["sync", "log", "--json", "-n", "1000"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

/// Runs `args` and returns the rows it added to the log, oldest first.
fn logged(dev: &Dev, args: &[&str], code: i32) -> Vec<Value> {
    let before = log(dev).len();
    let out = dev.run(args);
    assert_eq!(out.code, code, "{}", out.render());
    let mut rows = log(dev);
    rows.truncate(rows.len() - before);
    rows.reverse();
    rows
}

/// `(direction, origin, result)` of each row.
fn summary(rows: &[Value]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("direction"), s("origin"), s("result"))
        })
        .collect()
}

fn row(direction: &str, origin: &str, result: &str) -> (String, String, String) {
    (direction.into(), origin.into(), result.into())
}

/// Each origin appears: typed commands, the pre-commit hook, cloud mode's syncs around a
/// command; and the `--json` shape.
#[test]
fn every_origin_is_logged() {
    let (_server, devs) = team(&["ann"]);
    let a = &devs[0];
    a.run(&["generation", "new", "1.0.0"]).ok();
    let rows = logged(a, &["sync"], 0);
    assert_eq!(
        summary(&rows),
        [row("pull", "command", "ok"), row("push", "command", "ok")]
    );
    let keys: Vec<&String> = rows[1].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "counts",
            "direction",
            "duration_ms",
            "error",
            "origin",
            "result",
            "started_at"
        ]
    );
    assert_eq!(rows[1]["counts"]["created"], 1);
    assert_eq!(rows[1]["error"], Value::Null);

    let rows = logged(a, &["sync", "pull", "--quiet", "--hook"], 0);
    assert_eq!(summary(&rows), [row("pull", "hook", "ok")]);

    a.run(&["config", "execution_mode", "cloud"]).ok();
    let rows = logged(a, &["generation", "new", "2.0.0"], 0);
    assert_eq!(
        summary(&rows),
        [
            row("pull", "cloud-mode", "ok"),
            row("push", "cloud-mode", "ok")
        ]
    );
    a.run(&["config", "execution_mode", "hybrid"]).ok();

    // A promotion through the cloud: its pull, its push, and the promotion itself.
    super::prove(a, "2.0.0", "CHANGE-1", "ok");
    let rows = logged(a, &["promote", "2.0.0", "--no-tag"], 0);
    assert_eq!(
        summary(&rows),
        [
            row("pull", "command", "ok"),
            row("push", "command", "ok"),
            row("promote", "command", "ok")
        ]
    );
    // Dry runs are not logged.
    assert!(logged(a, &["sync", "push", "--dry-run"], 0).is_empty());
    let out = a.run(&["sync", "log"]).ok();
    assert!(out.stdout.contains("ORIGIN"), "{}", out.render());
    assert!(out.stdout.contains("cloud-mode"), "{}", out.render());
}

/// Failures are logged with their error: the cloud unreachable (typed and from the hook),
/// not logged in, a refusal.
#[test]
fn failed_attempts_are_logged_with_their_error() {
    let (mut server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["generation", "new", "2.0.0"]).ok();
    let rows = logged(b, &["sync", "push"], 3);
    assert_eq!(summary(&rows), [row("push", "command", "rejected")]);
    assert!(
        rows[0]["error"]
            .as_str()
            .unwrap()
            .contains("you have not pulled"),
        "{rows:#?}"
    );

    server.stop();
    let rows = logged(b, &["sync", "pull"], 4);
    assert_eq!(summary(&rows), [row("pull", "command", "error")]);
    assert!(
        rows[0]["error"].as_str().unwrap().contains("cannot reach"),
        "{rows:#?}"
    );
    let rows = logged(b, &["sync", "pull", "--quiet", "--hook"], 0);
    assert_eq!(summary(&rows), [row("pull", "hook", "error")]);
    let rows = logged(b, &["sync"], 4);
    assert_eq!(summary(&rows), [row("pull", "command", "error")]);

    b.run(&["cloud", "logout"]).ok();
    let rows = logged(b, &["sync", "push"], 1);
    assert_eq!(summary(&rows), [row("push", "command", "error")]);
    assert!(
        rows[0]["error"].as_str().unwrap().contains("logged in"),
        "{rows:#?}"
    );
}

/// Another sync holds the lock: the time-out is logged (typed and from the hook), and a sync
/// cancelled with Ctrl-C while it waits is logged as cancelled, exit 130.
#[test]
fn lock_time_outs_and_cancelled_attempts_are_logged() {
    let (_server, devs) = team(&["ann"]);
    let a = &devs[0];
    let lock = super::hold_sync_lock(a);
    let rows = logged(a, &["sync", "pull", "--quiet", "--hook"], 0);
    assert_eq!(summary(&rows), [row("pull", "hook", "error")]);
    assert!(
        rows[0]["error"]
            .as_str()
            .unwrap()
            .contains("another sync is running"),
        "{rows:#?}"
    );

    let before = log(a).len();
    let mut child = a
        .command(&["sync", "push"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Waiting for another sync") {
        line.clear();
        assert_ne!(stderr.read_line(&mut line).unwrap(), 0, "no wait announced");
    }
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let rows = log(a);
    assert_eq!(rows.len(), before + 1, "{rows:#?}");
    assert_eq!(summary(&rows[..1]), [row("push", "command", "cancelled")]);
    assert_eq!(rows[0]["error"], "interrupted");
    lock.unlock().unwrap();
    let out = a.run(&["sync", "push"]).ok();
    assert_stderr_has(&out, "Everything up to date");
}

//! `gryt sync watch`: how long a push takes to arrive in a workspace that watches, next to a
//! manual `gryt sync pull` of the same change in another workspace (same run, same server),
//! and the watcher's resident memory over many rounds.
//!
//! `cargo bench --bench watch`. `GRYT_BENCH_WATCH_PUSHES` (default 100) pushes are timed one
//! by one: from just before the push is sent to the moment the watcher prints the version it
//! brought. Then `GRYT_BENCH_WATCH_ROUNDS` (default 10,000) more rounds, each bringing one
//! edit of the same draft (the workspace stays the same size), with the watcher's RSS
//! (`/proc/PID/status`) printed along the way.

#[path = "common/mod.rs"]
mod common;
// Only the team and workspace set-up of the shared module is used here.
#[allow(dead_code)]
#[path = "records/mod.rs"]
mod records;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::env_num;
use records::{bench_team, linked_workspace};
use serde_json::json;

fn main() {
    // `cargo test --benches` runs this binary too; do nothing then.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let pushes = env_num("GRYT_BENCH_WATCH_PUSHES", 100);
    let rounds = env_num("GRYT_BENCH_WATCH_ROUNDS", 10_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let (_server_data, server) = common::server();
    let base = server.url();
    println!("server on {base}");
    let (_user, token, client) = bench_team(&base, &["sync"]);

    let (w, m) = (root.join("w"), root.join("m"));
    let (_w, watcher_cmd) = linked_workspace(&w, "watcher", &base, &token);
    let (_m, manual) = linked_workspace(&m, "manual", &base, &token);
    let mut watcher = Watcher::start(watcher_cmd(&["sync", "watch", "--json"]));

    let mut head = 0u64;
    let mut n = 0usize;
    let mut push = |head: &mut u64| -> (String, Instant) {
        n += 1;
        let version = format!("v{}.{}.0", 1 + n / 1000, n % 1000);
        let id = uuid::Uuid::now_v7();
        let body = json!({
            "base_seq": *head,
            "idempotency_key": format!("bench-{id}"),
            "records": [{"kind": "generation", "base_revision": null, "record": {
                "id": id, "version": version, "description": "",
                "changes": [{"type": "add", "id": format!("FEAT-{n}"), "title": "A change"}],
                "status": "draft", "created_at": "2026-01-01T00:00:00Z"}}],
        });
        let sent = Instant::now();
        let answer = client
            .push_body("bench/sync", serde_json::to_vec(&body).expect("json"))
            .expect("push");
        *head = answer.head;
        (version, sent)
    };

    let mut latencies = Vec::with_capacity(pushes);
    let mut pulls = Vec::with_capacity(pushes);
    for _ in 0..pushes {
        let (version, sent) = push(&mut head);
        let arrived = watcher.arrival(&version);
        latencies.push(arrived.duration_since(sent).as_secs_f64() * 1000.0);
        // The same change by hand, in another workspace.
        let t = Instant::now();
        let out = manual(&["sync", "pull", "--json"]).output().expect("pull");
        assert!(out.status.success(), "manual pull: {out:?}");
        pulls.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (l50, l99) = (
        percentile(&mut latencies, 50.0),
        percentile(&mut latencies, 99.0),
    );
    let p50 = percentile(&mut pulls, 50.0);
    println!(
        "push → arrival in a watching workspace, {pushes} pushes: median {l50:.1} ms, p99 {l99:.1} ms; \
         a manual `gryt sync pull` of one change: median {p50:.1} ms (watch median = {:.2}× the manual pull)",
        l50 / p50
    );

    // Steady state for memory: each round brings one edit of the same draft, so the
    // workspace does not grow and what RSS does is the watcher's own.
    let id = uuid::Uuid::now_v7();
    let mut revision: Option<u64> = None;
    let mut edit = |head: &mut u64, i: usize| {
        let body = json!({
            "base_seq": *head,
            "idempotency_key": format!("bench-edit-{id}-{i}"),
            "records": [{"kind": "generation", "base_revision": revision, "record": {
                "id": id, "version": "v99.0.0", "description": format!("edit {i}"),
                "changes": [{"type": "add", "id": "FEAT-99", "title": "Edited"}],
                "status": "draft", "created_at": "2026-01-01T00:00:00Z"}}],
        });
        let answer = client
            .push_body("bench/sync", serde_json::to_vec(&body).expect("json"))
            .expect("push an edit");
        *head = answer.head;
        revision = Some(answer.results[0].revision);
    };
    edit(&mut head, 0);
    watcher.caught_up(head);
    let start_rss = watcher.rss_kb();
    println!("watcher RSS after {} rounds: {}", pushes + 1, kb(start_rss));
    let t = Instant::now();
    let mut next_report = 1000;
    for i in 1..=rounds {
        edit(&mut head, i);
        watcher.caught_up(head);
        if i == next_report || i == rounds {
            println!(
                "watcher RSS after {} more rounds (one draft edit each): {} ({:.1} rounds/s)",
                i,
                kb(watcher.rss_kb()),
                i as f64 / t.elapsed().as_secs_f64()
            );
            next_report *= 2;
        }
    }
    let end_rss = watcher.rss_kb();
    println!(
        "watcher RSS: {} before, {} after {rounds} rounds of edits ({:+.1} MB)",
        kb(start_rss),
        kb(end_rss),
        (end_rss as f64 - start_rss as f64) / 1024.0
    );
    watcher.stop();
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize;
    v[i.min(v.len() - 1)]
}

fn kb(n: u64) -> String {
    format!("{:.1} MB", n as f64 / 1024.0)
}

/// The watching process and the versions it reported, with when each line arrived.
struct Watcher {
    child: Child,
    lines: mpsc::Receiver<(Instant, serde_json::Value)>,
}

impl Watcher {
    fn start(mut cmd: std::process::Command) -> Watcher {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("gryt sync watch");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let at = Instant::now();
                let value = serde_json::from_str(&line).expect("one JSON object per line");
                if tx.send((at, value)).is_err() {
                    break;
                }
            }
        });
        Watcher { child, lines }
    }

    /// When the watcher printed that `version` was taken.
    fn arrival(&mut self, version: &str) -> Instant {
        loop {
            let (at, e) = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the watcher reports the push");
            if e["event"] == "taken" && e["subject"] == version {
                return at;
            }
        }
    }

    /// Waits until the watcher reports a round that reached `head`.
    fn caught_up(&mut self, head: u64) {
        loop {
            let (_, e) = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the watcher reports the round");
            if e["event"] == "synced" && e["head"].as_u64().unwrap_or(0) >= head {
                return;
            }
        }
    }

    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

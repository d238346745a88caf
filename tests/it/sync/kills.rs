//! `kill -9` sweeps: the client killed during a pull, a push and a promote, and the server
//! killed during a push, each many times at points drawn from a seeded RNG over the length of
//! the operation (a slow loopback proxy and pages or batches of one record give it many
//! steps). After each kill: both stores pass `PRAGMA integrity_check`, the next `gryt sync`
//! completes, a killed promotion finishes with `gryt promote` again (promoted, tagged), and the
//! replica equals the server.
//!
//! `GRYT_KILL_SEED=N` replays a sweep's kill points (the timing of a machine is never
//! replayed exactly); `GRYT_KILL_ROUNDS=N` sets the kills per client sweep (CI runs 30;
//! `cargo test` fewer) and a third of that for the server sweep.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use super::proxy::{Proxy, proxy};
use super::replica;
use super::{Dev, PROJECT, dev, team};
use crate::common::{Out, TestEnv};
use crate::server::harness::Client;

const DEFAULT_SEED: u64 = 7;
const DEFAULT_ROUNDS: usize = 8;
/// What the slow link adds to every request, before forwarding it and again before relaying
/// the answer: a kill lands between steps, or after the server committed a step and before
/// the client heard.
const LINK_DELAY_MS: u64 = 10;

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|n| {
        n.parse()
            .unwrap_or_else(|_| panic!("{name} is a number, not {n:?}"))
    })
}

fn seed() -> u64 {
    env_number("GRYT_KILL_SEED").unwrap_or(DEFAULT_SEED)
}

fn rounds() -> usize {
    env_number("GRYT_KILL_ROUNDS").map_or(DEFAULT_ROUNDS, |n| n as usize)
}

/// Many small steps: pages and push batches of one record, no retries.
const STEPWISE: &[(&str, &str)] = &[
    ("GRYT_SYNC_PAGE_LIMIT", "1"),
    ("GRYT_SYNC_BATCH_RECORDS", "1"),
    ("GRYT_HTTP_RETRIES", "0"),
];

fn spawn(dev: &Dev, args: &[&str]) -> Child {
    let mut cmd = dev.env.command(&dev.env.repo, args);
    cmd.envs(STEPWISE.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("gryt starts")
}

/// Runs `gryt ARGS` to the end; returns its output and how long it took.
fn timed(dev: &Dev, args: &[&str]) -> (Out, Duration) {
    let start = Instant::now();
    let out = spawn(dev, args).wait_with_output().unwrap();
    (dev.env.finish(out), start.elapsed())
}

/// Runs `gryt ARGS` and kills it (SIGKILL) after `after`: `Err(())` when it was killed, its
/// output and how long it took when it had finished by then.
fn killed_after(dev: &Dev, args: &[&str], after: Duration) -> Result<(Out, Duration), ()> {
    let start = Instant::now();
    let mut child = spawn(dev, args);
    let finished = loop {
        if child.try_wait().unwrap().is_some() {
            break Some(start.elapsed());
        }
        if start.elapsed() >= after {
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if finished.is_none() {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    finished.map(|took| (dev.env.finish(out), took)).ok_or(())
}

/// A kill point within `full` (the operation's length unkilled); half of them in its last
/// 40 %, where the final step (the last batch, the promotion) commits in the cloud before
/// the client records it.
fn kill_point(rng: &mut fastrand::Rng, full: Duration) -> Duration {
    let ms = full.as_millis() as u64;
    let from = if rng.bool() { ms * 6 / 10 } else { 0 };
    Duration::from_millis(rng.u64(from..=ms))
}

/// A sweep's tally, printed at the end (and its seed, on failure).
struct Sweep {
    name: &'static str,
    seed: u64,
    rng: fastrand::Rng,
    started: Instant,
    kills: usize,
    finished_first: usize,
    round: usize,
}

impl Sweep {
    fn new(name: &'static str) -> Sweep {
        let seed = seed();
        Sweep {
            name,
            seed,
            rng: fastrand::Rng::with_seed(seed),
            started: Instant::now(),
            kills: 0,
            finished_first: 0,
            round: 0,
        }
    }

    /// Counts a kill, or a run that finished first (whose length then bounds the next
    /// kill points).
    fn tally(&mut self, out: &Result<(Out, Duration), ()>, full: &mut Duration) {
        match out {
            Err(()) => self.kills += 1,
            Ok((_, took)) => {
                self.finished_first += 1;
                *full = *took;
            }
        }
    }

    /// Starts round `round` (0: the calibration run) unless the sweep is done: `kills`
    /// kills, within three times as many rounds.
    fn next(&mut self, round: usize, kills: usize) -> bool {
        self.round = round;
        round == 0 || (self.kills < kills && round <= 3 * kills)
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "kill sweep `{}` failed at round {}: seed {} (replay with GRYT_KILL_SEED={})",
                self.name, self.round, self.seed, self.seed
            );
        } else {
            eprintln!(
                "kill sweep `{}`, seed {}: {} kills, {} runs finished before their kill, in {:.1?}",
                self.name,
                self.seed,
                self.kills,
                self.finished_first,
                self.started.elapsed()
            );
        }
    }
}

/// After a kill: the store is intact, the next `gryt sync` completes and the replica equals
/// the cloud `api` sees.
#[track_caller]
fn recovers(dev: &Dev, api: &Client, when: &str) {
    let db = dev.env.path(".gryt/gryt.db");
    if let Some(p) = replica::integrity_problem(&db) {
        panic!("{when}: {p}");
    }
    let out = dev.run(&["sync"]);
    if out.code != 0 {
        let conflicts = dev.run(&["sync", "conflicts", "--json"]).json();
        panic!(
            "{when}: the next `gryt sync` does not complete{}:\n{}",
            replica::self_conflicts(dev, &conflicts)
                .iter()
                .map(|c| format!("; {c}"))
                .collect::<String>(),
            out.render()
        );
    }
    let conflicts = dev
        .run(&["sync", "conflicts", "--all", "--json"])
        .ok()
        .json();
    let mut problems = replica::self_conflicts(dev, &conflicts);
    problems.extend(replica::replica_differences(
        dev,
        &replica::cloud(api),
        &BTreeSet::new(),
    ));
    assert!(problems.is_empty(), "{when}:\n{}", problems.join("\n"));
}

/// A developer working through a slow link to the in-process cloud.
fn slow(server: &crate::server::harness::TestServer, name: &str) -> (Proxy, Dev) {
    let p = proxy(server.base.clone(), 0);
    p.delay_ms.store(LINK_DELAY_MS, Ordering::SeqCst);
    p.answer_delay_ms.store(LINK_DELAY_MS, Ordering::SeqCst);
    let d = dev(server, name, &p.url);
    (p, d)
}

#[test]
fn a_pull_killed_at_any_point_leaves_an_intact_store_and_the_next_sync_completes() {
    let mut sweep = Sweep::new("pull");
    let (server, devs) = team(&["ann", "bob"]);
    let a = &devs[0];
    let (_link, b) = slow(&server, "bob");
    let api = server.client().login("ann");
    let mut full = Duration::ZERO;
    for round in 0.. {
        if !sweep.next(round, rounds()) {
            break;
        }
        for i in 0..2 {
            a.run(&["generation", "new", &format!("{round}.{i}.0")])
                .ok();
        }
        super::prove(a, &format!("{round}.0.0"), "CHANGE-1", "ok");
        a.run(&["sync", "push"]).ok();
        if round == 0 {
            // The first pull runs to the end: how long one takes.
            let (out, took) = timed(&b, &["sync", "pull"]);
            out.ok();
            full = took;
            continue;
        }
        let at = kill_point(&mut sweep.rng, full);
        let out = killed_after(&b, &["sync", "pull"], at);
        sweep.tally(&out, &mut full);
        recovers(
            &b,
            &api,
            &format!("round {round}, pull killed after {at:?}"),
        );
    }
}

#[test]
fn a_push_killed_at_any_point_leaves_an_intact_store_and_the_next_sync_completes() {
    push_sweep("push", false);
}

/// As above, and before syncing again she edits a draft the killed push may have sent.
#[test]
fn an_edit_after_a_killed_push_does_not_conflict_with_itself() {
    push_sweep("push, then edit", true);
}

fn push_sweep(name: &'static str, edit: bool) {
    let mut sweep = Sweep::new(name);
    let (server, _devs) = team(&["ann"]);
    let (_link, a) = slow(&server, "ann");
    let api = server.client().login("ann");
    let mut full = Duration::ZERO;
    for round in 0.. {
        if !sweep.next(round, rounds()) {
            break;
        }
        for i in 0..3 {
            a.run(&["generation", "new", &format!("{round}.{i}.0")])
                .ok();
        }
        super::prove(&a, &format!("{round}.0.0"), "CHANGE-1", "ok");
        if round == 0 {
            let (out, took) = timed(&a, &["sync", "push"]);
            out.ok();
            full = took;
            continue;
        }
        let at = kill_point(&mut sweep.rng, full);
        let out = killed_after(&a, &["sync", "push"], at);
        sweep.tally(&out, &mut full);
        if edit {
            let version = format!("v{round}.1.0");
            a.env.write_contract(
                &version,
                &[
                    (
                        "add",
                        "CHANGE-1",
                        "Describe the first change of this release",
                    ),
                    ("add", "EDIT-1", "An edit after the kill"),
                ],
                "",
            );
            a.run(&["generation", "update", &version]).ok();
        }
        recovers(
            &a,
            &api,
            &format!("round {round}, push killed after {at:?}"),
        );
    }
}

#[test]
fn a_promote_killed_at_any_point_is_finished_by_promoting_again() {
    let mut sweep = Sweep::new("promote");
    let (server, _devs) = team(&["ann"]);
    let (_link, a) = slow(&server, "ann");
    let api = server.client().login("ann");
    let mut full = Duration::ZERO;
    for round in 0.. {
        if !sweep.next(round, rounds()) {
            break;
        }
        let version = format!("{round}.0.0");
        a.run(&["generation", "new", &version]).ok();
        super::prove(&a, &version, "CHANGE-1", "ok");
        let when = if round == 0 {
            let (out, took) = timed(&a, &["promote", &version]);
            out.ok();
            full = took;
            "the first promote".to_string()
        } else {
            let at = kill_point(&mut sweep.rng, full);
            let out = killed_after(&a, &["promote", &version], at);
            sweep.tally(&out, &mut full);
            if let Ok((out, _)) = out {
                assert_eq!(out.code, 0, "{}", out.render());
            }
            format!("round {round}, promote killed after {at:?}")
        };
        recovers(&a, &api, &when);
        let promoted = |a: &Dev| {
            a.run(&["generation", "show", &version, "--json"])
                .ok()
                .json()["status"]
                == "promoted"
                && a.env.git(&["tag", "-l", &format!("v{version}")]).trim() == format!("v{version}")
        };
        if !promoted(&a) {
            let out = a.run(&["promote", &version]);
            assert!(
                out.code == 0 && promoted(&a),
                "{when}: promoting v{version} again does not finish it (the cloud holds it {}):\n{}",
                if replica::cloud(&api)
                    .gens
                    .values()
                    .any(|g| g.version == format!("v{version}") && g.status == "promoted")
                {
                    "promoted"
                } else {
                    "as a draft"
                },
                out.render()
            );
        }
        recovers(&a, &api, &format!("{when}, then promoted again"));
    }
}

/// A `gryt cloud serve` child process on a data dir.
struct ChildServer {
    child: Child,
    addr: String,
}

fn serve(env: &TestEnv, data: &Path, listen: &str) -> ChildServer {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut child = env
            .command(
                &env.repo,
                &[
                    "cloud",
                    "serve",
                    "--listen",
                    listen,
                    "--data",
                    data.to_str().unwrap(),
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("addr=").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
            }
        });
        if let Ok(addr) = rx.recv_timeout(Duration::from_secs(20)) {
            return ChildServer { child, addr };
        }
        // The port may still be held a moment after the kill: try again.
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            Instant::now() < deadline,
            "the server does not start on {listen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_server_killed_during_a_push_restarts_intact_and_the_next_sync_completes() {
    let mut sweep = Sweep::new("server during push");
    let env = TestEnv::bare();
    let data: PathBuf = env.tmp.path().join("server-data");
    let mut server = serve(&env, &data, "127.0.0.1:0");
    let base = format!("http://{}", server.addr);
    let api = Client::new(&base);
    let r = api.post(
        "/v1/accounts",
        json!({"username": "ann", "password": "password-ann"}),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let api = api.login("ann");
    api.project("acme", "web");
    let link = proxy(base.clone(), 0);
    link.delay_ms.store(LINK_DELAY_MS, Ordering::SeqCst);
    link.answer_delay_ms.store(LINK_DELAY_MS, Ordering::SeqCst);
    let a = Dev {
        name: "ann".into(),
        env: TestEnv::init(),
        url: link.url.clone(),
    };
    super::link(&a.env, &a.env.repo, "ann", &link.url);
    a.env.write_pipeline("ok", "true");
    let kills = (rounds() / 3).max(3);
    let mut full = Duration::ZERO;
    for round in 0.. {
        if !sweep.next(round, kills) {
            break;
        }
        for i in 0..3 {
            a.run(&["generation", "new", &format!("{round}.{i}.0")])
                .ok();
        }
        super::prove(&a, &format!("{round}.0.0"), "CHANGE-1", "ok");
        if round == 0 {
            let (out, took) = timed(&a, &["sync", "push"]);
            out.ok();
            full = took;
            continue;
        }
        let at = kill_point(&mut sweep.rng, full);
        let start = Instant::now();
        let mut push = spawn(&a, &["sync", "push"]);
        let finished = loop {
            if push.try_wait().unwrap().is_some() {
                break Some(start.elapsed());
            }
            if start.elapsed() >= at {
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        let out = a.env.finish(push.wait_with_output().unwrap());
        assert!(
            [0, 4].contains(&out.code),
            "round {round}: a push whose server died exits 0 or 4:\n{}",
            out.render()
        );
        sweep.tally(&finished.map(|took| (out, took)).ok_or(()), &mut full);
        let db = data.join("gryt-server.db");
        if let Some(p) = replica::integrity_problem(&db) {
            panic!("round {round}, server killed after {at:?}: {p}");
        }
        drop(server);
        server = serve(&env, &data, &base["http://".len()..]);
        recovers(
            &a,
            &api,
            &format!("round {round}, server killed after {at:?} during a push"),
        );
        assert_eq!(
            api.head(PROJECT) as usize,
            replica::cloud(&api).gens.len() + 2 * replica::cloud(&api).evos.len(),
            "round {round}: every record was written once (a generation, or an evolution and its run)"
        );
    }
}

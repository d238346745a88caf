//! Three developers of one team work through a flaky network: a loopback proxy (see
//! `proxy.rs`) drops connections before forwarding, answers 502/503 without forwarding, holds
//! requests back past the client's timeout and cuts answers after the server committed. They
//! create, edit and rename drafts, prove changes with passing and failing pipelines, sync,
//! pull, push, promote and resolve conflicts. Then the network heals, everyone syncs until
//! nothing moves, and:
//!
//! - every command either succeeded or exited 1, 3, 4 or 5 with a message on stderr;
//! - no record a command created is lost (it is in the cloud, or still here);
//! - the cloud holds no version, rc tag or code name twice;
//! - nobody is ever in conflict with themselves;
//! - every promotion the cloud accepted is promoted at its promoter's, with its git tag;
//! - every replica equals the server.
//!
//! The faults and the operations come from one seed, printed on failure; replay one with
//! `GRYT_FAULT_SEED=N`. `GRYT_FAULT_OPS=N` sets the number of operations (CI runs 300;
//! `cargo test` runs fewer to stay fast).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

use super::proxy::{Chaos, Proxy, proxy};
use super::replica::{self, Records};
use super::{Dev, PROJECT, dev, team};
use crate::common::Out;
use crate::server::harness::{Client, TestServer};

const DEFAULT_SEED: u64 = 1;
const DEFAULT_OPS: usize = 120;

/// A network operation's environment: short timeouts, few retries (the faults do the rest).
fn flaky_env(rng: &mut fastrand::Rng) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("GRYT_HTTP_TIMEOUT", "1".to_string()),
        ("GRYT_HTTP_RETRIES", rng.u32(0..=2).to_string()),
    ];
    if rng.u32(..3) == 0 {
        env.push(("GRYT_SYNC_PAGE_LIMIT", rng.u32(1..=3).to_string()));
    }
    if rng.u32(..3) == 0 {
        env.push(("GRYT_SYNC_BATCH_RECORDS", rng.u32(1..=3).to_string()));
    }
    env
}

struct World {
    seed: u64,
    _server: TestServer,
    api: Client,
    proxy: Proxy,
    devs: Vec<Dev>,
    rng: fastrand::Rng,
    /// Per developer: ids of the generations and evolutions its commands reported created.
    created: Vec<BTreeSet<String>>,
    /// (developer, generation id) of every promotion tried.
    promotes: BTreeSet<(usize, String)>,
    fresh: u32,
    ops: usize,
    commands: usize,
    /// Exit codes seen per command (its first two words).
    exits: std::collections::BTreeMap<String, std::collections::BTreeMap<i32, usize>>,
    log: Vec<String>,
    /// Broken invariants, all reported at the end.
    problems: Vec<String>,
}

impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let tail = self.log.len().saturating_sub(60);
            eprintln!(
                "fault test failed: seed {} (replay with GRYT_FAULT_SEED={}); faults: {}; last commands:\n  {}",
                self.seed,
                self.seed,
                self.proxy.faults,
                self.log[tail..].join("\n  ")
            );
        }
    }
}

impl World {
    fn new(seed: u64) -> World {
        let (server, devs) = team(&["ann", "bob", "cid"]);
        let proxy = proxy(server.base.clone(), 0);
        // Every workspace talks to the cloud through the proxy.
        let devs: Vec<Dev> = devs
            .iter()
            .map(|d| dev(&server, &d.name, &proxy.url))
            .collect();
        let api = server.client().login("ann");
        World {
            seed,
            api,
            _server: server,
            proxy,
            created: devs.iter().map(|_| BTreeSet::new()).collect(),
            devs,
            rng: fastrand::Rng::with_seed(seed),
            promotes: BTreeSet::new(),
            fresh: 0,
            ops: 0,
            commands: 0,
            exits: Default::default(),
            log: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, p: String) {
        self.log.push(format!("  PROBLEM: {p}"));
        self.problems.push(p);
    }

    fn run(&mut self, d: usize, args: &[&str], env: &[(&str, String)]) -> Out {
        let dev = &self.devs[d];
        let mut cmd = dev.env.command(&dev.env.repo, args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = dev.env.finish(cmd.output().expect("gryt runs"));
        self.commands += 1;
        let key = args
            .iter()
            .take_while(|a| !a.starts_with('-'))
            .take(2)
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let key = if key.starts_with("run ") || key.starts_with("promote ") {
            args[0].to_string()
        } else {
            key
        };
        *self
            .exits
            .entry(key)
            .or_default()
            .entry(out.code)
            .or_default() += 1;
        let first_err = out.stderr.lines().find(|l| l.starts_with("Error"));
        self.log.push(format!(
            "{} {}: exit {}{}",
            dev.name,
            args.join(" "),
            out.code,
            first_err.map_or(String::new(), |e| format!(" ({e})"))
        ));
        if let Some(p) = replica::misbehaviour(&out) {
            let p = format!("{} {args:?}: {p}\n{}", dev.name, out.render());
            self.problem(p);
        }
        out
    }

    /// A network command during the faults: 0, 3 (refused, or held back by a conflict) or
    /// 4 (unreachable); promote may also stop at its gates (5) or refuse locally (1).
    fn run_net(&mut self, d: usize, args: &[&str]) -> Out {
        let env = flaky_env(&mut self.rng);
        let out = self.run(d, args, &env);
        let allowed: &[i32] = if args[0] == "promote" {
            &[0, 1, 3, 4, 5]
        } else {
            &[0, 3, 4]
        };
        if !allowed.contains(&out.code) {
            let p = format!(
                "{} {args:?}: exit {} through a flaky network\n{}",
                self.devs[d].name,
                out.code,
                out.render()
            );
            self.problem(p);
        }
        out
    }

    fn local(&self, d: usize) -> Records {
        replica::local(&self.devs[d]).0
    }

    /// This developer's drafts (created here), by id.
    fn own_drafts(&self, d: usize) -> Vec<String> {
        let local = self.local(d);
        self.created[d]
            .iter()
            .filter(|id| local.gens.get(*id).is_some_and(|g| g.status == "draft"))
            .cloned()
            .collect()
    }

    fn step(&mut self, n: usize) {
        let d = self.rng.usize(..self.devs.len());
        match self.rng.u32(..100) {
            0..=12 => self.create(d, n),
            13..=22 => self.add_change(d, n),
            23..=26 => self.rename(d),
            27..=43 => self.prove(d),
            44..=52 => self.promote(d),
            53..=67 => {
                self.run_net(d, &["sync"]);
            }
            68..=79 => {
                self.run_net(d, &["sync", "pull"]);
            }
            80..=91 => {
                self.run_net(d, &["sync", "push"]);
            }
            _ => self.resolve(d),
        }
        self.ops += 1;
    }

    fn create(&mut self, d: usize, n: usize) {
        let version = format!("{}.{}.0", self.rng.u32(1..=5), self.rng.u32(0..8));
        let desc = format!("by {} #{n}", self.devs[d].name);
        let before = self.local(d);
        let out = self.run(d, &["generation", "new", &version, "-d", &desc], &[]);
        if out.code == 0 {
            let after = self.local(d);
            let new: Vec<&String> = after
                .gens
                .keys()
                .filter(|id| !before.gens.contains_key(*id))
                .collect();
            assert_eq!(new.len(), 1, "generation new made one generation");
            self.created[d].insert(new[0].clone());
        }
    }

    /// Adds a change to one of this developer's drafts (nobody else edits them).
    fn add_change(&mut self, d: usize, n: usize) {
        let drafts = self.own_drafts(d);
        if drafts.is_empty() {
            return;
        }
        let id = &drafts[self.rng.usize(..drafts.len())];
        let dev = &self.devs[d];
        let conn = rusqlite::Connection::open(dev.env.path(".gryt/gryt.db")).unwrap();
        let (version, description): (String, String) = conn
            .query_row(
                "SELECT version, description FROM generations WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let mut stmt = conn
            .prepare("SELECT type, change_id, title FROM changes WHERE generation_id = ?1 ORDER BY position")
            .unwrap();
        let mut changes: Vec<(String, String, String)> = stmt
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let render = |changes: &[(String, String, String)]| {
            let mut file = format!(
                "version: {version}\ndescription: '{}'\nchanges:\n",
                description.replace('\'', "''")
            );
            for (t, c, title) in changes {
                let _ = write!(
                    file,
                    "- type: {t}\n  id: {c}\n  title: {}\n",
                    serde_json::to_string(title).unwrap()
                );
            }
            file
        };
        let before = render(&changes);
        let change = format!("{}-{n}", dev.name.to_uppercase());
        changes.push(("add".into(), change.clone(), format!("Change {change}")));
        let path = format!(".gryt/generations/{version}.yaml");
        dev.env.write(&path, render(&changes));
        let out = self.run(d, &["generation", "update", &version], &[]);
        if out.code == 1 && out.stderr.contains("the answer never came") {
            // Its promotion went unanswered: as the hint says, undo the edit and promote again.
            self.devs[d].env.write(&path, before);
            self.promotes.insert((d, id.clone()));
            self.run_net(d, &["promote", &version]);
            return;
        }
        if out.code != 0 {
            let p = format!(
                "{}'s edit of its own draft {version} was refused\n{}",
                self.devs[d].name,
                out.render()
            );
            self.problem(p);
        }
    }

    /// Renames one of this developer's drafts the cloud never had (a synced one cannot be).
    fn rename(&mut self, d: usize) {
        let unsynced = replica::local(&self.devs[d]).1;
        let drafts: Vec<String> = self
            .own_drafts(d)
            .into_iter()
            .filter(|id| unsynced.contains(id))
            .collect();
        if drafts.is_empty() {
            return;
        }
        let id = &drafts[self.rng.usize(..drafts.len())];
        let old = self.local(d).gens[id].version.clone();
        self.fresh += 1;
        let new = format!("7.{d}.{}", self.fresh);
        self.run(d, &["generation", "rename", &old, &new], &[]);
    }

    /// `evolution start` on any draft this workspace has, then `gryt run` with a passing or
    /// a failing pipeline.
    fn prove(&mut self, d: usize) {
        let local = self.local(d);
        let drafts: Vec<(&String, &replica::Gen)> = local
            .gens
            .iter()
            .filter(|(_, g)| g.status == "draft")
            .collect();
        if drafts.is_empty() {
            return;
        }
        let (_, g) = drafts[self.rng.usize(..drafts.len())];
        let change = g.changes[self.rng.usize(..g.changes.len())].clone();
        let version = g.version.clone();
        let out = self.run(
            d,
            &["evolution", "start", &version, "--change", &change],
            &[],
        );
        if out.code != 0 {
            return;
        }
        let pipeline = if self.rng.u32(..4) == 0 { "bad" } else { "ok" };
        let out = self.run(d, &["run", pipeline], &[]);
        if out.code != i32::from(pipeline == "bad") {
            let p = format!(
                "{}: `gryt run {pipeline}` exits {}\n{}",
                self.devs[d].name,
                out.code,
                out.render()
            );
            self.problem(p);
        }
        let after = self.local(d);
        for id in after.evos.keys().filter(|id| !local.evos.contains_key(*id)) {
            self.created[d].insert(id.clone());
        }
    }

    /// Promotes one of this developer's drafts whose changes all passed here.
    fn promote(&mut self, d: usize) {
        let local = self.local(d);
        let ready: Vec<String> = self
            .own_drafts(d)
            .into_iter()
            .filter(|id| {
                local.gens[id].changes.iter().all(|c| {
                    local
                        .evos
                        .values()
                        .any(|e| &e.generation_id == id && &e.change == c && e.status == "pass")
                })
            })
            .collect();
        if ready.is_empty() {
            return;
        }
        let id = ready[self.rng.usize(..ready.len())].clone();
        let version = local.gens[&id].version.clone();
        self.promotes.insert((d, id));
        self.run_net(d, &["promote", &version]);
    }

    /// Settles this developer's open conflicts; a conflict with itself is a problem.
    fn resolve(&mut self, d: usize) {
        let out = self.run(d, &["sync", "conflicts", "--json"], &[]);
        if out.code != 0 {
            return;
        }
        let conflicts = out.json();
        for p in replica::self_conflicts(&self.devs[d], &conflicts) {
            if !self.problems.contains(&p) {
                self.problem(p);
            }
        }
        for c in conflicts.as_array().unwrap() {
            let id = c["id"].to_string();
            let remote_promoted = c["remote_value"]["record"]["status"] == "promoted";
            let args: Vec<String> = match c["reason"].as_str().unwrap_or("") {
                "version_taken" => {
                    self.fresh += 1;
                    let new = format!("9.{d}.{}", self.fresh);
                    vec!["--strategy".into(), "rename".into(), "--value".into(), new]
                }
                "missing_generation" => continue,
                // The cloud will never take it (e.g. an evolution of a generation promoted
                // meanwhile): drop it, as a developer would.
                "refused" => vec!["--strategy".into(), "discard".into()],
                "both_changed" | "changes_in_use" if !remote_promoted => {
                    vec!["--strategy".into(), "keep-local".into()]
                }
                _ => vec!["--strategy".into(), "keep-remote".into()],
            };
            let mut full = vec!["sync", "resolve", &id];
            full.extend(args.iter().map(String::as_str));
            let out = self.run(d, &full, &[]);
            if out.code == 0 && args[1] == "discard" {
                // The developer chose to drop it: gone on purpose, not lost.
                if let Some(record) = c["record_id"].as_str() {
                    self.created[d].remove(record);
                }
            }
            if out.code != 0 {
                let p = format!(
                    "{}: resolving conflict {c} failed\n{}",
                    self.devs[d].name,
                    out.render()
                );
                self.problem(p);
            }
        }
    }

    /// The network is healed: pull, resolve, push, round after round until nothing moves.
    /// Returns each developer's last push report.
    fn converge(&mut self) -> Vec<Value> {
        *self.proxy.chaos.lock().unwrap() = None;
        let mut reports = vec![Value::Null; self.devs.len()];
        let mut settled = false;
        for _round in 0..6 {
            let start = self.api.head(PROJECT);
            let mut all_pushed = true;
            for (d, report) in reports.iter_mut().enumerate() {
                let out = self.run(d, &["sync", "pull", "--json"], &[]);
                if out.code != 0 {
                    all_pushed = false;
                    continue;
                }
                self.resolve(d);
                let out = self.run(d, &["sync", "push", "--json"], &[]);
                all_pushed &= out.code == 0;
                if out.code == 0 || out.code == 3 {
                    *report = out.json();
                }
            }
            if all_pushed && self.api.head(PROJECT) == start {
                settled = true;
                break;
            }
        }
        if !settled {
            for (d, report) in reports.iter().enumerate() {
                if !report["rejected"].is_null() {
                    let p = format!(
                        "{} never gets its work into the cloud once the network is healed: {}",
                        self.devs[d].name, report["rejected"]
                    );
                    self.problem(p);
                }
            }
        }
        reports
    }

    /// Every promotion the cloud accepted is promoted at its promoter's, with its git tag;
    /// one whose answer was lost is finished by running `gryt promote` again.
    fn check_promotions(&mut self, cloud: &Records) {
        let promotes: Vec<(usize, String)> = self.promotes.iter().cloned().collect();
        for (d, id) in promotes {
            let name = self.devs[d].name.clone();
            let Some(g) = cloud.gens.get(&id) else {
                continue;
            };
            if g.promoted_by.as_deref() != Some(name.as_str()) {
                continue;
            }
            let version = g.version.clone();
            let tagged = |w: &World| {
                let local = w.local(d);
                local.gens.get(&id).is_some_and(|l| l.status == "promoted")
                    && w.devs[d].env.git(&["tag", "-l", &version]).trim() == version
            };
            if tagged(self) {
                continue;
            }
            let out = self.run(d, &["promote", &version], &[]);
            if out.code != 0 || !tagged(self) {
                let p = format!(
                    "the cloud accepted {name}'s promotion of {version}, but {name} has no promoted {version} with its tag, and `gryt promote {version}` again exits {}\n{}",
                    out.code,
                    out.render()
                );
                self.problem(p);
            }
        }
    }

    fn check_end(&mut self, reports: &[Value]) {
        for d in 0..self.devs.len() {
            let out = self.run(d, &["sync"], &[]);
            if out.code != 0 {
                let p = format!(
                    "{}'s `gryt sync` after the network healed exits {}\n{}",
                    self.devs[d].name,
                    out.code,
                    out.render()
                );
                self.problem(p);
            }
        }
        let cloud = replica::cloud(&self.api);
        self.check_promotions(&cloud);
        for p in replica::duplicates(&cloud) {
            self.problem(p);
        }
        for (d, report) in reports.iter().enumerate() {
            let dev = &self.devs[d];
            let local = replica::local(dev).0;
            let lost: Vec<String> = self.created[d]
                .iter()
                .filter(|id| !cloud.has(id) && !local.has(id))
                .map(|id| format!("{}'s record {id} is lost", dev.name))
                .collect();
            let all = self.run(d, &["sync", "conflicts", "--all", "--json"], &[]);
            let mut found = lost;
            if all.code == 0 {
                found.extend(replica::self_conflicts(&self.devs[d], &all.json()));
            }
            let skipped = replica::skipped_subjects(report);
            found.extend(replica::replica_differences(
                &self.devs[d],
                &cloud,
                &skipped,
            ));
            if let Some(p) = replica::integrity_problem(&self.devs[d].env.path(".gryt/gryt.db")) {
                found.push(p);
            }
            for p in found {
                if !self.problems.contains(&p) {
                    self.problem(p);
                }
            }
        }
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|n| {
        n.parse()
            .unwrap_or_else(|_| panic!("{name} is a number, not {n:?}"))
    })
}

#[test]
fn three_developers_through_a_flaky_network_converge_without_loss() {
    let seed = env_number("GRYT_FAULT_SEED").unwrap_or(DEFAULT_SEED);
    let ops = env_number("GRYT_FAULT_OPS").map_or(DEFAULT_OPS, |n| n as usize);
    let started = std::time::Instant::now();
    let mut w = World::new(seed);
    *w.proxy.chaos.lock().unwrap() = Some(Chaos {
        rng: fastrand::Rng::with_seed(seed ^ 0x5eed),
        drop_before: 8,
        gateway_error: 8,
        cut_after: 10,
        delay: 10,
        long_delay: 1,
        long_delay_ms: 1100,
    });
    for n in 0..ops {
        w.step(n);
    }
    let reports = w.converge();
    w.check_end(&reports);
    eprintln!(
        "fault test, seed {seed}: {} operations ({} gryt commands) in {:.1?}; faults: {}; exit codes per command: {:?}",
        w.ops,
        w.commands,
        started.elapsed(),
        w.proxy.faults,
        w.exits
    );
    if std::env::var_os("GRYT_FAULT_VERBOSE").is_some() {
        eprintln!("  {}", w.log.join("\n  "));
    }
    if !w.problems.is_empty() {
        panic!(
            "seed {seed} (replay with GRYT_FAULT_SEED={seed}): {} broken invariants:\n{}",
            w.problems.len(),
            w.problems.join("\n")
        );
    }
}

/// The cloud took ann's push but its answer was lost; she edits the draft and pulls. The
/// cloud's copy is her own push, the base of her edit: no conflict, and the edit goes out.
#[test]
fn an_edit_after_a_lost_push_answer_does_not_conflict_with_itself() {
    let (server, _devs) = team(&["ann"]);
    let link = proxy(server.base.clone(), 1);
    let a = dev(&server, "ann", &link.url);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).fails(4);
    a.env.write_contract(
        "v1.0.0",
        &[
            (
                "add",
                "CHANGE-1",
                "Describe the first change of this release",
            ),
            ("add", "EDIT-1", "An edit after the lost answer"),
        ],
        "",
    );
    a.run(&["generation", "update", "1.0.0"]).ok();
    let pulled = a.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["conflicts"], serde_json::json!([]), "{pulled:#}");
    a.run(&["sync"]).ok();
    let all = a.run(&["sync", "conflicts", "--all", "--json"]).ok().json();
    assert_eq!(replica::self_conflicts(&a, &all), Vec::<String>::new());
    let api = server.client().login("ann");
    let cloud = replica::cloud(&api);
    let g = cloud.gens.values().next().unwrap();
    assert_eq!(
        g.changes,
        ["CHANGE-1", "EDIT-1"],
        "the edit reached the cloud"
    );
    assert_eq!(
        replica::replica_differences(&a, &cloud, &BTreeSet::new()),
        Vec::<String>::new()
    );
}

/// Bob proved a change of ann's draft v1.0.0; before he pushed, ann promoted it, so the cloud
/// will never take his evolution. That one record must not hold back the rest of his work:
/// his v2.0.0 goes out, and he is told which record stays behind.
#[test]
fn one_unpushable_evolution_does_not_block_the_rest() {
    let (server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    let stuck = super::prove(b, "1.0.0", "CHANGE-1", "ok");
    super::prove(a, "1.0.0", "CHANGE-1", "ok");
    a.run(&["promote", "1.0.0"]).ok();
    b.run(&["generation", "new", "2.0.0"]).ok();
    let out = b.run(&["sync"]);
    assert!(
        super::feed_versions(&server).contains(&"v2.0.0".to_string()),
        "bob's v2.0.0 is held back by his evolution of promoted v1.0.0:\n{}",
        out.render()
    );
    assert!(
        out.stdout.contains(&stuck) || out.stderr.contains(&stuck),
        "bob is told that {stuck} cannot be pushed:\n{}",
        out.render()
    );
}

//! A property test of the sync engine: random sequences of local edits, pulls and pushes over
//! three clients never lose a local record, and once everyone has resolved, pushed and pulled,
//! every replica equals the server.
//!
//! Each case is seeded (`fastrand`); a failing case prints its seed. Re-run one case with
//! `GRYT_PROPERTY_SEED=N cargo test --test it sync::property -- --nocapture`; run more with
//! `GRYT_PROPERTY_CASES=N` (from seed `GRYT_PROPERTY_FIRST`, default 0) and longer ones with
//! `GRYT_PROPERTY_STEPS=N`.
//!
//! Besides the developers' steps, a case now and then backs the server up, restores it to
//! its last backup (its history rewound: every workspace must notice and send again what the
//! restore lost), or has a developer link to another project, sync there and link back.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use gryt::server::{ServerConfig, admin_backup, admin_restore};

use super::proxy::Proxy;
use super::{Dev, PROJECT, team};
use crate::common::Out;
use crate::server::harness::{Client, TestServer};

const CASES: u64 = 8;
const STEPS: usize = 25;
/// Versions drawn for new generations: few, so that developers collide on them.
const VERSIONS: &[&str] = &["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0", "3.0.0"];

/// A generation this developer created.
#[derive(Debug, Clone)]
struct MyGen {
    id: String,
    version: String,
    description: String,
    /// Change ids this developer put in its contract (others may add more).
    changes: Vec<String>,
}

/// An evolution this developer started and decided.
#[derive(Debug, Clone)]
struct MyEvo {
    id: String,
    generation_id: String,
    change: String,
    status: String,
}

/// What the test knows about one developer.
#[derive(Debug, Default)]
struct Mine {
    gens: Vec<MyGen>,
    evos: Vec<MyEvo>,
    /// Changes this developer added to other developers' drafts: (generation id, change id).
    edits: Vec<(String, String)>,
    /// The server head right after this developer's last pull or accepted push.
    seen_head: Option<u64>,
}

/// One row of the local store, read straight from the database.
#[derive(Debug, Clone, PartialEq)]
struct DbGen {
    version: String,
    description: String,
    status: String,
    created_by: String,
    changes: Vec<String>,
    titles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct DbEvo {
    generation_id: String,
    change: String,
    status: String,
    rc: i64,
}

fn db(dev: &Dev) -> rusqlite::Connection {
    rusqlite::Connection::open(dev.env.path(".gryt/gryt.db")).unwrap()
}

fn db_gens(dev: &Dev) -> BTreeMap<String, DbGen> {
    let conn = db(dev);
    let mut stmt = conn
        .prepare("SELECT id, version, description, status, created_by FROM generations")
        .unwrap();
    let mut out: BTreeMap<String, DbGen> = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                DbGen {
                    version: r.get(1)?,
                    description: r.get(2)?,
                    status: r.get(3)?,
                    created_by: r.get(4)?,
                    changes: Vec::new(),
                    titles: Vec::new(),
                },
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut stmt = conn
        .prepare(
            "SELECT generation_id, change_id, title FROM changes ORDER BY generation_id, position",
        )
        .unwrap();
    for row in stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .unwrap()
    {
        let (g, c, t) = row.unwrap();
        let g = out.get_mut(&g).unwrap();
        g.changes.push(c);
        g.titles.push(t);
    }
    out
}

fn db_evos(dev: &Dev) -> BTreeMap<String, DbEvo> {
    let conn = db(dev);
    let mut stmt = conn
        .prepare("SELECT id, generation_id, change_id, status, rc FROM evolutions")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            DbEvo {
                generation_id: r.get(1)?,
                change: r.get(2)?,
                status: r.get(3)?,
                rc: r.get(4)?,
            },
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Runs a gryt command and checks what every command must satisfy: no panic, an exit code
/// of 0, 1 or 3.
#[track_caller]
fn run(dev: &Dev, args: &[&str]) -> Out {
    run_env(dev, args, &[])
}

#[track_caller]
fn run_env(dev: &Dev, args: &[&str], envs: &[(&str, String)]) -> Out {
    // With the harness's shared GRYT_SEED=42 every developer's n-th evolution gets the same
    // code name: collisions the sync has to settle (see
    // `pull_moves_aside_a_code_name_held_in_another_generation`). GRYT_PROPERTY_OWN_SEEDS=1
    // gives each workspace its own seed instead.
    let mut cmd = dev.env.command(&dev.env.repo, args);
    if std::env::var_os("GRYT_PROPERTY_OWN_SEEDS").is_some() {
        let seed: u32 = dev.name.bytes().map(u32::from).sum();
        cmd.env("GRYT_SEED", seed.to_string());
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = dev.env.finish(cmd.output().expect("gryt runs"));
    assert!(
        !out.stderr.contains("panicked"),
        "{} {args:?} panicked:\n{}",
        dev.name,
        out.render()
    );
    assert!(
        [0, 1, 3].contains(&out.code),
        "{} {args:?}: unexpected exit code:\n{}",
        dev.name,
        out.render()
    );
    out
}

#[track_caller]
fn expect(dev: &Dev, args: &[&str], code: i32) -> Out {
    let out = run(dev, args);
    assert_eq!(
        out.code,
        code,
        "{} {args:?}: expected exit {code}:\n{}",
        dev.name,
        out.render()
    );
    out
}

/// Writes a contract file: `changes` are (id, title).
fn write_contract(dev: &Dev, version: &str, description: &str, changes: &[(String, String)]) {
    let mut s = format!(
        "version: {version}\ndescription: '{}'\nchanges:\n",
        description.replace('\'', "''")
    );
    for (id, title) in changes {
        s.push_str(&format!("- type: add\n  id: {id}\n  title: {title}\n"));
    }
    dev.env
        .write(&format!(".gryt/generations/{version}.yaml"), s);
}

/// A generation's changes as the store holds them, plus `new`: (id, title).
fn changes_plus(g: &DbGen, new: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = g
        .changes
        .iter()
        .cloned()
        .zip(g.titles.iter().cloned())
        .collect();
    if let Some(id) = new {
        out.push((id.to_string(), format!("Change {id}")));
    }
    out
}

fn contract_file(dev: &Dev, version: &str) -> String {
    dev.env.read(&format!(".gryt/generations/{version}.yaml"))
}

/// Every record this developer created is still in its store: same generation, version,
/// description and changes; evolutions of the same generation and change, still decided the
/// same way (the rc tag may have moved).
#[track_caller]
fn check_nothing_lost(dev: &Dev, mine: &Mine, when: &str) {
    let gens = db_gens(dev);
    let evos = db_evos(dev);
    for g in &mine.gens {
        let Some(have) = gens.get(&g.id) else {
            panic!(
                "{when}: {}'s generation v{} ({:?}) is gone from its store",
                dev.name, g.version, g.description
            );
        };
        assert_eq!(
            (&have.version, &have.description),
            (&format!("v{}", g.version), &g.description),
            "{when}: {}'s generation {} changed",
            dev.name,
            g.id
        );
        let file = contract_file(dev, &have.version);
        for c in &g.changes {
            assert!(
                have.changes.contains(c),
                "{when}: {}'s change {c} is gone from its v{}: {:?}",
                dev.name,
                g.version,
                have.changes
            );
            assert!(
                file.contains(&format!("id: {c}\n")),
                "{when}: {}'s change {c} is gone from its contract file:\n{file}",
                dev.name
            );
        }
    }
    for (gen_id, c) in &mine.edits {
        let have = gens
            .get(gen_id)
            .unwrap_or_else(|| panic!("{when}: {}: generation {gen_id} is gone", dev.name));
        assert!(
            have.changes.contains(c),
            "{when}: {}'s change {c} to {} is gone: {:?}",
            dev.name,
            have.version,
            have.changes
        );
        let file = contract_file(dev, &have.version);
        assert!(
            file.contains(&format!("id: {c}\n")),
            "{when}: {}'s change {c} is gone from the contract file of {}:\n{file}",
            dev.name,
            have.version
        );
    }
    for e in &mine.evos {
        let Some(have) = evos.get(&e.id) else {
            panic!(
                "{when}: {}'s evolution of {} ({}) is gone from its store",
                dev.name, e.change, e.status
            );
        };
        assert_eq!(
            (&have.generation_id, &have.change, &have.status),
            (&e.generation_id, &e.change, &e.status),
            "{when}: {}'s evolution {} changed",
            dev.name,
            e.id
        );
    }
}

struct Case {
    seed: u64,
    data: tempfile::TempDir,
    server: TestServer,
    /// Every workspace reaches the server through it (a restored server listens elsewhere).
    link: Proxy,
    /// Backs up, restores the server and relinks developers, drawn from their own generator
    /// (off for the cases that replay a recorded sequence of steps).
    rare: Option<fastrand::Rng>,
    backups: usize,
    backup: Option<std::path::PathBuf>,
    api: Client,
    devs: Vec<Dev>,
    mine: Vec<Mine>,
    rng: fastrand::Rng,
    /// For fresh versions when renaming out of a conflict.
    fresh: u32,
    log: Vec<String>,
}

/// A failing case prints its seed and what it did.
impl Drop for Case {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "property case failed: seed {} (re-run with GRYT_PROPERTY_SEED={}); steps:\n  {}",
                self.seed,
                self.seed,
                self.log.join("\n  ")
            );
        }
    }
}

impl Case {
    fn new(seed: u64, rare: bool) -> Case {
        let (data, server, link, devs) = super::identity::world(&["ann", "bob", "cid"]);
        let api = server.client().login("ann");
        api.post(
            "/v1/teams/acme/projects",
            serde_json::json!({"name": "elsewhere"}),
        )
        .ok();
        Case {
            seed,
            data,
            server,
            link,
            rare: rare.then(|| fastrand::Rng::with_seed(seed ^ 0x7e57)),
            backups: 0,
            backup: None,
            api,
            mine: devs.iter().map(|_| Mine::default()).collect(),
            devs,
            rng: fastrand::Rng::with_seed(seed),
            fresh: 0,
            log: Vec::new(),
        }
    }

    fn head(&self) -> u64 {
        self.api.head(PROJECT)
    }

    fn step(&mut self, n: usize) {
        if let Some(rare) = self.rare.as_mut() {
            match rare.u32(..100) {
                0..=3 => self.backup_or_restore(),
                4..=6 => {
                    let d = rare.usize(..self.devs.len());
                    self.relink(d);
                }
                _ => {}
            }
        }
        let d = self.rng.usize(..self.devs.len());
        match self.rng.u32(..100) {
            0..=21 => self.create(d, n),
            22..=33 => self.add_change(d, n),
            34..=41 => self.edit_other(d, n),
            42..=59 => self.prove(d),
            60..=79 => {
                self.pull(d);
            }
            _ => {
                self.push(d);
            }
        }
    }

    /// Backs the server up (the first time, or every other time), else restores the last
    /// backup: the server stops, its database is replaced, it starts again elsewhere, and
    /// what was pushed since the backup is gone from it.
    fn backup_or_restore(&mut self) {
        let restore = self.backup.is_some() && self.rare.as_mut().is_some_and(|r| r.bool());
        if !restore {
            self.backups += 1;
            let file = self.data.path().join(format!("backup-{}.db", self.backups));
            admin_backup(self.data.path(), &file).expect("backup");
            self.log
                .push(format!("server backed up at head {}", self.head()));
            self.backup = Some(file);
            return;
        }
        let before = self.head();
        self.server.stop();
        let file = self.backup.clone().expect("a backup");
        admin_restore(&file, self.data.path()).expect("restore");
        self.server = TestServer::start_sqlite_in(self.data.path(), ServerConfig::default());
        *self.link.upstream.lock().unwrap() = self.server.base.clone();
        self.api = self.server.client().login("ann");
        for mine in &mut self.mine {
            mine.seen_head = None;
        }
        self.log
            .push(format!("server restored: head {before} → {}", self.head()));
    }

    /// A developer links to another project, syncs everything there, and links back; the
    /// next sync command in acme/web matches every record again.
    fn relink(&mut self, d: usize) {
        let dev = &self.devs[d];
        self.log
            .push(format!("{}: relink to acme/elsewhere and back", dev.name));
        let url = self.link.url.clone();
        expect(dev, &["cloud", "link", "acme/elsewhere", "--url", &url], 0);
        let out = run(dev, &["sync", "--json"]);
        assert!(matches!(out.code, 0 | 3), "{}", out.render());
        expect(dev, &["cloud", "link", PROJECT, "--url", &url], 0);
        self.mine[d].seen_head = None;
    }

    fn create(&mut self, d: usize, n: usize) {
        let dev = &self.devs[d];
        let version = VERSIONS[self.rng.usize(..VERSIONS.len())];
        let description = format!("by {} #{n}", dev.name);
        self.log
            .push(format!("{}: generation new {version}", dev.name));
        let exists = db_gens(dev)
            .values()
            .any(|g| g.version == format!("v{version}"));
        if exists {
            let before = dev.state();
            expect(dev, &["generation", "new", version, "-d", &description], 1);
            assert!(
                dev.state() == before,
                "a refused generation new changed the store"
            );
            return;
        }
        expect(dev, &["generation", "new", version, "-d", &description], 0);
        let id = db_gens(dev)
            .into_iter()
            .find(|(_, g)| g.version == format!("v{version}"))
            .unwrap()
            .0;
        self.mine[d].gens.push(MyGen {
            id,
            version: version.to_string(),
            description,
            changes: vec!["CHANGE-1".to_string()],
        });
    }

    /// Adds a change to one of my drafts.
    fn add_change(&mut self, d: usize, n: usize) {
        let dev = &self.devs[d];
        let mine = &mut self.mine[d];
        if mine.gens.is_empty() {
            return;
        }
        let i = self.rng.usize(..mine.gens.len());
        let g = &mut mine.gens[i];
        let change = format!("{}-{n}", dev.name.to_uppercase());
        self.log
            .push(format!("{}: add {change} to v{}", dev.name, g.version));
        let have = &db_gens(dev)[&g.id];
        write_contract(
            dev,
            &have.version,
            &have.description,
            &changes_plus(have, Some(&change)),
        );
        g.changes.push(change);
        expect(dev, &["generation", "update", &g.version], 0);
    }

    /// Adds a change to a draft of another developer that this one pulled.
    fn edit_other(&mut self, d: usize, n: usize) {
        let dev = &self.devs[d];
        let gens = db_gens(dev);
        let others: Vec<(&String, &DbGen)> = gens
            .iter()
            .filter(|(id, g)| {
                // (a local generation's created_by is the git user until it is pushed)
                g.status == "draft" && !self.mine[d].gens.iter().any(|m| &m.id == *id)
            })
            .collect();
        if others.is_empty() {
            return;
        }
        let (id, g) = others[self.rng.usize(..others.len())];
        let change = format!("{}-{n}", dev.name.to_uppercase());
        self.log.push(format!(
            "{}: add {change} to {}'s {}",
            dev.name, g.created_by, g.version
        ));
        write_contract(
            dev,
            &g.version,
            &g.description,
            &changes_plus(g, Some(&change)),
        );
        expect(dev, &["generation", "update", &g.version], 0);
        self.mine[d].edits.push((id.clone(), change));
    }

    fn prove(&mut self, d: usize) {
        let dev = &self.devs[d];
        let gens = db_gens(dev);
        let drafts: Vec<&DbGen> = gens.values().filter(|g| g.status == "draft").collect();
        if drafts.is_empty() {
            return;
        }
        let g = drafts[self.rng.usize(..drafts.len())];
        let change = &g.changes[self.rng.usize(..g.changes.len())];
        let pipeline = if self.rng.bool() { "ok" } else { "bad" };
        self.log.push(format!(
            "{}: prove {} {change} with {pipeline}",
            dev.name, g.version
        ));
        let before = db_evos(dev);
        expect(
            dev,
            &["evolution", "start", &g.version, "--change", change],
            0,
        );
        expect(dev, &["run", pipeline], i32::from(pipeline != "ok"));
        let after = db_evos(dev);
        let new: Vec<(&String, &DbEvo)> = after
            .iter()
            .filter(|(id, _)| !before.contains_key(*id))
            .collect();
        assert_eq!(new.len(), 1, "one new evolution: {new:?}");
        let (id, e) = new[0];
        let status = if pipeline == "ok" { "pass" } else { "fail" };
        assert_eq!(e.status, status);
        self.mine[d].evos.push(MyEvo {
            id: id.clone(),
            generation_id: e.generation_id.clone(),
            change: change.clone(),
            status: status.to_string(),
        });
    }

    fn pull(&mut self, d: usize) -> Value {
        let dev = &self.devs[d];
        // Sometimes in pages of one to three records, so that a generation changed after
        // its evolutions arrives pages after them.
        let limit = (self.rng.u32(..3) == 0).then(|| self.rng.u32(1..=3));
        let envs: Vec<(&str, String)> = limit
            .map(|l| ("GRYT_SYNC_PAGE_LIMIT", l.to_string()))
            .into_iter()
            .collect();
        self.log.push(match limit {
            Some(l) => format!("{}: sync pull (pages of {l})", dev.name),
            None => format!("{}: sync pull", dev.name),
        });
        let args = ["sync", "pull", "--json"];
        let out = run_env(dev, &args, &envs);
        assert_eq!(out.code, 0, "{} {args:?}:\n{}", dev.name, out.render());
        let out = out.json();
        self.mine[d].seen_head = Some(self.head());
        if !out["full_resync"].is_null() {
            self.log.push(format!("  full resync: {out}"));
        }
        for key in [
            "conflicts",
            "renumbered",
            "resend",
            "local_only",
            "others_lost",
        ] {
            if out[key].as_array().is_some_and(|a| !a.is_empty()) {
                self.log.push(format!("  {key}: {}", out[key]));
            }
        }
        out
    }

    fn push(&mut self, d: usize) -> (i32, Value) {
        let dev = &self.devs[d];
        self.log.push(format!("{}: sync push", dev.name));
        let head = self.head();
        let up_to_date = self.mine[d].seen_head == Some(head);
        let out = run(dev, &["sync", "push", "--json"]);
        assert_ne!(out.code, 1, "push failed:\n{}", out.render());
        let json = out.json();
        if out.code != 0 {
            self.log.push(format!(
                "  exit {}: rejected {}, {} conflicts held back",
                out.code,
                json["rejected"]["error"],
                json["conflicts"].as_array().map_or(0, Vec::len)
            ));
        }
        if up_to_date {
            assert_ne!(
                json["rejected"]["error"],
                "behind",
                "{} pulled at head {head} and nobody pushed since, yet its push is behind:\n{}",
                dev.name,
                out.render()
            );
        }
        if out.code == 0 {
            assert_eq!(json["rejected"], Value::Null, "{}", out.render());
            assert_eq!(json["conflicts"], serde_json::json!([]), "{}", out.render());
        } else {
            // refused (nothing applied), or records in conflict were held back
            assert!(
                !json["rejected"].is_null() || !json["conflicts"].as_array().unwrap().is_empty(),
                "{}",
                out.render()
            );
        }
        if up_to_date && json["rejected"].is_null() {
            self.mine[d].seen_head = Some(self.head());
        }
        (out.code, json)
    }

    fn check(&self, when: &str) {
        for (dev, mine) in self.devs.iter().zip(&self.mine) {
            check_nothing_lost(dev, mine, when);
        }
    }

    /// Settles every open conflict of developer `d` that needs a decision: a version held in
    /// the cloud by another generation moves aside (renamed, through `sync resolve` or
    /// `generation rename`) or is dropped locally.
    /// Returns how many it settled.
    fn resolve(&mut self, d: usize) -> usize {
        let conflicts = expect(&self.devs[d], &["sync", "conflicts", "--json"], 0).json();
        let mut settled = 0;
        for c in conflicts.as_array().unwrap() {
            if c["reason"] == "both_changed" && c["record_kind"] == "generation" {
                self.merge(d, c);
                settled += 1;
                continue;
            }
            if c["reason"] != "version_taken" {
                continue;
            }
            let dev = &self.devs[d];
            let old = c["subject"].as_str().unwrap().trim_start_matches('v');
            let Some(gi) = self.mine[d].gens.iter().position(|g| g.version == old) else {
                // Someone else's generation, which a restore lost from the cloud while another
                // took its version: drop the copy here (its author settles it).
                let dev = &self.devs[d];
                self.log.push(format!(
                    "{}: drop the copy of v{old} (not theirs)",
                    dev.name
                ));
                expect(dev, &["generation", "delete", old, "--local-only"], 0);
                settled += 1;
                continue;
            };
            self.fresh += 1;
            let new = format!("10.0.{}", self.fresh);
            let how = self.rng.u32(..3);
            let id = c["id"].to_string();
            self.log
                .push(format!("{}: resolve v{old} by #{how} ({new})", dev.name));
            settled += 1;
            match how {
                0 => {
                    expect(
                        dev,
                        &[
                            "sync",
                            "resolve",
                            &id,
                            "--strategy",
                            "rename",
                            "--value",
                            &new,
                        ],
                        0,
                    );
                }
                1 => {
                    expect(dev, &["generation", "rename", old, &new], 0);
                }
                _ => {
                    expect(dev, &["generation", "delete", old, "--local-only"], 0);
                    let g = self.mine[d].gens.remove(gi);
                    self.mine[d].evos.retain(|e| e.generation_id != g.id);
                    continue;
                }
            }
            self.mine[d].gens[gi].version = new;
        }
        settled
    }

    /// Both sides changed a draft: keep the local copy, made the union of both (the cloud's
    /// changes first), so the next push loses nobody's change.
    fn merge(&mut self, d: usize, c: &Value) {
        let dev = &self.devs[d];
        let version = c["subject"].as_str().unwrap();
        let gens = db_gens(dev);
        let (_, local) = gens
            .iter()
            .find(|(_, g)| g.version == version)
            .unwrap_or_else(|| panic!("{}: conflict on {version} with no local copy", dev.name));
        let mut union: Vec<(String, String)> = c["remote_value"]["record"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ch| {
                (
                    ch["id"].as_str().unwrap().to_string(),
                    ch["title"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        for (id, title) in changes_plus(local, None) {
            if !union.iter().any(|(u, _)| *u == id) {
                union.push((id, title));
            }
        }
        self.log
            .push(format!("{}: merge {version} by keep-local", dev.name));
        let id = c["id"].to_string();
        expect(
            dev,
            &["sync", "resolve", &id, "--strategy", "keep-local"],
            0,
        );
        write_contract(dev, version, &local.description, &union);
        expect(dev, &["generation", "update", version], 0);
    }

    fn converge(&mut self) {
        let mut quiet_rounds = 0;
        for round in 0..8 {
            let start = self.head();
            for d in 0..self.devs.len() {
                // Settling a conflict may leave a remote value for the next pull; settle
                // until a pull raises nothing new.
                for _ in 0..4 {
                    self.pull(d);
                    if self.resolve(d) == 0 {
                        break;
                    }
                }
                let (code, json) = self.push(d);
                assert_eq!(
                    code, 0,
                    "round {round}: {} cannot push after pulling and resolving:\n{json:#}",
                    self.devs[d].name
                );
                self.check(&format!("converge round {round}, {}", self.devs[d].name));
            }
            if self.head() == start {
                quiet_rounds += 1;
                if quiet_rounds == 2 {
                    break;
                }
            }
        }
        assert!(quiet_rounds > 0, "pushes never settled");
        for d in 0..self.devs.len() {
            self.pull(d);
        }
    }

    /// (version, status, number of changes) per generation, and (tag, owner, status) per
    /// evolution, from each replica's JSON and from the server's feed: all equal.
    fn assert_replicas_equal_server(&self) {
        let (records, _) = self.api.pull_all(PROJECT, 1000);
        let mut versions = BTreeMap::new();
        let mut server_gens = BTreeSet::new();
        for r in &records {
            if r["kind"] == "generation" {
                let g = &r["record"];
                versions.insert(
                    g["id"].as_str().unwrap().to_string(),
                    g["version"].as_str().unwrap().to_string(),
                );
                server_gens.insert((
                    g["version"].as_str().unwrap().to_string(),
                    g["status"].as_str().unwrap().to_string(),
                    g["changes"].as_array().unwrap().len() as u64,
                ));
            }
        }
        let mut server_evos = BTreeSet::new();
        for r in &records {
            if r["kind"] == "evolution" {
                let e = &r["record"];
                let version = versions
                    .get(e["generation_id"].as_str().unwrap())
                    .unwrap_or_else(|| panic!("the server's evolution has no generation: {e}"));
                server_evos.insert((
                    format!("{version}-rc.{}", e["rc"]),
                    e["owner"].as_str().unwrap().to_string(),
                    e["status"].as_str().unwrap().to_string(),
                ));
            }
        }
        for dev in &self.devs {
            let list = expect(dev, &["generation", "list", "--json"], 0).json();
            let mut gens = BTreeSet::new();
            let mut evos = BTreeSet::new();
            for g in list.as_array().unwrap() {
                let version = g["version"].as_str().unwrap();
                assert_eq!(
                    g["sync_status"], "synced",
                    "{}: {version} is not synced after convergence",
                    dev.name
                );
                gens.insert((
                    version.to_string(),
                    g["status"].as_str().unwrap().to_string(),
                    g["changes"].as_u64().unwrap(),
                ));
                let el = expect(dev, &["evolution", "list", version, "--json"], 0).json();
                for e in el.as_array().unwrap() {
                    assert_eq!(
                        e["sync_status"], "synced",
                        "{}: {} is not synced after convergence",
                        dev.name, e["tag"]
                    );
                    evos.insert((
                        e["tag"].as_str().unwrap().to_string(),
                        e["owner"].as_str().unwrap().to_string(),
                        e["status"].as_str().unwrap().to_string(),
                    ));
                }
            }
            assert_eq!(
                gens, server_gens,
                "{}'s generations differ from the server's",
                dev.name
            );
            assert_eq!(
                evos, server_evos,
                "{}'s evolutions differ from the server's",
                dev.name
            );
            let open = expect(dev, &["sync", "conflicts", "--json"], 0).json();
            assert_eq!(open, serde_json::json!([]), "{}: conflicts left", dev.name);
            // And `gryt sync verify` agrees, record by record through the digest.
            expect(dev, &["sync", "verify"], 0);
        }
        // Everything each developer kept is in the cloud, under its name.
        for (dev, mine) in self.devs.iter().zip(&self.mine) {
            for g in &mine.gens {
                assert!(
                    server_gens
                        .iter()
                        .any(|(v, _, _)| *v == format!("v{}", g.version)),
                    "{}'s v{} never reached the server",
                    dev.name,
                    g.version
                );
            }
            let local = db_evos(dev);
            for e in &mine.evos {
                let tag = format!(
                    "{}-rc.{}",
                    db_gens(dev)[&e.generation_id].version,
                    local[&e.id].rc
                );
                assert!(
                    server_evos.contains(&(tag.clone(), dev.name.clone(), e.status.clone())),
                    "{}'s {tag} ({}) never reached the server",
                    dev.name,
                    e.status
                );
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

fn run_case(seed: u64) {
    run_case_with(seed, true);
}

fn run_case_with(seed: u64, rare: bool) {
    let mut case = Case::new(seed, rare);
    let steps = env_number("GRYT_PROPERTY_STEPS").unwrap_or(STEPS as u64) as usize;
    for n in 0..steps {
        case.step(n);
        case.check(&format!("step {n} ({})", case.log.last().map_or("", |s| s)));
    }
    case.converge();
    case.check("after convergence");
    case.assert_replicas_equal_server();
    if std::env::var_os("GRYT_PROPERTY_VERBOSE").is_some() {
        eprintln!("seed {seed}:\n  {}", case.log.join("\n  "));
    }
}

#[test]
fn random_edits_pulls_and_pushes_converge_without_loss() {
    if let Ok(seed) = std::env::var("GRYT_PROPERTY_SEED") {
        run_case(seed.parse().expect("GRYT_PROPERTY_SEED is a number"));
        return;
    }
    let first = env_number("GRYT_PROPERTY_FIRST").unwrap_or(0);
    let cases = env_number("GRYT_PROPERTY_CASES").unwrap_or(CASES);
    for seed in first..first + cases {
        run_case(seed);
    }
}

/// Found by the property test (this version, seed 1007): a pull moving an unsynced local
/// evolution out of a code name the cloud gave someone else drew its new name knowing only the
/// names that page touched, and drew one held by an evolution elsewhere in the store: "UNIQUE
/// constraint failed: evolutions.code_name" (exit 1) at every pull. The seed replays the 24
/// steps that reach it (`GRYT_PROPERTY_VERBOSE=1` lists them); if the harness changes, find
/// another with `GRYT_PROPERTY_CASES`.
#[test]
fn a_renamed_evolution_never_takes_a_code_name_held_elsewhere() {
    run_case_with(1007, false);
}

/// Found by the property test (an earlier version of it): an unsynced local evolution holds the
/// code name the cloud gave another developer's evolution of a *different* generation. The pull
/// used to miss the holder (only the incoming evolution's own generation was searched), and the
/// insert failed on the UNIQUE index (exit 1, "UNIQUE constraint failed: evolutions.code_name") at
/// every pull. The holder must be moved aside.
#[test]
fn pull_moves_aside_a_code_name_held_in_another_generation() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    // Both workspaces run with GRYT_SEED=42 and have recorded as many changes (a pull records
    // what it brings in), so their first evolutions get the same code name.
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["generation", "new", "2.0.0"]).ok();
    let ann = super::prove(a, "1.0.0", "CHANGE-1", "ok");
    let bob = super::prove(b, "2.0.0", "CHANGE-1", "ok");
    let name = |dev: &Dev, v: &str| {
        dev.run(&["evolution", "list", v, "--json"]).ok().json()[0]["code_name"].clone()
    };
    assert_eq!(
        name(a, "1.0.0"),
        name(b, "2.0.0"),
        "{ann} and {bob}: same code name"
    );
    a.run(&["sync", "push"]).ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(
        pulled["new"],
        serde_json::json!(["v1.0.0", "v1.0.0-rc.1"]),
        "{pulled:#}"
    );
    // bob's own evolution is kept, under another code name
    let mine = b.run(&["evolution", "list", "2.0.0", "--json"]).ok().json();
    assert_eq!(mine[0]["status"], "pass");
    assert_ne!(mine[0]["code_name"], name(a, "1.0.0"));
    b.run(&["sync", "push"]).ok();
}

/// Found by the property test (an earlier version of it): a pull that reads a draft again after a
/// conflict was settled (here by `generation delete --local-only`, which lets the cloud's copy of
/// the version come in) used to flag this workspace's unpushed edit of that draft as `both_changed`,
/// although the cloud's copy was still the revision the edit is based on. Nobody else changed it:
/// no conflict, and the edit pushes.
#[test]
fn a_rewound_pull_does_not_conflict_with_an_edit_of_an_unchanged_draft() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["generation", "new", "2.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["generation", "new", "1.0.0", "-d", "bob's"]).ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["new"], serde_json::json!(["v2.0.0"]), "{pulled:#}");
    assert_eq!(pulled["conflicts"][0]["reason"], "version_taken");
    // bob adds a change to ann's v2.0.0 (revision 1, unchanged in the cloud since)
    b.env.write_contract(
        "v2.0.0",
        &[
            (
                "add",
                "CHANGE-1",
                "Describe the first change of this release",
            ),
            ("add", "BOB-1", "Bob's change"),
        ],
        "",
    );
    b.run(&["generation", "update", "2.0.0"]).ok();
    b.run(&["generation", "delete", "1.0.0", "--local-only"])
        .ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["new"], serde_json::json!(["v1.0.0"]), "{pulled:#}");
    assert_eq!(pulled["conflicts"], serde_json::json!([]), "{pulled:#}");
    let pushed = b.run(&["sync", "push", "--json"]).ok().json();
    assert_eq!(
        pushed["updated"],
        serde_json::json!(["v2.0.0"]),
        "{pushed:#}"
    );
}

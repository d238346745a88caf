//! Transfer benchmark (prints numbers; asserts nothing about time): `gryt cloud copy` of a
//! whole project into an empty second project, next to a first `gryt sync pull` of the same
//! project, measured in the same run.
//!
//! `cargo bench --bench transfer` — a real server in-process on 127.0.0.1:0 over a SQLite file
//! in a temp dir; a seeding workspace (10,000 generations, one change each, and 100,000
//! decided evolutions, written through the library store) pushes everything with the library
//! engine; then, with the real `gryt` binary, a fresh workspace's first `gryt sync pull --json`
//! and `gryt cloud copy bench/sync bench/copy --json` (the difference, then the copy), each
//! with its wall time and peak RSS (`/usr/bin/time`, when there is one).
//!
//! Goals: the copy ≤ 1.5× the first pull; peak RSS ≤ 64 MB.
//!
//! Environment: GRYT_BENCH_GENERATIONS (10000), GRYT_BENCH_EVOLUTIONS_PER (10).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use gryt::domain::generation::Contract;
use gryt::domain::{Change, ChangeType, EvolutionStatus, Version};
use gryt::store::{NewEvolution, NewGeneration};
use gryt::sync::client::{Client, ClientOptions};
use gryt::sync::engine::{self, Cloud, PushOptions};
use gryt::workspace::{Workspace, bytes_hash};

mod common;

use common::env_num;

fn main() {
    // `cargo test --benches` runs this binary too; do nothing then.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let generations = env_num("GRYT_BENCH_GENERATIONS", 10_000);
    let per = env_num("GRYT_BENCH_EVOLUTIONS_PER", 10);
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();

    let (_server_data, server) = common::server();
    let base = server.url();
    println!("server on {base}");
    let (user, token) = common::bench_account(&base);
    let client = Client::new(&base, Some(token.clone()), ClientOptions::default());
    client.create_team("bench").expect("team");
    client.create_project("bench", "sync").expect("project");
    client.create_project("bench", "copy").expect("project");
    let cloud = Cloud {
        client: &client,
        url: &base,
        project: "bench/sync".into(),
        account: user,
    };

    let seed_dir = root.join("seed");
    std::fs::create_dir_all(&seed_dir).expect("seed dir");
    Workspace::init(&seed_dir).expect("init");
    seed(&seed_dir, generations, per, user);
    let ws = Workspace::discover(&seed_dir).expect("open seed workspace");
    let t = Instant::now();
    let report = engine::push(&ws, &cloud, &PushOptions::default()).expect("push");
    assert!(
        report.rejected.is_none(),
        "push refused: {:?}",
        report.rejected
    );
    println!(
        "seeded and pushed {} generations and {} evolutions ({:.2} s for the push)",
        generations,
        generations * per,
        t.elapsed().as_secs_f64()
    );
    drop(ws);

    let home = root.join("home");
    std::fs::create_dir_all(home.join("config")).expect("home");
    let dir = root.join("work");
    std::fs::create_dir_all(&dir).expect("work dir");
    Workspace::init(&dir).expect("init");
    let gryt = |args: &[&str]| -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gryt"));
        c.args(args)
            .current_dir(&dir)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("GRYT_TOKEN", &token)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    };
    for (k, v) in [
        ("cloud.url", base.as_str()),
        ("cloud.project", "bench/sync"),
        ("execution_mode", "hybrid"),
    ] {
        let out = gryt(&["config", k, v]).output().expect("gryt config");
        assert!(out.status.success(), "gryt config {k}: {out:?}");
    }

    let (pull, pull_secs, pull_rss) = measured(&gryt, &["sync", "pull", "--json"]);
    println!(
        "first pull:  {} records, {pull_secs:.2} s, peak RSS {}",
        pull["records"].as_u64().unwrap_or(0),
        mb(pull_rss)
    );
    let (copy, copy_secs, copy_rss) = measured(
        &gryt,
        &["cloud", "copy", "bench/sync", "bench/copy", "--json"],
    );
    let copied = &copy["copied"]["copied"];
    println!(
        "cloud copy:  {} generations, {} evolutions copied ({} records read twice: difference, then copy), {copy_secs:.2} s = {:.2}× the first pull (goal ≤ 1.5×), peak RSS {} (goal ≤ 64 MB)",
        copied["generations"],
        copied["evolutions"],
        copy["copied"]["read"],
        copy_secs / pull_secs,
        mb(copy_rss)
    );
    assert_eq!(
        copied["evolutions"].as_u64(),
        Some((generations * per) as u64),
        "{copy}"
    );
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or("n/a".to_string(), |kb| {
        format!("{:.1} MB", kb as f64 / 1024.0)
    })
}

/// Runs `gryt ARGS` (under `/usr/bin/time` when there is one): its JSON output, wall time
/// and peak RSS in KB.
fn measured(
    gryt: &dyn Fn(&[&str]) -> Command,
    args: &[&str],
) -> (serde_json::Value, f64, Option<u64>) {
    let probe = gryt(args);
    let mut cmd = if Path::new("/usr/bin/time").is_file() {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f")
            .arg("GRYT_BENCH_RSS=%M")
            .arg(probe.get_program());
        c.args(probe.get_args());
        for (k, v) in probe.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.current_dir(probe.get_current_dir().expect("dir"))
            .stdin(Stdio::null());
        c
    } else {
        gryt(args)
    };
    let t = Instant::now();
    let out = cmd.output().expect("spawn gryt");
    let secs = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gryt {args:?} failed: {stderr}");
    let rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix("GRYT_BENCH_RSS="))
        .and_then(|v| v.trim().parse().ok());
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "gryt {args:?} output: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (json, secs, rss)
}

/// Writes the records through the library store, as `gryt generation create` and a decided
/// evolution would leave them (contract files on disk, nothing synced yet).
fn seed(root: &Path, generations: usize, per: usize, user: &str) {
    let ws = Workspace::discover(root).expect("open");
    let gens_dir = ws.generations_dir();
    let now = "2026-01-01T00:00:00Z";
    ws.store
        .tx(|s| -> gryt::store::Result<()> {
            for i in 0..generations {
                let contract = Contract {
                    version: Version::new(1 + (i / 1000) as u64, (i % 1000) as u64, 0),
                    description: format!("release {i}"),
                    pipeline_template: Some("ci".into()),
                    changes: vec![Change {
                        kind: ChangeType::Add,
                        id: format!("FEAT-{}", i + 1).parse().expect("id"),
                        title: format!("Feature of release {i}"),
                        description: None,
                        pipeline: None,
                    }],
                };
                let text = gryt::contract::render(&contract);
                std::fs::write(gens_dir.join(contract.version.file_name()), &text).expect("write");
                let id =
                    uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 | i as u128)
                        .to_string();
                s.insert_generation(&NewGeneration {
                    id: &id,
                    contract: &contract,
                    created_by: user,
                    now,
                    file_hash: &bytes_hash(text.as_bytes()),
                })?;
                for e in 0..per {
                    let n = i * per + e;
                    let eid = uuid::Uuid::from_u128(
                        0x0193_0000_0000_7000_9000_0000_0000_0000 | n as u128,
                    )
                    .to_string();
                    s.insert_evolution(&NewEvolution {
                        id: &eid,
                        generation_id: &id,
                        change_id: contract.changes[0].id.as_str(),
                        code_name: &format!("bench-evolution-{n}"),
                        rc: (e + 1) as u32,
                        owner: user,
                        now,
                    })?;
                    s.decide_evolution(&eid, EvolutionStatus::Pass, None, now)?;
                }
            }
            Ok(())
        })
        .expect("seed");
}

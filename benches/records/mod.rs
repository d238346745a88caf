//! What the sync and transfer benches share: the project they seed (10,000 generations and
//! 100,000 decided evolutions by default) and a `gryt` process timed with its peak RSS.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use gryt::domain::generation::Contract;
use gryt::domain::{Change, ChangeType, EvolutionStatus, Version};
use gryt::store::{NewEvolution, NewGeneration};
use gryt::sync::client::{Client, ClientOptions};
use gryt::workspace::{Workspace, bytes_hash};

/// Runs a `gryt … --json` command to the end: (its output, wall seconds, peak RSS in KiB
/// when `/usr/bin/time` is there to measure it).
pub fn measured(probe: Command, time_v: bool) -> (serde_json::Value, f64, Option<u64>) {
    let mut cmd = if time_v {
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
        probe
    };
    let t = Instant::now();
    let out = cmd.output().expect("spawn gryt");
    let secs = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed: {stderr}");
    let rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix("GRYT_BENCH_RSS="))
        .and_then(|v| v.trim().parse().ok());
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{cmd:?} output: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (json, secs, rss)
}

pub fn mb(rss: Option<u64>) -> String {
    rss.map_or("n/a".to_string(), |kb| {
        format!("{:.1} MB", kb as f64 / 1024.0)
    })
}

/// Writes the records through the library store, as `gryt generation create` and a decided
/// evolution would leave them (contract files on disk, nothing synced yet).
pub fn seed(root: &Path, generations: usize, per: usize, user: &str) {
    std::fs::create_dir_all(root).expect("seed dir");
    Workspace::init(root).expect("init");
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
                        assignee: None,
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

/// A fresh workspace `root/NAME` linked to `bench/sync` on `base` in hybrid mode, and how to
/// run the real `gryt` there (a HOME of its own under `root`, the token through GRYT_TOKEN).
pub fn linked_workspace(
    root: &Path,
    name: &str,
    base: &str,
    token: &str,
) -> (PathBuf, impl Fn(&[&str]) -> Command) {
    let home = root.join("home");
    std::fs::create_dir_all(home.join("config")).expect("home");
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("workspace dir");
    Workspace::init(&dir).expect("init");
    let (at, token) = (dir.clone(), token.to_string());
    let gryt = move |args: &[&str]| -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gryt"));
        c.args(args)
            .current_dir(&at)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("GRYT_TOKEN", &token)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    };
    for (k, v) in [
        ("cloud.url", base),
        ("cloud.project", "bench/sync"),
        ("execution_mode", "hybrid"),
    ] {
        let out = gryt(&["config", k, v]).output().expect("gryt config");
        assert!(out.status.success(), "gryt config {k}: {out:?}");
    }
    (dir, gryt)
}

/// The bench account on the server at `base`, with team `bench` and `projects` in it: the
/// account, its token, and a client carrying it.
pub fn bench_team(base: &str, projects: &[&str]) -> (&'static str, String, Client) {
    let (user, token) = crate::common::bench_account(base);
    let client = Client::new(base, Some(token.clone()), ClientOptions::default());
    client.create_team("bench").expect("team");
    for p in projects {
        client.create_project("bench", p).expect("project");
    }
    (user, token, client)
}

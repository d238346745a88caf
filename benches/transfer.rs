//! Transfer benchmark (prints numbers; asserts nothing about time): `gryt cloud copy` of a
//! whole project into an empty second project, next to a first `gryt sync pull` of the same
//! project, measured in the same run.
//!
//! `cargo bench --bench transfer` — a real server in-process on 127.0.0.1:0 over a SQLite file
//! in a temp dir; a seeding workspace (10,000 generations, one change each, and 100,000
//! decided evolutions, written through the library store) pushes everything with the library
//! engine; then, with the real `gryt` binary, a fresh workspace's first `gryt sync pull --json`
//! and `gryt cloud copy bench/sync bench/copy --json` (into an empty project: one walk of the
//! feed), each with its wall time and peak RSS (`/usr/bin/time`, when there is one).
//!
//! Goals: the copy ≤ 1.5× the first pull; peak RSS ≤ 64 MB.
//!
//! Environment: GRYT_BENCH_GENERATIONS (10000), GRYT_BENCH_EVOLUTIONS_PER (10).

use std::path::Path;
use std::time::Instant;

use gryt::sync::engine::{self, Cloud, PushOptions};
use gryt::workspace::Workspace;

mod common;
mod records;

use common::env_num;
use records::{bench_team, linked_workspace, mb, measured, seed};

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
    let (user, token, client) = bench_team(&base, &["sync", "copy"]);
    let cloud = Cloud {
        client: &client,
        url: &base,
        project: "bench/sync".into(),
        account: user,
    };

    let seed_dir = root.join("seed");
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

    let (_dir, gryt) = linked_workspace(root, "work", &base, &token);

    let time_v = Path::new("/usr/bin/time").is_file();
    let (pull, pull_secs, pull_rss) = measured(gryt(&["sync", "pull", "--json"]), time_v);
    println!(
        "first pull:  {} records, {pull_secs:.2} s, peak RSS {}",
        pull["records"].as_u64().unwrap_or(0),
        mb(pull_rss)
    );
    let (copy, copy_secs, copy_rss) = measured(
        gryt(&["cloud", "copy", "bench/sync", "bench/copy", "--json"]),
        time_v,
    );
    let copied = &copy["copied"]["copied"];
    println!(
        "cloud copy:  {} generations, {} evolutions copied into an empty project ({} records read), {copy_secs:.2} s = {:.2}× the first pull (goal ≤ 1.5×), peak RSS {} (goal ≤ 64 MB)",
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

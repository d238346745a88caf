//! CLI latency benchmark (prints numbers; asserts nothing).
//!
//! Seeds a workspace with 1,000 generations (10 changes each, contract files on disk) and
//! 10,000 evolutions through the library, then times whole `gryt` processes — `--version`,
//! `generation list`, `status` — next to `git --version` and `git status` in the same
//! repository. The contract files are committed, as a team's are, so `git status` checks
//! the same 1,000 files `gryt status` does. Ends with the ratios (median over median). Run: `cargo bench --bench cli` (GRYT_BENCH_RUNS=N to change the repetitions,
//! GRYT_BENCH_DIR=empty-dir to keep the seeded workspace).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gryt::contract;
use gryt::domain::generation::Contract;
use gryt::domain::{Change, ChangeType, Version};
use gryt::store::{NewEvolution, NewGeneration, Store};
use gryt::workspace::{Workspace, bytes_hash};

const GENERATIONS: usize = 1_000;
const CHANGES_PER_GENERATION: usize = 10;
const EVOLUTIONS: usize = 10_000;

fn main() {
    let runs: usize = std::env::var("GRYT_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    // GRYT_BENCH_DIR keeps the seeded workspace for profiling; default: a temp dir.
    let dir = tempfile::tempdir().expect("tempdir");
    let kept = std::env::var_os("GRYT_BENCH_DIR").map(std::path::PathBuf::from);
    if let Some(k) = &kept {
        std::fs::create_dir_all(k).expect("create GRYT_BENCH_DIR");
    }
    let root = kept.as_deref().unwrap_or(dir.path());
    git(root, &["init", "-q"]);
    commit(root, &["--allow-empty", "-m", "init"]);
    Workspace::init(root).expect("init");

    let t = Instant::now();
    seed(root);
    println!(
        "seeded {GENERATIONS} generations ({} changes) and {EVOLUTIONS} evolutions in {:.2?}",
        GENERATIONS * CHANGES_PER_GENERATION,
        t.elapsed()
    );

    // Contract files of a real repository were written earlier, not a moment ago (gryt
    // status reads a file modified in the last two seconds every time).
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    for entry in std::fs::read_dir(root.join(".gryt/generations")).expect("generations dir") {
        let path = entry.expect("dir entry").path();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(hour_ago))
            .expect("set mtime");
    }

    // Committed, as a team's contracts are (the database stays ignored): git status then
    // checks the same files gryt status does.
    git(root, &["add", ".gryt"]);
    commit(root, &["-m", "contracts"]);

    let gryt = env!("CARGO_BIN_EXE_gryt");
    println!(
        "\n{:<28} {:>9} {:>9} {:>9}   ({runs} runs each)",
        "command", "median", "p90", "min"
    );
    let no_cache = || {
        let _ = std::fs::remove_file(root.join(".gryt/gryt.db-stat"));
    };
    // As after any write: the states and counts kept under the store's revision no longer
    // apply.
    let no_counts = || {
        let _ = std::fs::remove_file(root.join(".gryt/gryt.db-counts"));
    };
    let commands: [Row; 8] = [
        ("gryt --version", gryt, &["--version"][..], None),
        ("gryt generation list", gryt, &["generation", "list"], None),
        (
            "gryt generation list --json",
            gryt,
            &["generation", "list", "--json"],
            None,
        ),
        ("gryt status", gryt, &["status"], None),
        // Every file read and hashed, as before the stat cache (and after a checkout).
        (
            "gryt status (no stat cache)",
            gryt,
            &["status"],
            Some(&no_cache as &dyn Fn()),
        ),
        (
            "gryt status (counted afresh)",
            gryt,
            &["status"],
            Some(&no_counts as &dyn Fn()),
        ),
        ("git --version", "git", &["--version"], None),
        ("git status", "git", &["status"], None),
    ];
    // Round-robin, one run of each command per round, so that the machine drifting during the
    // benchmark moves every row alike and the ratios compare like with like.
    for (_, program, args, _) in &commands {
        run(root, program, args); // warm-up: the page cache is warm for everyone alike
    }
    let mut samples = vec![Vec::with_capacity(runs); commands.len()];
    for _ in 0..runs {
        for ((_, program, args, before), samples) in commands.iter().zip(&mut samples) {
            if let Some(before) = before {
                before();
            }
            let t = Instant::now();
            run(root, program, args);
            samples.push(t.elapsed());
        }
    }
    let mut medians = std::collections::HashMap::new();
    for ((label, ..), samples) in commands.iter().zip(&mut samples) {
        samples.sort();
        let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
        medians.insert(*label, pct(0.5));
        println!(
            "{label:<28} {:>9} {:>9} {:>9}",
            ms(pct(0.5)),
            ms(pct(0.9)),
            ms(samples[0])
        );
    }
    println!();
    for (ours, theirs, goal) in [
        ("gryt status", "git status", 1.5),
        ("gryt --version", "git --version", 1.2),
    ] {
        let ratio = medians[ours].as_secs_f64() / medians[theirs].as_secs_f64();
        println!("{ours} / {theirs}: {ratio:.2}x (goal <= {goal}x)");
    }
}

fn seed(root: &Path) {
    let store = Store::open(&root.join(".gryt/gryt.db")).expect("open");
    let gens_dir = root.join(".gryt/generations");
    let mut ids = Vec::new();
    store
        .tx(|s| -> gryt::store::Result<()> {
            for i in 0..GENERATIONS {
                let contract = Contract {
                    version: Version::new(1 + (i / 100) as u64, (i % 100) as u64, 0),
                    description: format!("release {i}"),
                    pipeline_template: Some("ci".into()),
                    changes: (0..CHANGES_PER_GENERATION)
                        .map(|c| Change {
                            kind: ChangeType::Add,
                            id: format!("FEAT-{}", i * 100 + c).parse().expect("id"),
                            title: format!("Feature {c} of release {i}"),
                            description: None,
                            pipeline: None,
                            assignee: None,
                        })
                        .collect(),
                };
                let text = contract::render(&contract);
                std::fs::write(gens_dir.join(contract.version.file_name()), &text).expect("write");
                let id = format!("00000000-0000-7000-8000-{i:012}");
                s.insert_generation(&NewGeneration {
                    id: &id,
                    contract: &contract,
                    created_by: "bench",
                    now: "2026-01-01T00:00:00Z",
                    file_hash: &bytes_hash(text.as_bytes()),
                })?;
                ids.push((id, contract));
            }
            for e in 0..EVOLUTIONS {
                let (gid, contract) = &ids[e % GENERATIONS];
                let change = &contract.changes[(e / GENERATIONS) % CHANGES_PER_GENERATION];
                s.insert_evolution(&NewEvolution {
                    id: &format!("00000000-0000-7000-9000-{e:012}"),
                    generation_id: gid,
                    change_id: change.id.as_str(),
                    code_name: &format!("bench-evolution-{e}"),
                    rc: (e / GENERATIONS + 1) as u32,
                    owner: "bench",
                    now: "2026-01-01T00:00:00Z",
                })?;
            }
            Ok(())
        })
        .expect("seed");
}

/// A row: label, program, arguments, what to do before each run.
type Row<'a> = (&'a str, &'a str, &'a [&'a str], Option<&'a dyn Fn()>);

fn run(dir: &Path, program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn");
    assert!(status.success(), "{program} {args:?} failed");
}

fn commit(dir: &Path, args: &[&str]) {
    let who = ["-c", "user.name=bench", "-c", "user.email=b@example.com"];
    git(dir, &[&who[..], &["commit", "-q"], args].concat());
}

fn git(dir: &Path, args: &[&str]) {
    run(dir, "git", args);
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

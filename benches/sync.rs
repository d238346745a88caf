//! Sync engine benchmark (prints numbers; asserts nothing about time).
//!
//! `cargo bench --bench sync` — runs a real server in-process on 127.0.0.1:0 over a SQLite
//! file in a temp dir, then:
//! 1. push: a seeding workspace (10,000 generations, one change each, and 100,000 decided
//!    evolutions, written through the library store) pushes everything with the library
//!    engine — records/s and requests.
//! 2. first pull: a fresh workspace pulls it all with the real `gryt` binary
//!    (`gryt sync pull --json`) — wall time, records/s, requests, peak RSS; then, for
//!    scale, how long writing that many contract files takes on this filesystem alone, and
//!    the storage floor: how long plain SQLite takes to store the same rows with each side's
//!    schema (the server's records, the pushing store marking them synced, the pulling
//!    store's rows), one prepared statement per row and nothing else; and the minimal floor:
//!    the same rows into plain rowid tables with no key, constraint or index.
//! 3. no-op pull: the same again with nothing new — requests and latency (median of N).
//! 4. verify (`gryt sync verify --json`) of the pulled, matching workspace — requests and
//!    seconds next to the first pull's; then a full resync of the same, already matching
//!    workspace (`gryt sync pull --full --json`) next to the first pull.
//! 5. `gryt export --all` of the pulled workspace, then `gryt import` of that bundle into a
//!    fresh workspace: seconds and peak RSS next to the first pull's.
//!
//! Goals (issue 4): ≥ 100k records/s pulled, ≥ 50k/s pushed, ≤ ceil(N/1000)+1 requests,
//! peak RSS ≤ 64 MB, a no-op pull in one request; (issue 11) verify ≤ 0.2× the first pull's
//! time in ≤ 10 requests, a full resync of a matching workspace ≤ 1.2× the first pull;
//! (issue 16) the shipped schema's floor ≤ 2× the minimal one, a push ≤ 1.2× the two stores'
//! floors together, a first pull ≤ 1.5× the local floor plus writing the contract files;
//! (issue 12) export and import each ≤ 1.5× the first pull, peak RSS ≤ 64 MB.
//!
//! Environment: GRYT_BENCH_GENERATIONS (10000), GRYT_BENCH_EVOLUTIONS_PER (10),
//! GRYT_BENCH_RUNS (no-op pulls, 20), GRYT_BENCH_ONLY (`push` stops after the push),
//! GRYT_BENCH_DIR (an empty dir: keep the workspaces there for profiling), GRYT_BENCH_HOLD
//! (keep the server running at the end, for profiling pulls against it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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
    let runs = env_num("GRYT_BENCH_RUNS", 20).max(1);
    let only = std::env::var("GRYT_BENCH_ONLY").unwrap_or_default();
    let tmp = tempfile::tempdir().expect("tempdir");
    let kept = std::env::var_os("GRYT_BENCH_DIR").map(PathBuf::from);
    let root = kept.as_deref().unwrap_or(tmp.path()).to_path_buf();

    let (server_data, server) = common::server();
    let base = server.url();
    println!("server on {base}");
    let (user, token, client) = bench_team(&base, &["sync"]);
    let cloud = Cloud {
        client: &client,
        url: &base,
        project: "bench/sync".into(),
        account: user,
    };

    // 1. Push.
    let seed_dir = root.join("seed");
    let t = Instant::now();
    seed(&seed_dir, generations, per, user);
    let total = generations * (1 + per);
    println!(
        "seeded {generations} generations and {} evolutions locally in {:.2?}",
        generations * per,
        t.elapsed()
    );
    // The seeding store as it is before the push, for the storage floor below.
    let unpushed = root.join("floor-unpushed.db");
    rusqlite::Connection::open(seed_dir.join(".gryt/gryt.db"))
        .and_then(|c| c.execute("VACUUM INTO ?1", [unpushed.to_string_lossy()]))
        .expect("copy the seeding store");
    let ws = Workspace::discover(&seed_dir).expect("open seed workspace");
    let t = Instant::now();
    let report = engine::push(&ws, &cloud, &PushOptions::default()).expect("push");
    let secs = t.elapsed().as_secs_f64();
    let push_secs = secs;
    assert!(
        report.rejected.is_none(),
        "push refused: {:?}",
        report.rejected
    );
    let pushed = report.created.len() + report.updated.len() + report.unchanged.len();
    println!(
        "push:        {pushed} records (+ runs: none) in {} requests, {secs:.2} s: {:.0} records/s  (goal ≥ 50,000/s; head {})",
        report.requests,
        pushed as f64 / secs,
        report.head
    );
    drop(ws);
    if only == "push" {
        return;
    }

    // 2. First pull with the real binary.
    let (pull_dir, gryt) = linked_workspace(&root, "pull", &base, &token);
    let time_v = Path::new("/usr/bin/time").is_file();
    let (json, secs, rss) = pull(&gryt, time_v);
    let first_pull = secs;
    let records = json["records"].as_u64().unwrap_or(0);
    let requests = json["requests"].as_u64().unwrap_or(0);
    println!(
        "first pull:  {records} records in {requests} requests (goal ≤ {}), {secs:.2} s: {:.0} records/s (goal ≥ 100,000/s), peak RSS {} (goal ≤ 64 MB)",
        total.div_ceil(1000) + 1,
        records as f64 / secs,
        rss.map_or("n/a".to_string(), |kb| format!(
            "{:.1} MB",
            kb as f64 / 1024.0
        )),
    );

    // What creating that many contract files costs on this filesystem by itself (a pull
    // writes one per generation): measured after the pull, in the same state.
    let scratch = root.join("files");
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let text = std::fs::read(pull_dir.join(".gryt/generations/v1.0.0.yaml")).expect("a contract");
    let t = Instant::now();
    for i in 0..generations {
        gryt::workspace::write_atomic(&scratch.join(format!("v{i}.yaml")), &text).expect("write");
    }
    let files_secs = t.elapsed().as_secs_f64();
    println!(
        "             of which the filesystem: {generations} contract files written alone take {files_secs:.2} s here"
    );

    // The storage floor: the same rows stored by plain SQLite, one prepared INSERT each in
    // one transaction, with each side's real schema and settings, and nothing else (no HTTP,
    // JSON, checks or files). What the two pipelines cannot go below on this machine.
    let (rows, secs) = storage_floor(
        &server_data
            .path()
            .join(gryt::server::storage::sqlite::DB_FILE),
        |dir| {
            drop(gryt::server::storage::sqlite::SqliteStorage::open(dir).expect("server schema"));
            dir.join(gryt::server::storage::sqlite::DB_FILE)
        },
        &["accounts", "teams", "team_members", "projects"],
        &["records"],
        &root.join("floor-server"),
    );
    let server_floor = secs;
    let server_db = server_data
        .path()
        .join(gryt::server::storage::sqlite::DB_FILE);
    let (_, minimal) = storage_floor(
        &server_db,
        |dir| minimal_schema(&server_db, &["records"], dir),
        &[],
        &["records"],
        &root.join("floor-server-minimal"),
    );
    println!(
        "storage floor: the server's table stores these {rows} records alone in {secs:.2} s ({:.0} rows/s); a push at the goal has {:.2} s for everything",
        rows as f64 / secs,
        total as f64 / 50_000.0
    );
    println!(
        "               minimal schema (rowid table, no constraint or index): {minimal:.2} s; the shipped schema costs {:.2}× that (goal ≤ 2×)",
        secs / minimal
    );
    let server_setup = ["accounts", "teams", "team_members", "projects"];
    index_costs(
        &server_db,
        &server_setup,
        &["records"],
        minimal,
        &root.join("floor-server-index"),
        |dir| {
            drop(gryt::server::storage::sqlite::SqliteStorage::open(dir).expect("server schema"));
            dir.join(gryt::server::storage::sqlite::DB_FILE)
        },
    );
    let (rows, secs) = mark_floor(&unpushed);
    let mark = secs;
    println!(
        "               the seeding store marks its {rows} records synced alone in {secs:.2} s ({:.0} rows/s)",
        rows as f64 / secs
    );
    let local_db = pull_dir.join(".gryt/gryt.db");
    let local_tables = ["generations", "changes", "evolutions"];
    let (rows, secs) = storage_floor(
        &local_db,
        |dir| {
            let path = dir.join("gryt.db");
            drop(gryt::store::Store::create(&path).expect("local schema"));
            path
        },
        &[],
        &local_tables,
        &root.join("floor-local"),
    );
    let local_floor = secs;
    let (_, minimal) = storage_floor(
        &local_db,
        |dir| minimal_schema(&local_db, &local_tables, dir),
        &[],
        &local_tables,
        &root.join("floor-local-minimal"),
    );
    println!(
        "               the local store stores the pulled {rows} rows alone in {secs:.2} s ({:.0} rows/s); a pull at the goal has {:.2} s for everything",
        rows as f64 / secs,
        total as f64 / 100_000.0
    );
    println!(
        "               minimal schema (rowid tables, no constraint or index): {minimal:.2} s; the shipped schema costs {:.2}× that (goal ≤ 2×)",
        secs / minimal
    );
    index_costs(
        &local_db,
        &[],
        &local_tables,
        minimal,
        &root.join("floor-local-index"),
        |dir| {
            let path = dir.join("gryt.db");
            drop(gryt::store::Store::create(&path).expect("local schema"));
            path
        },
    );
    println!(
        "against the floors: push {push_secs:.2} s = {:.2}× the two stores' floors ({:.2} s; goal ≤ 1.2×); first pull {first_pull:.2} s = {:.2}× the local floor plus the files ({:.2} s; goal ≤ 1.5×)",
        push_secs / (server_floor + mark),
        server_floor + mark,
        first_pull / (local_floor + files_secs),
        local_floor + files_secs,
    );

    // 3. No-op pulls.
    let mut samples = Vec::new();
    let mut requests = Vec::new();
    for _ in 0..runs {
        let (json, secs, _) = pull(&gryt, false);
        samples.push(Duration::from_secs_f64(secs));
        requests.push(json["requests"].as_u64().unwrap_or(0));
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    println!(
        "no-op pull:  {} request(s) (goal 1), median {:.1} ms, p90 {:.1} ms, min {:.1} ms ({runs} runs, whole process)",
        requests.iter().max().copied().unwrap_or(0),
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.9).as_secs_f64() * 1000.0,
        samples[0].as_secs_f64() * 1000.0,
    );

    // 4. Verify, then a full resync, of the matching workspace.
    let (json, secs) = run_json(&gryt, &["sync", "verify", "--json"]);
    println!(
        "verify:      {} local / {} cloud records, agree: {}, {} request(s) (goal ≤ 10), {secs:.2} s = {:.2}× the first pull ({first_pull:.2} s; goal ≤ 0.2×)",
        json["local_records"],
        json["cloud_records"],
        json["agree"],
        json["requests"],
        secs / first_pull
    );
    // Again: the server computed the records' hashes for the first digest and keeps them.
    let (json, secs) = run_json(&gryt, &["sync", "verify", "--json"]);
    println!(
        "verify again: agree: {}, {} request(s), {secs:.2} s = {:.2}× the first pull",
        json["agree"],
        json["requests"],
        secs / first_pull
    );
    let (json, secs) = run_json(&gryt, &["sync", "pull", "--full", "--json"]);
    println!(
        "full resync: {} records read in {} requests, {secs:.2} s = {:.2}× the first pull (goal ≤ 1.2×)",
        json["records"],
        json["requests"],
        secs / first_pull
    );

    // 5. A bundle of everything (`gryt export --all`), then imported into a fresh workspace.
    let bundle = root.join("everything.bundle");
    let (json, secs, rss) = measured(
        gryt(&["export", "--all", "-o", &bundle.to_string_lossy(), "--json"]),
        time_v,
    );
    println!(
        "export:      {} generations + {} evolutions, {:.1} MB, {secs:.2} s = {:.2}× the first pull (goal ≤ 1.5×), peak RSS {} (goal ≤ 64 MB)",
        json["counts"]["generations"],
        json["counts"]["evolutions"],
        json["bytes"].as_f64().unwrap_or(0.0) / 1e6,
        secs / first_pull,
        mb(rss)
    );
    let import_dir = root.join("import");
    std::fs::create_dir_all(&import_dir).expect("import dir");
    Workspace::init(&import_dir).expect("init");
    let mut cmd = gryt(&["import", &bundle.to_string_lossy(), "--json"]);
    cmd.current_dir(&import_dir);
    let (json, secs, rss) = measured(cmd, time_v);
    println!(
        "import:      {} records added, {secs:.2} s = {:.2}× the first pull (goal ≤ 1.5×), peak RSS {} (goal ≤ 64 MB)",
        json["report"]["records"],
        secs / first_pull,
        mb(rss)
    );

    // For profiling: keep the server up with the data pushed, and say how to reach it.
    if std::env::var_os("GRYT_BENCH_HOLD").is_some() {
        println!(
            "holding: GRYT_TOKEN={token} cloud.url={} (Ctrl-C ends)",
            base
        );
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// Copies the rows of `setup` (untimed) and then `timed` from the database at `src` into a
/// fresh one made by `create` in `dir`, one prepared INSERT per row and one transaction,
/// with the settings both stores use (WAL, synchronous NORMAL, foreign keys on). Returns the
/// rows of `timed` and the seconds their inserts and the commit took (the reads are not
/// counted: every row is in memory first).
fn storage_floor(
    src: &Path,
    create: impl FnOnce(&Path) -> PathBuf,
    setup: &[&str],
    timed: &[&str],
    dir: &Path,
) -> (usize, f64) {
    use rusqlite::types::Value;
    let source =
        rusqlite::Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the source database");
    let read = |table: &str| -> Vec<Vec<Value>> {
        let mut stmt = source
            .prepare(&format!("SELECT * FROM {table}"))
            .expect("select");
        let n = stmt.column_count();
        stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    };
    let setup: Vec<_> = setup.iter().map(|t| (*t, read(t))).collect();
    let timed: Vec<_> = timed.iter().map(|t| (*t, read(t))).collect();
    drop(source);
    std::fs::create_dir_all(dir).expect("floor dir");
    let mut conn = open_as_the_stores_do(&create(dir));
    let insert = |tx: &rusqlite::Transaction<'_>, table: &str, rows: &[Vec<Value>]| {
        let Some(n) = rows.first().map(Vec::len) else {
            return;
        };
        let marks = vec!["?"; n].join(", ");
        let mut stmt = tx
            .prepare(&format!("INSERT INTO {table} VALUES ({marks})"))
            .expect("insert");
        for row in rows {
            stmt.execute(rusqlite::params_from_iter(row))
                .expect("insert a row");
        }
    };
    let tx = conn.transaction().expect("tx");
    for (table, rows) in &setup {
        insert(&tx, table, rows);
    }
    tx.commit().expect("commit");
    let t = Instant::now();
    let tx = conn.transaction().expect("tx");
    for (table, rows) in &timed {
        insert(&tx, table, rows);
    }
    tx.commit().expect("commit");
    let secs = t.elapsed().as_secs_f64();
    (timed.iter().map(|(_, rows)| rows.len()).sum(), secs)
}

/// What each secondary index of the shipped schema on `tables` costs the floor: the same
/// rows stored with that one index dropped, next to the floor with all of them (each the
/// best of three, the differences being small). Keys and UNIQUE constraints (automatic
/// indexes) carry rules and stay.
fn index_costs(
    src: &Path,
    setup: &[&str],
    tables: &[&str],
    minimal: f64,
    dir: &Path,
    create: impl Fn(&Path) -> PathBuf,
) {
    let source =
        rusqlite::Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the source database");
    let marks = vec!["?"; tables.len()].join(", ");
    let indexes: Vec<String> = source
        .prepare(&format!(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL
               AND tbl_name IN ({marks}) ORDER BY name"
        ))
        .and_then(|mut s| {
            s.query_map(rusqlite::params_from_iter(tables), |r| r.get(0))?
                .collect()
        })
        .expect("indexes");
    drop(source);
    let best = |name: &str, dropped: &[&String]| -> f64 {
        (0..3)
            .map(|round| {
                storage_floor(
                    src,
                    |d| {
                        let path = create(d);
                        let conn = rusqlite::Connection::open(&path).expect("open");
                        for index in dropped {
                            conn.execute_batch(&format!("DROP INDEX {index}"))
                                .expect("drop the index");
                        }
                        path
                    },
                    setup,
                    tables,
                    &dir.join(format!("{name}-{round}")),
                )
                .1
            })
            .fold(f64::INFINITY, f64::min)
    };
    let all = best("all", &[]);
    let costs: Vec<String> = indexes
        .iter()
        .map(|index| format!("{index} {:+.2} s", all - best(index, &[index])))
        .collect();
    println!(
        "               what each secondary index adds to it (best of 3, {all:.2} s with all): {}",
        costs.join(", ")
    );
    // The keys, UNIQUE constraints, checks and foreign keys alone: what the rules cost.
    let every: Vec<&String> = indexes.iter().collect();
    let rules = best("none", &every);
    println!(
        "               with none of them (keys, UNIQUE constraints, checks and foreign keys only): {rules:.2} s = {:.2}× the minimal schema",
        rules / minimal
    );
}

/// The minimal schema for `tables` of the database at `src`: the same columns in plain rowid
/// tables, with no key, constraint or index — what storing the rows costs SQLite itself.
fn minimal_schema(src: &Path, tables: &[&str], dir: &Path) -> PathBuf {
    let source =
        rusqlite::Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the source database");
    let path = dir.join("minimal.db");
    let conn = rusqlite::Connection::open(&path).expect("create the minimal database");
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .expect("wal");
    for table in tables {
        let columns: Vec<String> = source
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("columns");
        conn.execute_batch(&format!("CREATE TABLE {table} ({})", columns.join(", ")))
            .expect("minimal table");
    }
    path
}

/// A connection with the settings both stores write with (the database is in WAL mode).
fn open_as_the_stores_do(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open the database");
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
        .expect("pragmas");
    conn
}

/// What a push must do to the pushing store at least: every record marked synced, one
/// prepared UPDATE per row in one transaction, on a copy of the store taken before the push.
fn mark_floor(copy: &Path) -> (usize, f64) {
    let mut conn = open_as_the_stores_do(copy);
    let ids = |table: &str| -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!("SELECT id FROM {table}"))
            .expect("select");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("ids")
    };
    let tables = [
        ("generations", ids("generations")),
        ("evolutions", ids("evolutions")),
    ];
    let t = Instant::now();
    let tx = conn.transaction().expect("tx");
    for (table, ids) in &tables {
        let mut stmt = tx
            .prepare(&format!(
                "UPDATE {table} SET sync_status = 'synced', remote_id = id, base_revision = 1,
                   last_synced_at = '2026-01-01T00:00:00Z', sync_error = NULL WHERE id = ?1"
            ))
            .expect("update");
        for id in ids {
            assert_eq!(stmt.execute([id]).expect("update a row"), 1);
        }
    }
    tx.commit().expect("commit");
    let secs = t.elapsed().as_secs_f64();
    (tables.iter().map(|(_, ids)| ids.len()).sum(), secs)
}

/// Runs `gryt sync pull --json`: (its report, wall seconds, peak RSS in KiB when measured).
fn pull(gryt: &dyn Fn(&[&str]) -> Command, time_v: bool) -> (serde_json::Value, f64, Option<u64>) {
    measured(gryt(&["sync", "pull", "--json"]), time_v)
}

/// Runs `gryt ARGS` (which print JSON) to the end: its output and wall time.
fn run_json(gryt: &dyn Fn(&[&str]) -> Command, args: &[&str]) -> (serde_json::Value, f64) {
    let t = Instant::now();
    let out = gryt(args).output().expect("spawn gryt");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "gryt {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "gryt {args:?} output: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (json, secs)
}

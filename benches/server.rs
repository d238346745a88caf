//! Gryt Cloud server benchmark (prints numbers; asserts nothing about time).
//!
//! `cargo bench --bench server` — runs real servers on 127.0.0.1:0 and drives them over real
//! HTTP:
//! 1. 64 concurrent clients pushing one small generation per request, pulling on `behind`
//!    — once all in ONE project (contended CAS) and once one project each; accepted
//!    pushes/s, p50/p99 push latency, and a check that every accepted record is readable.
//!    On: SQLite in-process (the row earlier runs printed), SQLite in one `gryt cloud serve`
//!    process, PostgreSQL in one process, and PostgreSQL in two processes with the clients
//!    split between them (as behind a load balancer).
//!    With PostgreSQL, also its floor: 64 connections running a push's statements straight
//!    (no HTTP, no JSON, no rules) — one round trip per statement as gryt sends them, and the
//!    whole transaction pipelined into one round trip.
//! 2. Serving the changes feed for 110,000 records (10k generations + 100k evolutions) in
//!    pages of 1000: records/s, on SQLite (in-process) and PostgreSQL (one process).
//!
//! Environment: GRYT_BENCH_SECS (default 5) per push scenario, GRYT_BENCH_CLIENTS (64),
//! GRYT_BENCH_ONLY (`push`, `floor` or `paging`), GRYT_BENCH_POSTGRES (a database the bench may make
//! schemas in; without it the PostgreSQL rows are skipped).

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use gryt::api::{ChangesPage, PushResponse, Record};
use serde_json::{Value, json};

mod common;

use common::env_num;

#[derive(Clone)]
struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Client {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let res = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("authorization", &auth).call(),
            (_, Some(b)) => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .send_json(b),
            (_, None) => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .send_empty(),
        };
        let mut res = res.expect("HTTP exchange");
        let status = res.status().as_u16();
        let text = res
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .expect("body");
        (status, text)
    }

    fn page(&self, project: &str, since: u64) -> ChangesPage {
        let (status, text) = self.call(
            "GET",
            &format!("/v1/projects/{project}/changes?since={since}&limit=1000"),
            None,
        );
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).expect("page")
    }
}

/// Where a scenario's servers run: their base URLs, and what keeps them alive.
struct Servers {
    bases: Vec<String>,
    _children: Vec<common::ChildServer>,
    _in_process: Option<(tempfile::TempDir, gryt::server::BackgroundServer)>,
    _dir: Option<tempfile::TempDir>,
}

#[derive(Clone, Copy)]
enum Backend {
    SqliteInProcess,
    SqliteProcess,
    Postgres { processes: usize },
}

impl Backend {
    fn label(self) -> String {
        match self {
            Backend::SqliteInProcess => "SQLite, in-process".into(),
            Backend::SqliteProcess => "SQLite, 1 process".into(),
            Backend::Postgres { processes } => format!("PostgreSQL, {processes} process(es)"),
        }
    }

    /// Starts the servers; `None` when PostgreSQL is not available to the bench.
    fn start(self, name: &str) -> Option<Servers> {
        Some(match self {
            Backend::SqliteInProcess => {
                let (data, server) = common::server();
                Servers {
                    bases: vec![server.url()],
                    _children: Vec::new(),
                    _in_process: Some((data, server)),
                    _dir: None,
                }
            }
            Backend::SqliteProcess => {
                let dir = tempfile::tempdir().expect("temp dir");
                let child = common::ChildServer::spawn(&["--data", dir.path().to_str().unwrap()]);
                Servers {
                    bases: vec![child.base.clone()],
                    _children: vec![child],
                    _in_process: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres { processes } => {
                let url = common::postgres_schema(name)?;
                let children: Vec<_> = (0..processes)
                    .map(|_| common::ChildServer::spawn(&["--database", &url]))
                    .collect();
                Servers {
                    bases: children.iter().map(|c| c.base.clone()).collect(),
                    _children: children,
                    _in_process: None,
                    _dir: None,
                }
            }
        })
    }
}

/// The bench account on the server at `base`, with team `bench` holding `projects` projects.
fn setup(base: &str, projects: usize) -> (Client, Vec<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let (_, token) = common::bench_account(base);
    let c = Client {
        agent,
        base: base.to_string(),
        token,
    };
    c.call("POST", "/v1/teams", Some(&json!({"name": "bench"})));
    let names = (0..projects)
        .map(|i| {
            let name = format!("p{i}");
            c.call(
                "POST",
                "/v1/teams/bench/projects",
                Some(&json!({"name": name})),
            );
            format!("bench/{name}")
        })
        .collect();
    (c, names)
}

fn uid(n: u64) -> String {
    uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 | u128::from(n)).to_string()
}

fn generation(n: u64) -> Value {
    json!({"kind": "generation", "base_revision": null, "record": {
        "id": uid(n), "version": format!("{}.{}.{}", n / 1_000_000, (n / 1000) % 1000, n % 1000),
        "changes": [{"type": "add", "id": "FEAT-1", "title": "Bench change"}],
        "status": "draft", "created_at": "2026-01-01T00:00:00Z"}})
}

fn evolution(n: u64, generation: u64, rc: u32) -> Value {
    json!({"kind": "evolution", "base_revision": null, "record": {
        "id": uid(n), "generation_id": uid(generation), "change_id": "FEAT-1",
        "code_name": format!("swift-brave-otter{n}"), "rc": rc, "status": "pass",
        "started_at": "2026-01-01T00:00:00Z", "completed_at": "2026-01-01T00:00:01Z"}})
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn push_scenario(backend: Backend, label: &str, clients: usize, shared: bool, secs: u64) {
    let name = if shared { "bench_shared" } else { "bench_own" };
    let Some(servers) = backend.start(name) else {
        return;
    };
    let label = format!("{}: {label}", backend.label());
    let (c, projects) = setup(&servers.bases[0], if shared { 1 } else { clients });
    // Client t talks to server t mod n (the token is valid on every process).
    let per_server: Vec<Client> = servers
        .bases
        .iter()
        .map(|b| Client {
            base: b.clone(),
            ..c.clone()
        })
        .collect();
    let barrier = Arc::new(Barrier::new(clients));
    let deadline_after = Duration::from_secs(secs);
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|t| {
            let (c, barrier) = (per_server[t % per_server.len()].clone(), Arc::clone(&barrier));
            let project = projects[if shared { 0 } else { t }].clone();
            std::thread::spawn(move || {
                barrier.wait();
                let begin = Instant::now();
                let (mut cursor, mut n, mut accepted, mut behind, mut pulls) = (0u64, 0u64, Vec::new(), 0u64, 0u64);
                let mut latencies = Vec::new();
                while begin.elapsed() < deadline_after {
                    let id = (t as u64 + 1) * 10_000_000 + n;
                    let body = json!({"base_seq": cursor, "idempotency_key": format!("{t}-{n}"), "records": [generation(id)]});
                    let t0 = Instant::now();
                    let (status, text) = c.call("POST", &format!("/v1/projects/{project}/push"), Some(&body));
                    latencies.push(t0.elapsed());
                    if status == 200 {
                        let r: PushResponse = serde_json::from_str(&text).expect("push response");
                        cursor = r.head;
                        accepted.push(id);
                        n += 1;
                    } else {
                        assert!(text.contains("\"behind\""), "unexpected rejection: {text}");
                        behind += 1;
                        // Pull what we miss, like a client would.
                        loop {
                            let page = c.page(&project, cursor);
                            pulls += 1;
                            cursor = page.next;
                            if !page.more {
                                break;
                            }
                        }
                    }
                }
                (accepted, behind, pulls, latencies)
            })
        })
        .collect();
    let (mut accepted, mut behind, mut pulls, mut latencies) = (Vec::new(), 0, 0, Vec::new());
    for h in handles {
        let (a, b, p, l) = h.join().expect("client");
        accepted.extend(a);
        behind += b;
        pulls += p;
        latencies.extend(l);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    // Every accepted record is readable afterwards.
    let mut seen = HashSet::new();
    for p in &projects {
        let mut since = 0;
        loop {
            let page = c.page(p, since);
            for r in &page.records {
                if let Record::Generation(g) = r {
                    seen.insert(g.id.to_string());
                }
            }
            since = page.next;
            if !page.more {
                break;
            }
        }
    }
    let missing = accepted
        .iter()
        .filter(|id| !seen.contains(&uid(**id)))
        .count();
    println!(
        "{label}: {clients} clients, {elapsed:.1} s: {} accepted ({:.0}/s), {behind} behind, {pulls} pulls; push latency p50 {:.1} ms, p99 {:.1} ms; accepted but unreadable: {missing}",
        accepted.len(),
        accepted.len() as f64 / elapsed,
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
    );
    assert_eq!(missing, 0, "accepted records must be readable");
}

/// The floor of a push on PostgreSQL: `clients` connections, one project each, each running
/// the statements a small push runs (lock the project, look up the idempotency key, insert
/// the record, move the head, store the answer) in one transaction, for `secs`; per
/// statement a round trip, or all of them pipelined. Transactions per second.
fn postgres_floor(clients: usize, secs: u64, pipelined: bool) {
    let Some(url) = common::postgres_schema("bench_floor") else {
        return;
    };
    drop(gryt::server::storage::postgres::PostgresStorage::open(&url).expect("schema"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
            .batch_execute(
                "INSERT INTO accounts VALUES ('a', 'bench', 'x', '2026-01-01T00:00:00Z');
                 INSERT INTO teams VALUES ('t', 'bench', '2026-01-01T00:00:00Z');
                 INSERT INTO projects (id, team_id, name, head, created_at)
                   SELECT 'p' || g, 't', 'p' || g, 0, '2026-01-01T00:00:00Z'
                   FROM generate_series(0, 999) g;",
            )
            .await
            .expect("setup");
    });
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|t| {
            let (url, barrier) = (url.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                        .await
                        .expect("connect");
                    tokio::spawn(conn);
                    let project = format!("p{t}");
                    let lock = client
                        .prepare("SELECT head FROM projects WHERE id = $1 FOR UPDATE")
                        .await
                        .unwrap();
                    let answer = client
                        .prepare("SELECT response FROM idempotency WHERE project_id = $1 AND key = $2")
                        .await
                        .unwrap();
                    let insert = client
                        .prepare(
                            "INSERT INTO records (project_id, id, kind, seq, revision, version, body)
                             VALUES ($1, $2, 'generation', $3, 1, $4, $5) ON CONFLICT DO NOTHING",
                        )
                        .await
                        .unwrap();
                    let head = client
                        .prepare("UPDATE projects SET head = $2 WHERE id = $1")
                        .await
                        .unwrap();
                    let store = client
                        .prepare(
                            "INSERT INTO idempotency VALUES ($1, $2, 'a', 'h', '{\"head\":1}', '2026-01-01T00:00:00Z')",
                        )
                        .await
                        .unwrap();
                    barrier.wait();
                    let begin = Instant::now();
                    let mut n = 0i64;
                    while begin.elapsed() < Duration::from_secs(secs) {
                        n += 1;
                        let (id, key) = (uid(t as u64 * 10_000_000 + n as u64), format!("k{n}"));
                        let body = generation(n as u64).to_string();
                        let version = format!("1.0.{n}");
                        if pipelined {
                            let (p1, p2) = ([&project as _], [&project as _, &key as _]);
                            let p3 = [&project as _, &id as _, &n as _, &version as _, &body as _];
                            let (p4, p5) = ([&project as _, &n as _], [&project as _, &key as _]);
                            tokio::try_join!(
                                client.batch_execute("BEGIN"),
                                client.query(&lock, &p1),
                                client.query(&answer, &p2),
                                client.execute(&insert, &p3),
                                client.execute(&head, &p4),
                                client.execute(&store, &p5),
                                client.batch_execute("COMMIT"),
                            )
                            .expect("transaction");
                        } else {
                            client.batch_execute("BEGIN").await.unwrap();
                            client.query(&lock, &[&project]).await.unwrap();
                            client.query(&answer, &[&project, &key]).await.unwrap();
                            client
                                .execute(&insert, &[&project, &id, &n, &version, &body])
                                .await
                                .unwrap();
                            client.execute(&head, &[&project, &n]).await.unwrap();
                            client.execute(&store, &[&project, &key]).await.unwrap();
                            client.batch_execute("COMMIT").await.unwrap();
                        }
                    }
                    (n, begin.elapsed())
                })
            })
        })
        .collect();
    let mut total = 0;
    let mut elapsed = Duration::ZERO;
    for h in handles {
        let (n, e) = h.join().expect("client");
        total += n;
        elapsed = elapsed.max(e);
    }
    println!(
        "PostgreSQL floor, {}: {clients} connections, one project each, {:.1} s: {total} transactions ({:.0}/s)",
        if pipelined {
            "a push's statements pipelined (one round trip)"
        } else {
            "a push's statements one round trip each"
        },
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
}

fn paging_scenario(backend: Backend) {
    let Some(servers) = backend.start("bench_paging") else {
        return;
    };
    println!("{}:", backend.label());
    let (c, projects) = setup(&servers.bases[0], 1);
    let project = &projects[0];
    let (generations, per_generation) = (10_000u64, 10u64);
    let t0 = Instant::now();
    let mut head = 0;
    // 500 generations per push, then their 5,000 evolutions per push.
    for chunk in 0..generations / 500 {
        let ids: Vec<u64> = (chunk * 500 + 1..=chunk * 500 + 500).collect();
        for records in [
            ids.iter().map(|g| generation(*g)).collect::<Vec<_>>(),
            ids.iter()
                .flat_map(|g| {
                    (0..per_generation)
                        .map(move |e| evolution(1_000_000 + g * 100 + e, *g, e as u32 + 1))
                })
                .collect(),
        ] {
            let body = json!({"base_seq": head, "idempotency_key": format!("fill-{head}"), "records": records});
            let (status, text) =
                c.call("POST", &format!("/v1/projects/{project}/push"), Some(&body));
            assert_eq!(status, 200, "{text}");
            head = serde_json::from_str::<PushResponse>(&text)
                .expect("push")
                .head;
        }
    }
    let fill = t0.elapsed().as_secs_f64();
    let total = generations * (1 + per_generation);
    assert_eq!(head, total);
    println!(
        "fill: {total} records pushed in 40 requests, {fill:.2} s ({:.0} records/s)",
        total as f64 / fill
    );

    for round in 1..=2 {
        let t0 = Instant::now();
        let (mut since, mut records, mut requests, mut bytes) = (0, 0u64, 0, 0usize);
        loop {
            let (status, text) = c.call(
                "GET",
                &format!("/v1/projects/{project}/changes?since={since}&limit=1000"),
                None,
            );
            assert_eq!(status, 200);
            bytes += text.len();
            let page: ChangesPage = serde_json::from_str(&text).expect("page");
            requests += 1;
            records += page.records.len() as u64;
            since = page.next;
            if !page.more {
                break;
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(records, total);
        println!(
            "changes feed (round {round}): {records} records in {requests} requests, {:.1} MB, {secs:.2} s: {:.0} records/s (typed decode included)",
            bytes as f64 / 1e6,
            records as f64 / secs
        );
    }
}

fn main() {
    // `cargo test --benches` runs this binary too; do nothing then.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let secs = env_num("GRYT_BENCH_SECS", 5) as u64;
    let clients = env_num("GRYT_BENCH_CLIENTS", 64);
    let only = std::env::var("GRYT_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "push" {
        for backend in [
            Backend::SqliteInProcess,
            Backend::SqliteProcess,
            Backend::Postgres { processes: 1 },
            Backend::Postgres { processes: 2 },
        ] {
            push_scenario(
                backend,
                "push, one shared project (contended CAS)",
                clients,
                true,
                secs,
            );
            push_scenario(
                backend,
                "push, one project per client",
                clients,
                false,
                secs,
            );
        }
    }
    if only.is_empty() || only == "push" || only == "floor" {
        postgres_floor(clients, secs, false);
        postgres_floor(clients, secs, true);
    }
    if only.is_empty() || only == "paging" {
        paging_scenario(Backend::SqliteInProcess);
        paging_scenario(Backend::Postgres { processes: 1 });
    }
}

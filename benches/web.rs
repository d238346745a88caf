//! Web view benchmark (prints numbers; asserts nothing about time).
//!
//! `cargo bench --bench web` — one generation with 1,000 changes and 10,000 evolutions (10
//! per change) in a project of a real server on 127.0.0.1:0, read by 16 concurrent readers
//! over real HTTP: the time per request, p50/p99, of
//! 1. the generation page (`GET /projects/…/generations/v1.0.0`, signed in by cookie),
//! 2. the JSON changes-feed page holding the same records (the generation and its 10,000
//!    evolutions: `GET /v1/projects/…/changes?since=0&limit=10001`, the server's page limit
//!    raised to that),
//! 3. the JSON status of the generation (`GET /v1/projects/…/generations/v1.0.0/status`),
//! 4. a live poll of the page with nothing changed (`?since=FINGERPRINT` → 204),
//!
//! all in the same run, on SQLite in-process, and on PostgreSQL in-process when
//! GRYT_BENCH_POSTGRES names a database the bench may make schemas in.
//!
//! Environment: GRYT_BENCH_READERS (default 16), GRYT_BENCH_REQUESTS (requests per reader per
//! endpoint, default 20).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use gryt::server::{BackgroundServer, ServerConfig};
use serde_json::{Value, json};

mod common;

use common::env_num;

const CHANGES: usize = 1_000;
const PER_CHANGE: usize = 10;
const RECORDS: u32 = (1 + CHANGES * PER_CHANGE) as u32;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// GET `url` with `header`; the status and the body's length.
fn get(agent: &ureq::Agent, url: &str, header: (&str, &str)) -> (u16, usize) {
    let mut res = agent
        .get(url)
        .header(header.0, header.1)
        .call()
        .expect("HTTP exchange");
    let status = res.status().as_u16();
    let body = res
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_vec()
        .expect("body");
    (status, body.len())
}

fn uid(n: u64) -> String {
    uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 | u128::from(n)).to_string()
}

/// The bench account, team `bench`, project `web`, and v1.0.0 with its changes and
/// evolutions (pushed in two requests); the bearer token and the session cookie.
fn fill(base: &str) -> (String, String) {
    let (user, token) = common::bench_account(base);
    let a = agent();
    let bearer = format!("Bearer {token}");
    let post = |path: &str, body: Value| {
        let mut r = a
            .post(format!("{base}{path}"))
            .header("authorization", &bearer)
            .send_json(body)
            .expect("HTTP exchange");
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        assert!((200..300).contains(&status), "{path}: {status} {text}");
        text
    };
    post("/v1/teams", json!({"name": "bench"}));
    post("/v1/teams/bench/projects", json!({"name": "web"}));
    let changes: Vec<Value> = (0..CHANGES)
        .map(|c| json!({"type": "add", "id": format!("FEAT-{c}"), "title": format!("Change number {c} of the bench release")}))
        .collect();
    let generation = json!({"kind": "generation", "base_revision": null, "record": {
        "id": uid(1), "version": "1.0.0", "changes": changes,
        "status": "draft", "created_at": "2026-01-01T00:00:00Z"}});
    post(
        "/v1/projects/bench/web/push",
        json!({"base_seq": 0, "idempotency_key": "g", "records": [generation]}),
    );
    let evolutions: Vec<Value> = (0..CHANGES * PER_CHANGE)
        .map(|i| {
            let (change, attempt) = (i % CHANGES, i / CHANGES);
            let status = if attempt == PER_CHANGE - 1 { "pass" } else { "fail" };
            json!({"kind": "evolution", "base_revision": null, "record": {
                "id": uid(100 + i as u64), "generation_id": uid(1),
                "change_id": format!("FEAT-{change}"), "code_name": format!("swift-brave-otter{i}"),
                "rc": i + 1, "status": status,
                "started_at": format!("2026-01-01T{:02}:{:02}:{:02}Z", attempt, (i / 60) % 60, i % 60),
                "completed_at": "2026-01-02T00:00:00Z"}})
        })
        .collect();
    post(
        "/v1/projects/bench/web/push",
        json!({"base_seq": 1, "idempotency_key": "e", "records": evolutions}),
    );
    // Sign in through the form, as a browser does.
    let mut r = a
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send(format!("username={user}&password=bench-password&next=/").as_bytes())
        .expect("sign in");
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let _ = r.body_mut().read_to_string();
    (token, cookie)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `readers` threads, each GETting `url` `requests` times after one warm-up request; prints
/// p50/p99 of the time per request and the throughput.
fn measure(
    label: &str,
    url: &str,
    header: (&str, &str),
    expect: u16,
    readers: usize,
    requests: usize,
) {
    let barrier = Arc::new(Barrier::new(readers + 1));
    let handles: Vec<_> = (0..readers)
        .map(|_| {
            let (url, barrier) = (url.to_string(), Arc::clone(&barrier));
            let header = (header.0.to_string(), header.1.to_string());
            std::thread::spawn(move || {
                let a = agent();
                let (status, _) = get(&a, &url, (&header.0, &header.1));
                assert_eq!(status, expect, "{url}");
                barrier.wait();
                let mut times = Vec::with_capacity(requests);
                let mut bytes = 0;
                for _ in 0..requests {
                    let t0 = Instant::now();
                    let (status, n) = get(&a, &url, (&header.0, &header.1));
                    times.push(t0.elapsed());
                    assert_eq!(status, expect);
                    bytes = n;
                }
                (times, bytes)
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let mut times = Vec::new();
    let mut bytes = 0;
    for h in handles {
        let (t, b) = h.join().expect("reader");
        times.extend(t);
        bytes = b;
    }
    let elapsed = started.elapsed().as_secs_f64();
    times.sort();
    println!(
        "  {label:<44} {:>7.1} ms p50 {:>7.1} ms p99  {:>6.1} req/s  {:>8.1} KB each",
        percentile(&times, 0.50).as_secs_f64() * 1000.0,
        percentile(&times, 0.99).as_secs_f64() * 1000.0,
        times.len() as f64 / elapsed,
        bytes as f64 / 1000.0,
    );
}

fn run(label: &str, server: &BackgroundServer) {
    let readers = env_num("GRYT_BENCH_READERS", 16);
    let requests = env_num("GRYT_BENCH_REQUESTS", 20);
    let base = server.url();
    let t0 = Instant::now();
    let (token, cookie) = fill(&base);
    println!(
        "{label}: v1.0.0 with {CHANGES} changes and {} evolutions (filled in {:.1} s); {readers} concurrent readers, {requests} requests each:",
        CHANGES * PER_CHANGE,
        t0.elapsed().as_secs_f64()
    );
    let bearer = format!("Bearer {token}");
    let page = format!("{base}/projects/bench/web/generations/v1.0.0");
    // The page's fingerprint, for the live poll.
    let html = agent()
        .get(&page)
        .header("cookie", &cookie)
        .call()
        .expect("page")
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()
        .expect("html");
    assert!(html.contains("FEAT-999") && html.contains("v1.0.0-rc.10000"));
    let fp = html
        .split("data-live=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("fingerprint")
        .to_string();
    measure(
        "generation page (HTML)",
        &page,
        ("cookie", &cookie),
        200,
        readers,
        requests,
    );
    measure(
        &format!("changes feed, one page of {RECORDS} records (JSON)"),
        &format!("{base}/v1/projects/bench/web/changes?since=0&limit={RECORDS}"),
        ("authorization", &bearer),
        200,
        readers,
        requests,
    );
    measure(
        "generation status (JSON)",
        &format!("{base}/v1/projects/bench/web/generations/v1.0.0/status"),
        ("authorization", &bearer),
        200,
        readers,
        requests,
    );
    measure(
        "live poll, nothing changed (204)",
        &format!("{page}?since={fp}"),
        ("cookie", &cookie),
        204,
        readers,
        requests * 5,
    );
}

fn main() {
    // `cargo test --benches` runs this binary too; do nothing then.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let config = || ServerConfig {
        page_limit: RECORDS,
        ..ServerConfig::default()
    };
    {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = BackgroundServer::start(dir.path(), config()).expect("server starts");
        run("SQLite, in-process", &server);
    }
    if let Some(url) = common::postgres_schema("bench_web") {
        let storage = gryt::server::open_postgres(&url).expect("PostgreSQL");
        let server = BackgroundServer::start_on(storage, None, config()).expect("server starts");
        run("PostgreSQL, in-process", &server);
    }
}

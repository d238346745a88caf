//! Workflow 12: a push whose answer is lost: a loopback proxy forwards the first push to the cloud and
//! drops the answer (the server committed, the client never heard). The retry applies once.
//!
//! The proxy also plays a flaky network for the fault tests (`faults.rs`): with [`Chaos`]
//! set, a seeded random draw per connection drops it before forwarding, answers 502/503
//! without forwarding, holds it back, or forwards it and then cuts the answer (the server
//! committed; the client hears nothing or half an answer).

use serde_json::json;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{dev, team};
use crate::server::harness::TestServer;

/// A loopback proxy in front of the cloud: it counts pushes, can drop the answer of one push
/// or one promotion, can play "the server is down" (every connection closed unanswered), a
/// slow link (each answer held back `delay_ms`), a server that hangs (`hang`: connections
/// accepted, never answered), a link that breaks in the middle of a pull (`changes_limit`:
/// requests for the changes feed past that many are closed unanswered) and a client that
/// pulled just before someone else wrote (`stale_feed`: a changes-feed request asked before
/// gets its earlier answer again, as if nothing had happened since).
pub struct Proxy {
    pub url: String,
    pub pushes: Arc<AtomicUsize>,
    pub down: Arc<AtomicBool>,
    pub delay_ms: Arc<AtomicU64>,
    pub hang: Arc<AtomicBool>,
    /// Connections accepted so far, of any kind.
    pub connections: Arc<AtomicUsize>,
    /// How many changes-feed requests are answered (all, unless lowered).
    pub changes_limit: Arc<AtomicUsize>,
    /// Promotions forwarded so far.
    pub promotes: Arc<AtomicUsize>,
    /// The promotion (1-based) whose answer is dropped after the cloud applied it; 0: none.
    pub drop_promote: Arc<AtomicUsize>,
    pub stale_feed: Arc<AtomicBool>,
    /// A flaky network: faults drawn per connection (none while `None`).
    pub chaos: Arc<Mutex<Option<Chaos>>>,
    /// The faults played so far, per kind.
    pub faults: Arc<FaultCounts>,
    /// How long each answer is held back after the server gave it (the server has committed;
    /// the client does not know yet): widens the window a kill can land in.
    pub answer_delay_ms: Arc<AtomicU64>,
    /// Where requests go: a restarted server listens elsewhere, the link stays the same.
    pub upstream: Arc<Mutex<String>>,
}

impl Proxy {
    /// Waits until `n` pushes have reached the proxy (a client is then in the middle of its
    /// push, its records read): an event to act on instead of a guessed sleep.
    pub fn wait_for_pushes(&self, n: usize) {
        wait_until(&self.pushes, n, "push");
    }

    /// Waits until `n` connections of any kind have reached the proxy.
    pub fn wait_for_connections(&self, n: usize) {
        wait_until(&self.connections, n, "connection");
    }
}

fn wait_until(counter: &AtomicUsize, n: usize, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while counter.load(Ordering::SeqCst) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "no {what} #{n} reached the proxy"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Per-connection odds (in percent) of each fault, drawn from a seeded RNG in the order the
/// proxy accepts connections (sequential commands replay the same faults from the same seed).
pub struct Chaos {
    pub rng: fastrand::Rng,
    /// Closed before the request is read: nothing reached the server.
    pub drop_before: u32,
    /// Answered 502 or 503 (no Gryt Cloud error body) without forwarding.
    pub gateway_error: u32,
    /// Forwarded (the server committed), then the answer is cut: none, or half of it.
    pub cut_after: u32,
    /// Held back 10–150 ms before forwarding.
    pub delay: u32,
    /// Held back `long_delay_ms` before forwarding: past a short client timeout, so the
    /// server may commit after the client gave up.
    pub long_delay: u32,
    pub long_delay_ms: u64,
}

/// What the proxy does to one connection.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Pass,
    DropBefore,
    Gateway(u16),
    Delay(u64),
    CutAfter { half: bool },
}

impl Chaos {
    fn draw(&mut self) -> Fault {
        let roll = self.rng.u32(..100);
        let mut edge = self.drop_before;
        if roll < edge {
            return Fault::DropBefore;
        }
        edge += self.gateway_error;
        if roll < edge {
            return Fault::Gateway(if self.rng.bool() { 502 } else { 503 });
        }
        edge += self.cut_after;
        if roll < edge {
            return Fault::CutAfter {
                half: self.rng.bool(),
            };
        }
        edge += self.delay;
        if roll < edge {
            return Fault::Delay(self.rng.u64(10..=150));
        }
        edge += self.long_delay;
        if roll < edge {
            return Fault::Delay(self.long_delay_ms);
        }
        Fault::Pass
    }
}

/// How many connections met each fault.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub dropped: AtomicUsize,
    pub gateway: AtomicUsize,
    pub cut: AtomicUsize,
    pub delayed: AtomicUsize,
    pub passed: AtomicUsize,
}

impl FaultCounts {
    fn count(&self, fault: Fault) {
        let tally = match fault {
            Fault::Pass => &self.passed,
            Fault::DropBefore => &self.dropped,
            Fault::Gateway(_) => &self.gateway,
            Fault::Delay(_) => &self.delayed,
            Fault::CutAfter { .. } => &self.cut,
        };
        tally.fetch_add(1, Ordering::SeqCst);
    }
}

impl std::fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |a: &AtomicUsize| a.load(Ordering::SeqCst);
        write!(
            f,
            "{} dropped before forwarding, {} answered 502/503, {} cut after the server answered, {} delayed, {} passed",
            n(&self.dropped),
            n(&self.gateway),
            n(&self.cut),
            n(&self.delayed),
            n(&self.passed)
        )
    }
}

/// What the relaying threads share.
#[derive(Clone)]
struct Shared {
    pushes: Arc<AtomicUsize>,
    drop_push: usize,
    feed_seen: Arc<AtomicUsize>,
    feed_limit: Arc<AtomicUsize>,
    promotes: Arc<AtomicUsize>,
    drop_promote: Arc<AtomicUsize>,
    stale_feed: Arc<AtomicBool>,
    /// The last answer to each changes-feed request line.
    feed_answers: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    answer_delay_ms: Arc<AtomicU64>,
}

/// Forwards one HTTP request per connection to `upstream`; for the `drop_nth` push (1-based;
/// 0: none) it closes the connection instead of answering.
pub fn proxy(upstream: String, drop_nth: usize) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let down = Arc::new(AtomicBool::new(false));
    let delay_ms = Arc::new(AtomicU64::new(0));
    let hang = Arc::new(AtomicBool::new(false));
    let (switch, delay) = (down.clone(), delay_ms.clone());
    let hanging = hang.clone();
    let connections = Arc::new(AtomicUsize::new(0));
    let accepted = connections.clone();
    let shared = Shared {
        pushes: Arc::new(AtomicUsize::new(0)),
        drop_push: drop_nth,
        feed_seen: Arc::new(AtomicUsize::new(0)),
        feed_limit: Arc::new(AtomicUsize::new(usize::MAX)),
        promotes: Arc::new(AtomicUsize::new(0)),
        drop_promote: Arc::new(AtomicUsize::new(0)),
        stale_feed: Arc::new(AtomicBool::new(false)),
        feed_answers: Arc::default(),
        answer_delay_ms: Arc::default(),
    };
    let (chaos, faults): (Arc<Mutex<Option<Chaos>>>, Arc<FaultCounts>) = Default::default();
    let (flaky, counts) = (chaos.clone(), faults.clone());
    let upstream = Arc::new(Mutex::new(upstream));
    let target = upstream.clone();
    let proxy = Proxy {
        upstream,
        url: format!("http://{addr}"),
        pushes: shared.pushes.clone(),
        down,
        delay_ms,
        hang,
        connections,
        changes_limit: shared.feed_limit.clone(),
        promotes: shared.promotes.clone(),
        drop_promote: shared.drop_promote.clone(),
        stale_feed: shared.stale_feed.clone(),
        chaos,
        faults,
        answer_delay_ms: shared.answer_delay_ms.clone(),
    };
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            accepted.fetch_add(1, Ordering::SeqCst);
            if switch.load(Ordering::SeqCst) {
                drop(conn);
                continue;
            }
            if hanging.load(Ordering::SeqCst) {
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_secs(120));
                    drop(conn);
                });
                continue;
            }
            let fault = flaky
                .lock()
                .unwrap()
                .as_mut()
                .map_or(Fault::Pass, Chaos::draw);
            counts.count(fault);
            if fault == Fault::DropBefore {
                drop(conn);
                continue;
            }
            let (upstream, shared) = (target.lock().unwrap().clone(), shared.clone());
            let mut delay = delay.load(Ordering::SeqCst);
            if let Fault::Delay(ms) = fault {
                delay += ms;
            }
            let delay = std::time::Duration::from_millis(delay);
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                relay(conn, &upstream, &shared, fault)
            });
        }
    });
    proxy
}

/// A server that cannot be reached (killed, restarting) closes the client's connection
/// unanswered.
fn relay(client: TcpStream, upstream: &str, shared: &Shared, fault: Fault) {
    let Ok(read_half) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.push_str("Connection: close\r\n\r\n");
            break;
        }
        head.push_str(&line);
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request_line = head.lines().next().unwrap_or("").to_string();
    let is_push = head.starts_with("POST") && request_line.contains("/push");
    let is_promote = head.starts_with("POST") && request_line.contains("/promote");
    let is_feed = request_line.contains("/changes?");
    if is_feed
        && shared.feed_seen.fetch_add(1, Ordering::SeqCst)
            >= shared.feed_limit.load(Ordering::SeqCst)
    {
        return; // the link broke: the client hears nothing
    }
    let mut client = client;
    if let Fault::Gateway(status) = fault {
        let text = "upstream unavailable";
        let _ = client.write_all(
            format!(
                "HTTP/1.1 {status} Gateway\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            )
            .as_bytes(),
        );
        return;
    }
    if is_feed && shared.stale_feed.load(Ordering::SeqCst) {
        let earlier = shared
            .feed_answers
            .lock()
            .unwrap()
            .get(&request_line)
            .cloned();
        if let Some(answer) = earlier {
            let _ = client.write_all(&answer);
            return;
        }
    }
    let Ok(mut server) = TcpStream::connect(upstream.trim_start_matches("http://")) else {
        return;
    };
    let mut answer = Vec::new();
    let exchanged = server
        .write_all(head.as_bytes())
        .and_then(|()| server.write_all(&body))
        .and_then(|()| server.read_to_end(&mut answer));
    if exchanged.is_err() {
        return;
    }
    if is_push && shared.pushes.fetch_add(1, Ordering::SeqCst) + 1 == shared.drop_push {
        return; // the server committed; the client hears nothing
    }
    if is_promote
        && shared.promotes.fetch_add(1, Ordering::SeqCst) + 1
            == shared.drop_promote.load(Ordering::SeqCst)
    {
        return; // the cloud promoted; the client hears nothing
    }
    std::thread::sleep(std::time::Duration::from_millis(
        shared.answer_delay_ms.load(Ordering::SeqCst),
    ));
    if is_feed {
        shared
            .feed_answers
            .lock()
            .unwrap()
            .insert(request_line, answer.clone());
    }
    match fault {
        Fault::CutAfter { half: false } => {} // the server committed; the client hears nothing
        Fault::CutAfter { half: true } => {
            let _ = client.write_all(&answer[..answer.len() / 2]);
        }
        _ => {
            let _ = client.write_all(&answer);
        }
    }
}

#[test]
fn a_retried_push_after_a_lost_answer_applies_once() {
    let (server, devs) = team(&["ann"]);
    let Proxy { url, pushes, .. } = proxy(server.base.clone(), 1);
    let a = dev(&server, "ann", &url);
    drop(devs);
    a.run(&["generation", "new", "1.0.0"]).ok();
    let out = a.run(&["sync", "push"]).fails(4);
    assert!(
        out.stderr.contains("cannot reach the cloud"),
        "{}",
        out.render()
    );
    assert_eq!(pushes.load(Ordering::SeqCst), 1);
    // the cloud has it (one record, head 1), the client does not know yet
    let head = server
        .client()
        .login("ann")
        .get("/v1/projects/acme/web")
        .ok()["head"]
        .clone();
    assert_eq!(head, 1);
    let saved = a.env.path(".gryt/gryt.db-push");
    assert!(saved.is_file(), "the unanswered push is kept for the retry");
    let pushed = a.run(&["sync", "push", "--json"]).ok().json();
    assert_eq!(pushed["created"], serde_json::json!(["v1.0.0"]));
    assert_eq!(pushes.load(Ordering::SeqCst), 2, "the retry is one request");
    assert!(!saved.exists(), "answered: nothing left to retry");
    let head = server
        .client()
        .login("ann")
        .get("/v1/projects/acme/web")
        .ok()["head"]
        .clone();
    assert_eq!(head, 1, "the retry applied nothing again");
    let list = a.run(&["generation", "list", "--json"]).ok().json();
    assert_eq!(list[0]["sync_status"], "synced");
    // and nothing is left to push
    let again = a.run(&["sync", "push", "--json"]).ok().json();
    assert_eq!(again["created"], serde_json::json!([]));
}

/// A push in batches sends the next batch while it stores the answer of the last, each
/// request saved in a slot of its own until its answer is stored. The answer to the second
/// batch is lost: the first answer is stored all the same, the second request waits in the
/// second slot, and the next push replays it once and sends the rest.
#[test]
fn a_lost_answer_to_the_second_batch_is_replayed_from_its_own_slot() {
    let (server, devs) = team(&["ann"]);
    let Proxy { url, pushes, .. } = proxy(server.base.clone(), 2);
    let a = dev(&server, "ann", &url);
    drop(devs);
    for v in ["1.0.0", "2.0.0", "3.0.0"] {
        a.run(&["generation", "new", v]).ok();
    }
    let batches = [("GRYT_SYNC_BATCH_RECORDS", "1")];
    let out = a.run_with(&["sync", "push"], &batches, "").fails(4);
    assert_eq!(pushes.load(Ordering::SeqCst), 2, "{}", out.render());
    assert!(
        !a.env.path(".gryt/gryt.db-push").exists(),
        "the first answer is stored"
    );
    assert!(
        a.env.path(".gryt/gryt.db-push.2").is_file(),
        "the second waits"
    );
    let head = |server: &TestServer| {
        server
            .client()
            .login("ann")
            .get("/v1/projects/acme/web")
            .ok()["head"]
            .clone()
    };
    assert_eq!(head(&server), 2, "the cloud applied both");
    let list = a.run(&["generation", "list", "--json"]).ok().json();
    let synced: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["version"].clone(), g["sync_status"].clone()))
        .collect();
    assert!(
        synced.contains(&(json!("v1.0.0"), json!("synced")))
            && synced.contains(&(json!("v2.0.0"), json!("not_synced"))),
        "{synced:?}"
    );

    let pushed = a
        .run_with(&["sync", "push", "--json"], &batches, "")
        .ok()
        .json();
    assert_eq!(pushed["created"], json!(["v2.0.0", "v3.0.0"]), "{pushed:#}");
    assert_eq!(
        pushes.load(Ordering::SeqCst),
        4,
        "one replay, one new batch"
    );
    assert_eq!(head(&server), 3, "the replay applied nothing again");
    assert!(!a.env.path(".gryt/gryt.db-push.2").exists());
    assert_all_synced(&a);
}

/// Ann pushes v1.0.0 through a proxy that loses the first answer: the cloud has it, she
/// does not know (exit 4). Returns the server (keep it alive), her workspace and the count
/// of pushes the proxy saw.
fn a_push_whose_answer_is_lost() -> (TestServer, super::Dev, Arc<AtomicUsize>) {
    let (server, devs) = team(&["ann"]);
    let Proxy { url, pushes, .. } = proxy(server.base.clone(), 1);
    let a = dev(&server, "ann", &url);
    drop(devs);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).fails(4);
    (server, a, pushes)
}

/// After a lost push answer, an edit of the same generation and of an evolution decided
/// since are ours, not a conflict with ourselves: the pull first replays the unanswered push,
/// and `gryt sync` then sends the edits.
#[test]
fn an_edit_after_a_lost_answer_is_not_a_conflict_with_yourself() {
    let (server, devs) = team(&["ann"]);
    let Proxy { url, pushes, .. } = proxy(server.base.clone(), 2);
    let a = dev(&server, "ann", &url);
    drop(devs);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    a.run(&["generation", "new", "4.0.0"]).ok();
    a.run(&["evolution", "start", "1.0.0", "--change", "CHANGE-1"])
        .ok();
    // v4.0.0 and the running v1.0.0-rc.1 go out; the answer is lost.
    a.run(&["sync", "push"]).fails(4);
    assert_eq!(pushes.load(Ordering::SeqCst), 2);
    a.env.write_contract(
        "v4.0.0",
        &[("add", "FEAT-4", "Edited after the lost answer")],
        "",
    );
    a.run(&["generation", "update", "4.0.0"]).ok();
    a.run(&["run", "ok"]).ok(); // decides v1.0.0-rc.1
    let pulled = a.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["conflicts"], serde_json::json!([]), "{pulled:#}");
    assert_eq!(pulled["updated"], serde_json::json!([]), "{pulled:#}");
    let synced = a.run(&["sync", "--json"]).ok().json();
    assert_eq!(
        synced["pull"]["conflicts"],
        serde_json::json!([]),
        "{synced:#}"
    );
    assert_eq!(
        synced["push"]["updated"],
        serde_json::json!(["v4.0.0", "v1.0.0-rc.1"]),
        "{synced:#}"
    );
    assert_eq!(
        synced["push"]["created"],
        serde_json::json!([]),
        "{synced:#}"
    );
    assert_all_synced(&a);
}

/// The saved body of an unanswered push is damaged (or gone): nothing is replayed and nothing
/// is lost. The cloud had taken the push, so the next push is `behind`, and the pull
/// confirms the record as ours.
#[test]
fn a_damaged_unanswered_push_is_not_replayed_and_loses_nothing() {
    let (_server, a, pushes) = a_push_whose_answer_is_lost();
    let saved = a.env.path(".gryt/gryt.db-push");
    let body = std::fs::read_to_string(&saved).unwrap();
    std::fs::write(&saved, &body[..body.len() / 2]).unwrap();
    let out = a.run(&["sync", "push", "--json"]).fails(3);
    assert_eq!(
        out.json()["rejected"]["error"],
        "behind",
        "{}",
        out.render()
    );
    assert_eq!(
        pushes.load(Ordering::SeqCst),
        2,
        "no replay, one push refused"
    );
    assert!(!saved.exists(), "the damaged body is dropped");
    let pulled = a.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["conflicts"], serde_json::json!([]), "{pulled:#}");
    let list = a.run(&["generation", "list", "--json"]).ok().json();
    assert_eq!(list[0]["sync_status"], "synced", "{list:#}");
    let again = a.run(&["sync", "push", "--json"]).ok().json();
    assert_eq!(again["created"], serde_json::json!([]), "{again:#}");
}

/// An unanswered push saved by an earlier gryt (the body itself in the store, no file) is
/// still replayed, and applies once.
#[test]
fn an_unanswered_push_saved_by_an_earlier_gryt_is_replayed() {
    let (_server, a, pushes) = a_push_whose_answer_is_lost();
    let saved = a.env.path(".gryt/gryt.db-push");
    let body = std::fs::read_to_string(&saved).unwrap();
    std::fs::remove_file(&saved).unwrap();
    let db = rusqlite::Connection::open(a.env.path(".gryt/gryt.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE sync_metadata SET value = ?1 WHERE key = 'inflight_push'",
            [&body],
        )
        .unwrap();
    assert_eq!(changed, 1, "the mark of the unanswered push");
    drop(db);
    let pushed = a.run(&["sync", "push", "--json"]).ok().json();
    assert_eq!(
        pushed["created"],
        serde_json::json!(["v1.0.0"]),
        "{pushed:#}"
    );
    assert_eq!(pushes.load(Ordering::SeqCst), 2, "the retry is one request");
    let list = a.run(&["generation", "list", "--json"]).ok().json();
    assert_eq!(list[0]["sync_status"], "synced");
}

/// The link breaks in the middle of a first pull, while the next page is being fetched
/// ahead: the pages already applied are kept (records, contract files, cursor), the pull
/// exits 4, and the next pull brings the rest.
#[test]
fn a_pull_cut_off_midway_keeps_what_it_applied_and_the_next_completes() {
    let (server, devs) = team(&["ann", "bob"]);
    let a = &devs[0];
    let versions = ["1.0.0", "1.1.0", "1.2.0", "1.3.0"];
    for v in versions {
        a.run(&["generation", "new", v]).ok();
    }
    a.run(&["sync", "push"]).ok();
    let p = proxy(server.base.clone(), 0);
    let b = dev(&server, "bob", &p.url);
    // One record a page: page 1 and page 2 (fetched ahead while page 1 is applied) are
    // answered; page 3, fetched ahead while page 2 is applied, is not.
    p.changes_limit.store(2, Ordering::SeqCst);
    let pull = |b: &super::Dev| {
        let mut cmd = b.env.command(&b.env.repo, &["sync", "pull"]);
        cmd.env("GRYT_SYNC_PAGE_LIMIT", "1")
            .env("GRYT_HTTP_RETRIES", "0");
        b.env.finish(cmd.output().expect("gryt runs"))
    };
    let out = pull(&b).fails(4);
    super::assert_stderr_has(&out, "cannot reach the cloud");
    let list = b.run(&["generation", "list", "--json"]).ok().json();
    let kept: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["version"].as_str().unwrap())
        .collect();
    assert_eq!(kept.len(), 2, "the two pages applied are kept: {list:#}");
    for g in list.as_array().unwrap() {
        assert_eq!(g["sync_status"], "synced", "{g:#}");
    }
    for v in &kept {
        assert!(b.env.path(&format!(".gryt/generations/{v}.yaml")).is_file());
    }
    p.changes_limit.store(usize::MAX, Ordering::SeqCst);
    pull(&b).ok();
    let list = b.run(&["generation", "list", "--json"]).ok().json();
    let mut all: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["version"].as_str().unwrap().to_string())
        .collect();
    all.sort();
    let expected: Vec<String> = versions.iter().map(|v| format!("v{v}")).collect();
    assert_eq!(all, expected, "the next pull brings the rest, each once");
    for g in list.as_array().unwrap() {
        assert_eq!(g["sync_status"], "synced", "{g:#}");
    }
    assert_eq!(
        b.run(&["status", "--json"]).ok().json()["contracts"],
        serde_json::json!([]),
        "every contract file matches its generation"
    );
}

/// Every generation of `dev`'s workspace is synced.
fn assert_all_synced(dev: &super::Dev) {
    let list = dev.run(&["generation", "list", "--json"]).ok().json();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|g| g["sync_status"] == "synced"),
        "{list:#}"
    );
}

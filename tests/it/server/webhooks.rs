//! Project webhooks against a real receiver on 127.0.0.1: signed deliveries of each event,
//! retries after failures, a receiver that hangs never holding a push, deliveries only for
//! changes that committed, and bad input refused without a trace.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gryt::server::{ServerConfig, WebhookSettings};
use serde_json::{Value, json};
use sha2::Digest;

use super::harness::*;

/// A bail-out for a broken server or receiver, never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(60);

/// What the receiver does with one request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// Takes the request, says so, and answers nothing until released (then 200).
    Hang,
}

/// One request as the receiver read it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// An HTTP receiver on 127.0.0.1:0 (std::net, one connection at a time): answers requests
/// by `script` in order, then 200; reports each request as it reads it.
pub struct Receiver {
    pub url: String,
    got: mpsc::Receiver<Received>,
    release: mpsc::Sender<()>,
}

impl Receiver {
    pub fn start(script: Vec<Reply>) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a receiver");
        let url = format!("http://{}/hooks/gryt", listener.local_addr().unwrap());
        let (tx, got) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                let reply = script.next().unwrap_or(Reply::Status(200));
                if tx.send(request).is_err() {
                    return;
                }
                let status = match reply {
                    Reply::Status(s) => s,
                    Reply::Hang => {
                        let _ = released.recv();
                        200
                    }
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            }
        });
        Receiver { url, got, release }
    }

    /// The next request (panics when none comes within [`PATIENCE`]).
    #[track_caller]
    pub fn next(&self) -> Received {
        self.got
            .recv_timeout(PATIENCE)
            .expect("the receiver got a request")
    }

    /// Lets a hanging reply answer.
    pub fn release(&self) {
        let _ = self.release.send(());
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Received> {
    stream.set_read_timeout(Some(PATIENCE)).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split(' ').nth(1)?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        path,
        headers,
        body,
    })
}

/// HMAC-SHA256 written out from RFC 2104 (not the server's code), as hex.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| block.iter().map(|k| k ^ b).collect::<Vec<u8>>();
    let inner = sha2::Sha256::digest([pad(0x36), message.to_vec()].concat());
    let outer = sha2::Sha256::digest([pad(0x5c), inner.to_vec()].concat());
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the signature header of a delivery with the secret.
#[track_caller]
pub fn assert_signed(r: &Received, secret: &str) {
    assert_eq!(
        r.header("x-gryt-signature"),
        format!("sha256={}", hmac_sha256(secret.as_bytes(), &r.body)),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

/// Retries every 50 ms, twice as long each time up to 200 ms, at most `attempts` times.
fn fast(attempts: u32, timeout: Duration) -> ServerConfig {
    ServerConfig {
        webhooks: WebhookSettings {
            retry_base: Duration::from_millis(50),
            retry_max: Duration::from_millis(200),
            max_attempts: attempts,
            timeout,
            sweep: Duration::from_millis(200),
            concurrency: 4,
        },
        ..ServerConfig::default()
    }
}

fn add(c: &Client, p: &str, url: &str, events: &[&str]) -> Resp {
    c.post(
        &format!("/v1/projects/{p}/webhooks"),
        json!({"url": url, "events": events}),
    )
}

fn deliveries(c: &Client, p: &str, hook: &str) -> Vec<Value> {
    c.get(&format!("/v1/projects/{p}/webhooks/{hook}/deliveries"))
        .ok()
        .as_array()
        .expect("a list")
        .clone()
}

/// Waits until every delivery of the webhook is settled (delivered or failed); returns them.
fn settled(c: &Client, p: &str, hook: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let all = deliveries(c, p, hook);
        if all.len() >= count && all.iter().all(|d| d["status"] != "pending") {
            return all;
        }
        assert!(Instant::now() < deadline, "never settled: {all:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn promote(c: &Client, p: &str, id: &str, base_seq: u64, revision: u64) -> Resp {
    c.post(
        &format!("/v1/projects/{p}/generations/{id}/promote"),
        json!({"base_seq": base_seq, "revision": revision}),
    )
}

#[test]
fn each_event_is_delivered_signed_to_the_webhooks_that_want_it() {
    let s = TestServer::start_with(fast(3, Duration::from_secs(10)));
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let all = Receiver::start(vec![]);
    let only_promoted = Receiver::start(vec![]);
    let hook = add(&ann, &p, &all.url, &[]);
    assert_eq!(hook.status, 201, "{}", hook.json);
    let hook = hook.json;
    let secret = hook["secret"]
        .as_str()
        .expect("the secret, once")
        .to_string();
    assert_eq!(secret.len(), 64);
    assert_eq!(hook["created_by"], "ann");
    assert_eq!(hook["events"].as_array().unwrap().len(), 5);
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let second = add(&ann, &p, &only_promoted.url, &["promoted"])
        .ok()
        .clone();
    let second_secret = second["secret"].as_str().unwrap().to_string();
    assert_ne!(secret, second_secret);

    // The list never shows a secret.
    let listed = ann.get(&format!("/v1/projects/{p}/webhooks")).ok().clone();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains(&secret), "{listed}");
    assert_eq!(listed[1]["events"], json!(["promoted"]));

    // A generation, an evolution that passes, a promotion: one event each, in order.
    ann.push(
        &p,
        0,
        vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))],
    )
    .ok();
    let created = all.next();
    assert_eq!(created.path, "/hooks/gryt");
    assert_signed(&created, &secret);
    assert_eq!(created.header("content-type"), "application/json");
    assert_eq!(created.header("x-gryt-event"), "generation_created");
    let doc = created.json();
    assert_eq!(doc["event"], "generation_created");
    assert_eq!(created.header("x-gryt-delivery"), doc["delivery_id"]);
    assert_eq!(doc["webhook_id"], hook_id.as_str());
    assert_eq!(doc["project"]["team"], "acme");
    assert_eq!(doc["project"]["name"], "web");
    assert!(doc["project"]["project_id"].is_string());
    assert_eq!(doc["actor"], "ann");
    assert_eq!(doc["via"], "push");
    assert_eq!(doc["record"]["kind"], "generation");
    assert_eq!(doc["record"]["record"]["id"], uid(1).as_str());
    assert_eq!(doc["record"]["record"]["version"], "v1.0.0");

    ann.push(
        &p,
        1,
        vec![evolution(evo_record(
            &uid(2),
            &uid(1),
            "A-1",
            1,
            &code_name(2),
            "running",
        ))],
    )
    .ok();
    // A running evolution is not decided: nothing is sent until it passes.
    ann.push(
        &p,
        2,
        vec![rec(
            "evolution",
            Some(1),
            evo_record(&uid(2), &uid(1), "A-1", 1, &code_name(2), "pass"),
        )],
    )
    .ok();
    let decided = all.next();
    assert_signed(&decided, &secret);
    assert_eq!(decided.header("x-gryt-event"), "evolution_decided");
    assert_eq!(decided.json()["record"]["record"]["status"], "pass");

    promote(&ann, &p, &uid(1), 3, 1).ok();
    let promoted = all.next();
    assert_signed(&promoted, &secret);
    assert_eq!(promoted.header("x-gryt-event"), "promoted");
    let doc = promoted.json();
    assert_eq!(doc["via"], "promote");
    assert_eq!(doc["record"]["record"]["status"], "promoted");
    assert_eq!(doc["record"]["record"]["promoted_by"], "ann");

    // The webhook for promotions only got that one, signed with its own secret.
    let only = only_promoted.next();
    assert_signed(&only, &second_secret);
    assert_eq!(only.header("x-gryt-event"), "promoted");
    assert_eq!(only.json()["record"]["record"]["id"], uid(1).as_str());

    let recorded = settled(&ann, &p, &hook_id, 3);
    let events: Vec<&str> = recorded
        .iter()
        .map(|d| d["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["promoted", "evolution_decided", "generation_created"],
        "newest first"
    );
    for d in &recorded {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"], 1, "{d}");
        assert_eq!(d["last_status_code"], 200, "{d}");
        assert!(d["delivered_at"].is_string(), "{d}");
        assert!(d.get("last_error").is_none(), "{d}");
    }
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(settled(&ann, &p, second_id, 1).len(), 1);

    // The document, the webhook and its deliveries decode into the shared types.
    let typed: gryt::api::webhooks::EventDocument =
        serde_json::from_slice(&promoted.body).expect("an event document");
    assert_eq!(typed.event, gryt::api::webhooks::WebhookEvent::Promoted);
    assert_eq!(typed.record.id().to_string(), uid(1));
    let hook: gryt::api::webhooks::Webhook = serde_json::from_value(hook).unwrap();
    assert_eq!(hook.secret.as_deref(), Some(secret.as_str()));
    let recorded: Vec<gryt::api::webhooks::Delivery> =
        serde_json::from_value(Value::Array(recorded)).unwrap();
    assert!(
        recorded
            .iter()
            .all(|d| d.status == gryt::api::webhooks::DeliveryStatus::Delivered)
    );
}

#[test]
fn a_failing_receiver_is_retried_with_the_same_delivery_until_it_answers() {
    let s = TestServer::start_with(fast(3, Duration::from_secs(10)));
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let flaky = Receiver::start(vec![Reply::Status(500), Reply::Status(500)]);
    let down = Receiver::start(vec![Reply::Status(503); 3]);
    let hook = add(&ann, &p, &flaky.url, &["generation_created"])
        .ok()
        .clone();
    let secret = hook["secret"].as_str().unwrap();
    let broken = add(&ann, &p, &down.url, &["generation_created"])
        .ok()
        .clone();

    ann.push(
        &p,
        0,
        vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))],
    )
    .ok();
    let attempts = [flaky.next(), flaky.next(), flaky.next()];
    for a in &attempts {
        assert_signed(a, secret);
        assert_eq!(
            a.body, attempts[0].body,
            "every attempt sends the same body"
        );
        assert_eq!(
            a.header("x-gryt-delivery"),
            attempts[0].header("x-gryt-delivery")
        );
    }
    let d = settled(&ann, &p, hook["id"].as_str().unwrap(), 1);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0]["status"], "delivered", "{d:#?}");
    assert_eq!(d[0]["attempts"], 3, "{d:#?}");
    assert_eq!(d[0]["last_status_code"], 200);
    assert!(
        d[0].get("last_error").is_none(),
        "cleared on success: {d:#?}"
    );
    assert_eq!(
        d[0]["id"].as_str().unwrap(),
        attempts[0].header("x-gryt-delivery")
    );

    // Three failures are all the attempts there are: the delivery is given up, with why.
    for _ in 0..3 {
        down.next();
    }
    let d = settled(&ann, &p, broken["id"].as_str().unwrap(), 1);
    assert_eq!(d[0]["status"], "failed", "{d:#?}");
    assert_eq!(d[0]["attempts"], 3, "{d:#?}");
    assert_eq!(d[0]["last_status_code"], 503, "{d:#?}");
    assert!(
        d[0]["last_error"].as_str().unwrap().contains("HTTP 503"),
        "{d:#?}"
    );
    assert!(d[0].get("delivered_at").is_none(), "{d:#?}");
}

/// The receiver takes the first delivery and never answers while the test pushes and
/// promotes again: each request returns, with its answer, while the delivery still hangs.
#[test]
fn a_receiver_that_hangs_never_holds_a_push() {
    let s = TestServer::start_with(fast(3, Duration::from_secs(600)));
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let stuck = Receiver::start(vec![Reply::Hang]);
    let hook = add(&ann, &p, &stuck.url, &[]).ok().clone();

    ann.push(
        &p,
        0,
        vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))],
    )
    .ok();
    let hanging = stuck.next();
    assert_eq!(hanging.header("x-gryt-event"), "generation_created");

    // The receiver holds that delivery now; writes go on.
    let r = ann.push(
        &p,
        1,
        vec![evolution(evo_record(
            &uid(2),
            &uid(1),
            "A-1",
            1,
            &code_name(2),
            "pass",
        ))],
    );
    assert_eq!(r.ok()["head"], 2);
    assert_eq!(promote(&ann, &p, &uid(1), 2, 1).ok()["head"], 3);
    let pending = deliveries(&ann, &p, hook["id"].as_str().unwrap());
    assert_eq!(pending.len(), 3, "{pending:#?}");
    let first = pending.last().unwrap();
    assert_eq!(first["status"], "pending", "still hanging: {first}");
    assert_eq!(first["attempts"], 0, "{first}");

    stuck.release();
    let all = settled(&ann, &p, hook["id"].as_str().unwrap(), 3);
    assert!(all.iter().all(|d| d["status"] == "delivered"), "{all:#?}");
}

/// Refused writes, replays and dry runs write no delivery: one exists only for a change
/// that committed. An import's new generations are reported; a deletion too.
#[test]
fn only_committed_changes_are_delivered() {
    let s = TestServer::start_with(fast(3, Duration::from_secs(10)));
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let rx = Receiver::start(vec![]);
    let hook = add(&ann, &p, &rx.url, &[]).ok().clone();
    let hook_id = hook["id"].as_str().unwrap();

    let first = ann.push_keyed(
        &p,
        0,
        "key-1",
        vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))],
    );
    first.ok();
    // The same push again (a replay) and pushes the rules refuse write nothing.
    ann.push_keyed(
        &p,
        0,
        "key-1",
        vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))],
    )
    .ok();
    ann.push(
        &p,
        0,
        vec![generation(gen_record(&uid(3), "2.0.0", &["A-1"]))],
    )
    .expect_error(409, "behind");
    ann.push(
        &p,
        1,
        vec![generation(gen_record(&uid(4), "1.0.0", &["A-1"]))],
    )
    .expect_error(409, "version_exists");
    promote(&ann, &p, &uid(1), 1, 1).expect_error(409, "gates_failed");
    assert_eq!(settled(&ann, &p, hook_id, 1).len(), 1);

    // A draft deleted: its tombstone is the record.
    ann.push(
        &p,
        1,
        vec![generation(gen_record(&uid(5), "3.0.0", &["A-1"]))],
    )
    .ok();
    assert_eq!(rx.next().header("x-gryt-event"), "generation_created");
    assert_eq!(rx.next().header("x-gryt-event"), "generation_created");
    ann.delete(&format!("/v1/projects/{p}/generations/{}", uid(5)))
        .ok();
    let deleted = rx.next();
    assert_eq!(deleted.header("x-gryt-event"), "generation_deleted");
    assert_eq!(deleted.json()["via"], "delete");
    assert_eq!(deleted.json()["record"]["kind"], "deleted");
    assert_eq!(settled(&ann, &p, hook_id, 3).len(), 3);

    // An import into a project with a webhook: each generation it creates, once; a dry run
    // and a repeated import create nothing and report nothing.
    let dest = ann.project("acme", "copy");
    let copy_rx = Receiver::start(vec![]);
    let copy_hook = add(&ann, &dest, &copy_rx.url, &[]).ok().clone();
    let copy_id = copy_hook["id"].as_str().unwrap();
    let (records, _) = ann.pull_all(&p, 100);
    let body = |dry: bool| json!({"copied_from": "http://old#acme/web", "dry_run": dry, "records": records});
    let dry = ann.post(&format!("/v1/projects/{dest}/import"), body(true));
    assert_eq!(dry.ok()["created"], 1, "{}", dry.json);
    assert_eq!(deliveries(&ann, &dest, copy_id).len(), 0);
    ann.post(&format!("/v1/projects/{dest}/import"), body(false))
        .ok();
    ann.post(&format!("/v1/projects/{dest}/import"), body(false))
        .ok();
    let imported = copy_rx.next();
    assert_eq!(imported.header("x-gryt-event"), "generation_created");
    assert_eq!(imported.json()["via"], "import");
    assert_eq!(imported.json()["record"]["record"]["id"], uid(1).as_str());
    assert_eq!(settled(&ann, &dest, copy_id, 1).len(), 1);
}

#[test]
fn bad_webhooks_are_refused_and_change_nothing() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let bob = s.user("bob");
    let carl = s.user("carl");
    let p = ann.project("acme", "web");
    ann.post("/v1/teams/acme/members", json!({"username": "bob"}))
        .ok();
    carl.project("other", "site");
    let url = "http://127.0.0.1:9/hook";
    let long = format!("https://example.com/{}", "a".repeat(2000));

    for (body, says) in [
        (json!({"url": "ftp://example.com/x"}), "http or https"),
        (json!({"url": "file:///etc/passwd"}), "http or https"),
        (json!({"url": "example.com/hook"}), "not a URL"),
        (json!({"url": "http://user:pw@example.com/"}), "user name"),
        (json!({"url": "http:///nohost"}), "no host"),
        (json!({"url": long}), "at most"),
        (
            json!({"url": url, "events": ["pushed"]}),
            "unknown webhook event",
        ),
        (
            json!({"url": url, "events": "promoted"}),
            "invalid request body",
        ),
        (json!({"events": ["promoted"]}), "invalid request body"),
    ] {
        let r = ann.post(&format!("/v1/projects/{p}/webhooks"), body.clone());
        r.expect_error(422, "validation");
        assert!(
            r.json["message"].as_str().unwrap().contains(says),
            "{body}: {}",
            r.json
        );
    }
    // A member may look but not add or remove; another team's project is not there at all.
    add(&bob, &p, url, &[]).expect_error(403, "forbidden");
    add(&carl, &p, url, &[]).expect_error(404, "not_found");
    s.client()
        .post(&format!("/v1/projects/{p}/webhooks"), json!({"url": url}))
        .expect_error(401, "unauthorized");
    carl.get(&format!("/v1/projects/{p}/webhooks"))
        .expect_error(404, "not_found");
    assert_eq!(
        ann.get(&format!("/v1/projects/{p}/webhooks")).ok(),
        &json!([])
    );

    let hook = add(&ann, &p, url, &["promoted"]).ok().clone();
    let id = hook["id"].as_str().unwrap();
    bob.delete(&format!("/v1/projects/{p}/webhooks/{id}"))
        .expect_error(403, "forbidden");
    carl.delete(&format!("/v1/projects/{p}/webhooks/{id}"))
        .expect_error(404, "not_found");
    carl.get(&format!("/v1/projects/{p}/webhooks/{id}/deliveries"))
        .expect_error(404, "not_found");
    // The id of a webhook of another project is no webhook of this one.
    let other = carl.post("/v1/projects/other/site/webhooks", json!({"url": url}));
    let other_id = other.ok()["id"].as_str().unwrap().to_string();
    ann.delete(&format!("/v1/projects/{p}/webhooks/{other_id}"))
        .expect_error(404, "not_found");
    let missing = ann.get(&format!("/v1/projects/{p}/webhooks/not-an-id/deliveries"));
    assert_eq!(
        missing.expect_error(404, "not_found")["resource"],
        "webhook"
    );
    let listed = bob.get(&format!("/v1/projects/{p}/webhooks")).ok().clone();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], id);
    assert!(listed[0].get("secret").is_none(), "{listed}");
    assert_eq!(
        bob.get(&format!("/v1/projects/{p}/webhooks/{id}/deliveries"))
            .ok(),
        &json!([])
    );

    // A project has a bounded number of webhooks.
    for _ in 1..20 {
        add(&ann, &p, url, &[]).ok();
    }
    let r = add(&ann, &p, url, &[]);
    r.expect_error(422, "validation");
    assert!(
        r.json["message"].as_str().unwrap().contains("remove one"),
        "{}",
        r.json
    );
    assert_eq!(
        ann.get(&format!("/v1/projects/{p}/webhooks"))
            .ok()
            .as_array()
            .unwrap()
            .len(),
        20
    );

    // The owner removes one: gone from the list, with its deliveries.
    assert_eq!(
        ann.delete(&format!("/v1/projects/{p}/webhooks/{id}"))
            .status,
        204
    );
    ann.delete(&format!("/v1/projects/{p}/webhooks/{id}"))
        .expect_error(404, "not_found");
    ann.get(&format!("/v1/projects/{p}/webhooks/{id}/deliveries"))
        .expect_error(404, "not_found");
    assert_eq!(
        carl.get("/v1/projects/other/site/webhooks")
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1,
        "another project's webhook is untouched"
    );
}

/// Two storages on one database, as two server processes have: the run's backend, no server.
fn two_storages(dir: &std::path::Path) -> [std::sync::Arc<dyn gryt::server::Storage>; 2] {
    let open = || match Backend::chosen() {
        Backend::Sqlite => gryt::server::open_storage(dir).expect("SQLite storage"),
        Backend::Postgres(base) => gryt::server::open_postgres(
            &gryt::server::storage::postgres::schema_url(&base, &schema_for(dir)).unwrap(),
        )
        .expect("PostgreSQL storage"),
    };
    [open(), open()]
}

/// A claim is a lease: two workers (in two processes) never hold one delivery at once, a held
/// delivery is skipped until its lease runs out, and a worker whose lease was taken over
/// records nothing.
#[test]
fn a_claimed_delivery_belongs_to_one_worker_until_its_lease_ends() {
    use gryt::server::storage::{DeliveryOutcome, NewDelivery, WebhookRow};
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = two_storages(dir.path());
    let account = a.create_account("ann", "h", T0).unwrap();
    let team = a.create_team("acme", &account.id, T0).unwrap();
    let project = a.create_project(&team, "web", T0).unwrap();
    let hook = WebhookRow {
        id: uid(100),
        project_id: project.id.clone(),
        url: "http://127.0.0.1:9/x".into(),
        secret: "s".into(),
        events: "promoted".into(),
        created_by: "ann".into(),
        created_at: T0.into(),
    };
    assert!(a.create_webhook(&hook, 1).unwrap());
    assert!(
        !b.create_webhook(
            &WebhookRow {
                id: uid(101),
                ..hook.clone()
            },
            1
        )
        .unwrap()
    );
    let ids: Vec<String> = (1..=6).map(uid).collect();
    a.transact(&project.id, &mut |tx| {
        for id in &ids {
            tx.insert_delivery(&NewDelivery {
                id: id.clone(),
                webhook_id: hook.id.clone(),
                event: "promoted".into(),
                body: "{}".into(),
                next_attempt_at: 1_000,
                created_at: T0.into(),
            })?;
        }
        Ok(())
    })
    .unwrap();

    // Nothing is due before its time; then four workers race, two at a time each.
    assert!(a.claim_deliveries(999, 5_000, 10).unwrap().is_empty());
    let claimed: Vec<Vec<String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = [&a, &b, &a, &b]
            .into_iter()
            .map(|s| {
                scope.spawn(move || {
                    s.claim_deliveries(1_000, 5_000, 2)
                        .unwrap()
                        .into_iter()
                        .map(|d| d.id)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut all: Vec<String> = claimed.concat();
    all.sort();
    let total = all.len();
    all.dedup();
    assert_eq!(all.len(), total, "claimed twice: {claimed:?}");
    assert!(total <= 6, "{claimed:?}");
    // Whatever the race left is claimed now; the held ones are skipped while leased.
    let rest = b.claim_deliveries(2_000, 5_000, 10).unwrap();
    assert_eq!(total + rest.len(), 6, "{claimed:?} {rest:?}");
    assert!(a.claim_deliveries(4_999, 9_000, 10).unwrap().is_empty());

    // The lease ran out: another worker takes one over; the first one's result is dropped.
    let first = &ids[0];
    let taken = b.claim_deliveries(5_001, 20_000, 10).unwrap();
    assert_eq!(taken.len(), 6);
    let delivered = |attempts: i64| DeliveryOutcome {
        status: "delivered",
        attempts,
        next_attempt_at: 0,
        last_status_code: Some(200),
        last_error: None,
        delivered_at: Some(T0.into()),
    };
    a.finish_delivery(first, 5_000, &delivered(7)).unwrap();
    let row = |s: &std::sync::Arc<dyn gryt::server::Storage>| {
        s.deliveries(&project.id, &hook.id, 10)
            .unwrap()
            .unwrap()
            .into_iter()
            .find(|d| &d.id == first)
            .unwrap()
    };
    assert_eq!(row(&a).status, "pending");
    assert_eq!(row(&a).attempts, 0);
    b.finish_delivery(first, 20_000, &delivered(1)).unwrap();
    assert_eq!(row(&b).status, "delivered");
    assert_eq!(row(&b).attempts, 1);
    assert_eq!(row(&b).last_status_code, Some(200));
    // A delivered delivery is never claimed again, the others are once their lease ends.
    let later = a.claim_deliveries(20_001, 30_000, 10).unwrap();
    assert_eq!(later.len(), 5);
    assert!(later.iter().all(|d| &d.id != first));
    // Removing the webhook removes its deliveries; another project sees none of it.
    assert!(!a.delete_webhook("no-such-project", &hook.id).unwrap());
    assert!(a.delete_webhook(&project.id, &hook.id).unwrap());
    assert!(b.deliveries(&project.id, &hook.id, 10).unwrap().is_none());
    assert!(b.claim_deliveries(99_999, 100_000, 10).unwrap().is_empty());
}

/// Webhooks added and removed while pushes run never fail a push: a push either wrote its
/// deliveries before the removal (they go with the webhook) or finds no webhook.
#[test]
fn webhooks_added_and_removed_during_pushes_never_fail_one() {
    let s = TestServer::start_with(fast(1, Duration::from_secs(10)));
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let rx = Receiver::start(vec![]);
    let done = std::sync::atomic::AtomicBool::new(false);
    let (pushes, rounds) = std::thread::scope(|scope| {
        let churn = scope.spawn(|| {
            let mut rounds = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || rounds < 5 {
                let hook = add(&ann, &p, &rx.url, &[]);
                let Some(id) = hook.json["id"].as_str() else {
                    return Err(format!("add: {}", hook.json));
                };
                let removed = ann.delete(&format!("/v1/projects/{p}/webhooks/{id}"));
                if removed.status != 204 {
                    return Err(format!("remove: {}", removed.json));
                }
                rounds += 1;
            }
            Ok(rounds)
        });
        let pushes: Vec<Resp> = (0..30u64)
            .map(|n| {
                ann.push(
                    &p,
                    n,
                    vec![generation(gen_record(
                        &uid(u128::from(n) + 1),
                        &format!("1.0.{n}"),
                        &["A-1"],
                    ))],
                )
            })
            .collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (pushes, churn.join().unwrap())
    });
    for (n, r) in pushes.iter().enumerate() {
        assert_eq!(r.status, 200, "push {n}: {}", r.json);
    }
    assert!(rounds.unwrap() >= 5);
    assert_eq!(
        ann.get(&format!("/v1/projects/{p}/webhooks")).ok(),
        &json!([])
    );
}

/// A push that edits a generation reports `generation_updated`; one that publishes a release
/// promoted before the repository was linked reports it created and promoted, with each
/// decided evolution it carries, and nothing for its pipeline runs.
#[test]
fn updates_and_published_releases_are_reported() {
    let s = TestServer::start_with(fast(3, Duration::from_secs(10)));
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    let rx = Receiver::start(vec![]);
    add(&ann, &p, &rx.url, &[]).ok();

    ann.push(
        &p,
        0,
        vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))],
    )
    .ok();
    assert_eq!(rx.next().header("x-gryt-event"), "generation_created");
    let mut edited = gen_record(&uid(1), "1.0.0", &["A-1", "A-2"]);
    edited["description"] = json!("now with A-2");
    ann.push(&p, 1, vec![rec("generation", Some(1), edited)])
        .ok();
    let updated = rx.next();
    assert_eq!(updated.header("x-gryt-event"), "generation_updated");
    let doc = updated.json();
    assert_eq!(doc["record"]["record"]["revision"], 2);
    assert_eq!(doc["record"]["record"]["description"], "now with A-2");

    let mut release = gen_record(&uid(2), "2.0.0", &["B-1"]);
    release["status"] = json!("promoted");
    release["promoted_by"] = json!("local-ann");
    release["promoted_at"] = json!("2026-01-02T03:04:05Z");
    let mut proof = evo_record(&uid(3), &uid(2), "B-1", 1, &code_name(3), "pass");
    proof["pipeline_run_id"] = json!(uid(4));
    ann.push(
        &p,
        2,
        vec![
            generation(release),
            evolution(proof),
            rec("pipeline_run", None, run_record(&uid(4), Some(&uid(3)))),
        ],
    )
    .ok();
    // Sent side by side: they may arrive in any order.
    let mut got: Vec<String> = (0..3)
        .map(|_| rx.next().header("x-gryt-event").to_string())
        .collect();
    got.sort();
    assert_eq!(got, ["evolution_decided", "generation_created", "promoted"]);
}

//! Several `gryt cloud serve` processes on one PostgreSQL database, as behind a load balancer:
//! the races of `races.rs` with the threads spread over the processes, a token revoked
//! through one process refused by the others, and a process killed (SIGKILL) in the middle of
//! pushes losing nothing it acknowledged. Needs `GRYT_TEST_POSTGRES` (skipped, loudly,
//! without it; a failure under `CI=true`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gryt::server::ServerConfig;
use serde_json::json;

use super::harness::*;

/// A fresh schema served by `n` child processes; `ann` registered, owning `acme/web`.
fn cluster(test: &str, n: usize) -> Option<(TestServer, Vec<ChildServer>, String)> {
    let url = Backend::postgres(test)?;
    let dir = tempfile::tempdir().unwrap().keep();
    // The in-process server makes and migrates the schema; the processes share it.
    let s = TestServer::start_on(Backend::Postgres(url), &dir, ServerConfig::default());
    let Backend::Postgres(schema_url) = &s.storage else {
        unreachable!("started on PostgreSQL")
    };
    let children: Vec<ChildServer> = (0..n)
        .map(|_| ChildServer::spawn(&["--database", schema_url]))
        .collect();
    let first = Client::new(&children[0].base);
    let r = first.post(
        "/v1/accounts",
        json!({"username": "ann", "password": "password-ann"}),
    );
    assert_eq!(r.status, 201, "{}", r.json);
    let p = first.login("ann").project("acme", "web");
    Some((s, children, p))
}

/// `ann` logged in through each process.
fn logins(children: &[ChildServer]) -> Vec<Client> {
    children
        .iter()
        .map(|c| Client::new(&c.base).login("ann"))
        .collect()
}

#[test]
fn races_across_processes_have_one_winner() {
    let Some((_s, children, p)) = cluster("races_across_processes_have_one_winner", 3) else {
        return;
    };
    let clients = logins(&children);
    // A project per scenario: they reuse record ids.
    let q = clients[0].project("acme", "api");
    let r = clients[0].project("acme", "docs");
    super::races::conflicting_pushes(&clients, &p);
    super::races::same_version(&clients, &q);
    super::races::promotions(&clients, &r);
    // Every process serves the same projects.
    for p in [p, q, r] {
        let heads: BTreeSet<u64> = clients.iter().map(|c| c.head(&p)).collect();
        assert_eq!(heads.len(), 1, "{p}: {heads:?}");
    }
}

#[test]
fn a_token_revoked_through_one_process_is_refused_by_every_process() {
    let Some((_s, children, _p)) = cluster("a_token_revoked_through_one_process", 3) else {
        return;
    };
    let clients = logins(&children[..1]);
    let token = clients[0].token.clone().unwrap();
    let on = |i: usize| Client::new(&children[i].base).with_token(&token);
    // Every process has seen (and cached) the token.
    for i in 0..3 {
        on(i).get("/v1/auth/whoami").ok();
    }
    let id = on(1).get("/v1/auth/whoami").ok()["token"]["id"]
        .as_str()
        .expect("the token's id")
        .to_string();
    let revoked_at = Instant::now();
    on(0).delete(&format!("/v1/tokens/{id}")).ok();
    // The process that revoked it refuses it at once; the others within the token cache's
    // lifetime.
    assert_eq!(on(0).get("/v1/auth/whoami").status, 401);
    let limit = gryt::server::auth::TOKEN_CACHE_TTL + Duration::from_secs(3);
    for i in 1..3 {
        loop {
            let status = on(i).get("/v1/auth/whoami").status;
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            assert!(
                revoked_at.elapsed() < limit,
                "process {i} still accepts a token revoked {:?} ago",
                revoked_at.elapsed()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "process {i} refuses the revoked token after {:?}",
            revoked_at.elapsed()
        );
    }
}

#[test]
fn killing_one_process_mid_push_loses_nothing_it_acknowledged() {
    let Some((s, mut children, p)) = cluster("killing_one_process_mid_push", 3) else {
        return;
    };
    let clients = logins(&children);
    let acknowledged = Arc::new(Mutex::new(BTreeMap::<String, String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..6)
        .map(|t| {
            let (c, p) = (clients[t % 3].clone(), p.clone());
            let (acknowledged, stop) = (Arc::clone(&acknowledged), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut attempts = 0u32;
                for i in 0u128.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let id = uid(1_000_000 * (t as u128 + 1) + i);
                    let version = format!("{t}.{i}.0");
                    // Pull-and-retry on `behind`, as a client does; a transport error is
                    // this process gone (killed): the thread stops.
                    loop {
                        let Some(base) = c.try_get_head(&p) else {
                            return attempts;
                        };
                        attempts += 1;
                        let body = json!({
                            "base_seq": base,
                            "idempotency_key": uuid::Uuid::now_v7().to_string(),
                            "records": [generation(gen_record(&id, &version, &["A-1"]))],
                        });
                        let Ok(r) = c.try_post_raw(
                            &format!("/v1/projects/{p}/push"),
                            serde_json::to_vec(&body).unwrap(),
                        ) else {
                            return attempts;
                        };
                        match r.status {
                            200 => {
                                acknowledged.lock().unwrap().insert(id.clone(), version);
                                break;
                            }
                            409 if r.code() == "behind" => continue,
                            other => panic!("push answered {other}: {}", r.json),
                        }
                    }
                }
                attempts
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    children[1].kill();
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::SeqCst);
    let attempts: u32 = writers.into_iter().map(|w| w.join().unwrap()).sum();

    // A new process takes the killed one's place; every process tells the same story.
    let Backend::Postgres(url) = &s.storage else {
        unreachable!("started on PostgreSQL")
    };
    children[1] = ChildServer::spawn(&["--database", url]);
    let survivors = logins(&children);
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 10,
        "too few pushes to mean anything: {}",
        acknowledged.len()
    );
    let (feed, _) = survivors[0].pull_all(&p, 1000);
    let mut held = BTreeMap::new();
    for r in &feed {
        let id = r["record"]["id"].as_str().unwrap().to_string();
        assert!(
            held.insert(id, r.clone()).is_none(),
            "a record twice in the feed"
        );
    }
    for (id, version) in &acknowledged {
        let r = held
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged v{version} ({id}) is lost"));
        assert_eq!(r["record"]["version"], json!(format!("v{version}")));
    }
    let head = survivors[0].head(&p);
    assert_eq!(feed.len() as u64, head, "one record per accepted change");
    for c in &survivors[1..] {
        assert_eq!(c.head(&p), head);
    }
    eprintln!(
        "{} pushes acknowledged of {attempts} attempts; {} records held after the kill",
        acknowledged.len(),
        feed.len()
    );
}

/// A push retried through another process (its answer was lost, the load balancer picked
/// another) is answered from the stored answer, once; the same key for another push is
/// refused by any process.
#[test]
fn an_idempotency_key_holds_across_processes() {
    let Some((_s, children, p)) = cluster("an_idempotency_key_holds_across_processes", 3) else {
        return;
    };
    let clients = logins(&children);
    let records = vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))];
    let first = clients[0].push_keyed(&p, 0, "key-1", records.clone());
    assert_eq!(first.ok()["replayed"], false);
    let again = clients[1].push_keyed(&p, 0, "key-1", records);
    assert_eq!(again.ok()["replayed"], true, "{}", again.json);
    assert_eq!(again.json["results"], first.json["results"]);
    assert_eq!(clients[2].head(&p), 1, "applied once");
    let other = vec![generation(gen_record(&uid(2), "2.0.0", &["A-1"]))];
    clients[2]
        .push_keyed(&p, 1, "key-1", other)
        .expect_error(422, "idempotency_key_reused");
    assert_eq!(clients[0].head(&p), 1);
}

/// `/readyz` reports the database: ready while it answers, 503 soon after it stops answering
/// (here the link to it is cut), well before a request's 30 s wait for a connection.
#[test]
fn readyz_says_not_ready_soon_after_the_database_stops_answering() {
    let Some(url) = Backend::postgres("readyz_reports_the_database") else {
        return;
    };
    // The database's host and port, behind a loopback link the test can cut.
    let (head, rest) = url
        .split_once('@')
        .expect("a postgres://USER:PASSWORD@HOST/DB url");
    let (host, path) = rest.split_once('/').expect("a database in the url");
    let upstream = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    };
    let link = Link::new(upstream);
    let url = format!("{head}@{}/{path}", link.addr);
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_on(Backend::Postgres(url), dir.path(), ServerConfig::default());
    let client = Client::new(&s.base);
    assert_eq!(client.get("/readyz").status, 200);

    link.cut();
    let asked = Instant::now();
    let r = client.get("/readyz");
    assert_eq!(r.status, 503, "{}", r.json);
    // Not a speed check: the pool's own wait is 30 s, a probe must hear before that.
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "{:?}",
        asked.elapsed()
    );
}

/// A TCP relay on 127.0.0.1 to `upstream` that can be cut: its connections closed, new
/// ones refused.
struct Link {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Link {
    fn new(upstream: String) -> Link {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let (is_cut, streams) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if is_cut.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut list = streams.lock().unwrap();
                for s in [&client, &server] {
                    list.push(s.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Link { addr, cut, open }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// A long poll through one process answers a push through another: the waiter looks at
/// the database again every half second, so it needs no signal from the process that wrote.
#[test]
fn a_long_poll_sees_a_push_through_another_process() {
    let Some((_s, children, p)) = cluster("a_long_poll_sees_a_push_through_another_process", 2)
    else {
        return;
    };
    let clients = logins(&children);
    let head = clients[0].head(&p);
    let waiter = long_poll(&clients[1], &p, head);
    std::thread::sleep(Duration::from_millis(200));
    let pushed = clients[0]
        .push(
            &p,
            head,
            vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))],
        )
        .ok()["head"]
        .as_u64()
        .unwrap();
    let page = waiter.join().unwrap();
    assert_eq!(page["head"], pushed);
    assert_eq!(page["records"][0]["record"]["id"], uid(1));
}

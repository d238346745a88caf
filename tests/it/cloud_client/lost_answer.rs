//! Issue 4, workflow 12 at the client: a push whose answer is lost (the server committed, the
//! client never heard) is retried by the client with the same idempotency key, and the server
//! applies it once. A proxy on 127.0.0.1 drops the first answer.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gryt::api::{PushRecord, PushRequest, RecordKind};
use gryt::sync::client::{Client, ClientOptions};

use crate::server::harness::{TestServer, gen_record, uid};

/// One HTTP message (headers and a Content-Length body) from `r`.
fn read_message(r: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut msg = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        msg.extend_from_slice(line.as_bytes());
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    msg.extend_from_slice(&body);
    Some(msg)
}

/// Forwards one request per connection to `upstream`; the answer to the first one is
/// swallowed and the connection closed. Returns the proxy URL and the request count.
fn lossy_proxy(upstream: &str) -> (String, Arc<AtomicUsize>) {
    let upstream = upstream.trim_start_matches("http://").to_string();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().take(8) {
            let Ok(mut conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let Some(request) = read_message(&mut BufReader::new(&mut conn)) else {
                continue;
            };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let mut up = TcpStream::connect(&upstream).unwrap();
            up.write_all(&request).unwrap();
            let answer = read_message(&mut BufReader::new(&mut up)).unwrap();
            if n > 0 {
                let _ = conn.write_all(&answer);
            }
            // Dropping `conn` closes it: the first client hears nothing.
        }
    });
    (url, count)
}

#[test]
fn a_push_whose_answer_was_lost_is_retried_and_applied_once() {
    let server = TestServer::start();
    let ann = server.user("ann");
    let project = ann.project("acme", "web");
    let (proxy, count) = lossy_proxy(&server.base);
    let opts = ClientOptions {
        retries: 2,
        backoff: Duration::from_millis(10),
        ..ClientOptions::default()
    };
    let client = Client::new(&proxy, ann.token.clone(), opts);
    let req = PushRequest {
        base_seq: 0,
        idempotency_key: uuid::Uuid::now_v7().to_string(),
        records: vec![PushRecord {
            kind: RecordKind::Generation,
            base_revision: None,
            record: serde_json::value::to_raw_value(&gen_record(&uid(1), "v1.0.0", &["FEAT-1"]))
                .unwrap(),
        }],
    };
    let res = client
        .push_body(&project, serde_json::to_vec(&req).unwrap())
        .expect("the retry gets the first answer");
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "one lost answer, one retry"
    );
    assert!(res.replayed, "{res:?}");
    assert_eq!(res.head, 1);
    assert_eq!(ann.head(&project), 1, "applied once");
    let (records, _) = ann.pull_all(&project, 100);
    assert_eq!(records.len(), 1);
}

#[test]
fn a_promote_whose_answer_was_lost_is_not_repeated() {
    let server = TestServer::start();
    let ann = server.user("ann");
    let project = ann.project("acme", "web");
    let (proxy, count) = lossy_proxy(&server.base);
    let client = Client::new(&proxy, ann.token.clone(), ClientOptions::default());
    let req = gryt::api::PromoteRequest {
        base_seq: 0,
        revision: 1,
    };
    let e = client
        .promote(&project, uuid::Uuid::from_u128(7), &req)
        .unwrap_err();
    assert!(e.is_unreachable(), "{e:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

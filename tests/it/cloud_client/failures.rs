//! A server that is down, and servers that are not Gryt Cloud: clear errors, the right exit
//! codes, no panics. Retries and `Retry-After` through the library client. Loopback only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gryt::api::accounts::LoginRequest;
use gryt::sync::client::{Client, ClientError, ClientOptions};

use super::Dev;

/// A port on 127.0.0.1 that nothing listens on.
fn dead_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// A fake HTTP server: answers each connection with the next of `answers` (the last one
/// repeats); counts requests. Stops after `max` connections.
fn fake_server(answers: Vec<Vec<u8>>, max: usize) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in l.incoming().take(max) {
            let Ok(mut stream) = stream else { continue };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            read_request(&mut stream);
            let answer = &answers[n.min(answers.len() - 1)];
            let _ = stream.write_all(answer);
            let _ = stream.flush();
        }
    });
    (url, count)
}

fn read_request(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
}

fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

fn no_panic(out: &crate::common::Out) {
    assert!(!out.stderr.contains("panicked"), "{}", out.render());
}

#[test]
fn server_down_exits_4_quickly() {
    let url = dead_port_url();
    let dev = Dev::at(&url);
    let started = Instant::now();
    let out = dev
        .run_with(
            &[
                "cloud",
                "login",
                "--url",
                &url,
                "--username",
                "ann",
                "--password-stdin",
            ],
            &[],
            "password-ann\n",
        )
        .fails(4);
    assert!(
        out.stderr
            .starts_with(&format!("Error: cannot reach the cloud at {url}: ")),
        "{}",
        out.render()
    );
    let out = dev.run_with(
        &["cloud", "whoami", "--url", &url],
        &[("GRYT_TOKEN", "gryt_x")],
        "",
    );
    out.fails(4);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(!dev.credentials_path().exists());
}

#[test]
fn logout_offline_forgets_locally_with_a_warning() {
    let server = crate::server::harness::TestServer::start();
    let mut server = server;
    let ann = Dev::account(&server, "ann");
    server.stop();
    let out = ann.run(&["cloud", "logout"]).ok();
    assert!(
        out.stderr.contains("warning: the token was not revoked"),
        "{}",
        out.render()
    );
    assert!(
        !ann.credentials_file().contains("gryt_"),
        "{}",
        ann.credentials_file()
    );
}

#[test]
fn a_server_that_is_not_gryt_is_a_clear_error() {
    let (url, _) = fake_server(vec![http("200 OK", "", b"hello, I am a web page")], 8);
    let dev = Dev::at(&url);
    let env = [("GRYT_TOKEN", "gryt_x")];
    let out = dev
        .run_with(&["cloud", "whoami", "--url", &url], &env, "")
        .fails(1);
    no_panic(&out);
    assert!(
        out.stderr.contains("unexpected answer from the cloud"),
        "{}",
        out.render()
    );
    assert!(
        out.stderr.contains("hello, I am a web page"),
        "{}",
        out.render()
    );

    let (url, _) = fake_server(vec![http("404 Not Found", "", b"<html>no</html>")], 8);
    let out = dev
        .run_with(&["cloud", "whoami", "--url", &url], &env, "")
        .fails(1);
    no_panic(&out);
    assert!(
        out.stderr
            .contains("HTTP 404 without a Gryt Cloud error body"),
        "{}",
        out.render()
    );

    // Not HTTP at all.
    let (url, _) = fake_server(vec![b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()], 8);
    let out = dev.run_with(&["cloud", "whoami", "--url", &url], &env, "");
    no_panic(&out);
    assert_ne!(out.code, 0, "{}", out.render());
    assert!(out.stderr.starts_with("Error: "), "{}", out.render());
}

#[test]
fn an_oversized_answer_is_refused() {
    let big = vec![b'x'; 6 * 1024 * 1024];
    let (url, _) = fake_server(vec![http("200 OK", "", &big)], 4);
    let dev = Dev::at(&url);
    let out = dev
        .run_with(
            &["cloud", "whoami", "--url", &url],
            &[("GRYT_TOKEN", "gryt_x")],
            "",
        )
        .fails(1);
    no_panic(&out);
    assert!(out.stderr.contains("larger than 4 MiB"), "{}", out.render());
}

fn fast(retries: u32) -> ClientOptions {
    ClientOptions {
        retries,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        ..ClientOptions::default()
    }
}

const TEAMS: &[u8] = br#"[{"name":"acme","role":"owner","created_at":"2026-01-01T00:00:00Z"}]"#;

#[test]
fn reads_retry_transient_failures() {
    let unavailable = br#"{"error":"unavailable","message":"storage busy","details":{}}"#;
    let (url, count) = fake_server(
        vec![
            http("503 Service Unavailable", "", unavailable),
            http("502 Bad Gateway", "", b"<html>proxy</html>"),
            http("429 Too Many Requests", "retry-after: 0\r\n", b"{}"),
            http("200 OK", "", TEAMS),
        ],
        8,
    );
    let teams = Client::new(&url, Some("gryt_x".into()), fast(3))
        .teams()
        .unwrap();
    assert_eq!(teams[0].name, "acme");
    assert_eq!(count.load(Ordering::SeqCst), 4);

    // The budget runs out: the last answer is the error.
    let (url, count) = fake_server(vec![http("503 Service Unavailable", "", unavailable)], 8);
    let e = Client::new(&url, None, fast(2)).teams().unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 503, .. }), "{e:?}");
    assert_eq!(count.load(Ordering::SeqCst), 3);

    // A long Retry-After is not waited out by the client.
    let limited =
        br#"{"error":"rate_limited","message":"slow down","details":{"retry_after_secs":300}}"#;
    let (url, count) = fake_server(
        vec![http(
            "429 Too Many Requests",
            "retry-after: 300\r\n",
            limited,
        )],
        8,
    );
    let started = Instant::now();
    let e = Client::new(&url, None, fast(3)).teams().unwrap_err();
    assert_eq!(e.code(), Some(gryt::api::ErrorCode::RateLimited));
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn writes_that_are_not_safe_to_repeat_are_sent_once() {
    let (url, count) = fake_server(
        vec![http(
            "503 Service Unavailable",
            "",
            b"{\"error\":\"unavailable\",\"message\":\"x\"}",
        )],
        8,
    );
    let client = Client::new(&url, None, fast(3));
    let login = LoginRequest {
        username: "ann".into(),
        password: "password-ann".into(),
        device: None,
    };
    assert!(client.login(&login).is_err());
    assert!(client.create_team("acme").is_err());
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[test]
fn a_dead_port_is_retried_then_unreachable() {
    let url = dead_port_url();
    let started = Instant::now();
    let e = Client::new(&url, None, fast(2)).teams().unwrap_err();
    assert!(e.is_unreachable(), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("cannot reach the cloud at {url}")),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_server_that_never_answers_times_out() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    // Accept and hold connections without a word.
    std::thread::spawn(move || {
        let held: Vec<_> = l.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(20));
        drop(held);
    });
    let dev = Dev::at(&url);
    let started = Instant::now();
    let env = [("GRYT_TOKEN", "gryt_x"), ("GRYT_HTTP_TIMEOUT", "1")];
    let out = dev
        .run_with(&["cloud", "whoami", "--url", &url], &env, "")
        .fails(4);
    assert!(out.stderr.contains("timed out"), "{}", out.render());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

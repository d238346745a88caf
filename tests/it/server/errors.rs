//! Every error answer has the JSON error body, whichever layer wrote it (hyper, axum, the
//! handlers); JSON bodies need their content type; oversized bodies are refused on their
//! declared length before anything is read.

use std::time::Duration;

use gryt::server::ServerConfig;
use serde_json::json;

use super::harness::{TestServer, raw_exchange};

/// A form or `text/plain` POST is what a browser sends cross-site without asking first: the
/// server must not act on one.
#[test]
fn json_bodies_need_the_json_content_type() {
    let s = TestServer::start();
    let body = br#"{"username":"ann","password":"password-ann"}"#;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let header = content_type
            .map(|t| format!("Content-Type: {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST /v1/accounts HTTP/1.1\r\nHost: gryt\r\n{header}Content-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len(),
            String::from_utf8_lossy(body)
        );
        let r = raw_exchange(&s.base, request.as_bytes());
        assert_eq!(r.status, 415, "{content_type:?}: {r:?}");
        let json = r.json();
        assert_eq!(json["error"], "unsupported_media_type", "{json}");
        assert!(json["details"].is_object(), "{json}");
    }
    // Nothing was created: the name is still free.
    let c = s.client();
    c.post(
        "/v1/auth/login",
        json!({"username": "ann", "password": "password-ann"}),
    )
    .expect_error(401, "unauthorized");
    // With a charset parameter, in any case, it is JSON.
    let request = format!(
        "POST /v1/accounts HTTP/1.1\r\nHost: gryt\r\nContent-Type: Application/JSON; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        String::from_utf8_lossy(body)
    );
    assert_eq!(raw_exchange(&s.base, request.as_bytes()).status, 201);
    // Authenticated JSON routes check it too (after the credentials).
    let ann = c.login("ann");
    let request = format!(
        "POST /v1/teams HTTP/1.1\r\nHost: gryt\r\nAuthorization: Bearer {}\r\nContent-Type: text/plain\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{{\"name\":\"acme\"}}",
        ann.token.as_deref().unwrap()
    );
    assert_eq!(raw_exchange(&s.base, request.as_bytes()).status, 415);
    assert_eq!(ann.get("/v1/teams").ok(), &json!([]));
}

/// Errors from every layer: hyper (414, 431, malformed requests), axum (unknown routes, methods,
/// undecodable paths), the body limits (413), the body timeout (408), the handlers (422).
#[test]
fn every_error_has_the_json_error_body() {
    let s = TestServer::start_with(ServerConfig {
        body_limit: 1024,
        // Long enough for any body sent whole to be read; the slow one never completes.
        body_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    });
    let ann = s.user("ann");
    let project = ann.project("acme", "web");
    let token = ann.token.clone().unwrap();

    let long = format!(
        "GET /v1/{} HTTP/1.1\r\nHost: gryt\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: gryt\r\n{}\r\n",
        (0..120)
            .map(|i| format!("X-H{i}: 1\r\n"))
            .collect::<String>()
    );
    let malformed = "GET /v1/teams HTTP/1.1\r\nHost: gryt\r\nno colon here\r\n\r\n".to_string();
    let slow_body = format!(
        "POST /v1/teams HTTP/1.1\r\nHost: gryt\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"na"
    );
    let bad_path = format!(
        "GET /v1/teams/%FF%FE/members HTTP/1.1\r\nHost: gryt\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let declared_large = format!(
        "POST /v1/teams HTTP/1.1\r\nHost: gryt\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 2048\r\nConnection: close\r\n\r\n"
    );
    let chunked_large = format!(
        "POST /v1/teams HTTP/1.1\r\nHost: gryt\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n800\r\n{}\r\n0\r\n\r\n",
        " ".repeat(2048)
    );
    let get = |path: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: gryt\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
    };
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("URI over 64 KiB", long, 414, "uri_too_long"),
        ("malformed header", malformed, 400, "bad_request"),
        ("too many headers", many_headers, 431, "headers_too_large"),
        ("body too slow", slow_body, 408, "request_timeout"),
        ("undecodable path", bad_path, 400, "bad_request"),
        (
            "declared body too large",
            declared_large,
            413,
            "payload_too_large",
        ),
        (
            "chunked body too large",
            chunked_large,
            413,
            "payload_too_large",
        ),
        ("unknown route", get("/v1/nope"), 404, "not_found"),
        ("unknown top route", get("/favicon.ico"), 404, "not_found"),
        (
            "wrong method",
            get("/v1/auth/login"),
            405,
            "method_not_allowed",
        ),
        (
            "bad query",
            get(&format!("/v1/projects/{project}/changes?since=abc")),
            422,
            "validation",
        ),
    ];
    for (what, request, status, code) in cases {
        let r = raw_exchange(&s.base, request.as_bytes());
        assert_eq!(r.status, status, "{what}: {r:?}");
        let json = r.json();
        assert_eq!(json["error"], code, "{what}: {json}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {json}"
        );
        assert!(json["details"].is_object(), "{what}: {json}");
        assert!(
            r.head.to_ascii_lowercase().contains("x-gryt-server: gryt/"),
            "{what}: {}",
            r.head
        );
    }
    ann.post_raw("/v1/teams", b"{not json".to_vec())
        .expect_error(422, "validation");
    // The server still answers after all that.
    assert_eq!(ann.head(&project), 0);
}

/// A client announcing a body far above the limit, and waiting for `100 Continue` before
/// sending it, is refused at once: the first answer is the 413, nothing is read.
#[test]
fn an_oversized_declared_body_is_refused_before_100_continue() {
    let s = TestServer::start();
    let request = "POST /v1/accounts HTTP/1.1\r\nHost: gryt\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n";
    let r = raw_exchange(&s.base, request.as_bytes());
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.json()["error"], "payload_too_large", "{r:?}");
    // Also on a route that takes no body at all.
    let request = "GET /healthz HTTP/1.1\r\nHost: gryt\r\nContent-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n";
    let r = raw_exchange(&s.base, request.as_bytes());
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.json()["error"], "payload_too_large", "{r:?}");
}

/// `not_found` says what is missing in `details.resource`, so clients never read the
/// message.
#[test]
fn not_found_names_the_resource() {
    let s = TestServer::start();
    let ann = s.user("ann");
    let project = ann.project("acme", "web");
    let cases = [
        ann.get("/v1/teams/nope/members"),
        ann.get("/v1/projects/acme/nope"),
        ann.post("/v1/teams/acme/members", json!({"username": "nobody"})),
        ann.delete("/v1/teams/acme/members/nobody"),
        ann.delete("/v1/tokens/0193a000-0000-7000-8000-000000000000"),
        ann.delete(&format!(
            "/v1/projects/{project}/generations/0193a000-0000-7000-8000-000000000000"
        )),
        ann.get("/v1/nope"),
    ];
    let resources: Vec<(&str, &str)> = cases
        .iter()
        .map(|r| {
            let d = r.expect_error(404, "not_found");
            (
                d["resource"].as_str().unwrap_or(""),
                d["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        resources,
        [
            ("team", "nope"),
            ("project", "acme/nope"),
            ("account", "nobody"),
            ("member", "nobody"),
            ("token", "0193a000-0000-7000-8000-000000000000"),
            ("generation", "0193a000-0000-7000-8000-000000000000"),
            ("route", "/v1/nope"),
        ]
    );
}

/// On a kept-alive connection, a malformed request after a good one still gets the JSON
/// body (and the good one's answer is untouched).
#[test]
fn a_malformed_request_after_a_good_one_gets_the_json_body() {
    use std::io::{Read, Write};
    let s = TestServer::start();
    let mut stream = std::net::TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(
            b"GET /healthz HTTP/1.1\r\nHost: g\r\n\r\nGET /v1/x HTTP/1.1\r\nbad header\r\n\r\n",
        )
        .unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    let (first, second) = out.split_once("{\"status\":\"ok\"}").expect(&out);
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(second.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    let body: serde_json::Value =
        serde_json::from_str(second.split_once("\r\n\r\n").expect(&out).1).expect(&out);
    assert_eq!(body["error"], "bad_request", "{out}");
}

/// A client that sends its whole oversized body without waiting (no `Expect: 100-continue`)
/// still reads the 413: the server answers on the declared length, then keeps reading and
/// dropping the body before it closes, so the close is not a reset that destroys the answer.
#[test]
fn an_oversized_body_sent_whole_still_gets_its_413() {
    use std::io::{Read, Write};
    let s = TestServer::start_with(ServerConfig {
        body_limit: 64 * 1024,
        ..ServerConfig::default()
    });
    for _ in 0..5 {
        let mut stream =
            std::net::TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let body = vec![b'x'; 4 * 1024 * 1024];
        let head = format!(
            "POST /v1/accounts HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        let sent = stream.write_all(&body);
        let mut out = Vec::new();
        let read = stream.read_to_end(&mut out);
        let out = String::from_utf8_lossy(&out);
        assert!(
            sent.is_ok() && read.is_ok(),
            "sent: {sent:?}, read: {read:?}, answer: {out}"
        );
        assert!(out.starts_with("HTTP/1.1 413 "), "{out}");
        assert!(out.contains("\"error\":\"payload_too_large\""), "{out}");
    }
}

/// A client that sends part of its headers and then nothing does not hold its connection:
/// the server closes it once the header timeout passes, and keeps answering others.
#[test]
fn trickled_headers_do_not_hold_a_connection() {
    use std::io::{Read, Write};
    let s = TestServer::start_with(ServerConfig {
        header_timeout: Duration::from_millis(500),
        ..ServerConfig::default()
    });
    let mut stream = std::net::TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: g\r\n")
        .unwrap();
    let mut out = Vec::new();
    let read = stream.read_to_end(&mut out);
    assert!(
        read.is_ok()
            || read
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the server closed the connection instead of waiting (read: {read:?})"
    );
    assert!(
        !String::from_utf8_lossy(&out).contains("200 OK"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let answer = raw_exchange(
        &s.base,
        b"GET /healthz HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(answer.status, 200, "{}", answer.head);
}

//! `run_serve`, the CLI's entry point: a child process serves on 127.0.0.1:0, logs where it
//! listens, answers, and exits 0 after SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use gryt::server::{Registration, ServeOptions};

use super::harness::Client;

const CHILD: &str = "GRYT_TEST_RUN_SERVE_DIR";

#[test]
#[ignore = "runs only as the child process of run_serve_answers_and_stops_on_sigterm"]
fn run_serve_child() {
    let Ok(dir) = std::env::var(CHILD) else {
        return;
    };
    let mut opts = ServeOptions::new(dir.into());
    opts.listen = "127.0.0.1:0".parse().unwrap();
    opts.registration = Registration::Closed;
    gryt::server::run_serve(opts).unwrap();
}

#[cfg(unix)]
#[test]
fn run_serve_answers_and_stops_on_sigterm() {
    let temp = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "server::serve::run_serve_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, temp.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server logs where it listens")
            .unwrap();
        if let Some(rest) = line
            .split("addr=")
            .nth(1)
            .filter(|_| line.contains("listening"))
        {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let c = Client::new(&format!("http://{addr}"));
    assert_eq!(c.get("/healthz").status, 200);
    assert_eq!(c.get("/readyz").status, 200);
    c.post(
        "/v1/accounts",
        serde_json::json!({"username": "ann", "password": "password-ann"}),
    )
    .expect_error(403, "registration_closed");
    assert!(temp.path().join("gryt-server.db").exists());

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit {exit:?}; log: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

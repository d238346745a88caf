//! `gryt cloud serve` and `gryt cloud admin user add` through the real binary: listens on
//! 127.0.0.1:0, answers, stops cleanly on SIGTERM; closed registration with an admin-made
//! account.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::TestEnv;

/// Starts the server and returns it with the address it logged.
fn serve(env: &TestEnv, extra: &[&str]) -> (Child, String) {
    let data = env.tmp.path().join("server-data");
    let data = data.to_str().unwrap();
    let mut args = vec!["cloud", "serve", "--listen", "127.0.0.1:0", "--data", data];
    args.extend_from_slice(extra);
    let mut child = env
        .command(&env.repo, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("addr=").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("server logs its address");
    (child, addr)
}

fn stop(mut child: Child) -> i32 {
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

#[test]
fn serve_answers_and_stops_on_sigterm() {
    let env = TestEnv::bare();
    let (child, addr) = serve(&env, &[]);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let mut resp = agent()
        .get(format!("http://{addr}/healthz"))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-gryt-server").is_some());
    let body: serde_json::Value = resp.body_mut().read_json().unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(stop(child), 0);
}

#[test]
fn closed_registration_with_an_admin_made_account() {
    let env = TestEnv::bare();
    let data = env.tmp.path().join("server-data");
    let mut add = env
        .command(
            &env.repo,
            &[
                "cloud",
                "admin",
                "user",
                "add",
                "ann",
                "--data",
                data.to_str().unwrap(),
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .unwrap();
    let out = env.finish(add.wait_with_output().unwrap()).ok();
    assert!(
        out.stdout.starts_with("Created account ann"),
        "{}",
        out.render()
    );

    let (child, addr) = serve(&env, &["--registration", "closed"]);
    let register = agent()
        .post(format!("http://{addr}/v1/accounts"))
        .send_json(serde_json::json!({"username": "bob", "password": "long enough pw"}))
        .unwrap();
    assert_eq!(register.status(), 403);
    let mut login = agent()
        .post(format!("http://{addr}/v1/auth/login"))
        .send_json(serde_json::json!({"username": "ann", "password": "correct horse battery", "device": "t"}))
        .unwrap();
    assert_eq!(login.status(), 200);
    let body: serde_json::Value = login.body_mut().read_json().unwrap();
    assert!(body["token"].as_str().unwrap().starts_with("gryt_"));
    assert_eq!(stop(child), 0);
}

#[test]
fn admin_user_add_needs_a_password() {
    let env = TestEnv::bare();
    let data = env.tmp.path().join("server-data");
    let out = env
        .finish(
            env.command(
                &env.repo,
                &[
                    "cloud",
                    "admin",
                    "user",
                    "add",
                    "ann",
                    "--data",
                    data.to_str().unwrap(),
                ],
            )
            .stdin(Stdio::null())
            .output()
            .unwrap(),
        )
        .fails(1);
    assert!(
        out.stderr.contains("Error: no password on stdin"),
        "{}",
        out.render()
    );
}

/// A `--database` that is not PostgreSQL, or one that cannot be reached, is refused at start
/// with what to do, a non-zero exit, and the password never shown.
#[test]
fn a_bad_database_is_refused_clearly() {
    let env = TestEnv::bare();
    let out = env.run(&["cloud", "serve", "--database", "/var/lib/gryt"]);
    assert_eq!(out.code, 2, "{}", out.render());
    assert!(
        out.stderr.contains("is not a PostgreSQL URL"),
        "{}",
        out.render()
    );
    assert!(
        out.stderr.contains("--data DIR for SQLite"),
        "{}",
        out.render()
    );

    let both = env.run(&[
        "cloud",
        "serve",
        "--data",
        "x",
        "--database",
        "postgres://a@127.0.0.1/b",
    ]);
    assert_eq!(both.code, 2, "{}", both.render());

    // Port 1 on loopback: nothing listens there.
    let url = "postgres://gryt:s3cret-pw@127.0.0.1:1/gryt";
    let out = env.run(&[
        "cloud",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database",
        url,
    ]);
    assert_ne!(out.code, 0, "{}", out.render());
    assert!(
        out.stderr
            .contains("cannot connect to postgres://gryt:***@127.0.0.1:1/gryt"),
        "{}",
        out.render()
    );
    assert!(out.stderr.contains("onnection refused"), "{}", out.render());
    assert!(!out.render().contains("s3cret-pw"), "{}", out.render());

    // A real server database to move, so that the target is what fails.
    let data = env.tmp.path().join("server-data");
    drop(gryt::server::storage::sqlite::SqliteStorage::open(&data).unwrap());
    let from = data.to_str().unwrap();
    let out = env.run(&["cloud", "admin", "migrate", "--from", from, "--to", url]);
    assert_ne!(out.code, 0, "{}", out.render());
    assert!(
        out.stderr
            .contains("cannot connect to postgres://gryt:***@127.0.0.1:1/gryt"),
        "{}",
        out.render()
    );
    assert!(!out.render().contains("s3cret-pw"), "{}", out.render());
}

//! Team workflows end to end: a real Gryt Cloud in-process on 127.0.0.1:0, and two or three
//! developer workspaces, each with its own HOME and credentials, driving the real `gryt`.
#![cfg(feature = "server")]

mod commands;
mod diff;
mod faults;
mod golden;
mod kills;
mod modes;
mod promote;
mod property;
pub mod proxy;
mod replica;
mod resolve;
mod workflows;

use std::io::Write;
use std::process::Stdio;

use serde_json::json;

use crate::common::{Out, TestEnv};
use crate::server::harness::TestServer;

pub const PROJECT: &str = "acme/web";

/// One developer: a workspace (own HOME, own repository) logged in to the cloud as `name`,
/// linked to acme/web, in hybrid mode.
pub struct Dev {
    pub name: String,
    pub env: TestEnv,
}

impl Dev {
    pub fn run(&self, args: &[&str]) -> Out {
        self.env.run(args)
    }

    /// Every table of the local store except the sync log (which records refused syncs
    /// too), as text: to check that a refused command changed no release state.
    pub fn state(&self) -> String {
        let conn = rusqlite::Connection::open(self.env.path(".gryt/gryt.db")).unwrap();
        let mut out = String::new();
        for table in [
            "generations",
            "changes",
            "evolutions",
            "pipeline_runs",
            "pipeline_steps",
            "sync_metadata",
            "local_state",
            "conflicts",
            "sync_base",
            "audit_events",
        ] {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2"))
                .unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap();
            for row in rows {
                out.push_str(&format!("{table}: {}\n", row.unwrap()));
            }
        }
        out
    }
}

/// Starts a cloud with team `acme` (owner: the first name) holding project `web`, and one
/// linked workspace per name.
pub fn team(names: &[&str]) -> (TestServer, Vec<Dev>) {
    let server = TestServer::start();
    let owner = server.user(names[0]);
    owner.post("/v1/teams", json!({"name": "acme"})).ok();
    owner
        .post("/v1/teams/acme/projects", json!({"name": "web"}))
        .ok();
    for name in &names[1..] {
        server.user(name);
        owner
            .post(
                "/v1/teams/acme/members",
                json!({"username": name, "role": "member"}),
            )
            .ok();
    }
    let devs = names
        .iter()
        .map(|n| dev(&server, n, &server.base))
        .collect();
    (server, devs)
}

/// A workspace for `name` (registered already), logged in and linked through `url`.
pub fn dev(_server: &TestServer, name: &str, url: &str) -> Dev {
    let env = TestEnv::init();
    link(&env, &env.repo, name, url);
    env.write_pipeline("ok", "true");
    env.write_pipeline("bad", "exit 1");
    Dev {
        name: name.to_string(),
        env,
    }
}

/// Logs the gryt repository at `dir` in as `name` and links it to acme/web through `url`,
/// in hybrid mode.
pub fn link(env: &TestEnv, dir: &std::path::Path, name: &str, url: &str) {
    let mut login = env
        .command(
            dir,
            &[
                "cloud",
                "login",
                "--url",
                url,
                "--username",
                name,
                "--password-stdin",
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(format!("password-{name}\n").as_bytes())
        .unwrap();
    env.finish(login.wait_with_output().unwrap()).ok();
    env.run_in(dir, &["cloud", "link", PROJECT, "--url", url])
        .ok();
    env.run_in(dir, &["config", "execution_mode", "hybrid"])
        .ok();
}

/// `gryt evolution start VERSION --change CHANGE` then `gryt run PIPELINE`.
pub fn prove(dev: &Dev, version: &str, change: &str, pipeline: &str) -> String {
    let started = dev
        .run(&["evolution", "start", version, "--change", change, "--json"])
        .ok()
        .json();
    let out = dev.run(&["run", pipeline]);
    assert_eq!(out.code, i32::from(pipeline != "ok"), "{}", out.render());
    started["tag"].as_str().unwrap().to_string()
}

/// Runs `gryt ARGS` on a pseudo-terminal (util-linux `script`), with `extra` environment;
/// returns what the terminal showed (stdout and stderr together, escape codes included).
pub fn on_terminal(dev: &Dev, args: &[&str], extra: &[(&str, &str)]) -> String {
    let gryt = dev.env.command(&dev.env.repo, args);
    let line = std::iter::once(gryt.get_program())
        .chain(gryt.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = std::process::Command::new("script");
    cmd.env_clear();
    for (k, v) in gryt.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("TERM", "xterm")
        .envs(extra.iter().copied())
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .current_dir(&dev.env.repo)
        .stdin(Stdio::null());
    let out = cmd.output().expect("util-linux `script` runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "gryt {args:?} on a terminal: {text}");
    text
}

/// The cloud's feed of acme/web from the start (as ann sees it): `{kind, record}` each.
pub fn feed(server: &TestServer) -> Vec<serde_json::Value> {
    let page = server
        .client()
        .login("ann")
        .get("/v1/projects/acme/web/changes?since=0")
        .ok()
        .clone();
    page["records"].as_array().unwrap().clone()
}

/// The versions of the generations in the cloud's feed, in feed order.
pub fn feed_versions(server: &TestServer) -> Vec<String> {
    feed(server)
        .iter()
        .filter(|r| r["kind"] == "generation")
        .map(|r| r["record"]["version"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts that `out`'s stderr contains `needle`; if not, shows the whole run.
#[track_caller]
pub fn assert_stderr_has(out: &Out, needle: &str) {
    assert!(out.stderr.contains(needle), "{}", out.render());
}

/// Asserts that `out`'s stdout contains `needle`; if not, shows the whole run.
#[track_caller]
pub fn assert_stdout_has(out: &Out, needle: &str) {
    assert!(out.stdout.contains(needle), "{}", out.render());
}

//! Team workflows end to end: a real Gryt Cloud in-process on 127.0.0.1:0, and two or three
//! developer workspaces, each with its own HOME and credentials, driving the real `gryt`.
#![cfg(feature = "server")]

mod bundle;
mod cloud_status;
mod commands;
mod copy;
mod diff;
mod faults;
mod golden;
mod identity;
mod kills;
mod log;
mod merge;
mod migrate;
mod modes;
mod narrowed;
mod patch;
mod promote;
mod property;
pub mod proxy;
mod publish;
mod replica;
mod resolve;
mod verify;
mod watch;
mod workflows;

use std::process::Stdio;

use serde_json::json;

use crate::common::{Out, TestEnv};
pub use crate::dev::Dev;
use crate::server::harness::TestServer;

pub const PROJECT: &str = "acme/web";

/// Starts a cloud with team `acme` (owner: the first name) holding project `web`, and one
/// linked workspace per name — each through another server process when the run spreads
/// them (`GRYT_TEST_PROCESSES`, on PostgreSQL: [`TestServer::spread`]).
pub fn team(names: &[&str]) -> (TestServer, Vec<Dev>) {
    let mut server = TestServer::start();
    found_team(&server, names);
    let urls = server.spread(names.len());
    let devs = names
        .iter()
        .zip(&urls)
        .map(|(n, url)| dev(&server, n, url))
        .collect();
    (server, devs)
}

/// Takes `dev`'s sync lock, as a sync running there would, until the file is dropped.
pub fn hold_sync_lock(dev: &Dev) -> std::fs::File {
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dev.env.path(".gryt/sync.lock"))
        .unwrap();
    lock.lock().unwrap();
    lock
}

/// Registers `names` on `server`; the first makes team `acme` with project `web` and adds
/// the others as members.
pub fn found_team(server: &TestServer, names: &[&str]) {
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
}

/// A workspace for `name` (registered already), logged in and linked through `url`, in
/// hybrid mode, with pipelines `ok` and `bad`.
pub fn dev(_server: &TestServer, name: &str, url: &str) -> Dev {
    let mut dev = Dev::at(url);
    dev.name = name.to_string();
    link(&dev.env, &dev.env.repo, name, url);
    dev.env.write_pipeline("ok", "true");
    dev.env.write_pipeline("bad", "exit 1");
    dev
}

/// Logs the gryt repository at `dir` in as `name` and links it to acme/web through `url`,
/// in hybrid mode.
pub fn link(env: &TestEnv, dir: &std::path::Path, name: &str, url: &str) {
    crate::dev::login(env, dir, name, url).ok();
    env.run_in(dir, &["cloud", "link", PROJECT, "--url", url])
        .ok();
    env.run_in(dir, &["config", "execution_mode", "hybrid"])
        .ok();
}

/// A draft `version` with these changes `(type, id, title)` and pipeline template `ok`,
/// applied to the database.
pub fn draft(dev: &Dev, version: &str, changes: &[(&str, &str, &str)]) {
    dev.run(&["generation", "new", version]).ok();
    dev.env
        .write_contract(&format!("v{version}"), changes, "pipeline_template: ok\n");
    dev.run(&["generation", "update", version]).ok();
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

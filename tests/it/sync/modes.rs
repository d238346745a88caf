//! Execution modes `local` (workflow 1) and `cloud` (workflow 10), and the pre-commit hook
//! (workflow 11).

use std::sync::atomic::Ordering;

use super::proxy::{Proxy, proxy};
use super::{Dev, assert_stderr_has, assert_stdout_has, dev, feed_versions, team};
use crate::common::Out;
use crate::server::harness::TestServer;

/// A cloud with team acme, and ann's workspace linked to it through a loopback proxy (to
/// take the cloud down or make it hang).
fn ann_behind_a_proxy() -> (TestServer, Proxy, Dev) {
    let (server, devs) = team(&["ann"]);
    drop(devs);
    let p = proxy(server.base.clone(), 0);
    let a = dev(&server, "ann", &p.url);
    (server, p, a)
}

/// The versions of the generations in the cloud's feed, sorted.
fn sorted_feed_versions(server: &TestServer) -> Vec<String> {
    let mut versions = feed_versions(server);
    versions.sort();
    versions
}

/// The lines of stderr that start with `warning:`.
fn warning_lines(out: &Out) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect()
}

/// The hook's pull gave up: stderr is one line, saying so.
#[track_caller]
fn assert_pull_skipped(out: &Out) {
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.render());
    assert!(
        lines[0].starts_with("gryt: sync pull skipped"),
        "{}",
        out.render()
    );
}

/// Workflow 10: in cloud mode a write reaches the cloud without an explicit push; with the
/// cloud gone the command still succeeds (one warning, the work pending); once it is back,
/// the next command that reaches the cloud, a read as much as a write, sends it.
#[test]
fn cloud_mode_syncs_by_itself_and_survives_being_offline() {
    let (server, p, a) = ann_behind_a_proxy();
    a.run(&["config", "execution_mode", "cloud"]).ok();
    let out = a.run(&["generation", "new", "1.0.0"]).ok();
    assert_eq!(out.stderr.matches("warning").count(), 0, "{}", out.render());
    assert_eq!(feed_versions(&server), ["v1.0.0"]);

    p.down.store(true, Ordering::SeqCst);
    let out = a.run(&["generation", "new", "2.0.0"]).ok();
    let warnings = warning_lines(&out);
    assert_eq!(warnings.len(), 1, "one line: {}", out.render());
    assert!(
        warnings[0].contains("cannot reach the cloud") && warnings[0].contains("stays pending"),
        "{}",
        out.render()
    );
    assert!(a.run(&["generation", "list", "--json"]).ok().json()[0]["sync_status"] == "not_synced");
    assert_eq!(feed_versions(&server), ["v1.0.0"]);
    // reads still work offline
    a.run(&["generation", "list"]).ok();

    p.down.store(false, Ordering::SeqCst);
    // The first command that reaches the cloud again, a read, sends what was pending.
    let out = a.run(&["status"]).ok();
    assert_eq!(out.stderr.matches("warning").count(), 0, "{}", out.render());
    assert_eq!(sorted_feed_versions(&server), ["v1.0.0", "v2.0.0"]);
    assert_eq!(
        a.run(&["generation", "list", "--json"]).ok().json()[0]["sync_status"],
        "synced"
    );
    p.down.store(true, Ordering::SeqCst);
    a.run(&["generation", "new", "3.0.0"]).ok();
    p.down.store(false, Ordering::SeqCst);
    let out = a.run(&["generation", "list"]).ok();
    assert_eq!(out.stderr.matches("warning").count(), 0, "{}", out.render());
    assert_eq!(
        sorted_feed_versions(&server),
        ["v1.0.0", "v2.0.0", "v3.0.0"]
    );
}

/// Workflow 11: the pre-commit hook pulls; with the cloud down it does not block the commit.
#[test]
fn the_pre_commit_hook_pulls_and_never_blocks() {
    let (server, devs) = team(&["ann", "bob"]);
    let a = &devs[0];
    let p = proxy(server.base.clone(), 0);
    let b = dev(&server, "bob", &p.url);
    b.run(&["hooks", "install"]).ok();
    let again = b.run(&["hooks", "install"]).ok();
    assert_stdout_has(&again, "already installed");
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();

    let commit = |msg: &str| git_commit(&b.env, msg);
    let out = commit("first").ok();
    assert_eq!(out.stderr, "", "{}", out.render());
    let list = b.run(&["generation", "list", "--json"]).ok().json();
    assert_eq!(list[0]["version"], "v1.0.0", "the hook pulled");

    p.down.store(true, Ordering::SeqCst);
    let out = commit("offline").ok();
    assert_pull_skipped(&out);
    assert_eq!(b.env.git(&["log", "--format=%s", "-1"]).trim(), "offline");
}

/// The syncs nobody asked for (cloud mode's pull and push, the pre-commit hook) give up fast
/// on a cloud that accepts connections and never answers — with the default retries, not the
/// tests' — and the command or commit goes on with one line on stderr.
#[test]
fn background_syncs_give_up_fast_on_a_cloud_that_hangs() {
    let (server, p, a) = ann_behind_a_proxy();
    a.run(&["config", "execution_mode", "cloud"]).ok();
    a.run(&["generation", "new", "1.0.0"]).ok();
    p.hang.store(true, Ordering::SeqCst);
    let run = |args: &[&str]| {
        let started = std::time::Instant::now();
        let mut cmd = a.env.command(&a.env.repo, args);
        cmd.env_remove("GRYT_HTTP_RETRIES");
        let out = a.env.finish(cmd.output().unwrap());
        // A hang would be minutes (120 s per attempt, 4 retries); this is a few seconds.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(40),
            "{args:?} took {:?}",
            started.elapsed()
        );
        out
    };
    let out = run(&["generation", "new", "2.0.0"]).ok();
    let lines = warning_lines(&out);
    assert_eq!(lines.len(), 1, "{}", out.render());
    assert!(lines[0].contains("stays pending"), "{}", out.render());
    let out = run(&["sync", "pull", "--quiet", "--hook"]).ok();
    assert_pull_skipped(&out);
    p.hang.store(false, Ordering::SeqCst);
    a.run(&["generation", "new", "3.0.0"]).ok();
    assert_eq!(
        sorted_feed_versions(&server),
        ["v1.0.0", "v2.0.0", "v3.0.0"]
    );
}

/// In a monorepo `.gryt/` lives in a subdirectory, but git runs hooks at the top of the
/// working tree: the hook finds the gryt repository anyway.
#[test]
fn the_hook_works_when_gryt_lives_in_a_subdirectory() {
    let (server, devs) = team(&["ann", "bob"]);
    let a = &devs[0];
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();

    let env = crate::common::TestEnv::new();
    let app = env.repo.join("services/app");
    std::fs::create_dir_all(&app).unwrap();
    env.run_in(&app, &["init"]).ok();
    super::link(&env, &app, "bob", &server.base);
    env.run_in(&app, &["hooks", "install"]).ok();
    let hook = std::fs::read_to_string(env.repo.join(".git/hooks/pre-commit")).unwrap();
    assert!(
        hook.contains("\"$gryt\" -C 'services/app' sync pull"),
        "{hook}"
    );

    let out = git_commit(&env, "from the top");
    let out = out.ok();
    assert_eq!(out.stderr, "", "{}", out.render());
    let list = env
        .run_in(&app, &["generation", "list", "--json"])
        .ok()
        .json();
    assert_eq!(list[0]["version"], "v1.0.0", "the hook pulled");
}

/// `git commit --allow-empty -m MSG` at the top of the repository, with this gryt on PATH
/// (the hook calls `gryt`).
fn git_commit(env: &crate::common::TestEnv, msg: &str) -> crate::common::Out {
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_gryt"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    git_commit_with_path(env, msg, &path)
}

/// `git commit` with `path` as the PATH git (and so the hook) sees.
fn git_commit_with_path(env: &crate::common::TestEnv, msg: &str, path: &str) -> crate::common::Out {
    let mut cmd = env.command(&env.repo, &[]);
    cmd.env("PATH", path);
    let out = std::process::Command::new("git")
        .args(["commit", "-q", "--allow-empty", "-m", msg])
        .current_dir(&env.repo)
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .output()
        .unwrap();
    env.finish(out)
}

/// Cloud mode says what its automatic syncs did: a pull that records a conflict warns, and a
/// push that holds a record back names it (with what to do) while the rest goes out.
#[test]
fn cloud_mode_reports_conflicts_and_what_was_held_back() {
    let (server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    b.run(&["generation", "new", "2.0.0"]).ok();
    a.run(&["generation", "new", "2.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["generation", "new", "4.0.0"]).ok();
    b.run(&["config", "execution_mode", "cloud"]).ok();
    // A read pushes what is pending too; what is held back is one line, and the read succeeds.
    let out = b.run(&["status"]).ok();
    assert_eq!(
        warning_lines(&out),
        [
            "warning: the cloud pull recorded conflicts, your local work was kept: v2.0.0 (version taken); see gryt sync conflicts",
            "warning: cloud push: not pushed, in conflict with the cloud: v2.0.0",
        ],
        "{}",
        out.render()
    );
    assert!(!out.stderr.contains("Hint:"), "{}", out.render());
    assert_eq!(sorted_feed_versions(&server), ["v2.0.0", "v4.0.0"]);
    let out = b.run(&["generation", "new", "3.0.0"]).ok();
    assert_stderr_has(
        &out,
        "warning: cloud push: not pushed, in conflict with the cloud: v2.0.0",
    );
    assert_stderr_has(&out, "Hint: v2.0.0 is held in the cloud by ann");
    assert!(!out.stderr.contains("stays pending"), "{}", out.render());
    assert_eq!(
        sorted_feed_versions(&server),
        ["v2.0.0", "v3.0.0", "v4.0.0"]
    );
}

/// Workflow 1: local mode never touches the network, even linked and logged in: the whole
/// contract → evolution → run → promote flow works, and sync commands refuse with a hint.
#[test]
fn local_mode_never_touches_the_network() {
    let (server, p, a) = ann_behind_a_proxy();
    a.run(&["config", "execution_mode", "local"]).ok();
    a.run(&["hooks", "install"]).ok();
    let before = p.connections.load(Ordering::SeqCst);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.env
        .write_contract("v1.0.0", &[("add", "FEAT-1", "Search")], "");
    a.run(&["generation", "update", "1.0.0"]).ok();
    a.run(&["evolution", "start", "1.0.0", "--change", "FEAT-1"])
        .ok();
    a.run(&["run", "ok"]).ok();
    a.run(&["status"]).ok();
    a.run(&["promote", "1.0.0"]).ok();
    assert!(a.env.git(&["tag", "--list"]).contains("v1.0.0"));
    a.run(&["sync", "status"]).ok();
    a.run(&["sync", "diff", "--offline"]).ok();
    a.run(&["sync", "pull", "--quiet", "--hook"]).ok();
    for args in [&["sync", "pull"][..], &["sync", "push"], &["sync"]] {
        let out = a.run(args).fails(1);
        assert!(
            out.stderr.contains("execution_mode is local")
                && out.stderr.contains("gryt config execution_mode hybrid"),
            "{args:?}: {}",
            out.render()
        );
    }
    assert_eq!(
        p.connections.load(Ordering::SeqCst),
        before,
        "local mode reached the network"
    );
    assert!(feed_versions(&server).is_empty());
}

/// Git run from a GUI or an IDE may not have gryt on its PATH: the hook runs the gryt that
/// installed it, by absolute path, and `hooks install` says which.
#[test]
fn the_pre_commit_hook_runs_without_gryt_on_the_path() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    let out = b.run(&["hooks", "install"]).ok();
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_gryt")).unwrap();
    assert_stdout_has(&out, &format!("; it runs {}", exe.display()));
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    // Every PATH entry that holds a gryt is left out.
    let path: Vec<String> = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !std::path::Path::new(d).join("gryt").exists())
        .map(str::to_string)
        .collect();
    let out = git_commit_with_path(&b.env, "no gryt on the PATH", &path.join(":")).ok();
    assert_eq!(out.stderr, "", "{}", out.render());
    let list = b.run(&["generation", "list", "--json"]).ok().json();
    assert_eq!(list[0]["version"], "v1.0.0", "the hook pulled");
}

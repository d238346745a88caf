//! init, not-a-repo, version and help: the entry points.

use crate::common::{TestEnv, normalize_durations};
use crate::golden;

#[test]
fn init_creates_layout_and_is_idempotent() {
    let env = TestEnv::new();
    let out = env.run(&["init"]).ok();
    golden!("init_first", out);
    for p in [
        ".gryt/config",
        ".gryt/.gitignore",
        ".gryt/gryt.db",
        ".gryt/generations",
        ".gryt/pipelines",
    ] {
        assert!(env.path(p).exists(), "{p} missing");
    }
    assert!(env.read(".gryt/.gitignore").contains("gryt.db"));
    let before = env.files_snapshot();
    let db = env.db_bytes();
    let again = env.run(&["init"]).ok();
    golden!("init_again", again);
    assert_eq!(env.files_snapshot(), before);
    assert_eq!(env.db_bytes(), db);
}

#[test]
fn init_outside_git_warns() {
    let env = TestEnv::bare();
    let out = env.run(&["init"]).ok();
    assert!(
        out.stderr.contains("warning: not inside a git repository"),
        "{}",
        out.render()
    );
}

#[test]
fn commands_outside_a_repo_say_so() {
    let env = TestEnv::bare();
    for args in [
        &["status"][..],
        &["generation", "list"],
        &["evolution", "list", "1.0.0"],
        &["promote", "1.0.0"],
    ] {
        let out = env.run(args).fails(1);
        assert_eq!(
            out.stderr, "Error: not a gryt repository (run gryt init)\n",
            "{args:?}"
        );
        assert_eq!(out.stdout, "");
    }
}

#[test]
fn works_from_a_subdirectory_and_with_dash_c() {
    let env = TestEnv::init();
    let sub = env.path("deep/er");
    std::fs::create_dir_all(&sub).unwrap();
    env.run_in(&sub, &["generation", "new", "1.0.0"]).ok();
    let out = env
        .run_in(
            env.tmp.path(),
            &[
                "-C",
                env.repo.to_str().unwrap(),
                "generation",
                "list",
                "--json",
            ],
        )
        .ok();
    assert_eq!(out.json()[0]["version"], "v1.0.0");
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::init();
    let out = env.run(&["generation", "new", "latest"]).fails(2);
    assert!(
        out.stderr.contains("invalid value 'latest'"),
        "{}",
        out.render()
    );
    env.run(&["no-such-command"]).fails(2);
    env.run(&["--color", "sometimes", "status"]).fails(2);
}

#[test]
fn version_and_help() {
    let env = TestEnv::bare();
    let out = env.run(&["--version"]).ok();
    assert!(out.stdout.starts_with("gryt "), "{}", out.render());
    let help = env.run(&["--help"]).ok();
    for cmd in [
        "init",
        "config",
        "generation",
        "evolution",
        "pipeline",
        "run",
        "promote",
        "hotfix",
        "status",
        "audit",
        "completions",
    ] {
        assert!(help.stdout.contains(cmd), "help lacks {cmd}");
    }
}

#[test]
fn durations_are_normalized() {
    assert_eq!(
        normalize_durations("ok build (0.1s) 15ms v1.2.0 rc.3 2026-03-01T12:00:00Z"),
        "ok build ([DUR]) [DUR] v1.2.0 rc.3 2026-03-01T12:00:00Z"
    );
}

//! `gryt config`, `gryt audit` (and export), `gryt completions`, `gryt man`.

use crate::common::TestEnv;
use crate::golden;

const REPO_CONFIG: &str = ".gryt/config";

fn global_config(env: &TestEnv) -> std::path::PathBuf {
    env.home.join(".config/gryt/config")
}

#[test]
fn set_and_get_a_value() {
    let env = TestEnv::init();
    // Default: git's user.name.
    assert_eq!(
        env.run(&["config", "user.name"]).ok().stdout,
        "Ada Tester\n"
    );
    let out = env.run(&["config", "user.name", "Grace Hopper"]).ok();
    golden!("config_set", out);
    let text = env.read(REPO_CONFIG);
    assert!(text.contains("user:\n  name: Grace Hopper\n"), "{text}");
    assert!(text.contains("execution_mode: local\n"), "{text}");
    assert_eq!(
        env.run(&["config", "user.name"]).ok().stdout,
        "Grace Hopper\n"
    );
    let j = env.run(&["config", "user.name", "--json"]).ok().json();
    assert_eq!(
        j,
        serde_json::json!({"key": "user.name", "value": "Grace Hopper"})
    );
    // The configured name is the actor from now on.
    env.run(&["generation", "new", "1.0.0"]).ok();
    let list = env.run(&["generation", "list", "--json"]).ok().json();
    assert_eq!(list[0]["created_by"], "Grace Hopper");
}

#[test]
fn list_shows_every_value_set() {
    let env = TestEnv::init();
    env.run(&["config", "cloud.url", "https://gryt.example.com/"])
        .ok();
    env.run(&["config", "cloud.project", "team/app"]).ok();
    env.run(&["config", "--global", "user.name", "Global Ada"])
        .ok();
    let out = env.run(&["config", "--list"]).ok();
    golden!("config_list", out);
    let j = env.run(&["config", "--list", "--json"]).ok().json();
    assert_eq!(j["cloud.url"], "https://gryt.example.com");
    assert_eq!(j["user.name"], "Global Ada");
    let global = env.run(&["config", "--list", "--global"]).ok();
    assert_eq!(global.stdout, "user.name=Global Ada\n");
}

#[test]
fn unset_removes_a_value() {
    let env = TestEnv::init();
    env.run(&["config", "promote.min_evolutions", "3"]).ok();
    assert_eq!(
        env.run(&["config", "promote.min_evolutions"]).ok().stdout,
        "3\n"
    );
    let out = env
        .run(&["config", "--unset", "promote.min_evolutions"])
        .ok();
    assert_eq!(out.stderr, "Unset promote.min_evolutions\n");
    assert!(!env.read(REPO_CONFIG).contains("min_evolutions"));
    let out = env.run(&["config", "promote.min_evolutions"]).fails(1);
    golden!("config_get_unset", out);
    let before = env.read(REPO_CONFIG);
    let out = env
        .run(&["config", "--unset", "promote.min_evolutions"])
        .fails(1);
    assert_eq!(
        out.stderr,
        "Error: promote.min_evolutions is not set in [TMP]/repo/.gryt/config\n"
    );
    assert_eq!(env.read(REPO_CONFIG), before);
}

#[test]
fn global_writes_the_users_xdg_config() {
    let env = TestEnv::init();
    let out = env
        .run(&["config", "--global", "user.name", "Global Ada"])
        .ok();
    assert_eq!(out.stderr, "Set user.name = Global Ada\n");
    let text = std::fs::read_to_string(global_config(&env)).expect("global config written");
    assert!(text.contains("user:\n  name: Global Ada\n"), "{text}");
    assert!(!env.read(REPO_CONFIG).contains("Global Ada"));
    assert_eq!(
        env.run(&["config", "user.name"]).ok().stdout,
        "Global Ada\n"
    );
    // The repository's value overrides the global one.
    env.run(&["config", "user.name", "Repo Ada"]).ok();
    assert_eq!(env.run(&["config", "user.name"]).ok().stdout, "Repo Ada\n");
    assert_eq!(
        env.run(&["config", "--global", "user.name"]).ok().stdout,
        "Global Ada\n"
    );
    env.run(&["config", "--global", "--unset", "user.name"])
        .ok();
    let text = std::fs::read_to_string(global_config(&env)).unwrap();
    assert!(!text.contains("Global Ada"), "{text}");
    // --global works outside any repository; plain set does not.
    let bare = TestEnv::bare();
    bare.run(&["config", "--global", "execution_mode", "hybrid"])
        .ok();
    assert!(
        std::fs::read_to_string(global_config(&bare))
            .unwrap()
            .contains("execution_mode: hybrid")
    );
    let out = bare.run(&["config", "execution_mode", "cloud"]).fails(1);
    assert!(
        out.stderr
            .starts_with("Error: not a gryt repository (run gryt init)\n"),
        "{}",
        out.render()
    );
}

#[test]
fn unknown_key_is_rejected_with_the_valid_keys() {
    let env = TestEnv::init();
    let before = env.read(REPO_CONFIG);
    let out = env.run(&["config", "user.email", "a@b.c"]).fails(1);
    golden!("config_unknown_key", out);
    env.run(&["config", "nope"]).fails(1);
    assert_eq!(env.read(REPO_CONFIG), before);
}

#[test]
fn secret_like_keys_are_refused_with_a_hint() {
    let env = TestEnv::init();
    let before = env.read(REPO_CONFIG);
    let out = env.run(&["config", "cloud.token", "s3cr3t"]).fails(1);
    golden!("config_secret_key", out);
    assert!(!out.render().contains("s3cr3t"), "the secret is echoed");
    assert_eq!(env.read(REPO_CONFIG), before);
    assert!(!global_config(&env).exists());
    env.run(&["config", "--global", "cloud.token", "s3cr3t"])
        .fails(1);
    assert!(!global_config(&env).exists());
}

#[test]
fn bad_values_are_rejected_and_nothing_is_written() {
    let env = TestEnv::init();
    let before = env.read(REPO_CONFIG);
    let out = env.run(&["config", "execution_mode", "turbo"]).fails(1);
    golden!("config_bad_mode", out);
    let out = env.run(&["config", "cloud.url", "ftp://x"]).fails(1);
    assert_eq!(
        out.stderr,
        "Error: invalid value `ftp://x` for cloud.url: expected an http:// or https:// URL, like https://gryt.example.com\n"
    );
    for (key, value) in [
        ("promote.min_evolutions", "1.5"),
        ("cloud.project", "no-slash"),
        // The server's name rule: starts with a letter or digit, lowercase, no `..`.
        ("cloud.project", "../x"),
        ("cloud.project", "team/.hidden"),
        ("cloud.project", "Team/proj"),
        ("cloud.url", "https://user:secret@gryt.example.com"),
        ("cloud.url", "https://"),
        ("user.name", "   "),
    ] {
        let out = env.run(&["config", key, value]).fails(1);
        assert!(
            out.stderr
                .starts_with(&format!("Error: invalid value `{value}` for {key}")),
            "{}",
            out.render()
        );
    }
    // A negative number must follow `--` (else it is a flag): then it is a bad value.
    let out = env
        .run(&["config", "promote.min_evolutions", "--", "-1"])
        .fails(1);
    assert!(
        out.stderr.contains("expected a whole number"),
        "{}",
        out.render()
    );
    assert_eq!(env.read(REPO_CONFIG), before);
    assert_eq!(
        env.run(&["config", "execution_mode"]).ok().stdout,
        "local\n"
    );
}

#[test]
fn config_usage_errors() {
    let env = TestEnv::init();
    env.run(&["config"]).fails(2);
    env.run(&["config", "--list", "user.name"]).fails(2);
    env.run(&["config", "--unset", "user.name", "x"]).fails(2);
}

/// created, updated, renamed, evolution started/decided, deleted, promoted.
fn history() -> TestEnv {
    let env = TestEnv::init();
    env.run(&["generation", "new", "1.2.0"]).ok();
    env.write_contract("v1.2.0", &[("add", "FEAT-1", "Login")], "");
    env.run(&["generation", "update", "1.2.0"]).ok();
    env.run(&["generation", "rename", "1.2.0", "1.3.0"]).ok();
    env.run(&["evolution", "start", "1.3.0", "--change", "FEAT-1"])
        .ok();
    env.write_pipeline("ok", "true");
    env.run(&["run", "ok"]).ok();
    env.run(&["generation", "new", "9.0.0"]).ok();
    env.run(&["generation", "delete", "9.0.0"]).ok();
    env.run(&["config", "user.name", "Release Bot"]).ok();
    env.run(&["promote", "1.3.0"]).ok();
    env
}

#[test]
fn audit_lists_every_state_change_with_actor_and_time() {
    let env = history();
    let out = env.run(&["audit"]).ok();
    golden!("audit_table", out);
    let j = env.run(&["audit", "--json"]).ok().json();
    let rows: Vec<_> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["object"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("generation.created", "v1.2.0", "Ada Tester"),
            ("generation.updated", "v1.2.0", "Ada Tester"),
            ("generation.renamed", "v1.3.0", "Ada Tester"),
            ("evolution.started", "v1.3.0-rc.1", "Ada Tester"),
            ("evolution.decided", "v1.3.0-rc.1", "Ada Tester"),
            ("generation.created", "v9.0.0", "Ada Tester"),
            ("generation.deleted", "v9.0.0", "Ada Tester"),
            ("generation.promoted", "v1.3.0", "Release Bot"),
        ]
    );
    for e in j.as_array().unwrap() {
        assert_eq!(e["at"], "2026-03-01T12:00:00Z");
        assert!(e["id"].is_u64(), "{e}");
    }
    assert_eq!(j[2]["details"]["from"], "v1.2.0");
    assert_eq!(j[4]["details"]["status"], "pass");
    assert_eq!(j[7]["details"]["tag"], true);
}

#[test]
fn audit_when_empty() {
    let env = TestEnv::init();
    let out = env.run(&["audit"]).ok();
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, "No audit events yet\n");
    assert_eq!(env.run(&["audit", "--json"]).ok().stdout, "[]\n");
}

#[test]
fn refused_commands_leave_no_audit_event() {
    let env = history();
    let before = env.run(&["audit", "--json"]).ok().stdout;
    env.run(&["generation", "new", "1.3.0"]).fails(1);
    env.run(&["generation", "delete", "1.3.0"]).fails(1);
    env.run(&["promote", "1.3.0"]).fails(1);
    env.run(&["evolution", "start", "1.3.0", "--change", "FEAT-1"])
        .fails(1);
    assert_eq!(env.run(&["audit", "--json"]).ok().stdout, before);
}

#[test]
fn audit_export_json_and_csv() {
    let env = history();
    let out = env
        .run(&["audit", "export", "--format", "json", "-o", "audit.json"])
        .ok();
    assert_eq!(out.stdout, "Exported 8 audit events to audit.json\n");
    let exported: serde_json::Value = serde_json::from_str(&env.read("audit.json")).unwrap();
    assert_eq!(exported, env.run(&["audit", "--json"]).ok().json());

    let out = env
        .run(&[
            "audit",
            "export",
            "--format",
            "csv",
            "--output",
            "audit.csv",
        ])
        .ok();
    assert_eq!(out.stdout, "Exported 8 audit events to audit.csv\n");
    let csv = env.read("audit.csv");
    let lines: Vec<_> = csv.lines().collect();
    assert_eq!(lines.len(), 9, "{csv}");
    assert_eq!(lines[0], "id,at,actor,action,object,details");
    assert!(
        lines[1].starts_with("1,2026-03-01T12:00:00Z,Ada Tester,generation.created,v1.2.0,"),
        "{csv}"
    );
    assert!(
        lines[8].starts_with("8,2026-03-01T12:00:00Z,Release Bot,generation.promoted,v1.3.0,\"{"),
        "{csv}"
    );
    env.run(&["audit", "export", "--format", "xml", "-o", "a.xml"])
        .fails(2);
    env.run(&["audit", "export", "--format", "csv"]).fails(2);
}

/// `audit export -o` never destroys the store or a contract, never replaces a file unless
/// forced, and never creates directories; each refusal exits 1 and changes nothing.
#[cfg(unix)]
#[test]
fn audit_export_refuses_unsafe_targets() {
    let env = history();
    env.write("taken.json", "keep me");
    std::os::unix::fs::symlink(env.path(".gryt"), env.path("dot-gryt")).unwrap();
    std::fs::create_dir(env.path("sub")).unwrap();
    let db = env.db_bytes();
    let contract = env.read(".gryt/generations/v1.3.0.yaml");
    for (target, force, expect) in [
        (".gryt/gryt.db", true, "is inside .gryt/"),
        (".gryt/generations/v1.3.0.yaml", true, "is inside .gryt/"),
        (".gryt/new.json", false, "is inside .gryt/"),
        ("sub/../.gryt/gryt.db", true, "is inside .gryt/"),
        ("dot-gryt/gryt.db", true, "is inside .gryt/"),
        ("taken.json", false, "taken.json already exists"),
        ("sub", true, "sub is a directory"),
        (
            "missing/dir/a.json",
            false,
            "the directory missing/dir does not exist",
        ),
    ] {
        let mut args = vec!["audit", "export", "--format", "json", "-o", target];
        if force {
            args.push("--force");
        }
        let out = env.run(&args).fails(1);
        assert!(
            out.stderr.starts_with("Error: ") && out.stderr.contains(expect),
            "{target}: {}",
            out.render()
        );
        assert!(out.stderr.contains("Hint: "), "{}", out.render());
    }
    assert_eq!(env.db_bytes(), db, "the store changed");
    assert_eq!(env.read(".gryt/generations/v1.3.0.yaml"), contract);
    assert_eq!(env.read("taken.json"), "keep me");
    assert!(!env.path("missing").exists(), "a directory was created");
    assert!(!env.path(".gryt/new.json").exists());

    let out = env
        .run(&[
            "audit",
            "export",
            "--format",
            "json",
            "-o",
            "taken.json",
            "--force",
        ])
        .ok();
    assert_eq!(out.stdout, "Exported 8 audit events to taken.json\n");
    let exported: serde_json::Value = serde_json::from_str(&env.read("taken.json")).unwrap();
    assert_eq!(exported, env.run(&["audit", "--json"]).ok().json());
    let leftovers: Vec<_> = std::fs::read_dir(&env.repo)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// A timestamp that is not one (the database was damaged or edited by hand) is reported as
/// corruption naming the record and the column, not printed as if it were a time.
#[test]
fn corrupt_timestamps_in_the_store_are_reported() {
    let env = TestEnv::with_contract("");
    let db = rusqlite::Connection::open(env.path(".gryt/gryt.db")).unwrap();
    let cases: [(&str, &[&str], &str); 3] = [
        (
            "UPDATE generations SET created_at = 'yesterday'",
            &["generation", "list"],
            "generation v1.2.0: created_at is `yesterday`, not a timestamp",
        ),
        (
            "UPDATE generations SET created_at = '2026-03-01T12:00:00Z', \
             promoted_at = '2026-13-45T99:00:00Z'",
            &["generation", "show", "1.2.0"],
            "generation v1.2.0: promoted_at is `2026-13-45T99:00:00Z`, not a timestamp",
        ),
        (
            "UPDATE generations SET promoted_at = NULL; \
             UPDATE audit_events SET at = '' WHERE id = 1",
            &["audit"],
            "audit event 1: at is ``, not a timestamp",
        ),
    ];
    for (sql, args, expect) in cases {
        db.execute_batch(sql).unwrap();
        let out = env.run(args).fails(1);
        assert!(
            out.stderr.starts_with("Error: ")
                && out.stderr.contains(expect)
                && out
                    .stderr
                    .contains("Hint: the database .gryt/gryt.db was damaged")
                && out.stdout.is_empty(),
            "{args:?}\n{}",
            out.render()
        );
    }
}

#[test]
fn completions_for_each_shell() {
    let env = TestEnv::bare();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef gryt"),
        ("fish", "complete -c gryt"),
    ] {
        let out = env.run(&["completions", shell]).ok();
        assert!(out.stdout.contains(marker), "{shell}: no `{marker}`");
        for cmd in ["generation", "evolution", "promote", "hotfix"] {
            assert!(out.stdout.contains(cmd), "{shell} lacks {cmd}");
        }
        assert_eq!(out.stderr, "");
    }
    env.run(&["completions", "cmd-exe"]).fails(2);
}

#[test]
fn man_renders_roff() {
    let env = TestEnv::bare();
    let out = env.run(&["man"]).ok();
    assert!(
        out.stdout.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        &out.stdout[..80.min(out.stdout.len())]
    );
    assert!(out.stdout.contains(".TH gryt 1"), "no .TH header");
    assert!(out.stdout.contains(".SH NAME"));
    assert!(out.stdout.contains(".SH SYNOPSIS"));
    assert!(out.stdout.contains("Contract\\-driven releases"));
    assert_eq!(out.stderr, "");
}

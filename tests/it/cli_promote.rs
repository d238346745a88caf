//! `gryt promote` (and `gryt generation promote`): gates, status and annotated git tag, all
//! or nothing; `gryt hotfix`.

use crate::common::TestEnv;
use crate::golden;

/// A draft v1.2.0 with FEAT-1 and BUG-2 and two pipelines, `ok` and `bad`.
fn setup(env: &TestEnv) {
    env.write_contract(
        "v1.2.0",
        &[
            ("add", "FEAT-1", "Login"),
            ("fix", "BUG-2", "Crash on start"),
        ],
        "description: First release\n",
    );
    env.run(&["generation", "update", "1.2.0"]).ok();
    env.write_pipeline("ok", "true");
    env.write_pipeline("bad", "exit 1");
}

fn with_contract() -> TestEnv {
    let env = TestEnv::init();
    setup(&env);
    env
}

/// Starts an evolution of `change` in v1.2.0 and decides it with `pipeline`.
fn prove(env: &TestEnv, change: &str, pipeline: &str) {
    env.run(&["evolution", "start", "1.2.0", "--change", change])
        .ok();
    let out = env.run(&["run", pipeline]);
    assert_eq!(out.code, i32::from(pipeline != "ok"), "{}", out.render());
}

fn tags(env: &TestEnv) -> String {
    env.git(&["tag", "-l"])
}

#[test]
fn gates_fail_when_a_change_is_unproven() {
    let env = with_contract();
    prove(&env, "FEAT-1", "ok");
    let db = env.db_bytes();
    let out = env.run(&["promote", "1.2.0"]).fails(5);
    golden!("promote_unproven", out);
    assert_eq!(env.db_bytes(), db);
    assert_eq!(tags(&env), "");
    let g = env
        .run(&["generation", "show", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(g["status"], "draft");
}

#[test]
fn gates_fail_when_the_latest_completed_evolution_failed() {
    let env = with_contract();
    prove(&env, "FEAT-1", "ok");
    prove(&env, "FEAT-1", "bad");
    prove(&env, "BUG-2", "ok");
    let out = env.run(&["promote", "1.2.0"]).fails(5);
    golden!("promote_latest_failed", out);
    assert!(
        out.stdout.contains(
            "FAIL  no change's latest completed evolution failed: latest evolution failed: FEAT-1"
        ),
        "{}",
        out.render()
    );
    assert!(
        out.stdout
            .contains("pass  every change has a passing evolution"),
        "{}",
        out.render()
    );
    let j = env.run(&["promote", "1.2.0", "--json"]).fails(5).json();
    assert_eq!(j["promoted"], false);
    let passed: Vec<_> = j["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["passed"].as_bool().unwrap())
        .collect();
    assert_eq!(passed, [true, false]);
    // A new passing evolution is the latest again: promotion goes through.
    prove(&env, "FEAT-1", "ok");
    env.run(&["promote", "1.2.0", "--no-tag"]).ok();
}

#[test]
fn a_pending_evolution_after_a_pass_does_not_block() {
    let env = with_contract();
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    env.run(&["evolution", "start", "1.2.0", "--change", "BUG-2"])
        .ok();
    env.run(&["promote", "1.2.0", "--no-tag"]).ok();
}

#[test]
fn min_evolutions_from_config_is_a_gate() {
    let env = with_contract();
    env.run(&["config", "promote.min_evolutions", "2"]).ok();
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    let db = env.db_bytes();
    let out = env.run(&["promote", "1.2.0"]).fails(5);
    golden!("promote_min_evolutions", out);
    assert_eq!(out.stdout.matches("FAIL").count(), 1, "{}", out.stdout);
    assert_eq!(env.db_bytes(), db);
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    let out = env.run(&["promote", "1.2.0", "--no-tag"]).ok();
    assert_eq!(out.stdout.matches("  pass  ").count(), 3, "{}", out.stdout);
}

#[test]
fn success_marks_promoted_and_creates_an_annotated_tag() {
    let env = with_contract();
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    let out = env.run(&["promote", "v1.2.0"]).ok();
    golden!("promote_success", out);
    assert_eq!(env.git(&["cat-file", "-t", "v1.2.0"]), "tag\n");
    let listed = env.git(&["tag", "-n20"]);
    assert_eq!(
        listed,
        "v1.2.0          Release v1.2.0\n    \n    First release\n    \n    - add FEAT-1: Login\n    - fix BUG-2: Crash on start\n    \n    Promoted by Ada Tester with gryt\n"
    );
    // The tag points at the current commit.
    assert_eq!(
        env.git(&["rev-parse", "v1.2.0^{commit}"]),
        env.git(&["rev-parse", "HEAD"])
    );
    let g = env
        .run(&["generation", "show", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(g["status"], "promoted");
    assert_eq!(g["promoted_by"], "Ada Tester");
    assert_eq!(g["promoted_at"], "2026-03-01T12:00:00Z");
    let list = env.run(&["generation", "list", "--json"]).ok().json();
    assert_eq!(list[0]["status"], "promoted");
}

#[test]
fn no_tag_promotes_without_a_tag() {
    let env = with_contract();
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    let out = env.run(&["promote", "1.2.0", "--no-tag"]).ok();
    assert!(
        out.stdout.ends_with("Promoted v1.2.0 by Ada Tester\n"),
        "{}",
        out.render()
    );
    assert_eq!(out.stderr, "");
    assert_eq!(tags(&env), "");
    let g = env
        .run(&["generation", "show", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(g["status"], "promoted");
}

#[test]
fn outside_git_promotes_with_a_warning() {
    let env = TestEnv::bare();
    env.run(&["init"]).ok();
    setup(&env);
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    let out = env.run(&["promote", "1.2.0"]).ok();
    golden!("promote_outside_git", out);
    let g = env
        .run(&["generation", "show", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(g["status"], "promoted");
}

#[test]
fn an_existing_tag_is_refused_and_nothing_changes() {
    let env = with_contract();
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    env.git(&["tag", "v1.2.0"]);
    let db = env.db_bytes();
    let files = env.files_snapshot();
    let out = env.run(&["promote", "1.2.0"]).fails(1);
    golden!("promote_tag_exists", out);
    assert_eq!(env.db_bytes(), db);
    assert_eq!(env.files_snapshot(), files);
    // Still the lightweight tag we made, not an annotated one.
    assert_eq!(env.git(&["cat-file", "-t", "v1.2.0"]), "commit\n");
}

#[test]
fn promoting_twice_is_refused() {
    let env = with_contract();
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    env.run(&["promote", "1.2.0"]).ok();
    let db = env.db_bytes();
    let out = env.run(&["promote", "1.2.0"]).fails(1);
    golden!("promote_twice", out);
    assert_eq!(env.db_bytes(), db);
    env.run(&["promote", "1.2.0", "--no-tag"]).fails(1);
}

#[test]
fn promote_refuses_unapplied_contract_edits() {
    let env = with_contract();
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    env.write_contract(
        "v1.2.0",
        &[
            ("add", "FEAT-1", "Login"),
            ("fix", "BUG-2", "Crash on start"),
            ("add", "FEAT-3", "Sneaked in"),
        ],
        "description: First release\n",
    );
    let db = env.db_bytes();
    let out = env.run(&["promote", "1.2.0"]).fails(1);
    assert!(
        out.stderr
            .contains("has edits that are not in the database"),
        "{}",
        out.render()
    );
    assert_eq!(env.db_bytes(), db);
    assert_eq!(tags(&env), "");
}

#[test]
fn generation_promote_is_an_alias() {
    let env = with_contract();
    let out = env.run(&["generation", "promote", "1.2.0"]).fails(5);
    assert!(
        out.stdout.starts_with("Gates for v1.2.0:\n"),
        "{}",
        out.render()
    );
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    let out = env.run(&["generation", "promote", "1.2.0"]).ok();
    assert!(
        out.stdout
            .ends_with("Promoted v1.2.0 by Ada Tester, tagged v1.2.0\n"),
        "{}",
        out.render()
    );
    assert_eq!(env.git(&["cat-file", "-t", "v1.2.0"]), "tag\n");
}

#[test]
fn a_pending_evolution_of_a_promoted_generation_cannot_be_decided() {
    let env = with_contract();
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    env.run(&["evolution", "start", "1.2.0", "--change", "BUG-2"])
        .ok();
    env.run(&["promote", "1.2.0", "--no-tag"]).ok();
    let db = env.db_bytes();
    let out = env
        .run(&["evolution", "prove", "v1.2.0-rc.3", "--pipeline", "ok"])
        .fails(1);
    assert!(
        out.stderr.starts_with(
            "Error: generation v1.2.0 is promoted and cannot be given new evolution results\n"
        ),
        "{}",
        out.render()
    );
    assert_eq!(env.db_bytes(), db);
}

#[test]
fn promote_unknown_version() {
    let env = with_contract();
    let out = env.run(&["promote", "7.0.0"]).fails(1);
    assert_eq!(
        out.stderr,
        "Error: generation v7.0.0 does not exist\nHint: see the generations with `gryt generation list`\n"
    );
}

#[test]
fn hotfix_needs_a_promoted_base() {
    let env = with_contract();
    let db = env.db_bytes();
    let out = env
        .run(&["hotfix", "1.2.0", "--issue", "BUG-9", "--title", "Fix"])
        .fails(1);
    golden!("hotfix_base_not_promoted", out);
    assert_eq!(env.db_bytes(), db);
    assert!(!env.path(".gryt/generations/v1.2.1.yaml").exists());
}

#[test]
fn hotfix_creates_the_next_free_patch_with_one_fix() {
    let env = with_contract();
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    env.run(&["promote", "1.2.0", "--no-tag"]).ok();
    let out = env
        .run(&[
            "hotfix",
            "v1.2.0",
            "--issue",
            "BUG-9",
            "--title",
            "Null pointer",
        ])
        .ok();
    golden!("hotfix_created", out);
    let g = env
        .run(&["generation", "show", "1.2.1", "--json"])
        .ok()
        .json();
    assert_eq!(g["status"], "draft");
    assert_eq!(g["description"], "Hotfix for v1.2.0");
    assert_eq!(g["changes"].as_array().unwrap().len(), 1);
    assert_eq!(g["changes"][0]["id"], "BUG-9");
    assert_eq!(g["changes"][0]["type"], "fix");
    assert_eq!(g["changes"][0]["title"], "Null pointer");
    let text = env.read(".gryt/generations/v1.2.1.yaml");
    assert!(text.contains("version: v1.2.1\n"), "{text}");
    assert!(text.contains("id: BUG-9"), "{text}");

    // v1.2.1 is taken (database), v1.2.2 is taken (an untracked file): next is v1.2.3.
    env.write_contract("v1.2.2", &[("fix", "BUG-8", "Someone else's")], "");
    let out = env
        .run(&["hotfix", "1.2.0", "--issue", "BUG-10", "--title", "Another"])
        .ok();
    assert!(
        out.stdout.starts_with("Created hotfix v1.2.3 from v1.2.0"),
        "{}",
        out.render()
    );
    let list = env.run(&["generation", "list", "--json"]).ok().json();
    let versions: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["v1.2.3", "v1.2.1", "v1.2.0"]);
}

#[test]
fn hotfix_rejects_a_bad_issue_id() {
    let env = with_contract();
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    env.run(&["promote", "1.2.0", "--no-tag"]).ok();
    let db = env.db_bytes();
    let out = env
        .run(&["hotfix", "1.2.0", "--issue", "bug-9", "--title", "Fix"])
        .fails(2);
    assert!(
        out.stderr.contains("invalid change id `bug-9`"),
        "{}",
        out.render()
    );
    assert_eq!(env.db_bytes(), db);
}

/// A fresh `git init` has nothing to tag: promotion is refused up front, with a way out,
/// and nothing changes; `--no-tag` still works.
#[test]
fn promote_in_a_repository_without_commits() {
    let env = TestEnv::bare();
    env.git(&["init", "-q"]);
    env.run(&["init"]).ok();
    setup(&env);
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    let db = env.db_bytes();
    let out = env.run(&["promote", "1.2.0"]).fails(1);
    assert!(
        out.stderr
            .contains("Error: the git repository has no commit to tag yet"),
        "{}",
        out.render()
    );
    assert!(out.stderr.contains("--no-tag"), "{}", out.render());
    assert_eq!(env.db_bytes(), db);
    let json = env
        .run(&["promote", "1.2.0", "--no-tag", "--json"])
        .ok()
        .json();
    assert_eq!(json["promoted"], true);
    assert_eq!(json["tag"], serde_json::Value::Null);
}

#[test]
fn promote_json_says_promoted_either_way() {
    let env = with_contract();
    let refused = env.run(&["promote", "1.2.0", "--json"]).fails(5).json();
    assert_eq!(refused["promoted"], false);
    prove(&env, "FEAT-1", "ok");
    prove(&env, "BUG-2", "ok");
    let done = env.run(&["promote", "1.2.0", "--json"]).ok().json();
    assert_eq!(done["promoted"], true);
    assert_eq!(done["tag"], "v1.2.0");
}

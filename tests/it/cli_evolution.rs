//! `gryt evolution start|list|show`.

use crate::common::TestEnv;
use crate::golden;

fn with_contract() -> TestEnv {
    TestEnv::with_contract("")
}

fn start_json(env: &TestEnv, version: &str, change: &str) -> serde_json::Value {
    env.run(&["evolution", "start", version, "--change", change, "--json"])
        .ok()
        .json()
}

#[test]
fn start_prints_the_new_evolution() {
    let env = with_contract();
    let out = env
        .run(&["evolution", "start", "1.2.0", "--change", "FEAT-1"])
        .ok();
    golden!("evolution_start", out);
    let j = start_json(&env, "v1.2.0", "BUG-2");
    let obj = j.as_object().unwrap();
    let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["code_name", "status", "tag"]);
    assert_eq!(j["tag"], "v1.2.0-rc.2");
    assert_eq!(j["status"], "pending");
    let code = j["code_name"].as_str().unwrap();
    let parts: Vec<_> = code.split('-').collect();
    assert_eq!(parts.len(), 3, "adjective-adjective-noun: {code}");
    assert!(
        parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
    );
    assert!(!out.stdout.contains(code), "code names are unique");
}

#[test]
fn start_makes_it_the_current_evolution() {
    let env = with_contract();
    let j = start_json(&env, "1.2.0", "BUG-2");
    let st = env.run(&["status", "--json"]).ok().json();
    assert_eq!(st["current_evolution"]["code_name"], j["code_name"]);
    let show = env
        .run(&[
            "evolution",
            "show",
            j["code_name"].as_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(show["current"], true);
    assert_eq!(show["owner"], "Ada Tester");
    // A newer start takes over.
    start_json(&env, "1.2.0", "FEAT-1");
    let show = env
        .run(&["evolution", "show", "v1.2.0-rc.1", "--json"])
        .ok()
        .json();
    assert_eq!(show["current"], false);
}

#[test]
fn rc_numbers_grow_per_version_across_changes() {
    let env = with_contract();
    env.run(&["generation", "new", "2.0.0"]).ok();
    let tags: Vec<_> = [
        ("1.2.0", "FEAT-1"),
        ("1.2.0", "BUG-2"),
        ("2.0.0", "CHANGE-1"),
        ("v1.2.0", "FEAT-1"),
        ("2.0.0", "CHANGE-1"),
    ]
    .iter()
    .map(|(v, c)| start_json(&env, v, c)["tag"].as_str().unwrap().to_string())
    .collect();
    assert_eq!(
        tags,
        [
            "v1.2.0-rc.1",
            "v1.2.0-rc.2",
            "v2.0.0-rc.1",
            "v1.2.0-rc.3",
            "v2.0.0-rc.2"
        ]
    );
    let list = env
        .run(&["evolution", "list", "1.2.0", "--json"])
        .ok()
        .json();
    let rows: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["tag"].as_str().unwrap(), e["change_id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            ("v1.2.0-rc.1", "FEAT-1"),
            ("v1.2.0-rc.2", "BUG-2"),
            ("v1.2.0-rc.3", "FEAT-1")
        ]
    );
    let names: std::collections::HashSet<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 3, "code names are unique: {names:?}");
}

#[test]
fn start_refuses_an_unknown_change_and_lists_the_known_ones() {
    let env = with_contract();
    let db = env.db_bytes();
    let out = env
        .run(&["evolution", "start", "1.2.0", "--change", "FEAT-9"])
        .fails(1);
    golden!("evolution_start_unknown_change", out);
    assert!(out.stderr.contains("FEAT-1, BUG-2"), "{}", out.stderr);
    assert_eq!(env.db_bytes(), db);
}

#[test]
fn start_refuses_an_unknown_version() {
    let env = with_contract();
    let db = env.db_bytes();
    let out = env
        .run(&["evolution", "start", "3.0.0", "--change", "FEAT-1"])
        .fails(1);
    assert_eq!(
        out.stderr,
        "Error: generation v3.0.0 does not exist\nHint: see the generations with `gryt generation list`\n"
    );
    assert_eq!(env.db_bytes(), db);
}

#[test]
fn start_refuses_a_promoted_generation() {
    let env = with_contract();
    env.write_pipeline("ok", "true");
    for c in ["FEAT-1", "BUG-2"] {
        start_json(&env, "1.2.0", c);
        env.run(&["run", "ok"]).ok();
    }
    env.run(&["promote", "1.2.0", "--no-tag"]).ok();
    let db = env.db_bytes();
    let out = env
        .run(&["evolution", "start", "1.2.0", "--change", "FEAT-1"])
        .fails(1);
    golden!("evolution_start_promoted", out);
    assert_eq!(env.db_bytes(), db);
    let list = env
        .run(&["evolution", "list", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[test]
fn list_as_table_and_json() {
    let env = with_contract();
    env.write_pipeline("bad", "exit 3");
    start_json(&env, "1.2.0", "FEAT-1");
    env.run(&["run", "bad"]).fails(1);
    start_json(&env, "1.2.0", "BUG-2");
    let out = env.run(&["evolution", "list", "1.2.0"]).ok();
    golden!("evolution_list", out);
    let j = env
        .run(&["evolution", "list", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(j[0]["status"], "fail");
    assert_eq!(j[0]["completed_at"], "2026-03-01T12:00:00Z");
    assert_eq!(j[0]["owner"], "Ada Tester");
    assert_eq!(j[1]["status"], "pending");
    assert_eq!(j[1]["completed_at"], serde_json::Value::Null);
}

#[test]
fn list_empty_and_unknown_version() {
    let env = with_contract();
    let out = env.run(&["evolution", "list", "1.2.0"]).ok();
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains(
            "No evolutions of v1.2.0 yet; start one with `gryt evolution start v1.2.0 --change ID`"
        ),
        "{}",
        out.render()
    );
    env.run(&["evolution", "list", "9.0.0"]).fails(1);
}

#[test]
fn show_by_code_name_and_by_rc_tag() {
    let env = with_contract();
    env.write_pipeline("ok", "echo proving");
    let j = start_json(&env, "1.2.0", "BUG-2");
    let code = j["code_name"].as_str().unwrap();
    let pending = env.run(&["evolution", "show", code]).ok();
    golden!("evolution_show_pending", pending);
    assert_eq!(
        env.run(&["evolution", "show", "v1.2.0-rc.1"]).ok().stdout,
        pending.stdout
    );
    env.run(&["run", "ok"]).ok();
    let done = env.run(&["evolution", "show", "v1.2.0-rc.1"]).ok();
    golden!("evolution_show_decided", done.stable());
    assert_eq!(
        env.run(&["evolution", "show", code]).ok().stdout,
        done.stdout
    );
    let d = env.run(&["evolution", "show", code, "--json"]).ok().json();
    assert_eq!(d["code_name"], code);
    assert_eq!(d["tag"], "v1.2.0-rc.1");
    assert_eq!(d["change_id"], "BUG-2");
    assert_eq!(d["status"], "pass");
    assert_eq!(d["steps"][0]["command"], "echo proving");
    assert_eq!(d["steps"][0]["exit_code"], 0);
}

#[test]
fn show_unknown_names() {
    let env = with_contract();
    start_json(&env, "1.2.0", "FEAT-1");
    let out = env.run(&["evolution", "show", "no-such-name"]).fails(1);
    golden!("evolution_show_unknown", out);
    let out = env.run(&["evolution", "show", "v1.2.0-rc.7"]).fails(1);
    assert!(
        out.stderr
            .starts_with("Error: no evolution named `v1.2.0-rc.7`"),
        "{}",
        out.render()
    );
}

//! `gryt generation new|update|list|show|rename|delete` and `gryt status`.

use crate::common::TestEnv;
use crate::golden;

const CONTRACT: &str = ".gryt/generations/v1.2.0.yaml";

fn with_contract() -> TestEnv {
    TestEnv::with_contract("description: First release\n")
}

/// Starts an evolution of `change` and returns its code name.
fn start(env: &TestEnv, version: &str, change: &str) -> String {
    let out = env
        .run(&["evolution", "start", version, "--change", change, "--json"])
        .ok();
    out.json()["code_name"].as_str().unwrap().to_string()
}

/// Proves every change of v1.2.0 with a passing pipeline and promotes it (no tag).
fn promote_v120(env: &TestEnv) {
    env.write_pipeline("ok", "true");
    for change in ["FEAT-1", "BUG-2"] {
        start(env, "1.2.0", change);
        env.run(&["run", "ok"]).ok();
    }
    env.run(&["promote", "1.2.0", "--no-tag"]).ok();
}

#[test]
fn new_writes_a_valid_contract() {
    let env = TestEnv::init();
    let out = env
        .run(&[
            "generation",
            "new",
            "1.2.0",
            "-d",
            "First release",
            "-p",
            "ci",
        ])
        .ok();
    golden!("generation_new", out);
    let text = env.read(CONTRACT);
    assert!(text.contains("version: v1.2.0\n"), "{text}");
    assert!(text.contains("description: First release\n"), "{text}");
    assert!(text.contains("pipeline_template: ci\n"), "{text}");
    // The file on disk is exactly what the database holds: nothing to apply.
    let up = env.run(&["generation", "update", "v1.2.0"]).ok();
    assert_eq!(up.stdout, "v1.2.0 is up to date\n");
    let show = env
        .run(&["generation", "show", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(show["description"], "First release");
    assert_eq!(show["pipeline_template"], "ci");
    assert_eq!(show["changes"].as_array().unwrap().len(), 1);
    assert_eq!(show["changes"][0]["id"], "CHANGE-1");
}

#[test]
fn new_refuses_an_existing_version_in_either_spelling() {
    let env = TestEnv::init();
    env.run(&["generation", "new", "1.2.0"]).ok();
    let files = env.files_snapshot();
    let db = env.db_bytes();
    let out = env.run(&["generation", "new", "v1.2.0"]).fails(1);
    golden!("generation_new_exists", out);
    assert_eq!(env.files_snapshot(), files);
    assert_eq!(env.db_bytes(), db);
    let list = env.run(&["generation", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

/// The versions suggested instead of a taken one are free: taken patches and minors are
/// skipped, and the suggestion works when typed.
#[test]
fn new_suggests_versions_that_are_free() {
    let env = TestEnv::init();
    for v in ["1.0.0", "1.0.1", "1.1.0"] {
        env.run(&["generation", "new", v]).ok();
    }
    let out = env.run(&["generation", "new", "1.0.0"]).fails(1);
    assert!(
        out.stderr
            .contains("Hint: pick a free version, e.g. v1.0.2 or v1.2.0"),
        "{}",
        out.render()
    );
    env.run(&["generation", "new", "1.0.2"]).ok();
    env.run(&["generation", "new", "1.2.0"]).ok();
}

#[test]
fn new_refuses_an_existing_untracked_file() {
    let env = TestEnv::init();
    env.write_contract("v1.3.0", &[("add", "FEAT-9", "Mine")], "");
    let before = env.read(".gryt/generations/v1.3.0.yaml");
    let db = env.db_bytes();
    let out = env.run(&["generation", "new", "1.3.0"]).fails(1);
    golden!("generation_new_file_exists", out);
    assert_eq!(env.read(".gryt/generations/v1.3.0.yaml"), before);
    assert_eq!(env.db_bytes(), db);
}

#[test]
fn update_one_reports_the_diff() {
    let env = TestEnv::init();
    env.run(&["generation", "new", "1.2.0"]).ok();
    env.write_contract(
        "v1.2.0",
        &[("add", "FEAT-1", "Login"), ("fix", "BUG-2", "Crash")],
        "",
    );
    let out = env.run(&["generation", "update", "1.2.0"]).ok();
    assert_eq!(
        out.stdout,
        "Updated v1.2.0: added BUG-2, FEAT-1; removed CHANGE-1\n"
    );
    env.write_contract(
        "v1.2.0",
        &[("add", "FEAT-1", "Login v2"), ("fix", "BUG-2", "Crash")],
        "",
    );
    let out = env.run(&["generation", "update", "1.2.0"]).ok();
    assert_eq!(out.stdout, "Updated v1.2.0: modified FEAT-1\n");
    let show = env
        .run(&["generation", "show", "1.2.0", "--json"])
        .ok()
        .json();
    let ids: Vec<_> = show["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["title"].as_str().unwrap()))
        .collect();
    assert_eq!(ids, [("FEAT-1", "Login v2"), ("BUG-2", "Crash")]);
}

#[test]
fn update_all_imports_untracked_files() {
    let env = with_contract();
    env.write_contract("v2.0.0", &[("add", "FEAT-7", "Big")], "");
    env.write_contract("v1.2.0", &[("add", "FEAT-1", "Login")], "");
    let out = env.run(&["generation", "update", "--all"]).ok();
    golden!("generation_update_all", out);
    let list = env.run(&["generation", "list", "--json"]).ok().json();
    let versions: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["version"].as_str().unwrap(),
                g["changes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, [("v2.0.0", 1), ("v1.2.0", 1)]);
    // A single untracked version is imported too.
    env.write_contract("v3.0.0", &[("refine", "UX-3", "Polish")], "");
    let out = env.run(&["generation", "update", "v3.0.0"]).ok();
    assert_eq!(out.stdout, "Imported v3.0.0\n");
    let show = env
        .run(&["generation", "show", "3.0.0", "--json"])
        .ok()
        .json();
    assert_eq!(show["changes"][0]["type"], "refine");
}

#[test]
fn update_reports_every_problem_with_its_line_and_changes_nothing() {
    let env = with_contract();
    env.write(
        CONTRACT,
        "version: v1.2.0\nchanges:\n  - type: feature\n    id: feat-1\n    title: \"\"\n  - type: add\n    id: FEAT-2\n    title: ok\n  - type: add\n    id: FEAT-2\n    title: again\n",
    );
    let db = env.db_bytes();
    let out = env.run(&["generation", "update", "1.2.0"]).fails(1);
    golden!("generation_update_invalid", out);
    let path = ".gryt/generations/v1.2.0.yaml";
    for (line, what) in [
        (3, "unknown change type `feature`"),
        (4, "invalid change id `feat-1`"),
        (5, "title is empty"),
        (9, "duplicate change id FEAT-2 (first listed at line 6)"),
    ] {
        assert!(
            out.stderr.contains(&format!("{path}:{line}: ")) && out.stderr.contains(what),
            "line {line} `{what}` missing:\n{}",
            out.stderr
        );
    }
    assert_eq!(env.db_bytes(), db);
    let st = env.run(&["status", "--json"]).ok().json();
    assert_eq!(st["contracts"][0]["state"], "invalid");
}

#[test]
fn update_refuses_a_version_that_differs_from_the_file_name() {
    let env = with_contract();
    env.write(
        CONTRACT,
        "version: v1.3.0\nchanges:\n  - type: add\n    id: FEAT-1\n    title: Login\n",
    );
    let db = env.db_bytes();
    let out = env.run(&["generation", "update", "1.2.0"]).fails(1);
    golden!("generation_update_version_mismatch", out);
    assert_eq!(env.db_bytes(), db);
}

#[test]
fn update_refuses_removing_a_change_that_has_evolutions() {
    let env = with_contract();
    start(&env, "1.2.0", "BUG-2");
    env.write_contract("v1.2.0", &[("add", "FEAT-1", "Login")], "");
    let db = env.db_bytes();
    let out = env.run(&["generation", "update", "1.2.0"]).fails(1);
    golden!("generation_update_removes_proven", out);
    assert_eq!(env.db_bytes(), db);
    // Removing a change nobody started is fine.
    env.write_contract("v1.2.0", &[("fix", "BUG-2", "Crash on start")], "");
    let out = env.run(&["generation", "update", "1.2.0"]).ok();
    assert_eq!(out.stdout, "Updated v1.2.0: removed FEAT-1\n");
}

#[test]
fn update_refuses_edits_to_a_promoted_generation() {
    let env = with_contract();
    promote_v120(&env);
    env.write_contract(
        "v1.2.0",
        &[("add", "FEAT-1", "Login"), ("fix", "BUG-2", "Changed")],
        "description: First release\n",
    );
    let db = env.db_bytes();
    let out = env.run(&["generation", "update", "1.2.0"]).fails(1);
    golden!("generation_update_promoted", out);
    assert_eq!(env.db_bytes(), db);
    let st = env.run(&["status"]).ok();
    assert!(
        st.stdout.contains(
            "modified   .gryt/generations/v1.2.0.yaml  (promoted: edits will be refused)"
        ),
        "{}",
        st.stdout
    );
}

#[test]
fn list_as_table_and_json() {
    let env = with_contract();
    env.run(&["generation", "new", "2.0.0", "-d", "Next"]).ok();
    start(&env, "1.2.0", "FEAT-1");
    let out = env.run(&["generation", "list"]).ok();
    golden!("generation_list", out);
    let json = env.run(&["generation", "list", "--json"]).ok().json();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["version"], "v2.0.0");
    assert_eq!(rows[1]["version"], "v1.2.0");
    assert_eq!(rows[1]["status"], "draft");
    assert_eq!(rows[1]["sync_status"], "not_synced");
    assert_eq!(rows[1]["changes"], 2);
    assert_eq!(rows[1]["evolutions"], 1);
    assert_eq!(rows[0]["changes"], 1);
}

#[test]
fn list_when_empty_says_how_to_start() {
    let env = TestEnv::init();
    let out = env.run(&["generation", "list"]).ok();
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("gryt generation new VERSION"),
        "{}",
        out.render()
    );
    assert_eq!(
        env.run(&["generation", "list", "--json"]).ok().stdout,
        "[]\n"
    );
}

#[test]
fn show_as_table_and_json() {
    let env = with_contract();
    env.write_pipeline("ok", "true");
    env.write_pipeline("bad", "exit 1");
    let failed = start(&env, "1.2.0", "FEAT-1");
    env.run(&["run", "bad"]).fails(1);
    let passed = start(&env, "1.2.0", "FEAT-1");
    env.run(&["run", "ok"]).ok();
    let out = env.run(&["generation", "show", "v1.2.0"]).ok();
    golden!("generation_show", out);
    let j = env
        .run(&["generation", "show", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(j["version"], "v1.2.0");
    assert_eq!(j["status"], "draft");
    assert_eq!(j["description"], "First release");
    assert_eq!(j["sync_status"], "not_synced");
    let feat = &j["changes"][0];
    assert_eq!(feat["id"], "FEAT-1");
    assert_eq!(feat["type"], "add");
    assert_eq!(feat["title"], "Login");
    assert_eq!(feat["proven"], true);
    let evs = feat["evolutions"].as_array().unwrap();
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0]["code_name"], failed.as_str());
    assert_eq!(evs[0]["tag"], "v1.2.0-rc.1");
    assert_eq!(evs[0]["status"], "fail");
    assert_eq!(evs[0]["owner"], "Ada Tester");
    assert_eq!(evs[1]["code_name"], passed.as_str());
    assert_eq!(evs[1]["tag"], "v1.2.0-rc.2");
    assert_eq!(evs[1]["status"], "pass");
    let bug = &j["changes"][1];
    assert_eq!(bug["id"], "BUG-2");
    assert_eq!(bug["proven"], false);
    assert_eq!(bug["evolutions"], serde_json::json!([]));
}

#[test]
fn show_unknown_version() {
    let env = TestEnv::init();
    let out = env.run(&["generation", "show", "9.9.9"]).fails(1);
    golden!("generation_show_unknown", out);
}

#[test]
fn rename_moves_the_file_and_rc_tags_follow() {
    let env = with_contract();
    let code = start(&env, "1.2.0", "FEAT-1");
    let out = env.run(&["generation", "rename", "1.2.0", "v1.3.0"]).ok();
    golden!("generation_rename", out);
    assert!(!env.path(CONTRACT).exists());
    let text = env.read(".gryt/generations/v1.3.0.yaml");
    assert!(text.contains("version: v1.3.0\n"), "{text}");
    assert!(text.contains("id: BUG-2"), "{text}");
    let evo = env.run(&["evolution", "show", &code, "--json"]).ok().json();
    assert_eq!(evo["tag"], "v1.3.0-rc.1");
    assert_eq!(evo["version"], "v1.3.0");
    env.run(&["evolution", "show", "v1.3.0-rc.1"]).ok();
    env.run(&["evolution", "show", "v1.2.0-rc.1"]).fails(1);
    env.run(&["generation", "show", "1.2.0"]).fails(1);
}

#[test]
fn rename_refuses_an_existing_target_and_a_promoted_generation() {
    let env = with_contract();
    env.run(&["generation", "new", "2.0.0"]).ok();
    let files = env.files_snapshot();
    let db = env.db_bytes();
    let out = env
        .run(&["generation", "rename", "2.0.0", "1.2.0"])
        .fails(1);
    golden!("generation_rename_exists", out);
    assert_eq!(env.files_snapshot(), files);
    assert_eq!(env.db_bytes(), db);

    promote_v120(&env);
    let files = env.files_snapshot();
    let db = env.db_bytes();
    let out = env
        .run(&["generation", "rename", "1.2.0", "3.0.0"])
        .fails(1);
    golden!("generation_rename_promoted", out);
    assert_eq!(env.files_snapshot(), files);
    assert_eq!(env.db_bytes(), db);
}

#[test]
fn delete_removes_the_file_and_its_evolutions() {
    let env = with_contract();
    let code = start(&env, "1.2.0", "FEAT-1");
    let out = env.run(&["generation", "delete", "1.2.0"]).ok();
    golden!("generation_delete", out);
    assert!(!env.path(CONTRACT).exists());
    env.run(&["evolution", "show", &code]).fails(1);
    env.run(&["generation", "show", "1.2.0"]).fails(1);
    let st = env.run(&["status", "--json"]).ok().json();
    assert_eq!(st["current_evolution"], serde_json::Value::Null);
    assert_eq!(st["generations"], 0);
}

#[test]
fn delete_refuses_unapplied_edits_unless_forced() {
    let env = with_contract();
    env.write_contract("v1.2.0", &[("add", "FEAT-1", "Edited title")], "");
    let files = env.files_snapshot();
    let db = env.db_bytes();
    let out = env.run(&["generation", "delete", "1.2.0"]).fails(1);
    golden!("generation_delete_modified", out);
    assert_eq!(env.files_snapshot(), files);
    assert_eq!(env.db_bytes(), db);
    let out = env.run(&["generation", "delete", "1.2.0", "--force"]).ok();
    assert_eq!(out.stdout, "Deleted v1.2.0 (2 changes, 0 evolutions)\n");
    assert!(!env.path(CONTRACT).exists());
}

#[test]
fn delete_refuses_a_promoted_generation() {
    let env = with_contract();
    promote_v120(&env);
    let files = env.files_snapshot();
    let db = env.db_bytes();
    let out = env
        .run(&["generation", "delete", "1.2.0", "--force"])
        .fails(1);
    golden!("generation_delete_promoted", out);
    assert_eq!(env.files_snapshot(), files);
    assert_eq!(env.db_bytes(), db);
}

#[test]
fn status_shows_files_drafts_and_the_current_evolution() {
    let env = with_contract();
    start(&env, "1.2.0", "BUG-2");
    for v in ["2.0.0", "3.0.0", "4.0.0"] {
        env.run(&["generation", "new", v]).ok();
    }
    // modified, deleted, invalid, new
    env.write_contract("v2.0.0", &[("add", "FEAT-1", "Changed")], "");
    std::fs::remove_file(env.path(".gryt/generations/v3.0.0.yaml")).unwrap();
    env.write(
        ".gryt/generations/v4.0.0.yaml",
        "version: v4.0.0\nchanges: 7\n",
    );
    env.write_contract("v5.0.0", &[("add", "FEAT-5", "Untracked")], "");
    let out = env.run(&["status"]).ok();
    golden!("status_mixed", out);
    let j = env.run(&["status", "--json"]).ok().json();
    let states: Vec<_> = j["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["version"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("v2.0.0", "modified"),
            ("v3.0.0", "deleted"),
            ("v4.0.0", "invalid"),
            ("v5.0.0", "untracked")
        ]
    );
    assert_eq!(j["current_evolution"]["version"], "v1.2.0");
    assert_eq!(j["current_evolution"]["status"], "pending");
    assert_eq!(j["current_evolution"]["change_id"], "BUG-2");
    assert_eq!(j["drafts"].as_array().unwrap().len(), 4);
}

#[test]
fn status_of_a_clean_workspace() {
    let env = TestEnv::init();
    let out = env.run(&["status"]).ok();
    assert_eq!(
        out.stdout,
        "No current evolution\n\nNo drafts (0 generations, 0 promoted)\n\nExecution mode: local; no cloud linked\n"
    );
}

/// A contract file whose bytes changed but whose content did not (a comment, other
/// indentation) is not "modified", in the text report (which looks the stored content up
/// for that file only) and in `--json`; a real edit next to it is.
#[test]
fn status_tells_a_reformatted_file_from_an_edited_one() {
    let env = with_contract();
    env.run(&["generation", "new", "2.0.0"]).ok();
    let file = ".gryt/generations/v1.2.0.yaml";
    let text = env.read(file);
    env.write(file, format!("# reviewed\n{}\n\n", text.trim_end()));
    env.write_contract("v2.0.0", &[("add", "FEAT-9", "Edited")], "");
    let out = env.run(&["status"]).ok();
    assert!(
        out.stdout
            .contains("modified   .gryt/generations/v2.0.0.yaml"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("v1.2.0.yaml"), "{}", out.stdout);
    let j = env.run(&["status", "--json"]).ok().json();
    assert_eq!(j["contracts"].as_array().unwrap().len(), 1, "{j:#}");
    assert_eq!(j["contracts"][0]["version"], "v2.0.0");
    // The stored content is what is compared: edit v1.2.0 for real and it shows.
    env.write(file, text.replace("First release", "Second thoughts"));
    let out = env.run(&["status"]).ok();
    assert!(
        out.stdout
            .contains("modified   .gryt/generations/v1.2.0.yaml"),
        "{}",
        out.stdout
    );
}

/// `gryt status` remembers what it saw of each contract file (size, mtime, inode, hash) in
/// `.gryt/gryt.db-stat` and does not read an unchanged file again; an edit changes what it
/// compares, so it is always seen, and a damaged cache is only an empty one.
#[test]
fn status_remembers_unchanged_files_and_still_sees_every_edit() {
    let env = with_contract();
    let file = env.path(".gryt/generations/v1.2.0.yaml");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let age = |path: &std::path::Path| {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    };
    age(&file);
    let clean = env.run(&["status", "--json"]).ok().json();
    assert_eq!(clean["contracts"], serde_json::json!([]), "{clean:#}");
    let cache = std::fs::read_to_string(env.path(".gryt/gryt.db-stat")).unwrap();
    assert!(cache.contains("v1.2.0.yaml"), "{cache}");

    // An edit (same length, even with the old mtime put back: the inode of an atomic write
    // changes; here the size does) is seen.
    env.write_contract(
        "v1.2.0",
        &[("add", "FEAT-1", "Login"), ("fix", "BUG-2", "Edited")],
        "description: First release\n",
    );
    age(&file);
    let edited = env.run(&["status", "--json"]).ok().json();
    assert_eq!(edited["contracts"][0]["state"], "modified", "{edited:#}");

    // Garbage in the cache: ignored, and rewritten.
    std::fs::write(env.path(".gryt/gryt.db-stat"), b"\x00not a cache").unwrap();
    let again = env.run(&["status", "--json"]).ok().json();
    assert_eq!(again["contracts"][0]["state"], "modified", "{again:#}");
    let cache = std::fs::read_to_string(env.path(".gryt/gryt.db-stat")).unwrap();
    assert!(cache.starts_with("gryt-stat 1\nv1.2.0.yaml\t"), "{cache}");
}

//! `gryt run`, `gryt evolution prove` and `gryt pipeline new|list|runs`: pipelines decide
//! evolutions from the real exit codes of their steps.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::golden;

fn with_contract() -> TestEnv {
    TestEnv::with_contract("")
}

/// Starts an evolution of `change` in v1.2.0 and returns its code name.
fn start(env: &TestEnv, change: &str) -> String {
    let out = env
        .run(&["evolution", "start", "1.2.0", "--change", change, "--json"])
        .ok();
    out.json()["code_name"].as_str().unwrap().to_string()
}

fn evolution(env: &TestEnv, name: &str) -> serde_json::Value {
    env.run(&["evolution", "show", name, "--json"]).ok().json()
}

#[test]
fn a_passing_step_decides_pass() {
    let env = with_contract();
    env.write_pipeline("ok", "echo all good");
    let code = start(&env, "FEAT-1");
    let out = env.run(&["run", "ok"]).ok();
    golden!("run_pass", out);
    let e = evolution(&env, &code);
    assert_eq!(e["status"], "pass");
    assert_eq!(e["note"], serde_json::Value::Null);
    assert_eq!(e["steps"][0]["exit_code"], 0);
    let g = env
        .run(&["generation", "show", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(g["changes"][0]["proven"], true);
    // Deciding clears the current evolution.
    let st = env.run(&["status", "--json"]).ok().json();
    assert_eq!(st["current_evolution"], serde_json::Value::Null);
}

#[test]
fn a_step_that_exits_1_decides_fail_and_exits_1() {
    let env = with_contract();
    env.write_pipeline("bad", "echo about to fail; exit 1");
    let code = start(&env, "FEAT-1");
    let out = env.run(&["run", "bad"]).fails(1);
    golden!("run_fail", out);
    let e = evolution(&env, &code);
    assert_eq!(e["status"], "fail");
    assert_eq!(e["steps"][0]["exit_code"], 1);
    let g = env
        .run(&["generation", "show", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(g["changes"][0]["proven"], false);
    assert_eq!(g["changes"][0]["evolutions"][0]["status"], "fail");
}

#[test]
fn any_non_zero_exit_fails_and_later_steps_do_not_run() {
    let env = with_contract();
    env.write(
        ".gryt/pipelines/ff.yaml",
        "steps:\n  - name: first\n    run: touch first.marker\n  - name: breaks\n    run: exit 7\n  - name: never\n    run: touch never.marker\n",
    );
    let code = start(&env, "BUG-2");
    let out = env.run(&["run", "ff"]).fails(1);
    assert!(env.path("first.marker").exists());
    assert!(!env.path("never.marker").exists(), "fail-fast broken");
    assert!(
        out.stderr.contains("FAILED breaks (exit code 7, [DUR])"),
        "{}",
        out.render()
    );
    assert!(!out.stderr.contains("never"), "{}", out.render());
    let e = evolution(&env, &code);
    assert_eq!(e["status"], "fail");
    let steps: Vec<_> = e["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["exit_code"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(steps, [("first", 0), ("breaks", 7)]);
}

#[test]
fn step_output_is_streamed() {
    let env = with_contract();
    env.write_pipeline("talk", "echo to-stdout; echo to-stderr >&2");
    start(&env, "FEAT-1");
    let out = env.run(&["run", "talk"]).ok();
    assert!(out.stdout.starts_with("to-stdout\n"), "{}", out.render());
    assert!(out.stderr.contains("to-stderr\n"), "{}", out.render());
}

#[test]
fn steps_see_the_evolution_in_their_environment() {
    let env = with_contract();
    env.write_pipeline(
        "envs",
        "echo \"$GRYT_VERSION $GRYT_CHANGE $GRYT_RC_TAG $GRYT_EVOLUTION\" > env.txt",
    );
    start(&env, "FEAT-1");
    let code = start(&env, "BUG-2");
    env.run(&["run", "envs"]).ok();
    assert_eq!(
        env.read("env.txt"),
        format!("v1.2.0 BUG-2 v1.2.0-rc.2 {code}\n")
    );
}

#[test]
fn pipeline_resolution_change_then_template_then_explicit_name() {
    let env = TestEnv::init();
    env.write(
        ".gryt/generations/v1.2.0.yaml",
        "version: v1.2.0\npipeline_template: tmpl\nchanges:\n  - type: add\n    id: FEAT-1\n    title: Own pipeline\n    pipeline: chg\n  - type: fix\n    id: BUG-2\n    title: Template\n",
    );
    env.run(&["generation", "update", "1.2.0"]).ok();
    for name in ["tmpl", "chg", "other"] {
        env.write_pipeline(name, &format!("echo {name} >> used.txt"));
    }
    start(&env, "FEAT-1");
    env.run(&["run"]).ok();
    start(&env, "BUG-2");
    env.run(&["run"]).ok();
    start(&env, "FEAT-1");
    let out = env.run(&["run", "other"]).ok();
    assert!(
        out.stdout.contains("Pipeline other passed"),
        "{}",
        out.render()
    );
    assert_eq!(env.read("used.txt"), "chg\ntmpl\nother\n");
    let runs = env.run(&["pipeline", "runs", "--json"]).ok().json();
    let mut rows: Vec<_> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["evolution"].as_str().unwrap(),
                r["pipeline"].as_str().unwrap(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("v1.2.0-rc.1", "chg"),
            ("v1.2.0-rc.2", "tmpl"),
            ("v1.2.0-rc.3", "other")
        ]
    );
}

#[test]
fn without_a_current_evolution_a_run_proves_nothing() {
    let env = with_contract();
    env.write_pipeline("ok", "true");
    let out = env.run(&["run", "ok"]).ok();
    golden!("run_no_evolution", out);
    let runs = env.run(&["pipeline", "runs", "--json"]).ok().json();
    assert_eq!(runs[0]["status"], "pass");
    assert_eq!(runs[0]["evolution"], serde_json::Value::Null);
    let list = env
        .run(&["evolution", "list", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(list, serde_json::json!([]));
}

#[test]
fn without_an_evolution_or_a_name_there_is_nothing_to_run() {
    let env = with_contract();
    env.write_pipeline("ok", "true");
    let db = env.db_bytes();
    let out = env.run(&["run"]).fails(1);
    golden!("run_no_pipeline", out);
    assert_eq!(env.db_bytes(), db);
    let out = env.run(&["run", "missing"]).fails(1);
    assert!(
        out.stderr.contains("pipeline `missing` does not exist"),
        "{}",
        out.render()
    );
}

#[test]
fn prove_decides_a_named_evolution() {
    let env = with_contract();
    env.write_pipeline("ok", "true");
    env.write_pipeline("bad", "exit 1");
    let first = start(&env, "FEAT-1");
    let second = start(&env, "BUG-2");
    let out = env
        .run(&["evolution", "prove", &first, "--pipeline", "ok"])
        .ok();
    assert!(
        out.stdout
            .contains(&format!("Evolution {first} (v1.2.0-rc.1) of FEAT-1: pass")),
        "{}",
        out.render()
    );
    assert_eq!(evolution(&env, &first)["status"], "pass");
    // The current evolution is untouched.
    let e = evolution(&env, &second);
    assert_eq!(e["status"], "pending");
    assert_eq!(e["current"], true);
    env.run(&["evolution", "prove", "v1.2.0-rc.2", "--pipeline", "bad"])
        .fails(1);
    assert_eq!(evolution(&env, &second)["status"], "fail");
}

#[test]
fn proving_a_decided_evolution_is_refused() {
    let env = with_contract();
    env.write_pipeline("ok", "true");
    let code = start(&env, "FEAT-1");
    env.run(&["run", "ok"]).ok();
    let db = env.db_bytes();
    let out = env
        .run(&["evolution", "prove", &code, "--pipeline", "ok"])
        .fails(1);
    golden!("prove_already_decided", out);
    assert_eq!(env.db_bytes(), db);
}

#[test]
fn pipeline_new_list_and_runs() {
    let env = with_contract();
    let out = env.run(&["pipeline", "new", "ci"]).ok();
    golden!("pipeline_new", out);
    assert!(env.read(".gryt/pipelines/ci.yaml").contains("steps:"));
    let again = env.run(&["pipeline", "new", "ci"]).fails(1);
    assert!(
        again.stderr.contains("pipeline `ci` already exists"),
        "{}",
        again.render()
    );
    env.write(".gryt/pipelines/broken.yaml", "steps: []\n");
    env.write_pipeline("ok", "true");
    let list = env.run(&["pipeline", "list"]).ok();
    golden!("pipeline_list", list);
    let j = env.run(&["pipeline", "list", "--json"]).ok().json();
    assert_eq!(j[0]["name"], "broken");
    assert_eq!(j[0]["steps"], serde_json::Value::Null);
    assert!(j[0]["error"].as_str().unwrap().contains("`steps` is empty"));
    assert_eq!(j[1]["name"], "ci");
    assert_eq!(j[1]["steps"], 1);

    // The template's placeholder step fails on purpose: it never proves a change.
    let empty = env.run(&["pipeline", "runs"]).ok();
    assert_eq!(empty.stdout, "");
    assert_eq!(empty.stderr, "No pipeline runs yet\n");
    start(&env, "FEAT-1");
    env.run(&["run", "ci"]).fails(1);
    let runs = env.run(&["pipeline", "runs"]).ok();
    golden!("pipeline_runs", runs.stable());
    start(&env, "FEAT-1");
    env.run(&["run", "ok"]).ok();
    let j = env.run(&["pipeline", "runs", "--json"]).ok().json();
    let mut rows: Vec<_> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["evolution"].as_str().unwrap(),
                r["pipeline"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["started_by"].as_str().unwrap(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("v1.2.0-rc.1", "ci", "fail", "Ada Tester"),
            ("v1.2.0-rc.2", "ok", "pass", "Ada Tester")
        ]
    );
    let one = env
        .run(&["pipeline", "runs", "-n", "1", "--json"])
        .ok()
        .json();
    assert_eq!(one.as_array().unwrap().len(), 1);
}

#[test]
fn a_step_that_times_out_fails() {
    let env = with_contract();
    env.write(
        ".gryt/pipelines/slow.yaml",
        "steps:\n  - name: hang\n    run: sleep 20\n    timeout: 1s\n",
    );
    let code = start(&env, "FEAT-1");
    let started = Instant::now();
    let out = env.run(&["run", "slow"]).fails(1);
    assert!(started.elapsed() < Duration::from_secs(15), "not killed");
    assert!(
        out.stderr.contains("FAILED hang (timed out, [DUR])"),
        "{}",
        out.render()
    );
    let e = evolution(&env, &code);
    assert_eq!(e["status"], "fail");
    assert_eq!(e["steps"][0]["timed_out"], true);
}

#[test]
fn a_run_killed_mid_step_leaves_the_evolution_failed_not_running() {
    let env = with_contract();
    env.write_pipeline("slow", "echo $$ > step.pid; exec sleep 30");
    let code = start(&env, "FEAT-1");
    let mut child = env
        .command(&env.repo, &["run", "slow"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gryt runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    let step_pid = loop {
        let text = std::fs::read_to_string(env.path("step.pid")).unwrap_or_default();
        if let Ok(pid) = text.trim().parse::<u32>() {
            break pid;
        }
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    // While it runs, the evolution is `running`.
    assert_eq!(evolution(&env, &code)["status"], "running");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The orphaned step is ours too: stop it.
    let _ = std::process::Command::new("kill")
        .args(["-9", &step_pid.to_string()])
        .status();

    let e = evolution(&env, &code);
    assert_eq!(e["status"], "fail");
    assert_eq!(e["note"], "interrupted");
    let list = env.run(&["evolution", "list", "1.2.0"]).ok();
    assert!(
        list.stdout.contains("fail (interrupted)"),
        "{}",
        list.render()
    );
    let runs = env.run(&["pipeline", "runs", "--json"]).ok().json();
    assert_eq!(runs[0]["status"], "fail");
    assert_eq!(runs[0]["note"], "interrupted");
    let audit = env.run(&["audit", "--json"]).ok().json();
    let last = audit.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "evolution.decided");
    assert_eq!(last["details"]["note"], "interrupted");
}

#[test]
fn a_retried_step_that_passes_on_a_later_attempt_passes() {
    let env = with_contract();
    env.write(
        ".gryt/pipelines/flaky.yaml",
        "steps:\n  - name: flaky\n    run: \"if [ -f tried ]; then exit 0; else touch tried; exit 1; fi\"\n    retries: 2\n",
    );
    let code = start(&env, "FEAT-1");
    let out = env.run(&["run", "flaky"]).ok();
    assert!(
        out.stderr.contains("==> [1/1] flaky (attempt 2): "),
        "{}",
        out.render()
    );
    let e = evolution(&env, &code);
    assert_eq!(e["status"], "pass");
    assert_eq!(e["steps"][0]["attempts"], 2);
}

#[test]
fn only_the_owner_may_decide_an_evolution() {
    let env = with_contract();
    env.write_pipeline("ok", "touch ran");
    let code = start(&env, "FEAT-1");
    env.run(&["config", "user.name", "Mallory"]).ok();
    let out = env.run(&["run", "ok"]).fails(1);
    assert_eq!(
        out.stderr,
        format!(
            "Error: evolution {code} belongs to Ada Tester; only its owner may change it\nHint: start your own evolution with `gryt evolution start`\n"
        )
    );
    assert!(!env.path("ran").exists());
    assert_eq!(evolution(&env, &code)["status"], "pending");
}

#[test]
fn ctrl_c_marks_the_evolution_failed_interrupted() {
    let env = with_contract();
    env.write_pipeline("slow", "echo $$ > step.pid; exec sleep 30");
    let code = start(&env, "FEAT-1");
    let child = env
        .command(&env.repo, &["run", "slow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gryt runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(env.path("step.pid")).is_ok_and(|t| t.ends_with('\n')) {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = env.finish(child.wait_with_output().unwrap());
    assert_eq!(out.code, 1, "{}", out.render());
    assert!(
        out.stdout.contains("failed (interrupted)"),
        "{}",
        out.render()
    );
    assert!(
        out.stderr.contains("Error: pipeline slow was interrupted"),
        "{}",
        out.render()
    );
    let e = evolution(&env, &code);
    assert_eq!(e["status"], "fail");
    assert_eq!(e["note"], "interrupted");
}

#[test]
fn two_runs_without_an_evolution_in_a_row() {
    let env = with_contract();
    env.write_pipeline("ok", "true");
    env.run(&["run", "ok"]).ok();
    let out = env.run(&["run", "ok"]);
    assert_eq!(out.code, 0, "{}", out.render());
    let runs = env.run(&["pipeline", "runs", "--json"]).ok().json();
    assert_eq!(runs.as_array().unwrap().len(), 2);
}

#[test]
fn prove_after_a_run_without_an_evolution() {
    let env = with_contract();
    env.write_pipeline("ok", "true");
    let code = start(&env, "FEAT-1");
    let other = start(&env, "BUG-2");
    env.run(&["evolution", "prove", &other, "--pipeline", "ok"])
        .ok();
    env.run(&["run", "ok"]).ok(); // no current evolution any more
    let out = env.run(&["evolution", "prove", &code, "--pipeline", "ok"]);
    assert_eq!(out.code, 0, "{}", out.render());
    assert_eq!(evolution(&env, &code)["status"], "pass");
}

#[test]
fn pipeline_runs_are_newest_first_under_a_fixed_clock() {
    let env = with_contract();
    for name in ["one", "two", "three"] {
        env.write_pipeline(name, "true");
    }
    for name in ["one", "two", "three"] {
        start(&env, "FEAT-1");
        env.run(&["run", name]).ok();
    }
    let j = env.run(&["pipeline", "runs", "--json"]).ok().json();
    let order: Vec<_> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pipeline"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["three", "two", "one"]);
}

/// A step whose `cwd` does not exist cannot start: it fails with exit code 127 and says why,
/// instead of looking "killed".
#[test]
fn a_step_with_a_missing_cwd_fails_and_says_why() {
    let env = TestEnv::with_contract("");
    env.write(
        ".gryt/pipelines/ci.yaml",
        "steps:\n  - run: 'true'\n    cwd: no/such/dir\n",
    );
    env.run(&["evolution", "start", "1.2.0", "--change", "FEAT-1"])
        .ok();
    let out = env.run(&["run", "ci"]).fails(1);
    assert!(
        out.stderr.contains("cannot start the step in no/such/dir"),
        "{}",
        out.render()
    );
    assert!(out.stderr.contains("exit code 127"), "{}", out.render());
    let list = env
        .run(&["evolution", "list", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(list[0]["status"], "fail");
}

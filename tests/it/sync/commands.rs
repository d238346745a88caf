//! Sync commands the workflows do not exercise: push-evolutions, status --offline,
//! keep-remote, dry runs, and the one-sync-at-a-time lock.

use std::sync::atomic::Ordering;

use super::proxy::proxy;
use super::{assert_stdout_has, dev, feed, feed_versions, on_terminal, prove, team};

/// `push-evolutions VERSION` sends that generation's evolutions and nothing else.
#[test]
fn push_evolutions_sends_only_evolutions() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["generation", "new", "2.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    let tag = prove(a, "1.0.0", "CHANGE-1", "ok");
    prove(a, "2.0.0", "CHANGE-1", "ok");
    a.env
        .write_contract("v1.0.0", &[("add", "CHANGE-1", "Edited")], "");
    a.run(&["generation", "update", "1.0.0"]).ok();
    let pushed = a
        .run(&["sync", "push-evolutions", "1.0.0", "--json"])
        .ok()
        .json();
    assert_eq!(pushed["created"], serde_json::json!([tag]));
    assert_eq!(pushed["updated"], serde_json::json!([]));
    let st = a.run(&["sync", "status", "--json"]).ok().json();
    assert_eq!(
        st["pending"],
        serde_json::json!(["v1.0.0"]),
        "the edited contract stays pending"
    );
    assert_eq!(st["local_only"], serde_json::json!(["v2.0.0-rc.1"]));
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(
        pulled["new"],
        serde_json::json!(["v1.0.0", "v2.0.0", "v1.0.0-rc.1"])
    );
}

/// `status --offline` makes no request: it answers with the cloud gone, as of the last pull.
#[test]
fn status_offline_makes_no_request() {
    let (server, devs) = team(&["ann"]);
    drop(devs);
    let p = proxy(server.base.clone(), 0);
    let a = dev(&server, "ann", &p.url);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "pull"]).ok();
    p.down.store(true, Ordering::SeqCst);
    let st = a
        .run(&["sync", "status", "--offline", "--json"])
        .ok()
        .json();
    assert_eq!(st["offline"], true);
    assert_eq!(st["behind"], serde_json::Value::Null);
    assert_eq!(st["local_only"], serde_json::json!(["v1.0.0"]));
    assert!(st["last_pull"].is_string());
    // without --offline, an unreachable cloud is reported, not an error
    let out = a.run(&["sync", "status"]).ok();
    assert!(out.stdout.contains("Offline ("), "{}", out.render());
}

/// keep-remote: the local edit of a draft changed on both sides gives way to the cloud's on
/// the next pull, contract file included.
#[test]
fn keep_remote_takes_the_clouds_version() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    a.env
        .write_contract("v1.0.0", &[("add", "A-1", "Ann's")], "");
    a.run(&["generation", "update", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.env
        .write_contract("v1.0.0", &[("add", "B-1", "Bob's")], "");
    b.run(&["generation", "update", "1.0.0"]).ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["conflicts"][0]["reason"], "both_changed");
    let id = b.run(&["sync", "conflicts", "--json"]).ok().json()[0]["id"].to_string();
    b.run(&["sync", "resolve", &id, "--strategy", "keep-remote"])
        .ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(
        pulled["updated"],
        serde_json::json!(["v1.0.0"]),
        "{pulled:#}"
    );
    let file = b.env.read(".gryt/generations/v1.0.0.yaml");
    assert!(file.contains("A-1") && !file.contains("B-1"), "{file}");
    let st = b.run(&["sync", "status", "--json"]).ok().json();
    assert_eq!(st["conflicts"], serde_json::json!([]));
    assert_eq!(st["pending"], serde_json::json!([]));
    // the settled conflict is kept, shown with --all
    assert_eq!(
        b.run(&["sync", "conflicts", "--json"]).ok().json(),
        serde_json::json!([])
    );
    let all = b.run(&["sync", "conflicts", "--all", "--json"]).ok().json();
    assert_eq!(all[0]["id"].to_string(), id);
    assert_eq!(all[0]["resolution"], "keep-remote");
    assert!(all[0]["resolved_at"].is_string());
    let out = b.run(&["sync", "conflicts", "--all"]).ok();
    assert!(out.stdout.contains("keep-remote"), "{}", out.render());
    assert!(!out.stderr.contains("Resolve one"), "{}", out.render());
}

/// Dry runs say what would happen and change nothing, here or in the cloud.
#[test]
fn dry_runs_change_nothing() {
    let (server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["generation", "new", "2.0.0"]).ok();
    let before = b.state();
    let pull = b.run(&["sync", "pull", "--dry-run", "--json"]).ok().json();
    assert_eq!(pull["new"], serde_json::json!(["v1.0.0"]));
    assert_eq!(pull["dry_run"], true);
    let push = b.run(&["sync", "push", "--dry-run", "--json"]).ok().json();
    assert_eq!(push["created"], serde_json::json!(["v2.0.0"]));
    assert!(b.state() == before, "a dry run changed the local store");
    assert!(!b.env.path(".gryt/generations/v1.0.0.yaml").exists());
    let head = server
        .client()
        .login("ann")
        .get("/v1/projects/acme/web")
        .ok()["head"]
        .clone();
    assert_eq!(head, 1, "a dry run pushed");
}

/// One sync at a time: a second one waits a few seconds, then says why it gives up.
#[test]
fn a_second_sync_waits_then_gives_up_clearly() {
    let (_server, devs) = team(&["ann"]);
    let a = &devs[0];
    let lock = super::hold_sync_lock(a);
    let started = std::time::Instant::now();
    let before = a.state();
    let out = a.run(&["sync", "pull"]).fails(1);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(4),
        "it did not wait"
    );
    assert!(
        out.stderr
            .contains("Waiting for another sync in this repository to finish")
            && out
                .stderr
                .contains("another sync is running in this repository"),
        "{}",
        out.render()
    );
    assert!(a.state() == before);
    let log = a.run(&["sync", "log", "--json"]).ok().json();
    assert_eq!(log[0]["result"], "error", "the time-out is logged: {log:#}");
    assert!(
        log[0]["error"]
            .as_str()
            .unwrap()
            .contains("another sync is running"),
        "{log:#}"
    );
    lock.unlock().unwrap();
    a.run(&["sync", "pull"]).ok();
}

/// On a terminal a push or pull that takes over a second shows a progress bar (step,
/// records, bytes, a rounded rate); a pull counts from its first page to the head; --quiet
/// shows none.
#[test]
fn slow_syncs_show_a_progress_bar_on_a_terminal() {
    let (server, devs) = team(&["ann", "bob"]);
    drop(devs);
    let p = proxy(server.base.clone(), 0);
    let (a, b) = (dev(&server, "ann", &p.url), dev(&server, "bob", &p.url));
    for v in ["1.0.0", "2.0.0", "3.0.0"] {
        a.run(&["generation", "new", v]).ok();
    }
    p.delay_ms.store(400, Ordering::SeqCst);
    let shown = on_terminal(&a, &["sync", "push"], &[("GRYT_SYNC_BATCH_RECORDS", "1")]);
    assert!(shown.contains("pushing ["), "{shown}");
    assert!(shown.contains("3/3 records"), "{shown}");
    assert!(
        shown.contains(" B, ") || shown.contains("KiB"),
        "bytes: {shown}"
    );
    assert_rates_rounded(&shown);
    assert!(shown.contains("Pushed to acme/web"), "{shown}");

    // Three pages of one change each: the bar ends at 3/3, the first page counted.
    let shown = on_terminal(&b, &["sync", "pull"], &[("GRYT_SYNC_PAGE_LIMIT", "1")]);
    assert!(shown.contains("pulling ["), "{shown}");
    assert!(shown.contains("3/3 changes"), "{shown}");
    assert_rates_rounded(&shown);
    assert!(shown.contains("Pulled from acme/web"), "{shown}");

    // `gryt sync` says which of its two steps is running.
    for v in ["7.0.0", "8.0.0", "9.0.0"] {
        b.run(&["generation", "new", v]).ok();
    }
    a.run(&["generation", "new", "4.0.0"]).ok();
    a.run(&["generation", "new", "5.0.0"]).ok();
    a.run(&["generation", "new", "6.0.0"]).ok();
    let shown = on_terminal(
        &a,
        &["--quiet", "sync", "push"],
        &[("GRYT_SYNC_BATCH_RECORDS", "1")],
    );
    assert!(!shown.contains("pushing ["), "{shown}");
    assert_eq!(
        a.run(&["sync", "status", "--json"]).ok().json()["local_only"],
        serde_json::json!([])
    );
    let shown = on_terminal(
        &b,
        &["sync"],
        &[
            ("GRYT_SYNC_PAGE_LIMIT", "1"),
            ("GRYT_SYNC_BATCH_RECORDS", "1"),
        ],
    );
    assert!(shown.contains("step 1 of 2: pulling ["), "{shown}");
    assert!(shown.contains("3/3 changes"), "{shown}");
    assert!(shown.contains("step 2 of 2: pushing ["), "{shown}");
    assert!(shown.contains("3/3 records"), "{shown}");

    // A full resync reads the whole project: it says so and counts from the first change.
    let shown = on_terminal(
        &b,
        &["sync", "pull", "--full"],
        &[("GRYT_SYNC_PAGE_LIMIT", "1")],
    );
    assert!(
        shown.contains("full resync: reading and matching every record ["),
        "{shown}"
    );
    assert!(shown.contains("9/9 changes"), "{shown}");
}

/// Every `N/s` on the terminal has at most one decimal (`2.5/s`, `1,092/s`).
#[track_caller]
fn assert_rates_rounded(shown: &str) {
    let mut rates = 0;
    for (at, _) in shown.match_indices("/s") {
        let figure: String = shown[..at]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
            .collect();
        if figure.is_empty() {
            continue;
        }
        rates += 1;
        let decimals = figure.split_once('.').map_or(0, |(d, _)| d.len());
        assert!(decimals <= 1, "rate with {decimals} decimals: {shown}");
    }
    assert!(rates > 0, "no rate shown: {shown}");
}

/// A push in many batches (the next is read while one is on its way) sends every record
/// once, each generation before its evolutions and each evolution before its run.
#[test]
fn a_push_in_small_batches_sends_each_record_once_in_order() {
    let (server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    for v in ["1.0.0", "2.0.0"] {
        a.run(&["generation", "new", v]).ok();
        prove(a, v, "CHANGE-1", "ok");
    }
    let out = a
        .env
        .command(&a.env.repo, &["sync", "push", "--json"])
        .env("GRYT_SYNC_BATCH_RECORDS", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let pushed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        pushed["requests"], 6,
        "2 generations, 2 evolutions, 2 runs: {pushed:#}"
    );
    let mut created: Vec<&str> = pushed["created"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    created.sort();
    assert_eq!(created, ["v1.0.0", "v1.0.0-rc.1", "v2.0.0", "v2.0.0-rc.1"]);
    let records = feed(&server);
    assert_eq!(records.len(), 6, "each record once: {records:#?}");
    let seq_of = |id: &serde_json::Value| {
        records
            .iter()
            .find(|r| r["record"]["id"] == *id)
            .map(|r| r["record"]["seq"].as_u64().unwrap())
            .expect("in the feed")
    };
    for r in &records {
        let (seq, parent) = match r["kind"].as_str().unwrap() {
            "evolution" => (r["record"]["seq"].as_u64(), &r["record"]["generation_id"]),
            "pipeline_run" => (r["record"]["seq"].as_u64(), &r["record"]["evolution_id"]),
            _ => continue,
        };
        assert!(seq.unwrap() > seq_of(parent), "{r:#}");
    }
    let again = a.run(&["sync", "push", "--json"]).ok().json();
    assert_eq!(again["requests"], 0, "{again:#}");
    b.run(&["sync", "pull"]).ok();
    let listed = b.run(&["evolution", "list", "2.0.0", "--json"]).ok().json();
    assert_eq!(listed[0]["status"], "pass", "{listed:#}");
}

/// A record edited while its push is on its way goes out again in the same push, with the
/// new content (its answer had only the old one).
#[test]
fn a_record_edited_during_its_push_goes_out_again_in_the_same_push() {
    let (server, devs) = team(&["ann"]);
    drop(devs);
    let p = proxy(server.base.clone(), 0);
    let a = dev(&server, "ann", &p.url);
    a.run(&["generation", "new", "1.0.0"]).ok();
    p.answer_delay_ms.store(1500, Ordering::SeqCst);
    let push = a
        .env
        .command(&a.env.repo, &["sync", "push", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The cloud has the push; its answer is held back 1.5 s: edit meanwhile.
    p.wait_for_pushes(1);
    a.env
        .write_contract("v1.0.0", &[("add", "CHANGE-1", "Edited meanwhile")], "");
    a.run(&["generation", "update", "1.0.0"]).ok();
    let out = push.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let pushed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pushed["requests"], 2, "{pushed:#}");
    let records = feed(&server);
    assert_eq!(
        records[0]["record"]["changes"][0]["title"], "Edited meanwhile",
        "{records:#?}"
    );
    let list = a.run(&["generation", "list", "--json"]).ok().json();
    assert_eq!(list[0]["sync_status"], "synced", "{list:#}");
}

/// A version that is not here is an error, not "Everything up to date"; evolutions of a
/// generation the cloud does not have yet have nowhere to go.
#[test]
fn unknown_versions_are_refused() {
    let (_server, devs) = team(&["ann"]);
    let a = &devs[0];
    a.run(&["generation", "new", "1.0.0"]).ok();
    let before = a.state();
    for args in [
        &["sync", "push", "9.9.9"][..],
        &["sync", "push-evolutions", "9.9.9"],
        &["sync", "diff", "9.9.9"],
    ] {
        let out = a.run(args).fails(1);
        assert!(
            out.stderr.contains("v9.9.9") && out.stderr.contains("gryt generation list"),
            "{args:?}: {}",
            out.render()
        );
    }
    let out = a.run(&["sync", "push-evolutions", "1.0.0"]).fails(1);
    assert!(
        out.stderr.contains("v1.0.0 is not in the cloud yet")
            && out.stderr.contains("gryt sync push v1.0.0"),
        "{}",
        out.render()
    );
    assert!(a.state() == before);
}

/// What scripts read: `gryt sync --json` is one document; a pull's conflicts carry the
/// number `resolve` takes; a push held back by a conflict exits 3 with a non-null `rejected`.
#[test]
fn json_for_scripts() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    let both = a.run(&["sync", "--json"]).ok().json();
    assert_eq!(both["pull"]["new"], serde_json::json!([]), "{both:#}");
    assert_eq!(both["push"]["created"], serde_json::json!(["v1.0.0"]));
    assert_eq!(both["push"]["rejected"], serde_json::Value::Null);

    b.run(&["generation", "new", "1.0.0"]).ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    let id = pulled["conflicts"][0]["id"]
        .as_i64()
        .expect("a conflict id");
    let listed = b.run(&["sync", "conflicts", "--json"]).ok().json();
    assert_eq!(listed[0]["id"].as_i64(), Some(id));
    let out = b.run(&["sync", "push", "--json"]).fails(3);
    let pushed = out.json();
    assert_eq!(pushed["rejected"]["error"], "conflict", "{pushed:#}");
    assert_eq!(
        pushed["rejected"]["details"]["conflicts"][0]["subject"],
        "v1.0.0"
    );
    assert_eq!(
        pushed["rejected"]["details"]["conflicts"][0]["strategies"],
        "rename --value VERSION"
    );
}

/// Ctrl-C in the middle of a pull or a push (small pages and batches over a slow link)
/// leaves the repository consistent, and the next sync completes the work exactly once.
#[test]
fn an_interrupted_sync_is_completed_by_the_next() {
    let (server, devs) = team(&["ann", "bob"]);
    drop(devs);
    let p = proxy(server.base.clone(), 0);
    let (a, b) = (dev(&server, "ann", &p.url), dev(&server, "bob", &p.url));
    let versions: Vec<String> = (1..=12).map(|n| format!("{n}.0.0")).collect();
    for v in &versions {
        a.run(&["generation", "new", v]).ok();
    }
    p.delay_ms.store(150, Ordering::SeqCst);
    let interrupt = |dev: &super::Dev, args: &[&str], env: (&str, &str)| {
        let before = p.connections.load(Ordering::SeqCst);
        let mut child = dev
            .env
            .command(&dev.env.repo, args)
            .env(env.0, env.1)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Interrupted in the middle: once its third request (a push batch or a page) is out.
        p.wait_for_connections(before + 3);
        let killed = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert!(!status.success(), "{args:?} finished before the interrupt");
    };
    interrupt(&a, &["sync", "push"], ("GRYT_SYNC_BATCH_RECORDS", "1"));
    let pushed_first = feed_versions(&server);
    assert!(
        pushed_first.len() < versions.len(),
        "nothing left to finish"
    );
    let pushed = a.run(&["sync", "push", "--json"]).ok().json();
    let mut all = feed_versions(&server);
    all.sort();
    let mut expected: Vec<String> = versions.iter().map(|v| format!("v{v}")).collect();
    expected.sort();
    assert_eq!(all, expected, "each version once in the cloud");
    // Everything the first push left is created now. The batch in flight at the interrupt
    // may have reached the cloud after it (the link is slow): replayed, it is reported here.
    let created: Vec<&str> = pushed["created"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for v in &expected {
        assert!(
            pushed_first.contains(v) || created.contains(&v.as_str()),
            "{v} neither pushed before nor now: {pushed:#}"
        );
    }
    assert!(
        created.len() <= versions.len() - pushed_first.len() + 1,
        "{pushed:#}"
    );

    interrupt(&b, &["sync", "pull"], ("GRYT_SYNC_PAGE_LIMIT", "1"));
    let st = b.run(&["sync", "status", "--json"]).ok().json();
    assert!(st["behind"].as_u64().unwrap() > 0, "{st:#}");
    b.run(&["sync", "pull"]).ok();
    let list = b.run(&["generation", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), versions.len());
    for g in list.as_array().unwrap() {
        assert_eq!(g["sync_status"], "synced", "{g:#}");
        let v = g["version"].as_str().unwrap();
        assert!(b.env.path(&format!(".gryt/generations/{v}.yaml")).exists());
    }
    assert_eq!(
        b.run(&["status", "--json"]).ok().json()["contracts"],
        serde_json::json!([]),
        "every contract file matches its generation"
    );
}

/// Lists of versions stay short after a large sync: the first ten and how many more;
/// --verbose lists them all and --json always does.
#[test]
fn long_lists_show_the_first_ten_unless_verbose() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    for i in 1..=30 {
        a.run(&["generation", "new", &format!("{i}.0.0")]).ok();
    }
    // How many versions the line starting with `label` names.
    let listed = |out: &crate::common::Out, label: &str| -> usize {
        let line = out
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line:\n{}", out.render()));
        line.matches(".0.0").count()
    };
    let more = ", … and 20 more (--verbose lists all)";

    let out = a.run(&["sync", "push", "--dry-run"]).ok();
    assert_eq!(listed(&out, "created"), 10, "{}", out.render());
    assert_stdout_has(&out, more);
    let out = a.run(&["sync", "push", "--dry-run", "--verbose"]).ok();
    assert_eq!(listed(&out, "created"), 30, "{}", out.render());
    assert!(!out.stdout.contains("more"), "{}", out.render());
    let out = a.run(&["sync", "push"]).ok();
    assert_eq!(listed(&out, "created"), 10, "{}", out.render());

    let out = b.run(&["sync", "status"]).ok();
    assert_eq!(listed(&out, "Behind the cloud"), 10, "{}", out.render());
    assert_stdout_has(&out, more);
    let out = b.run(&["sync", "status", "-v"]).ok();
    assert_eq!(listed(&out, "Behind the cloud"), 30, "{}", out.render());
    let out = b.run(&["sync", "pull", "--dry-run"]).ok();
    assert_eq!(listed(&out, "new"), 10, "{}", out.render());
    assert_stdout_has(&out, more);
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["new"].as_array().unwrap().len(), 30);
}

/// The saved body of a push whose answer was lost is read bounded: something that is not a
/// regular file in its place (here a FIFO, which a plain read waits on forever) is not
/// replayed; its records are still pending and the push goes through.
#[cfg(unix)]
#[test]
fn a_saved_push_body_that_is_not_a_file_is_ignored() {
    let (server, devs) = team(&["ann"]);
    let a = &devs[0];
    a.run(&["generation", "new", "1.0.0"]).ok();
    let fifo = a.env.path(".gryt/gryt.db-push");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let db = rusqlite::Connection::open(a.env.path(".gryt/gryt.db")).unwrap();
    db.execute(
        "INSERT OR REPLACE INTO sync_metadata (key, value) VALUES ('inflight_push', ?1)",
        ["0".repeat(64)],
    )
    .unwrap();
    drop(db);
    let out = a.run(&["sync", "push"]).ok();
    assert_stdout_has(&out, "created    v1.0.0");
    assert_eq!(super::feed_versions(&server), ["v1.0.0"]);
}

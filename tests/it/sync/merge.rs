//! The live team: who a change is assigned to travels with the contract, and a draft changed
//! on both sides is merged (`gryt sync resolve ID --strategy merge`, `sync.auto_resolve
//! merge`) — against a real cloud, each developer in a HOME of their own.

use serde_json::json;

use super::{Dev, assert_stderr_has, assert_stdout_has, prove, team};

const FILE: &str = ".gryt/generations/v1.0.0.yaml";

/// Writes v1.0.0's contract: `changes` as `(id, title, assignee)`.
fn write(dev: &Dev, description: &str, changes: &[(&str, &str, Option<&str>)]) {
    let mut s = format!("version: v1.0.0\ndescription: {description}\nchanges:\n");
    for (id, title, assignee) in changes {
        s.push_str(&format!(
            "  - type: add\n    id: {id}\n    title: {title}\n"
        ));
        if let Some(a) = assignee {
            s.push_str(&format!("    assignee: {a}\n"));
        }
    }
    dev.env.write(FILE, s);
}

fn apply(dev: &Dev, description: &str, changes: &[(&str, &str, Option<&str>)]) {
    write(dev, description, changes);
    dev.run(&["generation", "update", "1.0.0"]).ok();
}

/// v1.0.0 with A-1 and B-1 pushed by ann and pulled by bob.
fn shared(a: &Dev, b: &Dev) {
    a.run(&["generation", "new", "1.0.0"]).ok();
    apply(a, "base", &[("A-1", "Alpha", None), ("B-1", "Beta", None)]);
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
}

/// The id of the only open conflict, checking its reason.
fn the_conflict(dev: &Dev, reason: &str) -> String {
    let list = dev.run(&["sync", "conflicts", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    assert_eq!(list[0]["reason"], reason, "{list:#}");
    list[0]["id"].to_string()
}

/// Each change of v1.0.0 as `generation show --json` has it: `[id, title, assignee]`.
fn changes(dev: &Dev) -> Vec<(String, String, Option<String>)> {
    let show = dev
        .run(&["generation", "show", "1.0.0", "--json"])
        .ok()
        .json();
    show["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["title"].as_str().unwrap().to_string(),
                c["assignee"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn owned(list: &[(&str, &str, Option<&str>)]) -> Vec<(String, String, Option<String>)> {
    list.iter()
        .map(|(i, t, a)| (i.to_string(), t.to_string(), a.map(str::to_string)))
        .collect()
}

#[test]
fn assignees_travel_and_status_mine_lists_what_waits_for_you() {
    let (server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    // A name that is no account name is refused with its line, and nothing changes.
    write(
        a,
        "d",
        &[
            ("A-1", "Alpha", Some("ann")),
            ("B-1", "Beta", Some("Bob Smith")),
        ],
    );
    let out = a.run(&["generation", "update", "1.0.0"]).fails(1);
    assert_stderr_has(
        &out,
        "v1.0.0.yaml:11: changes[1].assignee: invalid account name `Bob Smith`",
    );
    assert_eq!(changes(a)[0].2, None);

    let wanted = [
        ("A-1", "Alpha", Some("ann")),
        ("B-1", "Beta", Some("bob")),
        ("C-1", "Gamma", None),
    ];
    apply(a, "d", &wanted);
    a.run(&["sync", "push"]).ok();
    // The cloud keeps it as sent, and leaves it out of a change that has none.
    let feed = super::feed(&server);
    let sent = &feed[0]["record"]["changes"];
    assert_eq!(sent[1]["assignee"], "bob", "{sent:#}");
    assert!(sent[2].get("assignee").is_none(), "{sent:#}");

    b.run(&["sync", "pull"]).ok();
    assert_eq!(changes(b), owned(&wanted));
    assert!(b.env.read(FILE).contains("assignee: bob"));
    // Both sides hash the records alike.
    b.run(&["sync", "verify"]).ok();

    let status = b
        .run(&["sync", "status", "1.0.0", "--offline", "--json"])
        .ok()
        .json();
    assert_eq!(
        status["generation"]["changes"][1]["assignee"], "bob",
        "{status:#}"
    );
    let shown = b.run(&["sync", "status", "1.0.0", "--offline"]).ok();
    assert!(
        shown.stdout.contains("ASSIGNEE")
            && shown
                .stdout
                .lines()
                .any(|l| l.starts_with("B-1") && l.contains("bob")),
        "{}",
        shown.render()
    );
    let shown = b.run(&["generation", "show", "1.0.0"]).ok();
    assert!(
        shown
            .stdout
            .lines()
            .any(|l| l.contains("B-1") && l.contains("bob")),
        "{}",
        shown.render()
    );
    let st = b.run(&["status"]).ok();
    assert_stdout_has(&st, "assigned: ann 1 (1 open), bob 1 (1 open)");

    let mine = b.run(&["status", "--mine", "--json"]).ok().json();
    assert_eq!(mine["account"], "bob");
    let listed: Vec<&str> = mine["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["change_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["B-1"]);
    let text = b.run(&["status", "--mine"]).ok();
    assert_stdout_has(&text, "B-1");
    assert!(!text.stdout.contains("A-1"), "{}", text.render());

    // A failed proof is no proof; a passing one takes it off the list.
    prove(b, "1.0.0", "B-1", "bad");
    let mine = b.run(&["status", "--mine", "--json"]).ok().json();
    assert_eq!(mine["changes"].as_array().unwrap().len(), 1, "{mine:#}");
    prove(b, "1.0.0", "B-1", "ok");
    let mine = b.run(&["status", "--mine", "--json"]).ok().json();
    assert_eq!(mine["changes"], json!([]), "{mine:#}");
    let st = b.run(&["status"]).ok();
    assert_stdout_has(&st, "assigned: ann 1 (1 open), bob 1");
    assert!(!st.stdout.contains("bob 1 ("), "{}", st.render());
    let ann = a.run(&["status", "--mine", "--json"]).ok().json();
    assert_eq!(ann["changes"][0]["change_id"], "A-1", "{ann:#}");
}

#[test]
fn status_mine_needs_a_linked_and_logged_in_workspace() {
    let env = crate::common::TestEnv::init();
    let out = env.run(&["status", "--mine"]).fails(1);
    assert!(out.stderr.contains("not linked"), "{}", out.render());
    assert!(out.stderr.contains("gryt cloud link"), "{}", out.render());
    env.run(&["config", "cloud.url", "http://127.0.0.1:9"]).ok();
    env.run(&["config", "cloud.project", "acme/web"]).ok();
    let out = env.run(&["status", "--mine"]).fails(1);
    assert!(out.stderr.contains("not logged in"), "{}", out.render());
    assert!(out.stderr.contains("gryt cloud login"), "{}", out.render());
}

#[test]
fn merge_keeps_edits_that_do_not_overlap() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    shared(a, b);
    // Ann adds a change and rewrites the description; Bob retitles A-1, assigns B-1, adds his.
    apply(
        a,
        "from ann",
        &[
            ("A-1", "Alpha", None),
            ("B-1", "Beta", None),
            ("N-1", "Ann's new", None),
        ],
    );
    a.run(&["sync", "push"]).ok();
    apply(
        b,
        "base",
        &[
            ("A-1", "Alpha by bob", None),
            ("B-1", "Beta", Some("bob")),
            ("M-1", "Bob's new", None),
        ],
    );
    b.run(&["sync", "pull"]).ok();
    let id = the_conflict(b, "both_changed");

    let out = b.run(&["sync", "resolve", &id, "--strategy", "merge"]).ok();
    assert_stdout_has(
        &out,
        "Merged your v1.0.0 with the cloud's; from the cloud: description, changes.N-1",
    );
    let merged = [
        ("A-1", "Alpha by bob", None),
        ("B-1", "Beta", Some("bob")),
        ("M-1", "Bob's new", None),
        ("N-1", "Ann's new", None),
    ];
    assert_eq!(changes(b), owned(&merged));
    // The contract file says the same: nothing left to apply.
    let file = b.env.read(FILE);
    assert!(
        file.contains("from ann") && file.contains("N-1") && file.contains("M-1"),
        "{file}"
    );
    let st = b.run(&["status", "--json"]).ok().json();
    assert_eq!(st["contracts"], json!([]), "{st:#}");
    let all = b.run(&["sync", "conflicts", "--all", "--json"]).ok().json();
    assert_eq!(all[0]["resolution"], "merge", "{all:#}");
    assert!(all[0].get("resolved_by").is_none(), "{all:#}");

    b.run(&["sync", "push"]).ok();
    a.run(&["sync", "pull"]).ok();
    assert_eq!(changes(a), owned(&merged));
    assert_eq!(
        a.run(&["generation", "show", "1.0.0", "--json"])
            .ok()
            .json()["description"],
        "from ann"
    );
    a.run(&["sync", "verify"]).ok();
    b.run(&["sync", "verify"]).ok();
}

#[test]
fn a_real_field_conflict_stays_a_conflict() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    shared(a, b);
    apply(
        a,
        "base",
        &[("A-1", "Ann's title", None), ("B-1", "Beta", None)],
    );
    a.run(&["sync", "push"]).ok();
    apply(
        b,
        "bob's text",
        &[("A-1", "Bob's title", None), ("B-1", "Beta", None)],
    );
    b.run(&["sync", "pull"]).ok();
    let id = the_conflict(b, "both_changed");
    let file = b.env.read(FILE);
    let db = changes(b);

    let out = b
        .run(&["sync", "resolve", &id, "--strategy", "merge"])
        .fails(1);
    assert_stderr_has(&out, "1 field changed differently on both sides");
    assert_stderr_has(
        &out,
        r#"changes.A-1.title: base "Alpha", yours "Bob's title", cloud's "Ann's title""#,
    );
    assert!(!out.stderr.contains("description:"), "{}", out.render());
    // Nothing changed: the conflict is open, the database and the file are as they were.
    the_conflict(b, "both_changed");
    assert_eq!(b.env.read(FILE), file);
    assert_eq!(changes(b), db);
    // The other strategies still settle it.
    b.run(&["sync", "resolve", &id, "--strategy", "keep-local"])
        .ok();
    b.run(&["sync", "push"]).ok();
}

#[test]
fn merge_fits_drafts_changed_on_both_sides_only() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "2.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["generation", "new", "2.0.0"]).ok();
    b.run(&["sync", "pull"]).ok();
    let id = the_conflict(b, "version_taken");
    let out = b
        .run(&["sync", "resolve", &id, "--strategy", "merge"])
        .fails(1);
    assert_stderr_has(
        &out,
        "merge combines a draft generation changed on both sides only",
    );
    the_conflict(b, "version_taken");
}

#[test]
fn auto_resolve_merges_clean_drafts_on_pull_and_logs_it() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    let out = b.run(&["config", "sync.auto_resolve", "always"]).fails(1);
    assert_stderr_has(&out, "expected one of merge, none");
    b.run(&["config", "sync.auto_resolve", "merge"]).ok();
    shared(a, b);

    // Clean: merged by the pull.
    apply(
        a,
        "base",
        &[
            ("A-1", "Alpha", None),
            ("B-1", "Beta", None),
            ("N-1", "Ann's", None),
        ],
    );
    a.run(&["sync", "push"]).ok();
    apply(
        b,
        "base",
        &[("A-1", "Alpha", Some("bob")), ("B-1", "Beta", None)],
    );
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["conflicts"], json!([]), "{pulled:#}");
    assert_eq!(pulled["merged"][0]["subject"], "v1.0.0", "{pulled:#}");
    assert_eq!(
        changes(b),
        owned(&[
            ("A-1", "Alpha", Some("bob")),
            ("B-1", "Beta", None),
            ("N-1", "Ann's", None)
        ])
    );
    let log = b.run(&["sync", "conflicts", "--all", "--json"]).ok().json();
    assert_eq!(log.as_array().unwrap().len(), 1, "{log:#}");
    assert_eq!(log[0]["resolved_by"], "auto", "{log:#}");
    assert_eq!(log[0]["resolution"], "merge (auto)", "{log:#}");
    assert!(log[0]["resolved_at"].is_string(), "{log:#}");
    assert_stdout_has(&b.run(&["sync", "conflicts", "--all"]).ok(), "merge (auto)");
    b.run(&["sync", "push"]).ok();
    a.run(&["sync", "pull"]).ok();
    assert_eq!(changes(a)[0].2.as_deref(), Some("bob"));

    // Not clean: it stays a conflict, as without the setting.
    apply(
        a,
        "base",
        &[
            ("A-1", "Ann again", Some("bob")),
            ("B-1", "Beta", None),
            ("N-1", "Ann's", None),
        ],
    );
    a.run(&["sync", "push"]).ok();
    apply(
        b,
        "base",
        &[
            ("A-1", "Bob again", Some("bob")),
            ("B-1", "Beta", None),
            ("N-1", "Ann's", None),
        ],
    );
    let out = b.run(&["sync", "pull"]).ok();
    assert!(!out.stdout.contains("merged"), "{}", out.render());
    assert_stdout_has(&out, "conflicts");
    the_conflict(b, "both_changed");
    assert_eq!(changes(b)[0].1, "Bob again");

    // Off again (none): a clean one is left to you.
    b.run(&[
        "sync",
        "resolve",
        &the_conflict(b, "both_changed"),
        "--strategy",
        "keep-remote",
    ])
    .ok();
    b.run(&["sync", "pull"]).ok();
    b.run(&["config", "sync.auto_resolve", "none"]).ok();
    apply(
        a,
        "base",
        &[
            ("A-1", "Ann again", Some("bob")),
            ("B-1", "Beta 2", None),
            ("N-1", "Ann's", None),
        ],
    );
    a.run(&["sync", "push"]).ok();
    apply(
        b,
        "base",
        &[
            ("A-1", "Ann again", Some("bob")),
            ("B-1", "Beta", None),
            ("N-1", "Ann's", Some("bob")),
        ],
    );
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert!(pulled.get("merged").is_none(), "{pulled:#}");
    the_conflict(b, "both_changed");
}

/// Edits of the contract file never applied are yours too: the merge takes them, against the
/// database's copy (what was last synced), and the file and the database agree afterwards.
#[test]
fn merge_takes_unapplied_edits_of_the_contract_file() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    shared(a, b);
    apply(
        a,
        "base",
        &[("A-1", "Alpha", None), ("B-1", "Beta by ann", None)],
    );
    a.run(&["sync", "push"]).ok();
    // Written, not applied.
    write(
        b,
        "base",
        &[
            ("A-1", "Alpha", Some("bob")),
            ("B-1", "Beta", None),
            ("M-1", "Bob's", None),
        ],
    );
    b.run(&["sync", "pull"]).ok();
    let id = the_conflict(b, "both_changed");
    b.run(&["sync", "resolve", &id, "--strategy", "merge"]).ok();
    let merged = [
        ("A-1", "Alpha", Some("bob")),
        ("B-1", "Beta by ann", None),
        ("M-1", "Bob's", None),
    ];
    assert_eq!(changes(b), owned(&merged));
    let st = b.run(&["status", "--json"]).ok().json();
    assert_eq!(st["contracts"], json!([]), "{st:#}");
    b.run(&["sync", "push"]).ok();
    a.run(&["sync", "pull"]).ok();
    assert_eq!(changes(a), owned(&merged));
}

/// A generation promoted in the cloud never changes: merging your edit into it is refused and
/// changes nothing; auto_resolve leaves it a conflict.
#[test]
fn a_promoted_generation_is_not_merged() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    b.run(&["config", "sync.auto_resolve", "merge"]).ok();
    a.run(&["generation", "new", "1.0.0"]).ok();
    apply(a, "base", &[("A-1", "Alpha", None)]);
    prove(a, "1.0.0", "A-1", "ok");
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    apply(b, "base", &[("A-1", "Alpha", Some("bob"))]);
    a.run(&["promote", "1.0.0", "--no-tag"]).ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert!(pulled.get("merged").is_none(), "{pulled:#}");
    let id = the_conflict(b, "both_changed");
    let file = b.env.read(FILE);
    let out = b
        .run(&["sync", "resolve", &id, "--strategy", "merge"])
        .fails(1);
    assert_stderr_has(
        &out,
        "only drafts merge (yours is draft, the cloud's is promoted)",
    );
    the_conflict(b, "both_changed");
    assert_eq!(b.env.read(FILE), file);
    assert_eq!(changes(b)[0].2.as_deref(), Some("bob"));
}

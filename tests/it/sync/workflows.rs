//! The team workflows of the sync issue, numbered as there.

use super::{Dev, assert_stderr_has, assert_stdout_has, prove, team};

fn contract(dev: &Dev, version: &str, changes: &[(&str, &str, &str)]) {
    dev.env
        .write_contract(version, changes, "pipeline_template: ok\n");
}

/// A draft `version` with these changes, applied to the database.
fn draft(dev: &Dev, version: &str, changes: &[(&str, &str, &str)]) {
    dev.run(&["generation", "new", version]).ok();
    contract(dev, &format!("v{version}"), changes);
    dev.run(&["generation", "update", version]).ok();
}

fn evolutions(dev: &Dev, version: &str) -> serde_json::Value {
    dev.run(&["evolution", "list", version, "--json"])
        .ok()
        .json()
}

/// `gryt generation show VERSION --json`.
fn generation(dev: &Dev, version: &str) -> serde_json::Value {
    dev.run(&["generation", "show", version, "--json"])
        .ok()
        .json()
}

/// The id of the first open conflict.
fn first_conflict_id(dev: &Dev) -> String {
    dev.run(&["sync", "conflicts", "--json"]).ok().json()[0]["id"]
        .as_i64()
        .unwrap()
        .to_string()
}

#[track_caller]
fn assert_no_conflicts(dev: &Dev) {
    assert_eq!(
        dev.run(&["sync", "conflicts", "--json"]).ok().json(),
        serde_json::json!([])
    );
}

/// Workflow 3: Coordinated release: the lead drafts v2.0.0 with three changes and pushes it; A, B and
/// C each prove one; the lead sees who proved what and "ready for promotion: yes", promotes,
/// and the others pull it promoted.
#[test]
fn coordinated_release() {
    let (_server, devs) = team(&["lead", "ann", "bob", "cid"]);
    let (lead, others) = (&devs[0], &devs[1..]);
    lead.run(&["generation", "new", "2.0.0"]).ok();
    contract(
        lead,
        "v2.0.0",
        &[
            ("add", "FEAT-101", "Search"),
            ("add", "FEAT-102", "Filters"),
            ("fix", "BUG-50", "Crash"),
        ],
    );
    lead.run(&["generation", "update", "2.0.0"]).ok();
    lead.run(&["sync", "push"]).ok();
    for (dev, change) in others.iter().zip(["FEAT-101", "FEAT-102", "BUG-50"]) {
        let pulled = dev.run(&["sync", "pull", "--json"]).ok().json();
        assert_eq!(pulled["new"][0], "v2.0.0", "{}", dev.name);
        // the contract file arrived with the generation
        assert!(
            dev.env
                .read(".gryt/generations/v2.0.0.yaml")
                .contains(change)
        );
        prove(dev, "2.0.0", change, "ok");
        // each pushes after pulling what the others pushed before
        dev.run(&["sync", "pull"]).ok();
        dev.run(&["sync", "push"]).ok();
    }
    lead.run(&["sync", "pull"]).ok();
    let status = lead.run(&["sync", "status", "2.0.0", "--json"]).ok().json();
    assert_eq!(
        status["generation"]["ready_for_promotion"], true,
        "{status:#}"
    );
    let owners: Vec<(String, String)> = status["generation"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["evolutions"][0]["owner"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        owners,
        [
            ("FEAT-101".into(), "ann".into()),
            ("FEAT-102".into(), "bob".into()),
            ("BUG-50".into(), "cid".into())
        ]
    );
    let human = lead.run(&["sync", "status", "2.0.0"]).ok();
    assert_stdout_has(&human, "Ready for promotion: yes");
    assert_eq!(status["behind"], 0);
    assert_eq!(status["pending"], serde_json::json!([]));

    // the lead promotes (with the git tag); everyone's next pull has it promoted
    lead.run(&["promote", "2.0.0"]).ok();
    assert!(
        lead.env
            .git(&["tag", "--list", "v2.0.0"])
            .contains("v2.0.0")
    );
    for dev in others {
        let pulled = dev.run(&["sync", "pull", "--json"]).ok().json();
        assert_eq!(
            pulled["updated"],
            serde_json::json!(["v2.0.0"]),
            "{}",
            dev.name
        );
        let shown = generation(dev, "2.0.0");
        assert_eq!(shown["status"], "promoted", "{}", dev.name);
        assert_eq!(shown["promoted_by"], "lead");
        let st = dev.run(&["sync", "status", "2.0.0"]).ok();
        assert_stdout_has(&st, "Ready for promotion: no, it is promoted already");
    }
}

/// Workflow 4: Version lock: A holds v1.0.0 in the cloud; B's own v1.0.0 cannot be pushed (exit 3,
/// told who holds it and offered v1.0.1 / v1.1.0); after renaming it B pushes fine.
#[test]
fn version_lock() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["generation", "new", "1.0.0", "-d", "mine"]).ok();
    // not pulled yet: behind
    let out = b.run(&["sync", "push"]).fails(3);
    assert_stderr_has(&out, "run gryt sync pull");
    // the pull keeps B's draft and records the conflict
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["conflicts"][0]["reason"], "version_taken");
    assert!(
        b.env.read(".gryt/generations/v1.0.0.yaml").contains("mine"),
        "B's contract file was overwritten"
    );
    let out = b.run(&["sync", "push"]).fails(3);
    assert_stderr_has(&out, "v1.0.0 is held in the cloud by ann");
    assert_stderr_has(&out, "gryt generation rename v1.0.0 v1.0.1 (or v1.1.0)");
    b.run(&["generation", "rename", "1.0.0", "1.0.1"]).ok();
    b.run(&["sync", "pull"]).ok();
    let pushed = b.run(&["sync", "push", "--json"]).ok().json();
    assert_eq!(pushed["created"], serde_json::json!(["v1.0.1"]));
    let list = b.run(&["generation", "list", "--json"]).ok().json();
    let rows: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["version"].as_str().unwrap().into(),
                g["sync_status"].as_str().unwrap().into(),
                g["created_by"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("v1.0.1".into(), "synced".into(), "bob".into()),
            ("v1.0.0".into(), "synced".into(), "ann".into())
        ]
    );
}

/// The version-lock hint is the next command: after `gryt generation rename` as it says,
/// `gryt sync push` sends the renamed draft (the cursor stays past the conflict; the cloud's
/// generation waits in the settled conflict), and the next pull brings the cloud's in.
#[test]
fn rename_as_the_hint_says_then_push() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.2.0", "-d", "ann's"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["generation", "new", "1.2.0", "-d", "bob's"]).ok();
    b.run(&["sync", "pull"]).ok();
    let out = b.run(&["sync", "push"]).fails(3);
    assert_stderr_has(&out, "rename yours: gryt generation rename v1.2.0 v1.2.1");
    b.run(&["generation", "rename", "v1.2.0", "v1.2.1"]).ok();
    let pushed = b.run(&["sync", "push", "--json"]).ok().json();
    assert_eq!(
        pushed["created"],
        serde_json::json!(["v1.2.1"]),
        "{pushed:#}"
    );
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["new"], serde_json::json!(["v1.2.0"]), "{pulled:#}");
    assert!(
        b.env
            .read(".gryt/generations/v1.2.0.yaml")
            .contains("ann's")
    );
    assert!(
        b.env
            .read(".gryt/generations/v1.2.1.yaml")
            .contains("bob's")
    );
    assert_no_conflicts(b);
    // Landed once: the next pull brings nothing.
    let again = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(again["new"], serde_json::json!([]), "{again:#}");
}

/// keep-remote leaves the cursor where it is: a push right after is not `behind`, and the
/// next pull replaces the local copy with the cloud's, which the conflict kept.
#[test]
fn keep_remote_then_push_then_pull() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    contract(a, "v1.0.0", &[("add", "A-1", "Ann's change")]);
    a.run(&["generation", "update", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    contract(b, "v1.0.0", &[("add", "B-1", "Bob's change")]);
    b.run(&["generation", "update", "1.0.0"]).ok();
    b.run(&["generation", "new", "2.0.0"]).ok();
    b.run(&["sync", "pull"]).ok();
    let id = first_conflict_id(b);
    b.run(&["sync", "resolve", &id, "--strategy", "keep-remote"])
        .ok();
    let pushed = b.run(&["sync", "push", "--json"]).ok().json();
    assert_eq!(
        pushed["created"],
        serde_json::json!(["v2.0.0"]),
        "{pushed:#}"
    );
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(
        pulled["updated"],
        serde_json::json!(["v1.0.0"]),
        "{pulled:#}"
    );
    assert!(b.env.read(".gryt/generations/v1.0.0.yaml").contains("A-1"));
    assert_no_conflicts(b);
}

/// Workflow 6: Drafts are collaborative: the lead adds a change and pushes; the others' next pull
/// rewrites their contract file and leaves their evolutions alone.
#[test]
fn drafts_are_collaborative() {
    let (_server, devs) = team(&["lead", "ann"]);
    let (lead, a) = (&devs[0], &devs[1]);
    draft(lead, "2.0.0", &[("add", "FEAT-101", "Search")]);
    lead.run(&["sync", "push"]).ok();
    a.run(&["sync", "pull"]).ok();
    let tag = prove(a, "2.0.0", "FEAT-101", "ok");
    contract(
        lead,
        "v2.0.0",
        &[("add", "FEAT-101", "Search"), ("add", "FEAT-103", "Export")],
    );
    lead.run(&["generation", "update", "2.0.0"]).ok();
    lead.run(&["sync", "push"]).ok();
    let pulled = a.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["updated"], serde_json::json!(["v2.0.0"]));
    assert!(
        a.env
            .read(".gryt/generations/v2.0.0.yaml")
            .contains("FEAT-103")
    );
    let evs = evolutions(a, "2.0.0");
    assert_eq!(evs[0]["tag"], tag.as_str());
    assert_eq!(evs[0]["status"], "pass");
    assert_eq!(
        evs[0]["sync_status"], "not_synced",
        "A's unpushed evolution must stay A's work"
    );
    // status shows nothing modified on disk: the file is what the database holds
    assert_eq!(
        a.run(&["status", "--json"]).ok().json()["contracts"],
        serde_json::json!([])
    );
}

/// Workflow 7: Evolution ownership: A and B both prove FEAT-001 — rc.1 and rc.2, both kept; B can
/// never change A's evolution.
#[test]
fn evolution_ownership() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    draft(a, "1.0.0", &[("add", "FEAT-001", "Login")]);
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    // both start rc.1 locally, A pushes first
    a.run(&["evolution", "start", "1.0.0", "--change", "FEAT-001"])
        .ok();
    prove(b, "1.0.0", "FEAT-001", "ok");
    a.run(&["sync", "push"]).ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["renumbered"][0], "v1.0.0-rc.1 → v1.0.0-rc.2");
    b.run(&["sync", "push"]).ok();
    a.run(&["sync", "pull"]).ok();
    let evs = evolutions(a, "1.0.0");
    let seen: Vec<(String, String, String)> = evs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["tag"].as_str().unwrap().into(),
                e["owner"].as_str().unwrap().into(),
                e["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("v1.0.0-rc.1".into(), "ann".into(), "pending".into()),
            ("v1.0.0-rc.2".into(), "bob".into(), "pass".into())
        ]
    );
    // B cannot decide A's pending evolution
    let before = b.state();
    let out = b
        .run(&["evolution", "prove", "v1.0.0-rc.1", "--pipeline", "ok"])
        .fails(1);
    assert_stderr_has(&out, "belongs to ann");
    assert!(b.state() == before, "a refused prove changed the store");
}

/// Workflow 8: Pull before push: B, behind, is refused and nothing changes; after a pull the push
/// goes through.
#[test]
fn pull_before_push() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["generation", "new", "2.0.0"]).ok();
    let before = b.state();
    let out = b.run(&["sync", "push", "--json"]).fails(3);
    assert_eq!(out.json()["rejected"]["error"], "behind");
    assert!(
        b.state() == before,
        "a refused push changed the local store"
    );
    let log = b.run(&["sync", "log", "--json"]).ok().json();
    assert_eq!(log[0]["direction"], "push");
    assert_eq!(log[0]["result"], "rejected");
    assert!(
        log[0]["error"]
            .as_str()
            .unwrap()
            .contains("change(s) you have not pulled"),
        "{log:#}"
    );
    b.run(&["sync", "pull"]).ok();
    let pushed = b.run(&["sync", "push", "--json"]).ok().json();
    assert_eq!(pushed["created"], serde_json::json!(["v2.0.0"]));
    assert_eq!(pushed["rejected"], serde_json::Value::Null);
}

/// Workflow 9: Pull is safe: B's local-only work survives every pull; the same version from the cloud
/// becomes a conflict, settled by deleting B's local copy, after which it arrives.
#[test]
fn pull_is_safe() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    draft(b, "3.0.0", &[("add", "LOCAL-1", "Only mine")]);
    prove(b, "3.0.0", "LOCAL-1", "ok");
    b.run(&["generation", "new", "1.0.0", "-d", "bob's"]).ok();
    a.run(&["generation", "new", "1.0.0", "-d", "ann's"]).ok();
    a.run(&["sync", "push"]).ok();
    for _ in 0..2 {
        b.run(&["sync", "pull"]).ok();
    }
    let list = b.run(&["generation", "list", "--json"]).ok().json();
    let versions: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["v3.0.0", "v1.0.0"]);
    assert_eq!(list[1]["sync_status"], "conflict");
    assert_eq!(evolutions(b, "3.0.0")[0]["status"], "pass");
    let conflicts = b.run(&["sync", "conflicts", "--json"]).ok().json();
    assert_eq!(conflicts.as_array().unwrap().len(), 1);
    assert_eq!(conflicts[0]["subject"], "v1.0.0");
    b.run(&["generation", "delete", "1.0.0", "--local-only"])
        .ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["new"], serde_json::json!(["v1.0.0"]));
    let show = generation(b, "1.0.0");
    assert_eq!(show["description"], "ann's");
    assert_no_conflicts(b);
}

/// Workflow 9, the other way out: `sync resolve ID --strategy rename --value V` moves B's
/// generation (contract file and evolutions with it) to a free version; the next pull brings
/// the cloud's, and B's goes out under its new version.
#[test]
fn same_version_conflict_resolved_by_rename() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    b.run(&["generation", "new", "1.0.0", "-d", "bob's"]).ok();
    let tag = prove(b, "1.0.0", "CHANGE-1", "ok");
    a.run(&["generation", "new", "1.0.0", "-d", "ann's"]).ok();
    a.run(&["sync", "push"]).ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    let id = pulled["conflicts"][0]["id"].to_string();
    let rename_to = |value: &str| {
        b.run(&[
            "sync",
            "resolve",
            &id,
            "--strategy",
            "rename",
            "--value",
            value,
        ])
    };
    let taken = rename_to("1.0.0").fails(1);
    assert_stderr_has(&taken, "v1.0.0");
    rename_to("1.0.1").ok();
    assert!(
        b.env
            .read(".gryt/generations/v1.0.1.yaml")
            .contains("bob's")
    );
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["new"], serde_json::json!(["v1.0.0"]), "{pulled:#}");
    assert!(
        b.env
            .read(".gryt/generations/v1.0.0.yaml")
            .contains("ann's")
    );
    let pushed = b.run(&["sync", "push", "--json"]).ok().json();
    assert_eq!(
        pushed["created"],
        serde_json::json!(["v1.0.1", "v1.0.1-rc.1"])
    );
    assert_eq!(tag, "v1.0.0-rc.1");
    let st = b.run(&["sync", "status", "--json"]).ok().json();
    assert_eq!(st["conflicts"], serde_json::json!([]));
    assert_eq!(st["local_only"], serde_json::json!([]));
}

/// Both sides changed one draft: the pull keeps the local edit and records a conflict;
/// keep-local pushes it over the cloud's.
#[test]
fn both_changed_then_keep_local() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    contract(a, "v1.0.0", &[("add", "A-1", "Ann's change")]);
    a.run(&["generation", "update", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    contract(b, "v1.0.0", &[("add", "B-1", "Bob's change")]);
    b.run(&["generation", "update", "1.0.0"]).ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["conflicts"][0]["reason"], "both_changed");
    assert!(b.env.read(".gryt/generations/v1.0.0.yaml").contains("B-1"));
    let id = first_conflict_id(b);
    b.run(&["sync", "resolve", &id, "--strategy", "keep-local"])
        .ok();
    let pushed = b.run(&["sync", "push", "--json"]).ok().json();
    assert_eq!(pushed["updated"], serde_json::json!(["v1.0.0"]));
    a.run(&["sync", "pull"]).ok();
    assert!(a.env.read(".gryt/generations/v1.0.0.yaml").contains("B-1"));
}

/// Workflow 2: hybrid, linear history — A creates, proves and promotes v1.1.0 (the cloud
/// holds it promoted, A has the tag); B pulls it, then does the same with v1.2.0.
#[test]
fn hybrid_linear_history() {
    let (server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["sync", "pull"]).ok();
    draft(a, "1.1.0", &[("add", "FEAT-001", "Login")]);
    prove(a, "1.1.0", "FEAT-001", "ok");
    let promoted = a.run(&["promote", "1.1.0", "--json"]).ok().json();
    assert_eq!(promoted["promoted_by"], "ann");
    assert_eq!(promoted["tag"], "v1.1.0");
    assert!(a.env.git(&["tag", "-l"]).contains("v1.1.0"));
    // the cloud holds it promoted
    let cloud_gen = super::feed(&server)
        .into_iter()
        .find(|r| r["kind"] == "generation")
        .unwrap();
    assert_eq!(cloud_gen["record"]["status"], "promoted");
    // and nothing is left pending here
    let st = a.run(&["sync", "status", "--json"]).ok().json();
    assert_eq!(st["behind"], 0, "our own promotion is not news to us");
    assert_eq!(st["pending"], serde_json::json!([]));
    assert_eq!(st["local_only"], serde_json::json!([]));

    b.run(&["sync", "pull"]).ok();
    let show = generation(b, "1.1.0");
    assert_eq!(show["status"], "promoted");
    assert_eq!(show["promoted_by"], "ann");
    draft(b, "1.2.0", &[("add", "FEAT-002", "Logout")]);
    prove(b, "1.2.0", "FEAT-002", "ok");
    b.run(&["promote", "1.2.0"]).ok();
    a.run(&["sync", "pull"]).ok();
    let list = a.run(&["generation", "list", "--json"]).ok().json();
    let rows: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["version"].as_str().unwrap(),
                g["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, [("v1.2.0", "promoted"), ("v1.1.0", "promoted")]);
}

/// A record the cloud can never take does not block the rest: bob's second evolution of a
/// generation ann promoted meanwhile is refused (`failed`, with the cloud's message, and a
/// `refused` conflict), his new v1.1.0 goes out in the same sync, and discarding the dead
/// evolution (or keeping it local only) leaves nothing held back.
#[test]
fn a_refused_record_becomes_a_conflict_and_the_rest_syncs() {
    for strategy in ["discard", "local-only"] {
        refused_then_settled(strategy);
    }
}

fn refused_then_settled(strategy: &str) {
    let (server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    draft(a, "1.0.0", &[("add", "FEAT-1", "Login")]);
    prove(a, "1.0.0", "FEAT-1", "ok");
    a.run(&["sync"]).ok();
    b.run(&["sync", "pull"]).ok();
    let tag = prove(b, "1.0.0", "FEAT-1", "ok");
    assert_eq!(tag, "v1.0.0-rc.2");
    b.run(&["generation", "new", "1.1.0"]).ok();
    a.run(&["promote", "1.0.0"]).ok();

    let out = b.run(&["sync"]).fails(3);
    assert_stderr_has(&out, "v1.0.0-rc.2: refused");
    assert_stderr_has(&out, "is promoted and cannot be changed");
    assert_stderr_has(&out, "--strategy discard|local-only");
    assert!(
        super::feed_versions(&server).contains(&"v1.1.0".to_string()),
        "v1.1.0 went out in the same sync"
    );
    let conflicts = b.run(&["sync", "conflicts", "--json"]).ok().json();
    assert_eq!(conflicts[0]["reason"], "refused", "{conflicts:#}");
    assert_eq!(conflicts[0]["subject"], "v1.0.0-rc.2", "{conflicts:#}");
    // The record says it was refused, and why.
    let shown = generation(b, "1.0.0");
    let refused = &shown["changes"][0]["evolutions"][1];
    assert_eq!(refused["tag"], "v1.0.0-rc.2", "{shown:#}");
    assert_eq!(refused["sync_status"], "failed", "{shown:#}");
    assert!(
        refused["sync_error"]
            .as_str()
            .is_some_and(|e| e.contains("promoted")),
        "{shown:#}"
    );
    let text = b.run(&["generation", "show", "1.0.0"]).ok();
    assert_stdout_has(&text, "Refused by the cloud: v1.0.0-rc.2");
    let st = b.run(&["sync", "status", "--json"]).ok().json();
    assert_eq!(st["failed"][0]["subject"], "v1.0.0-rc.2", "{st:#}");
    // keep-local cannot win it; discard settles it.
    let id = first_conflict_id(b);
    b.run(&["sync", "resolve", &id, "--strategy", "keep-local"])
        .fails(1);
    b.run(&["sync", "resolve", &id, "--strategy", strategy])
        .ok();
    let synced = b.run(&["sync", "--json"]).ok().json();
    assert_eq!(
        synced["push"]["conflicts"],
        serde_json::json!([]),
        "{synced:#}"
    );
    assert_no_conflicts(b);
    let kept = evolutions(b, "1.0.0");
    if strategy == "discard" {
        assert_eq!(kept.as_array().unwrap().len(), 1, "{kept:#}");
    } else {
        assert_eq!(kept[1]["sync_status"], "failed", "{kept:#}");
        let again = b.run(&["sync", "push", "--json"]).ok().json();
        assert_eq!(
            again["created"],
            serde_json::json!([]),
            "never pushed: {again:#}"
        );
    }
    let cloud_evolutions = super::feed(&server)
        .iter()
        .filter(|r| r["kind"] == "evolution")
        .count();
    assert_eq!(cloud_evolutions, 1, "only ann's evolution is in the cloud");
}

/// What arrives by pull is in the audit trail: a teammate's generation, evolution and
/// promotion, with the cloud's actor and time, marked as pulled; pulling again adds nothing.
#[test]
fn pulled_state_changes_are_audited() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    draft(a, "2.0.0", &[("add", "FEAT-1", "Login")]);
    let tag = prove(a, "2.0.0", "FEAT-1", "ok");
    a.run(&["promote", "2.0.0"]).ok();
    b.run(&["sync", "pull"]).ok();
    b.run(&["sync", "pull"]).ok();
    let events = b.run(&["audit", "--json"]).ok().json();
    let pulled: Vec<(String, String, String)> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["pulled"] == true)
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["object"].as_str().unwrap().to_string(),
                e["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want =
        |action: &str, object: &str| (action.to_string(), object.to_string(), "ann".to_string());
    assert_eq!(
        pulled,
        [
            want("generation.created", "v2.0.0"),
            want("generation.promoted", "v2.0.0"),
            want("evolution.decided", &tag),
        ],
        "{events:#}"
    );
    let decided = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "evolution.decided" && e["details"]["pulled"] == true)
        .unwrap();
    assert_eq!(decided["details"]["status"], "pass", "{decided:#}");
    assert_eq!(decided["details"]["change"], "FEAT-1", "{decided:#}");
    assert!(decided["details"]["started_at"].is_string(), "{decided:#}");
    let shown = b
        .run(&["generation", "show", "2.0.0", "--json"])
        .ok()
        .json();
    let promoted = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "generation.promoted")
        .unwrap();
    assert_eq!(promoted["at"], shown["promoted_at"], "the cloud's time");
    let text = b.run(&["audit"]).ok();
    assert_stdout_has(&text, "pulled=true");
}

/// The first promoter wins; the other is told who promoted it and when (exit 3), and its
/// local generation stays a draft without a tag.
#[test]
fn first_promoter_wins() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    draft(a, "1.0.0", &[("add", "FEAT-001", "Login")]);
    prove(a, "1.0.0", "FEAT-001", "ok");
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    // B sees the same proof locally; A promotes first
    a.run(&["promote", "1.0.0"]).ok();
    let out = b.run(&["promote", "1.0.0", "--no-tag"]).fails(3);
    assert_stderr_has(&out, "v1.0.0 is already promoted in the cloud by ann at ");
    assert_stderr_has(&out, "gryt generation new v1.0.1 (or v1.1.0)");
    let show = generation(b, "1.0.0");
    assert_eq!(show["promoted_by"], "ann");
    assert!(!b.env.git(&["tag", "-l"]).contains("v1.0.0"));
}

/// Workflow 5: a promoted generation is immutable for everyone: editing its contract is
/// refused locally after the pull, and no evolution can be started on it.
#[test]
fn promoted_is_immutable_everywhere() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    draft(a, "1.0.0", &[("add", "FEAT-001", "Login")]);
    prove(a, "1.0.0", "FEAT-001", "ok");
    a.run(&["promote", "1.0.0"]).ok();
    b.run(&["sync", "pull"]).ok();
    contract(
        b,
        "v1.0.0",
        &[
            ("add", "FEAT-001", "Login"),
            ("add", "SNEAK-1", "Late addition"),
        ],
    );
    let out = b.run(&["generation", "update", "1.0.0"]).fails(1);
    assert_stderr_has(&out, "is promoted and cannot be edited");
    let out = b
        .run(&["evolution", "start", "1.0.0", "--change", "FEAT-001"])
        .fails(1);
    assert_stderr_has(&out, "is promoted");
}

/// The feed lists a record once, at its latest change: a generation promoted after its
/// evolutions comes after them, possibly pages later. With one-record pages, everything still
/// lands and no conflict is left.
#[test]
fn a_generation_changed_after_its_evolutions_arrives_pages_later() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    contract(
        a,
        "v1.0.0",
        &[("add", "FEAT-001", "Login"), ("fix", "BUG-1", "Crash")],
    );
    a.run(&["generation", "update", "1.0.0"]).ok();
    prove(a, "1.0.0", "FEAT-001", "ok");
    prove(a, "1.0.0", "BUG-1", "ok");
    a.run(&["promote", "1.0.0", "--no-tag"]).ok();
    let pulled = b
        .env
        .finish(
            b.env
                .command(&b.env.repo, &["sync", "pull", "--json"])
                .env("GRYT_SYNC_PAGE_LIMIT", "1")
                .output()
                .unwrap(),
        )
        .ok()
        .json();
    assert!(pulled["requests"].as_u64().unwrap() >= 5, "{pulled:#}");
    assert_no_conflicts(b);
    let show = generation(b, "1.0.0");
    assert_eq!(show["status"], "promoted");
    let proven: Vec<bool> = show["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["proven"].as_bool().unwrap())
        .collect();
    assert_eq!(proven, [true, true]);
}

/// A fresh clone: the contracts came with git, the generations come from the cloud. A file
/// holding the cloud's contract is adopted; one holding something else is a conflict that
/// keep-remote settles by setting the file aside.
#[test]
fn a_fresh_clone_adopts_committed_contract_files() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    for v in ["1.0.0", "2.0.0"] {
        a.run(&["generation", "new", v]).ok();
        contract(a, &format!("v{v}"), &[("add", "FEAT-1", "Shared")]);
        a.run(&["generation", "update", v]).ok();
    }
    a.run(&["sync", "push"]).ok();
    // bob's checkout has v1.0.0 as committed, and an edited v2.0.0
    let same = a.env.read(".gryt/generations/v1.0.0.yaml");
    b.env.write(".gryt/generations/v1.0.0.yaml", &same);
    contract(b, "v2.0.0", &[("add", "FEAT-1", "Edited on a branch")]);
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["new"], serde_json::json!(["v1.0.0"]), "{pulled:#}");
    assert_eq!(pulled["conflicts"][0]["subject"], "v2.0.0");
    assert!(
        b.env
            .read(".gryt/generations/v2.0.0.yaml")
            .contains("Edited on a branch")
    );
    let id = first_conflict_id(b);
    let out = b
        .run(&["sync", "resolve", &id, "--strategy", "keep-remote"])
        .ok();
    assert_stdout_has(&out, ".gryt/backups/v2.0.0.yaml.");
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["new"], serde_json::json!(["v2.0.0"]), "{pulled:#}");
    assert!(
        b.env
            .read(".gryt/generations/v2.0.0.yaml")
            .contains("Shared")
    );
    let backups: Vec<_> = std::fs::read_dir(b.env.path(".gryt/backups"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(backups.len(), 1);
    assert!(
        std::fs::read_to_string(backups[0].path())
            .unwrap()
            .contains("Edited on a branch")
    );
    assert_eq!(
        b.run(&["status", "--json"]).ok().json()["contracts"],
        serde_json::json!([])
    );
}

/// Workflow 4 with a promotion: A promotes v1.0.0; B, who made and proved his own v1.0.0,
/// can neither push nor promote it (exit 3, told who promoted it and when, offered v1.0.1 /
/// v1.1.0), his status says it is not ready; renamed to v1.0.1 it goes out with its proof.
#[test]
fn version_lock_after_a_promotion() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    prove(a, "1.0.0", "CHANGE-1", "ok");
    a.run(&["promote", "1.0.0", "--no-tag"]).ok();
    b.run(&["generation", "new", "1.0.0", "-d", "mine"]).ok();
    prove(b, "1.0.0", "CHANGE-1", "ok");

    let promoted_at = generation(a, "1.0.0")["promoted_at"]
        .as_str()
        .unwrap()
        .to_string();
    b.run(&["sync", "pull"]).ok();
    let before = b.state();
    for args in [&["promote", "1.0.0", "--no-tag"][..], &["sync", "push"]] {
        let out = b.run(args).fails(3);
        assert!(
            out.stderr.contains(&format!(
                "v1.0.0 is already promoted in the cloud by ann at {promoted_at}"
            )),
            "{args:?}: {}",
            out.render()
        );
        assert_stderr_has(&out, "gryt generation rename v1.0.0 v1.0.1 (or v1.1.0)");
        // ann's evolution, parked until its generation can land here, is not bob's problem
        assert!(
            !out.stderr.contains("missing generation"),
            "{}",
            out.render()
        );
        assert!(b.state() == before, "{args:?} changed something");
    }
    // The cloud answers for its v1.0.0 (ann's, promoted); bob's own is another generation.
    let st = b.run(&["sync", "status", "1.0.0", "--json"]).ok().json();
    assert_eq!(st["generation"]["ready_for_promotion"], false, "{st:#}");
    let out = b.run(&["sync", "status", "1.0.0"]).ok();
    assert_stdout_has(&out, "another generation of this version here");
    assert_stdout_has(&out, "Ready for promotion: no, it is promoted already");
    // From bob's own data: his is in conflict with the cloud.
    let out = b.run(&["sync", "status", "1.0.0", "--offline"]).ok();
    assert_stdout_has(
        &out,
        "Ready for promotion: no, it is in conflict with the cloud",
    );

    b.run(&["generation", "rename", "1.0.0", "1.0.1"]).ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["new"][0], "v1.0.0", "{pulled:#}");
    let pushed = b.run(&["sync", "push", "--json"]).ok().json();
    assert_eq!(
        pushed["created"],
        serde_json::json!(["v1.0.1", "v1.0.1-rc.1"])
    );
    assert_no_conflicts(b);
    b.run(&["promote", "1.0.1", "--no-tag"]).ok();
    let shown = generation(b, "1.0.0");
    assert_eq!(shown["status"], "promoted");
    assert_eq!(shown["promoted_by"], "ann");
}

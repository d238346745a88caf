//! `gryt sync status VERSION` answered by the cloud: who proved what, assignees and "ready
//! for promotion" before any pull; this workspace's evolutions the cloud lacks marked "not
//! pushed"; `--offline` and versions the cloud does not hold answered from local data.

use super::{Dev, prove, team};

/// v2.0.0: FEAT-1 for ann, FEAT-2 unassigned.
fn contract(dev: &Dev) {
    dev.run(&["generation", "new", "2.0.0"]).ok();
    dev.env.write(
        ".gryt/generations/v2.0.0.yaml",
        "version: v2.0.0\npipeline_template: ok\nchanges:\n  - type: add\n    id: FEAT-1\n    title: Search\n    assignee: ann\n  - type: fix\n    id: FEAT-2\n    title: Crash\n",
    );
    dev.run(&["generation", "update", "2.0.0"]).ok();
}

fn status(dev: &Dev, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["sync", "status"];
    all.extend_from_slice(args);
    all.push("--json");
    dev.run(&all).ok().json()["generation"].clone()
}

#[test]
fn status_of_a_version_comes_from_the_cloud_before_any_pull() {
    let (_server, devs) = team(&["lead", "ann", "cid"]);
    let (lead, ann, cid) = (&devs[0], &devs[1], &devs[2]);
    contract(lead);
    lead.run(&["sync", "push"]).ok();
    ann.run(&["sync", "pull"]).ok();
    prove(ann, "2.0.0", "FEAT-1", "ok");
    prove(ann, "2.0.0", "FEAT-2", "ok");
    ann.run(&["sync", "push"]).ok();

    // The lead has not pulled: the cloud answers, ready, with who proved what.
    let g = status(lead, &["2.0.0"]);
    assert_eq!(g["source"], "cloud", "{g:#}");
    assert_eq!(g["ready_for_promotion"], true, "{g:#}");
    assert_eq!(g["proven"], 2);
    assert_eq!(g["changes"][0]["assignee"], "ann");
    assert!(g["changes"][1].get("assignee").is_none(), "{g:#}");
    assert_eq!(g["changes"][0]["evolutions"][0]["owner"], "ann");
    assert_eq!(g["changes"][0]["evolutions"][0]["tag"], "v2.0.0-rc.1");
    assert_eq!(g["changes"][0]["evolutions"][0]["status"], "pass");
    let human = lead.run(&["sync", "status", "2.0.0"]).ok();
    assert!(
        human.stdout.contains("as the cloud has it"),
        "{}",
        human.render()
    );
    assert!(
        human.stdout.contains("Ready for promotion: yes"),
        "{}",
        human.render()
    );
    assert!(
        human.stdout.contains("v2.0.0-rc.2 pass (ann)"),
        "{}",
        human.render()
    );

    // --offline: the lead's own data, which has no proofs yet.
    let g = status(lead, &["2.0.0", "--offline"]);
    assert_eq!(g["source"], "local");
    assert_eq!(g["ready_for_promotion"], false);

    // A workspace that never pulled at all, and does not hold the generation.
    let g = status(cid, &["2.0.0"]);
    assert_eq!(g["source"], "cloud");
    assert_eq!(g["ready_for_promotion"], true);
    assert_eq!(g["sync_status"], "not here (gryt sync pull)");

    // ann proves FEAT-2 again and does not push: hers is shown, marked not pushed; the
    // cloud's gates do not count it.
    prove(ann, "2.0.0", "FEAT-2", "bad");
    let g = status(ann, &["2.0.0"]);
    assert_eq!(g["unpushed"], 1, "{g:#}");
    let feat2 = &g["changes"][1]["evolutions"];
    assert_eq!(feat2.as_array().unwrap().len(), 2, "{g:#}");
    assert_eq!(feat2[1]["pushed"], false);
    assert_eq!(feat2[1]["status"], "fail");
    let human = ann.run(&["sync", "status", "2.0.0"]).ok();
    assert!(
        human.stdout.contains("v2.0.0-rc.3 fail (ann), not pushed"),
        "{}",
        human.render()
    );

    // Promoted: not ready, and why.
    prove(ann, "2.0.0", "FEAT-2", "ok");
    ann.run(&["sync", "push"]).ok();
    lead.run(&["sync", "pull"]).ok();
    lead.run(&["promote", "2.0.0"]).ok();
    let g = status(cid, &["2.0.0"]);
    assert_eq!(g["status"], "promoted");
    assert_eq!(g["ready_for_promotion"], false);
    assert_eq!(g["not_ready_because"], "it is promoted already");
}

#[test]
fn a_version_the_cloud_does_not_hold_is_answered_from_here() {
    let (_server, devs) = team(&["lead", "ann"]);
    let lead = &devs[0];
    contract(lead);
    let g = status(lead, &["2.0.0"]);
    assert_eq!(g["source"], "local: not in the cloud", "{g:#}");
    let human = lead.run(&["sync", "status", "2.0.0"]).ok();
    assert!(
        human.stdout.contains("not in the cloud"),
        "{}",
        human.render()
    );
    // Neither here nor there.
    let out = lead.run(&["sync", "status", "9.0.0"]).fails(1);
    assert!(out.stderr.contains("v9.0.0"), "{}", out.render());
    // Not a version at all.
    lead.run(&["sync", "status", "nine"]).fails(2);
}

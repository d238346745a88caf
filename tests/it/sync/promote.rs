//! Promotion through the cloud when things go wrong: a lost race, a lost answer, a conflict
//! on another version. Every hint given is followed literally and must work.

use std::sync::atomic::Ordering;

use super::proxy::proxy;
use super::{Dev, assert_stderr_has, dev, prove, team};
use crate::common::Out;

/// The gryt commands the hints of `out` name, in order: `gryt ARGS` up to the end of the
/// hint or to ` (`.
fn hinted_commands(out: &Out) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for hint in out.stderr.lines().filter_map(|l| l.strip_prefix("Hint: ")) {
        let mut rest = hint;
        while let Some(at) = rest.find("gryt ") {
            let tail = &rest[at + "gryt ".len()..];
            let end = [" (", ";", ", then", "`"]
                .iter()
                .filter_map(|stop| tail.find(stop))
                .min()
                .unwrap_or(tail.len());
            commands.push(tail[..end].split_whitespace().map(String::from).collect());
            rest = &tail[end..];
        }
    }
    commands
}

/// Runs each hinted command of `out`; each must succeed.
fn follow_hints(dev: &Dev, out: &Out) -> Vec<Vec<String>> {
    let commands = hinted_commands(out);
    assert!(!commands.is_empty(), "no command hinted: {}", out.render());
    for args in &commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let done = dev.run(&args);
        assert_eq!(
            done.code,
            0,
            "hinted `gryt {}` fails after:\n{}\n{}",
            args.join(" "),
            out.render(),
            done.render()
        );
    }
    commands
}

fn show(dev: &Dev, version: &str) -> serde_json::Value {
    dev.run(&["generation", "show", version, "--json"])
        .ok()
        .json()
}

/// Bob pulled v2.0.0 (ann's, proven), then ann promoted it before his own promotion reached
/// the cloud: he is told who won, and the commands hinted work where he stands (a promoted
/// generation cannot be renamed).
#[test]
fn the_loser_of_a_promote_race_is_hinted_commands_that_work() {
    let (server, devs) = team(&["ann", "bob"]);
    let a = &devs[0];
    let p = proxy(server.base.clone(), 0);
    let b = &dev(&server, "bob", &p.url);
    a.run(&["generation", "new", "2.0.0"]).ok();
    prove(a, "2.0.0", "CHANGE-1", "ok");
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    b.run(&["sync", "pull"]).ok(); // up to date: the answer bob keeps getting below
    p.stale_feed.store(true, Ordering::SeqCst);
    a.run(&["promote", "2.0.0", "--no-tag"]).ok();

    let out = b.run(&["promote", "2.0.0"]).fails(3);
    assert_stderr_has(&out, "v2.0.0 is already promoted in the cloud by ann at ");
    assert_eq!(show(b, "2.0.0")["status"], "draft", "nothing changed here");
    p.stale_feed.store(false, Ordering::SeqCst);
    let followed = follow_hints(b, &out);
    assert!(
        followed.iter().any(|c| c[..2] == ["generation", "new"]),
        "{followed:?}"
    );
    let shown = show(b, "2.0.0");
    assert_eq!(shown["status"], "promoted", "{shown:#}");
    assert_eq!(shown["promoted_by"], "ann");
    assert!(!b.env.git(&["tag", "-l"]).contains("v2.0.0"));

    // Had his pull brought the promotion in, the hint is the same way on.
    let out = b.run(&["promote", "2.0.0"]).fails(3);
    assert_stderr_has(&out, "v2.0.0 is already promoted in the cloud by ann at ");
    let again = hinted_commands(&out);
    assert_eq!(again.len(), 1, "{}", out.render());
    assert_eq!(again[0][..2], ["generation", "new"], "{}", out.render());
}

/// ann, linked through a proxy, with v5.0.0 proven and synced: ready to promote.
fn ann_with_a_proven_v5() -> (crate::server::harness::TestServer, super::proxy::Proxy, Dev) {
    let (server, devs) = team(&["ann"]);
    let p = proxy(server.base.clone(), 0);
    let a = dev(&server, "ann", &p.url);
    drop(devs);
    a.run(&["generation", "new", "5.0.0"]).ok();
    prove(&a, "5.0.0", "CHANGE-1", "ok");
    a.run(&["sync"]).ok();
    (server, p, a)
}

/// `gryt promote` whose answer is lost after the cloud promoted (exit 4): the retry, by the
/// same account for the same generation, is a success here too — promoted and tagged, whether
/// the retry's pull brings the promotion in or only the cloud's answer tells.
#[test]
fn a_promotion_whose_answer_was_lost_completes_on_the_retry() {
    for pull_brings_it in [true, false] {
        let (server, p, a) = ann_with_a_proven_v5();
        a.run(&["sync", "pull"]).ok(); // up to date: the answer a stale feed gives again
        p.drop_promote.store(1, Ordering::SeqCst);
        let out = a.run(&["promote", "5.0.0"]).fails(4);
        assert_stderr_has(&out, "cannot reach the cloud");
        let cloud: Vec<_> = super::feed(&server)
            .into_iter()
            .filter(|r| r["kind"] == "generation")
            .collect();
        assert_eq!(
            cloud[0]["record"]["status"], "promoted",
            "the cloud took it"
        );
        assert!(!a.env.git(&["tag", "-l"]).contains("v5.0.0"));

        p.stale_feed.store(!pull_brings_it, Ordering::SeqCst);
        let out = a.run(&["promote", "5.0.0"]);
        assert_eq!(
            out.code,
            0,
            "pull brings it: {pull_brings_it}\n{}",
            out.render()
        );
        assert!(
            out.stdout.contains("Promoted v5.0.0 by ann, tagged v5.0.0"),
            "{}",
            out.render()
        );
        assert!(a.env.git(&["tag", "-l"]).contains("v5.0.0"));
        let shown = show(&a, "5.0.0");
        assert_eq!(shown["status"], "promoted", "{shown:#}");
        assert_eq!(shown["promoted_by"], "ann");
        let text = a.run(&["generation", "show", "5.0.0"]).ok();
        assert!(
            text.stdout.contains("(promoted, synced)"),
            "{}",
            text.render()
        );
        assert_eq!(
            p.promotes.load(Ordering::SeqCst),
            1 + usize::from(!pull_brings_it)
        );

        // Done: once more is refused, as a local promotion would be.
        p.stale_feed.store(false, Ordering::SeqCst);
        let out = a.run(&["promote", "5.0.0"]).fails(1);
        assert_stderr_has(&out, "is promoted and cannot be promoted again");
        assert_eq!(
            p.promotes.load(Ordering::SeqCst),
            1 + usize::from(!pull_brings_it)
        );
    }
}

/// While a promotion's answer is missing, the cloud may hold the generation promoted: an
/// edit of its contract, a new evolution of it are refused (they would come back as a
/// conflict with oneself), with the way out — `gryt promote` again, which finishes it.
#[test]
fn a_generation_whose_promotion_went_unanswered_is_not_changed_until_promote_runs_again() {
    let (_server, p, a) = ann_with_a_proven_v5();
    p.drop_promote.store(1, Ordering::SeqCst);
    a.run(&["promote", "5.0.0"]).fails(4);

    a.env.write_contract(
        "v5.0.0",
        &[
            (
                "add",
                "CHANGE-1",
                "Describe the first change of this release",
            ),
            ("add", "LATE-1", "An edit after the lost answer"),
        ],
        "",
    );
    let out = a.run(&["generation", "update", "5.0.0"]).fails(1);
    assert_stderr_has(
        &out,
        "generation v5.0.0 cannot be edited: its promotion was sent to the cloud and the answer never came",
    );
    assert_eq!(
        hinted_commands(&out),
        [["promote", "v5.0.0"]],
        "{}",
        out.render()
    );
    let out = a
        .run(&["evolution", "start", "5.0.0", "--change", "CHANGE-1"])
        .fails(1);
    assert_stderr_has(
        &out,
        "cannot be given new evolutions: its promotion was sent",
    );
    let out = a.run(&["sync"]);
    assert_eq!(out.code, 0, "{}", out.render());
    let all = a.run(&["sync", "conflicts", "--all", "--json"]).ok().json();
    assert_eq!(all, serde_json::json!([]), "no conflict with herself");

    // The promotion came in; the contract file keeps its unapplied edits, now refused as
    // edits of a promoted generation.
    let out = a.run(&["generation", "update", "5.0.0"]).fails(1);
    assert_stderr_has(&out, "is promoted and cannot be edited");
    a.env.write_contract(
        "v5.0.0",
        &[(
            "add",
            "CHANGE-1",
            "Describe the first change of this release",
        )],
        "",
    );
    let out = a.run(&["promote", "5.0.0"]).ok();
    assert!(
        out.stdout.contains("Promoted v5.0.0 by ann, tagged v5.0.0"),
        "{}",
        out.render()
    );
    assert_eq!(
        p.promotes.load(Ordering::SeqCst),
        1,
        "the cloud was not asked twice"
    );
}

/// A conflict on one version holds back that version only: with v7.0.0 changed on both
/// sides, v6.0.0 is pushed (exit 0) and promoted; a push of everything still says v7.0.0 is
/// held back.
#[test]
fn a_conflict_on_one_version_does_not_block_another() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "7.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    a.env
        .write_contract("v7.0.0", &[("add", "A-1", "Ann's")], "");
    a.run(&["generation", "update", "7.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.env
        .write_contract("v7.0.0", &[("add", "B-1", "Bob's")], "");
    b.run(&["generation", "update", "7.0.0"]).ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["conflicts"][0]["reason"], "both_changed");

    b.run(&["generation", "new", "6.0.0"]).ok();
    let pushed = b.run(&["sync", "push", "6.0.0", "--json"]).ok().json();
    assert_eq!(
        pushed["created"],
        serde_json::json!(["v6.0.0"]),
        "{pushed:#}"
    );
    assert_eq!(pushed["conflicts"], serde_json::json!([]), "{pushed:#}");
    assert!(pushed["rejected"].is_null(), "{pushed:#}");
    let out = b.run(&["sync", "push", "6.0.0"]).ok();
    assert!(!out.stderr.contains("v7.0.0"), "{}", out.render());

    prove(b, "6.0.0", "CHANGE-1", "ok");
    let out = b.run(&["promote", "6.0.0", "--no-tag"]);
    assert_eq!(out.code, 0, "{}", out.render());
    assert!(
        out.stderr.contains("Pushed v6.0.0-rc.1"),
        "{}",
        out.render()
    );
    assert_eq!(show(b, "6.0.0")["status"], "promoted");

    let out = b.run(&["sync", "push"]).fails(3);
    assert_stderr_has(&out, "not pushed, in conflict with the cloud: v7.0.0");
}

/// A version held here only by a contract file the database does not know (committed, say)
/// while the cloud holds another generation of it: the push's hint is a command that works
/// for a file (there is no generation to rename), and after it the cloud's comes in.
#[test]
fn a_version_held_by_a_file_alone_is_hinted_a_command_that_works() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.env
        .write_contract("v1.0.0", &[("add", "B-1", "Bob's file")], "");
    b.run(&["sync", "pull"]).ok();
    let out = b.run(&["sync", "push"]).fails(3);
    assert_stderr_has(&out, "v1.0.0 is held in the cloud by ann");
    let followed = follow_hints(b, &out);
    assert_eq!(followed[0][..2], ["sync", "resolve"], "{followed:?}");
    b.run(&["sync", "pull"]).ok();
    assert_eq!(show(b, "1.0.0")["created_by"], "ann");
    b.run(&["sync", "push"]).ok();
}

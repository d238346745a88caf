//! `gryt sync resolve` saying what it does and losing nothing: the unapplied edits of a
//! contract file are kept aside, and a deletion is called one.

use super::{Dev, team};

/// The id of the only open conflict, checking its reason.
fn the_conflict(dev: &Dev, reason: &str) -> String {
    let list = dev.run(&["sync", "conflicts", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    assert_eq!(list[0]["reason"], reason, "{list:#}");
    list[0]["id"].to_string()
}

/// keep-remote on a draft whose contract file holds edits never applied (`generation
/// update`): the file is replaced by the cloud's, the edits are kept under .gryt/backups/ and
/// the output says where.
#[test]
fn keep_remote_keeps_unapplied_edits_in_backups() {
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
        .write_contract("v1.0.0", &[("add", "B-1", "Bob's unapplied")], "");
    b.run(&["sync", "pull"]).ok();
    let id = the_conflict(b, "both_changed");

    let out = b
        .run(&["sync", "resolve", &id, "--strategy", "keep-remote"])
        .ok();
    let (_, moved) = out
        .stdout
        .split_once("were moved to ")
        .unwrap_or_else(|| panic!("no backup named: {}", out.render()));
    let backup = moved.trim();
    assert!(backup.starts_with(".gryt/backups/v1.0.0.yaml."), "{backup}");
    assert!(
        b.env.read(backup).contains("Bob's unapplied"),
        "the edit is in {backup}"
    );
    b.run(&["sync", "pull"]).ok();
    let file = b.env.read(".gryt/generations/v1.0.0.yaml");
    assert!(file.contains("A-1") && !file.contains("B-1"), "{file}");
    assert!(b.env.read(backup).contains("Bob's unapplied"));
}

/// keep-remote on a generation the cloud deleted says it will be deleted, and it is.
#[test]
fn keep_remote_of_a_deletion_says_deleted() {
    let (server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    b.env
        .write_contract("v1.0.0", &[("add", "B-1", "Bob's")], "");
    b.run(&["generation", "update", "1.0.0"]).ok();
    let id = super::feed(&server)[0]["record"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .client()
        .login("ann")
        .delete(&format!("/v1/projects/acme/web/generations/{id}"))
        .ok();
    b.run(&["sync", "pull"]).ok();
    let conflict = the_conflict(b, "deleted_remotely");

    let out = b
        .run(&["sync", "resolve", &conflict, "--strategy", "keep-remote"])
        .ok();
    assert!(
        out.stdout
            .contains("Your v1.0.0 will be deleted on the next pull, as in the cloud"),
        "{}",
        out.render()
    );
    assert!(!out.stdout.contains("replaced"), "{}", out.render());
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(
        pulled["deleted"],
        serde_json::json!(["v1.0.0"]),
        "{pulled:#}"
    );
    let list = b.run(&["generation", "list", "--json"]).ok().json();
    assert_eq!(list, serde_json::json!([]));
}

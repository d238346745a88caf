//! Teams, members, projects and `gryt cloud link`.

use super::Dev;
use crate::server::harness::TestServer;

#[test]
fn teams_members_and_projects() {
    let server = TestServer::start();
    let ann = Dev::account(&server, "ann");
    let bob = Dev::account(&server, "bob");

    assert_eq!(
        ann.run(&["cloud", "team", "create", "acme"]).ok().stdout,
        "Created team acme (you are its owner)\n"
    );
    ann.run(&["cloud", "team", "create", "acme"]).fails(3);
    let out = ann
        .run(&["cloud", "team", "add-member", "acme", "bob"])
        .ok();
    assert_eq!(out.stdout, "MEMBER  ROLE\nann     owner\nbob     member\n");
    let teams = bob.run(&["cloud", "team", "list", "--json"]).ok().json();
    assert_eq!(teams[0]["name"], "acme");
    assert_eq!(teams[0]["role"], "member");

    // Members may not create projects; owners may.
    let out = bob
        .run(&["cloud", "project", "create", "acme/web"])
        .fails(3);
    assert!(
        out.stderr.contains("Hint: ask an owner of the team"),
        "{}",
        out.render()
    );
    assert_eq!(
        ann.run(&["cloud", "project", "create", "acme/web"])
            .ok()
            .stdout,
        "Created project acme/web\n"
    );
    let projects = bob
        .run(&["cloud", "project", "list", "acme", "--json"])
        .ok()
        .json();
    assert_eq!(projects[0]["name"], "web");
    assert_eq!(projects[0]["head"], 0);
    let out = bob.run(&["cloud", "project", "create", "nope"]).fails(2);
    assert!(out.stderr.contains("TEAM/PROJECT"), "{}", out.render());

    // A role means nothing to a removal: refused, not ignored, and bob stays.
    let out = ann
        .run(&[
            "cloud",
            "team",
            "remove-member",
            "acme",
            "bob",
            "--role",
            "owner",
        ])
        .fails(2);
    assert!(out.stderr.contains("--role"), "{}", out.render());
    let members = ann
        .run(&["cloud", "team", "members", "acme", "--json"])
        .ok()
        .json();
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["username"] == "bob"),
        "{members:#}"
    );
    let out = ann
        .run(&["cloud", "team", "remove-member", "acme", "bob"])
        .ok();
    assert_eq!(out.stdout, "Removed bob from acme\n");
    let out = bob.run(&["cloud", "project", "list", "acme"]).fails(3);
    assert!(
        out.stderr.contains("check TEAM/PROJECT"),
        "{}",
        out.render()
    );
    let out = bob
        .run(&["cloud", "team", "members", "acme", "--json"])
        .fails(3);
    assert!(out.stdout.is_empty());

    // What is not found decides the hint.
    let out = ann
        .run(&["cloud", "team", "add-member", "acme", "nobody"])
        .fails(3);
    assert!(
        out.stderr.contains("Hint: check the username") && !out.stderr.contains("TEAM/PROJECT"),
        "{}",
        out.render()
    );
    let out = ann
        .run(&["cloud", "team", "remove-member", "acme", "bob"])
        .fails(3);
    assert!(
        out.stderr
            .contains("Hint: see who is a member: gryt cloud team members"),
        "{}",
        out.render()
    );
}

#[test]
fn link_checks_the_project_and_writes_the_config() {
    let server = TestServer::start();
    let ann = Dev::account(&server, "ann");
    ann.run(&["cloud", "team", "create", "acme"]).ok();
    ann.run(&["cloud", "project", "create", "acme/web"]).ok();
    ann.run(&["cloud", "project", "create", "acme/api"]).ok();
    let carol = Dev::account(&server, "carol");

    // Unknown, and someone else's: the same not_found, and the config is untouched.
    let before = ann.env.read(".gryt/config");
    let out = ann.run(&["cloud", "link", "acme/nope"]).fails(3);
    assert!(
        out.stderr.contains("Hint: check TEAM/PROJECT"),
        "{}",
        out.render()
    );
    assert_eq!(ann.env.read(".gryt/config"), before);
    carol.run(&["cloud", "link", "acme/web"]).fails(3);
    assert!(!carol.env.read(".gryt/config").contains("cloud"));

    let out = ann.run(&["cloud", "link", "acme/web"]).ok();
    assert_eq!(
        out.stdout,
        format!("Linked to acme/web on {} (cloud head 0)\n", server.base)
    );
    assert!(out.stderr.contains("was not linked"), "{}", out.render());
    let config = ann.env.read(".gryt/config");
    assert!(config.contains("project: acme/web"), "{config}");
    assert!(
        config.contains(&format!("url: {}", server.base)),
        "{config}"
    );
    assert!(!config.contains("gryt_"), "{config}");
    assert_eq!(
        ann.run(&["config", "cloud.project"]).ok().stdout,
        "acme/web\n"
    );

    let out = ann.run(&["cloud", "link", "acme/web"]).ok();
    assert!(out.stdout.starts_with("Already linked"), "{}", out.render());
    let out = ann.run(&["cloud", "link", "acme/api", "--json"]).ok();
    assert!(
        out.stderr
            .contains("warning: this repository was linked to acme/web"),
        "{}",
        out.render()
    );
    assert_eq!(out.json()["project"], "acme/api");
    let out = ann.run(&["cloud", "link", "acme/api", "--json"]).ok();
    assert_eq!(out.json()["project"], "acme/api");
    assert!(out.stderr.is_empty(), "{}", out.render());

    // Outside a repository there is nothing to link.
    let out = ann.env.finish(
        ann.command(&["cloud", "link", "acme/web"])
            .current_dir(&ann.env.home)
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 1, "{}", out.render());
    assert!(
        out.stderr.contains("not a gryt repository"),
        "{}",
        out.render()
    );
}

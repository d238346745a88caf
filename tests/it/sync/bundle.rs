//! A bundle restores a project into a cloud: ann's workspace of acme/web exports everything;
//! a fresh workspace linked to the empty project acme/restore imports the bundle and pushes
//! it; a third workspace pulls acme/restore and lists exactly what ann's lists.

use serde_json::json;

use super::{Dev, assert_stderr_has, prove, team};

/// Logs `name` in and links the workspace to `project`, in hybrid mode.
fn linked(name: &str, url: &str, project: &str) -> Dev {
    let mut dev = Dev::at(url);
    dev.name = name.to_string();
    crate::dev::login(&dev.env, &dev.env.repo, name, url).ok();
    dev.run(&["cloud", "link", project, "--url", url]).ok();
    dev.run(&["config", "execution_mode", "hybrid"]).ok();
    dev.env.write_pipeline("ok", "true");
    dev.env.write_pipeline("bad", "exit 1");
    dev
}

fn listings(dev: &Dev) -> Vec<serde_json::Value> {
    let mut out = vec![dev.run(&["generation", "list", "--json"]).ok().json()];
    for v in ["1.0.0", "1.1.0"] {
        out.push(dev.run(&["generation", "show", v, "--json"]).ok().json());
        out.push(dev.run(&["evolution", "list", v, "--json"]).ok().json());
    }
    out
}

#[test]
fn an_exported_project_imported_and_pushed_elsewhere_pulls_identically() {
    let (server, devs) = team(&["ann"]);
    let a = &devs[0];
    a.run(&["generation", "new", "1.0.0"]).ok();
    prove(a, "1.0.0", "CHANGE-1", "bad");
    prove(a, "1.0.0", "CHANGE-1", "ok");
    a.run(&["sync", "push"]).ok();
    a.run(&["promote", "1.0.0", "--no-tag"]).ok();
    a.run(&["generation", "new", "1.1.0"]).ok();
    a.run(&["evolution", "start", "1.1.0", "--change", "CHANGE-1"])
        .ok();
    a.run(&["sync", "push"]).ok();

    let file = a.env.tmp.path().join("web.bundle");
    a.run(&["export", "--all", "-o", file.to_str().unwrap()])
        .ok();
    server
        .client()
        .login("ann")
        .post("/v1/teams/acme/projects", json!({"name": "restore"}))
        .ok();

    let b = linked("ann", &server.base, "acme/restore");
    let out = b.run(&["import", file.to_str().unwrap()]).ok();
    assert!(
        out.stdout
            .contains("Added 2 generations, 3 evolutions and 2 pipeline runs"),
        "{}",
        out.render()
    );
    // The promoted release is published as such; the rest goes with a plain push.
    assert_stderr_has(&out, "gryt sync push --promoted");
    b.run(&["sync", "push", "--promoted"]).ok();
    b.run(&["sync", "push"]).ok();
    let status = b.run(&["sync", "status", "--json"]).ok().json();
    assert_eq!(status["pending"], json!([]), "{status}");
    assert_eq!(status["local_only"], json!([]), "{status}");

    let c = linked("ann", &server.base, "acme/restore");
    c.run(&["sync", "pull"]).ok();
    assert_eq!(listings(&c), listings(a));
    // Promoted in the cloud, and immutable there.
    let g = c
        .run(&["generation", "show", "1.0.0", "--json"])
        .ok()
        .json();
    assert_eq!(g["status"], "promoted");
    c.run(&["evolution", "start", "1.0.0", "--change", "CHANGE-1"])
        .fails(1);
}

//! Golden output of `gryt sync pull`, `push`, `status` and `diff`, as text and as JSON, for
//! two developers against a real cloud: records new, updated and in conflict. The rendering
//! is normalized (server address, temp paths, times, ids, code names) so it is the same on
//! every run.

use super::{Dev, prove, team};
use crate::common::Out;
use crate::server::harness::TestServer;

/// ann and bob both pulled v1.0.0 and v2.0.0. Then ann edited v1.0.0 and v2.0.0, created
/// v3.0.0 and proved a change of it, and v5.0.0, and pushed; bob edited v2.0.0 too, created
/// v4.0.0 and his own v5.0.0. bob has not pulled since.
fn scenario() -> (TestServer, Vec<Dev>) {
    let (server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    for v in ["1.0.0", "2.0.0"] {
        a.run(&["generation", "new", v]).ok();
    }
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    contract(a, "1.0.0", "Spring", &[("add", "FEAT-1", "Search")]);
    contract(a, "2.0.0", "Summer", &[("add", "FEAT-2", "Export")]);
    a.run(&["generation", "new", "3.0.0"]).ok();
    prove(a, "3.0.0", "CHANGE-1", "ok");
    a.run(&["generation", "new", "5.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    contract(b, "2.0.0", "Autumn", &[("fix", "BUG-3", "Crash")]);
    b.run(&["generation", "new", "4.0.0"]).ok();
    b.run(&["generation", "new", "5.0.0"]).ok();
    (server, devs)
}

fn contract(dev: &Dev, version: &str, description: &str, changes: &[(&str, &str, &str)]) {
    dev.env.write_contract(
        &format!("v{version}"),
        changes,
        &format!("description: {description}\n"),
    );
    dev.run(&["generation", "update", version]).ok();
}

/// `gryt ARGS` as bob, normalized: the server's address, record ids (numbered in order of
/// appearance), and in JSON code names and durations.
fn bob(server: &TestServer, b: &Dev, args: &[&str]) -> Out {
    let out = b.run(args);
    let mut ids = Vec::new();
    let mut fix = |s: &str| number_ids(&s.replace(&server.base, "[SERVER]"), &mut ids);
    Out {
        code: out.code,
        stdout: unstable_values(&fix(&out.stdout)),
        stderr: fix(&out.stderr),
    }
}

/// Each UUID becomes `[ID1]`, `[ID2]`… in order of first appearance, so that the same record
/// keeps the same name.
fn number_ids(s: &str, ids: &mut Vec<String>) -> String {
    let is_uuid = |b: &[u8]| {
        b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
    };
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if i + 36 <= s.len() && s.is_char_boundary(i) && is_uuid(&bytes[i..i + 36]) {
            let id = &s[i..i + 36];
            let n = match ids.iter().position(|x| x == id) {
                Some(n) => n + 1,
                None => {
                    ids.push(id.to_string());
                    ids.len()
                }
            };
            out.push_str(&format!("[ID{n}]"));
            i += 36;
        } else {
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// In pretty JSON, code names (random words) and run durations (the clock) as placeholders,
/// as a value (`"code_name": …`) or as a field of a diff (`"field": "code_name"`, then its
/// `from` and `to`). Line by line, so that the keys keep the order gryt prints them in.
fn unstable_values(json: &str) -> String {
    const UNSTABLE: [(&str, &str); 2] = [("code_name", "[CODE NAME]"), ("duration_ms", "[DUR]")];
    let mut in_field = None;
    let mut out = String::new();
    for line in json.lines() {
        let key = line.trim_start().split_once("\": ").map(|(k, _)| &k[1..]);
        let placeholder = UNSTABLE
            .iter()
            .find(|(name, _)| key == Some(name))
            .map(|(_, p)| *p)
            .or(in_field.filter(|_| matches!(key, Some("from" | "to"))));
        if let Some(field) = UNSTABLE.iter().find(|(name, _)| {
            line.trim_start()
                .starts_with(&format!("\"field\": \"{name}\""))
        }) {
            in_field = Some(field.1);
        } else if line.contains('}') {
            in_field = None;
        }
        match (placeholder, line.split_once(": ")) {
            (Some(p), Some((k, v))) if !v.starts_with("null") => {
                let comma = if v.ends_with(',') { "," } else { "" };
                out.push_str(&format!("{k}: \"{p}\"{comma}\n"));
            }
            _ => out.push_str(&format!("{line}\n")),
        }
    }
    out
}

/// Golden snapshot in tests/it/snapshots/, next to the other commands' (`golden!`).
macro_rules! golden {
    ($name:expr, $out:expr) => {
        insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!($name, $out.render());
        })
    };
}

/// bob's status, diff, pull and then push, as people read them.
#[test]
fn sync_commands_as_text() {
    let (server, devs) = scenario();
    let b = &devs[1];
    golden!("sync_status", bob(&server, b, &["sync", "status"]).ok());
    golden!("sync_diff", bob(&server, b, &["sync", "diff"]).ok());
    golden!("sync_pull", bob(&server, b, &["sync", "pull"]).ok());
    golden!("sync_push", bob(&server, b, &["sync", "push"]).fails(3));
}

/// The same, as scripts read them.
#[test]
fn sync_commands_as_json() {
    let (server, devs) = scenario();
    let b = &devs[1];
    let json = |args: &[&str]| bob(&server, b, &[args, &["--json"]].concat());
    golden!("sync_status_json", json(&["sync", "status"]).ok());
    golden!("sync_diff_json", json(&["sync", "diff"]).ok());
    golden!("sync_pull_json", json(&["sync", "pull"]).ok());
    golden!("sync_push_json", json(&["sync", "push"]).fails(3));
}

//! Patches: bob writes what a pull would change to a file (`gryt sync diff --output`),
//! applies it after a dry run that changes nothing, and undoes it (`--reverse`) back to
//! the start, byte for byte in the listings. A stale patch, a patch applied twice and a
//! damaged patch are refused naming the hunk or line, with nothing changed.

use super::{Dev, assert_stderr_has, prove, team};

fn listings(dev: &Dev) -> Vec<serde_json::Value> {
    let mut out = vec![dev.run(&["generation", "list", "--json"]).ok().json()];
    for v in ["1.0.0", "1.1.0"] {
        let shown = dev.run(&["generation", "show", v, "--json"]);
        if shown.code == 0 {
            out.push(shown.json());
            out.push(dev.run(&["evolution", "list", v, "--json"]).ok().json());
        }
    }
    out
}

#[test]
fn a_patch_applies_after_review_and_undoes_to_the_start() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0", "-d", "First"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();

    // Ann changes v1.0.0, proves it, and starts v1.1.0.
    a.env.write_contract(
        "v1.0.0",
        &[("add", "CHANGE-1", "Login"), ("fix", "BUG-2", "Crash")],
        "description: First, revised\n",
    );
    a.run(&["generation", "update", "1.0.0"]).ok();
    prove(a, "1.0.0", "CHANGE-1", "ok");
    a.run(&["generation", "new", "1.1.0"]).ok();
    a.run(&["sync", "push"]).ok();

    let start = listings(b);
    let file = b.env.tmp.path().join("incoming.patch");
    let patch = file.to_str().unwrap();
    let out = b.run(&["sync", "diff", "--output", patch]).ok();
    assert!(out.stdout.contains("Wrote 4 change(s)"), "{}", out.render());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("gryt-patch 1\n"), "{text}");
    assert!(
        text.contains("@@ update generation v1.0.0 r1 -> r2"),
        "{text}"
    );
    assert!(
        text.contains("# description: \"First\" -> \"First, revised\""),
        "{text}"
    );
    assert!(text.contains("@@ new generation v1.1.0 -> r"), "{text}");
    assert!(text.contains("@@ new evolution v1.0.0-rc.1"), "{text}");
    // The diff changed nothing, and a second one refuses to overwrite the file.
    assert_eq!(listings(b), start);
    b.run(&["sync", "diff", "--output", patch]).fails(1);

    let db = b.env.db_bytes();
    let out = b.run(&["patch", "apply", patch, "--dry-run"]).ok();
    assert!(
        out.stdout.contains("Would apply 4 change(s)"),
        "{}",
        out.render()
    );
    assert_eq!(b.env.db_bytes(), db);
    assert_eq!(listings(b), start);

    b.run(&["patch", "apply", patch]).ok();
    let applied = listings(b);
    assert_eq!(applied, listings(a));
    // The contract file as a pull writes it.
    assert!(
        b.env
            .read(".gryt/generations/v1.0.0.yaml")
            .contains("description: First, revised\n"),
    );
    b.run(&["status"]).ok();
    let before = b.env.read(".gryt/generations/v1.0.0.yaml");
    // Applied twice: the first hunk's base is gone; nothing changes.
    let out = b.run(&["patch", "apply", patch]).fails(1);
    assert_stderr_has(&out, "hunk 1 (update generation v1.0.0) does not apply");
    assert_eq!(listings(b), applied);

    // Undone: back to the start.
    let out = b.run(&["patch", "apply", "--reverse", patch]).ok();
    assert!(out.stdout.contains("Undid 4 change(s)"), "{}", out.render());
    assert_eq!(listings(b), start);
    assert!(!b.env.path(".gryt/generations/v1.1.0.yaml").exists());
    assert!(
        b.env
            .read(".gryt/generations/v1.0.0.yaml")
            .contains("description: First\n")
    );
    assert_ne!(b.env.read(".gryt/generations/v1.0.0.yaml"), before);

    // Applied again, then a pull has nothing more to bring and nothing in conflict.
    b.run(&["patch", "apply", patch]).ok();
    let pulled = b.run(&["sync", "pull", "--json"]).ok().json();
    assert_eq!(pulled["new"], serde_json::json!([]), "{pulled}");
    assert_eq!(pulled["updated"], serde_json::json!([]), "{pulled}");
    assert_eq!(pulled["conflicts"], serde_json::json!([]), "{pulled}");
    assert_eq!(listings(b), listings(a));
}

#[test]
fn a_stale_or_damaged_patch_is_refused_and_changes_nothing() {
    let (_server, devs) = team(&["ann", "bob"]);
    let (a, b) = (&devs[0], &devs[1]);
    a.run(&["generation", "new", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    b.run(&["sync", "pull"]).ok();
    a.run(&["generation", "new", "1.1.0"]).ok();
    a.env
        .write_contract("v1.0.0", &[("add", "CHANGE-1", "Renamed")], "");
    a.run(&["generation", "update", "1.0.0"]).ok();
    a.run(&["sync", "push"]).ok();
    let file = b.env.tmp.path().join("incoming.patch");
    let patch = file.to_str().unwrap();
    b.run(&["sync", "diff", "--output", patch]).ok();

    // Bob edits v1.0.0 after the patch was made: its hunk no longer applies.
    b.env
        .write_contract("v1.0.0", &[("add", "CHANGE-1", "Mine")], "");
    b.run(&["generation", "update", "1.0.0"]).ok();
    let (db, files) = (b.env.db_bytes(), b.env.files_snapshot());
    let out = b.run(&["patch", "apply", patch]).fails(1);
    assert_stderr_has(&out, "(update generation v1.0.0) does not apply");
    assert_stderr_has(&out, "Hint: nothing was changed");
    assert_eq!(b.env.db_bytes(), db);
    assert_eq!(b.env.files_snapshot(), files);
    // Undoing what was never applied is refused too.
    b.run(&["patch", "apply", "--reverse", patch]).fails(1);

    // Damaged and hostile patches.
    let text = std::fs::read_to_string(&file).unwrap();
    let bad = b.env.tmp.path().join("bad.patch");
    let cases: Vec<(String, &str)> = vec![
        ("garbage".into(), "not a gryt patch"),
        (
            text.replacen("gryt-patch 1", "gryt-patch 9", 1),
            "upgrade gryt",
        ),
        (text.replacen("\n+{", "\n+{oops", 1), "not a record"),
        (
            text.replacen("\"version\":\"v1.1.0\"", "\"version\":\"../../etc\"", 1),
            "not a record",
        ),
        (format!("{text}\nrm -rf /\n"), "not part of a gryt patch"),
    ];
    for (content, needle) in cases {
        std::fs::write(&bad, &content).unwrap();
        let out = b.run(&["patch", "apply", bad.to_str().unwrap()]).fails(1);
        assert_stderr_has(&out, needle);
        assert_eq!(b.env.db_bytes(), db);
        assert_eq!(b.env.files_snapshot(), files);
    }
    std::fs::write(&bad, [0xff, 0xfe, 0x00]).unwrap();
    b.run(&["patch", "apply", bad.to_str().unwrap()]).fails(1);
    // Huge (sparse: nothing is written), a named pipe, a directory: refused unread.
    std::fs::File::create(&bad)
        .unwrap()
        .set_len(257 << 20)
        .unwrap();
    let out = b.run(&["patch", "apply", bad.to_str().unwrap()]).fails(1);
    assert_stderr_has(&out, "is larger than gryt reads (256 MiB)");
    std::fs::remove_file(&bad).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&bad)
        .status()
        .unwrap();
    assert!(made.success());
    let out = b.run(&["patch", "apply", bad.to_str().unwrap()]).fails(1);
    assert_stderr_has(&out, "a named pipe (FIFO), not a regular file");
    std::fs::remove_file(&bad).unwrap();
    std::fs::create_dir(&bad).unwrap();
    let out = b.run(&["patch", "apply", bad.to_str().unwrap()]).fails(1);
    assert_stderr_has(&out, "a directory, not a regular file");
    // Writing a patch never replaces what is in the way, a dangling symlink included.
    let link = b.env.tmp.path().join("dangling.patch");
    std::os::unix::fs::symlink(b.env.tmp.path().join("nowhere"), &link).unwrap();
    let out = b
        .run(&["sync", "diff", "--output", link.to_str().unwrap()])
        .fails(1);
    assert_stderr_has(&out, "already exists");
    assert!(!b.env.tmp.path().join("nowhere").exists());
    b.run(&["patch", "apply", "no-such.patch"]).fails(1);
    assert_eq!(b.env.db_bytes(), db);
}

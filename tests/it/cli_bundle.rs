//! `gryt export` / `gryt import`: a bundle carries every record into another workspace
//! (identical listings, ids, owners and promotion kept); a second import adds nothing; a dry
//! run changes nothing; what is held here is never overwritten; and a tampered, truncated,
//! future-format or hostile bundle is refused with nothing changed.

use std::path::{Path, PathBuf};

use crate::common::TestEnv;

/// A workspace with v1.2.0 promoted (FEAT-1 failed once then passed, BUG-2 passed, runs with
/// steps) and a draft v1.3.0 (its change assigned to `ada`) with an evolution still pending.
fn source() -> TestEnv {
    let env = TestEnv::with_contract("description: First release\n");
    env.write_pipeline("ok", "true");
    env.write_pipeline("bad", "exit 1");
    for (change, pipeline) in [("FEAT-1", "bad"), ("FEAT-1", "ok"), ("BUG-2", "ok")] {
        env.run(&["evolution", "start", "1.2.0", "--change", change])
            .ok();
        let out = env.run(&["run", pipeline]);
        assert_eq!(out.code, i32::from(pipeline == "bad"), "{}", out.render());
    }
    env.run(&["promote", "1.2.0", "--no-tag"]).ok();
    env.write(
        ".gryt/generations/v1.3.0.yaml",
        "version: v1.3.0\nchanges:\n  - type: add\n    id: FEAT-3\n    title: Search\n    assignee: ada\n",
    );
    env.run(&["generation", "update", "1.3.0"]).ok();
    env.run(&["evolution", "start", "1.3.0", "--change", "FEAT-3"])
        .ok();
    env
}

/// Everything a user can list or show of the workspace's release state, as JSON.
fn listings(env: &TestEnv) -> Vec<serde_json::Value> {
    let mut out = vec![env.run(&["generation", "list", "--json"]).ok().json()];
    for v in ["1.2.0", "1.3.0"] {
        for args in [
            vec!["generation", "show", v, "--json"],
            vec!["evolution", "list", v, "--json"],
        ] {
            let r = env.run(&args);
            if r.code == 0 {
                out.push(r.json());
            }
        }
    }
    let evolutions = env
        .run(&["evolution", "list", "1.2.0", "--json"])
        .ok()
        .json();
    for e in evolutions.as_array().unwrap() {
        let tag = e["tag"].as_str().unwrap();
        out.push(env.run(&["evolution", "show", tag, "--json"]).ok().json());
    }
    out
}

fn export(env: &TestEnv, args: &[&str]) -> PathBuf {
    let file = env.tmp.path().join("release.bundle");
    let _ = std::fs::remove_file(&file);
    let mut full = vec!["export", "-o", file.to_str().unwrap()];
    full.extend_from_slice(args);
    env.run(&full).ok();
    file
}

fn contract_files(env: &TestEnv) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(env.path(".gryt/generations"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn an_import_makes_an_identical_workspace_and_a_second_adds_nothing() {
    let src = source();
    let file = export(&src, &["--all"]);
    let dst = TestEnv::init();
    let out = dst
        .run(&["import", file.to_str().unwrap(), "--json"])
        .ok()
        .json();
    let report = &out["report"];
    assert_eq!(report["generations"], 2, "{out}");
    assert_eq!(report["evolutions"], 4, "{out}");
    assert_eq!(report["pipeline_runs"], 3, "{out}");
    assert_eq!(report["pipelines_added"], serde_json::json!(["bad", "ok"]));
    assert_eq!(out["manifest"]["counts"]["generations"], 2);

    assert_eq!(listings(&dst), listings(&src));
    assert_eq!(contract_files(&dst), contract_files(&src));
    let draft = dst
        .run(&["generation", "show", "1.3.0", "--json"])
        .ok()
        .json();
    assert_eq!(draft["changes"][0]["assignee"], "ada", "{draft}");
    for p in ["ok", "bad"] {
        let path = format!(".gryt/pipelines/{p}.yaml");
        assert_eq!(dst.read(&path), src.read(&path));
    }
    // Promoted stays promoted and immutable.
    let g = dst
        .run(&["generation", "show", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(g["status"], "promoted");
    assert_eq!(g["promoted_by"], "Ada Tester");
    dst.run(&["evolution", "start", "1.2.0", "--change", "FEAT-1"])
        .fails(1);

    // Again: everything is here already.
    let before = dst.db_bytes();
    let out = dst
        .run(&["import", file.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(out["report"]["generations"], 0);
    assert_eq!(out["report"]["identical"], 9);
    assert_eq!(listings(&dst), listings(&src));
    assert_eq!(dst.db_bytes(), before);

    // The audit trail says where the records came from.
    let audit = dst.run(&["audit", "--json"]).ok().json();
    let imported = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["details"]["imported"]
                .as_str()
                .is_some_and(|s| s.starts_with("bundle "))
        })
        .count();
    assert!(imported >= 5, "{audit}");
}

#[test]
fn a_dry_run_reports_and_changes_nothing() {
    let src = source();
    let file = export(&src, &["--all"]);
    let dst = TestEnv::init();
    let (db, files) = (dst.db_bytes(), dst.files_snapshot());
    let out = dst
        .run(&["import", file.to_str().unwrap(), "--dry-run"])
        .ok();
    assert!(
        out.stdout
            .contains("Would add 2 generations, 4 evolutions and 3 pipeline runs"),
        "{}",
        out.render()
    );
    assert_eq!(dst.db_bytes(), db);
    assert_eq!(dst.files_snapshot(), files);
}

#[test]
fn an_export_of_one_version_takes_its_evolutions_and_runs_only() {
    let src = source();
    let file = export(&src, &["1.3.0"]);
    let dst = TestEnv::init();
    let out = dst
        .run(&["import", file.to_str().unwrap(), "--json"])
        .ok()
        .json();
    assert_eq!(out["report"]["generations"], 1, "{out}");
    assert_eq!(out["report"]["evolutions"], 1, "{out}");
    assert_eq!(out["report"]["pipeline_runs"], 0, "{out}");
    dst.run(&["generation", "show", "1.2.0"]).fails(1);

    // Naming nothing, or a version not here, writes nothing.
    let none = src.tmp.path().join("none.bundle");
    let out = src.run(&["export", "-o", none.to_str().unwrap()]).fails(2);
    assert!(out.stderr.contains("--all"), "{}", out.render());
    let out = src
        .run(&["export", "9.9.9", "-o", none.to_str().unwrap()])
        .fails(1);
    assert!(out.stderr.contains("v9.9.9"), "{}", out.render());
    assert!(!none.exists());
    // An export never overwrites a file.
    let out = src
        .run(&["export", "--all", "-o", file.to_str().unwrap()])
        .fails(1);
    assert!(out.stderr.contains("already exists"), "{}", out.render());
}

#[test]
fn what_is_held_here_is_never_overwritten() {
    let src = source();
    let file = export(&src, &["--all"]);
    // Another v1.2.0 here, and a pipeline `ok` of its own.
    let dst = TestEnv::with_contract("");
    dst.write_pipeline("ok", "echo mine");
    let mine = dst.read(".gryt/generations/v1.2.0.yaml");
    let out = dst
        .run(&["import", file.to_str().unwrap(), "--json"])
        .ok()
        .json();
    let report = &out["report"];
    assert_eq!(report["generations"], 1, "{out}");
    assert_eq!(report["pipelines_kept"], serde_json::json!(["ok"]));
    let conflicts = report["conflicts"].as_array().unwrap();
    assert!(
        conflicts
            .iter()
            .any(|c| c["subject"] == "v1.2.0" && c["reason"] == "version_taken"),
        "{out}"
    );
    assert_eq!(dst.read(".gryt/generations/v1.2.0.yaml"), mine);
    assert!(dst.read(".gryt/pipelines/ok.yaml").contains("echo mine"));
    let g = dst
        .run(&["generation", "show", "1.2.0", "--json"])
        .ok()
        .json();
    assert_eq!(g["status"], "draft");
    // The record here keeps its state: the conflict is about the one not taken.
    assert_eq!(g["sync_status"], "not_synced");
    let listed = dst.run(&["sync", "conflicts", "--json"]).ok().json();
    assert!(listed.to_string().contains("version_taken"), "{listed}");
    let id = conflicts.iter().find(|c| c["subject"] == "v1.2.0").unwrap()["id"].to_string();
    // Settled by keeping yours; taking the imported one means moving yours and importing
    // again.
    let out = dst
        .run(&["sync", "resolve", &id, "--strategy", "keep-remote"])
        .fails(1);
    assert!(
        out.stderr.contains("an import recorded it"),
        "{}",
        out.render()
    );
    dst.run(&["sync", "resolve", &id, "--strategy", "keep-local"])
        .ok();
    let open = dst.run(&["sync", "conflicts", "--json"]).ok().json();
    assert!(!open.to_string().contains("\"v1.2.0\""), "{open}");
    assert_eq!(dst.read(".gryt/generations/v1.2.0.yaml"), mine);
}

// ---- bad bundles -----------------------------------------------------------------------

/// The entries of a bundle, in order.
fn unpack(file: &Path) -> Vec<(String, Vec<u8>)> {
    let tar = zstd::decode_all(std::fs::File::open(file).unwrap()).unwrap();
    let mut archive = tar::Archive::new(&tar[..]);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

/// Writes entries as a bundle, names as given (even hostile ones), `links` as symlinks.
fn pack(file: &Path, entries: &[(String, Vec<u8>)], link: Option<&str>) {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        if link == Some(name.as_str()) {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            header.set_link_name("/etc/passwd").unwrap();
            header.set_cksum();
            builder.append(&header, &[][..]).unwrap();
            continue;
        }
        header.set_cksum();
        builder.append(&header, &bytes[..]).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    std::fs::write(file, zstd::encode_all(&tar[..], 3).unwrap()).unwrap();
}

fn set_manifest(entries: &mut [(String, Vec<u8>)], f: impl FnOnce(&mut serde_json::Value)) {
    let last = entries.last_mut().unwrap();
    assert_eq!(last.0, "manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&last.1).unwrap();
    f(&mut m);
    last.1 = serde_json::to_vec(&m).unwrap();
}

/// Imports `file` into `dst` and expects a refusal naming `needle`, with nothing changed.
fn refused(dst: &TestEnv, file: &Path, needle: &str) {
    let (db, files) = (dst.db_bytes(), dst.files_snapshot());
    for args in [vec!["--dry-run"], vec![]] {
        let mut full = vec!["import", file.to_str().unwrap()];
        full.extend(args);
        let out = dst.run(&full).fails(1);
        assert!(out.stderr.contains(needle), "{needle}: {}", out.render());
        assert!(
            out.stderr.contains("Hint: nothing was changed"),
            "{}",
            out.render()
        );
    }
    assert_eq!(dst.db_bytes(), db, "{needle}");
    assert_eq!(dst.files_snapshot(), files, "{needle}");
}

#[test]
fn damaged_and_hostile_bundles_are_refused_and_change_nothing() {
    let src = source();
    let file = export(&src, &["--all"]);
    let good = unpack(&file);
    let dst = TestEnv::with_contract("");
    // The sync lock's file, as any sync leaves it: a refusal found while applying (a bad
    // record) comes after the lock is taken.
    dst.write(".gryt/sync.lock", "");
    let bad = dst.tmp.path().join("bad.bundle");

    // One byte of one entry changed.
    let mut entries = good.clone();
    let evolutions = entries
        .iter_mut()
        .find(|(n, _)| n.starts_with("records/evolutions"))
        .unwrap();
    let at = evolutions.1.len() / 2;
    evolutions.1[at] ^= 0x01;
    pack(&bad, &entries, None);
    refused(
        &dst,
        &bad,
        "entry `records/evolutions-000001.jsonl` does not match its checksum",
    );

    // Cut short, anywhere.
    let bytes = std::fs::read(&file).unwrap();
    for keep in [bytes.len() / 3, bytes.len() - 10] {
        std::fs::write(&bad, &bytes[..keep]).unwrap();
        refused(&dst, &bad, "truncated");
    }

    // A newer format.
    let mut entries = good.clone();
    set_manifest(&mut entries, |m| m["format_version"] = 2.into());
    pack(&bad, &entries, None);
    refused(&dst, &bad, "format is version 2");
    refused(&dst, &bad, "upgrade gryt");

    // Paths outside the bundle, a link, an entry the manifest does not list.
    for hostile in ["../x", "/tmp/x", "contracts/../../x.yaml"] {
        let mut entries = good.clone();
        entries.insert(0, (hostile.to_string(), b"x".to_vec()));
        pack(&bad, &entries, None);
        refused(
            &dst,
            &bad,
            &format!("entry `{hostile}` points outside the bundle"),
        );
    }
    let mut entries = good.clone();
    entries.insert(
        entries.len() - 1,
        ("pipelines/evil.yaml".to_string(), Vec::new()),
    );
    pack(&bad, &entries, Some("pipelines/evil.yaml"));
    refused(
        &dst,
        &bad,
        "entry `pipelines/evil.yaml` is not a regular file",
    );
    let mut entries = good.clone();
    entries.insert(
        entries.len() - 1,
        ("pipelines/extra.yaml".to_string(), b"steps: []\n".to_vec()),
    );
    pack(&bad, &entries, None);
    refused(&dst, &bad, "the manifest lists");

    // A record that breaks the rules, with the manifest made to match it.
    let mut entries = good.clone();
    let generations = entries
        .iter_mut()
        .find(|(n, _)| n.starts_with("records/generations"))
        .unwrap();
    let text = String::from_utf8(generations.1.clone()).unwrap();
    let edited = text.replacen("\"created_at\":\"", "\"created_at\":\"yesterday", 1);
    assert_ne!(edited, text);
    generations.1 = edited.into_bytes();
    let (name, bytes) = generations.clone();
    set_manifest(&mut entries, |m| {
        for e in m["entries"].as_array_mut().unwrap() {
            if e["path"] == name.as_str() {
                e["size"] = bytes.len().into();
                e["sha256"] = gryt::workspace::bytes_hash(&bytes).into();
            }
        }
    });
    pack(&bad, &entries, None);
    refused(&dst, &bad, "created_at");

    // A named pipe or a directory where the bundle should be (a pipe would block a reader
    // that opened it): refused without being opened. A symlink to a bundle is followed.
    std::fs::remove_file(&bad).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&bad)
        .status()
        .unwrap();
    assert!(made.success());
    refused(&dst, &bad, "a named pipe (FIFO), not a regular file");
    std::fs::remove_file(&bad).unwrap();
    std::fs::create_dir(&bad).unwrap();
    refused(&dst, &bad, "a directory, not a regular file");
    std::fs::remove_dir(&bad).unwrap();
    std::os::unix::fs::symlink(&file, &bad).unwrap();
    let out = dst
        .run(&["import", bad.to_str().unwrap(), "--dry-run"])
        .ok();
    assert!(
        out.stdout.contains("Would add 1 generations"),
        "{}",
        out.render()
    );
    std::fs::remove_file(&bad).unwrap();

    // Not a bundle at all, and no file.
    std::fs::write(&bad, b"garbage").unwrap();
    refused(&dst, &bad, "not a gryt bundle");
    let out = dst.run(&["import", "nowhere.bundle"]).fails(1);
    assert!(out.stderr.contains("nowhere.bundle"), "{}", out.render());
}

// ---- from gryt-ci -----------------------------------------------------------------------

/// A copy of a committed gryt-ci workspace (fixtures/gryt-ci/NAME) in the test's temp dir.
fn gryt_ci(env: &TestEnv, name: &str) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/gryt-ci")
        .join(name);
    let to = env.tmp.path().join(format!("gryt-ci-{name}"));
    for rel in [".gryt/gryt.db", ".gryt/generations"] {
        let src = from.join(rel);
        if src.is_dir() {
            std::fs::create_dir_all(to.join(rel)).unwrap();
            for e in std::fs::read_dir(&src).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), to.join(rel).join(e.file_name())).unwrap();
            }
        } else {
            std::fs::create_dir_all(to.join(rel).parent().unwrap()).unwrap();
            std::fs::copy(&src, to.join(rel)).unwrap();
        }
    }
    to
}

#[test]
fn gryt_ci_workspaces_are_imported_after_a_dry_run() {
    let dst = TestEnv::init();
    let promoted = gryt_ci(&dst, "promoted");
    let basic = gryt_ci(&dst, "basic");
    let source = std::fs::read(promoted.join(".gryt/gryt.db")).unwrap();
    let path = promoted.to_str().unwrap();

    let (db, files) = (dst.db_bytes(), dst.files_snapshot());
    let out = dst
        .run(&["import", "--from-gryt-ci", path, "--dry-run"])
        .ok();
    assert!(
        out.stdout
            .contains("Would add 3 generations, 8 evolutions and 7 pipeline runs"),
        "{}",
        out.render()
    );
    assert!(
        out.stdout
            .contains("note: v2.0.0 is promoted in gryt-ci but fails gryt's gates"),
        "{}",
        out.render()
    );
    assert_eq!(dst.db_bytes(), db);
    assert_eq!(dst.files_snapshot(), files);

    let out = dst
        .run(&["import", "--from-gryt-ci", path, "--json"])
        .ok()
        .json();
    assert_eq!(out["report"]["generations"], 3, "{out}");
    assert!(out["notes"].as_array().unwrap().len() >= 2, "{out}");
    let list = dst.run(&["generation", "list", "--json"]).ok().json();
    let status = |v: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|g| g["version"] == v)
            .map(|g| g["status"].as_str().unwrap().to_string())
    };
    // Promoted in gryt-ci stays promoted, gates or not; never silently changed.
    assert_eq!(status("v2.0.0").as_deref(), Some("promoted"));
    assert_eq!(status("v2.0.1").as_deref(), Some("promoted"));
    assert_eq!(status("v2.1.0").as_deref(), Some("draft"));
    let g = dst
        .run(&["generation", "show", "2.0.0", "--json"])
        .ok()
        .json();
    assert_eq!(g["promoted_by"], "bob");
    let evolutions = dst
        .run(&["evolution", "list", "2.1.0", "--json"])
        .ok()
        .json();
    let tags: Vec<&str> = evolutions
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, ["v2.1.0-rc.1", "v2.1.0-rc.2", "v2.1.0-rc.3"]);
    assert!(dst.path(".gryt/generations/v2.1.0.yaml").exists());
    // The gryt-ci store is read, never written.
    assert_eq!(
        std::fs::read(promoted.join(".gryt/gryt.db")).unwrap(),
        source
    );

    // Again: nothing new. The other workspace's versions do not collide.
    let out = dst.run(&["import", "--from-gryt-ci", path]).ok();
    assert!(
        out.stdout.contains("Added 0 generations"),
        "{}",
        out.render()
    );
    let out = dst
        .run(&["import", "--from-gryt-ci", basic.to_str().unwrap()])
        .ok();
    assert!(
        out.stdout
            .contains("Added 2 generations, 4 evolutions and 3 pipeline runs"),
        "{}",
        out.render()
    );

    // Not a gryt-ci workspace: refused, nothing changed.
    let (db, files) = (dst.db_bytes(), dst.files_snapshot());
    let fifo = dst.tmp.path().join("gryt.db");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for bad in [dst.tmp.path().join("home"), dst.path(".gryt/config"), fifo] {
        let out = dst
            .run(&["import", "--from-gryt-ci", bad.to_str().unwrap()])
            .fails(1);
        assert!(
            out.stderr.contains("cannot import from gryt-ci"),
            "{}",
            out.render()
        );
    }
    assert_eq!(dst.db_bytes(), db);
    assert_eq!(dst.files_snapshot(), files);
    // A bundle and --from-gryt-ci together is a usage error.
    dst.run(&["import", "x.bundle", "--from-gryt-ci", path])
        .fails(2);
}

//! `gryt backup` / `gryt restore`: a checked copy of the workspace database and back, the
//! replaced database kept in .gryt/backups/, every bad input refused with nothing changed.

use std::path::{Path, PathBuf};

use crate::common::TestEnv;

fn evolutions(env: &TestEnv) -> usize {
    env.run(&["evolution", "list", "1.2.0", "--json"])
        .ok()
        .json()
        .as_array()
        .map_or(0, Vec::len)
}

fn rewrite_checksum(file: &Path) {
    let hex = gryt::store::backup::sha256_file(file).unwrap();
    gryt::store::backup::write_checksum(file, &hex).unwrap();
}

fn backup(env: &TestEnv, name: &str) -> PathBuf {
    let file = env.tmp.path().join(name);
    let out = env.run(&["backup", "-o", file.to_str().unwrap()]).ok();
    assert!(out.stdout.contains("integrity ok"), "{}", out.render());
    file
}

#[test]
fn a_backup_restores_the_workspace_and_keeps_the_replaced_database() {
    let env = TestEnv::with_contract("");
    env.run(&["evolution", "start", "1.2.0", "--change", "FEAT-1"])
        .ok();
    let file = backup(&env, "ws.backup");
    let sum = std::fs::read_to_string(format!("{}.sha256", file.display())).unwrap();
    assert_eq!(
        sum,
        format!(
            "{}  ws.backup\n",
            gryt::store::backup::sha256_file(&file).unwrap()
        )
    );
    env.run(&["backup", "-o", file.to_str().unwrap()]).fails(1);

    // Work after the backup is not in it.
    env.run(&["evolution", "start", "1.2.0", "--change", "BUG-2"])
        .ok();
    assert_eq!(evolutions(&env), 2);
    let out = env.run(&["restore", file.to_str().unwrap()]).ok();
    assert!(
        out.stderr.contains("The replaced database is kept in"),
        "{}",
        out.render()
    );
    assert_eq!(evolutions(&env), 1);

    // The kept database is whole: restoring it brings the later work back.
    let kept: Vec<PathBuf> = std::fs::read_dir(env.repo.join(".gryt/backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "db"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let again = env.tmp.path().join("kept.db");
    std::fs::copy(&kept[0], &again).unwrap();
    rewrite_checksum(&again);
    env.run(&["restore", again.to_str().unwrap()]).ok();
    assert_eq!(evolutions(&env), 2);
}

#[test]
fn a_damaged_database_is_restored_from_a_backup() {
    let env = TestEnv::with_contract("");
    let file = backup(&env, "ws.backup");
    std::fs::write(env.repo.join(".gryt/gryt.db"), b"garbage").unwrap();
    env.run(&["status"]).fails(1);
    env.run(&["restore", file.to_str().unwrap()]).ok();
    env.run(&["status"]).ok();
}

#[test]
fn bad_backups_are_refused_and_change_nothing() {
    let env = TestEnv::with_contract("");
    let good = backup(&env, "good.db");
    let bytes = std::fs::read(&good).unwrap();
    let db = env.repo.join(".gryt/gryt.db");
    let before = env.db_bytes();
    let write = |name: &str, content: &[u8], checksum: bool| {
        let f = env.tmp.path().join(name);
        std::fs::write(&f, content).unwrap();
        if checksum {
            rewrite_checksum(&f);
        }
        f
    };
    let refuse = |file: &Path, says: &str| {
        let out = env.run(&["restore", file.to_str().unwrap()]).fails(1);
        assert!(out.stderr.contains(says), "{}", out.render());
        assert!(out.stderr.contains("Hint: "), "{}", out.render());
    };

    refuse(&write("no-sum.db", &bytes, false), ".sha256 is missing");
    let tampered = {
        let mut b = bytes.clone();
        let at = b.len() - 50;
        b[at] ^= 0xFF;
        let f = write("tampered.db", &b, false);
        std::fs::copy(
            format!("{}.sha256", good.display()),
            format!("{}.sha256", f.display()),
        )
        .unwrap();
        f
    };
    refuse(&tampered, "does not match its checksum");
    refuse(
        &write("truncated.db", &bytes[..bytes.len() / 2], true),
        "truncated.db",
    );
    refuse(
        &write("text.db", b"not a database\n", true),
        "is not a gryt workspace database",
    );
    let server_like = env.tmp.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&server_like).unwrap();
        c.execute_batch("CREATE TABLE accounts (id TEXT); PRAGMA user_version = 1;")
            .unwrap();
    }
    rewrite_checksum(&server_like);
    refuse(&server_like, "is not a gryt workspace database");
    let newer = env.tmp.path().join("newer.db");
    std::fs::copy(&good, &newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch("PRAGMA user_version = 999")
        .unwrap();
    gryt::store::backup::settle(&newer).unwrap();
    rewrite_checksum(&newer);
    refuse(&newer, "newer gryt");

    assert_eq!(env.db_bytes(), before, "the database is untouched");
    assert!(db.exists());
    let stray: Vec<String> = std::fs::read_dir(env.repo.join(".gryt"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("restore"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    assert_eq!(
        std::fs::read_dir(env.repo.join(".gryt/backups"))
            .unwrap()
            .count(),
        0,
        "nothing was set aside"
    );
}

#[test]
fn a_restore_waits_for_no_sync() {
    let env = TestEnv::with_contract("");
    let file = backup(&env, "ws.backup");
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(env.repo.join(".gryt/sync.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let out = env.run(&["restore", file.to_str().unwrap()]).fails(1);
    assert!(out.stderr.contains("a sync is running"), "{}", out.render());
    lock.unlock().unwrap();
    env.run(&["restore", file.to_str().unwrap()]).ok();
}

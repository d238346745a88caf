//! `gryt cloud admin backup|restore`: an online backup taken while the server serves, a
//! restore that rewinds the server's history (new history id), and every bad input refused
//! with nothing changed.

use std::path::{Path, PathBuf};

use gryt::server::{AdminError, ServerConfig, admin_backup, admin_restore};

use super::harness::*;
use crate::common::TestEnv;

fn history(c: &Client, p: &str) -> String {
    c.get(&format!("/v1/projects/{p}")).ok()["history_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A server with one project holding one generation, and a backup of it.
fn served_with_backup() -> (tempfile::TempDir, TestServer, Client, String, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let s = TestServer::start_sqlite_in(&temp.path().join("data"), ServerConfig::default());
    let ann = s.user("ann");
    let p = ann.project("acme", "web");
    ann.push(
        &p,
        0,
        vec![generation(gen_record(&uid(1), "1.0.0", &["A-1"]))],
    )
    .ok();
    let file = temp.path().join("gryt.backup");
    let report = admin_backup(&s.dir, &file).unwrap();
    assert_eq!(report.file, file);
    (temp, s, ann, p, file)
}

fn rewrite_checksum(file: &Path) {
    let hex = gryt::server::storage::backup::sha256_file(file).unwrap();
    gryt::server::storage::backup::write_checksum(file, &hex).unwrap();
}

#[test]
fn a_backup_taken_while_serving_restores_with_a_new_history() {
    let (temp, mut s, ann, p, file) = served_with_backup();
    let before = history(&ann, &p);
    // The checksum file is in sha256sum format.
    let sum = std::fs::read_to_string(format!("{}.sha256", file.display())).unwrap();
    assert_eq!(
        sum,
        format!(
            "{}  gryt.backup\n",
            gryt::server::storage::backup::sha256_file(&file).unwrap()
        )
    );
    // A backup never overwrites one.
    assert!(matches!(
        admin_backup(&s.dir, &file),
        Err(AdminError::Exists(_))
    ));
    // The server kept serving: a push after the backup is not in it.
    ann.push(
        &p,
        1,
        vec![generation(gen_record(&uid(2), "2.0.0", &["A-1"]))],
    )
    .ok();

    // Refused while the server runs on the directory.
    assert!(matches!(
        admin_restore(&file, &s.dir),
        Err(AdminError::ServerRunning(_))
    ));
    assert_eq!(ann.head(&p), 2, "nothing changed");
    // One server per data directory.
    assert!(matches!(
        gryt::server::BackgroundServer::start(&s.dir, ServerConfig::default()),
        Err(gryt::server::ServerError::Admin(AdminError::ServerRunning(
            _
        )))
    ));
    s.stop();

    let report = admin_restore(&file, &s.dir).unwrap();
    let kept = report
        .replaced
        .clone()
        .expect("the replaced database is kept");
    assert!(kept.starts_with(s.dir.join("replaced")), "{kept:?}");
    let s = TestServer::start_sqlite_in(&s.dir, ServerConfig::default());
    let ann = s.client().login("ann");
    assert_eq!(ann.head(&p), 1, "the history is back at the backup");
    let after = history(&ann, &p);
    assert_ne!(after, before, "a restore rewinds the history");
    assert_eq!(after, report.history_id.to_string());
    // The restored server works on: the freed version can be taken again.
    ann.push(
        &p,
        1,
        vec![generation(gen_record(&uid(3), "2.0.0", &["A-1"]))],
    )
    .ok();
    drop(s);

    // The replaced database is whole: restoring it brings the lost push back.
    let kept_copy = temp.path().join("kept.db");
    std::fs::copy(&kept, &kept_copy).unwrap();
    rewrite_checksum(&kept_copy);
    let data = temp.path().join("data");
    admin_restore(&kept_copy, &data).unwrap();
    let s = TestServer::start_sqlite_in(&data, ServerConfig::default());
    let ann = s.client().login("ann");
    assert_eq!(ann.head(&p), 2);
}

/// Every bad input: a clear error, and the live database is untouched.
#[test]
fn bad_backups_are_refused_and_change_nothing() {
    let (temp, mut s, _ann, _p, file) = served_with_backup();
    s.stop();
    let data = s.dir.clone();
    let live = || std::fs::read(data.join("gryt-server.db")).unwrap();
    let before = live();
    let case = |name: &str, bytes: &[u8], checksum: bool| {
        let f = temp.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        if checksum {
            rewrite_checksum(&f);
        }
        f
    };
    let good = std::fs::read(&file).unwrap();

    let no_sum = case("no-sum.db", &good, false);
    assert!(matches!(
        admin_restore(&no_sum, &data),
        Err(AdminError::ChecksumMissing(_))
    ));

    let mut tampered_bytes = good.clone();
    let last = tampered_bytes.len() - 100;
    tampered_bytes[last] ^= 0xFF;
    let tampered = case("tampered.db", &tampered_bytes, false);
    std::fs::copy(
        format!("{}.sha256", file.display()),
        format!("{}.sha256", tampered.display()),
    )
    .unwrap();
    assert!(matches!(
        admin_restore(&tampered, &data),
        Err(AdminError::ChecksumMismatch { .. })
    ));

    let garbled = case("garbled.db", &good, false);
    std::fs::write(format!("{}.sha256", garbled.display()), "not a checksum\n").unwrap();
    assert!(matches!(
        admin_restore(&garbled, &data),
        Err(AdminError::ChecksumMalformed(_))
    ));

    // Truncated, with a checksum that matches what is left.
    let truncated = case("truncated.db", &good[..good.len() / 2], true);
    let err = admin_restore(&truncated, &data).unwrap_err();
    assert!(
        matches!(
            err,
            AdminError::Integrity { .. } | AdminError::NotServerDatabase { .. }
        ),
        "{err}"
    );

    let text = case("text.db", b"hello, not a database at all\n", true);
    assert!(matches!(
        admin_restore(&text, &data),
        Err(AdminError::NotServerDatabase { .. })
    ));

    // A sound SQLite database that is not a server's (a workspace, say).
    let foreign = temp.path().join("foreign.db");
    {
        let c = rusqlite::Connection::open(&foreign).unwrap();
        c.execute_batch("CREATE TABLE generations (id TEXT); PRAGMA user_version = 3;")
            .unwrap();
    }
    rewrite_checksum(&foreign);
    assert!(matches!(
        admin_restore(&foreign, &data),
        Err(AdminError::NotServerDatabase { .. })
    ));

    // A backup from a newer gryt.
    let newer = temp.path().join("newer.db");
    std::fs::copy(&file, &newer).unwrap();
    {
        let c = rusqlite::Connection::open(&newer).unwrap();
        c.execute_batch("PRAGMA user_version = 999").unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    rewrite_checksum(&newer);
    assert!(matches!(
        admin_restore(&newer, &data),
        Err(AdminError::TooNew { found: 999, .. })
    ));

    assert_eq!(live(), before, "the live database is untouched");
    assert!(!data.join("replaced").exists());
    let left: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".restore"))
        .collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");
    // Backing up a directory without a server database says so.
    assert!(matches!(
        admin_backup(&temp.path().join("nothing"), &temp.path().join("x.db")),
        Err(AdminError::NoDatabase(_))
    ));
}

/// The commands: output, exit codes, hints.
#[test]
fn the_admin_commands_report_and_fail_clearly() {
    let env = TestEnv::new();
    let data = env.tmp.path().join("data");
    {
        let s = TestServer::start_sqlite_in(&data, ServerConfig::default());
        s.user("ann").project("acme", "web");
        let out = env.tmp.path().join("b.db");
        let done = env
            .run(&[
                "cloud",
                "admin",
                "backup",
                "--data",
                data.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ])
            .ok();
        assert!(done.stdout.contains("integrity ok"), "{}", done.render());
        let refused = env
            .run(&[
                "cloud",
                "admin",
                "restore",
                out.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ])
            .fails(1);
        assert!(
            refused.stderr.contains("a server is running on"),
            "{}",
            refused.render()
        );
        assert!(
            refused.stderr.contains("Hint: stop `gryt cloud serve`"),
            "{}",
            refused.render()
        );
    }
    let out = env.tmp.path().join("b.db");
    let restored = env
        .run(&[
            "cloud",
            "admin",
            "restore",
            out.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--json",
        ])
        .ok();
    let report = restored.json();
    assert!(report["history_id"].is_string(), "{}", restored.render());
    assert!(report["replaced"].as_str().unwrap().contains("replaced"));
    std::fs::remove_file(format!("{}.sha256", out.display())).unwrap();
    let missing = env
        .run(&[
            "cloud",
            "admin",
            "restore",
            out.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .fails(1);
    assert!(
        missing.stderr.contains(".sha256 is missing"),
        "{}",
        missing.render()
    );
}

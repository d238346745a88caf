//! The hermetic test harness: a temp HOME and XDG dirs, a git repository with one commit,
//! a fixed clock (`GRYT_NOW`) and seed (`GRYT_SEED`), no colour. `run` returns exit code,
//! stdout and stderr with temp paths replaced by `[TMP]`, ready for golden snapshots.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const NOW: &str = "2026-03-01T12:00:00Z";

pub struct TestEnv {
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
    /// The repository (workspace root); commands run here unless `run_in` says otherwise.
    pub repo: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// The golden rendering: exit code, then stdout and stderr.
    pub fn render(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(self.code, 0, "expected success:\n{}", self.render());
        self
    }

    #[track_caller]
    pub fn fails(self, code: i32) -> Out {
        assert_eq!(self.code, code, "expected exit {code}:\n{}", self.render());
        self
    }

    /// Table columns after a `[DUR]` are padded by the real duration's width: make it fixed.
    pub fn stable(&self) -> Out {
        let fix = |s: &str| {
            s.lines()
                .map(|l| match l.split_once("[DUR]") {
                    Some((a, b)) => format!("{a}[DUR]  {}", b.trim_start()),
                    None => l.to_string(),
                })
                .map(|l| l + "\n")
                .collect::<String>()
        };
        Out {
            code: self.code,
            stdout: fix(&self.stdout),
            stderr: fix(&self.stderr),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.render()))
    }
}

impl TestEnv {
    /// A workspace inside a git repository (not yet `gryt init`ed).
    pub fn new() -> TestEnv {
        let env = Self::bare();
        env.git(&["init", "-q", "-b", "main"]);
        env.git(&["commit", "-q", "--allow-empty", "-m", "initial"]);
        env
    }

    /// `new()` plus `gryt init`.
    pub fn init() -> TestEnv {
        let env = Self::new();
        env.run(&["init"]).ok();
        env
    }

    /// `init()` plus a draft v1.2.0 with FEAT-1 (add, "Login") and BUG-2 (fix, "Crash on
    /// start"), applied to the database. `extra` is YAML inserted before `changes:`.
    pub fn with_contract(extra: &str) -> TestEnv {
        let env = Self::init();
        env.write_contract(
            "v1.2.0",
            &[
                ("add", "FEAT-1", "Login"),
                ("fix", "BUG-2", "Crash on start"),
            ],
            extra,
        );
        env.run(&["generation", "update", "1.2.0"]).ok();
        env
    }

    /// A directory that is not a git repository.
    pub fn bare() -> TestEnv {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(home.join(".gitconfig"), "[user]\n\tname = Ada Tester\n\temail = ada@example.com\n[init]\n\tdefaultBranch = main\n").unwrap();
        TestEnv { tmp, home, repo }
    }

    fn apply_env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("GIT_CONFIG_GLOBAL", self.home.join(".gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("USER", "tester")
            .env("GRYT_NOW", NOW)
            .env("GRYT_SEED", "42")
            .env("NO_COLOR", "1")
            .env("TERM", "dumb")
            // Never a real keyring; fail fast instead of retrying against a server that is down.
            .env("GRYT_KEYRING", "off")
            .env("GRYT_HTTP_RETRIES", "0");
    }

    pub fn git(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("git");
        self.apply_env(&mut cmd);
        let out = cmd
            .args(args)
            .current_dir(&self.repo)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gryt"));
        self.apply_env(&mut cmd);
        cmd.args(args).current_dir(dir);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Out {
        self.run_in(&self.repo, args)
    }

    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Out {
        self.finish(self.command(dir, args).output().expect("gryt runs"))
    }

    pub fn finish(&self, out: std::process::Output) -> Out {
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: self.normalize(&String::from_utf8_lossy(&out.stdout)),
            stderr: self.normalize(&String::from_utf8_lossy(&out.stderr)),
        }
    }

    fn normalize(&self, s: &str) -> String {
        let tmp = self.tmp.path().to_string_lossy().into_owned();
        let canonical = self
            .tmp
            .path()
            .canonicalize()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| tmp.clone());
        // Durations vary run to run; replace `(0.0s)`-style figures.
        let s = s.replace(&canonical, "[TMP]").replace(&tmp, "[TMP]");
        normalize_durations(&s)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.repo.join(rel)
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// The database file's bytes (after every gryt process closed it, so the WAL is folded in).
    pub fn db_bytes(&self) -> Vec<u8> {
        std::fs::read(self.path(".gryt/gryt.db")).expect("database exists")
    }

    /// Everything under `.gryt/` except the database, as (path, bytes) — to check that a
    /// refused command changed no file.
    pub fn files_snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        walk(&self.path(".gryt"), &mut out);
        out.sort();
        out
    }

    /// A contract file with the given changes `(type, id, title)`.
    pub fn write_contract(&self, version: &str, changes: &[(&str, &str, &str)], extra: &str) {
        let mut s = format!("version: {version}\n{extra}changes:\n");
        for (t, id, title) in changes {
            s.push_str(&format!(
                "  - type: {t}\n    id: {id}\n    title: {title}\n"
            ));
        }
        self.write(&format!(".gryt/generations/{version}.yaml"), s);
    }

    /// A pipeline whose single step runs `command`.
    pub fn write_pipeline(&self, name: &str, command: &str) {
        self.write(
            &format!(".gryt/pipelines/{name}.yaml"),
            format!(
                "steps:\n  - name: check\n    run: {}\n",
                serde_json::to_string(command).unwrap()
            ),
        );
    }
}

fn walk(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = p.to_string_lossy().into_owned();
        if p.is_dir() {
            walk(&p, out);
        } else if !name.contains("gryt.db") {
            out.push((name, std::fs::read(&p).unwrap_or_default()));
        }
    }
}

/// `0.0s`, `12.3s` → `[DUR]`, `15ms` → `[DUR]`.
pub fn normalize_durations(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts_number = chars[i].is_ascii_digit()
            && (i == 0
                || !chars[i - 1].is_ascii_alphanumeric()
                    && chars[i - 1] != '.'
                    && chars[i - 1] != '-');
        if starts_number {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            let unit_ms = chars.get(j) == Some(&'m') && chars.get(j + 1) == Some(&'s');
            let unit_s = chars.get(j) == Some(&'s')
                && !chars.get(j + 1).is_some_and(|c| c.is_alphanumeric());
            let has_dot = chars[i..j].contains(&'.');
            if unit_ms && !chars.get(j + 2).is_some_and(|c| c.is_alphanumeric()) {
                out.push_str("[DUR]");
                i = j + 2;
                continue;
            }
            if unit_s && has_dot {
                out.push_str("[DUR]");
                i = j + 1;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Golden snapshot of a command's output, stored in tests/it/snapshots/.
#[macro_export]
macro_rules! golden {
    ($name:expr, $out:expr) => {
        insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!($name, $out.render());
        })
    };
}

//! One developer against a real Gryt Cloud: a workspace with its own HOME (so its own
//! credentials), the server's URL, and the account it acts as. The `cloud_client` tests drive
//! `gryt cloud …` with it; the `sync` tests start from a linked one (`sync::dev`).
#![cfg(feature = "server")]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{Out, TestEnv};
use crate::server::harness::TestServer;

pub struct Dev {
    /// The account logged in (empty until [`Dev::account`] or a linked `sync::dev`).
    pub name: String,
    pub env: TestEnv,
    pub url: String,
}

impl Dev {
    /// An initialised workspace pointed at `server`, logged in to nothing.
    pub fn new(server: &TestServer) -> Dev {
        Dev::at(&server.base)
    }

    pub fn at(url: &str) -> Dev {
        Dev {
            name: String::new(),
            env: TestEnv::init(),
            url: url.to_string(),
        }
    }

    /// Registers and logs in `name`.
    pub fn account(server: &TestServer, name: &str) -> Dev {
        let mut dev = Dev::new(server);
        dev.register(name).ok();
        dev.login(name).ok();
        dev.name = name.to_string();
        dev
    }

    /// `gryt ARGS` in the repository (the harness's environment: no keyring, no retries).
    pub fn command(&self, args: &[&str]) -> Command {
        self.env.command(&self.env.repo, args)
    }

    pub fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, &[], "")
    }

    /// Runs with extra environment and `stdin`.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Out {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied());
        feed(&self.env, cmd, stdin)
    }

    pub fn register(&self, name: &str) -> Out {
        let args = password_args("register", &self.url, name);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run_with(&args, &[], &password(name))
    }

    pub fn login(&self, name: &str) -> Out {
        login(&self.env, &self.env.repo, name, &self.url)
    }

    pub fn credentials_path(&self) -> std::path::PathBuf {
        self.env.home.join(".config/gryt/credentials")
    }

    pub fn credentials_file(&self) -> String {
        std::fs::read_to_string(self.credentials_path()).unwrap_or_default()
    }

    /// The one token stored in the credentials file.
    pub fn stored_token(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.credentials_file()).unwrap();
        let servers = v["tokens"].as_object().unwrap();
        let accounts = servers.values().next().unwrap().as_object().unwrap();
        accounts
            .values()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Every table of the local store except the sync log (which records refused syncs
    /// too), as text: to check that a refused command changed no release state.
    pub fn state(&self) -> String {
        let conn = rusqlite::Connection::open(self.env.path(".gryt/gryt.db")).unwrap();
        let mut out = String::new();
        for table in [
            "generations",
            "changes",
            "evolutions",
            "pipeline_runs",
            "pipeline_steps",
            "sync_metadata",
            "local_state",
            "conflicts",
            "sync_base",
            "audit_events",
        ] {
            // The store's revision is a cache token, not state: any transaction that writes
            // rows moves it, even rows rewritten with the values they had (src/store/counts.rs).
            let only = match table {
                "local_state" => "WHERE key <> 'store.revision'",
                _ => "",
            };
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM {table} {only} ORDER BY 1, 2"))
                .unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap();
            for row in rows {
                out.push_str(&format!("{table}: {}\n", row.unwrap()));
            }
        }
        out
    }
}

/// `gryt cloud login` as `name` at `url`, run in `dir` of `env`, the password on stdin.
pub fn login(env: &TestEnv, dir: &Path, name: &str, url: &str) -> Out {
    let args = password_args("login", url, name);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    feed(env, env.command(dir, &args), &password(name))
}

/// Every test account's password.
fn password(name: &str) -> String {
    format!("password-{name}\n")
}

fn password_args(verb: &str, url: &str, name: &str) -> Vec<String> {
    [
        "cloud",
        verb,
        "--url",
        url,
        "--username",
        name,
        "--password-stdin",
    ]
    .map(String::from)
    .to_vec()
}

/// Runs `cmd` with `stdin` on its standard input.
fn feed(env: &TestEnv, mut cmd: Command, stdin: &str) -> Out {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("gryt runs");
    // A command that fails before reading its input closes the pipe: not an error here.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    env.finish(child.wait_with_output().unwrap())
}

//! `gryt cloud …` through the real binary against a real server on 127.0.0.1:0, one HOME per
//! developer, and the HTTP client against fake servers that misbehave. Every command runs
//! with `GRYT_KEYRING=off` (never a real keyring) and no retries (failures are fast).
#![cfg(feature = "server")]

mod accounts;
mod failures;
mod lost_answer;
mod teams;

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{Out, TestEnv};
use crate::server::harness::TestServer;

/// One developer: an initialised workspace with its own HOME, pointed at a server.
pub struct Dev {
    pub env: TestEnv,
    pub url: String,
}

impl Dev {
    pub fn new(server: &TestServer) -> Dev {
        Dev::at(&server.base)
    }

    pub fn at(url: &str) -> Dev {
        Dev {
            env: TestEnv::init(),
            url: url.to_string(),
        }
    }

    /// `gryt ARGS` in the repo, hermetic: no keyring, no retries, no GRYT_TOKEN.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.command(&self.env.repo, args);
        cmd.env("GRYT_KEYRING", "off").env("GRYT_HTTP_RETRIES", "0");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, &[], "")
    }

    /// Runs with extra environment and `stdin`.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Out {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("gryt runs");
        // A command that fails before reading its input closes the pipe: not an error here.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        self.env.finish(child.wait_with_output().unwrap())
    }

    pub fn register(&self, name: &str) -> Out {
        let pw = format!("password-{name}\n");
        self.run_with(
            &[
                "cloud",
                "register",
                "--url",
                &self.url,
                "--username",
                name,
                "--password-stdin",
            ],
            &[],
            &pw,
        )
    }

    pub fn login(&self, name: &str) -> Out {
        let pw = format!("password-{name}\n");
        self.run_with(
            &[
                "cloud",
                "login",
                "--url",
                &self.url,
                "--username",
                name,
                "--password-stdin",
            ],
            &[],
            &pw,
        )
    }

    /// Registers and logs in `name`.
    pub fn account(server: &TestServer, name: &str) -> Dev {
        let dev = Dev::new(server);
        dev.register(name).ok();
        dev.login(name).ok();
        dev
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
}

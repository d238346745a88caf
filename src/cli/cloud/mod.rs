//! `gryt cloud …`: accounts and tokens (`account.rs`), teams (`team.rs`), projects and the
//! repository link (`project.rs`), project webhooks (`webhook.rs`), and running a Gryt Cloud server (`serve`, `admin`).
//! Error answers map to exit codes in `error.rs`.

mod account;
mod copy;
mod project;
#[cfg(feature = "server")]
mod serve;
mod team;
mod webhook;

use clap::Subcommand;

use super::error::CommandError;
use super::ui::Ui;
use crate::sync::client::{Client, ClientOptions};
use crate::sync::credentials::{Credentials, Token};
use crate::sync::remote::RemoteError;

// The `gryt cloud` group. Its help text is the doc comment of `cli::Command::Cloud` (a doc
// comment here would replace it once clap builds the deferred group).
#[derive(Debug, Subcommand)]
pub enum CloudCommand {
    Register(account::RegisterArgs),
    Login(account::LoginArgs),
    Logout(account::LogoutArgs),
    Whoami(account::WhoamiArgs),
    #[command(subcommand)]
    ApiKeys(account::ApiKeysCommand),
    #[command(subcommand)]
    Team(team::TeamCommand),
    #[command(subcommand)]
    Project(project::ProjectCommand),
    Link(project::LinkArgs),
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    Copy(copy::CopyArgs),
    #[cfg(feature = "server")]
    Serve(serve::ServeArgs),
    /// Administer a Gryt Cloud server's storage directly (data directory or database; no server needed)
    #[cfg(feature = "server")]
    #[command(subcommand)]
    Admin(serve::AdminCommand),
}

pub fn run(ui: &Ui, cmd: CloudCommand) -> Result<(), CommandError> {
    match cmd {
        CloudCommand::Register(args) => account::cmd_register(ui, args),
        CloudCommand::Login(args) => account::cmd_login(ui, args),
        CloudCommand::Logout(args) => account::cmd_logout(ui, args),
        CloudCommand::Whoami(args) => account::cmd_whoami(ui, args),
        CloudCommand::ApiKeys(cmd) => account::run_api_keys(ui, cmd),
        CloudCommand::Team(cmd) => team::run(ui, cmd),
        CloudCommand::Project(cmd) => project::run(ui, cmd),
        CloudCommand::Link(args) => project::cmd_link(ui, args),
        CloudCommand::Webhook(cmd) => webhook::run(ui, cmd),
        CloudCommand::Copy(args) => copy::cmd_copy(ui, args),
        #[cfg(feature = "server")]
        CloudCommand::Serve(args) => serve::cmd_serve(ui, args),
        #[cfg(feature = "server")]
        CloudCommand::Admin(cmd) => serve::cmd_admin(ui, cmd),
    }
}

/// `--url`, shared by the commands that talk to a server.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArg {
    /// Gryt Cloud server (default: cloud.url, else the server of the last login)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

impl ServerArg {
    /// The server to talk to: `--url`, else `cloud.url` (repo over global), else the server
    /// of the last login.
    fn resolve(&self, creds: &Credentials) -> Result<String, CommandError> {
        self.find_url(creds)?.ok_or_else(|| {
            CommandError::usage("no Gryt Cloud server given")
                .hint("pass --url URL, or set one: gryt config cloud.url URL")
        })
    }

    /// --url, else the repository's `cloud.url`, else the server last logged in to.
    fn find_url(&self, creds: &Credentials) -> Result<Option<String>, CommandError> {
        if let Some(url) = &self.url {
            return crate::workspace::config::validate("cloud.url", url)
                .map(Some)
                .map_err(|e| CommandError::usage(e.to_string()));
        }
        let cwd = std::env::current_dir()
            .map_err(|e| CommandError::user(format!("cannot read the current directory: {e}")))?;
        let root = crate::workspace::find_root(&cwd);
        let config = crate::workspace::load_config(root.as_deref())?;
        if let Some(url) = config.get("cloud.url") {
            return Ok(Some(url.to_string()));
        }
        Ok(creds.default_url()?)
    }

    /// An unauthenticated client for the server.
    fn anonymous(&self) -> Result<(Credentials, String, Client), CommandError> {
        let creds = Credentials::from_env()?;
        let url = self.resolve(&creds)?;
        let client = Client::new(&url, None, ClientOptions::from_env());
        Ok((creds, url, client))
    }

    /// A client carrying the token for the server (GRYT_TOKEN, keyring or file).
    fn authed(&self) -> Result<Session, CommandError> {
        let creds = Credentials::from_env()?;
        let url = self.find_url(&creds)?.ok_or_else(|| {
            CommandError::user("not logged in to any Gryt Cloud server").hint(
                "log in: gryt cloud login --url URL (or register: gryt cloud register --url URL)",
            )
        })?;
        let token = creds
            .token(&url)?
            .ok_or_else(|| RemoteError::NotLoggedIn { url: url.clone() })?;
        let client = Client::new(
            &url,
            Some(token.secret().to_string()),
            ClientOptions::from_env(),
        );
        Ok(Session { url, token, client })
    }
}

/// A server, its client with a token, and where the token came from.
struct Session {
    url: String,
    token: Token,
    client: Client,
}

impl Session {
    /// Runs one request; a refused token gets the hint that fits where it came from.
    fn call<T>(
        &self,
        f: impl FnOnce(&Client) -> crate::sync::client::Result<T>,
    ) -> Result<T, CommandError> {
        f(&self.client).map_err(|e| super::error::client_error(e, self.token.source))
    }
}

/// `TEAM/PROJECT` as typed by the user.
fn split_slug(s: &str) -> Result<(String, String), CommandError> {
    let bad = || CommandError::usage(format!("expected TEAM/PROJECT, got `{}`", s.escape_debug()));
    let (team, project) = s.split_once('/').ok_or_else(bad)?;
    for (what, name) in [("team", team), ("project", project)] {
        crate::api::accounts::check_name(what, name).map_err(CommandError::usage)?;
    }
    Ok((team.to_string(), project.to_string()))
}

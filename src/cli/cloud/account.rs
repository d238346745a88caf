//! `gryt cloud register|login|logout|whoami|api-keys`: accounts and the tokens that stand for
//! them. Secrets are read without echo, stored by `sync::credentials`, and printed only once:
//! a new API key, on stdout.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;
use uuid::Uuid;

use super::ServerArg;
use crate::api::accounts::{CreateApiKey, LoginRequest, RegisterRequest, TokenInfo};
use crate::cli::error::CommandError;
use crate::cli::ui::{self, Ui};
use crate::sync::client::ClientError;
use crate::sync::credentials::{Credentials, Stored, TokenSource};

/// Create an account on a Gryt Cloud server with open registration, and log in
///
/// The new account is logged in on this device, as `gryt cloud login` would (unless
/// --no-login).
#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// Account name (prompted for on a terminal)
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,
    /// Read the password from stdin (one line) instead of prompting
    #[arg(long)]
    pub password_stdin: bool,
    /// Only create the account; do not log this device in
    #[arg(long)]
    pub no_login: bool,
    /// Name of this device in the token list (default: the host name)
    #[arg(long, value_name = "NAME", conflicts_with = "no_login")]
    pub device: Option<String>,
}

/// Log in and keep a token for this device (OS keyring, else a private file)
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub server: ServerArg,
    /// Account name (prompted for on a terminal)
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,
    /// Read the password from stdin (one line) instead of prompting
    #[arg(long)]
    pub password_stdin: bool,
    /// Name of this device in the token list (default: the host name)
    #[arg(long, value_name = "NAME")]
    pub device: Option<String>,
}

/// Revoke this device's token on the server and forget it here
#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    #[command(flatten)]
    pub server: ServerArg,
}

/// Show the account, the token in use and the teams
#[derive(Debug, clap::Args)]
pub struct WhoamiArgs {
    #[command(flatten)]
    pub server: ServerArg,
}

/// API keys: tokens for CI, used through GRYT_TOKEN
#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create a key; it is printed once, on stdout
    Create(ApiKeyCreateArgs),
    /// List the account's API keys (never the secrets)
    List(ServerArg),
    /// Revoke a key by its id
    Revoke(ApiKeyRevokeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ApiKeyCreateArgs {
    pub name: String,
    /// Days until the key expires (default: never)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub expires_in_days: Option<u32>,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, clap::Args)]
pub struct ApiKeyRevokeArgs {
    pub id: Uuid,
    #[command(flatten)]
    pub server: ServerArg,
}

pub fn cmd_register(ui: &Ui, args: RegisterArgs) -> Result<(), CommandError> {
    let (creds, url, client) = args.server.anonymous()?;
    let username = username(args.username)?;
    let password = password(args.password_stdin, true)?;
    crate::api::accounts::check_password(&password).map_err(CommandError::usage)?;
    let account = client.register(&RegisterRequest {
        username: username.clone(),
        password: password.clone(),
    })?;
    if args.no_login {
        if ui.json {
            return ui.json(&account);
        }
        ui.line(format!("Registered {} on {url}", account.username))?;
        ui.status(format!(
            "Log in with: gryt cloud login --url {url} --username {}",
            account.username
        ));
        return Ok(());
    }
    if !ui.json {
        ui.line(format!("Registered {} on {url}", account.username))?;
    }
    let request = LoginRequest {
        username,
        password,
        device: args.device.or_else(host_name),
    };
    let login = log_in(ui, &creds, &url, &client, request).map_err(|e| {
        let mut e = e;
        e.message = format!(
            "registered {}, but logging in failed: {}",
            account.username, e.message
        );
        e.hint(format!(
            "log in with: gryt cloud login --url {url} --username {}",
            account.username
        ))
    })?;
    if ui.json {
        let mut value = serde_json::to_value(&account).expect("an account serializes");
        if let Some(map) = value.as_object_mut() {
            map.insert("login".into(), login.json(&url));
        }
        return ui.json(&value);
    }
    ui.line(login.line(&url))
}

pub fn cmd_login(ui: &Ui, args: LoginArgs) -> Result<(), CommandError> {
    let (creds, url, client) = args.server.anonymous()?;
    let request = LoginRequest {
        username: username(args.username)?,
        password: password(args.password_stdin, false)?,
        device: args.device.or_else(host_name),
    };
    let login = log_in(ui, &creds, &url, &client, request)?;
    if ui.json {
        return ui.json(&login.json(&url));
    }
    ui.line(login.line(&url))
}

/// A token issued and kept for this device.
struct LoggedIn {
    issued: crate::api::accounts::IssuedToken,
    stored: Stored,
}

impl LoggedIn {
    fn json(&self, url: &str) -> serde_json::Value {
        serde_json::json!({
            "url": url,
            "username": self.issued.username,
            "token": self.issued.info,
            "stored_in": self.stored.source,
        })
    }

    fn line(&self, url: &str) -> String {
        format!(
            "Logged in to {url} as {} (token kept in {})",
            self.issued.username,
            place(&self.stored)
        )
    }
}

/// Logs in and stores the token (`gryt cloud login`, and `register` after the account exists).
fn log_in(
    ui: &Ui,
    creds: &Credentials,
    url: &str,
    client: &crate::sync::client::Client,
    request: LoginRequest,
) -> Result<LoggedIn, CommandError> {
    let issued = client.login(&request).map_err(|e| {
        let wrong = e.code() == Some(crate::api::ErrorCode::Unauthorized);
        let mut err = CommandError::from(e);
        if wrong {
            err.hints = vec![
                "type them again (passwords are case-sensitive); a server's administrator can make a new account: gryt cloud admin user add".into(),
            ];
        }
        err
    })?;
    let stored = creds.store(url, &issued.username, &issued.token)?;
    if let Some(problem) = &stored.keyring_problem {
        ui.status(format!("OS keyring not used: {problem}"));
    }
    if creds.env_override() {
        ui.warn("GRYT_TOKEN is set and is used instead of this login");
    }
    Ok(LoggedIn { issued, stored })
}

fn place(stored: &Stored) -> String {
    match stored.source {
        TokenSource::File => format!("the file {}", stored.place),
        _ => stored.place.clone(),
    }
}

pub fn cmd_logout(ui: &Ui, args: LogoutArgs) -> Result<(), CommandError> {
    let creds = Credentials::from_env()?;
    let url = args.server.resolve(&creds)?;
    let Some(account) = creds.current_account(&url)? else {
        ui.status(format!("Not logged in to {url}"));
        return Ok(());
    };
    if let Some(token) = creds.stored_token(&url, &account)? {
        let client = crate::sync::client::Client::new(
            &url,
            Some(token.into_secret()),
            crate::sync::client::ClientOptions::from_env(),
        );
        match client.logout() {
            Ok(()) => {}
            // Revoked or expired already: nothing left to revoke.
            Err(ClientError::Api { body, .. })
                if body.error == crate::api::ErrorCode::Unauthorized => {}
            Err(e) => ui.warn(format!(
                "the token was not revoked on the server ({e}); it stays valid there until it \
                 expires or is revoked (gryt cloud api-keys / the token list)"
            )),
        }
    }
    creds.forget(&url, &account)?;
    ui.line(format!("Logged out {account} from {url}"))
}

pub fn cmd_whoami(ui: &Ui, args: WhoamiArgs) -> Result<(), CommandError> {
    let s = args.server.authed()?;
    let me = s.call(|c| c.whoami())?;
    if ui.json {
        return ui.json(&serde_json::json!({
            "url": s.url,
            "username": me.username,
            "token_source": s.token.source,
            "token": me.token,
            "teams": me.teams,
        }));
    }
    let source = match s.token.source {
        TokenSource::Env => "GRYT_TOKEN",
        TokenSource::Keyring => "the OS keyring",
        TokenSource::File => "the credentials file",
    };
    ui.line(format!("{} on {}", me.username, s.url))?;
    ui.line(format!(
        "token: {} ({}, from {source}){}",
        me.token.name,
        me.token.kind.as_str(),
        me.token
            .expires_at
            .as_ref()
            .map(|t| format!(", expires {t}"))
            .unwrap_or_default()
    ))?;
    let teams = me
        .teams
        .iter()
        .map(|t| format!("{} ({})", t.name, t.role.as_str()))
        .collect::<Vec<_>>();
    ui.line(format!(
        "teams: {}",
        if teams.is_empty() {
            "none".to_string()
        } else {
            teams.join(", ")
        }
    ))
}

pub fn run_api_keys(ui: &Ui, cmd: ApiKeysCommand) -> Result<(), CommandError> {
    match cmd {
        ApiKeysCommand::Create(args) => {
            let s = args.server.authed()?;
            let req = CreateApiKey {
                name: args.name,
                expires_in_days: args.expires_in_days,
            };
            let key = s.call(|c| c.create_api_key(&req))?;
            if ui.json {
                return ui.json(&key);
            }
            ui.status(format!(
                "Created API key {} ({}); it is shown only once. Use it as GRYT_TOKEN.",
                key.info.name, key.info.id
            ));
            ui.line(&key.token)
        }
        ApiKeysCommand::List(server) => {
            let keys = server.authed()?.call(|c| c.api_keys())?;
            if ui.json {
                return ui.json(&keys);
            }
            ui.line(ui::render(&token_table(&keys)))
        }
        ApiKeysCommand::Revoke(args) => {
            args.server.authed()?.call(|c| c.revoke_api_key(args.id))?;
            ui.line(format!("Revoked API key {}", args.id))
        }
    }
}

fn token_table(keys: &[TokenInfo]) -> comfy_table::Table {
    let mut t = ui::table(&["id", "name", "created", "expires"]);
    for k in keys {
        t.add_row(vec![
            k.id.to_string(),
            k.name.clone(),
            k.created_at.clone(),
            k.expires_at.clone().unwrap_or_else(|| "never".into()),
        ]);
    }
    t
}

fn username(given: Option<String>) -> Result<String, CommandError> {
    let name = match given {
        Some(n) => n,
        None if std::io::stdin().is_terminal() => {
            eprint!("Username: ");
            let _ = std::io::stderr().flush();
            read_line()?
        }
        None => return Err(CommandError::usage("no username: pass --username NAME")),
    };
    crate::api::accounts::check_name("account", &name).map_err(CommandError::usage)?;
    Ok(name)
}

/// The password: prompted for without echo on a terminal, else one line of stdin.
fn password(from_stdin: bool, confirm: bool) -> Result<String, CommandError> {
    let prompt_err =
        |e: std::io::Error| CommandError::user(format!("cannot read the password: {e}"));
    if !from_stdin && std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password("Password: ").map_err(prompt_err)?;
        if confirm && rpassword::prompt_password("Password again: ").map_err(prompt_err)? != p {
            return Err(CommandError::user("the passwords differ"));
        }
        return Ok(p);
    }
    let p = read_line()?;
    if p.is_empty() {
        return Err(CommandError::usage("no password on stdin")
            .hint("echo \"$PASSWORD\" | gryt cloud login --password-stdin …"));
    }
    Ok(p)
}

fn read_line() -> Result<String, CommandError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CommandError::user(format!("cannot read stdin: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn host_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

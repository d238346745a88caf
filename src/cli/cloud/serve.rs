use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use crate::cli::error::CommandError;
use crate::cli::ui::Ui;
use crate::server::{self, Registration, ServeOptions};

/// Run a Gryt Cloud server (SQLite storage in --data) until SIGINT or SIGTERM
///
/// Every option can also come from a GRYT_SERVER_* variable. It serves plain HTTP; put a TLS
/// proxy in front of it for anything beyond localhost (see docs/SERVER.md).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, env = "GRYT_SERVER_LISTEN", default_value = ServeOptions::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Data directory (default: $XDG_DATA_HOME/gryt/server)
    #[arg(long, env = "GRYT_SERVER_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Whether anyone may register (closed: accounts come from `gryt cloud admin user add`)
    #[arg(long, env = "GRYT_SERVER_REGISTRATION", default_value = "open", value_parser = ["open", "closed"])]
    pub registration: String,
    /// Largest request body in bytes
    #[arg(long, env = "GRYT_SERVER_BODY_LIMIT", value_name = "BYTES")]
    pub body_limit: Option<usize>,
    /// Lifetime of login tokens, in days
    #[arg(long, env = "GRYT_SERVER_TOKEN_TTL_DAYS", value_name = "DAYS")]
    pub token_ttl_days: Option<u64>,
    /// Behind a reverse proxy on the same host: rate-limit logins by X-Forwarded-For
    #[arg(long, env = "GRYT_SERVER_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Log filter (tracing syntax, e.g. info or gryt=debug); RUST_LOG wins when set
    #[arg(long, env = "GRYT_SERVER_LOG", default_value = "info")]
    pub log: String,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Accounts, managed on the server's data directory without a running server
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from stdin (one line)
    Add(UserAddArgs),
}

#[derive(Debug, clap::Args)]
pub struct UserAddArgs {
    pub name: String,
    /// Data directory of the server (default: $XDG_DATA_HOME/gryt/server)
    #[arg(long, env = "GRYT_SERVER_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
}

fn data_dir(data: Option<PathBuf>) -> Result<PathBuf, CommandError> {
    data.or_else(server::default_data_dir).ok_or_else(|| {
        CommandError::usage("no data directory: pass --data DIR (or set HOME or XDG_DATA_HOME)")
    })
}

pub fn cmd_serve(ui: &Ui, args: ServeArgs) -> Result<(), CommandError> {
    let mut opts = ServeOptions::new(data_dir(args.data)?);
    opts.listen = args.listen;
    opts.registration = args
        .registration
        .parse::<Registration>()
        .map_err(CommandError::usage)?;
    if let Some(limit) = args.body_limit {
        opts.body_limit = limit;
    }
    if let Some(days) = args.token_ttl_days {
        opts.token_ttl = Duration::from_secs(days.saturating_mul(86_400));
    }
    opts.trust_forwarded_for = args.trust_forwarded_for;
    opts.log_filter = args.log;
    ui.status(format!(
        "Starting Gryt Cloud on {} (data in {}); the log names the address it listens on; Ctrl-C stops it",
        opts.listen,
        opts.data_dir.display()
    ));
    Ok(server::run_serve(opts)?)
}

pub fn cmd_admin(ui: &Ui, cmd: AdminCommand) -> Result<(), CommandError> {
    let AdminCommand::User(UserCommand::Add(args)) = cmd;
    let data = data_dir(args.data)?;
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(|e| CommandError::user(format!("cannot read the password from stdin: {e}")))?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(CommandError::user("no password on stdin").hint(format!(
            "echo \"$PASSWORD\" | gryt cloud admin user add {} --data DIR",
            args.name
        )));
    }
    let account = server::admin_add_user(&data, &args.name, password)?;
    if ui.json {
        return ui.json(&account);
    }
    ui.line(format!(
        "Created account {} in {}",
        account.username,
        data.display()
    ))
}

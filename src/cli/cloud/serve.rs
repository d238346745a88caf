use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use crate::cli::error::CommandError;
use crate::cli::ui::Ui;
use crate::server::{self, AdminError, Registration, ServeOptions};

/// Run a Gryt Cloud server (SQLite in --data, or PostgreSQL) until SIGINT or SIGTERM
///
/// Every option can also come from a GRYT_SERVER_* variable. It serves plain HTTP; put a TLS
/// proxy in front of it for anything beyond localhost (see docs/SERVER.md). Several servers
/// may share one PostgreSQL database (behind a load balancer); a data directory serves one.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, env = "GRYT_SERVER_LISTEN", default_value = ServeOptions::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Data directory (default: $XDG_DATA_HOME/gryt/server)
    #[arg(long, env = "GRYT_SERVER_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// A PostgreSQL database instead of the data directory: postgres://USER[:PASSWORD]@HOST[:PORT]/DB
    #[arg(
        long,
        env = "GRYT_SERVER_DATABASE",
        value_name = "URL",
        conflicts_with = "data"
    )]
    pub database: Option<String>,
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
    /// Accounts, managed on the server's storage without a running server
    #[command(subcommand)]
    User(UserCommand),
    Backup(BackupArgs),
    Restore(RestoreArgs),
    Migrate(MigrateArgs),
    NewHistory(NewHistoryArgs),
}

/// Copy a SQLite server's data into an empty PostgreSQL database
///
/// Copies accounts (with their password hashes), hashed tokens and API keys, teams, projects,
/// records, history and stored push answers in one transaction, then compares every table
/// with the source (rows and a SHA-256) before committing. The data directory is locked
/// meanwhile: stop `gryt cloud serve` on it first. An interrupted migration leaves the target
/// empty: run it again. Clients keep syncing against the new server with no change.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Data directory of the SQLite server (default: $XDG_DATA_HOME/gryt/server)
    #[arg(long = "from", env = "GRYT_SERVER_DATA", value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// The empty PostgreSQL database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB
    #[arg(long = "to", value_name = "URL")]
    pub to: String,
}

/// Give a PostgreSQL server a new history id, after restoring its database from a dump
///
/// Every client then notices on its next sync that the server's history was rewound, and
/// re-matches and re-sends what the restore lost (as `gryt cloud admin restore` does for a
/// data directory). Stop every server on the database first; start them again afterwards.
#[derive(Debug, clap::Args)]
pub struct NewHistoryArgs {
    /// The PostgreSQL database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB
    #[arg(long, env = "GRYT_SERVER_DATABASE", value_name = "URL")]
    pub database: String,
}

/// Write a consistent copy of the server database while the server keeps serving
///
/// Uses SQLite's online backup, checks the copy with `PRAGMA integrity_check`, and writes its
/// SHA-256 beside it as FILE.sha256 (sha256sum format). Never overwrites a file.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Data directory of the server (default: $XDG_DATA_HOME/gryt/server)
    #[arg(long, env = "GRYT_SERVER_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The backup file to write
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

/// Replace the server database with a backup (the server must be stopped)
///
/// Checks FILE against FILE.sha256, its integrity and its schema before touching anything;
/// keeps the replaced database in DIR/replaced/, and gives the server a new history id so
/// every client notices its history was rewound on its next sync.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup file (with FILE.sha256 beside it)
    pub file: PathBuf,
    /// Data directory of the server (default: $XDG_DATA_HOME/gryt/server)
    #[arg(long, env = "GRYT_SERVER_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
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
    /// The server's PostgreSQL database instead of a data directory
    #[arg(
        long,
        env = "GRYT_SERVER_DATABASE",
        value_name = "URL",
        conflicts_with = "data"
    )]
    pub database: Option<String>,
}

fn data_dir(data: Option<PathBuf>) -> Result<PathBuf, CommandError> {
    data.or_else(server::default_data_dir).ok_or_else(|| {
        CommandError::usage("no data directory: pass --data DIR (or set HOME or XDG_DATA_HOME)")
    })
}

pub fn cmd_serve(ui: &Ui, args: ServeArgs) -> Result<(), CommandError> {
    let mut opts = match &args.database {
        Some(url) => ServeOptions::new(PathBuf::new()).with_database(database_url(url)?),
        None => ServeOptions::new(data_dir(args.data)?),
    };
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
        "Starting Gryt Cloud on {} ({}); the log names the address it listens on; Ctrl-C stops it",
        opts.listen,
        opts.storage_label()
    ));
    Ok(server::run_serve(opts)?)
}

/// A `--database` value: a PostgreSQL URL, said clearly when it is something else.
fn database_url(url: &str) -> Result<String, CommandError> {
    if server::is_postgres_url(url) {
        return Ok(url.to_string());
    }
    Err(
        CommandError::usage(format!("`{url}` is not a PostgreSQL URL")).hint(
            "pass --database postgres://USER[:PASSWORD]@HOST[:PORT]/DB, or --data DIR for SQLite",
        ),
    )
}

pub fn cmd_admin(ui: &Ui, cmd: AdminCommand) -> Result<(), CommandError> {
    match cmd {
        AdminCommand::User(UserCommand::Add(args)) => cmd_user_add(ui, args),
        AdminCommand::Backup(args) => cmd_backup(ui, args),
        AdminCommand::Restore(args) => cmd_restore(ui, args),
        AdminCommand::Migrate(args) => cmd_migrate(ui, args),
        AdminCommand::NewHistory(args) => cmd_new_history(ui, args),
    }
}

fn cmd_migrate(ui: &Ui, args: MigrateArgs) -> Result<(), CommandError> {
    let from = data_dir(args.from)?;
    let to = database_url(&args.to)?;
    let report = server::admin_migrate(&from, &to).map_err(admin_error)?;
    if ui.json {
        return ui.json(&report);
    }
    for t in &report.tables {
        ui.line(format!(
            "{:<13} {:>9} rows  sha256 {}",
            t.table, t.rows, t.sha256
        ))?;
    }
    ui.line(format!(
        "Migrated {} to {}: every table matches its source (history id {} kept)",
        report.from, report.to, report.history_id
    ))?;
    ui.status(format!(
        "Next: gryt cloud serve --database {} (clients need no change)",
        report.to
    ));
    Ok(())
}

fn cmd_new_history(ui: &Ui, args: NewHistoryArgs) -> Result<(), CommandError> {
    let url = database_url(&args.database)?;
    let id = server::admin_new_history(&url)?;
    if ui.json {
        return ui.json(&serde_json::json!({"history_id": id}));
    }
    ui.line(format!("New history id {id}"))?;
    ui.status("Clients notice the rewound history on their next sync and re-send what it lost");
    Ok(())
}

/// The message and what to do next for a failed backup or restore.
fn admin_error(e: AdminError) -> CommandError {
    let hint = match &e {
        AdminError::NoDatabase(_) => Some("pass the server's data directory with --data DIR"),
        AdminError::Exists(_) => Some("choose another -o FILE, or move the old backup away"),
        AdminError::ChecksumMissing(_) | AdminError::ChecksumMalformed(_) => {
            Some("restore only files written by `gryt cloud admin backup`, with their FILE.sha256")
        }
        AdminError::ChecksumMismatch { .. } => Some(
            "the file changed since it was backed up (damaged or truncated): use another backup",
        ),
        AdminError::NotServerDatabase { .. } | AdminError::Integrity { .. } => {
            Some("use another backup; nothing was changed")
        }
        AdminError::TooNew { .. } => Some("restore it with the newer gryt that wrote it"),
        AdminError::ServerRunning(_) => {
            Some("stop `gryt cloud serve` on that directory first (a backup works while it runs)")
        }
        AdminError::NotEmpty(_) => {
            Some("migrate into a new, empty database (createdb NAME); nothing was changed")
        }
        AdminError::Mismatch { .. } => {
            Some("the copy was rolled back; check the database's logs and run it again")
        }
        _ => None,
    };
    let err = CommandError::user(e.to_string());
    match hint {
        Some(h) => err.hint(h),
        None => err,
    }
}

fn cmd_backup(ui: &Ui, args: BackupArgs) -> Result<(), CommandError> {
    let data = data_dir(args.data)?;
    let report = server::admin_backup(&data, &args.output).map_err(admin_error)?;
    if ui.json {
        return ui.json(&report);
    }
    ui.line(format!(
        "Backed up {} to {} ({} bytes, integrity ok); checksum in {}",
        data.display(),
        report.file.display(),
        report.bytes,
        report.checksum_file.display()
    ))
}

fn cmd_restore(ui: &Ui, args: RestoreArgs) -> Result<(), CommandError> {
    let data = data_dir(args.data)?;
    let report = server::admin_restore(&args.file, &data).map_err(admin_error)?;
    if ui.json {
        return ui.json(&report);
    }
    ui.line(format!(
        "Restored {} into {} (new history id {})",
        args.file.display(),
        data.display(),
        report.history_id
    ))?;
    if let Some(kept) = &report.replaced {
        ui.status(format!(
            "The replaced database is kept in {}",
            kept.display()
        ));
    }
    ui.status("Clients notice the restore on their next sync and re-send what it lost");
    Ok(())
}

fn cmd_user_add(ui: &Ui, args: UserAddArgs) -> Result<(), CommandError> {
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
    let (account, place) = match &args.database {
        Some(url) => {
            let url = database_url(url)?;
            let storage = server::open_postgres(&url)?;
            (
                server::admin_add_user_to(storage.as_ref(), &args.name, password)?,
                server::redact_url(&url),
            )
        }
        None => {
            let data = data_dir(args.data)?;
            (
                server::admin_add_user(&data, &args.name, password)?,
                data.display().to_string(),
            )
        }
    };
    if ui.json {
        return ui.json(&account);
    }
    ui.line(format!("Created account {} in {place}", account.username))
}

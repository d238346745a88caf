//! The `gryt` command line: clap definitions, one file per command group, and dispatch.
//! Each command parses into typed options, calls one `ops` function and formats the result.

mod audit;
mod backup;
mod bundle;
mod cloud;
mod completions;
mod config;
pub mod error;
mod evolution;
mod generation;
mod hooks;
mod init;
mod interrupt;
mod patch;
mod pipeline;
mod promote;
mod run;
mod status;
mod sync;
pub mod ui;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::domain::Version;
use crate::workspace::Workspace;
use error::{CommandError, ExitKind};
use ui::{ColorChoice, Ui};

/// Contract-driven releases
///
/// A generation is a release contract ("v2.0.0 must contain FEAT-101, BUG-50"), an evolution
/// proves one change by running a pipeline, and promotion turns a fully proven generation into
/// an immutable release with a git tag.
#[derive(Debug, Parser)]
#[command(name = "gryt", version, max_term_width = 100)]
pub struct Cli {
    /// Run as if gryt was started in DIR
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print results as JSON (stable, see docs/CLI.md)
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only results and errors, no status
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// When to colour output (NO_COLOR is honoured by auto)
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN"
    )]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::InitArgs),
    Config(config::ConfigArgs),
    /// Release contracts: create, update from YAML, list, show, rename, delete
    #[command(subcommand, visible_alias = "gen")]
    Generation(Deferred<generation::GenerationCommand>),
    /// Evolutions: attempts to prove one change of a generation
    #[command(subcommand, visible_alias = "evo")]
    Evolution(Deferred<evolution::EvolutionCommand>),
    /// Pipelines: .gryt/pipelines/NAME.yaml, the steps that prove a change
    #[command(subcommand)]
    Pipeline(Deferred<pipeline::PipelineCommand>),
    Run(run::RunArgs),
    Promote(promote::PromoteArgs),
    Hotfix(promote::HotfixArgs),
    Status(status::StatusArgs),
    Audit(audit::AuditArgs),
    Backup(backup::BackupArgs),
    Restore(backup::RestoreArgs),
    Export(bundle::ExportArgs),
    Import(bundle::ImportArgs),
    Sync(sync::SyncArgs),
    /// Patches: what a pull would change, reviewed, applied or undone
    #[command(subcommand)]
    Patch(Deferred<patch::PatchCommand>),
    /// Gryt Cloud: accounts, teams, projects, the repository link, webhooks, and the server itself
    #[command(subcommand)]
    Cloud(Deferred<cloud::CloudCommand>),
    /// Git hooks that keep release state fresh
    #[command(subcommand)]
    Hooks(Deferred<hooks::HooksCommand>),
    Completions(completions::CompletionsArgs),
    Man(completions::ManArgs),
}

impl Command {
    /// Whether the command reads and whether it writes release state: execution mode
    /// `cloud` pulls before the first and pushes after the second.
    pub fn release_state(&self) -> (bool, bool) {
        use evolution::EvolutionCommand as E;
        use generation::GenerationCommand as G;
        match self {
            Command::Status(_) | Command::Audit(_) => (true, false),
            Command::Generation(Deferred(G::List(_) | G::Show(_)))
            | Command::Evolution(Deferred(E::List(_) | E::Show(_))) => (true, false),
            Command::Generation(_)
            | Command::Evolution(_)
            | Command::Run(_)
            | Command::Hotfix(_) => (true, true),
            _ => (false, false),
        }
    }
}

/// A group of subcommands (`gryt generation …`) whose arguments clap defines only when the
/// group is the one invoked: defining every command's arguments was most of clap's time in
/// a short command such as `gryt status`. Help and errors are unchanged (clap builds a
/// deferred group whenever it needs it); completions and the man page define everything up
/// front ([`Deferred::define_all`]), as the `help` subcommand's tree is taken before any
/// deferred group is built.
#[derive(Debug)]
pub struct Deferred<T>(pub T);

/// Set by [`Deferred::define_all`].
static DEFINE_ALL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Deferred<()> {
    /// From now on, groups are defined at once.
    pub fn define_all() {
        DEFINE_ALL.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn now() -> bool {
        DEFINE_ALL.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<T: clap::FromArgMatches> clap::FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Deferred)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
}

impl<T: Subcommand> Subcommand for Deferred<T> {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        match Deferred::now() {
            true => T::augment_subcommands(cmd),
            false => cmd.defer(T::augment_subcommands),
        }
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        match Deferred::now() {
            true => T::augment_subcommands_for_update(cmd),
            false => cmd.defer(T::augment_subcommands_for_update),
        }
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

/// What `gryt --version` prints.
const VERSION_LINE: &str = concat!("gryt ", env!("CARGO_PKG_VERSION"), "\n");

/// Parses arguments, runs the command, prints any error; returns the exit code.
pub fn main() -> i32 {
    // `gryt --version` alone is answered before clap builds every command's definition
    // (most of what the process would do); the text is clap's (a test compares them).
    let mut args = std::env::args_os().skip(1);
    if let (Some(flag), None) = (args.next(), args.next())
        && (flag == "--version" || flag == "-V")
    {
        use std::io::Write;
        let _ = std::io::stdout().write_all(VERSION_LINE.as_bytes());
        return 0;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitKind::Usage.code()
            } else {
                0
            };
            let _ = e.print();
            return code;
        }
    };
    let ui = Ui::new(cli.json, cli.quiet, cli.verbose, cli.color);
    match run(cli, &ui) {
        Ok(()) => 0,
        Err(e) if e.kind == ExitKind::BrokenPipe => 0,
        Err(e) => {
            ui.error(&e);
            e.kind.code()
        }
    }
}

fn run(cli: Cli, ui: &Ui) -> Result<(), CommandError> {
    if let Some(dir) = &cli.dir {
        std::env::set_current_dir(dir)
            .map_err(|e| CommandError::usage(format!("cannot change to {}: {e}", dir.display())))?;
    }
    let auto = sync::AutoSync::for_command(cli.command.release_state());
    auto.before(ui);
    let result = dispatch(cli.command, ui);
    // A command that failed may still have written (a failing `gryt run` decides its
    // evolution `fail`): what is pending goes out unless the command was not understood.
    if !matches!(&result, Err(e) if e.kind == ExitKind::Usage) {
        auto.after(ui);
    }
    result
}

fn dispatch(command: Command, ui: &Ui) -> Result<(), CommandError> {
    match command {
        Command::Init(args) => init::cmd_init(ui, args),
        Command::Config(args) => config::cmd_config(ui, args),
        Command::Generation(Deferred(cmd)) => generation::run(ui, cmd),
        Command::Evolution(Deferred(cmd)) => evolution::run(ui, cmd),
        Command::Pipeline(Deferred(cmd)) => pipeline::run(ui, cmd),
        Command::Run(args) => run::cmd_run(ui, args),
        Command::Promote(args) => promote::cmd_promote(ui, args),
        Command::Hotfix(args) => promote::cmd_hotfix(ui, args),
        Command::Status(args) => status::cmd_status(ui, args),
        Command::Audit(args) => audit::cmd_audit(ui, args),
        Command::Backup(args) => backup::cmd_backup(ui, args),
        Command::Restore(args) => backup::cmd_restore(ui, args),
        Command::Export(args) => bundle::cmd_export(ui, args),
        Command::Import(args) => bundle::cmd_import(ui, args),
        Command::Sync(args) => sync::run(ui, args),
        Command::Patch(Deferred(cmd)) => patch::run(ui, cmd),
        Command::Cloud(Deferred(cmd)) => cloud::run(ui, cmd),
        Command::Completions(args) => completions::cmd_completions(args),
        Command::Man(args) => completions::cmd_man(args),
        Command::Hooks(Deferred(cmd)) => hooks::run(ui, cmd),
    }
}

/// Opens the workspace around the current directory.
fn workspace() -> Result<Workspace, CommandError> {
    Ok(Workspace::open(workspace_root()?)?)
}

/// The root of the workspace around the current directory (what [`workspace`] opens).
fn workspace_root() -> Result<std::path::PathBuf, CommandError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CommandError::user(format!("cannot read the current directory: {e}")))?;
    Ok(Workspace::root_of(&cwd)?)
}

/// clap value parser: a change id such as FEAT-001.
fn change_id_arg(s: &str) -> Result<crate::domain::ChangeId, String> {
    s.parse()
}

/// clap value parser: a pipeline name (also a file name).
fn pipeline_arg(s: &str) -> Result<String, String> {
    crate::domain::check_pipeline_name(s).map(|()| s.to_string())
}

/// clap value parser: `1.2.0` or `v1.2.0`.
fn version_arg(s: &str) -> Result<Version, String> {
    s.parse::<Version>().map_err(|e| e.reason.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }

    /// Every command's help, depth first.
    fn all_help(cmd: &mut clap::Command, path: String, out: &mut Vec<(String, String)>) {
        out.push((path.clone(), cmd.render_long_help().to_string()));
        for sub in cmd.get_subcommands_mut() {
            let path = format!("{path} {}", sub.get_name());
            all_help(sub, path, out);
        }
    }

    /// A deferred group is undefined until clap needs it, and then exactly what defining
    /// everything at once gives: every command's help, and `gryt help GROUP COMMAND`. (The
    /// tree of the `help` subcommand itself is taken before deferred groups are built, which
    /// only completion scripts read: they define everything first.)
    #[test]
    fn deferred_groups_define_the_same_commands() {
        use clap::Parser;
        let mut lazy = super::Cli::command();
        let generation = lazy.find_subcommand("generation").unwrap();
        assert_eq!(generation.get_subcommands().count(), 0);
        lazy.build();
        let mut lazy_help = Vec::new();
        all_help(&mut lazy, "gryt".into(), &mut lazy_help);
        let help = |args: &[&str]| super::Cli::try_parse_from(args).unwrap_err().to_string();
        assert_eq!(
            help(&["gryt", "help", "cloud", "admin"]),
            help(&["gryt", "cloud", "admin", "--help"])
        );
        super::Deferred::define_all();
        let mut eager = super::Cli::command();
        assert!(
            eager
                .find_subcommand("generation")
                .unwrap()
                .get_subcommands()
                .count()
                > 5
        );
        eager.build();
        let mut eager_help = Vec::new();
        all_help(&mut eager, "gryt".into(), &mut eager_help);
        assert!(eager_help.len() > 100, "{}", eager_help.len());
        let outside_help = |(path, _): &&(String, String)| !path.starts_with("gryt help ");
        let lazy_help: Vec<_> = lazy_help.iter().filter(outside_help).collect();
        let eager_help: Vec<_> = eager_help.iter().filter(outside_help).collect();
        assert_eq!(lazy_help.len(), eager_help.len());
        for (lazy, eager) in lazy_help.iter().zip(&eager_help) {
            assert_eq!(lazy, eager);
        }
    }

    /// The `--version` shortcut prints exactly what clap would.
    #[test]
    fn version_line_is_clap_s() {
        assert_eq!(super::Cli::command().render_version(), super::VERSION_LINE);
    }
}

use clap::CommandFactory;

use super::error::CommandError;
use super::{Cli, Deferred};

/// Print a shell completion script (e.g. `gryt completions bash > /etc/bash_completion.d/gryt`)
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Print the man page (roff) to stdout, e.g. `gryt man | man -l -`
#[derive(Debug, clap::Args)]
pub struct ManArgs {}

pub fn cmd_completions(args: CompletionsArgs) -> Result<(), CommandError> {
    Deferred::define_all();
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "gryt", &mut out);
    Ok(())
}

pub fn cmd_man(_args: ManArgs) -> Result<(), CommandError> {
    Deferred::define_all();
    let man = clap_mangen::Man::new(Cli::command());
    let mut out = std::io::stdout().lock();
    man.render(&mut out).map_err(CommandError::from_io)
}

//! `gryt cloud …`: running a Gryt Cloud server (`serve`, `admin`). The client side of the
//! cloud (login, teams, link) comes with sync.

#[cfg(feature = "server")]
mod serve;

use clap::Subcommand;

use super::error::CommandError;
use super::ui::Ui;

/// Gryt Cloud: run a server that teams share
#[derive(Debug, Subcommand)]
pub enum CloudCommand {
    #[cfg(feature = "server")]
    Serve(serve::ServeArgs),
    #[cfg(feature = "server")]
    #[command(subcommand)]
    Admin(serve::AdminCommand),
}

pub fn run(ui: &Ui, cmd: CloudCommand) -> Result<(), CommandError> {
    match cmd {
        #[cfg(feature = "server")]
        CloudCommand::Serve(args) => serve::cmd_serve(ui, args),
        #[cfg(feature = "server")]
        CloudCommand::Admin(cmd) => serve::cmd_admin(ui, cmd),
    }
}

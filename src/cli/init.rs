use std::path::PathBuf;

use super::error::CommandError;
use super::ui::Ui;
use crate::workspace::{Init, Workspace};

/// Create a gryt repository (.gryt/) in PATH or the current directory
///
/// Creates .gryt/ with its config, generations/ and pipelines/ directories, the local
/// database, and a .gitignore that keeps the database and backups out of git. Running it
/// again changes nothing.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory to initialise (default: the current directory)
    pub path: Option<PathBuf>,
}

pub fn cmd_init(ui: &Ui, args: InitArgs) -> Result<(), CommandError> {
    let path = args.path.unwrap_or_else(|| PathBuf::from("."));
    if !path.is_dir() {
        return Err(
            CommandError::user(format!("{} is not a directory", path.display()))
                .hint("create it first, or pass an existing directory"),
        );
    }
    let (root, created) = match Workspace::init(&path)? {
        Init::Created(root) => (root, true),
        Init::AlreadyThere(root) => (root, false),
    };
    if ui.json {
        return ui.json(&serde_json::json!({ "root": root, "created": created }));
    }
    if created {
        ui.line(format!(
            "Initialised gryt repository in {}",
            root.join(".gryt").display()
        ))?;
        if !crate::git::is_work_tree(&root) {
            ui.warn(
                "not inside a git repository: promotion will not be able to create release tags",
            );
        }
    } else {
        ui.line(format!(
            "{} is already a gryt repository; nothing changed",
            root.display()
        ))?;
    }
    Ok(())
}

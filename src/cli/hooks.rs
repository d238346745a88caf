use std::path::PathBuf;

use clap::Subcommand;

use super::error::CommandError;
use super::ui::Ui;
use super::workspace;

/// Git hooks that keep release state fresh
#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    Install(InstallArgs),
}

/// Install a git pre-commit hook that runs `gryt sync pull --quiet --hook`
///
/// The hook is fast (one request when nothing changed) and never blocks a commit: offline,
/// logged out or in local mode it prints at most one line and lets the commit go on.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Replace an existing pre-commit hook that gryt did not write
    #[arg(long)]
    pub force: bool,
}

const MARKER: &str = "# Installed by `gryt hooks install`";

fn script() -> String {
    format!(
        "#!/bin/sh\n{MARKER}: pull release state before each commit.\n\
         # It never blocks the commit: when the cloud cannot be reached it says so in one line.\n\
         command -v gryt >/dev/null 2>&1 || exit 0\n\
         gryt sync pull --quiet --hook\n\
         exit 0\n"
    )
}

pub fn run(ui: &Ui, cmd: HooksCommand) -> Result<(), CommandError> {
    let HooksCommand::Install(args) = cmd;
    let ws = workspace()?;
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&ws.root)
        .args(["rev-parse", "--git-path", "hooks"])
        .output()
        .map_err(|e| CommandError::user(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(
            CommandError::user("not inside a git repository: there is no hook to install")
                .hint("run `git init` first"),
        );
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let dir = if dir.is_absolute() {
        dir
    } else {
        ws.root.join(dir)
    };
    let path = dir.join("pre-commit");
    let existing = std::fs::read_to_string(&path).ok();
    match &existing {
        Some(text) if text.contains(MARKER) && *text == script() => {
            ui.line(format!(
                "The gryt pre-commit hook is already installed ({})",
                path.display()
            ))?;
            return Ok(());
        }
        Some(text) if !text.contains(MARKER) && !args.force => {
            return Err(CommandError::user(format!(
                "{} exists and was not written by gryt",
                path.display()
            ))
            .hint(
                "add `gryt sync pull --quiet --hook` to it yourself, or replace it with --force",
            ));
        }
        _ => {}
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| CommandError::user(format!("cannot create {}: {e}", dir.display())))?;
    crate::workspace::write_atomic(&path, script().as_bytes())
        .map_err(|e| CommandError::user(format!("cannot write {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(|e| {
            CommandError::user(format!("cannot make {} executable: {e}", path.display()))
        })?;
    }
    ui.line(format!(
        "Installed the pre-commit hook in {}",
        path.display()
    ))
}

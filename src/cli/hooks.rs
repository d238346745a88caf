use std::path::PathBuf;

use clap::Subcommand;

use super::error::CommandError;
use super::ui::Ui;
use super::workspace;

// The `gryt hooks` group. Its help text is the doc comment of `cli::Command::Hooks` (a doc
// comment here would replace it once clap builds the deferred group).
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

/// Quotes `s` for sh: in single quotes, each `'` written as `'\''`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The hook; `exe` is the gryt that installed it (git may run hooks with a PATH that lacks
/// gryt, from a GUI or an IDE), `dir` the gryt repository relative to the top of the git
/// working tree, where git runs hooks (`.` unless `.gryt/` lives in a subdirectory, as in a
/// monorepo). If `exe` is gone (gryt moved or uninstalled) the hook uses a gryt on the PATH,
/// and with none it says so on every commit rather than doing nothing silently.
fn script(exe: &str, dir: &str) -> String {
    let args = if dir == "." {
        "sync pull --quiet --hook".to_string()
    } else {
        format!("-C {} sync pull --quiet --hook", sh_quote(dir))
    };
    format!(
        "#!/bin/sh\n{MARKER}: pull release state before each commit.\n\
         # It never blocks the commit: when the cloud cannot be reached it says so in one line.\n\
         gryt={exe}\n\
         if [ ! -x \"$gryt\" ]; then\n\
         \x20 gryt=$(command -v gryt) || {{\n\
         \x20   echo \"gryt pre-commit hook: \"{exe}\" is gone and gryt is not on the PATH; release state was not pulled (reinstall with \\`gryt hooks install\\`)\" >&2\n\
         \x20   exit 0\n\
         \x20 }}\n\
         fi\n\
         \"$gryt\" {args}\n\
         exit 0\n",
        exe = sh_quote(exe),
    )
}

/// `git -C ROOT rev-parse ARGS`, trimmed; `None` outside a git repository.
fn rev_parse(root: &std::path::Path, args: &[&str]) -> Result<Option<String>, CommandError> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .arg("rev-parse")
        .args(args)
        .output()
        .map_err(|e| CommandError::user(format!("cannot run git: {e}")))?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

pub fn run(ui: &Ui, cmd: HooksCommand) -> Result<(), CommandError> {
    let HooksCommand::Install(args) = cmd;
    let ws = workspace()?;
    let (Some(hooks), Some(top)) = (
        rev_parse(&ws.root, &["--git-path", "hooks"])?,
        rev_parse(&ws.root, &["--show-toplevel"])?,
    ) else {
        return Err(
            CommandError::user("not inside a git repository: there is no hook to install")
                .hint("run `git init` first"),
        );
    };
    let canonical = |p: &std::path::Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let inside = canonical(&ws.root)
        .strip_prefix(canonical(std::path::Path::new(&top)))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let exe = std::env::current_exe()
        .map_err(|e| CommandError::user(format!("cannot find the running gryt binary: {e}")))?;
    let exe_text = exe.to_str().ok_or_else(|| {
        CommandError::user(format!(
            "the path of this gryt binary is not UTF-8: {}",
            exe.display()
        ))
        .hint("install gryt under a UTF-8 path, then run `gryt hooks install` again")
    })?;
    let script = script(exe_text, if inside.is_empty() { "." } else { &inside });
    let dir = PathBuf::from(hooks);
    let dir = if dir.is_absolute() {
        dir
    } else {
        ws.root.join(dir)
    };
    let path = dir.join("pre-commit");
    // Hooks are small scripts; whatever else is there (a FIFO, a huge file) is not ours.
    let existing = match crate::workspace::file::read_limited(&path, 1024 * 1024) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.is_not_found() || args.force => None,
        Err(e) => {
            return Err(
                CommandError::user(format!("cannot read {}: {e}", path.display()))
                    .hint("move it away, or pass --force to replace it"),
            );
        }
    };
    match &existing {
        Some(text) if text.contains(MARKER) && *text == script => {
            ui.line(format!(
                "The gryt pre-commit hook is already installed ({}); it runs {exe_text}",
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
    crate::workspace::write_atomic(&path, script.as_bytes())
        .map_err(|e| CommandError::user(format!("cannot write {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(|e| {
            CommandError::user(format!("cannot make {} executable: {e}", path.display()))
        })?;
    }
    ui.line(format!(
        "Installed the pre-commit hook in {}; it runs {exe_text}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hook is valid sh whatever the paths hold, and runs the binary it names.
    #[test]
    fn script_quotes_paths_for_sh() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("it's a \"gryt\" $HOME `x`");
        std::fs::write(&exe, "#!/bin/sh\necho \"ran with: $*\"\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let hook = dir.path().join("hook");
        std::fs::write(&hook, script(exe.to_str().unwrap(), "sub dir/it's")).unwrap();
        let out = std::process::Command::new("/bin/sh")
            .arg(&hook)
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "ran with: -C sub dir/it's sync pull --quiet --hook\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&exe).unwrap();
        let out = std::process::Command::new("/bin/sh")
            .arg(&hook)
            .env("PATH", dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is gone and gryt is not on the PATH"), "{err}");
    }
}

//! The few git operations gryt needs, through the `git` command (the user's own git, with
//! their configuration and hooks): detect a work tree, read `user.name`, create and delete
//! annotated release tags.

use std::path::Path;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    #[error("git {args} failed: {stderr}")]
    Failed { args: String, stderr: String },
}

fn git(root: &Path, args: &[&str]) -> Result<std::process::Output, GitError> {
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(GitError::Spawn)
}

fn git_ok(root: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = git(root, args)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Whether `root` is inside a git work tree (false when git is missing).
pub fn is_work_tree(root: &Path) -> bool {
    git_ok(root, &["rev-parse", "--is-inside-work-tree"]).is_ok_and(|s| s == "true")
}

pub fn user_name(root: &Path) -> Option<String> {
    git_ok(root, &["config", "user.name"])
        .ok()
        .filter(|s| !s.is_empty())
}

/// Whether HEAD points at a commit (a fresh `git init` has none to tag).
pub fn has_commits(root: &Path) -> bool {
    git_ok(root, &["rev-parse", "--verify", "-q", "HEAD"]).is_ok()
}

pub fn tag_exists(root: &Path, tag: &str) -> Result<bool, GitError> {
    let out = git(
        root,
        &["rev-parse", "-q", "--verify", &format!("refs/tags/{tag}")],
    )?;
    Ok(out.status.success())
}

pub fn create_annotated_tag(root: &Path, tag: &str, message: &str) -> Result<(), GitError> {
    git_ok(root, &["tag", "-a", tag, "-m", message]).map(|_| ())
}

pub fn delete_tag(root: &Path, tag: &str) -> Result<(), GitError> {
    git_ok(root, &["tag", "-d", tag]).map(|_| ())
}

//! The audit trail: list and export (JSON or CSV). An export never writes into `.gryt/`
//! (however the path is spelled: `..`, symlinks), never replaces a file unless forced, never
//! creates directories, and appears whole or not at all (a temporary file renamed into place).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::OpError;
use super::Result;
use crate::store::AuditEvent;
use crate::workspace::Workspace;

pub fn list(ws: &Workspace) -> Result<Vec<AuditEvent>> {
    Ok(ws.store.audit_events()?)
}

#[derive(Debug, Clone, Copy)]
pub enum Format {
    Json,
    Csv,
}

/// Why an export was refused; the path is as the user gave it.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0} is inside .gryt/, which holds gryt's own files")]
    InsideGryt(PathBuf),
    #[error("{0} already exists")]
    Exists(PathBuf),
    #[error("{0} is a directory")]
    IsDirectory(PathBuf),
    #[error("the directory {} does not exist", .0.display())]
    NoDirectory(PathBuf),
    #[error("{0} does not name a file")]
    NotAFileName(PathBuf),
    #[error(transparent)]
    Op(#[from] OpError),
}

/// Writes every event to `path` (see the module doc); returns how many.
pub fn export(
    ws: &Workspace,
    format: Format,
    path: &Path,
    force: bool,
) -> std::result::Result<usize, ExportError> {
    let target = check_target(ws, path, force)?;
    let events = list(ws)?;
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&events).expect("events serialize") + "\n",
        Format::Csv => to_csv(&events),
    };
    write_new(&target, text.as_bytes()).map_err(|source| OpError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(events.len())
}

/// The absolute path to write, its directory resolved (symlinks, `..`), after every refusal.
fn check_target(
    ws: &Workspace,
    path: &Path,
    force: bool,
) -> std::result::Result<PathBuf, ExportError> {
    let shown = || path.to_path_buf();
    let name = path
        .file_name()
        .ok_or_else(|| ExportError::NotAFileName(shown()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = match parent.canonicalize() {
        Ok(d) if d.is_dir() => d,
        Ok(_) => return Err(ExportError::NoDirectory(parent.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ExportError::NoDirectory(parent.to_path_buf()));
        }
        Err(source) => {
            return Err(OpError::Io {
                action: "resolve",
                path: parent.to_path_buf(),
                source,
            }
            .into());
        }
    };
    let target = dir.join(name);
    let gryt = ws.dir().canonicalize().unwrap_or_else(|_| ws.dir());
    // A symlink at the target is judged by where it leads too.
    let leads_to = target.canonicalize().ok();
    if target.starts_with(&gryt) || leads_to.as_ref().is_some_and(|t| t.starts_with(&gryt)) {
        return Err(ExportError::InsideGryt(shown()));
    }
    if let Ok(meta) = std::fs::symlink_metadata(&target) {
        if target.is_dir() || meta.is_dir() {
            return Err(ExportError::IsDirectory(shown()));
        }
        if !force {
            return Err(ExportError::Exists(shown()));
        }
    }
    Ok(target)
}

/// Writes a temporary file beside `target`, then renames it into place.
fn write_new(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, target));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn to_csv(events: &[AuditEvent]) -> String {
    let mut out = String::from("id,at,actor,action,object,details\n");
    for e in events {
        let fields = [
            e.id.to_string(),
            e.at.clone(),
            e.actor.clone(),
            e.action.clone(),
            e.object.clone(),
            e.details.to_string(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// RFC 4180 quoting; a leading `=`, `+`, `-` or `@` is prefixed with `'` so spreadsheets do
/// not run user-controlled text as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}

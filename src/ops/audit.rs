//! The audit trail: list and export (JSON or CSV).

use std::path::Path;

use super::{Result, io};
use crate::store::AuditEvent;
use crate::workspace::{Workspace, write_atomic};

pub fn list(ws: &Workspace) -> Result<Vec<AuditEvent>> {
    Ok(ws.store.audit_events()?)
}

#[derive(Debug, Clone, Copy)]
pub enum Format {
    Json,
    Csv,
}

/// Writes every event to `path`; returns how many.
pub fn export(ws: &Workspace, format: Format, path: &Path) -> Result<usize> {
    let events = list(ws)?;
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&events).expect("events serialize") + "\n",
        Format::Csv => to_csv(&events),
    };
    write_atomic(path, text.as_bytes()).map_err(io("write", path))?;
    Ok(events.len())
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

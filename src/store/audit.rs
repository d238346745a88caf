//! The audit trail: one row per state change, written in the same transaction as the change.
//! Changes made here carry this workspace's user; changes that arrived by pull carry the
//! cloud's actor and time and `"pulled": true` in their details.

use rusqlite::params;

use super::{Result, Store, timestamp};

#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub details: serde_json::Value,
}

/// An event to append: [`Store::audit`] for many.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub at: String,
    pub actor: String,
    pub action: &'static str,
    pub object: String,
    pub details: serde_json::Value,
}

impl Store {
    pub fn audit(
        &self,
        at: &str,
        actor: &str,
        action: &str,
        object: &str,
        details: serde_json::Value,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO audit_events (at, actor, action, object, details) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![at, actor, action, object, details.to_string()],
        )?;
        Ok(())
    }

    /// Appends events in order, in one statement (a pull writes a page's worth at once).
    pub fn audit_many(&self, events: &[NewAuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let rows: Vec<(&str, &str, &str, &str, String)> = events
            .iter()
            .map(|e| {
                (
                    e.at.as_str(),
                    e.actor.as_str(),
                    e.action,
                    e.object.as_str(),
                    e.details.to_string(),
                )
            })
            .collect();
        let json = serde_json::to_string(&rows)
            .map_err(|e| super::StoreError::Corrupt(format!("encoding audit events: {e}")))?;
        self.conn
            .prepare_cached(
                "INSERT INTO audit_events (at, actor, action, object, details)
                 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4
                 FROM json_each(?1) ORDER BY key",
            )?
            .execute([json])?;
        Ok(())
    }

    /// Events oldest first.
    pub fn audit_events(&self) -> Result<Vec<AuditEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, at, actor, action, object, details FROM audit_events ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            let details: String = r.get(5)?;
            let id: i64 = r.get(0)?;
            Ok(AuditEvent {
                at: timestamp(r, 1, &format!("audit event {id}"))?,
                id: r.get(0)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                object: r.get(4)?,
                details: serde_json::from_str(&details)
                    .unwrap_or(serde_json::Value::String(details)),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

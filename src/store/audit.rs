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
        // One cached statement, a row each: cheaper than one set-based statement here, whose
        // JSON array SQLite must parse again (a first pull writes 100,000 events and more).
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO audit_events (at, actor, action, object, details)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for e in events {
            stmt.execute(rusqlite::params![
                e.at,
                e.actor,
                e.action,
                e.object,
                e.details.to_string()
            ])?;
        }
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
                at: timestamp(r, 1, &|| format!("audit event {id}"))?,
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

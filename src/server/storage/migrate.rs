//! `gryt cloud admin migrate --from DIR --to postgres://…`: moves a SQLite server's data into
//! an empty PostgreSQL database.
//!
//! Everything is copied in one PostgreSQL transaction (binary `COPY`), read from one SQLite
//! snapshot while the data directory is locked (no server may write meanwhile): accounts with
//! their password hashes, hashed tokens and API keys, teams, memberships, projects with their
//! ids and heads, every record with its seq and revision, the stored push answers, and the
//! server's history id — so clients see the same server, and sync on with no change. Before
//! committing, every table is read back and compared with the source by row count and a
//! SHA-256 over its rows in key order; a difference rolls everything back. An interrupted
//! migration leaves nothing behind but the schema, so it can simply be run again.

/// Rows and checksum of one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCheck {
    pub table: String,
    pub rows: u64,
    pub sha256: String,
}

/// What a migration copied, checked table by table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrateReport {
    pub from: String,
    pub to: String,
    pub tables: Vec<TableCheck>,
    pub history_id: String,
}

#[cfg(feature = "pg")]
pub use copy::migrate;

#[cfg(feature = "pg")]
mod copy {
    use super::{MigrateReport, TableCheck};
    use std::path::Path;

    use rusqlite::{Connection, OpenFlags};
    use sha2::{Digest, Sha256};
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::{ToSql, Type};

    use crate::server::storage::Storage;
    use crate::server::storage::backup::{AdminError, DataDirLock, Result};
    use crate::server::storage::postgres::{self, Conn, PostgresStorage};
    use crate::server::storage::sqlite::{DB_FILE, SqliteStorage};

    /// A column's type: every column of the schema is text or a 64-bit integer.
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Text,
        Int,
    }

    use Kind::{Int, Text};

    struct Table {
        name: &'static str,
        columns: &'static [(&'static str, Kind)],
        /// The primary key: the order rows are copied and checksummed in.
        key: &'static [&'static str],
    }

    /// Parents before children (foreign keys hold at every row).
    const TABLES: &[Table] = &[
        Table {
            name: "accounts",
            columns: &[
                ("id", Text),
                ("username", Text),
                ("password_hash", Text),
                ("created_at", Text),
            ],
            key: &["id"],
        },
        Table {
            name: "tokens",
            columns: &[
                ("id", Text),
                ("account_id", Text),
                ("kind", Text),
                ("name", Text),
                ("token_hash", Text),
                ("created_at", Text),
                ("expires_at", Text),
                ("revoked_at", Text),
            ],
            key: &["id"],
        },
        Table {
            name: "teams",
            columns: &[("id", Text), ("name", Text), ("created_at", Text)],
            key: &["id"],
        },
        Table {
            name: "team_members",
            columns: &[("team_id", Text), ("account_id", Text), ("role", Text)],
            key: &["team_id", "account_id"],
        },
        Table {
            name: "projects",
            columns: &[
                ("id", Text),
                ("team_id", Text),
                ("name", Text),
                ("head", Int),
                ("created_at", Text),
            ],
            key: &["id"],
        },
        Table {
            name: "records",
            columns: &[
                ("project_id", Text),
                ("id", Text),
                ("kind", Text),
                ("seq", Int),
                ("revision", Int),
                ("version", Text),
                ("generation_id", Text),
                ("rc", Int),
                ("code_name", Text),
                ("started_at", Text),
                ("body", Text),
                ("hash", Text),
                ("slot", Int),
            ],
            key: &["project_id", "id"],
        },
        Table {
            name: "idempotency",
            columns: &[
                ("project_id", Text),
                ("key", Text),
                ("account_id", Text),
                ("request_hash", Text),
                ("response", Text),
                ("created_at", Text),
            ],
            key: &["project_id", "key"],
        },
        Table {
            name: "record_copies",
            columns: &[
                ("project_id", Text),
                ("id", Text),
                ("copied_from", Text),
                ("copied_by", Text),
                ("copied_at", Text),
            ],
            key: &["project_id", "id"],
        },
        Table {
            name: "webhooks",
            columns: &[
                ("id", Text),
                ("project_id", Text),
                ("url", Text),
                ("secret", Text),
                ("events", Text),
                ("created_by", Text),
                ("created_at", Text),
            ],
            key: &["id"],
        },
        Table {
            name: "webhook_deliveries",
            columns: &[
                ("id", Text),
                ("webhook_id", Text),
                ("event", Text),
                ("body", Text),
                ("status", Text),
                ("attempts", Int),
                ("next_attempt_at", Int),
                ("claimed_until", Int),
                ("last_status_code", Int),
                ("last_error", Text),
                ("created_at", Text),
                ("delivered_at", Text),
            ],
            key: &["id"],
        },
    ];

    /// One value of a row.
    #[derive(Debug, Clone, PartialEq)]
    enum Cell {
        Null,
        Int(i64),
        Text(String),
    }

    impl Cell {
        /// Feeds the value into a row checksum, unambiguously (a tag, then the bytes).
        fn hash_into(&self, h: &mut Sha256) {
            match self {
                Cell::Null => h.update([0u8]),
                Cell::Int(i) => {
                    h.update([1u8]);
                    h.update(i.to_be_bytes());
                }
                Cell::Text(s) => {
                    h.update([2u8]);
                    h.update((s.len() as u64).to_be_bytes());
                    h.update(s.as_bytes());
                }
            }
        }
    }

    fn sqlite(e: rusqlite::Error) -> AdminError {
        AdminError::Sqlite(e.to_string())
    }

    fn pg(e: tokio_postgres::Error) -> AdminError {
        AdminError::Postgres(postgres::describe(&e))
    }

    fn order_by(table: &Table, collate: &str) -> String {
        table
            .key
            .iter()
            .map(|k| format!("{k}{collate}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn select(table: &Table, collate: &str) -> String {
        let cols: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            cols.join(", "),
            table.name,
            order_by(table, collate)
        )
    }

    /// Copies the SQLite server in `from` into the empty PostgreSQL database at `to`.
    pub fn migrate(from: &Path, to: &str) -> Result<MigrateReport> {
        let db = from.join(DB_FILE);
        if !db.is_file() {
            return Err(AdminError::NoDatabase(from.to_path_buf()));
        }
        // No server writes while the copy is taken; the source is brought to this gryt's schema.
        let _lock = DataDirLock::acquire(from)?;
        let source_history = SqliteStorage::open(from)?.history_id();
        let source =
            Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sqlite)?;
        // The target is created (schema migrated) by opening it as a server would.
        let target = PostgresStorage::open(to)?;
        drop(target);
        let mut conn = Conn::connect(&postgres::config_of(to)?, &postgres::redact(to))?;
        let tables = conn.with_client(|client| copy_all(&source, client, source_history))?;
        Ok(MigrateReport {
            from: from.display().to_string(),
            to: postgres::redact(to),
            tables,
            history_id: source_history.to_string(),
        })
    }

    async fn copy_all(
        source: &Connection,
        client: &mut tokio_postgres::Client,
        history_id: uuid::Uuid,
    ) -> Result<Vec<TableCheck>> {
        source.execute_batch("BEGIN DEFERRED").map_err(sqlite)?;
        let tx = client.transaction().await.map_err(pg)?;
        // One migration at a time, and nothing else writing the tables meanwhile.
        tx.batch_execute(&format!(
            "LOCK TABLE {} IN EXCLUSIVE MODE",
            TABLES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
        ))
        .await
        .map_err(pg)?;
        let mut held = Vec::new();
        for table in TABLES {
            let n: i64 = tx
                .query_one(&format!("SELECT COUNT(*) FROM {}", table.name), &[])
                .await
                .map_err(pg)?
                .get(0);
            if n > 0 {
                held.push(format!("{n} {}", table.name));
            }
        }
        if !held.is_empty() {
            return Err(AdminError::NotEmpty(held.join(", ")));
        }
        let mut checks = Vec::new();
        for table in TABLES {
            let expected = copy_table(source, &tx, table).await?;
            let actual = target_check(&tx, table).await?;
            if actual != expected {
                return Err(AdminError::Mismatch {
                    table: table.name.to_string(),
                    expected: format!("{} rows, sha256 {}", expected.rows, expected.sha256),
                    actual: format!("{} rows, sha256 {}", actual.rows, actual.sha256),
                });
            }
            checks.push(expected);
        }
        // The same server, to its clients: its history id comes along.
        tx.execute(
            "UPDATE server_meta SET value = $1 WHERE key = 'history_id'",
            &[&history_id.to_string()],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        let _ = source.execute_batch("COMMIT");
        Ok(checks)
    }

    /// Streams one table from SQLite into PostgreSQL (binary COPY); its count and checksum as read.
    async fn copy_table(
        source: &Connection,
        tx: &tokio_postgres::Transaction<'_>,
        table: &Table,
    ) -> Result<TableCheck> {
        let cols: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        let types: Vec<Type> = table
            .columns
            .iter()
            .map(|(_, k)| match k {
                Text => Type::TEXT,
                Int => Type::INT8,
            })
            .collect();
        let sink = tx
            .copy_in(&format!(
                "COPY {} ({}) FROM STDIN (FORMAT binary)",
                table.name,
                cols.join(", ")
            ))
            .await
            .map_err(pg)?;
        let writer = BinaryCopyInWriter::new(sink, &types);
        let mut writer = std::pin::pin!(writer);
        let mut st = source.prepare(&select(table, "")).map_err(sqlite)?;
        let mut rows = st.query([]).map_err(sqlite)?;
        let mut hasher = Sha256::new();
        let mut count = 0u64;
        while let Some(row) = rows.next().map_err(sqlite)? {
            let mut cells = Vec::with_capacity(table.columns.len());
            for (i, (name, kind)) in table.columns.iter().enumerate() {
                let value: rusqlite::types::Value = row.get(i).map_err(sqlite)?;
                let cell = match (value, kind) {
                    (rusqlite::types::Value::Null, _) => Cell::Null,
                    (rusqlite::types::Value::Integer(v), Int) => Cell::Int(v),
                    (rusqlite::types::Value::Text(s), Text) => Cell::Text(s),
                    (other, _) => {
                        return Err(AdminError::NotServerDatabase {
                            path: Path::new(DB_FILE).to_path_buf(),
                            reason: format!("{}.{name} holds {other:?}", table.name),
                        });
                    }
                };
                cell.hash_into(&mut hasher);
                cells.push(cell);
            }
            let texts: Vec<Option<&str>> = cells
                .iter()
                .map(|c| match c {
                    Cell::Text(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect();
            let ints: Vec<Option<i64>> = cells
                .iter()
                .map(|c| match c {
                    Cell::Int(i) => Some(*i),
                    _ => None,
                })
                .collect();
            let values: Vec<&(dyn ToSql + Sync)> = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, (_, kind))| match kind {
                    Text => &texts[i] as &(dyn ToSql + Sync),
                    Int => &ints[i] as &(dyn ToSql + Sync),
                })
                .collect();
            writer.as_mut().write(&values).await.map_err(pg)?;
            count += 1;
        }
        writer.finish().await.map_err(pg)?;
        Ok(TableCheck {
            table: table.name.to_string(),
            rows: count,
            sha256: crate::domain::generation::hex(&hasher.finalize()),
        })
    }

    /// Count and checksum of a table as PostgreSQL holds it (same order and encoding as the source).
    async fn target_check(
        tx: &tokio_postgres::Transaction<'_>,
        table: &Table,
    ) -> Result<TableCheck> {
        // Read through a portal, a page at a time: memory stays flat for big tables.
        let st = tx
            .prepare(&select(table, " COLLATE \"C\""))
            .await
            .map_err(pg)?;
        let portal = tx.bind(&st, &[]).await.map_err(pg)?;
        let mut hasher = Sha256::new();
        let mut count = 0u64;
        loop {
            let rows = tx.query_portal(&portal, 1000).await.map_err(pg)?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                for (i, (_, kind)) in table.columns.iter().enumerate() {
                    let cell = match kind {
                        Text => row
                            .try_get::<_, Option<String>>(i)
                            .map_err(pg)?
                            .map_or(Cell::Null, Cell::Text),
                        Int => row
                            .try_get::<_, Option<i64>>(i)
                            .map_err(pg)?
                            .map_or(Cell::Null, Cell::Int),
                    };
                    cell.hash_into(&mut hasher);
                }
            }
            count += rows.len() as u64;
        }
        Ok(TableCheck {
            table: table.name.to_string(),
            rows: count,
            sha256: crate::domain::generation::hex(&hasher.finalize()),
        })
    }
}

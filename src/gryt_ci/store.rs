//! Reading a gryt-ci store (`.gryt/gryt.db` of gryt-ci 1.x) as it is: rows of its tables as
//! plain strings, nothing mapped yet. The database is opened read-only and never written;
//! before anything is read it must pass SQLite's own integrity check and hold every table and
//! column gryt-ci 1.1.8 writes.

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::{GrytCiError, Result};

/// The tables and columns read, as gryt-ci 1.1.8 creates them (`gryt/data.py`).
const REQUIRED: &[(&str, &[&str])] = &[
    (
        "generations",
        &[
            "generation_id",
            "version",
            "description",
            "status",
            "pipeline_template",
            "created_at",
            "promoted_at",
            "created_by",
            "promoted_by",
            "remote_id",
            "team_id",
        ],
    ),
    (
        "generation_changes",
        &[
            "change_id",
            "generation_id",
            "type",
            "title",
            "description",
            "status",
            "pipeline",
        ],
    ),
    (
        "evolutions",
        &[
            "evolution_id",
            "generation_id",
            "change_id",
            "code_name",
            "tag",
            "status",
            "pipeline_run_id",
            "started_at",
            "completed_at",
            "created_by",
        ],
    ),
    (
        "pipelines",
        &[
            "pipeline_id",
            "name",
            "start_timestamp",
            "end_timestamp",
            "status",
            "config_json",
        ],
    ),
    ("steps_output", &["runner_id"]),
];

pub(super) struct RawGeneration {
    pub id: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub pipeline_template: Option<String>,
    pub created_at: Option<String>,
    pub promoted_at: Option<String>,
    pub created_by: Option<String>,
    pub promoted_by: Option<String>,
    pub remote_id: Option<String>,
    pub team_id: Option<String>,
}

pub(super) struct RawChange {
    pub generation_id: String,
    pub id: String,
    pub kind: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub pipeline: Option<String>,
}

pub(super) struct RawEvolution {
    pub id: String,
    pub generation_id: Option<String>,
    pub change_id: Option<String>,
    pub code_name: Option<String>,
    pub tag: Option<String>,
    pub status: Option<String>,
    pub pipeline_run_id: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub created_by: Option<String>,
}

pub(super) struct RawRun {
    pub id: String,
    pub name: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub status: Option<String>,
    pub config_json: Option<String>,
}

/// Everything read from one store.
pub(super) struct RawStore {
    pub generations: Vec<RawGeneration>,
    /// In gryt-ci's contract order (`created_at`, then insertion order).
    pub changes: Vec<RawChange>,
    pub evolutions: Vec<RawEvolution>,
    pub runs: Vec<RawRun>,
    /// Step outputs gryt-ci did not link to a runner (and so to no pipeline run).
    pub unlinked_steps: usize,
}

/// The database file for `path`: a workspace (holding `.gryt/gryt.db`), a `.gryt` directory,
/// or the file itself.
pub(super) fn locate(path: &Path) -> Result<PathBuf> {
    let meta = std::fs::metadata(path).map_err(|e| GrytCiError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if meta.is_file() {
        return Ok(path.to_path_buf());
    }
    if meta.is_dir() {
        for candidate in [path.join(".gryt").join("gryt.db"), path.join("gryt.db")] {
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
        return Err(GrytCiError::NoStore {
            path: path.to_path_buf(),
        });
    }
    Err(GrytCiError::Unreadable {
        path: path.to_path_buf(),
        reason: "not a regular file or a directory".to_string(),
    })
}

pub(super) fn read(db: &Path) -> Result<RawStore> {
    let sqlite = |e: rusqlite::Error| GrytCiError::Sqlite {
        path: db.to_path_buf(),
        reason: e.to_string(),
    };
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    check_integrity(db, &conn)?;
    check_schema(db, &conn)?;
    let generations = rows(
        &conn,
        db,
        "generations",
        "SELECT generation_id, version, description, status, pipeline_template, created_at, \
         promoted_at, created_by, promoted_by, remote_id, team_id FROM generations \
         ORDER BY rowid",
        |r| {
            Ok(RawGeneration {
                id: r.id.clone(),
                version: r.text(1, "version")?,
                description: r.text(2, "description")?,
                status: r.text(3, "status")?,
                pipeline_template: r.text(4, "pipeline_template")?,
                created_at: r.text(5, "created_at")?,
                promoted_at: r.text(6, "promoted_at")?,
                created_by: r.text(7, "created_by")?,
                promoted_by: r.text(8, "promoted_by")?,
                remote_id: r.text(9, "remote_id")?,
                team_id: r.text(10, "team_id")?,
            })
        },
    )?;
    let changes = rows(
        &conn,
        db,
        "generation_changes",
        "SELECT change_id, generation_id, type, title, description, status, pipeline \
         FROM generation_changes ORDER BY created_at, rowid",
        |r| {
            Ok(RawChange {
                id: r.id.clone(),
                generation_id: r.required(1, "generation_id")?,
                kind: r.text(2, "type")?,
                title: r.text(3, "title")?,
                description: r.text(4, "description")?,
                status: r.text(5, "status")?,
                pipeline: r.text(6, "pipeline")?,
            })
        },
    )?;
    let evolutions = rows(
        &conn,
        db,
        "evolutions",
        "SELECT evolution_id, generation_id, change_id, code_name, tag, status, pipeline_run_id, \
         started_at, completed_at, created_by FROM evolutions ORDER BY rowid",
        |r| {
            Ok(RawEvolution {
                id: r.id.clone(),
                generation_id: r.text(1, "generation_id")?,
                change_id: r.text(2, "change_id")?,
                code_name: r.text(3, "code_name")?,
                tag: r.text(4, "tag")?,
                status: r.text(5, "status")?,
                pipeline_run_id: r.text(6, "pipeline_run_id")?,
                started_at: r.text(7, "started_at")?,
                completed_at: r.text(8, "completed_at")?,
                created_by: r.text(9, "created_by")?,
            })
        },
    )?;
    let runs = rows(
        &conn,
        db,
        "pipelines",
        "SELECT pipeline_id, name, start_timestamp, end_timestamp, status, config_json \
         FROM pipelines ORDER BY rowid",
        |r| {
            Ok(RawRun {
                id: r.id.clone(),
                name: r.text(1, "name")?,
                start: r.text(2, "start_timestamp")?,
                end: r.text(3, "end_timestamp")?,
                status: r.text(4, "status")?,
                config_json: r.text(5, "config_json")?,
            })
        },
    )?;
    let unlinked_steps = conn
        .query_row(
            "SELECT count(*) FROM steps_output WHERE runner_id IS NULL \
             OR runner_id NOT IN (SELECT runner_id FROM runners)",
            [],
            |r| r.get::<_, i64>(0),
        )
        .or_else(|_| {
            // No `runners` table: no step output can be linked.
            conn.query_row("SELECT count(*) FROM steps_output", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .map_err(sqlite)?;
    Ok(RawStore {
        generations,
        changes,
        evolutions,
        runs,
        unlinked_steps: usize::try_from(unlinked_steps).unwrap_or(0),
    })
}

/// A truncated or damaged file fails here, by name, rather than halfway through the reading.
fn check_integrity(db: &Path, conn: &Connection) -> Result<()> {
    let result: std::result::Result<Vec<String>, rusqlite::Error> = conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect());
    match result {
        Ok(lines) if lines.len() == 1 && lines[0] == "ok" => Ok(()),
        Ok(lines) => Err(GrytCiError::Damaged {
            path: db.to_path_buf(),
            reason: lines.into_iter().take(3).collect::<Vec<_>>().join("; "),
        }),
        Err(e) if is_not_a_database(&e) => Err(GrytCiError::NotSqlite {
            path: db.to_path_buf(),
        }),
        Err(e) => Err(GrytCiError::Damaged {
            path: db.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

fn is_not_a_database(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase
    )
}

fn check_schema(db: &Path, conn: &Connection) -> Result<()> {
    let not_gryt_ci = |what: String| GrytCiError::NotGrytCi {
        path: db.to_path_buf(),
        what,
    };
    for (table, columns) in REQUIRED {
        let present: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .and_then(|mut s| s.query_map([table], |r| r.get(0))?.collect())
            .map_err(|e| GrytCiError::Sqlite {
                path: db.to_path_buf(),
                reason: e.to_string(),
            })?;
        if present.is_empty() {
            return Err(not_gryt_ci(format!("it has no `{table}` table")));
        }
        if let Some(missing) = columns.iter().find(|c| !present.iter().any(|p| p == *c)) {
            return Err(not_gryt_ci(format!(
                "table `{table}` has no `{missing}` column (a store from an older gryt-ci: run \
                 `gryt migrate` with gryt-ci first)"
            )));
        }
    }
    Ok(())
}

/// One row being read: typed access that names the table, the row and the column on error.
struct Row<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    table: &'static str,
    id: String,
}

impl Row<'_, '_> {
    fn text(&self, i: usize, field: &str) -> Result<Option<String>> {
        let bad = |reason: String| GrytCiError::Invalid {
            table: self.table,
            id: self.id.clone(),
            field: field.to_string(),
            reason,
        };
        match self.row.get_ref(i).map_err(|e| bad(e.to_string()))? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
                .map(Some)
                .map_err(|_| bad("is not valid UTF-8".to_string())),
            ValueRef::Integer(_) | ValueRef::Real(_) | ValueRef::Blob(_) => {
                Err(bad("is not text".to_string()))
            }
        }
    }

    fn required(&self, i: usize, field: &str) -> Result<String> {
        self.text(i, field)?.ok_or_else(|| GrytCiError::Invalid {
            table: self.table,
            id: self.id.clone(),
            field: field.to_string(),
            reason: "is empty".to_string(),
        })
    }
}

/// Runs `sql` (its first column is the row's id) and reads each row with `read`.
fn rows<T>(
    conn: &Connection,
    db: &Path,
    table: &'static str,
    sql: &str,
    read: impl Fn(&Row<'_, '_>) -> Result<T>,
) -> Result<Vec<T>> {
    let sqlite = |e: rusqlite::Error| GrytCiError::Sqlite {
        path: db.to_path_buf(),
        reason: format!("reading `{table}`: {e}"),
    };
    let mut stmt = conn.prepare(sql).map_err(sqlite)?;
    let mut cursor = stmt.query([]).map_err(sqlite)?;
    let mut out = Vec::new();
    let mut n = 0usize;
    while let Some(row) = cursor.next().map_err(sqlite)? {
        n += 1;
        let mut r = Row {
            row,
            table,
            id: format!("row {n}"),
        };
        r.id = r.required(0, "id")?;
        out.push(read(&r)?);
    }
    Ok(out)
}

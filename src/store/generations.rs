//! Generations and their changes.

use rusqlite::{OptionalExtension, Row, params};

use super::counts::{Cached, Counts, GenerationState, Ids, Kept};
use super::{Result, Store, corrupt, timestamp, timestamp_opt};
use crate::domain::generation::Contract;
use crate::domain::{Change, GenerationStatus, RecordKind, SyncStatus, Version};

#[derive(Debug, Clone)]
pub struct Generation {
    pub id: String,
    pub contract: Contract,
    pub status: GenerationStatus,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub promoted_by: Option<String>,
    pub promoted_at: Option<String>,
    pub content_hash: String,
    pub file_hash: Option<String>,
    pub remote_id: Option<String>,
    pub sync_status: SyncStatus,
    /// Why the cloud refused it (with `sync_status` `failed`).
    pub sync_error: Option<String>,
}

impl Generation {
    pub fn version(&self) -> &Version {
        &self.contract.version
    }

    /// Rename and delete are only for work nobody else can have seen.
    pub fn never_synced(&self) -> bool {
        self.remote_id.is_none()
    }
}

/// One line of `generation list`: counts instead of the full contract.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GenerationSummary {
    pub version: Version,
    pub status: GenerationStatus,
    pub sync_status: SyncStatus,
    pub changes: u32,
    pub proven: u32,
    pub evolutions: u32,
    pub created_by: String,
    pub created_at: String,
    pub promoted_at: Option<String>,
    #[serde(skip)]
    pub file_hash: Option<String>,
    #[serde(skip)]
    pub content_hash: String,
}

impl GenerationSummary {
    /// The part of it that [`Store::generation_states`] keeps.
    pub fn state(&self) -> GenerationState {
        GenerationState {
            version: self.version.clone(),
            status: self.status,
            file_hash: self.file_hash.clone(),
            changes: self.changes,
            evolutions: self.evolutions,
            proven: self.proven,
        }
    }
}

/// Generation id → counts, from kept states.
fn counts_of(kept: Kept) -> Counts {
    kept.ids
        .into_iter()
        .zip(kept.states)
        .map(|(id, g)| (id, [g.changes, g.evolutions, g.proven]))
        .collect()
}

/// One assigned change of a draft ([`Store::assigned_changes`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AssignedChange {
    pub version: Version,
    pub change_id: String,
    pub title: String,
    pub assignee: String,
    /// An evolution of it passed.
    pub proven: bool,
}

pub struct NewGeneration<'a> {
    pub id: &'a str,
    pub contract: &'a Contract,
    pub created_by: &'a str,
    pub now: &'a str,
    pub file_hash: &'a str,
}

pub(super) const COLUMNS: &str = "id, version, description, pipeline_template, status, created_by, \
     created_at, updated_at, promoted_by, promoted_at, content_hash, file_hash, remote_id, sync_status, sync_error";

fn parse_version(s: &str) -> rusqlite::Result<Version> {
    s.parse().map_err(|_| corrupt("version", s))
}

pub(super) fn generation_from_row(r: &Row<'_>) -> rusqlite::Result<Generation> {
    let version: String = r.get(1)?;
    let status: String = r.get(4)?;
    let sync: String = r.get(13)?;
    let version = parse_version(&version)?;
    let record = || format!("generation {version}");
    let (created_at, updated_at, promoted_at) = (
        timestamp(r, 6, &record)?,
        timestamp(r, 7, &record)?,
        timestamp_opt(r, 9, &record)?,
    );
    Ok(Generation {
        id: r.get(0)?,
        contract: Contract {
            version,
            description: r.get(2)?,
            pipeline_template: r.get(3)?,
            changes: Vec::new(),
        },
        status: GenerationStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        created_by: r.get(5)?,
        created_at,
        updated_at,
        promoted_by: r.get(8)?,
        promoted_at,
        content_hash: r.get(10)?,
        file_hash: r.get(11)?,
        remote_id: r.get(12)?,
        sync_status: SyncStatus::parse(&sync).ok_or_else(|| corrupt("sync status", &sync))?,
        sync_error: r.get(14)?,
    })
}

/// Which generations a push sends, in order: the partial index `generations_to_push`
/// (migrations 3 and 5).
pub(super) const GENERATIONS_TO_PUSH: &str = concat!(
    "WHERE ",
    pushable!(""),
    " AND sync_status <> 'failed' ORDER BY created_at, id"
);

/// The rows of [`Store::list_generations`], newest version first (index
/// `generations_by_semver`).
const LIST_GENERATIONS: &str = "SELECT id, version, status, sync_status, created_by, created_at, \
     promoted_at, file_hash, content_hash FROM generations \
     ORDER BY major DESC, minor DESC, patch DESC";

/// What [`Store::generation_states`] reads when the kept states are stale, in the same order.
const LIST_STATES: &str = "SELECT id, version, status, file_hash FROM generations \
     ORDER BY major DESC, minor DESC, patch DESC";

/// The assigned changes of drafts, found through the partial index `changes_assigned`
/// (migration 7) from the assigned changes outward (`CROSS JOIN` keeps that order), not by
/// reading every change of every draft; the few found are sorted.
const ASSIGNED_CHANGES: &str = "SELECT g.version, c.change_id, c.title, c.assignee,
       EXISTS (SELECT 1 FROM evolutions e WHERE e.generation_id = c.generation_id
         AND e.change_id = c.change_id AND e.status = 'pass')
     FROM changes c CROSS JOIN generations g ON g.id = c.generation_id
     WHERE c.assignee IS NOT NULL AND g.status = 'draft'
     ORDER BY g.major, g.minor, g.patch, c.position";

/// [`Store::list_generations`]'s counts per generation, in [`Store::generation_counts`]'s
/// order: changes (the `changes` table is stored in generation order), evolutions and proven
/// changes (indexes that start with `generation_id`). Each is one pass in index order, with no
/// automatic index and no sort (a test checks the plans).
const LIST_COUNTS: [&str; 3] = [
    "SELECT generation_id, COUNT(*) FROM changes GROUP BY generation_id",
    "SELECT generation_id, COUNT(*) FROM evolutions GROUP BY generation_id",
    "SELECT generation_id, COUNT(DISTINCT change_id) FROM evolutions WHERE status = 'pass' \
     GROUP BY generation_id",
];

impl Store {
    pub fn insert_generation(&self, g: &NewGeneration<'_>) -> Result<()> {
        let v = &g.contract.version;
        self.conn.execute(
            "INSERT INTO generations (id, version, major, minor, patch, description, \
             pipeline_template, created_by, created_at, updated_at, content_hash, file_hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)",
            params![
                g.id,
                v.to_string(),
                v.major() as i64,
                v.minor() as i64,
                v.patch() as i64,
                g.contract.description,
                g.contract.pipeline_template,
                g.created_by,
                g.now,
                g.contract.content_hash(),
                g.file_hash,
            ],
        )?;
        self.insert_changes(g.id, &g.contract.changes, 0)?;
        Ok(())
    }

    fn insert_changes(&self, generation_id: &str, changes: &[Change], from: usize) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO changes (generation_id, change_id, position, type, title, description,
               pipeline, assignee)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (generation_id, change_id) DO UPDATE SET position = excluded.position,
               type = excluded.type, title = excluded.title, description = excluded.description,
               pipeline = excluded.pipeline, assignee = excluded.assignee",
        )?;
        for (i, c) in changes.iter().enumerate() {
            stmt.execute(params![
                generation_id,
                c.id.as_str(),
                (from + i) as i64,
                c.kind.as_str(),
                c.title,
                c.description,
                c.pipeline,
                c.assignee,
            ])?;
        }
        Ok(())
    }

    pub fn generation(&self, version: &Version) -> Result<Option<Generation>> {
        self.generation_where("version", &version.to_string())
    }

    /// Cached: sync loads generations once per record.
    pub fn generation_by_id(&self, id: &str) -> Result<Option<Generation>> {
        self.generation_where("id", id)
    }

    /// The generation whose `column` (a unique one) holds `value`, with its changes.
    fn generation_where(&self, column: &str, value: &str) -> Result<Option<Generation>> {
        let sql = format!("SELECT {COLUMNS} FROM generations WHERE {column} = ?1");
        let g = self
            .conn
            .prepare_cached(&sql)?
            .query_row([value], generation_from_row)
            .optional()?;
        match g {
            Some(mut g) => {
                g.contract.changes = self.changes_of(&g.id)?;
                Ok(Some(g))
            }
            None => Ok(None),
        }
    }

    /// Generations with local work to push (not synced or pending), oldest first,
    /// each with its `base_revision`: one query instead of an id list and a lookup per id.
    pub fn generations_to_push(&self) -> Result<Vec<(Generation, Option<u64>)>> {
        let sql = format!("SELECT {COLUMNS}, base_revision FROM generations {GENERATIONS_TO_PUSH}");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows: Vec<(Generation, Option<i64>)> = stmt
            .query_map([], |r| Ok((generation_from_row(r)?, r.get(15)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (mut g, base) in rows {
            g.contract.changes = self.changes_of(&g.id)?;
            out.push((g, base.map(|b| b as u64)));
        }
        Ok(out)
    }

    pub(super) fn changes_of(&self, generation_id: &str) -> Result<Vec<Change>> {
        // Sorted here, not with `ORDER BY position`: the primary key does not cover it, and
        // SQLite would open a sorter for every generation loaded (sync loads thousands).
        let mut stmt = self.conn.prepare_cached(
            "SELECT type, change_id, title, description, pipeline, position, assignee FROM changes
             WHERE generation_id = ?1",
        )?;
        let rows = stmt.query_map([generation_id], |r| {
            let kind: String = r.get(0)?;
            let id: String = r.get(1)?;
            Ok((
                r.get::<_, i64>(5)?,
                Change {
                    kind: kind.parse().map_err(|_| corrupt("change type", &kind))?,
                    id: id.parse().map_err(|_| corrupt("change id", &id))?,
                    title: r.get(2)?,
                    description: r.get(3)?,
                    pipeline: r.get(4)?,
                    assignee: r.get(6)?,
                },
            ))
        })?;
        let mut changes: Vec<(i64, Change)> = rows.collect::<rusqlite::Result<_>>()?;
        changes.sort_by_key(|(position, _)| *position);
        Ok(changes.into_iter().map(|(_, c)| c).collect())
    }

    /// The assigned changes of draft generations, by version then position, each with
    /// whether an evolution of it passed.
    pub fn assigned_changes(&self) -> Result<Vec<AssignedChange>> {
        let mut stmt = self.conn.prepare_cached(ASSIGNED_CHANGES)?;
        let rows = stmt.query_map([], |r| {
            Ok(AssignedChange {
                version: parse_version(r.get_ref(0)?.as_str()?)?,
                change_id: r.get(1)?,
                title: r.get(2)?,
                assignee: r.get(3)?,
                proven: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn version_exists(&self, version: &Version) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM generations WHERE version = ?1",
                [version.to_string()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Every local generation's version (cheaper than [`Store::list_generations`], which
    /// counts evolutions too).
    pub fn versions(&self) -> Result<Vec<Version>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT version FROM generations")?;
        let rows = stmt.query_map([], |r| parse_version(&r.get::<_, String>(0)?))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// All generations with counts, newest version first.
    ///
    /// The counts come from one ordered pass each over a table or index the schema has
    /// ([`LIST_COUNTS`]), merged here by generation id: joining them in SQL made SQLite build
    /// an automatic index over each grouped side on every call, and counting distinct proven
    /// changes per group with every evolution in it cost a temporary B-tree. All in one read
    /// transaction, so the counts and the generations are one snapshot. Between commands the
    /// counts are kept beside the database under the store's revision (`counts.rs`), so an
    /// unchanged store is not counted again.
    pub fn list_generations(&self) -> Result<Vec<GenerationSummary>> {
        self.settle_stray_writes()?;
        let (list, fresh) = self.read(|s| {
            let (counts, fresh) = match s.kept_states(Ids::Read)? {
                Cached::Current(kept) => (counts_of(kept), None),
                Cached::Stale(file) => (s.generation_counts()?, file),
            };
            // Read afresh: the states are kept for the next command, from the same rows.
            let mut kept = Kept::default();
            let mut stmt = s.conn.prepare_cached(LIST_GENERATIONS)?;
            let mut rows = stmt.query([])?;
            let mut list = Vec::new();
            while let Some(r) = rows.next()? {
                let id = r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
                let [changes, evolutions, proven] = counts.get(id).copied().unwrap_or_default();
                let version =
                    parse_version(r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?)?;
                let status = r.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
                let sync = r.get_ref(3)?.as_str().map_err(rusqlite::Error::from)?;
                let record = || format!("generation {version}");
                let g = GenerationSummary {
                    created_at: timestamp(r, 5, &record)?,
                    promoted_at: timestamp_opt(r, 6, &record)?,
                    status: GenerationStatus::parse(status)
                        .ok_or_else(|| corrupt("status", status))?,
                    sync_status: SyncStatus::parse(sync)
                        .ok_or_else(|| corrupt("sync status", sync))?,
                    version,
                    created_by: r.get(4)?,
                    file_hash: r.get(7)?,
                    content_hash: r.get(8)?,
                    changes,
                    proven,
                    evolutions,
                };
                if fresh.is_some() {
                    kept.ids.push(id.to_string());
                    kept.states.push(g.state());
                }
                list.push(g);
            }
            Ok::<_, super::StoreError>((list, fresh.map(|f| (f, kept))))
        })?;
        if let Some((file, kept)) = fresh {
            file.save(&kept);
        }
        Ok(list)
    }

    /// Each generation's version, status, file hash and counts, newest version first: what
    /// the text of `gryt status` needs, without the rest of each row. Kept beside the
    /// database under the store's revision like [`Store::list_generations`]'s counts, so an
    /// unchanged store is read from one small file.
    pub fn generation_states(&self) -> Result<Vec<GenerationState>> {
        self.settle_stray_writes()?;
        let (kept, fresh) = self.read(|s| {
            let file = match s.kept_states(Ids::Skip)? {
                Cached::Current(kept) => return Ok((kept, None)),
                Cached::Stale(file) => file,
            };
            let mut counts = s.generation_counts()?;
            let mut stmt = s.conn.prepare_cached(LIST_STATES)?;
            let mut rows = stmt.query([])?;
            let mut kept = Kept::default();
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                let status = r.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
                let [changes, evolutions, proven] = counts.remove(&id).unwrap_or_default();
                let state = GenerationState {
                    version: parse_version(r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?)?,
                    status: GenerationStatus::parse(status)
                        .ok_or_else(|| corrupt("status", status))?,
                    file_hash: r.get(3)?,
                    changes,
                    evolutions,
                    proven,
                };
                kept.ids.push(id);
                kept.states.push(state);
            }
            Ok::<_, super::StoreError>((kept, file))
        })?;
        if let Some(file) = fresh {
            file.save(&kept);
        }
        Ok(kept.states)
    }

    /// Generation id → [changes, evolutions, changes with a passed evolution], for
    /// [`Store::list_generations`]. A generation with none of them is not in the map.
    fn generation_counts(&self) -> Result<Counts> {
        let mut counts = Counts::new();
        for (slot, sql) in LIST_COUNTS.iter().enumerate() {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let id = r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
                let n: u32 = r.get(1)?;
                match counts.get_mut(id) {
                    Some(c) => c[slot] = n,
                    None => {
                        let mut c = [0; 3];
                        c[slot] = n;
                        counts.insert(id.to_string(), c);
                    }
                }
            }
        }
        Ok(counts)
    }

    /// Replaces a generation's contract. Changes that disappeared are deleted (callers check
    /// first that none has evolutions; the foreign key refuses it anyway). A synced
    /// generation becomes pending.
    pub fn replace_contract(
        &self,
        id: &str,
        contract: &Contract,
        now: &str,
        file_hash: &str,
    ) -> Result<()> {
        self.remember_sync_base(RecordKind::Generation, id)?;
        self.conn.execute(
            "UPDATE generations SET description = ?2, pipeline_template = ?3, content_hash = ?4,
               file_hash = ?5, updated_at = ?6,
               sync_status = CASE sync_status WHEN 'synced' THEN 'pending' ELSE sync_status END
             WHERE id = ?1",
            params![
                id,
                contract.description,
                contract.pipeline_template,
                contract.content_hash(),
                file_hash,
                now
            ],
        )?;
        self.replace_changes(id, &contract.changes)
    }

    /// Makes a generation's changes exactly `changes` (in order): removed ones are deleted,
    /// others inserted or updated.
    pub(super) fn replace_changes(&self, generation_id: &str, changes: &[Change]) -> Result<()> {
        let keep: Vec<&str> = changes.iter().map(|c| c.id.as_str()).collect();
        let existing: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT change_id FROM changes WHERE generation_id = ?1")?;
            stmt.query_map([generation_id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        for gone in existing.iter().filter(|c| !keep.contains(&c.as_str())) {
            self.conn
                .prepare_cached("DELETE FROM changes WHERE generation_id = ?1 AND change_id = ?2")?
                .execute(params![generation_id, gone])?;
        }
        self.insert_changes(generation_id, changes, 0)
    }

    pub fn set_file_hash(&self, id: &str, file_hash: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE generations SET file_hash = ?2 WHERE id = ?1",
            params![id, file_hash],
        )?;
        Ok(())
    }

    pub fn rename_generation(
        &self,
        id: &str,
        to: &Contract,
        now: &str,
        file_hash: &str,
    ) -> Result<()> {
        let v = &to.version;
        self.conn.execute(
            "UPDATE generations SET version = ?2, major = ?3, minor = ?4, patch = ?5,
               content_hash = ?6, file_hash = ?7, updated_at = ?8 WHERE id = ?1",
            params![
                id,
                v.to_string(),
                v.major() as i64,
                v.minor() as i64,
                v.patch() as i64,
                to.content_hash(),
                file_hash,
                now
            ],
        )?;
        Ok(())
    }

    /// Deletes a generation with its changes, evolutions and their pipeline runs.
    pub fn delete_generation(&self, id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE evolutions SET pipeline_run_id = NULL WHERE generation_id = ?1",
            [id],
        )?;
        self.conn.execute(
            "DELETE FROM pipeline_runs WHERE evolution_id IN
               (SELECT id FROM evolutions WHERE generation_id = ?1)",
            [id],
        )?;
        self.conn.execute(
            "DELETE FROM sync_base WHERE record_id = ?1 OR record_id IN
               (SELECT id FROM evolutions WHERE generation_id = ?1)",
            [id],
        )?;
        self.conn
            .execute("DELETE FROM evolutions WHERE generation_id = ?1", [id])?;
        self.conn
            .execute("DELETE FROM generations WHERE id = ?1", [id])?;
        Ok(())
    }

    pub fn mark_promoted(&self, id: &str, by: &str, at: &str) -> Result<()> {
        self.remember_sync_base(RecordKind::Generation, id)?;
        self.conn.execute(
            "UPDATE generations SET status = 'promoted', promoted_by = ?2, promoted_at = ?3,
               updated_at = ?3,
               sync_status = CASE sync_status WHEN 'synced' THEN 'pending' ELSE sync_status END
             WHERE id = ?1 AND status = 'draft'",
            params![id, by, at],
        )?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::tests::temp_store;

    pub fn contract(version: &str, ids: &[&str]) -> Contract {
        let yaml = format!(
            "version: {version}\nchanges:\n{}",
            ids.iter()
                .map(|id| format!("  - {{type: add, id: {id}, title: t {id}}}\n"))
                .collect::<String>()
        );
        crate::contract::parse(&yaml).unwrap().0
    }

    pub fn insert(store: &Store, id: &str, c: &Contract) {
        store
            .insert_generation(&NewGeneration {
                id,
                contract: c,
                created_by: "alice",
                now: "2026-01-01T00:00:00Z",
                file_hash: "h",
            })
            .unwrap();
    }

    #[test]
    fn insert_get_list() {
        let (_d, store) = temp_store();
        insert(&store, "g1", &contract("1.0.0", &["A-1", "B-2"]));
        insert(&store, "g2", &contract("1.10.0", &["A-1"]));
        let g = store
            .generation(&"v1.0.0".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(g.contract, contract("1.0.0", &["A-1", "B-2"]));
        assert_eq!(g.status, GenerationStatus::Draft);
        let list = store.list_generations().unwrap();
        let versions: Vec<String> = list.iter().map(|s| s.version.to_string()).collect();
        assert_eq!(versions, ["v1.10.0", "v1.0.0"]);
        assert_eq!(list[1].changes, 2);
        assert!(store.version_exists(&"1.10.0".parse().unwrap()).unwrap());
        assert!(!store.version_exists(&"1.2.0".parse().unwrap()).unwrap());
    }

    /// `list_generations` runs on every `generation list`, `generation_states` on a status
    /// after any write: each of their statements must walk an index in order, never build an
    /// automatic index or sort.
    #[test]
    fn list_generations_plans_use_the_schema_indexes() {
        let (_d, store) = temp_store();
        let plan = |sql: &str| crate::store::tests::plan(&store, sql).join("; ");
        let expected = [
            (
                LIST_GENERATIONS,
                "SCAN generations USING INDEX generations_by_semver",
            ),
            (
                LIST_STATES,
                "SCAN generations USING INDEX generations_by_semver",
            ),
            (LIST_COUNTS[0], "SCAN changes"),
            (LIST_COUNTS[1], "SCAN evolutions USING COVERING INDEX"),
            (
                LIST_COUNTS[2],
                "SCAN evolutions USING COVERING INDEX evolutions_by_change",
            ),
        ];
        for (sql, uses) in expected {
            let plan = plan(sql);
            assert!(plan.starts_with(uses), "{sql}: {plan}");
            assert!(!plan.contains("AUTOMATIC"), "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
        }
        // The assigned changes: from the partial index outward; only the few found are sorted.
        let plan = plan(ASSIGNED_CHANGES);
        assert!(
            plan.starts_with("SCAN c USING INDEX changes_assigned; SEARCH g USING"),
            "{plan}"
        );
        assert!(!plan.contains("AUTOMATIC"), "{plan}");
    }

    #[test]
    fn list_counts_changes_evolutions_and_proven_changes() {
        let (_d, store) = temp_store();
        insert(&store, "g1", &contract("1.0.0", &["A-1", "B-2", "C-3"]));
        insert(&store, "g2", &contract("1.1.0", &["A-1"]));
        insert(&store, "g3", &contract("2.0.0", &["D-4"]));
        let evolve = |n: u32, g: &str, change: &str, pass: bool| {
            let id = format!("e{n}");
            store
                .insert_evolution(&crate::store::NewEvolution {
                    id: &id,
                    generation_id: g,
                    change_id: change,
                    code_name: &format!("code-{n}"),
                    rc: n,
                    owner: "alice",
                    now: "2026-01-01T00:00:00Z",
                })
                .unwrap();
            if pass {
                store
                    .decide_evolution(
                        &id,
                        crate::domain::EvolutionStatus::Pass,
                        None,
                        "2026-01-01T00:00:01Z",
                    )
                    .unwrap();
            }
        };
        // g1: A-1 passed twice (one proven change), B-2 failed/pending, C-3 untouched.
        evolve(1, "g1", "A-1", true);
        evolve(2, "g1", "A-1", true);
        evolve(3, "g1", "B-2", false);
        evolve(4, "g2", "A-1", true);
        let list = store.list_generations().unwrap();
        let counts: Vec<(String, u32, u32, u32)> = list
            .iter()
            .map(|s| (s.version.to_string(), s.changes, s.evolutions, s.proven))
            .collect();
        assert_eq!(
            counts,
            [
                ("v2.0.0".to_string(), 1, 0, 0),
                ("v1.1.0".to_string(), 1, 1, 1),
                ("v1.0.0".to_string(), 3, 3, 1),
            ]
        );
    }

    #[test]
    fn replace_reorders_adds_and_removes() {
        let (_d, store) = temp_store();
        insert(&store, "g1", &contract("1.0.0", &["A-1", "B-2"]));
        let next = contract("1.0.0", &["C-3", "A-1"]);
        store
            .replace_contract("g1", &next, "2026-01-02T00:00:00Z", "h2")
            .unwrap();
        let g = store.generation_by_id("g1").unwrap().unwrap();
        assert_eq!(g.contract, next);
        assert_eq!(g.content_hash, next.content_hash());
    }
}

//! Checks shared by the fault and kill tests: a replica's records read straight from its
//! store, the cloud's records read from the changes feed, and the invariants that must hold
//! whatever the network or a kill did — the store is intact, nothing is duplicated in the
//! cloud, nobody conflicts with themselves, and after a sync the replica equals the server.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::{Dev, PROJECT};
use crate::common::Out;
use crate::server::harness::Client;

/// A generation as both sides describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gen {
    pub version: String,
    pub description: String,
    pub status: String,
    pub promoted_by: Option<String>,
    pub changes: Vec<String>,
}

/// An evolution as both sides describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evo {
    pub generation_id: String,
    pub change: String,
    pub rc: i64,
    pub code_name: String,
    pub owner: String,
    pub status: String,
}

/// Generations and evolutions by id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Records {
    pub gens: BTreeMap<String, Gen>,
    pub evos: BTreeMap<String, Evo>,
}

impl Records {
    pub fn has(&self, id: &str) -> bool {
        self.gens.contains_key(id) || self.evos.contains_key(id)
    }

    pub fn version(&self, generation_id: &str) -> String {
        self.gens.get(generation_id).map_or_else(
            || format!("<generation {generation_id}>"),
            |g| g.version.clone(),
        )
    }
}

/// The cloud's records of acme/web, from the whole changes feed.
pub fn cloud(api: &Client) -> Records {
    let (feed, _) = api.pull_all(PROJECT, 1000);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut out = Records::default();
    for r in &feed {
        let rec = &r["record"];
        match r["kind"].as_str() {
            Some("generation") => {
                out.gens.insert(
                    text(&rec["id"]),
                    Gen {
                        version: text(&rec["version"]),
                        description: text(&rec["description"]),
                        status: text(&rec["status"]),
                        promoted_by: rec["promoted_by"].as_str().map(str::to_string),
                        changes: rec["changes"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|c| text(&c["id"]))
                            .collect(),
                    },
                );
            }
            Some("evolution") => {
                out.evos.insert(
                    text(&rec["id"]),
                    Evo {
                        generation_id: text(&rec["generation_id"]),
                        change: text(&rec["change_id"]),
                        rc: rec["rc"].as_i64().unwrap(),
                        code_name: text(&rec["code_name"]),
                        owner: text(&rec["owner"]),
                        status: text(&rec["status"]),
                    },
                );
            }
            _ => {}
        }
    }
    out
}

fn open(dev: &Dev) -> rusqlite::Connection {
    rusqlite::Connection::open(dev.env.path(".gryt/gryt.db")).unwrap()
}

/// The replica's records, and the ids of those not `synced`.
pub fn local(dev: &Dev) -> (Records, BTreeSet<String>) {
    let conn = open(dev);
    let mut out = Records::default();
    let mut unsynced = BTreeSet::new();
    let mut stmt = conn
        .prepare(
            "SELECT id, version, description, status, promoted_by, sync_status FROM generations",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Gen {
                    version: r.get(1)?,
                    description: r.get(2)?,
                    status: r.get(3)?,
                    promoted_by: r.get(4)?,
                    changes: Vec::new(),
                },
                r.get::<_, String>(5)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (id, g, sync) = row.unwrap();
        if sync != "synced" {
            unsynced.insert(id.clone());
        }
        out.gens.insert(id, g);
    }
    let mut stmt = conn
        .prepare("SELECT generation_id, change_id FROM changes ORDER BY generation_id, position")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    for row in rows {
        let (g, c) = row.unwrap();
        out.gens.get_mut(&g).unwrap().changes.push(c);
    }
    let mut stmt = conn
        .prepare(
            "SELECT id, generation_id, change_id, rc, code_name, owner, status, sync_status FROM evolutions",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Evo {
                    generation_id: r.get(1)?,
                    change: r.get(2)?,
                    rc: r.get(3)?,
                    code_name: r.get(4)?,
                    owner: r.get(5)?,
                    status: r.get(6)?,
                },
                r.get::<_, String>(7)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (id, e, sync) = row.unwrap();
        if sync != "synced" {
            unsynced.insert(id.clone());
        }
        out.evos.insert(id, e);
    }
    (out, unsynced)
}

/// `PRAGMA integrity_check` of the SQLite database at `path`: `None` when it answers `ok`.
pub fn integrity_problem(path: &Path) -> Option<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let rows: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (rows != ["ok"]).then(|| format!("{}: {}", path.display(), rows.join("; ")))
}

/// Versions held by two generations, rc numbers or code names held by two evolutions.
pub fn duplicates(cloud: &Records) -> Vec<String> {
    let mut problems = Vec::new();
    let mut versions = BTreeMap::new();
    for (id, g) in &cloud.gens {
        if let Some(other) = versions.insert(g.version.clone(), id) {
            problems.push(format!(
                "the cloud holds {} twice: generations {other} and {id}",
                g.version
            ));
        }
    }
    let mut tags = BTreeMap::new();
    let mut names = BTreeMap::new();
    for (id, e) in &cloud.evos {
        let tag = format!("{}-rc.{}", cloud.version(&e.generation_id), e.rc);
        if let Some(other) = tags.insert(tag.clone(), id) {
            problems.push(format!(
                "the cloud holds {tag} twice: evolutions {other} and {id}"
            ));
        }
        if let Some(other) = names.insert(e.code_name.clone(), id) {
            problems.push(format!(
                "the cloud gives code name {} twice: evolutions {other} and {id}",
                e.code_name
            ));
        }
    }
    problems
}

/// The author of a record in the wire format: who created a generation (and, once
/// promoted, who promoted it), who owns an evolution.
fn authors(record: &Value) -> Vec<&str> {
    ["created_by", "promoted_by", "owner"]
        .iter()
        .filter_map(|k| record[*k].as_str())
        .collect()
}

/// Conflicts (from `gryt sync conflicts [--all] --json`) of `dev` with itself: the cloud's
/// side is the same record, written by nobody but `dev`.
pub fn self_conflicts(dev: &Dev, conflicts: &Value) -> Vec<String> {
    conflicts
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            let remote = &c["remote_value"]["record"];
            let authors = authors(remote);
            remote["id"] == c["record_id"]
                && !authors.is_empty()
                && authors.iter().all(|a| *a == dev.name)
        })
        .map(|c| {
            format!(
                "{} conflicts with itself: {} {} ({}), remote revision {}",
                dev.name,
                c["record_kind"],
                c["subject"],
                c["reason"],
                c["remote_value"]["record"]["revision"]
            )
        })
        .collect()
}

/// Where `dev`'s replica differs from the cloud: a cloud record missing or different here, a
/// local record the cloud does not have or not `synced` (unless its subject — version or rc
/// tag — is in `skipped`, the records a push reported it cannot send).
pub fn replica_differences(dev: &Dev, cloud: &Records, skipped: &BTreeSet<String>) -> Vec<String> {
    let (mine, unsynced) = local(dev);
    let mut problems = Vec::new();
    let name = &dev.name;
    for (id, g) in &cloud.gens {
        match mine.gens.get(id) {
            None => problems.push(format!("{name} lacks the cloud's {} ({id})", g.version)),
            Some(l) if l != g => problems.push(format!(
                "{name}'s {} differs from the cloud's: {l:?} vs {g:?}",
                g.version
            )),
            _ => {}
        }
    }
    for (id, e) in &cloud.evos {
        let tag = format!("{}-rc.{}", cloud.version(&e.generation_id), e.rc);
        match mine.evos.get(id) {
            None => problems.push(format!("{name} lacks the cloud's {tag} ({id})")),
            Some(l) if l != e => problems.push(format!(
                "{name}'s {tag} differs from the cloud's: {l:?} vs {e:?}"
            )),
            _ => {}
        }
    }
    let subjects = mine
        .gens
        .iter()
        .map(|(id, g)| (id, g.version.clone()))
        .chain(mine.evos.iter().map(|(id, e)| {
            (
                id,
                format!("{}-rc.{}", mine.version(&e.generation_id), e.rc),
            )
        }));
    for (id, subject) in subjects {
        if skipped.contains(&subject) {
            continue;
        }
        if !cloud.has(id) {
            problems.push(format!("{name}'s {subject} ({id}) is not in the cloud"));
        } else if unsynced.contains(id) {
            problems.push(format!("{name}'s {subject} ({id}) is not synced"));
        }
    }
    problems
}

/// The subjects (version or rc tag) a push report lists under `skipped`, records that
/// cannot be pushed: each entry starts with its subject.
pub fn skipped_subjects(push_json: &Value) -> BTreeSet<String> {
    push_json["skipped"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str()?.split_whitespace().next().map(str::to_string))
        .collect()
}

/// What every gryt command must satisfy: no panic, an exit code of the README's table, and a
/// failure says why on stderr.
pub fn misbehaviour(out: &Out) -> Option<String> {
    if out.stderr.contains("panicked") {
        return Some("panicked".into());
    }
    if ![0, 1, 3, 4, 5, 6].contains(&out.code) {
        return Some(format!("exit code {} is none of the README's", out.code));
    }
    if out.code != 0 && out.stderr.trim().is_empty() {
        return Some(format!("exit {} with nothing on stderr", out.code));
    }
    None
}

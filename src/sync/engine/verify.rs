//! `gryt sync verify`: local records against the cloud's, record by record (kind, id,
//! revision, content hash), without changing anything. Cheap when they agree: one digest
//! request gives the cloud's bucket hashes (docs/PROTOCOL.md, "Digest"); only the buckets
//! whose hash differs from the same computation over the local records are listed entry by
//! entry.

use std::collections::{BTreeMap, HashMap, HashSet};

use uuid::Uuid;

use super::Cloud;
use crate::api::digest::{self, DigestEntry};
use crate::api::records::{Record, RecordKind};
use crate::domain::{SyncStatus, Version};
use crate::store::Held;
use crate::sync::{Result, SyncError, convert};
use crate::workspace::Workspace;

/// Bucket bits asked for: 256 buckets, a few hundred records each at 100,000 records.
const BITS: u8 = 8;

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Only this generation, its evolutions and their runs.
    pub version: Option<Version>,
}

/// One record that differs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Difference {
    pub kind: RecordKind,
    pub id: Uuid,
    /// Its version or rc tag when known here, else `KIND ID`.
    pub subject: String,
    pub local_revision: Option<u64>,
    pub cloud_revision: Option<u64>,
    pub local_hash: Option<String>,
    pub cloud_hash: Option<String>,
    pub sync_status: Option<SyncStatus>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct VerifyReport {
    pub project: String,
    /// The project head the cloud's digest was computed at.
    pub head: u64,
    /// Records compared here and in the cloud (all of them, also with a version).
    pub local_records: u64,
    pub cloud_records: u64,
    pub version: Option<String>,
    /// True when nothing below is listed.
    pub agree: bool,
    /// In the cloud, never seen here.
    pub cloud_only: Vec<Difference>,
    /// Here, never synced: the next push sends them.
    pub local_only: Vec<Difference>,
    /// In both, with another content hash or revision.
    pub different: Vec<Difference>,
    /// Marked synced here (or synced once) but missing from the cloud.
    pub missing_in_cloud: Vec<Difference>,
    pub buckets: u32,
    pub buckets_differing: u32,
    pub requests: u32,
    /// Why this workspace's sync state does not belong to the cloud it compared with
    /// ([`super::mismatch`]): a pull repairs it with a full resync; verify changes nothing.
    pub mismatch: Option<String>,
}

/// A local record as the digest sees it, with its state here.
struct Mine {
    entry: DigestEntry,
    held: Held,
}

pub fn verify(ws: &Workspace, cloud: &Cloud<'_>, opts: &VerifyOptions) -> Result<VerifyReport> {
    // The cloud computes its digest while this side reads and hashes its own records.
    let (client, project) = (cloud.client.clone(), cloud.project.clone());
    let asked = std::thread::spawn(move || client.digest(&project, BITS));
    let mine = local_entries(ws);
    let cloud_digest = match asked.join() {
        Ok(answer) => answer?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let mine = mine?;
    let scope = match &opts.version {
        Some(v) => Some(version_scope(ws, v)?),
        None => None,
    };
    let mut report = VerifyReport {
        project: cloud.project.clone(),
        local_records: mine.len() as u64,
        version: opts.version.as_ref().map(ToString::to_string),
        requests: 1,
        head: cloud_digest.head,
        cloud_records: cloud_digest.count,
        ..VerifyReport::default()
    };
    let answer = super::Identity {
        project_id: cloud_digest.project_id,
        history_id: cloud_digest.history_id,
    };
    report.mismatch = super::mismatch(ws, cloud, answer, cloud_digest.head)?.map(|m| m.why);
    let bits = cloud_digest.bits.min(digest::MAX_BITS);
    // Each local record's bucket, computed once; a bucket's records stay in id order.
    let mut by_bucket: Vec<Vec<&Mine>> = vec![Vec::new(); 1 << bits];
    for m in mine.values() {
        by_bucket[digest::bucket_of_slot(digest::slot(&m.entry.id), bits) as usize].push(m);
    }
    report.buckets = by_bucket.len() as u32;
    if by_bucket.len() != cloud_digest.buckets.len() {
        return Err(SyncError::Corrupt(format!(
            "the cloud's digest has {} buckets, not {}",
            cloud_digest.buckets.len(),
            by_bucket.len()
        )));
    }
    for (ours, c) in by_bucket.iter().zip(&cloud_digest.buckets) {
        if bucket_hash(ours) == c.hash {
            continue;
        }
        report.buckets_differing += 1;
        let theirs = bucket_entries(cloud, bits, c.bucket, &mut report.requests)?;
        compare(ws, ours, &theirs, scope.as_ref(), &mut report)?;
    }
    for list in [
        &mut report.cloud_only,
        &mut report.local_only,
        &mut report.different,
        &mut report.missing_in_cloud,
    ] {
        list.sort_by(|a, b| (a.kind.as_str(), &a.subject).cmp(&(b.kind.as_str(), &b.subject)));
    }
    report.agree = report.cloud_only.is_empty()
        && report.local_only.is_empty()
        && report.different.is_empty()
        && report.missing_in_cloud.is_empty();
    Ok(report)
}

/// A bucket's hash as the digest defines it, over records in ascending id order.
fn bucket_hash(records: &[&Mine]) -> String {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    for m in records {
        h.update(digest::entry_line(&m.entry).as_bytes());
    }
    crate::domain::generation::hex(&h.finalize())
}

/// All entries of one bucket in the cloud, page by page.
fn bucket_entries(
    cloud: &Cloud<'_>,
    bits: u8,
    bucket: u32,
    requests: &mut u32,
) -> Result<Vec<DigestEntry>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = cloud
            .client
            .digest_bucket(&cloud.project, bits, bucket, after)?;
        *requests += 1;
        let more = page.more;
        after = page.entries.last().map(|e| e.id);
        out.extend(page.entries);
        if !more || after.is_none() {
            return Ok(out);
        }
    }
}

/// Whether a record's revision is known here: runs keep none (the cloud's is 1 until the
/// run changes again, which gryt never does once pushed).
fn revision_known(kind: RecordKind) -> bool {
    kind != RecordKind::PipelineRun
}

fn compare(
    ws: &Workspace,
    ours: &[&Mine],
    theirs: &[DigestEntry],
    scope: Option<&HashSet<Uuid>>,
    report: &mut VerifyReport,
) -> Result<()> {
    let in_scope = |id: &Uuid| scope.is_none_or(|s| s.contains(id));
    let theirs: HashMap<Uuid, &DigestEntry> = theirs.iter().map(|e| (e.id, e)).collect();
    let mut seen = HashSet::new();
    for m in ours {
        let e = &m.entry;
        seen.insert(e.id);
        if !in_scope(&e.id) {
            continue;
        }
        let diff = |cloud: Option<&DigestEntry>| -> Result<Difference> {
            Ok(Difference {
                kind: e.kind,
                id: e.id,
                subject: super::subject(&ws.store, e.kind, &e.id.to_string())?,
                local_revision: m.held.base_revision,
                cloud_revision: cloud.map(|c| c.revision),
                local_hash: Some(e.hash.clone()),
                cloud_hash: cloud.map(|c| c.hash.clone()),
                sync_status: Some(m.held.sync_status),
            })
        };
        match theirs.get(&e.id) {
            Some(c) => {
                let revision_differs = revision_known(e.kind) && c.revision != e.revision;
                if c.hash != e.hash || revision_differs {
                    report.different.push(diff(Some(c))?);
                }
            }
            None if m.held.sync_status == SyncStatus::Synced || m.held.base_revision.is_some() => {
                report.missing_in_cloud.push(diff(None)?)
            }
            None => report.local_only.push(diff(None)?),
        }
    }
    for (id, c) in theirs {
        if seen.contains(&id) || !in_scope(&id) {
            continue;
        }
        report.cloud_only.push(Difference {
            kind: c.kind,
            id,
            subject: format!("{} {id}", c.kind.as_str()),
            local_revision: None,
            cloud_revision: Some(c.revision),
            local_hash: None,
            cloud_hash: Some(c.hash.clone()),
            sync_status: None,
        });
    }
    Ok(())
}

/// Every local record as the digest sees it: its wire form's content hash, and as revision
/// the cloud revision it was last synced at (0 when never; runs: 1 once synced). The hashing
/// is shared out over the machine's cores.
fn local_entries(ws: &Workspace) -> Result<BTreeMap<Uuid, Mine>> {
    let s = &ws.store;
    let mut records: Vec<(Record, Held)> = Vec::new();
    for (g, held) in s.all_generations()? {
        records.push((convert::generation(&g, held.base_revision)?, held));
    }
    s.for_each_evolution(|e, held| -> Result<()> {
        records.push((convert::evolution(&e, held.base_revision)?, held));
        Ok(())
    })?;
    for (r, steps, held) in s.all_runs()? {
        records.push((convert::run(&r, &steps)?, held));
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = records.len().div_ceil(threads).max(1);
    let mut out = BTreeMap::new();
    let hashed: Vec<Vec<Mine>> = std::thread::scope(|scope| {
        let workers: Vec<_> = records
            .chunks_mut(chunk)
            .map(|part| scope.spawn(move || part.iter_mut().filter_map(mine).collect()))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    for m in hashed.into_iter().flatten() {
        out.insert(m.entry.id, m);
    }
    Ok(out)
}

/// One record's digest entry, hashed in place (its counters zeroed first, as the canonical
/// form has them: the same bytes as `digest::content_hash`, without a copy).
fn mine((record, held): &mut (Record, Held)) -> Option<Mine> {
    use sha2::{Digest as _, Sha256};
    let kind = record.kind()?;
    let revision = match kind {
        RecordKind::PipelineRun => u64::from(held.sync_status == SyncStatus::Synced),
        _ => record.revision(),
    };
    record.stamp(0, 0);
    let json = serde_json::to_vec(&*record).ok()?;
    Some(Mine {
        entry: DigestEntry {
            kind,
            id: record.id(),
            revision,
            hash: crate::domain::generation::hex(&Sha256::digest(&json)),
        },
        held: *held,
    })
}

/// The ids of one generation, its evolutions and their runs.
fn version_scope(ws: &Workspace, v: &Version) -> Result<HashSet<Uuid>> {
    let g = ws.store.generation(v)?.ok_or_else(|| {
        SyncError::Corrupt(format!(
            "no generation {v} here (see them with `gryt generation list`)"
        ))
    })?;
    let mut ids = HashSet::from([convert::uuid(&g.id)?]);
    let mut evolutions = HashSet::new();
    for e in ws.store.evolutions_of(&g.id)? {
        ids.insert(convert::uuid(&e.id)?);
        evolutions.insert(e.id);
    }
    for (r, _, _) in ws.store.all_runs()? {
        if r.evolution_id
            .as_ref()
            .is_some_and(|e| evolutions.contains(e))
        {
            ids.insert(convert::uuid(&r.id)?);
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_hashed_in_place_hashes_as_the_digest_defines() {
        let record: Record = serde_json::from_value(serde_json::json!({"kind": "generation",
            "record": {"id": Uuid::from_u128(7), "version": "1.0.0",
            "changes": [{"type": "add", "id": "A-1", "title": "Login"}], "status": "draft",
            "created_by": "ann", "created_at": "2026-01-01T00:00:00Z",
            "revision": 3, "seq": 17}}))
        .unwrap();
        let held = Held {
            sync_status: SyncStatus::Synced,
            base_revision: Some(3),
        };
        let m = mine(&mut (record.clone(), held)).unwrap();
        assert_eq!(m.entry, digest::entry(&record).unwrap());
    }
}

//! The project digest: how client and server tell, cheaply, whether they hold the same
//! records (docs/PROTOCOL.md, "Digest"). Both sides compute it with these functions, so the
//! definitions below are the protocol:
//!
//! - The **content hash** of a record is the SHA-256 (lowercase hex) of its canonical JSON:
//!   the bytes `serde_json::to_vec` writes for the tagged [`Record`] (`{"kind":…,"record":{…}}`,
//!   fields in declaration order, absent optionals left out) with `revision` and `seq` set to
//!   0 — exactly the server's stored body but for those two server counters, which the digest
//!   compares on their own.
//! - The **slot** of a record is the first four bytes, big-endian, of the SHA-256 of its id
//!   written as lowercase hyphenated text; with `bits` B, its **bucket** is the slot's top B
//!   bits. Ids made as UUIDv7 start with a time stamp, so hashing them spreads a project's
//!   records evenly over the buckets.
//! - A **bucket hash** is the SHA-256 over the bucket's entries in ascending id order, each
//!   written as the line `KIND ID REVISION CONTENT_HASH\n` (kind as on the wire, id as lowercase
//!   hyphenated text, revision in decimal). An empty bucket hashes the empty string.
//!
//! Tombstones are left out: a deleted record is absent on both sides.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::records::{Record, RecordKind};

/// Bucket bits when the client does not ask (256 buckets).
pub const DEFAULT_BITS: u8 = 8;
/// Most bucket bits a digest request may ask for (4096 buckets).
pub const MAX_BITS: u8 = 12;
/// Most entries in one page of a bucket's listing.
pub const MAX_ENTRIES: u32 = 1000;

/// One record as the digest sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestEntry {
    pub kind: RecordKind,
    pub id: Uuid,
    pub revision: u64,
    /// [`content_hash`] of the record.
    pub hash: String,
}

/// One bucket of a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketDigest {
    pub bucket: u32,
    pub count: u64,
    pub hash: String,
}

/// `GET …/digest?bits=B`: every bucket of the project's live records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDigest {
    pub bits: u8,
    /// The project head the digest was computed at.
    pub head: u64,
    /// Live records in the project.
    pub count: u64,
    /// All `2^bits` buckets, in bucket order (empty ones included).
    pub buckets: Vec<BucketDigest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_id: Option<Uuid>,
}

/// `GET …/digest?bits=B&bucket=I&after=ID&limit=N`: one page of a bucket's entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketPage {
    pub bits: u8,
    pub bucket: u32,
    pub head: u64,
    /// In ascending id order.
    pub entries: Vec<DigestEntry>,
    /// Whether entries after the last one here exist (ask again with `after` = its id).
    pub more: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_id: Option<Uuid>,
}

fn hex(bytes: &[u8]) -> String {
    crate::domain::generation::hex(bytes)
}

/// The record's canonical JSON bytes, as hashed by [`content_hash`].
pub fn canonical_json(record: &Record) -> Vec<u8> {
    let mut plain = record.clone();
    plain.stamp(0, 0);
    // A record of plain strings, numbers and enums always serializes.
    serde_json::to_vec(&plain).unwrap_or_default()
}

/// SHA-256 (hex) of the record's canonical JSON; `revision` and `seq` do not count.
pub fn content_hash(record: &Record) -> String {
    hex(&Sha256::digest(canonical_json(record)))
}

/// The record's slot: the first four bytes of SHA-256 of its id's text, big-endian.
pub fn slot(id: &Uuid) -> u32 {
    let d = Sha256::digest(id.to_string().as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The bucket of a slot with `bits` bucket bits (0 bits: one bucket, 0).
pub fn bucket_of_slot(slot: u32, bits: u8) -> u32 {
    match bits {
        0 => 0,
        b => slot >> (32 - u32::from(b.min(32))),
    }
}

/// The slots of bucket `bucket` with `bits` bucket bits, first and last.
pub fn slots_of_bucket(bucket: u32, bits: u8) -> (u32, u32) {
    match bits {
        0 => (0, u32::MAX),
        b => {
            let shift = 32 - u32::from(b.min(32));
            let first = (u64::from(bucket) << shift) as u32;
            (first, first | ((1u64 << shift) - 1) as u32)
        }
    }
}

/// The line an entry contributes to its bucket's hash.
pub fn entry_line(e: &DigestEntry) -> String {
    format!("{} {} {} {}\n", e.kind.as_str(), e.id, e.revision, e.hash)
}

/// The digest entry of a live record; `None` for a tombstone.
pub fn entry(record: &Record) -> Option<DigestEntry> {
    Some(DigestEntry {
        kind: record.kind()?,
        id: record.id(),
        revision: record.revision(),
        hash: content_hash(record),
    })
}

/// All `2^bits` bucket digests of `entries` (any order; ids unique).
pub fn buckets(entries: &[DigestEntry], bits: u8) -> Vec<BucketDigest> {
    let bits = bits.min(MAX_BITS);
    let n = 1usize << bits;
    let mut order: Vec<(u32, &DigestEntry)> = entries
        .iter()
        .map(|e| (bucket_of_slot(slot(&e.id), bits), e))
        .collect();
    order.sort_by_key(|(b, e)| (*b, e.id));
    let mut hashers = vec![Sha256::new(); n];
    let mut counts = vec![0u64; n];
    for (b, e) in order {
        hashers[b as usize].update(entry_line(e).as_bytes());
        counts[b as usize] += 1;
    }
    hashers
        .into_iter()
        .zip(counts)
        .enumerate()
        .map(|(i, (h, count))| BucketDigest {
            bucket: i as u32,
            count,
            hash: hex(&h.finalize()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation(id: u128, revision: u64, seq: u64, title: &str) -> Record {
        serde_json::from_value(serde_json::json!({"kind": "generation", "record": {
            "id": Uuid::from_u128(id), "version": "1.0.0",
            "changes": [{"type": "add", "id": "A-1", "title": title}],
            "status": "draft", "created_by": "ann", "created_at": "2026-01-01T00:00:00Z",
            "revision": revision, "seq": seq}}))
        .unwrap()
    }

    #[test]
    fn the_content_hash_is_sha256_of_the_canonical_json_without_counters() {
        let r = generation(1, 3, 17, "Login");
        let expected = concat!(
            r#"{"kind":"generation","record":{"id":"00000000-0000-0000-0000-000000000001","#,
            r#""version":"v1.0.0","description":"","changes":[{"type":"add","id":"A-1","#,
            r#""title":"Login"}],"status":"draft","created_by":"ann","#,
            r#""created_at":"2026-01-01T00:00:00Z","revision":0,"seq":0}}"#
        );
        assert_eq!(String::from_utf8(canonical_json(&r)).unwrap(), expected);
        assert_eq!(
            content_hash(&r),
            hex(&Sha256::digest(expected.as_bytes())),
            "the hash is over exactly those bytes"
        );
        // Counters do not count; content does.
        assert_eq!(
            content_hash(&r),
            content_hash(&generation(1, 9, 99, "Login"))
        );
        assert_ne!(
            content_hash(&r),
            content_hash(&generation(1, 3, 17, "Logout"))
        );
    }

    #[test]
    fn buckets_split_the_slot_space_evenly() {
        assert_eq!(bucket_of_slot(0xFFFF_FFFF, 0), 0);
        assert_eq!(bucket_of_slot(0xFFFF_FFFF, 8), 255);
        assert_eq!(bucket_of_slot(0x0100_0000, 8), 1);
        assert_eq!(slots_of_bucket(0, 0), (0, u32::MAX));
        assert_eq!(slots_of_bucket(1, 8), (0x0100_0000, 0x01FF_FFFF));
        assert_eq!(slots_of_bucket(255, 8), (0xFF00_0000, u32::MAX));
        assert_eq!(slots_of_bucket(4095, 12), (0xFFF0_0000, u32::MAX));
        for bits in [1u8, 8, 12] {
            for b in [0u32, (1 << bits) - 1] {
                let (lo, hi) = slots_of_bucket(b, bits);
                assert_eq!((bucket_of_slot(lo, bits), bucket_of_slot(hi, bits)), (b, b));
            }
        }
        // UUIDv7 ids made in the same millisecond still land in many buckets.
        let ids: Vec<Uuid> = (0..256).map(|_| Uuid::now_v7()).collect();
        let used: std::collections::HashSet<u32> =
            ids.iter().map(|id| bucket_of_slot(slot(id), 4)).collect();
        assert!(used.len() >= 12, "{used:?}");
    }

    #[test]
    fn bucket_hashes_depend_on_content_not_on_order() {
        let records: Vec<Record> = (1..=40)
            .map(|i| generation(i, 1, i as u64, &format!("T{i}")))
            .collect();
        let entries: Vec<DigestEntry> = records.iter().filter_map(entry).collect();
        let digest = buckets(&entries, 3);
        assert_eq!(digest.len(), 8);
        assert_eq!(digest.iter().map(|b| b.count).sum::<u64>(), 40);
        let mut reversed = entries.clone();
        reversed.reverse();
        assert_eq!(buckets(&reversed, 3), digest);

        // One bucket is the hash of its lines in id order.
        let whole = buckets(&entries, 0);
        let mut sorted = entries.clone();
        sorted.sort_by_key(|e| e.id);
        let lines: String = sorted.iter().map(entry_line).collect();
        assert_eq!(whole[0].hash, hex(&Sha256::digest(lines.as_bytes())));

        // A changed revision changes exactly its own bucket.
        let mut changed = entries.clone();
        changed[5].revision = 2;
        let after = buckets(&changed, 3);
        let differing: Vec<u32> = after
            .iter()
            .zip(&digest)
            .filter(|(a, b)| a.hash != b.hash)
            .map(|(a, _)| a.bucket)
            .collect();
        assert_eq!(differing, vec![bucket_of_slot(slot(&entries[5].id), 3)]);
        assert_eq!(
            buckets(&[], 1)[0].hash,
            hex(&Sha256::digest(b"")),
            "an empty bucket hashes the empty string"
        );
    }
}

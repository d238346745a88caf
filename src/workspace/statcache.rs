//! What `gryt status` saw of each contract file last time — size, modification time, inode
//! and the SHA-256 of its bytes — so that a file whose metadata is unchanged is not read and
//! hashed again (git's index does the same for its work tree).
//!
//! It lives in `.gryt/gryt.db-stat` (per machine, ignored by git like the database): a
//! [`HEADER`] line, then one tab-separated line per file (name, size, mtime in nanoseconds,
//! inode, hash), read in a fraction of what JSON took. It is only ever a shortcut to a hash:
//! a missing, unreadable or malformed cache is an empty one,
//! and an entry is trusted only when every piece of metadata matches. A file modified less
//! than [`RACY`] ago is not remembered, as a write within the file system's timestamp
//! granularity would not change what is compared.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Workspace;

/// The cache file, in `.gryt/`.
pub const FILE: &str = "gryt.db-stat";
/// Files modified more recently than this are read every time.
pub const RACY: Duration = Duration::from_secs(2);
/// The file's first line (a cache in another format is an empty one).
pub const HEADER: &str = "gryt-stat 1";
/// A cache larger than this is not read (it is rebuilt).
const MAX_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    len: u64,
    /// Nanoseconds since the epoch.
    mtime: u128,
    ino: u64,
    hash: String,
}

impl Entry {
    /// Whether `meta` is what was seen (without copying the hash to compare).
    fn matches(&self, meta: &std::fs::Metadata) -> bool {
        mtime(meta) == Some(self.mtime) && meta.len() == self.len && ino(meta) == self.ino
    }

    fn of(meta: &std::fs::Metadata, hash: &str) -> Option<Entry> {
        Some(Entry {
            len: meta.len(),
            mtime: mtime(meta)?,
            ino: ino(meta),
            hash: hash.to_string(),
        })
    }
}

/// Nanoseconds since the epoch.
fn mtime(meta: &std::fs::Metadata) -> Option<u128> {
    Some(
        meta.modified()
            .ok()?
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_nanos(),
    )
}

#[cfg(unix)]
fn ino(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn ino(_meta: &std::fs::Metadata) -> u64 {
    0
}

/// File name → what was seen of it.
#[derive(Debug, Default)]
pub struct StatCache {
    path: PathBuf,
    entries: HashMap<String, Entry>,
    changed: bool,
}

impl StatCache {
    /// The workspace's cache; empty when there is none or it cannot be read.
    pub fn load(ws: &Workspace) -> StatCache {
        let path = ws.dir().join(FILE);
        let entries = super::file::read_limited(&path, MAX_BYTES)
            .ok()
            .and_then(|bytes| parse(&bytes))
            .unwrap_or_default();
        StatCache {
            path,
            entries,
            changed: false,
        }
    }

    /// The hash of `path` as last seen, when its metadata (`meta`, of a regular file) is
    /// exactly what it was then.
    pub fn hash(&self, path: &Path, meta: &std::fs::Metadata) -> Option<&str> {
        let seen = self.entries.get(path.file_name()?.to_str()?)?;
        (meta.is_file() && seen.matches(meta)).then_some(seen.hash.as_str())
    }

    /// Remembers that `path`, with metadata `meta`, hashes to `hash` — unless it was
    /// modified too recently to tell a later write apart.
    pub fn remember(&mut self, path: &Path, meta: &std::fs::Metadata, hash: &str) {
        let recent = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_none_or(|age| age < RACY);
        let (Some(key), Some(entry)) = (key(path), Entry::of(meta, hash)) else {
            return;
        };
        if recent || !meta.is_file() {
            self.changed |= self.entries.remove(&key).is_some();
            return;
        }
        if self.entries.get(&key) != Some(&entry) {
            self.entries.insert(key, entry);
            self.changed = true;
        }
    }

    /// Keeps only the files in `names` (the rest were removed or renamed).
    pub fn retain(&mut self, names: &std::collections::HashSet<String>) {
        let before = self.entries.len();
        self.entries.retain(|k, _| names.contains(k));
        self.changed |= self.entries.len() != before;
    }

    /// Writes the cache when it changed. A failure is ignored: the cache is only a shortcut.
    pub fn save(self) {
        if !self.changed {
            return;
        }
        use std::fmt::Write;
        let mut text = String::with_capacity(16 + self.entries.len() * 112);
        let _ = writeln!(text, "{HEADER}");
        for (name, e) in &self.entries {
            let _ = writeln!(
                text,
                "{name}\t{}\t{}\t{}\t{}",
                e.len, e.mtime, e.ino, e.hash
            );
        }
        let _ = super::write_atomic(&self.path, text.as_bytes());
    }
}

/// The entries of a whole, well-formed cache file; `None` for anything else.
fn parse(bytes: &[u8]) -> Option<HashMap<String, Entry>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let mut entries = HashMap::new();
    for line in lines {
        let mut f = line.split('\t');
        let mut next = || f.next().filter(|s| !s.is_empty());
        let name = next()?.to_string();
        let entry = Entry {
            len: next()?.parse().ok()?,
            mtime: next()?.parse().ok()?,
            ino: next()?.parse().ok()?,
            hash: next()?.to_string(),
        };
        if f.next().is_some() || entries.insert(name, entry).is_some() {
            return None;
        }
    }
    Some(entries)
}

/// The cache's key: the file's name (contract files live in one directory).
pub fn key(path: &Path) -> Option<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_well_formed_cache_is_read() {
        let good = format!("{HEADER}\nv1.0.0.yaml\t10\t1700000000000000000\t42\tabc\n");
        let entries = parse(good.as_bytes()).unwrap();
        assert_eq!(entries["v1.0.0.yaml"].ino, 42);
        for bad in [
            String::new(),
            "{}".to_string(),
            good.replace(HEADER, "gryt-stat 2"),
            good.replace("\tabc", ""),
            good.replace("\tabc", "\tabc\textra"),
            good.replace("\t10\t", "\t-10\t"),
            good.replace("\t10\t", "\t\t"),
            format!("{good}{}", good.lines().nth(1).unwrap()),
        ] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        assert!(parse(b"\xff\xfe").is_none());
    }
}

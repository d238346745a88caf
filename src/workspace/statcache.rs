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

/// What one stat of a contract file says that the cache compares: git's index keeps the
/// same (and a little more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub len: u64,
    /// Nanoseconds since the epoch; `None` when unknown or before it.
    pub mtime: Option<u64>,
    pub ino: u64,
    /// A regular file (after following a symlink).
    pub regular: bool,
}

impl FileStat {
    pub fn of(meta: &std::fs::Metadata) -> FileStat {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
            .and_then(|d| u64::try_from(d.as_nanos()).ok());
        FileStat {
            len: meta.len(),
            mtime,
            ino: ino(meta),
            regular: meta.is_file(),
        }
    }
}

#[cfg(unix)]
fn ino(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn ino(_meta: &std::fs::Metadata) -> u64 {
    0
}

/// One file's line, as offsets into the cache's text (one allocation for the whole cache).
#[derive(Debug, Clone)]
struct Entry {
    name: std::ops::Range<usize>,
    len: u64,
    mtime: u64,
    ino: u64,
    hash: std::ops::Range<usize>,
    /// Looked up or remembered by this command: the entries nobody asked for belong to
    /// files that were removed or renamed, and are not saved again.
    seen: bool,
}

impl Entry {
    fn matches(&self, stat: &FileStat) -> bool {
        stat.regular
            && stat.mtime == Some(self.mtime)
            && stat.len == self.len
            && stat.ino == self.ino
    }
}

/// File name → what was seen of it, sorted by name.
#[derive(Debug, Default)]
pub struct StatCache {
    path: PathBuf,
    /// The names and hashes the entries point into (the file as read, then what was added).
    text: String,
    entries: Vec<Entry>,
    changed: bool,
}

impl StatCache {
    /// The workspace's cache; empty when there is none or it cannot be read.
    pub fn load(ws: &Workspace) -> StatCache {
        Self::load_from(ws.dir().join(FILE))
    }

    fn load_from(path: PathBuf) -> StatCache {
        let (text, entries) = super::file::read_limited(&path, MAX_BYTES)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| Some((parse(&text)?, text)))
            .map(|(entries, text)| (text, entries))
            .unwrap_or_default();
        StatCache {
            path,
            text,
            entries,
            changed: false,
        }
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|e| self.text[e.name.clone()].cmp(name))
    }

    /// The hash of `path` as last seen, when its metadata (`stat`, of a regular file) is
    /// exactly what it was then.
    pub fn hash(&mut self, path: &Path, stat: &FileStat) -> Option<&str> {
        let i = self.find(path.file_name()?.to_str()?).ok()?;
        let seen = &mut self.entries[i];
        seen.seen = true;
        seen.matches(stat).then(|| &self.text[seen.hash.clone()])
    }

    /// Remembers that `path`, with metadata `stat`, hashes to `hash` — unless it was
    /// modified too recently to tell a later write apart.
    pub fn remember(&mut self, path: &Path, stat: &FileStat, hash: &str) {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return;
        };
        let recent = stat
            .mtime
            .map(|m| SystemTime::UNIX_EPOCH + Duration::from_nanos(m))
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_none_or(|age| age < RACY);
        let found = self.find(name);
        let (Some(mtime), false, true) = (stat.mtime, recent, stat.regular) else {
            if let Ok(i) = found {
                self.entries.remove(i);
                self.changed = true;
            }
            return;
        };
        if let Ok(i) = found {
            let e = &mut self.entries[i];
            let same = e.matches(stat) && &self.text[e.hash.clone()] == hash;
            e.seen = true;
            if same {
                return;
            }
        }
        let name_at = self.text.len();
        self.text.push_str(name);
        let hash_at = self.text.len();
        self.text.push_str(hash);
        let entry = Entry {
            name: name_at..hash_at,
            len: stat.len,
            mtime,
            ino: stat.ino,
            hash: hash_at..self.text.len(),
            seen: true,
        };
        match found {
            Ok(i) => self.entries[i] = entry,
            Err(i) => self.entries.insert(i, entry),
        }
        self.changed = true;
    }

    /// Writes the cache when it changed, without the entries no one looked up (files
    /// removed or renamed). A failure is ignored: the cache is only a shortcut.
    pub fn save(mut self) {
        let before = self.entries.len();
        self.entries.retain(|e| e.seen);
        if !self.changed && self.entries.len() == before {
            return;
        }
        use std::fmt::Write;
        let mut text = String::with_capacity(16 + self.entries.len() * 112);
        let _ = writeln!(text, "{HEADER}");
        for e in &self.entries {
            let _ = writeln!(
                text,
                "{}\t{}\t{}\t{}\t{}",
                &self.text[e.name.clone()],
                e.len,
                e.mtime,
                e.ino,
                &self.text[e.hash.clone()]
            );
        }
        let _ = super::write_atomic(&self.path, text.as_bytes());
    }
}

/// The entries of a whole, well-formed cache file, sorted by name; `None` for anything else.
fn parse(text: &str) -> Option<Vec<Entry>> {
    let body = text.strip_prefix(HEADER)?.strip_prefix('\n')?;
    let mut at = HEADER.len() + 1;
    let mut entries = Vec::with_capacity(body.bytes().filter(|&b| b == b'\n').count());
    for line in body.split_terminator('\n') {
        let mut fields = line.split('\t');
        let mut offset = at;
        let mut next = || {
            let f = fields.next().filter(|s| !s.is_empty())?;
            let range = offset..offset + f.len();
            offset += f.len() + 1;
            Some((f, range))
        };
        let (_, name) = next()?;
        let entry = Entry {
            name,
            len: next()?.0.parse().ok()?,
            mtime: next()?.0.parse().ok()?,
            ino: next()?.0.parse().ok()?,
            hash: next()?.1,
            seen: false,
        };
        if next().is_some() {
            return None;
        }
        entries.push(entry);
        at += line.len() + 1;
    }
    // Written sorted; one sort (a no-op then) instead of trusting it, and no name twice.
    entries.sort_unstable_by(|a, b| text[a.name.clone()].cmp(&text[b.name.clone()]));
    let twice = entries
        .windows(2)
        .any(|w| text[w[0].name.clone()] == text[w[1].name.clone()]);
    (!twice).then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files remembered in any order are found again, across a save; a file nobody looked
    /// up is dropped on save; a changed file is not matched.
    #[test]
    fn remembered_files_are_found_and_the_unseen_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache_file = dir.path().join(FILE);
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        let names = ["v2.0.0.yaml", "v10.0.0.yaml", "v1.0.0.yaml", "v1.5.0.yaml"];
        let stat_of = |name: &str| {
            let path = dir.path().join(name);
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(hour_ago).unwrap();
            (
                path.clone(),
                FileStat::of(&std::fs::metadata(&path).unwrap()),
            )
        };
        for name in names {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        let mut cache = StatCache::load_from(cache_file.clone());
        for name in names {
            let (path, stat) = stat_of(name);
            assert_eq!(cache.hash(&path, &stat), None);
            cache.remember(&path, &stat, &format!("hash-of-{name}"));
        }
        for name in names {
            let (path, stat) = stat_of(name);
            assert_eq!(
                cache.hash(&path, &stat),
                Some(format!("hash-of-{name}").as_str())
            );
        }
        cache.save();
        // Saved sorted; then only two are looked up, one of them changed since.
        let mut cache = StatCache::load_from(cache_file.clone());
        let (path, stat) = stat_of("v10.0.0.yaml");
        assert_eq!(cache.hash(&path, &stat), Some("hash-of-v10.0.0.yaml"));
        std::fs::write(dir.path().join("v2.0.0.yaml"), "edited").unwrap();
        let (path, stat) = stat_of("v2.0.0.yaml");
        assert_eq!(cache.hash(&path, &stat), None);
        cache.save();
        let saved = std::fs::read_to_string(&cache_file).unwrap();
        let kept: Vec<_> = saved
            .lines()
            .skip(1)
            .map(|l| l.split('\t').next().unwrap())
            .collect();
        assert_eq!(kept, ["v10.0.0.yaml", "v2.0.0.yaml"], "{saved}");
    }

    #[test]
    fn only_a_whole_well_formed_cache_is_read() {
        let good = format!(
            "{HEADER}\nv2.0.0.yaml\t11\t1700000000000000001\t43\tdef\n\
             v1.0.0.yaml\t10\t1700000000000000000\t42\tabc\n"
        );
        let entries = parse(&good).unwrap();
        let shown: Vec<_> = entries
            .iter()
            .map(|e| {
                (
                    &good[e.name.clone()],
                    e.len,
                    e.mtime,
                    e.ino,
                    &good[e.hash.clone()],
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("v1.0.0.yaml", 10, 1700000000000000000, 42, "abc"),
                ("v2.0.0.yaml", 11, 1700000000000000001, 43, "def")
            ]
        );
        for bad in [
            String::new(),
            "{}".to_string(),
            good.replace(HEADER, "gryt-stat 2"),
            good.replace("\tabc", ""),
            good.replace("\tabc", "\tabc\textra"),
            good.replace("\t10\t", "\t-10\t"),
            good.replace("\t10\t", "\t\t"),
            format!("{good}{}\n", good.lines().nth(1).unwrap()),
            good.replace("\t43\t", "\t99999999999999999999\t"),
            good.replace("\n", "\r\n"),
        ] {
            assert!(parse(&bad).is_none(), "{bad:?}");
        }
    }
}

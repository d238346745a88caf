//! Bundles: release state in one file (`gryt export`, `gryt import`).
//!
//! A bundle is a tar archive compressed with zstd. Its entries, in this order:
//!
//! ```text
//! contracts/v1.2.0.yaml                each generation's contract file, as .gryt/generations/
//!                                      holds it (its applied contract when the file has edits)
//! records/generations-000001.jsonl     one generation record per line (the wire format of
//! records/evolutions-000001.jsonl      api::records), at most 10,000 per entry, generations
//! records/pipeline_runs-000001.jsonl   before evolutions before runs; a run with its steps'
//!                                      commands
//! pipelines/NAME.yaml                  the pipeline definitions of .gryt/pipelines/
//! manifest.json                        last: format, version, counts, and every entry's SHA-256
//! ```
//!
//! The manifest comes last because it holds every entry's size and hash, known only once the
//! entry is written: an export streams, and its memory does not grow with the project.
//!
//! An import reads the bundle twice. The first pass checks it without applying anything:
//! every entry a regular file at a path of the layout above (no links, no `..`, no absolute
//! path, nothing else), within the size limits, and the manifest's format and version, entry
//! list, sizes and hashes all matching. The second pass applies the records in one
//! transaction (`sync::engine::import`), hashing each entry again as it reads it: a file that
//! changed between the passes fails the import and nothing is kept.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::SyncSender;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::records::{EvolutionRecord, GenerationRecord, PipelineRunRecord, Record};
use crate::domain::Version;
use crate::store::StoreError;
use crate::sync::engine::{ImportOptions, ImportReport, Sink};
use crate::sync::{SyncError, convert};
use crate::workspace::{IoError, Workspace, io};

/// What the first entry of a manifest says a file is.
pub const FORMAT: &str = "gryt-bundle";
/// The bundle layout this gryt writes and reads. A bundle of a newer layout is refused.
pub const FORMAT_VERSION: u32 = 1;
/// Records per `records/*.jsonl` entry.
const RECORDS_PER_ENTRY: usize = 10_000;
/// Records handed to the import at a time.
const CHUNK: usize = 1_000;
/// Largest entry accepted (a records entry of 10,000 long records stays far below).
const MAX_ENTRY: u64 = 256 << 20;
/// Largest manifest accepted.
const MAX_MANIFEST: u64 = 64 << 20;
/// Largest contract file or pipeline definition accepted.
const MAX_FILE: u64 = 4 << 20;
/// Most bytes a bundle may unpack to, and most entries: a bomb is refused, not hashed forever.
const MAX_TOTAL: u64 = 8 << 30;
const MAX_ENTRIES: usize = 1_000_000;
/// zstd frames start with these bytes.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bundle is not one this gryt can read, or not intact. Nothing was changed.
    #[error("{}: {message}", file.display())]
    Refused { file: PathBuf, message: String },
    #[error("{} already exists; name another file or remove it first", .0.display())]
    Exists(PathBuf),
    #[error("no generation {0} in this workspace")]
    UnknownVersion(Version),
    #[error("name the versions to export, or pass --all")]
    NothingSelected,
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T> = std::result::Result<T, BundleError>;

fn refused(file: &Path, message: impl Into<String>) -> BundleError {
    BundleError::Refused {
        file: file.to_path_buf(),
        message: message.into(),
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub gryt_version: String,
    pub created_at: String,
    /// The cloud project the workspace was linked to, if any: `URL#TEAM/PROJECT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub counts: Counts,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub generations: u64,
    pub evolutions: u64,
    pub pipeline_runs: u64,
    pub pipelines: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// A line of `records/pipeline_runs-*.jsonl`: the run as the cloud knows it, and the
/// commands its steps ran (which only the workspace keeps).
#[derive(Debug, Serialize, Deserialize)]
struct RunLine {
    #[serde(flatten)]
    run: PipelineRunRecord,
    #[serde(default)]
    commands: Vec<String>,
}

/// What an export wrote.
#[derive(Debug, Serialize)]
pub struct ExportReport {
    pub file: PathBuf,
    pub bytes: u64,
    pub counts: Counts,
}

/// Which generations an export takes.
#[derive(Debug, Clone)]
pub enum Selection {
    All,
    Versions(Vec<Version>),
}

/// What a layout path names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Records(RecordsKind),
    Contract(Version),
    Pipeline(String),
    Manifest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RecordsKind {
    Generations,
    Evolutions,
    PipelineRuns,
}

impl RecordsKind {
    fn as_str(self) -> &'static str {
        match self {
            RecordsKind::Generations => "generations",
            RecordsKind::Evolutions => "evolutions",
            RecordsKind::PipelineRuns => "pipeline_runs",
        }
    }
}

/// The rank of an entry in the layout's order.
fn rank(kind: &Kind) -> u8 {
    match kind {
        Kind::Contract(_) => 0,
        Kind::Records(RecordsKind::Generations) => 1,
        Kind::Records(RecordsKind::Evolutions) => 2,
        Kind::Records(RecordsKind::PipelineRuns) => 3,
        Kind::Pipeline(_) => 4,
        Kind::Manifest => 5,
    }
}

/// What a path inside a bundle names, or why it has no place in one.
fn classify(path: &str) -> std::result::Result<Kind, String> {
    let shown = path.escape_debug();
    let p = Path::new(path);
    if p.is_absolute() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(format!(
            "entry `{shown}` points outside the bundle (absolute, or with `..`)"
        ));
    }
    let outside = || format!("entry `{shown}` is not part of a gryt bundle's layout");
    if path == "manifest.json" {
        return Ok(Kind::Manifest);
    }
    let (dir, name) = path.split_once('/').ok_or_else(outside)?;
    match dir {
        "records" => {
            let (kind, number) = name
                .strip_suffix(".jsonl")
                .and_then(|n| n.rsplit_once('-'))
                .ok_or_else(outside)?;
            if number.len() != 6 || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(outside());
            }
            Ok(Kind::Records(match kind {
                "generations" => RecordsKind::Generations,
                "evolutions" => RecordsKind::Evolutions,
                "pipeline_runs" => RecordsKind::PipelineRuns,
                _ => return Err(outside()),
            }))
        }
        "contracts" => {
            let version: Version = name
                .strip_suffix(".yaml")
                .and_then(|v| v.parse().ok())
                .ok_or_else(outside)?;
            if version.file_name() != name {
                return Err(outside());
            }
            Ok(Kind::Contract(version))
        }
        "pipelines" => {
            let pipeline = name.strip_suffix(".yaml").ok_or_else(outside)?;
            crate::domain::check_pipeline_name(pipeline).map_err(|_| outside())?;
            Ok(Kind::Pipeline(pipeline.to_string()))
        }
        _ => Err(outside()),
    }
}

fn hex(digest: &[u8]) -> String {
    crate::domain::generation::hex(digest)
}

// ---------------------------------------------------------------------------------------
// Export

/// Writes the selected generations, their evolutions and runs, their contracts and the
/// workspace's pipeline definitions to `out` (a new file). Written beside `out` and renamed
/// into place at the end: a failed export leaves no file.
pub fn export(ws: &Workspace, selection: &Selection, out: &Path) -> Result<ExportReport> {
    if crate::workspace::file::occupied(out) {
        return Err(BundleError::Exists(out.to_path_buf()));
    }
    let partial = partial_path(out);
    ws.store.prepare_for_scan();
    let result = ws
        .store
        .read(|_| write_bundle(ws, selection, &partial, out));
    match result {
        Ok(report) => {
            // Never over a file that appeared meanwhile: a hard link fails when the name is
            // taken (a rename would replace it); where links are not supported, a rename
            // after one more look.
            let placed = match std::fs::hard_link(&partial, out) {
                Ok(()) => std::fs::remove_file(&partial).or(Ok(())),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    Err(BundleError::Exists(out.to_path_buf()))
                }
                Err(_) if crate::workspace::file::occupied(out) => {
                    Err(BundleError::Exists(out.to_path_buf()))
                }
                Err(_) => std::fs::rename(&partial, out).map_err(|e| io("write", out)(e).into()),
            };
            if placed.is_err() {
                let _ = std::fs::remove_file(&partial);
            }
            placed.map(|()| report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    out.with_file_name(name)
}

/// A tar archive being written through zstd, noting each entry for the manifest.
struct Writer {
    tar: tar::Builder<zstd::Encoder<'static, BufWriter<File>>>,
    entries: Vec<Entry>,
    path: PathBuf,
}

impl Writer {
    fn add(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        self.tar
            .append_data(&mut header, name, bytes)
            .map_err(io("write", &self.path))?;
        self.entries.push(Entry {
            path: name.to_string(),
            size: bytes.len() as u64,
            sha256: hex(&Sha256::digest(bytes)),
        });
        Ok(())
    }
}

/// Buffers one kind's records as JSON lines, an entry per [`RECORDS_PER_ENTRY`].
struct Lines {
    kind: RecordsKind,
    buf: Vec<u8>,
    in_buf: usize,
    entries: u32,
    total: u64,
}

impl Lines {
    fn new(kind: RecordsKind) -> Lines {
        Lines {
            kind,
            buf: Vec::new(),
            in_buf: 0,
            entries: 0,
            total: 0,
        }
    }

    fn push(&mut self, w: &mut Writer, record: &impl Serialize) -> Result<()> {
        serde_json::to_writer(&mut self.buf, record)
            .map_err(|e| SyncError::Corrupt(format!("cannot write a record as JSON: {e}")))?;
        self.buf.push(b'\n');
        self.in_buf += 1;
        self.total += 1;
        if self.in_buf == RECORDS_PER_ENTRY {
            self.flush(w)?;
        }
        Ok(())
    }

    fn flush(&mut self, w: &mut Writer) -> Result<()> {
        if self.in_buf == 0 {
            return Ok(());
        }
        self.entries += 1;
        let name = format!("records/{}-{:06}.jsonl", self.kind.as_str(), self.entries);
        w.add(&name, &self.buf)?;
        self.buf.clear();
        self.in_buf = 0;
        Ok(())
    }
}

fn write_bundle(
    ws: &Workspace,
    selection: &Selection,
    partial: &Path,
    out: &Path,
) -> Result<ExportReport> {
    let generations = ws.store.all_generations()?;
    let chosen: Vec<_> = match selection {
        Selection::All => generations,
        Selection::Versions(versions) => {
            for v in versions {
                if !generations.iter().any(|(g, _)| g.contract.version == *v) {
                    return Err(BundleError::UnknownVersion(v.clone()));
                }
            }
            generations
                .into_iter()
                .filter(|(g, _)| versions.contains(&g.contract.version))
                .collect()
        }
    };
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(partial)
        .map_err(io("create", partial))?;
    let encoder = zstd::Encoder::new(BufWriter::with_capacity(1 << 16, file), 3)
        .map_err(io("write", partial))?;
    let mut w = Writer {
        tar: tar::Builder::new(encoder),
        entries: Vec::new(),
        path: partial.to_path_buf(),
    };
    let mut counts = Counts::default();

    // Each contract file as it is, when it holds the applied contract (its comments and
    // layout kept); gryt's rendering of the contract otherwise.
    for (g, _) in &chosen {
        let text = match ws.contract_file(g).map_err(SyncError::from)? {
            crate::workspace::ContractFile::Clean => {
                let path = ws.contract_path(&g.contract.version);
                std::fs::read(&path).map_err(io("read", &path))?
            }
            _ => crate::contract::render(&g.contract).into_bytes(),
        };
        let name = format!("contracts/{}", g.contract.version.file_name());
        w.add(&name, &text)?;
    }

    let mut lines = Lines::new(RecordsKind::Generations);
    for (g, held) in &chosen {
        let record = match convert::generation(g, held.base_revision)? {
            Record::Generation(r) => r,
            _ => unreachable!("convert::generation makes generations"),
        };
        lines.push(&mut w, &record)?;
    }
    lines.flush(&mut w)?;
    counts.generations = lines.total;

    let ids: std::collections::HashSet<&str> = chosen.iter().map(|(g, _)| g.id.as_str()).collect();
    let all = matches!(selection, Selection::All);
    let mut evolution_ids = std::collections::HashSet::new();
    let mut lines = Lines::new(RecordsKind::Evolutions);
    ws.store.for_each_evolution(|e, held| -> Result<()> {
        if !all && !ids.contains(e.generation_id.as_str()) {
            return Ok(());
        }
        if !all {
            evolution_ids.insert(e.id.clone());
        }
        match convert::evolution(&e, held.base_revision)? {
            Record::Evolution(r) => lines.push(&mut w, &r),
            _ => unreachable!("convert::evolution makes evolutions"),
        }
    })?;
    lines.flush(&mut w)?;
    counts.evolutions = lines.total;

    let mut lines = Lines::new(RecordsKind::PipelineRuns);
    for (run, steps, _) in ws.store.all_runs()? {
        let wanted = all
            || run
                .evolution_id
                .as_ref()
                .is_some_and(|e| evolution_ids.contains(e));
        if !wanted {
            continue;
        }
        if let Record::PipelineRun(run) = convert::run(&run, &steps)? {
            let commands = steps.iter().map(|s| s.command.clone()).collect();
            lines.push(&mut w, &RunLine { run, commands })?;
        }
    }
    lines.flush(&mut w)?;
    counts.pipeline_runs = lines.total;

    let dir = ws.pipelines_dir();
    let mut pipelines: Vec<(String, PathBuf)> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_str()?.strip_suffix(".yaml")?.to_string();
                crate::domain::check_pipeline_name(&name).ok()?;
                e.file_type().ok()?.is_file().then(|| (name, e.path()))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io("read", &dir)(e).into()),
    };
    pipelines.sort();
    for (name, path) in &pipelines {
        let text = std::fs::read(path).map_err(io("read", path))?;
        w.add(&format!("pipelines/{name}.yaml"), &text)?;
    }
    counts.pipelines = pipelines.len() as u64;

    let source = match (ws.config.get("cloud.url"), ws.config.get("cloud.project")) {
        (Some(url), Some(project)) => Some(format!(
            "{}#{project}",
            crate::sync::credentials::normalize(url)
        )),
        _ => None,
    };
    let manifest = Manifest {
        format: FORMAT.to_string(),
        format_version: FORMAT_VERSION,
        gryt_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: crate::clock::now_string(),
        source,
        counts,
        entries: std::mem::take(&mut w.entries),
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| SyncError::Corrupt(format!("cannot write the manifest: {e}")))?;
    w.add("manifest.json", &text)?;
    let encoder = w.tar.into_inner().map_err(io("write", partial))?;
    let buffered = encoder.finish().map_err(io("write", partial))?;
    let file = buffered
        .into_inner()
        .map_err(|e| io("write", partial)(e.into_error()))?;
    file.sync_all().map_err(io("write", partial))?;
    let bytes = file.metadata().map_err(io("read", partial))?.len();
    Ok(ExportReport {
        file: out.to_path_buf(),
        bytes,
        counts,
    })
}

// ---------------------------------------------------------------------------------------
// Import

/// A bundle that passed the first pass: its manifest, checked against every entry.
pub struct Bundle {
    path: PathBuf,
    pub manifest: Manifest,
    /// Manifest entries by path.
    entries: HashMap<String, Entry>,
}

/// Counts the bytes read through it and hashes them, refusing more than `limit`.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
    limit: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(std::io::Error::other("larger than gryt accepts"));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Opens the archive inside a bundle file, checking that it is a regular file (not a FIFO,
/// a device or a directory) and zstd at all.
fn open_archive(path: &Path) -> Result<tar::Archive<zstd::Decoder<'static, BufReader<File>>>> {
    use crate::workspace::file::{ReadError, open_regular};
    use std::io::Seek;
    let mut file = open_regular(path).map_err(|e| match e {
        ReadError::Io(e) => io("open", path)(e).into(),
        other => refused(path, other.to_string()),
    })?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut file, &mut magic).map_err(io("read", path))?;
    if n < 4 || magic != ZSTD_MAGIC {
        return Err(refused(
            path,
            "not a gryt bundle (it is not zstd-compressed; bundles are made by `gryt export`)",
        ));
    }
    file.rewind().map_err(io("read", path))?;
    let decoder = zstd::Decoder::new(file).map_err(io("read", path))?;
    Ok(tar::Archive::new(decoder))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A damaged archive, named by where it broke.
fn damaged(path: &Path, at: Option<&str>, e: &std::io::Error) -> BundleError {
    let at = at
        .map(|a| format!(" in entry `{}`", a.escape_debug()))
        .unwrap_or_default();
    refused(
        path,
        format!("the bundle is truncated or damaged{at} ({e}); nothing was imported"),
    )
}

/// The name of an archive entry, as UTF-8.
fn entry_name(path: &Path, entry: &tar::Entry<'_, impl Read>) -> Result<String> {
    let raw = entry.path_bytes();
    String::from_utf8(raw.into_owned()).map_err(|_| refused(path, "an entry's name is not UTF-8"))
}

impl Bundle {
    /// The first pass: reads the whole bundle, hashing every entry, and checks it against
    /// its manifest. Applies nothing.
    pub fn open(path: &Path) -> Result<Bundle> {
        let mut archive = open_archive(path)?;
        let mut seen: Vec<Entry> = Vec::new();
        let mut manifest: Option<Vec<u8>> = None;
        let mut total = 0u64;
        let mut last_rank = 0u8;
        let mut names = std::collections::HashSet::new();
        let entries = archive.entries().map_err(|e| damaged(path, None, &e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| damaged(path, seen.last().map(|s| s.path.as_str()), &e))?;
            let name = entry_name(path, &entry)?;
            let kind = classify(&name).map_err(|m| refused(path, m))?;
            if !matches!(
                entry.header().entry_type(),
                tar::EntryType::Regular | tar::EntryType::Continuous
            ) {
                return Err(refused(
                    path,
                    format!(
                        "entry `{}` is not a regular file (links and devices are refused)",
                        name.escape_debug()
                    ),
                ));
            }
            if !names.insert(name.clone()) {
                return Err(refused(
                    path,
                    format!("entry `{}` appears twice", name.escape_debug()),
                ));
            }
            if manifest.is_some() {
                return Err(refused(
                    path,
                    format!("entry `{}` comes after manifest.json", name.escape_debug()),
                ));
            }
            if rank(&kind) < last_rank {
                return Err(refused(
                    path,
                    format!("entry `{}` is out of order", name.escape_debug()),
                ));
            }
            last_rank = rank(&kind);
            if names.len() > MAX_ENTRIES {
                return Err(refused(path, "more entries than gryt accepts"));
            }
            let limit = match kind {
                Kind::Manifest => MAX_MANIFEST,
                Kind::Pipeline(_) | Kind::Contract(_) => MAX_FILE,
                _ => MAX_ENTRY,
            };
            let mut reader = Hashing {
                inner: entry,
                hasher: Sha256::new(),
                read: 0,
                limit,
            };
            if kind == Kind::Manifest {
                let mut bytes = Vec::new();
                reader
                    .read_to_end(&mut bytes)
                    .map_err(|e| damaged(path, Some(&name), &e))?;
                manifest = Some(bytes);
                continue;
            }
            std::io::copy(&mut reader, &mut std::io::sink())
                .map_err(|e| damaged(path, Some(&name), &e))?;
            total += reader.read;
            if total > MAX_TOTAL {
                return Err(refused(
                    path,
                    "the bundle unpacks to more than gryt accepts",
                ));
            }
            seen.push(Entry {
                path: name,
                size: reader.read,
                sha256: hex(&reader.hasher.finalize()),
            });
        }
        let Some(manifest) = manifest else {
            return Err(refused(
                path,
                "no manifest.json at the end: the bundle is truncated or was not made by `gryt export`",
            ));
        };
        let manifest = parse_manifest(path, &manifest)?;
        if manifest.entries.len() != seen.len() {
            return Err(refused(
                path,
                format!(
                    "the manifest lists {} entries, the bundle holds {}",
                    manifest.entries.len(),
                    seen.len()
                ),
            ));
        }
        for (listed, found) in manifest.entries.iter().zip(&seen) {
            if listed.path != found.path {
                return Err(refused(
                    path,
                    format!(
                        "entry `{}` is not the one the manifest lists there (`{}`)",
                        found.path.escape_debug(),
                        listed.path.escape_debug()
                    ),
                ));
            }
            if listed.size != found.size || listed.sha256 != found.sha256 {
                return Err(refused(
                    path,
                    format!(
                        "entry `{}` does not match its checksum in the manifest: the bundle was changed or damaged; nothing was imported",
                        found.path.escape_debug()
                    ),
                ));
            }
        }
        let entries = manifest
            .entries
            .iter()
            .map(|e| (e.path.clone(), e.clone()))
            .collect();
        Ok(Bundle {
            path: path.to_path_buf(),
            manifest,
            entries,
        })
    }

    /// The second pass: hands every record and pipeline to the import, in order, checking
    /// each entry's hash again and each generation against its contract entry.
    pub fn feed(&self, sink: &mut Sink<'_>) -> Result<()> {
        // A thread reads, hashes and parses the next chunk while this one is applied (as
        // a pull fetches its next page): two chunks in flight at most.
        let (out, items) = std::sync::mpsc::sync_channel::<Item>(2);
        std::thread::scope(|scope| {
            let reader = scope.spawn(move || self.read_pass(&out));
            let mut applied = Ok(());
            for item in &items {
                applied = match item {
                    Item::Records {
                        chunk,
                        commands,
                        files,
                    } => settle(sink, chunk, commands, files),
                    Item::Pipeline { name, text } => {
                        sink.pipeline(&name, &text).map_err(Into::into)
                    }
                };
                if applied.is_err() {
                    break;
                }
            }
            // The reader stops at its next chunk when nobody takes it.
            drop(items);
            let read = match reader.join() {
                Ok(read) => read,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            applied.and(read)
        })
    }

    /// The second pass's reading: every entry hashed again, records parsed and checked, in
    /// chunks sent to `out`. Returns early (`Ok`) when the receiver is gone.
    fn read_pass(&self, out: &SyncSender<Item>) -> Result<()> {
        let path = &self.path;
        let mut archive = open_archive(path)?;
        let mut counts = Counts::default();
        // Contract files come first; each waits here for its generation record.
        let mut contracts: HashMap<Version, Vec<u8>> = HashMap::new();
        let entries = archive.entries().map_err(|e| damaged(path, None, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| damaged(path, None, &e))?;
            let name = entry_name(path, &entry)?;
            let Some(listed) = self.entries.get(&name).cloned() else {
                if name == "manifest.json" {
                    break;
                }
                return Err(changed(path, &name));
            };
            let kind = classify(&name).map_err(|m| refused(path, m))?;
            let mut reader = Hashing {
                inner: entry,
                hasher: Sha256::new(),
                read: 0,
                limit: listed.size,
            };
            match kind {
                Kind::Records(kind) => {
                    let Some(n) =
                        self.feed_records(out, &name, kind, &mut reader, &mut contracts)?
                    else {
                        return Ok(());
                    };
                    match kind {
                        RecordsKind::Generations => counts.generations += n,
                        RecordsKind::Evolutions => counts.evolutions += n,
                        RecordsKind::PipelineRuns => counts.pipeline_runs += n,
                    }
                }
                Kind::Contract(version) => {
                    let text = read_whole(path, &name, &listed, reader)?;
                    contracts.insert(version, text);
                }
                Kind::Pipeline(pipeline) => {
                    let text = read_whole(path, &name, &listed, reader)?;
                    if out
                        .send(Item::Pipeline {
                            name: pipeline,
                            text,
                        })
                        .is_err()
                    {
                        return Ok(());
                    }
                    counts.pipelines += 1;
                }
                Kind::Manifest => {}
            }
        }
        if let Some(version) = contracts.keys().min() {
            return Err(refused(
                path,
                format!(
                    "entry `contracts/{}` has no generation record",
                    version.file_name()
                ),
            ));
        }
        if counts != self.manifest.counts {
            return Err(refused(
                path,
                format!(
                    "the manifest counts {:?}, the bundle holds {:?}",
                    self.manifest.counts, counts
                ),
            ));
        }
        Ok(())
    }

    /// Reads one `records/*.jsonl` entry into chunks; returns how many records it held
    /// (`None` when the receiver is gone).
    fn feed_records(
        &self,
        out: &SyncSender<Item>,
        name: &str,
        kind: RecordsKind,
        reader: &mut Hashing<tar::Entry<'_, zstd::Decoder<'static, BufReader<File>>>>,
        contracts: &mut HashMap<Version, Vec<u8>>,
    ) -> Result<Option<u64>> {
        let path = &self.path;
        let listed = self.entries[name].clone();
        let mut lines = BufReader::with_capacity(1 << 16, &mut *reader);
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut n = 0u64;
        let mut line = String::new();
        let mut number = 0usize;
        // What a chunk's records need once they are in: the steps' commands of runs, and the
        // contract files whose text is not gryt's rendering.
        let mut commands: Vec<(uuid::Uuid, Vec<String>)> = Vec::new();
        let mut files: Vec<(uuid::Uuid, Version, Vec<u8>)> = Vec::new();
        loop {
            line.clear();
            let read = lines
                .read_line(&mut line)
                .map_err(|e| damaged(path, Some(name), &e))?;
            if read == 0 {
                break;
            }
            number += 1;
            let bad = |e: serde_json::Error| {
                refused(
                    path,
                    format!(
                        "entry `{name}` line {number}: not a {} record: {e}",
                        kind.as_str()
                    ),
                )
            };
            let record = match kind {
                RecordsKind::Generations => {
                    let g: GenerationRecord = serde_json::from_str(&line).map_err(bad)?;
                    if let Some(text) = self.contract_text(&g, contracts)? {
                        files.push((g.id, g.version.clone(), text));
                    }
                    Record::Generation(g)
                }
                RecordsKind::Evolutions => {
                    Record::Evolution(serde_json::from_str::<EvolutionRecord>(&line).map_err(bad)?)
                }
                RecordsKind::PipelineRuns => {
                    let line: RunLine = serde_json::from_str(&line).map_err(bad)?;
                    if line.commands.len() > line.run.steps.len() {
                        return Err(refused(
                            path,
                            format!("entry `{name}` line {number}: more commands than steps"),
                        ));
                    }
                    commands.push((line.run.id, line.commands));
                    Record::PipelineRun(line.run)
                }
            };
            record.validate().map_err(|problem| {
                refused(path, format!("entry `{name}` line {number}: {problem}"))
            })?;
            n += 1;
            chunk.push(record);
            if chunk.len() == CHUNK {
                let item = Item::Records {
                    chunk: std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)),
                    commands: std::mem::take(&mut commands),
                    files: std::mem::take(&mut files),
                };
                if out.send(item).is_err() {
                    return Ok(None);
                }
            }
        }
        drop(lines);
        // The whole entry is read: it must still be what the first pass hashed.
        let rest = std::io::copy(reader, &mut std::io::sink())
            .map_err(|e| damaged(path, Some(name), &e))?;
        let hasher = std::mem::take(&mut reader.hasher);
        if rest != 0 || reader.read != listed.size || hex(&hasher.finalize()) != listed.sha256 {
            return Err(changed(path, name));
        }
        let item = Item::Records {
            chunk,
            commands,
            files,
        };
        if out.send(item).is_err() {
            return Ok(None);
        }
        Ok(Some(n))
    }

    /// A generation's contract entry must hold exactly its contract. `Some(text)` when the
    /// file's text is not gryt's rendering of it (comments, another layout): the file to
    /// write.
    fn contract_text(
        &self,
        g: &GenerationRecord,
        contracts: &mut HashMap<Version, Vec<u8>>,
    ) -> Result<Option<Vec<u8>>> {
        let name = format!("contracts/{}", g.version.file_name());
        let wrong = || {
            refused(
                &self.path,
                format!(
                    "entry `{name}` is missing or does not hold generation {}'s contract",
                    g.version
                ),
            )
        };
        let text = contracts.remove(&g.version).ok_or_else(wrong)?;
        let contract = g.contract();
        if text == crate::contract::render(&contract).as_bytes() {
            return Ok(None);
        }
        let parsed = std::str::from_utf8(&text)
            .ok()
            .and_then(|t| crate::contract::parse(t).ok());
        match parsed {
            Some((c, _)) if c == contract => Ok(Some(text)),
            _ => Err(wrong()),
        }
    }
}

/// What the second pass's reader hands over.
enum Item {
    /// Records, with what they need once they are in: the steps' commands of runs, and the
    /// contract files whose text is not gryt's rendering.
    Records {
        chunk: Vec<Record>,
        commands: Vec<(uuid::Uuid, Vec<String>)>,
        files: Vec<(uuid::Uuid, Version, Vec<u8>)>,
    },
    Pipeline {
        name: String,
        text: Vec<u8>,
    },
}

/// Hands a chunk to the import, then what its records need once they are in.
fn settle(
    sink: &mut Sink<'_>,
    chunk: Vec<Record>,
    commands: Vec<(uuid::Uuid, Vec<String>)>,
    files: Vec<(uuid::Uuid, Version, Vec<u8>)>,
) -> Result<()> {
    if !chunk.is_empty() {
        sink.records(chunk)?;
    }
    for (run, commands) in commands {
        sink.step_commands(run, &commands)?;
    }
    for (id, version, text) in files {
        sink.contract_text(id, &version, text)?;
    }
    Ok(())
}

/// Reads a small entry whole and checks it against the manifest again.
fn read_whole<R: Read>(
    path: &Path,
    name: &str,
    listed: &Entry,
    mut reader: Hashing<R>,
) -> Result<Vec<u8>> {
    let mut text = Vec::new();
    reader
        .read_to_end(&mut text)
        .map_err(|e| damaged(path, Some(name), &e))?;
    check_hash(path, name, listed, reader)?;
    Ok(text)
}

fn check_hash<R>(path: &Path, name: &str, listed: &Entry, reader: Hashing<R>) -> Result<()> {
    if reader.read != listed.size || hex(&reader.hasher.finalize()) != listed.sha256 {
        return Err(changed(path, name));
    }
    Ok(())
}

fn changed(path: &Path, name: &str) -> BundleError {
    refused(
        path,
        format!(
            "entry `{}` changed while it was being imported; nothing was imported",
            name.escape_debug()
        ),
    )
}

fn parse_manifest(path: &Path, bytes: &[u8]) -> Result<Manifest> {
    // The format and its version first: a newer layout says so rather than failing on a
    // field it does not know.
    #[derive(Deserialize)]
    struct Head {
        format: Option<String>,
        format_version: Option<u32>,
        gryt_version: Option<String>,
    }
    let head: Head = serde_json::from_slice(bytes)
        .map_err(|e| refused(path, format!("manifest.json is not valid JSON: {e}")))?;
    if head.format.as_deref() != Some(FORMAT) {
        return Err(refused(
            path,
            "manifest.json does not describe a gryt bundle",
        ));
    }
    match head.format_version {
        Some(FORMAT_VERSION) => {}
        Some(v) if v > FORMAT_VERSION => {
            return Err(refused(
                path,
                format!(
                    "the bundle's format is version {v} (made by gryt {}); this gryt reads version {FORMAT_VERSION}: upgrade gryt to import it",
                    head.gryt_version.as_deref().unwrap_or("?")
                ),
            ));
        }
        Some(v) => {
            return Err(refused(
                path,
                format!("the bundle's format version {v} is not one gryt ever wrote"),
            ));
        }
        None => return Err(refused(path, "manifest.json has no format_version")),
    }
    serde_json::from_slice(bytes).map_err(|e| {
        refused(
            path,
            format!("manifest.json does not match format {FORMAT_VERSION}: {e}"),
        )
    })
}

/// `gryt import FILE`: applies a checked bundle in one transaction.
/// `bundle` is the file's first pass ([`Bundle::open`]).
pub fn import(
    ws: &Workspace,
    bundle: Bundle,
    file: &Path,
    dry_run: bool,
) -> Result<(Manifest, ImportReport)> {
    let opts = ImportOptions {
        dry_run,
        origin: format!("bundle {}", file.display()),
    };
    let report = crate::sync::engine::import(ws, &opts, |sink| bundle.feed(sink))?;
    Ok((bundle.manifest, report))
}

#[cfg(test)]
mod tests;

//! The one way gryt reads a file it did not just write (contracts, pipelines, config): the
//! path may come from a repository anyone can commit to, so it may be a symlink to
//! `/dev/zero`, a FIFO, a directory or a loop. [`read_limited`] follows symlinks, refuses
//! anything but a regular file before opening it (opening a FIFO would block), and never reads
//! more than `max + 1` bytes.

use std::fmt;
use std::io::Read;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("it is {0}, not a regular file; gryt reads only plain files here")]
    NotRegular(Kind),
    #[error("the file is larger than {} KiB; this is not a hand-written file", .0 / 1024)]
    TooLarge(u64),
}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

impl From<ReadError> for std::io::Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// What a path that is not a regular file turned out to be, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind(&'static str);

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

fn kind(t: std::fs::FileType) -> Option<Kind> {
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some(Kind("a directory"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some(Kind("a named pipe (FIFO)"));
        }
        if t.is_socket() {
            return Some(Kind("a socket"));
        }
        if t.is_char_device() {
            return Some(Kind("a character device"));
        }
        if t.is_block_device() {
            return Some(Kind("a block device"));
        }
    }
    Some(Kind("not a file"))
}

/// Whether anything is at `path`, a dangling or looping symlink included (`Path::exists`
/// follows links and says no for those, and a file gryt then writes would replace them
/// unseen, or a read would report the file missing instead of what is wrong with it).
pub fn occupied(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Opens a regular file (symlinks followed) for reading; anything else is refused before it
/// is opened (opening a FIFO for reading blocks until a writer comes) and again on what was
/// opened, in case the path changed in between.
pub fn open_regular(path: &Path) -> Result<std::fs::File, ReadError> {
    if let Some(k) = kind(std::fs::metadata(path)?.file_type()) {
        return Err(ReadError::NotRegular(k));
    }
    let file = std::fs::File::open(path)?;
    if let Some(k) = kind(file.metadata()?.file_type()) {
        return Err(ReadError::NotRegular(k));
    }
    Ok(file)
}

/// Reads a regular file (symlinks followed) of at most `max` bytes.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path)?;
    let meta = file.metadata()?;
    if meta.len() > max {
        return Err(ReadError::TooLarge(max));
    }
    // Sized from the metadata: one read instead of a growing buffer's many small ones.
    let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge(max));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_small_file_and_refuses_a_large_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(read_limited(&p, 3).unwrap(), b"abc");
        assert!(matches!(read_limited(&p, 2), Err(ReadError::TooLarge(2))));
        assert!(
            read_limited(&dir.path().join("none"), 9)
                .unwrap_err()
                .is_not_found()
        );
    }

    #[test]
    fn refuses_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_limited(dir.path(), 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a directory, not a regular file; gryt reads only plain files here"
        );
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_device_behind_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::os::unix::fs::symlink("/dev/zero", &p).unwrap();
        let err = read_limited(&p, 10).unwrap_err();
        assert!(
            matches!(err, ReadError::NotRegular(Kind("a character device"))),
            "{err}"
        );
    }
}

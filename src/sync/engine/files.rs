//! The contract files a pull writes and removes, done by a thread of their own so that a
//! page's files reach the disk while its rows are being stored (creating thousands of small
//! files is most of a first pull's system time). Jobs run in the order they were asked for;
//! [`Files::flush`] waits for all of them and returns the first error, and the pull calls it
//! before the page's transaction commits — so a page is committed only once its files are
//! written, as when they were written in line.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::sync::{Result, SyncError, io};
use crate::workspace::{IoError, write_atomic};

pub(super) struct Files {
    /// `None`: every job runs at once, in the caller's thread.
    thread: Option<Writer>,
    /// A dry run: nothing is written or removed.
    discard: bool,
}

struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    handle: Option<JoinHandle<()>>,
}

enum Job {
    /// `unless_same`: leave a file that already holds exactly these bytes alone.
    Write {
        path: PathBuf,
        bytes: Vec<u8>,
        unless_same: bool,
    },
    Remove(PathBuf),
    Flush(mpsc::Sender<Option<IoError>>),
}

impl Files {
    /// Files written and removed at once (a single record, a settled conflict).
    pub(super) fn direct() -> Files {
        Files {
            thread: None,
            discard: false,
        }
    }

    /// Nothing is written or removed (a dry run that applies rows and rolls them back).
    pub(super) fn discard() -> Files {
        Files {
            thread: None,
            discard: true,
        }
    }

    /// Files written by a thread started here, in order, until [`Files::flush`].
    pub(super) fn threaded() -> Files {
        let (jobs, queue) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("gryt-contract-files".into())
            .spawn(move || {
                // After a failure nothing more is written until the caller has heard of it:
                // the page it belongs to is rolled back.
                let mut failed: Option<IoError> = None;
                for job in queue {
                    match job {
                        Job::Flush(answer) => {
                            let _ = answer.send(failed.take());
                        }
                        _ if failed.is_some() => {}
                        job => failed = run(job).err(),
                    }
                }
            });
        match handle {
            Ok(handle) => Files {
                thread: Some(Writer {
                    jobs: Some(jobs),
                    handle: Some(handle),
                }),
                discard: false,
            },
            // No thread to be had: write in line, as before.
            Err(_) => Files::direct(),
        }
    }

    pub(super) fn write(&self, path: PathBuf, bytes: Vec<u8>, unless_same: bool) -> Result<()> {
        self.submit(Job::Write {
            path,
            bytes,
            unless_same,
        })
    }

    /// Removes the file; one already gone is not an error.
    pub(super) fn remove(&self, path: PathBuf) -> Result<()> {
        self.submit(Job::Remove(path))
    }

    /// Waits until every file asked for so far is written or removed; the first failure.
    pub(super) fn flush(&self) -> Result<()> {
        let Some(jobs) = self.thread.as_ref().and_then(|w| w.jobs.as_ref()) else {
            return Ok(());
        };
        let (answer, heard) = mpsc::channel();
        if jobs.send(Job::Flush(answer)).is_err() {
            return Err(stopped());
        }
        match heard.recv() {
            Ok(None) => Ok(()),
            Ok(Some(e)) => Err(e.into()),
            Err(_) => Err(stopped()),
        }
    }

    fn submit(&self, job: Job) -> Result<()> {
        if self.discard {
            return Ok(());
        }
        match self.thread.as_ref().and_then(|w| w.jobs.as_ref()) {
            Some(jobs) => jobs.send(job).map_err(|_| stopped()),
            None => Ok(run(job)?),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // The queue ends, the thread finishes what it was given and stops.
        drop(self.jobs.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn stopped() -> SyncError {
    SyncError::Corrupt("the thread writing contract files stopped".into())
}

fn run(job: Job) -> std::result::Result<(), IoError> {
    match job {
        Job::Write {
            path,
            bytes,
            unless_same,
        } => {
            if unless_same && same_bytes(&path, &bytes) {
                return Ok(());
            }
            write_atomic(&path, &bytes).map_err(io("write", &path))
        }
        Job::Remove(path) => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &path)(e)),
            _ => Ok(()),
        },
        Job::Flush(_) => Ok(()),
    }
}

/// Whether the file at `path` holds exactly `bytes` (read only when the sizes agree).
fn same_bytes(path: &std::path::Path, bytes: &[u8]) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() && m.len() == bytes.len() as u64 => {
            std::fs::read(path).is_ok_and(|held| held == bytes)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_in_order_and_flush_reports_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::threaded();
        let a = dir.path().join("a.yaml");
        files.write(a.clone(), b"one".to_vec(), false).unwrap();
        files.remove(a.clone()).unwrap();
        files.write(a.clone(), b"two".to_vec(), true).unwrap();
        files.flush().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"two");

        // A file that cannot be written (its directory is a file): the error comes back at
        // the flush, and nothing asked after it is written until then.
        let blocked = dir.path().join("blocker");
        std::fs::write(&blocked, b"").unwrap();
        files
            .write(blocked.join("x.yaml"), b"x".to_vec(), false)
            .unwrap();
        let b = dir.path().join("b.yaml");
        files.write(b.clone(), b"b".to_vec(), false).unwrap();
        let err = files.flush().unwrap_err().to_string();
        assert!(err.contains("x.yaml"), "{err}");
        assert!(!b.exists());
        // Heard: writing goes on.
        files.write(b.clone(), b"b".to_vec(), false).unwrap();
        files.flush().unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), b"b");
    }

    #[test]
    fn a_file_that_already_holds_the_bytes_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.0.0.yaml");
        std::fs::write(&path, b"same").unwrap();
        let before = std::fs::metadata(&path).unwrap();
        let files = Files::direct();
        files.write(path.clone(), b"same".to_vec(), true).unwrap();
        let after = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(before.ino(), after.ino(), "rewritten (renamed over)");
        files.write(path.clone(), b"other".to_vec(), true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"other");
    }
}

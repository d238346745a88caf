//! Runs a pipeline: each step through `sh -c` in its own process group, output streamed live
//! to our stdout/stderr while a bounded tail is kept for the record. Sequential and
//! fail-fast: the first step that fails (after its retries) stops the run. A step fails when
//! it exits non-zero, is killed, or times out. When `interrupted` becomes true (Ctrl-C), the
//! running step's process group is terminated and the run ends as failed.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Pipeline, Step};
use crate::store::StepRecord;

/// Bytes of each stream kept per step (the tail: the end of a log is what explains a failure).
pub const OUTPUT_TAIL_BYTES: usize = 64 * 1024;
const POLL: Duration = Duration::from_millis(10);
const KILL_GRACE: Duration = Duration::from_secs(2);

pub enum Event<'a> {
    StepStarted {
        index: usize,
        total: usize,
        step: &'a Step,
        attempt: u32,
    },
    StepFinished {
        index: usize,
        record: &'a StepRecord,
        passed: bool,
    },
}

pub struct Outcome {
    pub steps: Vec<StepRecord>,
    pub passed: bool,
    pub interrupted: bool,
}

pub struct Options<'a> {
    pub root: &'a Path,
    /// Extra variables for every step (GRYT_VERSION, GRYT_CHANGE, …).
    pub env: Vec<(String, String)>,
    /// Stream step output to our stdout/stderr as it arrives.
    pub stream: bool,
    pub interrupted: &'a AtomicBool,
}

pub fn run(
    pipeline: &Pipeline,
    opts: &Options<'_>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Outcome {
    let mut records = Vec::new();
    let total = pipeline.steps.len();
    for (index, step) in pipeline.steps.iter().enumerate() {
        let mut attempt = 1;
        let started = Instant::now();
        let record = loop {
            on_event(Event::StepStarted {
                index,
                total,
                step,
                attempt,
            });
            let mut record = run_step(pipeline, step, opts);
            record.attempts = attempt;
            let passed = record.exit_code == Some(0) && !record.timed_out;
            if passed || attempt > step.retries || opts.interrupted.load(Ordering::SeqCst) {
                record.duration_ms = started.elapsed().as_millis() as i64;
                break record;
            }
            attempt += 1;
        };
        let passed = record.exit_code == Some(0) && !record.timed_out;
        on_event(Event::StepFinished {
            index,
            record: &record,
            passed,
        });
        records.push(record);
        if !passed {
            return Outcome {
                steps: records,
                passed: false,
                interrupted: opts.interrupted.load(Ordering::SeqCst),
            };
        }
    }
    Outcome {
        steps: records,
        passed: true,
        interrupted: false,
    }
}

fn run_step(pipeline: &Pipeline, step: &Step, opts: &Options<'_>) -> StepRecord {
    let started = Instant::now();
    let mut record = StepRecord {
        name: step.name.clone(),
        command: step.run.clone(),
        exit_code: None,
        attempts: 1,
        timed_out: false,
        duration_ms: 0,
        stdout: String::new(),
        stderr: String::new(),
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(&step.run);
    cmd.current_dir(match &step.cwd {
        Some(cwd) => opts.root.join(cwd),
        None => opts.root.to_path_buf(),
    });
    cmd.envs(opts.env.iter().cloned())
        .envs(pipeline.env.iter().cloned())
        .envs(step.env.iter().cloned());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);

    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let dir = step
                .cwd
                .as_deref()
                .map(|c| format!(" in {}", c.display()))
                .unwrap_or_default();
            record.stderr = format!("gryt: cannot start the step{dir}: {e}");
            if opts.stream {
                eprintln!("{}", record.stderr);
            }
            record.exit_code = Some(127);
            record.duration_ms = started.elapsed().as_millis() as i64;
            return record;
        }
    };
    let out_tail = Arc::new(Mutex::new(Tail::default()));
    let err_tail = Arc::new(Mutex::new(Tail::default()));
    let readers = [
        pump(child.stdout.take(), out_tail.clone(), opts.stream, false),
        pump(child.stderr.take(), err_tail.clone(), opts.stream, true),
    ];

    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(_) => break None,
        }
        let timed_out = step.timeout.is_some_and(|t| started.elapsed() >= t);
        if timed_out || opts.interrupted.load(Ordering::SeqCst) {
            record.timed_out = timed_out;
            break terminate(&mut child);
        }
        std::thread::sleep(POLL);
    };
    for reader in readers.into_iter().flatten() {
        let _ = reader.join();
    }
    record.exit_code = status.and_then(|s| s.code());
    record.stdout = out_tail.lock().map(|t| t.text()).unwrap_or_default();
    record.stderr = err_tail.lock().map(|t| t.text()).unwrap_or_default();
    if record.timed_out {
        record.exit_code = None;
        let timeout = step.timeout.unwrap_or_default().as_secs();
        record.stderr.push_str(&format!(
            "\ngryt: step timed out after {timeout}s and was killed"
        ));
    }
    record.duration_ms = started.elapsed().as_millis() as i64;
    record
}

/// SIGTERM to the step's process group, SIGKILL after a grace period.
fn terminate(child: &mut Child) -> Option<std::process::ExitStatus> {
    let group = format!("-{}", child.id());
    let signal = |sig: &str| {
        let _ = Command::new("kill")
            .args(["-s", sig, "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    signal("TERM");
    let deadline = Instant::now() + KILL_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(POLL);
    }
    signal("KILL");
    let _ = child.kill();
    child.wait().ok()
}

fn pump(
    source: Option<impl Read + Send + 'static>,
    tail: Arc<Mutex<Tail>>,
    stream: bool,
    is_stderr: bool,
) -> Option<std::thread::JoinHandle<()>> {
    let mut source = source?;
    Some(std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if stream {
                // A closed terminal or pipe must not stop the step; keep recording.
                let _ = if is_stderr {
                    std::io::stderr().write_all(&buf[..n])
                } else {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&buf[..n]).and_then(|()| out.flush())
                };
            }
            if let Ok(mut t) = tail.lock() {
                t.push(&buf[..n]);
            }
        }
    }))
}

/// The last [`OUTPUT_TAIL_BYTES`] of a stream, and whether anything was dropped.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    dropped: bool,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > OUTPUT_TAIL_BYTES * 2 {
            let cut = self.bytes.len() - OUTPUT_TAIL_BYTES;
            self.bytes.drain(..cut);
            self.dropped = true;
        }
    }

    fn text(&self) -> String {
        let start = self.bytes.len().saturating_sub(OUTPUT_TAIL_BYTES);
        let text = String::from_utf8_lossy(&self.bytes[start..]);
        if self.dropped || start > 0 {
            format!("[… earlier output truncated …]\n{text}")
        } else {
            text.into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(steps: &[(&str, Option<u64>, u32)]) -> Pipeline {
        Pipeline {
            name: "t".into(),
            env: vec![("FROM_PIPELINE".into(), "p".into())],
            steps: steps
                .iter()
                .enumerate()
                .map(|(i, (run, timeout, retries))| Step {
                    name: format!("s{i}"),
                    run: run.to_string(),
                    env: vec![],
                    cwd: None,
                    timeout: timeout.map(Duration::from_secs),
                    retries: *retries,
                })
                .collect(),
        }
    }

    fn go(p: &Pipeline) -> Outcome {
        let dir = tempfile::tempdir().unwrap();
        let flag = AtomicBool::new(false);
        let opts = Options {
            root: dir.path(),
            env: vec![("GRYT_X".into(), "x".into())],
            stream: false,
            interrupted: &flag,
        };
        run(p, &opts, &mut |_| {})
    }

    #[test]
    fn exit_one_fails_and_stops() {
        let out = go(&pipeline(&[
            ("exit 0", None, 0),
            ("echo boom >&2; exit 1", None, 0),
            ("echo never", None, 0),
        ]));
        assert!(!out.passed);
        assert_eq!(out.steps.len(), 2);
        assert_eq!(out.steps[1].exit_code, Some(1));
        assert_eq!(out.steps[1].stderr.trim(), "boom");
    }

    #[test]
    fn passes_with_env_and_captures_output() {
        let out = go(&pipeline(&[("echo $FROM_PIPELINE$GRYT_X", None, 0)]));
        assert!(out.passed);
        assert_eq!(out.steps[0].stdout, "px\n");
    }

    #[test]
    fn retries_until_success() {
        let out = go(&pipeline(&[(
            "test -f marker || { touch marker; exit 3; }",
            None,
            2,
        )]));
        assert!(out.passed, "{:?}", out.steps[0]);
        assert_eq!(out.steps[0].attempts, 2);
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let t = Instant::now();
        let out = go(&pipeline(&[("sleep 30 & sleep 30; echo done", Some(1), 0)]));
        assert!(!out.passed);
        assert!(out.steps[0].timed_out);
        assert_eq!(out.steps[0].exit_code, None);
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "took {:?}",
            t.elapsed()
        );
    }

    #[test]
    fn tail_is_bounded() {
        let mut t = Tail::default();
        for _ in 0..100 {
            t.push(&[b'a'; 4096]);
        }
        let text = t.text();
        assert!(text.starts_with("[… earlier output truncated …]"));
        assert!(text.len() <= OUTPUT_TAIL_BYTES + 64);
    }
}

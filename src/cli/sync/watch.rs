//! `gryt sync watch`: a foreground process that keeps the repository in step with the cloud.
//!
//! Rounds are what `gryt sync` does — pull, then push what is pending — each under the sync
//! lock and logged like any sync (origin `watch`), so a manual sync waits for one round at
//! most. Between rounds nothing is held: a thread long-polls the changes feed (`wait=`,
//! docs/PROTOCOL.md) and wakes the loop when the cloud's head moves; the loop itself looks
//! every [`LOCAL_CHECK`] whether another process wrote to the store (SQLite's
//! `data_version`) and pushes what became pending. Unreachable: one line, exponential
//! backoff with jitter, one line when it is back and a round at once. A refused push is
//! reported once and tried again only when something changes (here or in the cloud), never
//! in a loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::super::error::CommandError;
use super::super::interrupt;
use super::super::ui::Ui;
use super::super::workspace;
use super::{Attempt, Direction, Origin, connect, pull_logged, push_logged};
use crate::api::ErrorCode;
use crate::store::NewAuditEvent;
use crate::sync::client::{Client, ClientError, backoff_delay};

use crate::sync::SyncError;
use crate::sync::engine::{self, Cloud, PullOptions, PullReport, PushOptions, PushReport};
use crate::workspace::Workspace;

/// Keep the repository in step with the cloud until stopped (Ctrl-C)
///
/// Pulls what others push as it arrives (within about a second) and pushes local work as it
/// appears, printing one line per event: promotions, versions taken, evolutions decided, what
/// each round pulled and pushed, the link going and coming back. Ends cleanly on Ctrl-C or
/// SIGTERM (exit 0 between rounds). See docs/SYNC.md for running it as a service.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Longest wait of one long poll of the cloud, in seconds (the server caps it at 30)
    #[arg(long, value_name = "SECONDS", default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=30))]
    pub poll: u32,
    /// Stop after this many rounds (for scripts and measurements)
    #[arg(long, hide = true)]
    pub rounds: Option<u64>,
}

/// How often the loop looks whether another process wrote to the store.
const LOCAL_CHECK: Duration = Duration::from_millis(250);
/// Backoff while the cloud cannot be reached: first wait, and the longest.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// The shortest time between two long polls that found nothing new.
const MIN_POLL: Duration = Duration::from_secs(1);
/// More events than this in one round (a first pull of a large project) are summed up.
const EVENT_LINES: usize = 20;

/// What wakes the loop.
enum Wake {
    /// The cloud's head moved (to this).
    Remote(u64),
    /// The long poll failed: maybe offline.
    PollFailed,
}

pub fn cmd_watch(ui: &Ui, args: WatchArgs) -> Result<(), CommandError> {
    let ws = workspace()?;
    let (remote, account) = connect(&ws)?;
    let cloud = remote.cloud(&account);
    let stop = interrupt::cooperate();
    let out = Out { ui };
    let head = Arc::new(AtomicU64::new(0));
    let (wake_tx, wake_rx) = mpsc::channel::<Wake>();
    // The poller lives as long as the process: it may be inside a long poll when we stop.
    let poller = Poller {
        client: remote
            .client
            .for_long_polls(Duration::from_secs(u64::from(args.poll))),
        project: cloud.project.clone(),
        wait: Duration::from_secs(u64::from(args.poll)),
        head: Arc::clone(&head),
        online: Arc::new(AtomicBool::new(true)),
    };
    let online = Arc::clone(&poller.online);
    std::thread::spawn(move || poller.run(wake_tx));

    out.event(
        "watching",
        format!(
            "Watching {} at {} (Ctrl-C to stop)",
            cloud.project, cloud.url
        ),
        serde_json::json!({"project": cloud.project, "url": cloud.url}),
    )?;
    let mut offline: Option<Offline> = None;
    // Local changes seen (another process's commits), and the change counter at the last
    // refused push: pushed again only when it moves.
    let mut data_version = ws.store.data_version().map_err(SyncError::from)?;
    let mut refused_at: Option<u64> = None;
    let mut rounds = 0u64;
    let mut due = true; // the first round runs at once
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if due {
            due = false;
            rounds += 1;
            match round(&ws, &cloud, &mut refused_at) {
                Ok(done) => {
                    if let Some(was) = offline.take() {
                        out.event(
                            "online",
                            format!(
                                "Back online after {} s",
                                was.since.elapsed().as_secs().max(1)
                            ),
                            serde_json::json!({"offline_ms": was.since.elapsed().as_millis() as u64}),
                        )?;
                        online.store(true, Ordering::SeqCst);
                    }
                    // As the round found it: lower too, after a rewound server's full resync.
                    head.store(done.head, Ordering::SeqCst);
                    out.round(&done)?;
                }
                Err(e) if is_unreachable(&e) => {
                    let o = offline.get_or_insert_with(|| Offline::new(&ws));
                    if o.attempts == 0 {
                        online.store(false, Ordering::SeqCst);
                        let message = CommandError::from(e).message;
                        out.event(
                            "offline",
                            format!("Offline: {message}; trying again with backoff"),
                            serde_json::json!({ "error": message }),
                        )?;
                    }
                    o.attempts += 1;
                }
                Err(SyncError::Locked { .. }) => {
                    // A manual sync held the lock longer than a round: try again shortly.
                    due = true;
                    interruptible_sleep(stop, Duration::from_secs(1));
                    continue;
                }
                Err(e) => {
                    let message = CommandError::from(e).message;
                    out.event(
                        "error",
                        format!("Sync failed: {message}"),
                        serde_json::json!({ "error": message }),
                    )?;
                    // Not in a loop: tried again when something changes.
                }
            }
            data_version = ws.store.data_version().map_err(SyncError::from)?;
            if args.rounds.is_some_and(|n| rounds >= n) {
                break;
            }
        }
        if let Some(o) = offline.as_mut() {
            interruptible_sleep(stop, o.next_wait());
            due = true;
            continue;
        }
        match wake_rx.recv_timeout(LOCAL_CHECK) {
            // Not for the head the last round reached (ours, or one polled before it).
            Ok(Wake::Remote(h)) => due |= h != head.load(Ordering::SeqCst),
            Ok(Wake::PollFailed) => due = true,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(CommandError::user(
                    "the cloud's long poll stopped unexpectedly",
                ));
            }
        }
        // Whatever woke the loop, another process's writes are looked at too.
        let now = ws.store.data_version().map_err(SyncError::from)?;
        if now != data_version {
            data_version = now;
            due |= ws.store.unsynced_count().map_err(SyncError::from)? > 0;
        }
    }
    out.event(
        "stopped",
        format!("Stopped after {rounds} round(s)"),
        serde_json::json!({"rounds": rounds}),
    )?;
    Ok(())
}

/// What one round did.
struct Done {
    pulled: PullReport,
    pushed: Option<PushReport>,
    head: u64,
}

/// One round: pull, then push what is pending — but not again after a refusal until this
/// repository changed (`refused_at`: the change counter before the round that was refused;
/// a refusal for being behind is tried again in the next round) — both logged, under the
/// sync lock.
fn round(
    ws: &Workspace,
    cloud: &Cloud<'_>,
    refused_at: &mut Option<u64>,
) -> Result<Done, SyncError> {
    let _lock = engine::lock(ws, super::LOCK_WAIT)?;
    let before = ws.store.change_counter()?;
    let attempt = Attempt::start(ws, Direction::Pull, Origin::Watch);
    let pulled = pull_logged(ws, cloud, PullOptions::default(), false, attempt)?;
    let mut head = pulled.head;
    let pending = ws.store.unsynced_count()? > 0 && *refused_at != Some(before);
    let pushed = match pending {
        false => None,
        true => {
            let attempt = Attempt::start(ws, Direction::Push, Origin::Watch);
            let pushed = push_logged(ws, cloud, &PushOptions::default(), false, attempt)?;
            let behind = pushed
                .rejected
                .as_ref()
                .is_some_and(|r| r.error == ErrorCode::Behind);
            let refused = (pushed.rejected.is_some() && !behind) || !pushed.conflicts.is_empty();
            // The counter the next round starts from, if nothing happens here meanwhile.
            *refused_at = refused.then(|| ws.store.change_counter()).transpose()?;
            head = head.max(pushed.head);
            Some(pushed)
        }
    };
    Ok(Done {
        pulled,
        pushed,
        head,
    })
}

fn is_unreachable(e: &SyncError) -> bool {
    matches!(e, SyncError::Client(ClientError::Unreachable { .. }))
}

struct Offline {
    since: Instant,
    attempts: u32,
    rng: fastrand::Rng,
}

impl Offline {
    fn new(ws: &Workspace) -> Offline {
        let seed = ws.store.change_counter().unwrap_or(0) ^ u64::from(std::process::id());
        Offline {
            since: Instant::now(),
            attempts: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// Exponential backoff with jitter, as the client's retries: between half and all of
    /// 1 s, 2 s, 4 s … 60 s.
    fn next_wait(&mut self) -> Duration {
        backoff_delay(self.attempts, BACKOFF_FIRST, BACKOFF_MAX, self.rng.f64())
    }
}

/// Sleeps `d` in short steps, waking early when stopped.
fn interruptible_sleep(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Long-polls the changes feed from the last head it knows, and wakes the loop when the head
/// moves or the poll fails (then waits before polling again).
struct Poller {
    client: Client,
    project: String,
    wait: Duration,
    /// The head the loop has caught up with.
    head: Arc<AtomicU64>,
    /// Off while the loop is offline: the loop's own backoff decides when to try.
    online: Arc<AtomicBool>,
}

impl Poller {
    fn run(self, wake: mpsc::Sender<Wake>) {
        // The head polled from: the loop's after each round (lower too, after a rewound
        // server), or the one this thread reported since.
        let mut seen = self.head.load(Ordering::SeqCst);
        let mut known = seen;
        let mut failures = 0u32;
        loop {
            if !self.online.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            let reached = self.head.load(Ordering::SeqCst);
            if reached != seen {
                (seen, known) = (reached, reached);
            }
            let asked = Instant::now();
            match self
                .client
                .wait_for_changes(&self.project, known, self.wait)
            {
                Ok(head) if head != known => {
                    failures = 0;
                    known = head;
                    if wake.send(Wake::Remote(head)).is_err() {
                        return;
                    }
                }
                Ok(_) => {
                    failures = 0;
                    // A server that does not wait (one older than `wait=`) is polled at most
                    // once a second, not in a loop.
                    let quick = asked.elapsed();
                    if quick < MIN_POLL {
                        std::thread::sleep(MIN_POLL - quick);
                    }
                }
                Err(_) => {
                    failures += 1;
                    if wake.send(Wake::PollFailed).is_err() {
                        return;
                    }
                    let cap = Duration::from_secs(32);
                    std::thread::sleep(backoff_delay(
                        failures,
                        BACKOFF_FIRST,
                        cap,
                        fastrand::f64(),
                    ));
                }
            }
        }
    }
}

/// Prints events: one line each for people, or one JSON object per line (`--json`).
struct Out<'u> {
    ui: &'u Ui,
}

impl Out<'_> {
    fn event(
        &self,
        kind: &str,
        line: String,
        mut json: serde_json::Value,
    ) -> Result<(), CommandError> {
        if self.ui.json {
            json["event"] = kind.into();
            json["at"] = crate::clock::now_string().into();
            let text = serde_json::to_string(&json).expect("events serialize");
            return self.ui.line(text);
        }
        self.ui.line(line)
    }

    /// What a round brought and sent: others' events, then one summary line.
    fn round(&self, done: &Done) -> Result<(), CommandError> {
        let pulled = &done.pulled;
        let events = &pulled.events;
        if events.len() <= EVENT_LINES || self.ui.json {
            for e in events {
                self.pulled_event(e)?;
            }
        }
        let n_pulled = pulled.new.len() + pulled.updated.len() + pulled.deleted.len();
        let conflicts = pulled.conflicts.len();
        let pushed = done.pushed.as_ref();
        let n_pushed = pushed.map_or(0, |p| p.created.len() + p.updated.len());
        let refused = pushed.and_then(|p| p.rejected.as_ref().map(|r| r.message.clone()));
        let held_back = pushed.map_or(0, |p| p.conflicts.len());
        if n_pulled == 0 && n_pushed == 0 && conflicts == 0 && refused.is_none() && held_back == 0 {
            return Ok(());
        }
        let mut line = format!("Pulled {n_pulled}, pushed {n_pushed}");
        if events.len() > EVENT_LINES && !self.ui.json {
            line.push_str(&format!(
                " ({} events)",
                events.len() + pulled.events_dropped
            ));
        }
        if conflicts > 0 {
            line.push_str(&format!(
                "; {conflicts} new conflict(s): see `gryt sync conflicts`"
            ));
        }
        if held_back > 0 {
            line.push_str(&format!("; {held_back} record(s) held back by conflicts"));
        }
        if let Some(why) = &refused {
            line.push_str(&format!("; push refused: {why}"));
        }
        let json = serde_json::json!({
            "pulled": n_pulled,
            "pushed": n_pushed,
            "conflicts": conflicts,
            "held_back": held_back,
            "refused": refused,
            "head": done.head,
        });
        self.event("synced", line, json)
    }

    fn pulled_event(&self, e: &NewAuditEvent) -> Result<(), CommandError> {
        let (kind, line) = match e.action {
            "generation.promoted" => ("promoted", format!("{} promoted by {}", e.object, e.actor)),
            "generation.created" => ("taken", format!("{} taken by {}", e.object, e.actor)),
            "evolution.decided" => {
                let status = e.details["status"].as_str().unwrap_or("decided");
                let word = match status {
                    "pass" => "passed",
                    "fail" => "failed",
                    other => other,
                };
                ("decided", format!("{} {word} ({})", e.object, e.actor))
            }
            _ => return Ok(()),
        };
        let mut json = serde_json::json!({"subject": e.object, "by": e.actor, "when": e.at});
        if let Some(status) = e.details.get("status") {
            json["status"] = status.clone();
        }
        self.event(kind, line, json)
    }
}

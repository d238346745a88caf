//! The server's one source of wall-clock time: token issue and expiry, login-limit windows and
//! every timestamp the server stamps. `gryt cloud serve` uses the system clock; tests hand the
//! server a [`ManualClock`] and move it forward instead of sleeping.

use std::fmt;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

/// A source of "now" (UTC), cheap to clone and share between threads.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(OffsetDateTime::now_utc))
    }

    /// A clock that asks `now` for the time.
    pub fn from_fn(now: impl Fn() -> OffsetDateTime + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    pub fn now(&self) -> OffsetDateTime {
        (self.0)()
    }

    /// Now as the server stores and sends it (RFC 3339, whole seconds).
    pub fn now_rfc3339(&self) -> String {
        super::auth::format_time(self.now())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// A clock that stands still until moved: `clock()` for the server, `advance` in the test.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    /// Starts at the system time of the call.
    pub fn starting_now() -> ManualClock {
        Self::new(OffsetDateTime::now_utc())
    }

    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    pub fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn clock(&self) -> Clock {
        let me = self.clone();
        Clock::from_fn(move || me.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let manual = ManualClock::new(time::macros::datetime!(2026-01-01 00:00 UTC));
        let clock = manual.clock();
        assert_eq!(clock.now_rfc3339(), "2026-01-01T00:00:00Z");
        manual.advance(std::time::Duration::from_secs(90));
        assert_eq!(clock.now_rfc3339(), "2026-01-01T00:01:30Z");
    }
}

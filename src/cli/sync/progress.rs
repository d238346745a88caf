//! The progress bar of pulls and pushes: the step of the command (`step 1 of 2: pulling`),
//! how far it is out of a total known from the start, bytes, a rounded rate and the ETA.

/// Whether a sync shows a progress bar, and which step of its command the sync is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shown {
    on: bool,
    step: Option<(u8, u8)>,
}

impl Shown {
    /// A bar when `on`, titled `step N of M: …` when the command runs more than one sync.
    pub fn bar(on: bool, step: Option<(u8, u8)>) -> Shown {
        Shown { on, step }
    }

    pub fn on(self) -> bool {
        self.on
    }

    pub fn step(self) -> Option<(u8, u8)> {
        self.step
    }
}

impl From<bool> for Shown {
    fn from(on: bool) -> Shown {
        Shown { on, step: None }
    }
}

/// `pulling`, or `step 1 of 2: pulling` when the command has more than one step.
fn title(verb: &str, step: Option<(u8, u8)>) -> String {
    match step {
        Some((n, of)) => format!("step {n} of {of}: {verb}"),
        None => verb.to_string(),
    }
}

/// `1,092/s`; below ten, one decimal (`2.5/s`): more digits only flicker.
fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        "0/s".to_string()
    } else if per_sec < 10.0 {
        format!("{per_sec:.1}/s")
    } else {
        format!("{}/s", indicatif::HumanCount(per_sec.round() as u64))
    }
}

/// A progress bar on stderr for syncs that take over a second, only on a terminal (and
/// never with --quiet, which keeps stderr for errors).
pub(crate) struct Progress<'c> {
    pub(super) bar: Option<indicatif::ProgressBar>,
    started: std::time::Instant,
    client: &'c crate::sync::client::Client,
    bytes_at_start: u64,
}

impl<'c> Progress<'c> {
    /// `verb` names the phase (`pulling`), `unit` what the bar counts (`changes`).
    pub(crate) fn new(
        verb: &str,
        unit: &str,
        shown: Shown,
        client: &'c crate::sync::client::Client,
    ) -> Progress<'c> {
        use std::io::IsTerminal;
        let bar = (shown.on && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::hidden();
            bar.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit}, {{msg}}, {{rate}}, ETA {{eta}}"
                ))
                .expect("a valid template")
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&rate(state.per_sec()));
                    },
                )
                .progress_chars("=> "),
            );
            bar.set_prefix(title(verb, shown.step));
            bar
        });
        Progress {
            bar,
            started: std::time::Instant::now(),
            client,
            bytes_at_start: client.bytes_transferred(),
        }
    }

    fn update(&self, position: u64, length: u64) {
        let Some(bar) = &self.bar else { return };
        // Shown first, so that the values set next are drawn now.
        if bar.is_hidden() && self.started.elapsed() > std::time::Duration::from_secs(1) {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        let bytes = self.client.bytes_transferred() - self.bytes_at_start;
        bar.set_message(indicatif::HumanBytes(bytes).to_string());
        bar.set_length(length.max(position));
        bar.set_position(position);
    }

    /// The pull's per-page callback: (records so far, cursor, head). The bar counts the
    /// changes between the cursor the pull `started` from and the head, so the first page
    /// already counts and the total is the whole pull. A cursor below the start is a full
    /// resync reading the project from its first change: the bar says so and counts from 0.
    pub(crate) fn pull_callback(&self, started: Option<u64>) -> impl FnMut(usize, u64, u64) + '_ {
        let mut first_cursor = started;
        move |_records, cursor, head| {
            let start = first_cursor.get_or_insert(cursor.min(head));
            if cursor < *start {
                *start = 0;
                if let Some(bar) = &self.bar {
                    bar.set_prefix("full resync: reading and matching every record");
                }
            }
            let start = *start;
            self.update(cursor.saturating_sub(start), head.saturating_sub(start));
        }
    }

    /// The push's per-batch callback: (records sent, records to send).
    pub(super) fn push_callback(&self) -> impl FnMut(usize, u64) + '_ {
        move |sent, total| self.update(sent as u64, total)
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{rate, title};

    #[test]
    fn rates_are_rounded() {
        assert_eq!(rate(1091.9326), "1,092/s");
        assert_eq!(rate(12.49), "12/s");
        assert_eq!(rate(2.4813), "2.5/s");
        assert_eq!(rate(0.0), "0/s");
        assert_eq!(rate(f64::NAN), "0/s");
    }

    #[test]
    fn the_title_names_the_step() {
        assert_eq!(title("pulling", None), "pulling");
        assert_eq!(title("pushing", Some((2, 2))), "step 2 of 2: pushing");
    }
}

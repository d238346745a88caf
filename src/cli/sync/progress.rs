//! The progress bar of pulls and pushes.

/// A progress bar on stderr for syncs that take over a second, only on a terminal (and
/// never with --quiet, which keeps stderr for errors): phase, records, bytes, rate and ETA.
pub(super) struct Progress<'c> {
    pub(super) bar: Option<indicatif::ProgressBar>,
    started: std::time::Instant,
    client: &'c crate::sync::client::Client,
    bytes_at_start: u64,
}

impl<'c> Progress<'c> {
    pub(super) fn new(
        phase: &'static str,
        wanted: bool,
        client: &'c crate::sync::client::Client,
    ) -> Progress<'c> {
        use std::io::IsTerminal;
        let bar = (wanted && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::hidden();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} records, {msg}, {per_sec}, ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(phase);
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

    /// The pull's per-page callback: (records so far, cursor, head); the bar counts the
    /// changes between the first cursor and the head.
    pub(super) fn pull_callback(&self) -> impl FnMut(usize, u64, u64) + '_ {
        let mut first_cursor = None;
        move |_records, cursor, head| {
            let start = *first_cursor.get_or_insert(cursor.min(head));
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

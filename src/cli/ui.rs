//! All terminal output goes through [`Ui`]: stdout carries results, stderr carries status,
//! warnings and hints. `--quiet` silences status; `--json` switches results to JSON; colour
//! follows `--color` and `NO_COLOR`.

use std::fmt::Display;
use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};

use super::error::CommandError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

pub struct Ui {
    pub json: bool,
    pub quiet: bool,
    pub verbose: u8,
    color_out: bool,
    color_err: bool,
}

pub const GOOD: Style = AnsiColor::Green.on_default();
pub const BAD: Style = AnsiColor::Red.on_default();
pub const WARN: Style = AnsiColor::Yellow.on_default();
pub const DIM: Style = Style::new().dimmed();
pub const BOLD: Style = Style::new().bold();

impl Ui {
    pub fn new(json: bool, quiet: bool, verbose: u8, color: ColorChoice) -> Ui {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |tty: bool| match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                tty && !no_color && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        };
        Ui {
            json,
            quiet,
            verbose,
            color_out: decide(std::io::stdout().is_terminal()),
            color_err: decide(std::io::stderr().is_terminal()),
        }
    }

    /// One line of result on stdout.
    pub fn line(&self, text: impl Display) -> Result<(), CommandError> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").map_err(CommandError::from_io)
    }

    /// A value as pretty JSON on stdout.
    pub fn json<T: serde::Serialize>(&self, value: &T) -> Result<(), CommandError> {
        let text = serde_json::to_string_pretty(value).expect("output types serialize");
        self.line(text)
    }

    /// Status on stderr, unless quiet.
    pub fn status(&self, text: impl Display) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    pub fn warn(&self, text: impl Display) {
        eprintln!("{}: {text}", self.err_style(WARN, "warning"));
    }

    pub fn error(&self, e: &CommandError) {
        eprintln!("{}: {}", self.err_style(BAD.bold(), "Error"), e.message);
        let (hints, more) = self.cut(&e.hints);
        let label = self.err_style(AnsiColor::Cyan.on_default(), "Hint");
        for hint in hints {
            eprintln!("{label}: {hint}");
        }
        if more > 0 {
            eprintln!("{label}: … and {more} more ({MORE_HINT})");
        }
    }

    /// How many items a list prints: all with `--verbose`, else [`LIST_SHOWN`].
    pub fn list_limit(&self) -> usize {
        if self.verbose > 0 {
            usize::MAX
        } else {
            LIST_SHOWN
        }
    }

    /// A list of versions or records on one line, cut to its first items unless `--verbose`.
    pub fn list<T: Display>(&self, items: &[T]) -> String {
        abbreviate(items, self.list_limit())
    }

    /// The items of a list printed one per line: the ones to print and how many are left out.
    pub fn cut<'a, T>(&self, items: &'a [T]) -> (&'a [T], usize) {
        cut(items, self.list_limit())
    }

    /// `text` styled for stdout.
    pub fn paint(&self, style: Style, text: impl Display) -> String {
        paint(self.color_out, style, text)
    }

    /// `text` styled for stderr.
    pub fn err_style(&self, style: Style, text: impl Display) -> String {
        paint(self.color_err, style, text)
    }

    /// An evolution's status for stdout: pass green, fail red.
    pub fn paint_status(&self, s: crate::domain::EvolutionStatus) -> String {
        use crate::domain::EvolutionStatus;
        match s {
            EvolutionStatus::Pass => self.paint(GOOD, s),
            EvolutionStatus::Fail => self.paint(BAD, s),
            _ => s.to_string(),
        }
    }

    pub fn stdout_is_tty(&self) -> bool {
        std::io::stdout().is_terminal()
    }
}

/// How many items of a list are printed without `--verbose` (`--json` always has them all):
/// after a large pull, a list of every version would fill the screen.
pub const LIST_SHOWN: usize = 10;

/// What a cut list says about the items it leaves out.
pub const MORE_HINT: &str = "--verbose lists all";

/// `a, b, c`; with more than `limit` items, the first `limit` and `… and N more`.
pub fn abbreviate<T: Display>(items: &[T], limit: usize) -> String {
    let (shown, more) = cut(items, limit);
    let list = shown
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    match more {
        0 => list,
        n => format!("{list}, … and {n} more ({MORE_HINT})"),
    }
}

/// The first `limit` items and how many are left out. Leaving out a single item saves no
/// space, so a list one over the limit is kept whole.
pub fn cut<T>(items: &[T], limit: usize) -> (&[T], usize) {
    if items.len() <= limit.saturating_add(1) {
        (items, 0)
    } else {
        (&items[..limit], items.len() - limit)
    }
}

fn paint(on: bool, style: Style, text: impl Display) -> String {
    if on {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_string()
    }
}

/// A table for stdout, without borders (like `git branch -v` / `cargo tree`). Cells hold
/// plain text: styled cells would need comfy-table's ANSI parser, which costs more than the
/// query behind a 1,000-row list.
pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| h.to_uppercase()));
    for col in t.column_iter_mut() {
        col.set_padding((0, 2));
    }
    t
}

/// Renders a table and trims the trailing spaces comfy-table pads lines with.
pub fn render(t: &comfy_table::Table) -> String {
    t.lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::{abbreviate, cut};

    #[test]
    fn short_lists_are_whole() {
        assert_eq!(abbreviate::<&str>(&[], 3), "");
        assert_eq!(abbreviate(&["a"], 3), "a");
        assert_eq!(abbreviate(&["a", "b", "c"], 3), "a, b, c");
        // One over the limit: cutting it would save nothing.
        assert_eq!(abbreviate(&["a", "b", "c", "d"], 3), "a, b, c, d");
    }

    #[test]
    fn long_lists_show_the_first_items_and_a_count() {
        let items: Vec<String> = (1..=200).map(|i| format!("v{i}.0.0")).collect();
        assert_eq!(
            abbreviate(&items, 3),
            "v1.0.0, v2.0.0, v3.0.0, … and 197 more (--verbose lists all)"
        );
        assert_eq!(abbreviate(&items, usize::MAX).split(", ").count(), 200);
        let (shown, more) = cut(&items, 10);
        assert_eq!((shown.len(), more), (10, 190));
        assert_eq!(shown[0], "v1.0.0");
    }
}

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
        for hint in &e.hints {
            eprintln!(
                "{}: {hint}",
                self.err_style(AnsiColor::Cyan.on_default(), "Hint")
            );
        }
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

//! `gryt cloud copy SRC DST`: copies a project's release state into another project, on the
//! linked server or any server the user is logged in to. First the difference (a dry run of
//! every batch), then the copy; each side's records are streamed page by page
//! (crate::sync::copy).

use super::{ServerArg, split_slug};
use crate::cli::error::{CommandError, ExitKind};
use crate::cli::sync::progress::{Progress, Shown};
use crate::cli::ui::Ui;
use crate::sync::client::{Client, ClientOptions};
use crate::sync::copy::{self, Counts, Side, Tally};
use crate::sync::credentials::{Credentials, normalize};
use crate::sync::remote::RemoteError;

/// Copy a project's generations, evolutions and pipeline runs into another project, keeping
/// who made and promoted them (needs ownership of the destination's team)
///
/// SRC and DST are TEAM/PROJECT on the linked server (cloud.url), or URL#TEAM/PROJECT on any
/// server you are logged in to. Records already at the destination are skipped, and nothing
/// there is overwritten: what is in the way is reported (exit 3). An interrupted copy
/// completes when run again.
#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The project to copy from: TEAM/PROJECT or URL#TEAM/PROJECT
    pub src: String,
    /// The project to copy into: TEAM/PROJECT or URL#TEAM/PROJECT
    pub dst: String,
    /// Show what would be copied and what is in the way; copy nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// What `--json` prints.
#[derive(serde::Serialize)]
struct Report<'a> {
    source: String,
    destination: String,
    dry_run: bool,
    difference: &'a Tally,
    #[serde(skip_serializing_if = "Option::is_none")]
    copied: Option<&'a Tally>,
}

pub fn cmd_copy(ui: &Ui, args: CopyArgs) -> Result<(), CommandError> {
    let creds = Credentials::from_env()?;
    let src = side(&creds, &args.src)?;
    let dst = side(&creds, &args.dst)?;
    if src.url == dst.url && src.project == dst.project {
        return Err(CommandError::usage(format!(
            "{} is both the source and the destination",
            args.src
        )));
    }
    let mut dst_head = 0;
    for (what, s) in [("source", &src), ("destination", &dst)] {
        let (team, name) = s.project.split_once('/').unwrap_or_default();
        let info = s
            .client
            .project(team, name)
            .map_err(|e| about(what, s, e.into()))?;
        dst_head = info.head;
    }
    let mut blocked = copy::Blocked::default();
    // Into a project that holds nothing, nothing can be in the way: the difference is the
    // whole source, and the copy starts at once (one walk instead of two).
    let (difference, copied) = if dst_head == 0 && !args.dry_run {
        ui.status(format!(
            "{} holds nothing yet: copying every record of {}",
            dst.address(),
            src.address()
        ));
        let copied = walk(ui, &src, &dst, false, &mut blocked)?;
        (copied.clone(), Some(copied))
    } else {
        ui.status(format!(
            "Comparing {} with {}",
            src.address(),
            dst.address()
        ));
        let difference = walk(ui, &src, &dst, true, &mut blocked)?;
        let copied = if args.dry_run || difference.copied.total() == 0 {
            None
        } else {
            Some(walk(ui, &src, &dst, false, &mut blocked)?)
        };
        (difference, copied)
    };
    if ui.json {
        ui.json(&Report {
            source: src.address(),
            destination: dst.address(),
            dry_run: args.dry_run,
            difference: &difference,
            copied: copied.as_ref(),
        })?;
    } else {
        show_difference(ui, &difference)?;
        match &copied {
            Some(t) => ui.line(format!(
                "Copied {} from {} to {}",
                counts(&t.copied),
                src.project,
                dst.project
            ))?,
            None if args.dry_run => {
                ui.status("Dry run: nothing copied; run without --dry-run to copy")
            }
            None => ui.line(format!("Nothing to copy: {} has it all", dst.project))?,
        }
    }
    let last = copied.as_ref().unwrap_or(&difference);
    if last.conflicts > 0 {
        return Err(in_the_way(last, &dst, args.dry_run));
    }
    Ok(())
}

/// `TEAM/PROJECT` on the linked server, or `URL#TEAM/PROJECT`, with a client carrying the
/// token for that server.
fn side(creds: &Credentials, spec: &str) -> Result<Side, CommandError> {
    let (url, slug) = match spec.rsplit_once('#') {
        Some((url, slug)) => {
            let url = crate::workspace::config::validate("cloud.url", url)
                .map_err(|e| CommandError::usage(format!("in `{spec}`: {e}")))?;
            (url, slug)
        }
        None => {
            let url = ServerArg { url: None }.find_url(creds)?.ok_or_else(|| {
                CommandError::usage(format!("no Gryt Cloud server for `{spec}`"))
                    .hint("link this repository (gryt cloud link TEAM/PROJECT --url URL), or write URL#TEAM/PROJECT")
            })?;
            (url, spec)
        }
    };
    let (team, project) = split_slug(slug)?;
    let url = normalize(&url);
    let token = creds
        .token(&url)?
        .ok_or_else(|| RemoteError::NotLoggedIn { url: url.clone() })?;
    Ok(Side {
        client: Client::new(&url, Some(token.into_secret()), ClientOptions::from_env()),
        url,
        project: format!("{team}/{project}"),
    })
}

/// Says which side an error came from.
fn about(what: &str, side: &Side, mut e: CommandError) -> CommandError {
    e.message = format!("{what} {}: {}", side.address(), e.message);
    e
}

/// One walk over the source: the difference (`dry_run`) or the copy, with a progress bar.
fn walk(
    ui: &Ui,
    src: &Side,
    dst: &Side,
    dry_run: bool,
    blocked: &mut copy::Blocked,
) -> Result<Tally, CommandError> {
    let (verb, step) = if dry_run {
        ("comparing", (1, 2))
    } else {
        ("copying", (2, 2))
    };
    let progress = Progress::new(
        verb,
        "changes",
        Shown::bar(!ui.quiet, Some(step)),
        &src.client,
    );
    let mut on_page = progress.pull_callback(Some(0));
    copy::copy(
        src,
        dst,
        dry_run,
        blocked,
        crate::cli::sync::page_limit(),
        &mut on_page,
    )
    .map_err(|e| {
        let e: CommandError = e.into();
        let e = if dry_run {
            e
        } else {
            e.hint("run the same copy again: what was copied already is skipped")
        };
        about("copying into", dst, e)
    })
}

fn counts(c: &Counts) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{}, {}, {}",
        plural(c.generations, "generation", "generations"),
        plural(c.evolutions, "evolution", "evolutions"),
        plural(c.pipeline_runs, "pipeline run", "pipeline runs")
    )
}

fn show_difference(ui: &Ui, t: &Tally) -> Result<(), CommandError> {
    ui.line(format!("To copy:       {}", counts(&t.copied)))?;
    ui.line(format!("Already there: {}", counts(&t.unchanged)))?;
    if t.deleted_at_source > 0 {
        ui.line(format!(
            "Deleted at the source (not copied): {}",
            t.deleted_at_source
        ))?;
    }
    ui.line(format!("In the way:    {}", t.conflicts))?;
    for c in &t.conflicting {
        ui.line(format!(
            "  {} {}: {} ({})",
            c.kind.as_str(),
            c.name,
            c.message,
            c.code
        ))?;
    }
    if t.conflicts > t.conflicting.len() as u64 {
        ui.line(format!(
            "  … and {} more",
            t.conflicts - t.conflicting.len() as u64
        ))?;
    }
    Ok(())
}

fn in_the_way(t: &Tally, dst: &Side, dry_run: bool) -> CommandError {
    let names: Vec<&str> = t
        .conflicting
        .iter()
        .take(5)
        .map(|c| c.name.as_str())
        .collect();
    let more = if t.conflicts > names.len() as u64 {
        ", …"
    } else {
        ""
    };
    let verb = if dry_run { "would not be" } else { "were not" };
    CommandError::new(
        ExitKind::Rejected,
        format!(
            "{} record(s) are in the way at {} and {verb} copied: {}{more}",
            t.conflicts,
            dst.address(),
            names.join(", ")
        ),
    )
    .hint("nothing at the destination was overwritten; move or delete what is in the way there (or copy into an empty project), then run the copy again: what was copied is skipped")
}

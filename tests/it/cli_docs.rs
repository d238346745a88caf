//! docs/CLI.md against clap: its "Command reference" section is generated from the command
//! tree (every command, argument and long option) and must be up to date. After changing a
//! command, regenerate it with `UPDATE_DOCS=1 cargo test --test it cli_docs`.
#![cfg(feature = "server")]

use clap::CommandFactory;

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CLI.md");
const BEGIN: &str = "<!-- BEGIN command reference: generated from clap by tests/it/cli_docs.rs (UPDATE_DOCS=1 cargo test --test it cli_docs) -->";
const END: &str = "<!-- END command reference -->";

/// Every visible command below `cmd`, depth first: `(path, command)`.
fn commands(path: &str, cmd: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        let path = format!("{path} {}", sub.get_name());
        out.push((path.clone(), sub.clone()));
        commands(&path, sub, out);
    }
}

/// The global options are documented once, under "Global options".
fn is_global(root: &clap::Command, arg: &clap::Arg) -> bool {
    root.get_arguments()
        .any(|g| g.get_id() == arg.get_id() && g.is_global_set())
}

/// `--format <summary|detailed|json>`, `[VERSION]`, `-n, --limit <LIMIT>`…
fn usage(arg: &clap::Arg) -> String {
    let value = || {
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_string())
            .collect();
        if !values.is_empty() {
            values.join("|")
        } else {
            arg.get_value_names()
                .and_then(|n| n.first())
                .map(ToString::to_string)
                .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
        }
    };
    let takes_value = arg.get_action().takes_values();
    let mut s = match (arg.get_short(), arg.get_long()) {
        (_, None) => {
            let many = if matches!(arg.get_num_args(), Some(n) if n.max_values() > 1) {
                "..."
            } else {
                ""
            };
            format!("{}{many}", value())
        }
        (Some(c), Some(l)) => format!("-{c}, --{l}"),
        (None, Some(l)) => format!("--{l}"),
    };
    if arg.get_long().is_some() && takes_value {
        s = format!("{s} <{}>", value());
    }
    if arg.is_required_set() {
        s
    } else {
        format!("[{s}]")
    }
}

/// The reference section: one line per command with its arguments and options, then its
/// first line of help.
fn reference() -> String {
    let mut root = gryt::cli::Cli::command();
    root.build();
    let mut all = Vec::new();
    commands("gryt", &root, &mut all);
    let mut out = String::from(
        "## Command reference\n\n\
         Every command with its arguments and options (the global options are above). `--help`\n\
         on any command says more.\n\n",
    );
    for (path, cmd) in &all {
        let args: Vec<String> = cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !is_global(&root, a))
            .filter(|a| {
                !matches!(
                    a.get_action(),
                    clap::ArgAction::Help
                        | clap::ArgAction::HelpShort
                        | clap::ArgAction::HelpLong
                        | clap::ArgAction::Version
                )
            })
            .map(usage)
            .collect();
        let aliases: Vec<&str> = cmd.get_visible_aliases().collect();
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        out.push_str(&format!(
            "- `{}`{}{}\n",
            [path.clone()]
                .into_iter()
                .chain(args)
                .collect::<Vec<_>>()
                .join(" "),
            if aliases.is_empty() {
                String::new()
            } else {
                format!(" (alias `{}`)", aliases.join("`, `"))
            },
            if about.is_empty() {
                String::new()
            } else {
                format!(": {about}")
            }
        ));
    }
    out
}

#[test]
fn cli_md_lists_every_command_and_option() {
    let doc = std::fs::read_to_string(DOC).expect("docs/CLI.md");
    let wanted = format!("{BEGIN}\n{}{END}", reference());
    let current = match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if b < e => &doc[b..e + END.len()],
        _ => "",
    };
    if current == wanted {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = if current.is_empty() {
            format!("{}\n\n{wanted}\n", doc.trim_end())
        } else {
            doc.replace(current, &wanted)
        };
        std::fs::write(DOC, updated).expect("write docs/CLI.md");
        return;
    }
    panic!(
        "docs/CLI.md's command reference is out of date with the commands; regenerate it with \
         `UPDATE_DOCS=1 cargo test --test it cli_docs` and check the diff. It should read:\n{wanted}"
    );
}

//! YAML release contracts (`.gryt/generations/vX.Y.Z.yaml`) ↔ [`Contract`]. Validation
//! collects every problem with its line before anything is applied; rendering produces the
//! file gryt writes for new and pulled generations.

pub mod node;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::domain::change::{check_text, check_title};
use crate::domain::generation::Contract;
use crate::domain::{Change, ChangeId, ChangeType, Version, check_pipeline_name};
use crate::workspace::file::{ReadError, read_limited};
use node::{Node, Problem};

/// Contracts are small hand-edited files; anything larger is a mistake or an attack.
pub const MAX_CONTRACT_BYTES: u64 = 1024 * 1024;
pub const MAX_CHANGES: usize = 10_000;
const MAX_DESCRIPTION_CHARS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", Invalid { path, problems })]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

pub type Result<T> = std::result::Result<T, ContractError>;

impl ContractError {
    /// The same error with its path shown relative to `root` (the workspace), as every other
    /// message shows paths.
    pub fn relative_to(self, root: &Path) -> Self {
        let rel = |p: PathBuf| p.strip_prefix(root).map(Path::to_path_buf).unwrap_or(p);
        match self {
            ContractError::Io { path, source } => ContractError::Io {
                path: rel(path),
                source,
            },
            ContractError::Invalid { path, problems } => ContractError::Invalid {
                path: rel(path),
                problems,
            },
        }
    }
}

/// Renders problems as `path:line: message`, one per line.
struct Invalid<'a> {
    path: &'a Path,
    problems: &'a [Problem],
}

impl fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match p.line {
                Some(line) => write!(f, "{}:{line}: {}", self.path.display(), p.message)?,
                None => write!(f, "{}: {}", self.path.display(), p.message)?,
            }
        }
        Ok(())
    }
}

/// Reads a regular file that must be UTF-8 text of at most `max` bytes, without ever reading
/// more than `max + 1` bytes of it (see [`read_limited`]).
pub fn read_bounded(path: &Path, max: u64) -> Result<String> {
    let invalid = |message: String| ContractError::Invalid {
        path: path.to_path_buf(),
        problems: vec![Problem::whole(message)],
    };
    let bytes = read_limited(path, max).map_err(|e| match e {
        ReadError::Io(source) => ContractError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => invalid(other.to_string()),
    })?;
    if bytes.contains(&0) {
        return Err(invalid(
            "the file contains NUL bytes; it is not text".into(),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        invalid(format!(
            "the file is not valid UTF-8 (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Loads and validates a contract file. With `expected`, the version in the file must be it.
pub fn load(path: &Path, expected: Option<&Version>) -> Result<Contract> {
    let text = read_bounded(path, MAX_CONTRACT_BYTES)?;
    let invalid = |problems| ContractError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    let (contract, version_line) = parse(&text).map_err(invalid)?;
    if let Some(expected) = expected
        && &contract.version != expected
    {
        return Err(invalid(vec![Problem::at(
            version_line,
            format!(
                "version {} does not match the generation {expected} (the file is {}); rename with `gryt generation rename`",
                contract.version,
                expected.file_name()
            ),
        )]));
    }
    Ok(contract)
}

/// Parses and validates contract text. Returns the contract and the line of its version.
pub fn parse(text: &str) -> std::result::Result<(Contract, usize), Vec<Problem>> {
    let doc = node::parse(text).map_err(|p| vec![p])?;
    let mut problems = Vec::new();
    let Some(root) = doc.as_map(
        "the contract",
        &["version", "description", "pipeline_template", "changes"],
        &mut problems,
    ) else {
        return Err(problems);
    };

    let mut version = None;
    let mut version_line = root.line;
    match root.get("version") {
        None => problems.push(Problem::at(
            root.line,
            "missing `version` (e.g. version: v1.2.0)",
        )),
        Some(n) => {
            version_line = n.line;
            match n.as_text("version") {
                Ok(text) => match text.parse::<Version>() {
                    Ok(v) => version = Some(v),
                    Err(e) => problems.push(Problem::at(n.line, e.to_string())),
                },
                Err(p) => problems.push(p),
            }
        }
    }

    let description = optional_text(
        &root,
        "description",
        "",
        MAX_DESCRIPTION_CHARS,
        &mut problems,
    );
    let pipeline_template = optional_pipeline(&root, "pipeline_template", "", &mut problems);

    let mut changes = Vec::new();
    match root.get("changes") {
        None => problems.push(Problem::at(
            root.line,
            "missing `changes`: a contract lists at least one change",
        )),
        Some(n) => match n.as_seq("changes") {
            Err(p) => problems.push(p),
            Ok([]) => problems.push(Problem::at(
                n.line,
                "`changes` is empty: a contract lists at least one change",
            )),
            Ok(items) if items.len() > MAX_CHANGES => problems.push(Problem::at(
                n.line,
                format!("more than {MAX_CHANGES} changes"),
            )),
            Ok(items) => {
                let mut first_seen: HashMap<String, usize> = HashMap::new();
                for (i, item) in items.iter().enumerate() {
                    if let Some(change) = parse_change(i, item, &mut problems) {
                        let id = change.id.to_string();
                        if let Some(first) = first_seen.get(&id) {
                            problems.push(Problem::at(
                                item.line,
                                format!("duplicate change id {id} (first listed at line {first})"),
                            ));
                        } else {
                            first_seen.insert(id, item.line);
                            changes.push(change);
                        }
                    }
                }
            }
        },
    }

    match version {
        Some(version) if problems.is_empty() => Ok((
            Contract {
                version,
                description: description.unwrap_or_default(),
                pipeline_template,
                changes,
            },
            version_line,
        )),
        _ => {
            problems.sort_by_key(|p| p.line);
            Err(problems)
        }
    }
}

fn parse_change(i: usize, item: &Node, problems: &mut Vec<Problem>) -> Option<Change> {
    let what = format!("changes[{i}]");
    let fields = item.as_map(
        &what,
        &["type", "id", "title", "description", "pipeline", "assignee"],
        problems,
    )?;
    let before = problems.len();
    let mut required = |key: &str| {
        let n = fields.get(key);
        if n.is_none() {
            problems.push(Problem::at(fields.line, format!("{what}: missing `{key}`")));
        }
        n
    };
    let (type_node, id_node, title_node) = (required("type"), required("id"), required("title"));

    let kind = type_node.and_then(|n| {
        n.as_text(&format!("{what}.type"))
            .and_then(|t| {
                t.parse::<ChangeType>()
                    .map_err(|e| Problem::at(n.line, format!("{what}: {e}")))
            })
            .map_err(|p| problems.push(p))
            .ok()
    });
    let id = id_node.and_then(|n| {
        n.as_text(&format!("{what}.id"))
            .and_then(|t| {
                t.parse::<ChangeId>()
                    .map_err(|e| Problem::at(n.line, format!("{what}: {e}")))
            })
            .map_err(|p| problems.push(p))
            .ok()
    });
    let title = title_node.and_then(|n| {
        n.as_text(&format!("{what}.title"))
            .and_then(|t| {
                check_title(t)
                    .map(|()| t.trim().to_string())
                    .map_err(|e| Problem::at(n.line, format!("{what}: {e}")))
            })
            .map_err(|p| problems.push(p))
            .ok()
    });
    let description = optional_text(
        &fields,
        "description",
        &what,
        MAX_DESCRIPTION_CHARS,
        problems,
    );
    let pipeline = optional_pipeline(&fields, "pipeline", &what, problems);
    let assignee = optional_assignee(&fields, &what, problems);
    if problems.len() != before {
        return None;
    }
    Some(Change {
        kind: kind?,
        id: id?,
        title: title?,
        description,
        pipeline,
        assignee,
    })
}

/// `assignee`: the cloud account name of whoever is to prove the change.
fn optional_assignee(
    fields: &node::Fields<'_>,
    owner: &str,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let n = fields.get("assignee")?;
    let label = qualified(owner, "assignee");
    let result = n.as_text(&label).and_then(|t| {
        check_assignee(t)
            .map(|()| t.to_string())
            .map_err(|e| Problem::at(n.line, format!("{label}: {e}")))
    });
    result.map_err(|p| problems.push(p)).ok()
}

/// An assignee is a cloud account name: the server's rule for usernames.
pub fn check_assignee(name: &str) -> std::result::Result<(), String> {
    crate::api::accounts::check_name("account", name)
}

/// `owner` prefixes messages (`changes[2]`); empty for top-level keys.
fn optional_text(
    fields: &node::Fields<'_>,
    key: &str,
    owner: &str,
    max: usize,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let n = fields.get(key)?;
    let label = qualified(owner, key);
    let result = n.as_text(&label).and_then(|t| {
        check_text(&label, t, max)
            .map(|()| t.to_string())
            .map_err(|e| Problem::at(n.line, e))
    });
    result.map_err(|p| problems.push(p)).ok()
}

fn optional_pipeline(
    fields: &node::Fields<'_>,
    key: &str,
    owner: &str,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let n = fields.get(key)?;
    let label = qualified(owner, key);
    let result = n.as_text(&label).and_then(|t| {
        check_pipeline_name(t).map(|()| t.to_string()).map_err(|e| {
            Problem::at(
                n.line,
                format!("{label}: invalid pipeline name `{}`: {e}", t.escape_debug()),
            )
        })
    });
    result.map_err(|p| problems.push(p)).ok()
}

fn qualified(owner: &str, key: &str) -> String {
    if owner.is_empty() {
        key.to_string()
    } else {
        format!("{owner}.{key}")
    }
}

/// The YAML text gryt writes for a contract.
pub fn render(contract: &Contract) -> String {
    let body = serde_yaml::to_string(contract).expect("contracts serialize to YAML");
    format!(
        "# Release contract for {v}. Edit, then run `gryt generation update {v}`.\n\
         # Change types: fix, refine, add, remove. Ids look like FEAT-001.\n{body}",
        v = contract.version
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
version: v1.2.0
description: Spring release
changes:
  - type: add
    id: FEAT-001
    title: Login with passkeys
  - type: fix
    id: BUG-50
    title: Crash on empty cart
    pipeline: ci
";

    #[test]
    fn parses_a_good_contract() {
        let (c, line) = parse(GOOD).unwrap();
        assert_eq!(line, 1);
        assert_eq!(c.version.to_string(), "v1.2.0");
        assert_eq!(c.changes.len(), 2);
        assert_eq!(c.changes[1].pipeline.as_deref(), Some("ci"));
    }

    #[test]
    fn render_round_trips() {
        let (c, _) = parse(GOOD).unwrap();
        let (again, _) = parse(&render(&c)).unwrap();
        assert_eq!(c, again);
        assert_eq!(c.content_hash(), again.content_hash());
    }

    #[test]
    fn reports_every_problem_with_its_line() {
        let text = "\
version: 1.2
changes:
  - type: feature
    id: feat-1
    title: ''
  - type: add
    id: OK-1
    title: fine
  - type: add
    id: OK-1
    title: again
    colour: red
";
        let problems = parse(text).unwrap_err();
        let got: Vec<(Option<usize>, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.split(':').next().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(1), "invalid version `1.2`"),
                (Some(3), "changes[0]"),
                (Some(4), "changes[0]"),
                (Some(5), "changes[0]"),
                (Some(9), "duplicate change id OK-1 (first listed at line 6)"),
                (Some(12), "changes[2]"),
            ],
            "{problems:#?}"
        );
    }

    #[test]
    fn assignees_are_account_names() {
        let text = "version: 1.0.0\nchanges:\n  - {type: add, id: A-1, title: x, assignee: ann.lee}\n  - type: fix\n    id: B-1\n    title: y\n    assignee: Bob Smith\n";
        let problems = parse(text).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].line, Some(7));
        assert!(
            problems[0]
                .message
                .starts_with("changes[1].assignee: invalid account name `Bob Smith`"),
            "{}",
            problems[0].message
        );
        let (c, _) = parse(&text.replace("Bob Smith", "bob")).unwrap();
        assert_eq!(c.changes[0].assignee.as_deref(), Some("ann.lee"));
        assert_eq!(c.changes[1].assignee.as_deref(), Some("bob"));
        let rendered = render(&c);
        assert!(rendered.contains("assignee: bob"), "{rendered}");
        assert_eq!(parse(&rendered).unwrap().0, c);
        // Without assignees, a contract renders exactly as before.
        let (plain, _) = parse(GOOD).unwrap();
        assert!(!render(&plain).contains("assignee"));
    }

    #[test]
    fn duplicate_ids_name_the_first() {
        let text = "version: 1.0.0\nchanges:\n  - {type: add, id: A-1, title: x}\n  - {type: fix, id: A-1, title: y}\n";
        let problems = parse(text).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(4));
        assert!(problems[0].message.contains("first listed at line 3"));
    }

    #[test]
    fn wrong_types() {
        for (text, needle) in [
            ("- a\n- b\n", "must be a mapping"),
            ("version: 1.0.0\nchanges: nope\n", "must be a list"),
            ("version: [1]\nchanges: []\n", "version must be text"),
            (
                "version: 1.0.0\nchanges:\n  - {type: add, id: A-1, title: [x]}\n",
                "title must be text",
            ),
            ("version: 1.0.0\nchanges: []\n", "is empty"),
            ("version: 1.0.0\n", "missing `changes`"),
        ] {
            let problems = parse(text).unwrap_err();
            assert!(
                problems.iter().any(|p| p.message.contains(needle)),
                "{text:?}: {problems:#?}"
            );
        }
    }
}

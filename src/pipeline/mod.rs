//! Pipelines: `.gryt/pipelines/NAME.yaml` — pipeline-level `env` and ordered `steps`, each a
//! shell command (`run`) with its own `env`, `cwd`, `timeout` and `retries`. A step may also
//! be written as a bare command string. Parsing validates everything with line numbers;
//! [`runner`] executes a pipeline.

pub mod runner;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::contract::node::{self, Node, Problem};
use crate::contract::{ContractError, read_bounded};

pub const MAX_PIPELINE_BYTES: u64 = 256 * 1024;
const MAX_RETRIES: u64 = 10;
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub name: String,
    pub env: Vec<(String, String)>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub run: String,
    pub env: Vec<(String, String)>,
    /// Relative to the workspace root.
    pub cwd: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub retries: u32,
}

/// Loads and validates `.gryt/pipelines/NAME.yaml`.
pub fn load(path: &Path, name: &str) -> Result<Pipeline, ContractError> {
    let text = read_bounded(path, MAX_PIPELINE_BYTES)?;
    parse(name, &text).map_err(|problems| ContractError::Invalid {
        path: path.to_path_buf(),
        problems,
    })
}

pub fn parse(name: &str, text: &str) -> Result<Pipeline, Vec<Problem>> {
    let doc = node::parse(text).map_err(|p| vec![p])?;
    let mut problems = Vec::new();
    let Some(root) = doc.as_map(
        "the pipeline",
        &["description", "env", "steps"],
        &mut problems,
    ) else {
        return Err(problems);
    };
    if let Some(Err(p)) = root.get("description").map(|d| d.as_text("description")) {
        problems.push(p);
    }
    let env = root
        .get("env")
        .map(|n| parse_env("env", n, &mut problems))
        .unwrap_or_default();
    let mut steps = Vec::new();
    match root.get("steps") {
        None => problems.push(Problem::at(
            root.line,
            "missing `steps`: list the commands to run",
        )),
        Some(n) => match n.as_seq("steps") {
            Err(p) => problems.push(p),
            Ok([]) => problems.push(Problem::at(n.line, "`steps` is empty")),
            Ok(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(step) = parse_step(i, item, &mut problems) {
                        steps.push(step);
                    }
                }
            }
        },
    }
    if problems.is_empty() {
        Ok(Pipeline {
            name: name.to_string(),
            env,
            steps,
        })
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

fn parse_step(i: usize, item: &Node, problems: &mut Vec<Problem>) -> Option<Step> {
    let what = format!("steps[{i}]");
    if let node::Kind::Scalar { .. } = &item.kind {
        let run = item.as_string(&what).map_err(|p| problems.push(p)).ok()?;
        return check_command(&what, run, item.line, problems).map(|run| Step {
            name: format!("step {}", i + 1),
            run,
            env: Vec::new(),
            cwd: None,
            timeout: None,
            retries: 0,
        });
    }
    if !matches!(item.kind, node::Kind::Map(_)) {
        problems.push(Problem::at(
            item.line,
            format!(
                "{what} must be a command string or a mapping with `run:`, found {}",
                item.type_name()
            ),
        ));
        return None;
    }
    let fields = item.as_map(
        &what,
        &["name", "run", "env", "cwd", "timeout", "retries"],
        problems,
    )?;
    let before = problems.len();
    let name = match fields.get("name") {
        Some(n) => n
            .as_text(&format!("{what}.name"))
            .map(str::to_string)
            .map_err(|p| problems.push(p))
            .ok(),
        None => Some(format!("step {}", i + 1)),
    };
    let run = match fields.get("run") {
        None => {
            problems.push(Problem::at(
                fields.line,
                format!("{what}: missing `run` (the command)"),
            ));
            None
        }
        Some(n) => match n.as_string(&format!("{what}.run")) {
            Ok(t) => check_command(&what, t, n.line, problems),
            Err(p) => {
                problems.push(p);
                None
            }
        },
    };
    let env = fields
        .get("env")
        .map(|n| parse_env(&format!("{what}.env"), n, problems))
        .unwrap_or_default();
    let cwd = fields.get("cwd").and_then(|n| {
        let t = n
            .as_text(&format!("{what}.cwd"))
            .map_err(|p| problems.push(p))
            .ok()?;
        let p = PathBuf::from(t);
        if p.is_absolute()
            || p.components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            problems.push(Problem::at(
                n.line,
                format!("{what}.cwd must be a path inside the repository, relative to its root"),
            ));
            return None;
        }
        Some(p)
    });
    let timeout = fields.get("timeout").and_then(|n| {
        parse_duration(n, &format!("{what}.timeout"))
            .map_err(|p| problems.push(p))
            .ok()
    });
    let retries = match fields.get("retries") {
        None => 0,
        Some(n) => match n.as_u64(&format!("{what}.retries")) {
            Ok(r) if r <= MAX_RETRIES => r as u32,
            Ok(_) => {
                problems.push(Problem::at(
                    n.line,
                    format!("{what}.retries must be at most {MAX_RETRIES}"),
                ));
                0
            }
            Err(p) => {
                problems.push(p);
                0
            }
        },
    };
    if problems.len() != before {
        return None;
    }
    Some(Step {
        name: name?,
        run: run?,
        env,
        cwd,
        timeout,
        retries,
    })
}

fn check_command(
    what: &str,
    run: &str,
    line: usize,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    if run.trim().is_empty() {
        problems.push(Problem::at(line, format!("{what}: the command is empty")));
        None
    } else if run.contains('\0') {
        problems.push(Problem::at(
            line,
            format!("{what}: the command contains a NUL character"),
        ));
        None
    } else {
        Some(run.to_string())
    }
}

fn parse_env(what: &str, n: &Node, problems: &mut Vec<Problem>) -> Vec<(String, String)> {
    let node::Kind::Map(pairs) = &n.kind else {
        problems.push(Problem::at(
            n.line,
            format!(
                "{what} must be a mapping of NAME: value, found {}",
                n.type_name()
            ),
        ));
        return Vec::new();
    };
    let mut env: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        let key = match k.as_text(&format!("{what} key")) {
            Ok(k) => k,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let valid_name = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            problems.push(Problem::at(
                k.line,
                format!(
                    "{what}: `{}` is not a valid variable name",
                    key.escape_debug()
                ),
            ));
            continue;
        }
        if env.iter().any(|(seen, _)| seen == key) {
            problems.push(Problem::at(
                k.line,
                format!("{what}: duplicate variable `{key}`"),
            ));
            continue;
        }
        let value = if v.is_null() {
            Ok(String::new())
        } else {
            v.as_text(&format!("{what}.{key}")).map(str::to_string)
        };
        match value {
            Ok(value) if value.contains('\0') => problems.push(Problem::at(
                v.line,
                format!("{what}.{key} contains a NUL character"),
            )),
            Ok(value) => env.push((key.to_string(), value)),
            Err(p) => problems.push(p),
        }
    }
    env
}

/// `90` (seconds), `"90s"`, `"5m"`, `"1h"`.
fn parse_duration(n: &Node, what: &str) -> Result<Duration, Problem> {
    let text = n.as_text(what)?;
    let bad = || {
        Problem::at(
            n.line,
            format!(
                "{what} must be seconds or a duration like 90s, 5m, 1h; found `{}`",
                text.escape_debug()
            ),
        )
    };
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: u64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => value,
        "m" => value.saturating_mul(60),
        "h" => value.saturating_mul(3600),
        _ => return Err(bad()),
    };
    let d = Duration::from_secs(secs);
    if d.is_zero() || d > MAX_TIMEOUT {
        return Err(Problem::at(
            n.line,
            format!("{what} must be between 1s and 24h"),
        ));
    }
    Ok(d)
}

/// The file `gryt pipeline new NAME` writes. Its placeholder step fails on purpose: a
/// pipeline nobody filled in must never prove a change.
pub fn template(name: &str) -> String {
    format!(
        "# Pipeline `{name}`: steps run in order in the repository root; the first failing step\n\
         # stops the run. Each step: run (shell command), and optionally name, env, cwd,\n\
         # timeout (90s, 5m, 1h) and retries. A step may also be a bare command string.\n\
         env: {{}}\n\
         steps:\n  \
           - name: build\n    \
             run: 'echo \"edit .gryt/pipelines/{name}.yaml - replace this step with your build and tests\" >&2; exit 1'\n    \
             timeout: 30m\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_and_shorthand_steps() {
        let p = parse(
            "ci",
            "env:\n  RUST_LOG: debug\n  N: 1\nsteps:\n  - cargo build\n  - name: test\n    run: cargo test\n    env: {A: b}\n    cwd: sub/dir\n    timeout: 5m\n    retries: 2\n",
        )
        .unwrap();
        assert_eq!(
            p.env,
            vec![
                ("RUST_LOG".into(), "debug".into()),
                ("N".into(), "1".into())
            ]
        );
        assert_eq!(p.steps[0].name, "step 1");
        assert_eq!(p.steps[0].run, "cargo build");
        assert_eq!(p.steps[1].timeout, Some(Duration::from_secs(300)));
        assert_eq!(p.steps[1].retries, 2);
        assert_eq!(p.steps[1].cwd.as_deref(), Some(Path::new("sub/dir")));
    }

    #[test]
    fn template_is_valid() {
        assert_eq!(parse("x", &template("x")).unwrap().steps.len(), 1);
    }

    #[test]
    fn rejects_bad_steps() {
        for (text, needle) in [
            (
                "steps:\n  - [echo, hi]\n",
                "must be a command string or a mapping",
            ),
            ("steps:\n  - run: [1, 2]\n", "steps[0].run must be text"),
            ("steps:\n  - name: x\n", "missing `run`"),
            ("steps: []\n", "is empty"),
            (
                "steps:\n  - run: x\n    timeout: forever\n",
                "timeout must be",
            ),
            ("steps:\n  - run: x\n    retries: 99\n", "at most 10"),
            (
                "steps:\n  - run: x\n    cwd: /etc\n",
                "inside the repository",
            ),
            (
                "steps:\n  - run: x\n    cwd: ../up\n",
                "inside the repository",
            ),
            ("env:\n  1BAD: x\nsteps: [x]\n", "not a valid variable name"),
            ("steps:\n  - run: '   '\n", "the command is empty"),
            ("stepz: [x]\n", "unknown key"),
        ] {
            let problems = parse("p", text).unwrap_err();
            assert!(
                problems.iter().any(|p| p.message.contains(needle)),
                "{text:?}: {problems:#?}"
            );
        }
    }
}

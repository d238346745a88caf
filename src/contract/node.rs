//! A small YAML document tree that remembers the line of every node, so validation can
//! report *every* problem with its line (serde stops at the first). Aliases and multiple
//! documents are refused: contracts and pipelines are plain data, and aliases are the
//! classic way to make a tiny file expand into gigabytes.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    pub message: String,
}

impl Problem {
    pub fn at(line: usize, message: impl Into<String>) -> Self {
        Problem {
            line: Some(line),
            message: message.into(),
        }
    }
    pub fn whole(message: impl Into<String>) -> Self {
        Problem {
            line: None,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub line: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    /// `plain` is false for quoted and block scalars: `"1"` is text, `1` may be a number.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar { .. } if self.is_null() => "null",
            Kind::Scalar { .. } => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// Any non-null scalar as text (so `DEBUG: 1` in an env map is the string "1").
    pub fn as_text(&self, what: &str) -> Result<&str, Problem> {
        match &self.kind {
            Kind::Scalar { text, .. } if !self.is_null() => Ok(text),
            _ => Err(Problem::at(
                self.line,
                format!("{what} must be text, found {}", self.type_name()),
            )),
        }
    }

    /// A scalar that YAML reads as a string: quoted, or plain but not a number, boolean or
    /// null. For values like shell commands, where `42` or `true` is almost surely a mistake.
    pub fn as_string(&self, what: &str) -> Result<&str, Problem> {
        let text = self.as_text(what)?;
        if let Kind::Scalar { plain: true, .. } = &self.kind
            && let Some(kind) = plain_non_string(text)
        {
            return Err(Problem::at(
                self.line,
                format!(
                    "{what} must be a string, found {kind} `{text}` (quote it if you mean the text)"
                ),
            ));
        }
        Ok(text)
    }

    pub fn as_u64(&self, what: &str) -> Result<u64, Problem> {
        match &self.kind {
            Kind::Scalar { text, plain: true } => text.parse::<u64>().map_err(|_| {
                Problem::at(
                    self.line,
                    format!(
                        "{what} must be a whole number ≥ 0, found `{}`",
                        text.escape_debug()
                    ),
                )
            }),
            _ => Err(Problem::at(
                self.line,
                format!("{what} must be a whole number, found {}", self.type_name()),
            )),
        }
    }

    pub fn as_seq(&self, what: &str) -> Result<&[Node], Problem> {
        match &self.kind {
            Kind::Seq(items) => Ok(items),
            _ => Err(Problem::at(
                self.line,
                format!("{what} must be a list, found {}", self.type_name()),
            )),
        }
    }

    /// A mapping with text keys; duplicate and unknown keys become problems.
    pub fn as_map<'a>(
        &'a self,
        what: &str,
        known: &[&str],
        problems: &mut Vec<Problem>,
    ) -> Option<Fields<'a>> {
        let Kind::Map(pairs) = &self.kind else {
            problems.push(Problem::at(
                self.line,
                format!("{what} must be a mapping, found {}", self.type_name()),
            ));
            return None;
        };
        let mut fields = Fields {
            line: self.line,
            entries: Vec::with_capacity(pairs.len()),
        };
        for (k, v) in pairs {
            let Kind::Scalar { text: key, .. } = &k.kind else {
                problems.push(Problem::at(k.line, format!("{what}: keys must be text")));
                continue;
            };
            if fields.entries.iter().any(|(seen, _)| seen == key) {
                problems.push(Problem::at(
                    k.line,
                    format!("{what}: duplicate key `{key}`"),
                ));
                continue;
            }
            if !known.contains(&key.as_str()) {
                problems.push(Problem::at(
                    k.line,
                    format!(
                        "{what}: unknown key `{}` (expected one of: {})",
                        key.escape_debug(),
                        known.join(", ")
                    ),
                ));
                continue;
            }
            fields.entries.push((key.clone(), v));
        }
        Some(fields)
    }
}

/// What a plain scalar resolves to in YAML 1.2 (core schema) when it is not a string.
fn plain_non_string(text: &str) -> Option<&'static str> {
    match text {
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => Some("a boolean"),
        ".inf" | "-.inf" | "+.inf" | ".nan" | ".NaN" | ".NAN" => Some("a number"),
        _ if text.parse::<f64>().is_ok() || text.starts_with("0x") || text.starts_with("0o") => {
            Some("a number")
        }
        _ => None,
    }
}

pub struct Fields<'a> {
    pub line: usize,
    entries: Vec<(String, &'a Node)>,
}

impl<'a> Fields<'a> {
    /// The value of `key`, treating an explicit null as absent.
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
            .filter(|v| !v.is_null())
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, &'a Node)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

/// Parses one YAML document. An empty document is an error: every file we read must say
/// something.
pub fn parse(text: &str) -> Result<Node, Problem> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        return Err(Problem::at(
            m.line().max(1),
            format!("YAML syntax error: {} (column {})", e.info(), m.col() + 1),
        ));
    }
    if let Some(p) = builder.error {
        return Err(p);
    }
    match builder.docs.len() {
        0 => Err(Problem::whole("the file is empty")),
        1 => Ok(builder.docs.pop().expect("one document")),
        _ => Err(Problem::at(
            builder.docs[1].line,
            "the file holds more than one YAML document (`---`); keep one",
        )),
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<(Node, Option<Node>)>,
    docs: Vec<Node>,
    error: Option<Problem>,
}

impl Builder {
    fn push_value(&mut self, node: Node) {
        let Some((parent, pending_key)) = self.stack.last_mut() else {
            self.docs.push(node);
            return;
        };
        match &mut parent.kind {
            Kind::Seq(items) => items.push(node),
            Kind::Map(pairs) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => pairs.push((key, node)),
            },
            Kind::Scalar { .. } => unreachable!("scalars are never on the stack"),
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = mark.line().max(1);
        match ev {
            Event::Alias(_) => {
                self.error = Some(Problem::at(
                    line,
                    "YAML aliases (`*name`) are not supported; write the value out",
                ));
            }
            Event::Scalar(text, style, _, _) => self.push_value(Node {
                line,
                kind: Kind::Scalar {
                    text,
                    plain: style == TScalarStyle::Plain,
                },
            }),
            Event::SequenceStart(..) => self.stack.push((
                Node {
                    line,
                    kind: Kind::Seq(Vec::new()),
                },
                None,
            )),
            Event::MappingStart(..) => self.stack.push((
                Node {
                    line,
                    kind: Kind::Map(Vec::new()),
                },
                None,
            )),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, _)) = self.stack.pop() {
                    self.push_value(node);
                }
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        let doc = parse("a: 1\nb:\n  - x\n  - y\n").unwrap();
        let mut problems = vec![];
        let f = doc.as_map("root", &["a", "b"], &mut problems).unwrap();
        assert!(problems.is_empty());
        assert_eq!(f.get("a").unwrap().line, 1);
        let items = f.get("b").unwrap().as_seq("b").unwrap();
        assert_eq!(items[1].line, 4);
    }

    #[test]
    fn refuses_aliases_and_multiple_documents() {
        assert!(
            parse("a: &x [1]\nb: *x\n")
                .unwrap_err()
                .message
                .contains("aliases")
        );
        assert!(
            parse("a: 1\n---\nb: 2\n")
                .unwrap_err()
                .message
                .contains("more than one")
        );
        assert_eq!(parse("").unwrap_err().message, "the file is empty");
        assert!(
            parse("a: [1,\n")
                .unwrap_err()
                .message
                .starts_with("YAML syntax error")
        );
    }

    #[test]
    fn duplicate_and_unknown_keys() {
        let doc = parse("a: 1\na: 2\nzz: 3\n").unwrap();
        let mut problems = vec![];
        doc.as_map("root", &["a"], &mut problems);
        let lines: Vec<_> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![Some(2), Some(3)]);
    }

    #[test]
    fn strings_exclude_numbers_and_booleans() {
        let doc = parse("- 42\n- true\n- '42'\n- echo 1\n- 1.5\n- 0x1f\n").unwrap();
        let items = doc.as_seq("x").unwrap();
        let ok: Vec<bool> = items.iter().map(|n| n.as_string("x").is_ok()).collect();
        assert_eq!(ok, [false, false, true, true, false, false]);
    }

    #[test]
    fn scalars() {
        let doc = parse("n: 5\ns: \"5\"\nz: ~\nneg: -1\n").unwrap();
        let mut p = vec![];
        let f = doc.as_map("root", &["n", "s", "z", "neg"], &mut p).unwrap();
        assert_eq!(f.get("n").unwrap().as_u64("n").unwrap(), 5);
        assert!(f.get("s").unwrap().as_u64("s").is_err());
        assert!(f.get("z").is_none());
        assert!(f.get("neg").unwrap().as_u64("neg").is_err());
    }
}

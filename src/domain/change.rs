//! A change is one item of a release contract: what kind of change, a stable id
//! (`FEAT-001`), a title, an optional description, pipeline and assignee.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeType {
    Fix,
    Refine,
    Add,
    Remove,
}

impl ChangeType {
    pub const ALL: [ChangeType; 4] = [
        ChangeType::Fix,
        ChangeType::Refine,
        ChangeType::Add,
        ChangeType::Remove,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Fix => "fix",
            ChangeType::Refine => "refine",
            ChangeType::Add => "add",
            ChangeType::Remove => "remove",
        }
    }
}

impl FromStr for ChangeType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChangeType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("unknown change type `{s}` (expected one of fix, refine, add, remove)")
            })
    }
}

impl fmt::Display for ChangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change id: `^[A-Z][A-Z0-9]*-[0-9]+$`, ASCII only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ChangeId(String);

pub const MAX_CHANGE_ID_LEN: usize = 64;

impl ChangeId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ChangeId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "invalid change id `{}`: expected uppercase letters/digits, a dash and a number, like FEAT-001",
                s.escape_debug()
            )
        };
        if s.len() > MAX_CHANGE_ID_LEN {
            return Err(format!(
                "invalid change id: longer than {MAX_CHANGE_ID_LEN} characters"
            ));
        }
        let (prefix, number) = s.rsplit_once('-').ok_or_else(bad)?;
        let mut chars = prefix.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        let rest_ok = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        let number_ok = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
        if first_ok && rest_ok && number_ok {
            Ok(ChangeId(s.to_string()))
        } else {
            Err(bad())
        }
    }
}

impl<'de> serde::Deserialize<'de> for ChangeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ChangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    #[serde(rename = "type")]
    pub kind: ChangeType,
    pub id: ChangeId,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Pipeline that proves this change; falls back to the generation's template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// Who is to prove this change: a cloud account name (`api::accounts::check_name`).
    /// Absent, it is left out of the record entirely, so records and contracts without one
    /// keep the bytes (and hashes) they always had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
}

/// Checks a free-text title: non-empty once whitespace (including invisible characters) is
/// removed, one line, no control or bidirectional-override characters.
pub fn check_title(title: &str) -> Result<(), String> {
    check_text("title", title, 200)?;
    if title.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err("title is empty".to_string());
    }
    if title.contains('\n') {
        return Err("title must be a single line".to_string());
    }
    Ok(())
}

/// Checks free text (descriptions, titles): bounded length, no control characters other than
/// newline and tab, no bidirectional overrides that make text display differently than stored.
pub fn check_text(what: &str, text: &str, max_chars: usize) -> Result<(), String> {
    if text.chars().count() > max_chars {
        return Err(format!("{what} is longer than {max_chars} characters"));
    }
    if let Some(c) = text
        .chars()
        .find(|&c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c))
    {
        return Err(format!(
            "{what} contains the control character U+{:04X}",
            c as u32
        ));
    }
    Ok(())
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
    )
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_ids() {
        for good in ["FEAT-001", "BUG-50", "A-1", "X9Y-0", "JIRA2-12345"] {
            assert!(good.parse::<ChangeId>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "feat-1",
            "FEAT",
            "FEAT-",
            "-1",
            "1FEAT-1",
            "FEAT_1",
            "FEAT-1a",
            "FE AT-1",
            "FEAT-1-2",
            "ＦEAT-1",
            "FEAT‐1",
            "FEAT-١",
            "FEAT-001\n",
        ] {
            assert!(bad.parse::<ChangeId>().is_err(), "{bad:?}");
        }
        assert!("A".repeat(70).add_suffix().parse::<ChangeId>().is_err());
    }

    trait AddSuffix {
        fn add_suffix(self) -> String;
    }
    impl AddSuffix for String {
        fn add_suffix(self) -> String {
            self + "-1"
        }
    }

    #[test]
    fn change_types() {
        assert_eq!("fix".parse::<ChangeType>().unwrap(), ChangeType::Fix);
        assert!("Fix".parse::<ChangeType>().is_err());
        assert!("feature".parse::<ChangeType>().is_err());
    }

    #[test]
    fn titles() {
        assert!(check_title("Add login").is_ok());
        assert!(check_title("Überarbeitung 日本").is_ok());
        for bad in [
            "",
            "   ",
            "\u{200B}",
            "a\u{0007}b",
            "evil\u{202E}txt",
            "two\nlines",
        ] {
            assert!(check_title(bad).is_err(), "{bad:?}");
        }
        assert!(check_title(&"x".repeat(201)).is_err());
    }
}

//! Generations: release contracts. The contract part (what people edit in YAML) is
//! [`Contract`]; status and provenance live beside it in the store.

use std::fmt;

use sha2::{Digest, Sha256};

use super::{Change, Version};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GenerationStatus {
    Draft,
    Promoted,
    Abandoned,
}

impl GenerationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GenerationStatus::Draft => "draft",
            GenerationStatus::Promoted => "promoted",
            GenerationStatus::Abandoned => "abandoned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => GenerationStatus::Draft,
            "promoted" => GenerationStatus::Promoted,
            "abandoned" => GenerationStatus::Abandoned,
            _ => return None,
        })
    }
}

impl fmt::Display for GenerationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The editable part of a generation: exactly what its YAML file holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contract {
    pub version: Version,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_template: Option<String>,
    pub changes: Vec<Change>,
}

impl Contract {
    /// Hash of the contract's content, independent of YAML formatting and comments: the
    /// SHA-256 of its canonical JSON form, hex-encoded.
    pub fn content_hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("contract serializes");
        hex(&Sha256::digest(&json))
    }

    pub fn change(&self, id: &str) -> Option<&Change> {
        self.changes.iter().find(|c| c.id.as_str() == id)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// The first version at or after `start` (stepping patch) that `taken` does not hold;
/// `None` when every one up to the largest patch number is taken.
pub fn next_free_patch(
    start: &Version,
    mut taken: impl FnMut(&Version) -> bool,
) -> Option<Version> {
    let mut v = start.clone();
    while taken(&v) {
        v = v.next_patch()?;
    }
    Some(v)
}

/// The versions to suggest when `version` is taken: the next free patch and the next free
/// minor after it (`taken` says which versions are held), leaving out one that does not exist
/// (past the largest number a version holds). The one rule for the command line and the
/// cloud, so both suggest the same.
pub fn free_versions(version: &Version, mut taken: impl FnMut(&Version) -> bool) -> Vec<Version> {
    let patch = version
        .next_patch()
        .and_then(|start| next_free_patch(&start, &mut taken));
    let mut minor = version.next_minor();
    while let Some(m) = minor.take_if(|m| taken(m)) {
        minor = m.next_minor();
    }
    patch.into_iter().chain(minor).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChangeType;

    fn contract() -> Contract {
        Contract {
            version: "1.0.0".parse().unwrap(),
            description: "first".into(),
            pipeline_template: None,
            changes: vec![Change {
                kind: ChangeType::Add,
                id: "FEAT-1".parse().unwrap(),
                title: "One".into(),
                description: None,
                pipeline: None,
                assignee: None,
            }],
        }
    }

    #[test]
    fn content_hash_tracks_content() {
        let a = contract();
        let mut b = contract();
        assert_eq!(a.content_hash(), b.content_hash());
        assert_eq!(a.content_hash().len(), 64);
        b.changes[0].title.push('!');
        assert_ne!(a.content_hash(), b.content_hash());
    }

    #[test]
    fn next_free_patch_skips_taken() {
        let taken: Vec<Version> = ["1.0.1", "1.0.2"]
            .iter()
            .map(|v| v.parse().unwrap())
            .collect();
        let start: Version = "1.0.1".parse().unwrap();
        assert_eq!(
            next_free_patch(&start, |v| taken.contains(v)).map(|v| v.to_string()),
            Some("v1.0.3".to_string())
        );
        let free: Version = "2.0.0".parse().unwrap();
        assert_eq!(next_free_patch(&free, |v| taken.contains(v)), Some(free));
        // Every patch up to the largest taken: none is free, and the search ends.
        let last: Version = "1.0.18446744073709551614".parse().unwrap();
        assert_eq!(next_free_patch(&last, |_| true), None);
    }

    #[test]
    fn free_versions_skip_every_taken_patch_and_minor() {
        let held =
            |list: &[&str]| -> Vec<Version> { list.iter().map(|v| v.parse().unwrap()).collect() };
        for (version, taken, expected) in [
            ("1.0.0", held(&["1.0.0"]), vec!["v1.0.1", "v1.1.0"]),
            ("1.0.0", held(&["1.0.0", "1.0.1"]), vec!["v1.0.2", "v1.1.0"]),
            (
                "1.0.0",
                held(&["1.0.1", "1.0.2", "1.1.0", "1.2.0"]),
                vec!["v1.0.3", "v1.3.0"],
            ),
            ("2.3.4", held(&[]), vec!["v2.3.5", "v2.4.0"]),
            // Past the largest number there is nothing to suggest, never a wrapped 0.
            (
                "1.0.18446744073709551615",
                held(&["1.0.18446744073709551615"]),
                vec!["v1.1.0"],
            ),
            (
                "1.18446744073709551615.7",
                held(&["1.18446744073709551615.8"]),
                vec!["v1.18446744073709551615.9"],
            ),
            (
                "1.18446744073709551615.18446744073709551615",
                held(&[]),
                vec![],
            ),
        ] {
            let v: Version = version.parse().unwrap();
            let got: Vec<String> = free_versions(&v, |c| taken.contains(c))
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(got, expected, "{version} with {taken:?} taken");
        }
    }
}

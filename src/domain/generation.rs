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

/// The first version at or after `start` (stepping patch) that `taken` does not hold.
pub fn next_free_patch(start: &Version, mut taken: impl FnMut(&Version) -> bool) -> Version {
    let mut v = start.clone();
    while taken(&v) {
        v = v.next_patch();
    }
    v
}

/// The versions to suggest when `version` is taken: the next free patch and the next free
/// minor after it (`taken` says which versions are held). The one rule for the command line
/// and the cloud, so both suggest the same.
pub fn free_versions(version: &Version, mut taken: impl FnMut(&Version) -> bool) -> [Version; 2] {
    let patch = next_free_patch(&version.next_patch(), &mut taken);
    let mut minor = version.next_minor();
    while taken(&minor) {
        minor = minor.next_minor();
    }
    [patch, minor]
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
            next_free_patch(&start, |v| taken.contains(v)).to_string(),
            "v1.0.3"
        );
        let free: Version = "2.0.0".parse().unwrap();
        assert_eq!(next_free_patch(&free, |v| taken.contains(v)), free);
    }

    #[test]
    fn free_versions_skip_every_taken_patch_and_minor() {
        let held =
            |list: &[&str]| -> Vec<Version> { list.iter().map(|v| v.parse().unwrap()).collect() };
        for (version, taken, expected) in [
            ("1.0.0", held(&["1.0.0"]), ["v1.0.1", "v1.1.0"]),
            ("1.0.0", held(&["1.0.0", "1.0.1"]), ["v1.0.2", "v1.1.0"]),
            (
                "1.0.0",
                held(&["1.0.1", "1.0.2", "1.1.0", "1.2.0"]),
                ["v1.0.3", "v1.3.0"],
            ),
            ("2.3.4", held(&[]), ["v2.3.5", "v2.4.0"]),
        ] {
            let v: Version = version.parse().unwrap();
            let got = free_versions(&v, |c| taken.contains(c)).map(|v| v.to_string());
            assert_eq!(got, expected, "{version} with {taken:?} taken");
        }
    }
}

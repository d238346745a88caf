//! Release versions. `1.2.0` and `v1.2.0` name the same version; it is always shown with a
//! leading `v`. Only plain `X.Y.Z` is accepted: no pre-release or build suffixes (rc tags are
//! derived from evolutions, never typed as versions).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(semver::Version);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version `{input}`: {reason}")]
pub struct VersionError {
    pub input: String,
    pub reason: &'static str,
}

impl Version {
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version(semver::Version::new(major, minor, patch))
    }

    pub fn major(&self) -> u64 {
        self.0.major
    }
    pub fn minor(&self) -> u64 {
        self.0.minor
    }
    pub fn patch(&self) -> u64 {
        self.0.patch
    }

    /// `X.Y.(Z+1)`; `None` when Z is the largest number a version holds (2^64 − 1).
    pub fn next_patch(&self) -> Option<Version> {
        let patch = self.patch().checked_add(1)?;
        Some(Version::new(self.major(), self.minor(), patch))
    }

    /// `X.(Y+1).0`; `None` when Y is the largest number a version holds (2^64 − 1).
    pub fn next_minor(&self) -> Option<Version> {
        let minor = self.minor().checked_add(1)?;
        Some(Version::new(self.major(), minor, 0))
    }

    /// The contract file name for this version: `vX.Y.Z.yaml`.
    pub fn file_name(&self) -> String {
        format!("{self}.yaml")
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| VersionError {
            input: input.to_string(),
            reason,
        };
        let body = input.strip_prefix('v').unwrap_or(input);
        // The common case without allocating: three numbers, no leading zero, each fits.
        if let Some(v) = plain(body) {
            return Ok(v);
        }
        if body.is_empty() {
            return Err(err("expected X.Y.Z, for example 1.2.0 or v1.2.0"));
        }
        if !body.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(err(
                "expected X.Y.Z with digits only, for example 1.2.0 or v1.2.0 (no pre-release or build suffix)",
            ));
        }
        let parts: Vec<&str> = body.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(err(
                "expected exactly three numbers X.Y.Z, for example 1.2.0 or v1.2.0",
            ));
        }
        semver::Version::parse(body)
            .map(Version)
            .map_err(|_| err("numbers must not have leading zeros and must fit in 64 bits"))
    }
}

/// `X.Y.Z` (digits only, no leading zeros, each fitting in 64 bits) as a version; `None`
/// for anything else, which [`Version::from_str`] then explains.
fn plain(body: &str) -> Option<Version> {
    let mut parts = body.split('.');
    let mut number = || {
        let p = parts.next()?;
        let leading_zero = p.len() > 1 && p.starts_with('0');
        if p.is_empty() || leading_zero || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse::<u64>().ok()
    };
    let v = Version::new(number()?, number()?, number()?);
    parts.next().is_none().then_some(v)
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_with_and_without_v() {
        for (input, shown) in [
            ("1.2.0", "v1.2.0"),
            ("v1.2.0", "v1.2.0"),
            ("0.0.0", "v0.0.0"),
            ("v10.20.30", "v10.20.30"),
            ("0.10.100", "v0.10.100"),
            (
                "18446744073709551615.0.18446744073709551615",
                "v18446744073709551615.0.18446744073709551615",
            ),
        ] {
            // The same as semver's own reading of it.
            let semver = semver::Version::parse(input.trim_start_matches('v')).unwrap();
            assert_eq!(
                input.parse::<Version>().unwrap(),
                Version(semver),
                "{input}"
            );
            assert_eq!(
                input.parse::<Version>().unwrap().to_string(),
                shown,
                "{input}"
            );
        }
        assert_eq!(
            "1.2.0".parse::<Version>().unwrap(),
            "v1.2.0".parse::<Version>().unwrap()
        );
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "v",
            "1.2",
            "v1.2.3.4",
            "latest",
            "1.2.x",
            "01.2.3",
            "1.02.3",
            "1.2.00",
            "1.2.3.",
            ".1.2.3",
            "1.2.3-rc.1",
            "1.2.3+build",
            "V1.2.3",
            " 1.2.3",
            "1.2.3 ",
            "vv1.2.3",
            "1..3",
            "-1.2.3",
            "99999999999999999999.0.0",
            "１.２.３",
        ] {
            let err = bad.parse::<Version>().unwrap_err();
            assert_eq!(err.input, bad);
        }
    }

    #[test]
    fn orders_numerically_and_steps() {
        let a: Version = "1.9.0".parse().unwrap();
        let b: Version = "1.10.0".parse().unwrap();
        assert!(a < b);
        assert_eq!(a.next_patch().unwrap().to_string(), "v1.9.1");
        assert_eq!(a.next_minor().unwrap().to_string(), "v1.10.0");
        assert_eq!(a.file_name(), "v1.9.0.yaml");
        // The largest numbers have no successor (no overflow, no wrapping to 0).
        let top: Version = "1.18446744073709551615.18446744073709551615"
            .parse()
            .unwrap();
        assert_eq!(top.next_patch(), None);
        assert_eq!(top.next_minor(), None);
    }
}

//! Evolutions: one attempt to prove one change. Status moves `pending → running → pass|fail`
//! (a pending evolution may also be decided directly); rc tags number the attempts of a
//! version from 1.

use std::fmt;

use super::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvolutionStatus {
    Pending,
    Running,
    Pass,
    Fail,
}

impl EvolutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EvolutionStatus::Pending => "pending",
            EvolutionStatus::Running => "running",
            EvolutionStatus::Pass => "pass",
            EvolutionStatus::Fail => "fail",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => EvolutionStatus::Pending,
            "running" => EvolutionStatus::Running,
            "pass" => EvolutionStatus::Pass,
            "fail" => EvolutionStatus::Fail,
            _ => return None,
        })
    }

    pub fn is_completed(self) -> bool {
        matches!(self, EvolutionStatus::Pass | EvolutionStatus::Fail)
    }
}

impl fmt::Display for EvolutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `vX.Y.Z-rc.N`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcTag {
    pub version: Version,
    pub rc: u32,
}

impl RcTag {
    /// The tag after the highest one used so far for a version; `None` when the highest is
    /// the largest rc number (2^32 − 1).
    pub fn next(version: &Version, highest_rc: Option<u32>) -> Option<RcTag> {
        Some(RcTag {
            version: version.clone(),
            rc: highest_rc.unwrap_or(0).checked_add(1)?,
        })
    }

    pub fn parse(s: &str) -> Option<RcTag> {
        let (version, rc) = s.split_once("-rc.")?;
        let rc: u32 = rc.parse().ok().filter(|n| *n > 0)?;
        if rc.to_string().len() != s.len() - version.len() - 4 {
            return None; // leading zeros or sign
        }
        Some(RcTag {
            version: version.parse().ok()?,
            rc,
        })
    }
}

impl fmt::Display for RcTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-rc.{}", self.version, self.rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rc_numbering() {
        let v: Version = "2.0.0".parse().unwrap();
        let next = |highest| RcTag::next(&v, highest).map(|t| t.to_string());
        assert_eq!(next(None).as_deref(), Some("v2.0.0-rc.1"));
        assert_eq!(next(Some(1)).as_deref(), Some("v2.0.0-rc.2"));
        assert_eq!(next(Some(41)).as_deref(), Some("v2.0.0-rc.42"));
        assert_eq!(
            next(Some(u32::MAX - 1)).as_deref(),
            Some("v2.0.0-rc.4294967295")
        );
        assert_eq!(next(Some(u32::MAX)), None, "no rc after the largest");
    }

    #[test]
    fn rc_parse() {
        let t = RcTag::parse("v1.2.3-rc.7").unwrap();
        assert_eq!((t.version.to_string(), t.rc), ("v1.2.3".into(), 7));
        assert_eq!(
            RcTag::parse("1.2.3-rc.7").unwrap().to_string(),
            "v1.2.3-rc.7"
        );
        for bad in [
            "v1.2.3",
            "v1.2.3-rc.",
            "v1.2.3-rc.0",
            "v1.2.3-rc.07",
            "v1.2-rc.1",
            "v1.2.3-rc.+1",
            "x-rc.1",
        ] {
            assert!(RcTag::parse(bad).is_none(), "{bad}");
        }
    }
}

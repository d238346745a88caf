//! Promotion gates, evaluated on a snapshot of a generation's changes and their evolutions.
//! The server runs the same function on its own data, so the rules live here once.

use super::EvolutionStatus;

/// What the gates need to know about one change: its evolutions in the order they were
/// started (oldest first).
#[derive(Debug, Clone)]
pub struct ChangeProof<'a> {
    pub change_id: &'a str,
    pub evolutions: Vec<EvolutionStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GateResult {
    pub gate: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// The gates' input: one proof per change id, in the order given, each with the statuses of
/// its evolutions taken from `evolutions` (`(change id, status)` rows, oldest first).
pub fn proofs<'a, 'e>(
    change_ids: impl IntoIterator<Item = &'a str>,
    evolutions: impl IntoIterator<Item = (&'e str, EvolutionStatus)>,
) -> Vec<ChangeProof<'a>> {
    let mut proofs: Vec<ChangeProof<'a>> = change_ids
        .into_iter()
        .map(|change_id| ChangeProof {
            change_id,
            evolutions: Vec::new(),
        })
        .collect();
    // Where each change id is (every place, should an id be listed twice): one lookup per
    // evolution, not a pass over the changes.
    let mut at: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (i, p) in proofs.iter().enumerate() {
        at.entry(p.change_id).or_default().push(i);
    }
    for (change_id, status) in evolutions {
        for &i in at.get(change_id).map_or(&[][..], Vec::as_slice) {
            proofs[i].evolutions.push(status);
        }
    }
    proofs
}

/// Runs every gate (never stops at the first failure, so the user sees all of them).
pub fn evaluate(changes: &[ChangeProof<'_>], min_evolutions: Option<u32>) -> Vec<GateResult> {
    let mut results = Vec::new();

    let unproven: Vec<&str> = changes
        .iter()
        .filter(|c| !c.evolutions.contains(&EvolutionStatus::Pass))
        .map(|c| c.change_id)
        .collect();
    results.push(GateResult {
        gate: "every change has a passing evolution",
        passed: unproven.is_empty() && !changes.is_empty(),
        detail: if changes.is_empty() {
            "the contract has no changes".to_string()
        } else if unproven.is_empty() {
            format!("{} of {} changes proven", changes.len(), changes.len())
        } else {
            format!("not proven: {}", unproven.join(", "))
        },
    });

    let failing: Vec<&str> = changes
        .iter()
        .filter(|c| {
            c.evolutions.iter().rev().find(|s| s.is_completed()) == Some(&EvolutionStatus::Fail)
        })
        .map(|c| c.change_id)
        .collect();
    results.push(GateResult {
        gate: "no change's latest completed evolution failed",
        passed: failing.is_empty(),
        detail: if failing.is_empty() {
            "no failing latest evolution".to_string()
        } else {
            format!("latest evolution failed: {}", failing.join(", "))
        },
    });

    if let Some(min) = min_evolutions.filter(|m| *m > 0) {
        let short: Vec<String> = changes
            .iter()
            .filter_map(|c| {
                let n = c.evolutions.iter().filter(|s| s.is_completed()).count();
                (n < min as usize).then(|| format!("{} ({n})", c.change_id))
            })
            .collect();
        results.push(GateResult {
            gate: "minimum completed evolutions per change",
            passed: short.is_empty(),
            detail: if short.is_empty() {
                format!("every change has at least {min}")
            } else {
                format!("fewer than {min}: {}", short.join(", "))
            },
        });
    }
    results
}

pub fn all_passed(results: &[GateResult]) -> bool {
    results.iter().all(|r| r.passed)
}

#[cfg(test)]
mod tests {
    use super::EvolutionStatus::{Fail, Pass, Pending, Running};
    use super::*;

    fn proof(id: &str, evs: &[EvolutionStatus]) -> ChangeProof<'static> {
        ChangeProof {
            change_id: Box::leak(id.to_string().into_boxed_str()),
            evolutions: evs.to_vec(),
        }
    }

    #[test]
    fn proofs_group_each_changes_evolutions_in_order() {
        let rows = [
            ("B", Fail),
            ("A", Pass),
            ("X", Pass),
            ("B", Pass),
            ("A", Fail),
        ];
        let got = proofs(["A", "B", "C"], rows);
        let got: Vec<(&str, Vec<EvolutionStatus>)> = got
            .into_iter()
            .map(|p| (p.change_id, p.evolutions))
            .collect();
        assert_eq!(
            got,
            vec![
                ("A", vec![Pass, Fail]),
                ("B", vec![Fail, Pass]),
                ("C", vec![]),
            ]
        );
        // An id listed twice gets its evolutions in both places.
        let twice = proofs(["A", "A"], [("A", Pass)]);
        assert!(
            twice.iter().all(|p| p.evolutions == vec![Pass]),
            "{twice:?}"
        );
    }

    fn passed(changes: &[ChangeProof<'_>], min: Option<u32>) -> Vec<bool> {
        evaluate(changes, min).iter().map(|r| r.passed).collect()
    }

    #[test]
    fn table() {
        type Case<'a> = (
            &'a [(&'a str, &'a [EvolutionStatus])],
            Option<u32>,
            &'a [bool],
        );
        let cases: &[Case<'_>] = &[
            (&[("A-1", &[Pass])], None, &[true, true]),
            (&[("A-1", &[])], None, &[false, true]),
            (&[], None, &[false, true]),
            (
                &[("A-1", &[Pass]), ("B-1", &[Pending])],
                None,
                &[false, true],
            ),
            // a failure after a pass blocks promotion
            (&[("A-1", &[Pass, Fail])], None, &[true, false]),
            // a pass after a failure clears it
            (&[("A-1", &[Fail, Pass])], None, &[true, true]),
            // a running or pending attempt after a failure does not clear it
            (&[("A-1", &[Pass, Fail, Running])], None, &[true, false]),
            (&[("A-1", &[Pass, Pending])], None, &[true, true]),
            (&[("A-1", &[Pass])], Some(2), &[true, true, false]),
            (&[("A-1", &[Fail, Pass])], Some(2), &[true, true, true]),
            (&[("A-1", &[Pass])], Some(0), &[true, true]),
        ];
        for (changes, min, expected) in cases {
            let proofs: Vec<_> = changes.iter().map(|(id, evs)| proof(id, evs)).collect();
            assert_eq!(&passed(&proofs, *min), expected, "{changes:?} min={min:?}");
        }
    }

    #[test]
    fn details_name_the_changes() {
        let r = evaluate(&[proof("A-1", &[]), proof("B-2", &[Pass, Fail])], None);
        assert_eq!(r[0].detail, "not proven: A-1");
        assert_eq!(r[1].detail, "latest evolution failed: B-2");
        assert!(!all_passed(&r));
    }
}

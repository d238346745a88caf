//! Evolution code names: `adjective-adjective-noun`, drawn from fixed word lists with a
//! caller-supplied RNG (seeded in tests, so names are stable).

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "ancient", "autumn", "bold", "brave", "bright", "brisk", "calm", "clever",
    "cosmic", "crimson", "crisp", "daring", "dawn", "deep", "eager", "early", "electric",
    "emerald", "fancy", "fierce", "frosty", "gentle", "gilded", "glad", "golden", "grand", "happy",
    "hidden", "hollow", "humble", "icy", "jolly", "keen", "kind", "lively", "lucky", "lunar",
    "mellow", "merry", "misty", "modest", "noble", "odd", "patient", "polar", "proud", "quick",
    "quiet", "rapid", "rustic", "silent", "silver", "sleek", "snowy", "solar", "steady", "swift",
    "tidy", "velvet", "vivid", "wild", "witty",
];

const NOUNS: &[&str] = &[
    "badger", "beacon", "bison", "canyon", "cedar", "comet", "condor", "coral", "crane", "delta",
    "dolphin", "ember", "falcon", "fjord", "forest", "fox", "glacier", "harbor", "hawk", "heron",
    "island", "jaguar", "lagoon", "lantern", "lynx", "maple", "meadow", "meteor", "moose",
    "nebula", "oak", "orbit", "otter", "owl", "panda", "pebble", "pine", "prairie", "quartz",
    "raven", "reef", "river", "robin", "salmon", "sequoia", "sparrow", "spruce", "summit",
    "thistle", "tiger", "tundra", "valley", "walrus", "willow", "wolf", "yak", "zephyr", "aurora",
    "breeze", "cliff", "dune", "geyser", "marsh", "tern",
];

/// One random code name. Callers retry while the name is taken; with 262,144 combinations a
/// handful of draws is enough even in large stores.
pub fn generate(rng: &mut fastrand::Rng) -> String {
    let a = ADJECTIVES[rng.usize(..ADJECTIVES.len())];
    let mut b = ADJECTIVES[rng.usize(..ADJECTIVES.len())];
    while b == a {
        b = ADJECTIVES[rng.usize(..ADJECTIVES.len())];
    }
    let n = NOUNS[rng.usize(..NOUNS.len())];
    format!("{a}-{b}-{n}")
}

/// Draws until `taken` says no; falls back to a numeric suffix after many collisions so the
/// loop always ends.
pub fn generate_unique(rng: &mut fastrand::Rng, mut taken: impl FnMut(&str) -> bool) -> String {
    for _ in 0..1000 {
        let name = generate(rng);
        if !taken(&name) {
            return name;
        }
    }
    let base = generate(rng);
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|name| !taken(name))
        .expect("an unbounded range always yields a free name")
}

/// Whether `s` looks like a code name (three or four dash-separated lowercase words).
pub fn looks_like(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    (3..=4).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_names_are_stable_and_well_formed() {
        let a = generate(&mut fastrand::Rng::with_seed(7));
        let b = generate(&mut fastrand::Rng::with_seed(7));
        assert_eq!(a, b);
        assert!(looks_like(&a), "{a}");
        let parts: Vec<&str> = a.split('-').collect();
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn unique_skips_taken_names() {
        let first = generate(&mut fastrand::Rng::with_seed(1));
        let name = generate_unique(&mut fastrand::Rng::with_seed(1), |n| n == first);
        assert_ne!(name, first);
        let always = generate_unique(&mut fastrand::Rng::with_seed(1), |n| !n.ends_with("-2"));
        assert!(always.ends_with("-2"));
    }

    #[test]
    fn word_lists_have_no_duplicates() {
        for list in [ADJECTIVES, NOUNS] {
            let mut v = list.to_vec();
            v.sort();
            v.dedup();
            assert_eq!(v.len(), list.len());
        }
    }
}

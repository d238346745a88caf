//! Time and randomness: the only places that read `GRYT_NOW` and `GRYT_SEED`, which tests
//! set so that timestamps, ids and code names are stable.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current time, or `GRYT_NOW` (RFC 3339) when set.
pub fn now() -> OffsetDateTime {
    std::env::var("GRYT_NOW")
        .ok()
        .and_then(|s| OffsetDateTime::parse(&s, &Rfc3339).ok())
        .unwrap_or_else(OffsetDateTime::now_utc)
}

/// RFC 3339, UTC, whole seconds: the format of every timestamp gryt stores.
pub fn format(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond");
    t.format(&Rfc3339).expect("RFC 3339 formats any UTC time")
}

/// Whether `s` is a timestamp as gryt stores them (RFC 3339).
pub fn is_timestamp(s: &str) -> bool {
    OffsetDateTime::parse(s, &Rfc3339).is_ok()
}

pub fn now_string() -> String {
    format(now())
}

/// A random source. With `GRYT_SEED` it is deterministic, mixed with `salt` (a number that
/// grows with the store's history) so successive commands still draw different values.
pub fn rng(salt: u64) -> fastrand::Rng {
    match std::env::var("GRYT_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(seed) => fastrand::Rng::with_seed(seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        None => fastrand::Rng::new(),
    }
}

/// A new record id: a UUIDv7 (time-ordered) from real randomness, whatever `GRYT_SEED`
/// says. Ids travel to the cloud and must never collide between workspaces, so they are
/// never seeded (they are not shown in normal output, so tests stay stable without it).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

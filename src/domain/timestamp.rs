//! The one timestamp format gryt and Gryt Cloud store and send: RFC 3339, UTC, whole seconds
//! (`2026-03-01T12:00:00Z`). Such strings sort in time order.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `t` in UTC, whole seconds, as RFC 3339.
pub fn format(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond");
    t.format(&Rfc3339).expect("RFC 3339 formats any UTC time")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_whole_seconds() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_772_366_400_123_456_789).unwrap();
        assert_eq!(format(t), "2026-03-01T12:00:00Z");
        let east = t.to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(format(east), "2026-03-01T12:00:00Z");
    }
}

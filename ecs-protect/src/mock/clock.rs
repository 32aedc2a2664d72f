//! The fake AWS's clock (real time plus a settable skew) and the date formats it answers in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::aws::civil::to_civil;

/// `time` moved by `skew_secs` (positive: the fake's clock is ahead of the real one).
pub(crate) fn skewed(time: SystemTime, skew_secs: i64) -> SystemTime {
    let by = Duration::from_secs(skew_secs.unsigned_abs());
    if skew_secs >= 0 {
        time + by
    } else {
        time.checked_sub(by).unwrap_or(UNIX_EPOCH)
    }
}

/// Milliseconds past the second, and the weekday (0 = Sunday), of `time` (after 1970).
fn millis_and_weekday(time: SystemTime) -> (u32, usize) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    // 1970-01-01 was a Thursday.
    let weekday = (since.as_secs() / 86_400 + 4) % 7;
    (since.subsec_millis(), weekday as usize)
}

/// RFC 3339 in UTC with milliseconds, trailing zeros dropped (as the ECS agent writes
/// `ExpirationDate`), e.g. `2026-11-24T21:57:44.8Z`, `2026-11-24T21:57:44Z`.
pub(crate) fn rfc3339_millis(time: SystemTime) -> String {
    let (year, month, day, hour, minute, second) = to_civil(time);
    let (millis, _) = millis_and_weekday(time);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if millis > 0 {
        let fraction = format!("{millis:03}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// RFC 3339 in UTC to the second, as the credentials endpoint writes `Expiration`.
pub(crate) fn rfc3339_secs(time: SystemTime) -> String {
    let (year, month, day, hour, minute, second) = to_civil(time);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// The HTTP `Date` form (RFC 9110 IMF-fixdate), e.g. `Sun, 30 Aug 2015 12:36:00 GMT`.
pub(crate) fn http_date(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day, hour, minute, second) = to_civil(time);
    let (_, weekday) = millis_and_weekday(time);
    let weekday = DAYS.get(weekday).copied().unwrap_or("Sun");
    let month = MONTHS
        .get((month as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("Jan");
    format!("{weekday}, {day:02} {month} {year:04} {hour:02}:{minute:02}:{second:02} GMT")
}

/// Seconds since the epoch with millisecond precision, as ECS writes `expirationDate`.
pub(crate) fn epoch_seconds(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_millis() as f64) / 1000.0,
        Err(e) => -(e.duration().as_millis() as f64) / 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(millis)
    }

    #[test]
    fn formats() {
        let t = at(1_440_938_160_000);
        assert_eq!(http_date(t), "Sun, 30 Aug 2015 12:36:00 GMT");
        assert_eq!(rfc3339_secs(t), "2015-08-30T12:36:00Z");
        assert_eq!(rfc3339_millis(t), "2015-08-30T12:36:00Z");
        assert_eq!(
            rfc3339_millis(at(1_440_938_160_800)),
            "2015-08-30T12:36:00.8Z"
        );
        assert_eq!(
            rfc3339_millis(at(1_440_938_160_837)),
            "2015-08-30T12:36:00.837Z"
        );
        assert_eq!(http_date(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(epoch_seconds(at(1_764_019_800_123)), 1_764_019_800.123);
    }

    #[test]
    fn skew_moves_both_ways() {
        let t = at(1_000_000);
        assert_eq!(skewed(t, 900), at(1_900_000));
        assert_eq!(skewed(t, -900), at(100_000));
        assert_eq!(skewed(t, -1_000), UNIX_EPOCH);
    }
}

//! Calendar arithmetic shared by every date format on the wire (SigV4's `X-Amz-Date`,
//! RFC 3339, HTTP dates): proleptic Gregorian dates to and from day counts, after Howard
//! Hinnant's `days_from_civil`/`civil_from_days`
//! (<http://howardhinnant.github.io/date_algorithms.html>), without a date crate.
//!
//! One overflow policy: a time is first turned into whole seconds since the epoch, floored
//! and saturating at the `i64` range; day counts are clamped to ±2^40 (about ±3 billion
//! years, far outside any clock) so the arithmetic cannot overflow; turning fields back
//! into a `SystemTime` checks every field and refuses years outside 1970-9999 (the wire
//! formats have four-digit years).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Day counts are clamped to this magnitude before any arithmetic.
const DAY_LIMIT: i64 = 1 << 40;

/// Days since 1970-01-01 of a date; `month` in 1-12 (callers check the fields).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year.clamp(-DAY_LIMIT / 366, DAY_LIMIT / 366);
    let m = i64::from(month);
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400; // [0, 399]
    let march_month = if m > 2 { m - 3 } else { m + 9 }; // [0, 11]
    let day_of_year = (153 * march_month + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (year, month 1-12, day 1-31) of the day `days` after 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.clamp(-DAY_LIMIT, DAY_LIMIT) + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let mp = (5 * day_of_year + 2) / 153; // [0, 11], March-based
    let day = day_of_year - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are in range by construction; the fallbacks are never taken.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// The number of days in `month` (1-12) of `year`.
pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Whole seconds since the Unix epoch, floored (0.5 s before it is second -1) and
/// saturating at the `i64` range.
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            if before.subsec_nanos() > 0 {
                -whole.saturating_add(1)
            } else {
                -whole
            }
        }
    }
}

/// The UTC calendar fields of `time`: (year, month, day, hour, minute, second).
pub(crate) fn to_civil(time: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = unix_seconds(time);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = u32::try_from(secs.rem_euclid(86_400)).unwrap_or(0);
    (year, month, day, rem / 3600, rem / 60 % 60, rem % 60)
}

/// A UTC calendar time checked field by field, as a `SystemTime`; `None` when a field is
/// out of range (a year outside 1970-9999, a day past the month's end, hour 24, ...). A
/// leap second (`:60`) counts as `:59`.
pub(crate) fn from_civil(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<SystemTime> {
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let secs = days_from_civil(year, month, day)
        .checked_mul(86_400)?
        .checked_add(i64::from(hour * 3600 + minute * 60 + second.min(59)))?;
    UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_a_day_by_day_count_over_four_centuries() {
        // Walk day by day from 1970 and compare both directions with the closed forms.
        let (mut year, mut month, mut day) = (1970_i64, 1_u32, 1_u32);
        for days in 0..146_097_i64 {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            assert_eq!(
                days_from_civil(year, month, day),
                days,
                "{year}-{month}-{day}"
            );
            day += 1;
            if day > days_in_month(year, month) {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }

    #[test]
    fn one_overflow_policy_at_the_extremes() {
        // Far outside any clock: clamped, no panic, no overflow.
        let (year, month, day) = civil_from_days(i64::MAX);
        assert!(year > 3_000_000_000 && (1..=12).contains(&month) && (1..=31).contains(&day));
        let (year, _, _) = civil_from_days(i64::MIN);
        assert!(year < -3_000_000_000);
        let _ = days_from_civil(i64::MAX, 12, 31);
        let _ = days_from_civil(i64::MIN, 1, 1);
        assert_eq!(from_civil(i64::MAX, 12, 31, 23, 59, 59), None);
        assert_eq!(from_civil(1969, 12, 31, 23, 59, 59), None);
        assert!(from_civil(9999, 12, 31, 23, 59, 59).is_some());
        assert_eq!(from_civil(2023, 2, 29, 0, 0, 0), None);
        assert_eq!(
            from_civil(2024, 2, 29, 0, 0, 60),
            from_civil(2024, 2, 29, 0, 0, 59)
        );
        // Before the epoch: floored seconds, fields of the day before.
        let before = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(unix_seconds(before), -1);
        assert_eq!(to_civil(before), (1969, 12, 31, 23, 59, 59));
        assert_eq!(to_civil(UNIX_EPOCH), (1970, 1, 1, 0, 0, 0));
    }
}

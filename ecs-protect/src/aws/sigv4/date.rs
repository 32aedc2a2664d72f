//! `SystemTime` to the SigV4 basic ISO 8601 form `YYYYMMDD'T'HHMMSS'Z'`, by civil-from-days
//! arithmetic (no date crate).

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `time` as SigV4's `X-Amz-Date` value, `YYYYMMDD'T'HHMMSS'Z'` in UTC.
///
/// Sub-second precision is dropped (truncated, as the SDKs do). Times before 1970 are
/// formatted too (proleptic Gregorian calendar).
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use ecs_protect::sigv4::format_amz_date;
///
/// let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
/// assert_eq!(format_amz_date(time), "20150830T123600Z");
/// ```
pub fn format_amz_date(time: SystemTime) -> String {
    let seconds = unix_seconds(time);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Parses an `X-Amz-Date` value, `YYYYMMDD'T'HHMMSS'Z'`, back into a `SystemTime`.
///
/// Returns `None` unless `text` is exactly that form with a real date and time (seconds up
/// to 60 are accepted for leap seconds) no earlier than 1970. A server (such as the fake AWS)
/// uses it to re-sign a received request at the time the client signed it.
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use ecs_protect::sigv4::{format_amz_date, parse_amz_date};
///
/// let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
/// assert_eq!(parse_amz_date("20150830T123600Z"), Some(time));
/// assert_eq!(parse_amz_date(&format_amz_date(time)), Some(time));
/// assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
/// ```
pub fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // Reject days past the month's end (e.g. 20230230) by the round trip.
    let (y, m, d) = civil_from_days(days);
    if (y, i64::from(m), i64::from(d)) != (year, month, day) {
        return None;
    }
    let seconds = u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()?;
    UNIX_EPOCH.checked_add(std::time::Duration::from_secs(seconds))
}

/// Days since 1970-01-01 of a (proleptic Gregorian) date, after Howard Hinnant's
/// `days_from_civil`; `month` in 1-12, `year` in 0-9999.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400; // [0, 399]
    let march_month = if month > 2 { month - 3 } else { month + 9 }; // [0, 11]
    let day_of_year = (153 * march_month + 2) / 5 + day - 1; // [0, 365]
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Whole seconds since the Unix epoch, negative before it (floored).
fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            // Floor: 0.5 s before the epoch is in second -1.
            if before.subsec_nanos() > 0 {
                -whole.saturating_add(1)
            } else {
                -whole
            }
        }
    }
}

/// (year, month 1-12, day 1-31) of the day `days` after 1970-01-01, after Howard Hinnant's
/// `civil_from_days` (http://howardhinnant.github.io/date_algorithms.html).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Clamp far outside any real clock so the arithmetic below cannot overflow.
    let z = days.clamp(-(1 << 40), 1 << 40) + 719_468;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn formats_the_suite_timestamp() {
        assert_eq!(format_amz_date(at(1_440_938_160)), "20150830T123600Z");
    }

    #[test]
    fn formats_the_epoch_and_drops_subseconds() {
        assert_eq!(format_amz_date(UNIX_EPOCH), "19700101T000000Z");
        assert_eq!(
            format_amz_date(UNIX_EPOCH + Duration::from_millis(999)),
            "19700101T000000Z"
        );
    }

    #[test]
    fn handles_leap_days_and_year_ends() {
        assert_eq!(format_amz_date(at(951_782_400)), "20000229T000000Z"); // 400-year leap day
        assert_eq!(format_amz_date(at(4_107_542_399)), "21000228T235959Z"); // 2100 is not leap
        assert_eq!(format_amz_date(at(4_107_542_400)), "21000301T000000Z");
        assert_eq!(format_amz_date(at(1_709_164_800)), "20240229T000000Z");
        assert_eq!(format_amz_date(at(1_735_689_599)), "20241231T235959Z");
        assert_eq!(format_amz_date(at(1_735_689_600)), "20250101T000000Z");
    }

    #[test]
    fn formats_times_before_the_epoch() {
        assert_eq!(
            format_amz_date(UNIX_EPOCH - Duration::from_secs(1)),
            "19691231T235959Z"
        );
        assert_eq!(
            format_amz_date(UNIX_EPOCH - Duration::from_millis(500)),
            "19691231T235959Z"
        );
    }

    #[test]
    fn parses_what_it_formats() {
        for seconds in [0, 951_782_400, 1_440_938_160, 1_735_689_599, 4_107_542_400] {
            assert_eq!(
                parse_amz_date(&format_amz_date(at(seconds))),
                Some(at(seconds))
            );
        }
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            "",
            "20150830T123600",
            "20150830 123600Z",
            "2015083OT123600Z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20150800T123600Z",
            "20150830T243600Z",
            "20150830T126000Z",
            "19691231T235959Z",
            "+0150830T123600Z",
            "20150830T123600Z ",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn agrees_with_a_day_by_day_count_over_four_centuries() {
        // Walk day by day from 1970 and compare with the closed form.
        let (mut year, mut month, mut day) = (1970_i64, 1_u32, 1_u32);
        for days in 0..146_097_i64 {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let month_len = match month {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            day += 1;
            if day > month_len {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }
}

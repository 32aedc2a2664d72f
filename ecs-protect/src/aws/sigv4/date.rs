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

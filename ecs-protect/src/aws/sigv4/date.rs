//! `SystemTime` to the SigV4 basic ISO 8601 form `YYYYMMDD'T'HHMMSS'Z'` and back, on the
//! crate's one calendar module (`aws::civil`).

use std::time::SystemTime;

use crate::aws::civil;

/// Formats `time` as SigV4's `X-Amz-Date` value, `YYYYMMDD'T'HHMMSS'Z'` in UTC.
///
/// Sub-second precision is dropped (truncated, as the SDKs do). Times before 1970 are
/// formatted too (proleptic Gregorian calendar).
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use ecs_protect::unversioned::sigv4::format_amz_date;
///
/// let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
/// assert_eq!(format_amz_date(time), "20150830T123600Z");
/// ```
pub fn format_amz_date(time: SystemTime) -> String {
    let (year, month, day, hour, minute, second) = civil::to_civil(time);
    format!("{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}Z")
}

/// Parses an `X-Amz-Date` value, `YYYYMMDD'T'HHMMSS'Z'`, back into a `SystemTime`.
///
/// Returns `None` unless `text` is exactly that form with a real date and time (a leap
/// second, `60`, counts as `59`) no earlier than 1970. A server (such as the fake AWS)
/// uses it to re-sign a received request at the time the client signed it.
///
/// # Example
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use ecs_protect::unversioned::sigv4::{format_amz_date, parse_amz_date};
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
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = text.get(range)?;
        if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    civil::from_civil(i64::from(year), month, day, hour, minute, second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

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
}

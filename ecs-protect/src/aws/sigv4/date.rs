//! The `X-Amz-Date` timestamp: formatting a `SystemTime` and parsing the header back.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A signing time in the `X-Amz-Date` form, `YYYYMMDD'T'HHMMSS'Z'` in UTC.
///
/// Its first eight characters are the credential-scope date.
///
/// ```
/// use ecs_protect::sigv4::AmzDate;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let date = AmzDate::from_system_time(UNIX_EPOCH + Duration::from_secs(1_440_938_160));
/// assert_eq!(date.as_str(), "20150830T123600Z");
/// assert_eq!(date.date(), "20150830");
/// assert_eq!(AmzDate::parse("20150830T123600Z"), Some(date));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AmzDate {
    text: [u8; 16],
    time: SystemTime,
}

impl AmzDate {
    /// The `X-Amz-Date` form of `time`, truncated to the second.
    ///
    /// A time before 1970 is formatted too (the signer never sees one in practice).
    pub fn from_system_time(time: SystemTime) -> Self {
        let secs = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            Err(before) => {
                let d = before.duration();
                let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                -whole - i64::from(d.subsec_nanos() > 0)
            }
        };
        let days = secs.div_euclid(86_400);
        let of_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let (h, m, s) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
        // Years outside 0..=9999 cannot be written in this form; clamp them (never happens
        // with a real clock, and the date still parses back consistently).
        let year = year.clamp(0, 9999);
        let mut text = *b"00000000T000000Z";
        write_digits(&mut text[0..4], year);
        write_digits(&mut text[4..6], i64::from(month));
        write_digits(&mut text[6..8], i64::from(day));
        write_digits(&mut text[9..11], h);
        write_digits(&mut text[11..13], m);
        write_digits(&mut text[13..15], s);
        let time = to_system_time(days_from_civil(year, month, day) * 86_400 + of_day);
        AmzDate { text, time }
    }

    /// Parses an `X-Amz-Date` value; `None` unless it is exactly `YYYYMMDD'T'HHMMSS'Z'`
    /// naming a real date and time.
    ///
    /// ```
    /// use ecs_protect::sigv4::AmzDate;
    ///
    /// assert!(AmzDate::parse("20261124T215744Z").is_some());
    /// assert!(AmzDate::parse("2026-11-24T21:57:44Z").is_none());
    /// assert!(AmzDate::parse("20260230T000000Z").is_none());
    /// ```
    pub fn parse(value: &str) -> Option<Self> {
        let b = value.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            b[range].iter().try_fold(0i64, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
            })
        };
        let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
        let (h, m, s) = (num(9..11)?, num(11..13)?, num(13..15)?);
        let month = u32::try_from(month).ok().filter(|m| (1..=12).contains(m))?;
        let day = u32::try_from(day)
            .ok()
            .filter(|d| *d >= 1 && *d <= days_in_month(year, month))?;
        if h > 23 || m > 59 || s > 59 {
            return None;
        }
        let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
        let mut text = [0u8; 16];
        text.copy_from_slice(b);
        Some(AmzDate {
            text,
            time: to_system_time(secs),
        })
    }

    /// The full value, e.g. `20150830T123600Z`.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits, `T` and `Z` are ever written into `text`.
        std::str::from_utf8(&self.text).unwrap_or("00000000T000000Z")
    }

    /// The date part used in the credential scope, e.g. `20150830`.
    pub fn date(&self) -> &str {
        &self.as_str()[..8]
    }

    /// The instant this value names.
    pub fn system_time(&self) -> SystemTime {
        self.time
    }
}

impl fmt::Display for AmzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AmzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AmzDate({})", self.as_str())
    }
}

/// A UTC instant broken into calendar fields (for the fake ECS's RFC 3339 and HTTP dates).
#[cfg_attr(not(feature = "mock"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) millis: u32,
    /// 0 = Sunday.
    pub(crate) weekday: u32,
}

#[cfg_attr(not(feature = "mock"), allow(dead_code))]
impl Civil {
    /// The calendar fields of `time` (milliseconds truncated).
    pub(crate) fn from_system_time(time: SystemTime) -> Self {
        let millis: i64 = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        };
        let secs = millis.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let of_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let field = |v: i64| u32::try_from(v).unwrap_or(0);
        Civil {
            year,
            month,
            day,
            hour: field(of_day / 3600),
            minute: field(of_day / 60 % 60),
            second: field(of_day % 60),
            millis: field(millis.rem_euclid(1000)),
            // 1970-01-01 was a Thursday.
            weekday: field((days + 4).rem_euclid(7)),
        }
    }
}

fn write_digits(out: &mut [u8], mut value: i64) {
    for slot in out.iter_mut().rev() {
        // `value % 10` is in 0..10 for the non-negative values written here.
        *slot = b'0' + u8::try_from(value.rem_euclid(10)).unwrap_or(0);
        value /= 10;
    }
}

fn to_system_time(secs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after Howard
/// Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // day is in 1..=31 and month in 1..=12 by construction.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_suite_timestamp() {
        let t = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(AmzDate::from_system_time(t).as_str(), "20150830T123600Z");
    }

    #[test]
    fn truncates_to_the_second_and_round_trips() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_019_800_999);
        let d = AmzDate::from_system_time(t);
        assert_eq!(d.as_str(), "20251124T213000Z");
        assert_eq!(
            d.system_time(),
            UNIX_EPOCH + Duration::from_secs(1_764_019_800)
        );
        assert_eq!(AmzDate::parse(d.as_str()), Some(d));
    }

    #[test]
    fn leap_days_and_year_ends() {
        for (secs, text) in [
            (951_782_400, "20000229T000000Z"),
            (978_307_199, "20001231T235959Z"),
            (0, "19700101T000000Z"),
            (4_107_542_400, "21000301T000000Z"),
        ] {
            let d = AmzDate::from_system_time(UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(d.as_str(), text);
            assert_eq!(
                AmzDate::parse(text).map(|p| p.system_time()),
                Some(d.system_time())
            );
        }
    }

    #[test]
    fn before_the_epoch() {
        let d = AmzDate::from_system_time(UNIX_EPOCH - Duration::from_millis(500));
        assert_eq!(d.as_str(), "19691231T235959Z");
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "20150830T123600",
            "20150830 123600Z",
            "2015083OT123600Z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20150830T246000Z",
            "20150830T123600Z ",
            "+0150830T123600Z",
        ] {
            assert_eq!(AmzDate::parse(bad), None, "{bad:?}");
        }
        assert!(AmzDate::parse("20240229T000000Z").is_some());
        assert!(AmzDate::parse("21000229T000000Z").is_none());
    }
}

//! Wall-clock times on the wire, without a date crate: RFC 3339 (credentials `Expiration`,
//! the agent's `ExpirationDate`), RFC 1123 (the HTTP `Date` header), epoch seconds (ECS's
//! `expirationDate`).
//!
//! Every parser returns `None` on bad input; the caller names the field in its error. The
//! calendar arithmetic is `civil`'s, shared with SigV4's `X-Amz-Date`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::civil::{from_civil, to_civil};

/// Reads exactly `n` ASCII digits from the front of `s`.
fn digits(s: &mut &[u8], n: usize) -> Option<u32> {
    if s.len() < n || !s[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = s[..n]
        .iter()
        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
    *s = &s[n..];
    Some(value)
}

fn expect(s: &mut &[u8], byte: u8) -> Option<()> {
    let (&first, rest) = s.split_first()?;
    if first.eq_ignore_ascii_case(&byte) {
        *s = rest;
        Some(())
    } else {
        None
    }
}

/// Parses an RFC 3339 time: `2026-11-24T21:57:44.837Z`, with 0 to 9 fraction digits and a
/// `Z` or `±hh:mm` offset.
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let mut s = text.as_bytes();
    let year = digits(&mut s, 4)?;
    expect(&mut s, b'-')?;
    let month = digits(&mut s, 2)?;
    expect(&mut s, b'-')?;
    let day = digits(&mut s, 2)?;
    if !matches!(s.first(), Some(b'T' | b't' | b' ')) {
        return None;
    }
    s = &s[1..];
    let hour = digits(&mut s, 2)?;
    expect(&mut s, b':')?;
    let minute = digits(&mut s, 2)?;
    expect(&mut s, b':')?;
    let second = digits(&mut s, 2)?;
    let mut nanos = 0u32;
    if s.first() == Some(&b'.') {
        s = &s[1..];
        let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        nanos = digits(&mut s, n)? * 10u32.pow(9 - n as u32);
    }
    let offset_secs: i64 = match s {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] => {
            let sign = if *sign == b'+' { 1 } else { -1 };
            s = &s[1..];
            let h = digits(&mut s, 2)?;
            expect(&mut s, b':')?;
            let m = digits(&mut s, 2)?;
            if !s.is_empty() || h > 23 || m > 59 {
                return None;
            }
            sign * i64::from(h * 3600 + m * 60)
        }
        _ => return None,
    };
    let local = from_civil(i64::from(year), month, day, hour, minute, second)?;
    let utc = if offset_secs >= 0 {
        local.checked_sub(Duration::from_secs(offset_secs.unsigned_abs()))?
    } else {
        local.checked_add(Duration::from_secs(offset_secs.unsigned_abs()))?
    };
    if utc < UNIX_EPOCH {
        return None;
    }
    utc.checked_add(Duration::from_nanos(u64::from(nanos)))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses an HTTP date in the preferred format (RFC 1123 / IMF-fixdate):
/// `Sun, 06 Nov 1994 08:49:37 GMT`. The weekday is not checked against the date.
pub(crate) fn parse_http_date(text: &str) -> Option<SystemTime> {
    let rest = text.trim().split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day = parts.next()?;
    let month = parts.next()?;
    let year = parts.next()?;
    let clock = parts.next()?;
    if !matches!(parts.next(), Some("GMT" | "UTC")) || parts.next().is_some() {
        return None;
    }
    let mut d = day.as_bytes();
    let day = digits(&mut d, 2).filter(|_| d.is_empty())?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))?;
    let mut y = year.as_bytes();
    let year = digits(&mut y, 4).filter(|_| y.is_empty())?;
    let mut c = clock.as_bytes();
    let hour = digits(&mut c, 2)?;
    expect(&mut c, b':')?;
    let minute = digits(&mut c, 2)?;
    expect(&mut c, b':')?;
    let second = digits(&mut c, 2)?;
    if !c.is_empty() {
        return None;
    }
    from_civil(i64::from(year), month as u32 + 1, day, hour, minute, second)
}

/// Epoch seconds as a JSON number (ECS's `expirationDate`: `1764019800.123`); `None` when
/// negative, not finite, or beyond what a `SystemTime` holds.
pub(crate) fn from_epoch_seconds(secs: f64) -> Option<SystemTime> {
    if !secs.is_finite() || !(0.0..=1e12).contains(&secs) {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::from_secs_f64(secs))
}

/// `time` as RFC 3339 in UTC with whole seconds: `2026-11-24T21:57:44Z`; for log lines.
pub(crate) fn format_rfc3339(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = to_civil(time);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// A signed clock offset: how far the server's clock is ahead of ours (negative: behind).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Skew {
    /// Milliseconds; positive when the server is ahead.
    pub(crate) millis: i64,
}

impl Skew {
    /// The offset that turns `local` into `server`.
    pub(crate) fn between(local: SystemTime, server: SystemTime) -> Skew {
        let millis = match server.duration_since(local) {
            Ok(ahead) => i64::try_from(ahead.as_millis()).unwrap_or(i64::MAX),
            Err(behind) => -i64::try_from(behind.duration().as_millis()).unwrap_or(i64::MAX),
        };
        Skew { millis }
    }

    /// `time` moved by this offset (saturating at the epoch).
    pub(crate) fn apply(self, time: SystemTime) -> SystemTime {
        let shift = Duration::from_millis(self.millis.unsigned_abs());
        if self.millis >= 0 {
            time.checked_add(shift).unwrap_or(time)
        } else {
            time.checked_sub(shift).unwrap_or(UNIX_EPOCH)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn rfc3339_with_zero_to_three_fraction_digits() {
        // 2026-11-24T21:57:44Z = 1795557464 (checked with `date -u -d ... +%s`).
        let base = 1_795_557_464;
        assert_eq!(parse_rfc3339("2026-11-24T21:57:44Z"), Some(at(base, 0)));
        assert_eq!(parse_rfc3339("2026-11-24T21:57:44.8Z"), Some(at(base, 800)));
        assert_eq!(
            parse_rfc3339("2026-11-24T21:57:44.83Z"),
            Some(at(base, 830))
        );
        assert_eq!(
            parse_rfc3339("2026-11-24T21:57:44.837Z"),
            Some(at(base, 837))
        );
        assert_eq!(
            parse_rfc3339("2026-11-24T23:57:44.837+02:00"),
            Some(at(base, 837))
        );
        assert_eq!(
            parse_rfc3339("2026-11-24T20:27:44-01:30"),
            Some(at(base, 0))
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(at(1_709_164_800, 0))
        );
    }

    #[test]
    fn rfc3339_rejects_bad_input_without_panicking() {
        for bad in [
            "",
            "2026",
            "2026-11-24",
            "2026-11-24T21:57:44",
            "2026-11-24T21:57:44.Z",
            "2026-11-24T21:57:44.1234567890Z",
            "2026-13-24T21:57:44Z",
            "2026-02-29T21:57:44Z",
            "2026-11-31T21:57:44Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T21:60:00Z",
            "2026-11-24T21:57:44+2:00",
            "2026-11-24T21:57:44ZZ",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:30:00+01:00",
            "２０２6-11-24T21:57:44Z",
            "2026-11-24T21:57:44.８Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn http_date_imf_fixdate() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(at(784_111_777, 0))
        );
        assert_eq!(
            parse_http_date("Tue, 24 Nov 2026 21:57:44 GMT"),
            Some(at(1_795_557_464, 0))
        );
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Sun, 31 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn epoch_seconds() {
        assert_eq!(
            from_epoch_seconds(1_764_019_800.5),
            Some(at(1_764_019_800, 500))
        );
        assert_eq!(from_epoch_seconds(0.0), Some(UNIX_EPOCH));
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert_eq!(from_epoch_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn civil_round_trip_and_format() {
        for secs in [
            0u64,
            951_782_400,
            1_795_557_464,
            4_102_444_800,
            253_402_300_799,
        ] {
            let t = at(secs, 0);
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t), "{secs}");
        }
        assert_eq!(
            format_rfc3339(at(1_795_557_464, 837)),
            "2026-11-24T21:57:44Z"
        );
    }

    #[test]
    fn skew_both_directions() {
        let local = at(1_000_000, 0);
        let ahead = Skew::between(local, at(1_000_900, 0));
        assert_eq!(ahead.millis, 900_000);
        assert_eq!(ahead.apply(local), at(1_000_900, 0));
        let behind = Skew::between(local, at(999_100, 0));
        assert_eq!(behind.millis, -900_000);
        assert_eq!(behind.apply(local), at(999_100, 0));
        assert_eq!(Skew::default().apply(local), local);
    }
}

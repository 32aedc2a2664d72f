//! The readable duration grammar of `ECS_PROTECT_*` variables: `250ms`, `5s`, `30m`, `1h30m`.

use std::fmt;
use std::time::Duration;

/// Parses `0` or one or more `<whole number><unit>` parts, unit one of `ms`, `s`, `m`, `h`
/// (`1h30m`, `2m30s`, `250ms`). Surrounding whitespace is ignored; nothing else is accepted.
pub(crate) fn parse(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    if text.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(1), 2)
        } else if rest.starts_with('s') {
            (Duration::from_secs(1), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(60), 1)
        } else if rest.starts_with('h') {
            (Duration::from_secs(3600), 1)
        } else {
            return None;
        };
        rest = &rest[len..];
        total = total.checked_add(unit.checked_mul(u32::try_from(number).ok()?)?)?;
    }
    Some(total)
}

/// Shows a duration in the same grammar, e.g. `1h30m`, `5s`, `250ms`, `0s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Readable(pub(crate) Duration);

impl fmt::Display for Readable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        if d < Duration::from_millis(1) {
            return write!(f, "{}us", d.as_micros());
        }
        // Whole seconds from one second up (rounded), so that an expiry reads `2h`, not
        // `1h59m59s999ms`; milliseconds below.
        let mut ms = if d >= Duration::from_secs(1) {
            (d.as_millis() + 500) / 1000 * 1000
        } else {
            d.as_millis()
        };
        let mut wrote = false;
        for (unit, name) in [(3_600_000, "h"), (60_000, "m"), (1_000, "s"), (1, "ms")] {
            if ms >= unit {
                write!(f, "{}{name}", ms / unit)?;
                ms %= unit;
                wrote = true;
            }
        }
        if !wrote {
            f.write_str("0s")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let ms = Duration::from_millis;
        assert_eq!(parse("0"), Some(Duration::ZERO));
        assert_eq!(parse("250ms"), Some(ms(250)));
        assert_eq!(parse(" 5s "), Some(ms(5_000)));
        assert_eq!(parse("30m"), Some(ms(1_800_000)));
        assert_eq!(parse("1h30m"), Some(ms(5_400_000)));
        assert_eq!(parse("2m30s500ms"), Some(ms(150_500)));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "", "5", "s", "5 s", "-5s", "1.5s", "5sec", "5d", "soon", "5s ms",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse("99999999999999999999h"), None);
    }

    #[test]
    fn displays_in_the_same_grammar() {
        for text in ["0s", "250ms", "5s", "30m", "1h30m", "2m30s"] {
            let d = parse(text).unwrap();
            assert_eq!(Readable(d).to_string(), text);
        }
        assert_eq!(Readable(parse("1h59m59s999ms").unwrap()).to_string(), "2h");
        assert_eq!(Readable(parse("2m30s400ms").unwrap()).to_string(), "2m30s");
    }
}

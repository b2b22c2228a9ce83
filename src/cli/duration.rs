//! Durations on the command line: `90s`, `30m`, `2h`, `250ms`, or a bare
//! number of seconds.

use std::time::Duration;

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.trim().split_at(
        text.trim()
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.trim().len()),
    );
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90s, 30m or 2h"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use ms, s, m or h)"
            ));
        }
    };
    // A deadline is `now + duration`: past a year it is a typo, and far
    // past it a clock overflow.
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| *d <= MAX)
        .ok_or_else(|| format!("`{text}` is out of range: at most 8760h (a year)"))
}

const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("99999999999999999h").is_err());
        assert!(parse_duration("8761h").is_err());
        assert_eq!(parse_duration("8760h"), Ok(Duration::from_secs(31_536_000)));
    }
}

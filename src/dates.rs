//! RFC 2822 / IMF-fixdate timestamps, as HTTP (`Retry-After`, RFC 9110 §5.6.7) and Debian
//! Release files (`Date`, `Valid-Until`) write them: `Sun, 06 Nov 1994 08:49:37 GMT`. The zone
//! may be `GMT`, `UTC`, `Z` or a numeric offset.

use std::time::{Duration, SystemTime};

/// Parses `[Day, ]DD Mon YYYY HH:MM:SS ZONE`; `None` when it is not that form.
pub fn parse_rfc2822(value: &str) -> Option<SystemTime> {
    let mut parts: Vec<&str> = value.split_whitespace().collect();
    if parts.first().is_some_and(|p| p.ends_with(',')) {
        parts.remove(0);
    }
    let [day, month, year, time, zone] = parts.as_slice() else {
        return None;
    };
    let offset_seconds: i64 = match *zone {
        "GMT" | "UTC" | "UT" | "Z" => 0,
        numeric if numeric.len() == 5 && (numeric.starts_with('+') || numeric.starts_with('-')) => {
            let hours: i64 = numeric.get(1..3)?.parse().ok()?;
            let minutes: i64 = numeric.get(3..5)?.parse().ok()?;
            let sign = if numeric.starts_with('-') { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    let day: i64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as i64
        + 1;
    let year: i64 = year.parse().ok()?;
    let mut clock = time.split(':').map(|p| p.parse::<i64>());
    let (hour, minute, second) = (
        clock.next()?.ok()?,
        clock.next()?.ok()?,
        clock.next()?.ok()?,
    );
    // The text comes from servers and archives: fields out of range are not a date, and the
    // arithmetic below must not overflow.
    let in_range = (0..=9999).contains(&year)
        && (1..=31).contains(&day)
        && (0..=23).contains(&hour)
        && (0..=59).contains(&minute)
        && (0..=60).contains(&second);
    if !in_range {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// Formats `time` as `Sun, 06 Nov 1994 08:49:37 UTC` (the inverse of [`parse_rfc2822`]).
pub fn format_rfc2822(time: SystemTime) -> String {
    let seconds = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    // The civil date from days (Howard Hinnant's algorithm, the inverse of the one above).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year:04} {:02}:{:02}:{:02} UTC",
        months[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(text: &str) -> u64 {
        parse_rfc2822(text)
            .unwrap()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn hostile_dates_are_not_dates_and_do_not_panic() {
        for text in [
            "Fri, 31 Dec 99999999999999 23:59:59 GMT",
            "Fri, 31 Dec -9999999999999 23:59:59 GMT",
            "Fri, 99999999999 Dec 2024 23:59:59 GMT",
            "Fri, 31 Dec 2024 99999999999:59:59 GMT",
            "Fri, 31 Dec 0000 00:00:00 -9999",
            "Fri, 31 Dec 2024 00:00:00 +1\u{e9}2",
        ] {
            assert!(parse_rfc2822(text).is_none(), "{text}");
        }
    }

    #[test]
    fn parses_http_and_release_dates() {
        assert_eq!(seconds("Sun, 06 Nov 1994 08:49:37 GMT"), 784_111_777);
        assert_eq!(seconds("Sat, 10 Aug 2024 09:12:34 UTC"), 1_723_281_154);
        assert_eq!(seconds("10 Aug 2024 11:12:34 +0200"), 1_723_281_154);
        assert!(parse_rfc2822("yesterday").is_none());
        for text in [
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sat, 10 Aug 2024 09:12:34 UTC",
            "Tue, 29 Feb 2000 23:59:59 UTC",
            "Thu, 01 Jan 1970 00:00:00 UTC",
            "Fri, 31 Dec 2100 12:00:00 UTC",
        ] {
            assert_eq!(format_rfc2822(parse_rfc2822(text).unwrap()), text);
        }
        assert!(parse_rfc2822("Sat, 10 Aug 2024 09:12:34 PST").is_none());
    }
}

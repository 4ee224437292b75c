//! Time as wabagate sees it: the system clock, which tests can move forward to see tokens expire.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use model::Timestamp;
use time::OffsetDateTime;
use time::macros::format_description;

#[derive(Debug, Default)]
pub struct Clock {
    offset: AtomicI64,
}

impl Clock {
    /// Unix seconds now.
    pub fn now(&self) -> Timestamp {
        let real = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        real + self.offset.load(Ordering::Relaxed)
    }

    /// Unix milliseconds now.
    pub fn now_ms(&self) -> i64 {
        let real = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        real + self.offset.load(Ordering::Relaxed) * 1000
    }

    /// Moves this clock forward (tests only need forward).
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::Relaxed);
    }
}

fn datetime(ts: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ts).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A node `datetime` field as Graph writes it: `2019-01-01T00:00:00+0000`.
pub fn graph_datetime(ts: Timestamp) -> String {
    datetime(ts).format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+0000")).unwrap_or_default()
}

/// A time as Meta's expired-token message writes it, in Pacific time:
/// `Sunday, 22-Nov-26 01:00:00 PST`.
pub fn pacific_time(ts: Timestamp) -> String {
    let utc = datetime(ts);
    let (offset, zone) = if in_us_daylight_time(utc) { (-7, "PDT") } else { (-8, "PST") };
    let local = utc + time::Duration::hours(offset);
    let text = local
        .format(format_description!(
            "[weekday], [day]-[month repr:short]-[year repr:last_two] [hour]:[minute]:[second]"
        ))
        .unwrap_or_default();
    format!("{text} {zone}")
}

/// US daylight time: from 02:00 local on the second Sunday of March to 02:00 local on the first
/// Sunday of November (10:00 and 09:00 UTC in Pacific time).
fn in_us_daylight_time(utc: OffsetDateTime) -> bool {
    let year = utc.year();
    let nth_sunday = |month: time::Month, n: u8| {
        let first = time::Date::from_calendar_date(year, month, 1).expect("valid date");
        let to_sunday = (7 - first.weekday().number_days_from_sunday()) % 7;
        first + time::Duration::days((to_sunday + 7 * (n - 1)) as i64)
    };
    let start = nth_sunday(time::Month::March, 2).with_hms(10, 0, 0).expect("valid time").assume_utc();
    let end = nth_sunday(time::Month::November, 1).with_hms(9, 0, 0).expect("valid time").assume_utc();
    utc >= start && utc < end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_graph_datetimes() {
        assert_eq!(graph_datetime(1546300800), "2019-01-01T00:00:00+0000");
    }

    #[test]
    fn formats_pacific_times_with_daylight_saving() {
        // 2026-11-22 09:00 UTC is 01:00 PST.
        assert_eq!(pacific_time(1795338000), "Sunday, 22-Nov-26 01:00:00 PST");
        // 2026-07-01 19:00 UTC is 12:00 PDT.
        assert_eq!(pacific_time(1782932400), "Wednesday, 01-Jul-26 12:00:00 PDT");
    }
}

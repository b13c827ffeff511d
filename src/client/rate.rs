//! How fast a running total grows, measured over a recent window, so a
//! change of pace shows within that window instead of being averaged away
//! over the whole run. Transfers use it twice: the client paces pieces by
//! the rate replies come back at, and the terminal shows speed and time
//! left.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RecentRate {
    /// (when, running total then), oldest first.
    readings: VecDeque<(Instant, u64)>,
}

impl RecentRate {
    /// Notes that the total was `total` at `now`, and forgets readings older
    /// than `window` (always keeping two, so there is a rate to tell).
    pub fn record(&mut self, now: Instant, total: u64, window: Duration) {
        self.readings.push_back((now, total));
        while self.readings.len() > 2
            && self
                .readings
                .get(1)
                .is_some_and(|&(at, _)| now.saturating_duration_since(at) >= window)
        {
            self.readings.pop_front();
        }
    }

    /// Forgets every reading: the next one starts the measurement afresh.
    pub fn restart(&mut self) {
        self.readings.clear();
    }

    /// Units per second between the oldest and newest readings kept, once
    /// they are at least `at_least` apart (and not at the same instant).
    pub fn per_second(&self, at_least: Duration) -> Option<f64> {
        let (&(first_at, first), &(last_at, last)) =
            (self.readings.front()?, self.readings.back()?);
        let span = last_at.saturating_duration_since(first_at);
        (span >= at_least && !span.is_zero())
            .then(|| last.saturating_sub(first) as f64 / span.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_follows_the_recent_pace() {
        let t0 = Instant::now();
        let window = Duration::from_secs(3);
        let mut rate = RecentRate::default();
        assert_eq!(rate.per_second(Duration::ZERO), None);
        rate.record(t0, 0, window);
        assert_eq!(rate.per_second(Duration::ZERO), None, "one reading");
        rate.record(t0 + Duration::from_secs(1), 100, window);
        assert_eq!(rate.per_second(Duration::ZERO), Some(100.0));
        assert_eq!(rate.per_second(Duration::from_secs(2)), None, "too soon");
        for s in 2..=6 {
            rate.record(t0 + Duration::from_secs(s), 100 + (s - 1) * 10, window);
        }
        assert_eq!(rate.per_second(Duration::ZERO), Some(10.0));
        rate.restart();
        assert_eq!(rate.per_second(Duration::ZERO), None);
    }
}

//! Token buckets for flood control: a client may burst, then is held to a
//! steady rate, and hears about it with a `rate_limited` reply instead of
//! being slowed silently.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket holding `burst` tokens, refilled at `per_second`.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self::with_rate(f64::from(per_second), burst, Instant::now())
    }

    /// A bucket that is full at `now`, refilled at `per_second` (which may
    /// be below one, for rates counted per minute; it must be above zero).
    pub fn with_rate(per_second: f64, burst: u32, now: Instant) -> Self {
        Self {
            per_second,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: now,
        }
    }

    /// Takes a token if there is one.
    pub fn take(&mut self) -> bool {
        self.take_at(Instant::now()).is_ok()
    }

    /// Takes a token at `now` if there is one; otherwise says how long
    /// until there is.
    pub fn take_at(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.time_for(1.0 - self.tokens))
        }
    }

    /// How long from `now` until the bucket is full again. A full bucket is
    /// no different from a new one, so its owner may forget it.
    pub fn full_in(&self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.time_for(self.burst - self.tokens - elapsed * self.per_second)
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
    }

    /// How long `tokens` take to come back.
    fn time_for(&self, tokens: f64) -> Duration {
        Duration::try_from_secs_f64(tokens.max(0.0) / self.per_second).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_the_steady_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::with_rate(10.0, 3, start);
        assert!((0..3).all(|_| bucket.take_at(start).is_ok()));
        assert_eq!(bucket.take_at(start), Err(Duration::from_millis(100)));
        assert!(bucket.take_at(start + Duration::from_millis(50)).is_err());
        assert!(bucket.take_at(start + Duration::from_millis(110)).is_ok());
        // A long pause refills only up to the burst.
        let later = start + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| bucket.take_at(later).is_ok()).count(), 3);
    }

    #[test]
    fn a_slow_bucket_says_when_it_is_full_again() {
        let start = Instant::now();
        // Two a minute.
        let mut bucket = TokenBucket::with_rate(2.0 / 60.0, 2, start);
        assert_eq!(bucket.full_in(start), Duration::ZERO);
        bucket.take_at(start).unwrap();
        bucket.take_at(start).unwrap();
        let wait = bucket.take_at(start).unwrap_err();
        assert_eq!(wait.as_secs_f64().round(), 30.0);
        assert_eq!(bucket.full_in(start).as_secs_f64().round(), 60.0);
        let later = start + Duration::from_secs(45);
        assert_eq!(bucket.full_in(later).as_secs_f64().round(), 15.0);
        assert_eq!(
            bucket.full_in(later + Duration::from_secs(16)),
            Duration::ZERO
        );
    }
}

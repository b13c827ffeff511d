//! The server's sense of time.

/// Wall-clock milliseconds that move with Tokio's clock. In a running
/// server Tokio's clock is the system's and this is the wall clock; tests
/// pause and advance Tokio's clock to age rejections and files instead of
/// sleeping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    tokio: tokio::time::Instant,
    system: std::time::Instant,
}

impl Clock {
    pub fn new() -> Self {
        Self {
            tokio: tokio::time::Instant::now(),
            system: std::time::Instant::now(),
        }
    }

    /// Milliseconds since the Unix epoch, plus however far Tokio's clock
    /// has been moved ahead of the system's.
    pub fn now_ms(&self) -> i64 {
        let skew = millis(self.tokio.elapsed()) - millis(self.system.elapsed());
        crate::store::now_ms().saturating_add(skew)
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn follows_the_system_clock_when_tokio_runs_in_real_time() {
        let before = crate::store::now_ms();
        let now = Clock::new().now_ms();
        assert!((now - before).abs() < 1_000, "{now} vs {before}");
    }

    #[tokio::test(start_paused = true)]
    async fn moves_ahead_with_tokio_time() {
        let clock = Clock::new();
        let before = clock.now_ms();
        tokio::time::advance(Duration::from_secs(3600)).await;
        let moved = clock.now_ms() - before;
        assert!((3_599_000..=3_600_000).contains(&moved), "{moved}");
    }
}

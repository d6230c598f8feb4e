//! At most one connection request per device per interval.
//!
//! In memory and per node: with several nodes each limits on its own, so a device may get one
//! request per node per interval. That bounds the harm (CPEs rate-limit too and answer 503) and
//! keeps the store out of the hot path; in-memory state is a cache, never the source of truth.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Entries above this count trigger a sweep of the expired ones, bounding memory.
const SWEEP_ABOVE: usize = 4096;

#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    last: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Records a request for `key` at `now`, or says how long until one is allowed.
    pub(crate) fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.interval.is_zero() {
            return Ok(());
        }
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(&at) = last.get(key) {
            let elapsed = now.saturating_duration_since(at);
            if elapsed < self.interval {
                return Err(self.interval - elapsed);
            }
        }
        if last.len() >= SWEEP_ABOVE {
            last.retain(|_, at| now.saturating_duration_since(*at) < self.interval);
        }
        last.insert(key.to_owned(), now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_device_per_interval() {
        let limiter = RateLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limiter.check("a", t0), Ok(()));
        assert_eq!(limiter.check("b", t0), Ok(()));
        assert_eq!(
            limiter.check("a", t0 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        assert_eq!(limiter.check("a", t0 + Duration::from_secs(10)), Ok(()));
        let off = RateLimiter::new(Duration::ZERO);
        assert_eq!(off.check("a", t0), Ok(()));
        assert_eq!(off.check("a", t0), Ok(()));
    }

    #[test]
    fn sweeps_expired_entries() {
        let limiter = RateLimiter::new(Duration::from_secs(1));
        let t0 = Instant::now();
        for i in 0..SWEEP_ABOVE {
            limiter.check(&i.to_string(), t0).unwrap();
        }
        limiter.check("late", t0 + Duration::from_secs(2)).unwrap();
        assert_eq!(limiter.last.lock().unwrap().len(), 1);
    }
}

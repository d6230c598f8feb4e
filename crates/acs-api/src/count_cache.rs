//! The list's `count`, cached per filter for a few seconds.
//!
//! An exact `COUNT(*)` grows with the number of matching devices: over a million devices a
//! broad filter (`status=true`, no filter at all) costs hundreds of milliseconds per page even
//! index-only, while the page itself costs a millisecond. Paging through such a list asks the
//! same count again and again, so each node keeps it for [`ApiConfig::list_count_ttl`]
//! (default 5 s).
//!
//! The bound: a cached `count` may miss changes made within the last `list_count_ttl` by
//! *other* writers (CPE Informs flipping status, auto-registration, other nodes). Device
//! writes through this node's API clear the cache, so an operator who creates, moves or
//! deletes a device sees the new count on the next page. A page that ends before `limit`
//! carries its own exact count (`offset + rows`), cached or not. `list_count_ttl = 0`
//! turns the cache off: every page counts.
//!
//! [`ApiConfig::list_count_ttl`]: crate::ApiConfig::list_count_ttl

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use acs_store::DeviceFilter;

/// Entries kept at most; past it the expired ones go, then everything.
const MAX_ENTRIES: usize = 4096;

#[derive(Debug)]
pub struct CountCache {
    ttl: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Bumped by every invalidation: a count taken before a write is not stored after it.
    generation: u64,
    entries: HashMap<DeviceFilter, (Instant, i64)>,
}

/// What [`CountCache::get`] hands back on a miss, to store the fresh count with.
#[derive(Clone, Copy, Debug)]
pub struct Ticket(u64);

impl CountCache {
    pub fn new(ttl: Duration) -> Self {
        CountCache {
            ttl,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The cached count of `filter` if it is younger than the TTL, else a ticket for
    /// [`CountCache::put`].
    pub fn get(&self, filter: &DeviceFilter, now: Instant) -> Result<i64, Ticket> {
        let inner = self.lock();
        match inner.entries.get(filter) {
            Some((at, count)) if now.saturating_duration_since(*at) < self.ttl => Ok(*count),
            _ => Err(Ticket(inner.generation)),
        }
    }

    /// Stores a count taken after `ticket` was issued, unless a write came in between.
    pub fn put(&self, filter: &DeviceFilter, count: i64, ticket: Ticket, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != ticket.0 {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            inner
                .entries
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < ttl);
            if inner.entries.len() >= MAX_ENTRIES {
                inner.entries.clear();
            }
        }
        inner.entries.insert(filter.clone(), (now, count));
    }

    /// Forgets every count: a device was created, changed or deleted through this node.
    pub fn invalidate(&self) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.entries.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves a map that is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: i64) -> DeviceFilter {
        DeviceFilter {
            organization_id: Some(id),
            ..DeviceFilter::default()
        }
    }

    #[test]
    fn counts_expire_and_writes_forget_them() {
        let cache = CountCache::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let ticket = cache.get(&org(1), t0).unwrap_err();
        cache.put(&org(1), 42, ticket, t0);
        assert_eq!(
            cache.get(&org(1), t0 + Duration::from_secs(4)).ok(),
            Some(42)
        );
        assert!(cache.get(&org(2), t0).is_err(), "another filter");
        assert!(
            cache.get(&org(1), t0 + Duration::from_secs(5)).is_err(),
            "expired"
        );

        // A count taken before a write is not stored after it.
        let stale = cache.get(&org(3), t0).unwrap_err();
        cache.invalidate();
        cache.put(&org(3), 7, stale, t0);
        assert!(cache.get(&org(3), t0).is_err());
        assert!(
            cache.get(&org(1), t0).is_err(),
            "invalidate forgets everything"
        );
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = CountCache::new(Duration::ZERO);
        let t0 = Instant::now();
        let ticket = cache.get(&org(1), t0).unwrap_err();
        cache.put(&org(1), 42, ticket, t0);
        assert!(cache.get(&org(1), t0).is_err());
    }
}

//! The WARN line for a failed CPE authentication, rate-limited.
//!
//! An operator whose routers carry a wrong password should see it at the default log level,
//! but anyone on the network can make authentication fail, as often as they like and under
//! any username they invent. So: at most one line per (username, reason) per
//! [`PER_KEY_INTERVAL`], the failures held back in between counted in the next line
//! (`suppressed=N`); at most [`LINES_PER_WINDOW`] lines per [`PER_KEY_INTERVAL`] in all, what
//! is held back by that budget counted in the next line that gets through (`others_suppressed=N`);
//! at most [`MAX_KEYS`] keys remembered (the oldest forgotten first), each of at most
//! [`KEY_MAX_BYTES`]. A request without a username (a malformed `Authorization`) is keyed by
//! its peer's IP address instead.
//!
//! Never logged: the password, the digest `response`, or anything else from the
//! `Authorization` header beyond the username; the username itself only Debug-escaped (it is
//! whatever the client sent).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use acs_session::auth::AuthError;

/// At most one line per key in this long.
pub const PER_KEY_INTERVAL: Duration = Duration::from_secs(60);
/// Lines per [`PER_KEY_INTERVAL`] for all keys together.
pub const LINES_PER_WINDOW: u32 = 100;
/// Keys remembered; beyond, the oldest is forgotten (and may log again).
pub const MAX_KEYS: usize = 10_000;
/// A username longer than this is cut (on a character boundary) for the key and the line.
pub const KEY_MAX_BYTES: usize = 128;
/// The error's message is cut to this many bytes in the line.
const ERROR_MAX_BYTES: usize = 256;

/// What to do with one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it, with the counts held back since the last line for this key, and by the global
    /// budget since the last line at all.
    Log {
        suppressed: u64,
        others_suppressed: u64,
    },
    /// Held back (counted).
    Quiet,
}

type Key = (String, &'static str);

struct Entry {
    last_logged: Instant,
    suppressed: u64,
}

/// The rate limiter's state; [`AuthFailureLog`] wraps it for sharing.
pub struct Limiter {
    entries: HashMap<Key, Entry>,
    /// Keys in the order they were first seen, for evicting the oldest.
    order: VecDeque<Key>,
    window_start: Option<Instant>,
    lines_in_window: u32,
    others_suppressed: u64,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Limiter {
    pub fn new() -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            window_start: None,
            lines_in_window: 0,
            others_suppressed: 0,
        }
    }

    /// Keys remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// One failure for `who` (a username or `peer:<ip>`) and `reason` at `now`.
    pub fn note(&mut self, who: &str, reason: &'static str, now: Instant) -> Verdict {
        let key = (cut(who, KEY_MAX_BYTES).to_owned(), reason);
        if let Some(entry) = self.entries.get_mut(&key)
            && now.saturating_duration_since(entry.last_logged) < PER_KEY_INTERVAL
        {
            entry.suppressed += 1;
            return Verdict::Quiet;
        }
        if !self.take_budget(now) {
            self.others_suppressed += 1;
            return Verdict::Quiet;
        }
        let others_suppressed = std::mem::take(&mut self.others_suppressed);
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.last_logged = now;
            let suppressed = std::mem::take(&mut entry.suppressed);
            return Verdict::Log {
                suppressed,
                others_suppressed,
            };
        }
        while self.entries.len() >= MAX_KEYS {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.order.push_back(key.clone());
        self.entries.insert(
            key,
            Entry {
                last_logged: now,
                suppressed: 0,
            },
        );
        Verdict::Log {
            suppressed: 0,
            others_suppressed,
        }
    }

    fn take_budget(&mut self, now: Instant) -> bool {
        let fresh = self
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) >= PER_KEY_INTERVAL);
        if fresh {
            self.window_start = Some(now);
            self.lines_in_window = 0;
        }
        if self.lines_in_window >= LINES_PER_WINDOW {
            return false;
        }
        self.lines_in_window += 1;
        true
    }
}

/// The limiter shared by a CPE listener's connections.
#[derive(Default)]
pub struct AuthFailureLog(Mutex<Limiter>);

impl AuthFailureLog {
    /// Logs a failed authentication from `peer` as username `username` (`None`: the request
    /// named none): at DEBUG when it is routine ([`AuthError::is_routine`]: no `Authorization`
    /// yet, an expired nonce), else at WARN within the rate limit.
    pub fn record(&self, error: &AuthError, username: Option<&str>, peer: SocketAddr) {
        if error.is_routine() {
            tracing::debug!(peer = %peer, reason = error.reason(), "CPE authentication required");
            return;
        }
        let peer_key;
        let who = match username {
            Some(u) => u,
            None => {
                peer_key = format!("peer:{}", peer.ip());
                &peer_key
            }
        };
        let verdict = match self.0.lock() {
            Ok(mut limiter) => limiter.note(who, error.reason(), Instant::now()),
            Err(_) => return,
        };
        let Verdict::Log {
            suppressed,
            others_suppressed,
        } = verdict
        else {
            return;
        };
        // the message may quote what the client sent (a realm, a uri): cut, and Debug-escaped
        let message = error.to_string();
        let message = cut(&message, ERROR_MAX_BYTES);
        let username = username.map(|u| cut(u, KEY_MAX_BYTES));
        tracing::warn!(
            username = ?username.unwrap_or("-"),
            peer = %peer,
            reason = error.reason(),
            error = ?message,
            suppressed,
            others_suppressed,
            "CPE authentication failed"
        );
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    &s[..s.floor_char_boundary(max)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG0: Verdict = Verdict::Log {
        suppressed: 0,
        others_suppressed: 0,
    };

    #[test]
    fn one_line_per_key_per_minute_with_the_count_held_back() {
        let mut l = Limiter::new();
        let t = Instant::now();
        assert_eq!(l.note("cpe", "wrong_password", t), LOG0);
        for s in 1..=4 {
            assert_eq!(
                l.note("cpe", "wrong_password", t + Duration::from_secs(s)),
                Verdict::Quiet
            );
        }
        // another reason, another username: their own lines
        assert_eq!(l.note("cpe", "unknown_user", t), LOG0);
        assert_eq!(l.note("other", "wrong_password", t), LOG0);
        assert_eq!(
            l.note("cpe", "wrong_password", t + PER_KEY_INTERVAL),
            Verdict::Log {
                suppressed: 4,
                others_suppressed: 0
            }
        );
        assert_eq!(
            l.note("cpe", "wrong_password", t + PER_KEY_INTERVAL * 2),
            LOG0
        );
    }

    #[test]
    fn invented_usernames_neither_flood_the_log_nor_grow_memory() {
        let mut l = Limiter::new();
        let t = Instant::now();
        let mut logged = 0;
        for i in 0..(MAX_KEYS + 500) {
            // all in the first second: the global budget holds most back
            if l.note(&format!("u{i}"), "unknown_user", t) != Verdict::Quiet {
                logged += 1;
            }
        }
        assert_eq!(logged, LINES_PER_WINDOW as usize);
        // keys only enter when logged
        assert_eq!(l.len(), LINES_PER_WINDOW as usize);
        let held = (MAX_KEYS + 500) as u64 - u64::from(LINES_PER_WINDOW);
        assert_eq!(
            l.note("late", "unknown_user", t + PER_KEY_INTERVAL),
            Verdict::Log {
                suppressed: 0,
                others_suppressed: held
            }
        );

        // spread over time, every key logs, and the oldest are forgotten at the cap
        let mut l = Limiter::new();
        for i in 0..(MAX_KEYS + 10) {
            let at = t + PER_KEY_INTERVAL * (i as u32 / LINES_PER_WINDOW);
            assert_ne!(l.note(&format!("u{i}"), "unknown_user", at), Verdict::Quiet);
            assert!(l.len() <= MAX_KEYS);
        }
        assert_eq!(l.len(), MAX_KEYS);
        assert!(!l.entries.contains_key(&("u0".to_owned(), "unknown_user")));
        assert!(l.entries.contains_key(&("u10".to_owned(), "unknown_user")));
        assert_eq!(l.order.len(), MAX_KEYS);
    }

    #[test]
    fn long_usernames_are_cut_for_the_key() {
        let mut l = Limiter::new();
        let t = Instant::now();
        let long = "é".repeat(10_000);
        assert_eq!(l.note(&long, "unknown_user", t), LOG0);
        // differs only past the cut: the same key
        assert_eq!(
            l.note(&format!("{long}x"), "unknown_user", t),
            Verdict::Quiet
        );
        let (key, _) = l.entries.keys().next().unwrap();
        assert!(key.len() <= KEY_MAX_BYTES);
        assert_eq!(cut("aé", 2), "a");
    }
}

//! Console sessions: a random id in an HttpOnly, SameSite cookie, kept server-side with the
//! person it belongs to, its CSRF token and its expiry.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use model::{GraphId, Timestamp};
use rand::Rng;
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "wabagate_session";
/// A session ends after this long without a request.
pub const IDLE_SECS: i64 = 12 * 3600;

#[derive(Clone)]
pub struct Session {
    pub person: GraphId,
    pub csrf: String,
    pub expires: Timestamp,
}

/// Without the CSRF token: a session printed in a log gives nothing away.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("person", &self.person).field("expires", &self.expires).finish_non_exhaustive()
    }
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    /// Starts a session; returns its cookie value.
    pub fn start(&self, person: GraphId, now: Timestamp) -> String {
        let id = random_token();
        let session = Session { person, csrf: random_token(), expires: now + IDLE_SECS };
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.expires > now);
        map.insert(id.clone(), session);
        id
    }

    /// The live session of a cookie value, its expiry pushed back.
    pub fn get(&self, id: &str, now: Timestamp) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let session = map.get_mut(id)?;
        if session.expires <= now {
            map.remove(id);
            return None;
        }
        session.expires = now + IDLE_SECS;
        Some(session.clone())
    }

    pub fn end(&self, id: &str) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// Whether a form's CSRF token is the session's, in constant time.
pub fn csrf_ok(session: &Session, given: Option<&str>) -> bool {
    given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(session.csrf.as_bytes())))
}

/// Failed sign-ins that lock an email out for the rest of [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// The window, in seconds, over which failed sign-ins are counted.
pub const FAILURE_WINDOW: i64 = 15 * 60;

/// Failed sign-ins per email (known or not, so a lock-out tells nothing about which emails
/// exist), to slow password guessing: after [`MAX_FAILURES`] within [`FAILURE_WINDOW`], the
/// email's attempts are refused without checking the password until its oldest failure leaves
/// the window.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, Vec<Timestamp>>>,
}

impl Throttle {
    fn key(email: &str) -> String {
        email.trim().to_lowercase()
    }

    /// Seconds until the email may try again, if it is locked out.
    pub fn locked_for(&self, email: &str, now: Timestamp) -> Option<i64> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let recent: Vec<Timestamp> =
            map.get(&Self::key(email))?.iter().copied().filter(|t| *t > now - FAILURE_WINDOW).collect();
        (recent.len() >= MAX_FAILURES).then(|| recent[recent.len() - MAX_FAILURES] + FAILURE_WINDOW - now)
    }

    pub fn failed(&self, email: &str, now: Timestamp) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Forget what has left the window, for every email, so the map stays small.
        map.retain(|_, times| {
            times.retain(|t| *t > now - FAILURE_WINDOW);
            !times.is_empty()
        });
        map.entry(Self::key(email)).or_default().push(now);
    }

    pub fn succeeded(&self, email: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&Self::key(email));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_an_email_out_until_the_oldest_leaves_the_window() {
        let t = Throttle::default();
        for i in 0..MAX_FAILURES as i64 {
            assert_eq!(t.locked_for("A@x.example", 1000 + i), None);
            t.failed("a@x.example ", 1000 + i);
        }
        assert_eq!(t.locked_for("a@x.example", 1010), Some(1000 + FAILURE_WINDOW - 1010));
        assert_eq!(t.locked_for("b@x.example", 1010), None);
        assert_eq!(t.locked_for("a@x.example", 1000 + FAILURE_WINDOW), None);
        t.succeeded("a@x.example");
        assert_eq!(t.locked_for("a@x.example", 1010), None);
    }
}

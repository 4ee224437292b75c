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

#[derive(Clone, Debug)]
pub struct Session {
    pub person: GraphId,
    pub csrf: String,
    pub expires: Timestamp,
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

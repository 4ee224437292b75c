//! Console sessions: a random id in an HttpOnly, SameSite cookie, kept server-side with the
//! person it belongs to, its CSRF token and its expiry.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
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

/// Failed sign-ins for one email that lock it out for the rest of [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// Failed sign-ins from one client address (any emails) that lock the address out.
pub const MAX_ADDRESS_FAILURES: usize = 20;
/// The window, in seconds, over which failed sign-ins are counted.
pub const FAILURE_WINDOW: i64 = 15 * 60;

/// What a client is counted as: its IP address, an IPv6 one by its /64 network (what one
/// client usually holds), an IPv4-mapped IPv6 one as the IPv4 address.
pub fn client_of(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Why a sign-in is refused before its password is checked, and for how many seconds.
#[derive(Debug, PartialEq, Eq)]
pub enum Locked {
    /// Too many failures for this email, from this client among others.
    Email(i64),
    /// Too many failures from this client, whatever the emails.
    Address(i64),
}

/// Failed sign-ins, to slow password guessing. Only failures count, never a success.
///
/// - Per email (known or not, so a lock-out tells nothing about which emails exist): after
///   [`MAX_FAILURES`] within [`FAILURE_WINDOW`], the email is locked, but only for the client
///   addresses those failures came from: a client that has not failed for this email may still
///   sign in, so guessing from elsewhere cannot keep the real person out, while each new
///   address an attacker brings gets one guess before it is locked too.
/// - Per client address: after [`MAX_ADDRESS_FAILURES`] failures within the window, whatever
///   the emails, the address is locked, so one client cannot go through emails instead.
///
/// Locked attempts are refused without checking the password until enough failures leave the
/// window.
#[derive(Default)]
pub struct Throttle {
    inner: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    by_email: HashMap<String, Vec<(Timestamp, IpAddr)>>,
    by_address: HashMap<IpAddr, Vec<Timestamp>>,
}

impl Throttle {
    fn key(email: &str) -> String {
        email.trim().to_lowercase()
    }

    /// Whether, and for how long, a sign-in for this email from this client is locked out.
    pub fn locked_for(&self, email: &str, addr: IpAddr, now: Timestamp) -> Option<Locked> {
        let (addr, since) = (client_of(addr), now - FAILURE_WINDOW);
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let from_address: Vec<Timestamp> =
            map.by_address.get(&addr).map(|t| t.iter().copied().filter(|t| *t > since).collect()).unwrap_or_default();
        if from_address.len() >= MAX_ADDRESS_FAILURES {
            let until = from_address[from_address.len() - MAX_ADDRESS_FAILURES] + FAILURE_WINDOW;
            return Some(Locked::Address(until - now));
        }
        let recent: Vec<(Timestamp, IpAddr)> =
            map.by_email.get(&Self::key(email))?.iter().copied().filter(|(t, _)| *t > since).collect();
        let mine = recent.iter().filter(|(_, a)| *a == addr).map(|(t, _)| *t).max()?;
        if recent.len() < MAX_FAILURES {
            return None;
        }
        // Until fewer than MAX_FAILURES are in the window, or this client's last failure leaves it.
        let until = (recent[recent.len() - MAX_FAILURES].0 + FAILURE_WINDOW).min(mine + FAILURE_WINDOW);
        Some(Locked::Email(until - now))
    }

    pub fn failed(&self, email: &str, addr: IpAddr, now: Timestamp) {
        let (addr, since) = (client_of(addr), now - FAILURE_WINDOW);
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Forget what has left the window, for every email and address, so the maps stay small.
        map.by_email.retain(|_, times| {
            times.retain(|(t, _)| *t > since);
            !times.is_empty()
        });
        map.by_address.retain(|_, times| {
            times.retain(|t| *t > since);
            !times.is_empty()
        });
        map.by_email.entry(Self::key(email)).or_default().push((now, addr));
        map.by_address.entry(addr).or_default().push(now);
    }

    /// A sign-in succeeded: this client's failures for the email are forgotten (others' stay).
    pub fn succeeded(&self, email: &str, addr: IpAddr) {
        let addr = client_of(addr);
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(times) = map.by_email.get_mut(&Self::key(email)) {
            times.retain(|(_, a)| *a != addr);
            if times.is_empty() {
                map.by_email.remove(&Self::key(email));
            }
        }
    }
}

/// The sign-in form's CSRF token: a random value in a cookie set with the form, repeated in the
/// form, so that another site cannot sign a browser in to an account of its choosing.
pub const SIGN_IN_COOKIE: &str = "wabagate_sign_in";

pub fn new_sign_in_token() -> String {
    random_token()
}

/// Whether the sign-in form's token is the cookie's, in constant time.
pub fn sign_in_token_ok(cookie: Option<&str>, given: Option<&str>) -> bool {
    match (cookie, given) {
        (Some(c), Some(g)) if !c.is_empty() => bool::from(g.as_bytes().ct_eq(c.as_bytes())),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn five_failures_lock_an_email_out_for_the_clients_that_failed_until_the_oldest_leaves_the_window() {
        let t = Throttle::default();
        for i in 0..MAX_FAILURES as i64 {
            assert_eq!(t.locked_for("A@x.example", A, 1000 + i), None);
            t.failed("a@x.example ", A, 1000 + i);
        }
        assert_eq!(t.locked_for("a@x.example", A, 1010), Some(Locked::Email(1000 + FAILURE_WINDOW - 1010)));
        assert_eq!(t.locked_for("b@x.example", A, 1010), None);
        // A client that has not failed for this email is not locked out; once it fails, it is.
        assert_eq!(t.locked_for("a@x.example", B, 1010), None);
        t.failed("a@x.example", B, 1011);
        assert!(matches!(t.locked_for("a@x.example", B, 1012), Some(Locked::Email(_))));
        assert_eq!(t.locked_for("a@x.example", A, 1000 + FAILURE_WINDOW + 1), None);
        t.succeeded("a@x.example", A);
        assert_eq!(t.locked_for("a@x.example", A, 1012), None);
        // B's one failure stays, but alone it locks nothing.
        assert_eq!(t.inner.lock().unwrap().by_email["a@x.example"].len(), 1);
        assert_eq!(t.locked_for("a@x.example", B, 1012), None);
    }

    #[test]
    fn twenty_failures_from_one_client_lock_it_out_whatever_the_email() {
        let t = Throttle::default();
        for i in 0..MAX_ADDRESS_FAILURES {
            assert_eq!(t.locked_for(&format!("u{i}@x.example"), A, 1000), None);
            t.failed(&format!("u{i}@x.example"), A, 1000);
        }
        assert_eq!(t.locked_for("new@x.example", A, 1001), Some(Locked::Address(FAILURE_WINDOW - 1)));
        assert_eq!(t.locked_for("new@x.example", B, 1001), None);
    }

    #[test]
    fn an_ipv6_client_is_its_64_network() {
        let one: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert_eq!(client_of(one), client_of(other));
        assert_eq!(client_of("::ffff:192.0.2.1".parse().unwrap()), A);
    }

    #[test]
    fn the_sign_in_token_must_match_its_cookie() {
        assert!(sign_in_token_ok(Some("abc"), Some("abc")));
        assert!(!sign_in_token_ok(Some("abc"), Some("abd")));
        assert!(!sign_in_token_ok(Some("abc"), None));
        assert!(!sign_in_token_ok(None, Some("abc")));
        assert!(!sign_in_token_ok(Some(""), Some("")));
    }
}

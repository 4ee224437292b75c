//! Rate limits and injected faults, as a server is configured: both off by default.
//! docs/rate-limits.md says what a client sees; `graph` enforces them.

use std::time::Duration;

use model::Verb;

/// Call budgets, each over a rolling window; `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Calls per app per rolling hour (Meta's platform limit): code 4, `X-App-Usage`.
    pub app_calls_per_hour: Option<u32>,
    /// Calls per app per WABA per rolling hour (the WhatsApp Business Management API's business
    /// use case limit): code 80007, `X-Business-Use-Case-Usage`.
    pub waba_calls_per_hour: Option<u32>,
    /// Messages sent per business phone number per second (Cloud API throughput): code 130429.
    pub messages_per_second: Option<u32>,
}

impl RateLimits {
    pub fn is_off(&self) -> bool {
        *self == RateLimits::default()
    }
}

/// A fault injected into the requests of a route, for testing clients' retry logic.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// `None` matches every method.
    pub method: Option<Verb>,
    /// Path segments after the version; `*` matches any one segment.
    pub path: Vec<String>,
    pub effect: FaultEffect,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultEffect {
    /// This share of the requests (0–1) fails with code 2 (transient, HTTP 503).
    Error(f64),
    /// Every request waits this long before it is handled.
    Latency(Duration),
}

impl Fault {
    /// Parses `METHOD PATH EFFECT`: `post */assigned_users error=0.3`, `* * latency=200ms`,
    /// `get debug_token latency=1s`.
    pub fn parse(s: &str) -> Result<Fault, String> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let [method, path, effect] = parts.as_slice() else {
            return Err(format!("a fault is METHOD PATH EFFECT, as in `post */assigned_users error=0.3`; got `{s}`"));
        };
        let method = match method.to_ascii_lowercase().as_str() {
            "*" => None,
            "get" => Some(Verb::Get),
            "post" => Some(Verb::Post),
            "delete" => Some(Verb::Delete),
            other => return Err(format!("the method of a fault is get, post, delete or *; got `{other}`")),
        };
        let path = path.trim_matches('/').split('/').filter(|p| !p.is_empty()).map(str::to_string).collect();
        let effect = match effect.split_once('=') {
            Some(("error", rate)) => match rate.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => FaultEffect::Error(r),
                _ => return Err(format!("an error rate is a number from 0 to 1; got `{rate}`")),
            },
            Some(("latency", d)) => FaultEffect::Latency(parse_duration(d)?),
            _ => return Err(format!("the effect of a fault is error=RATE or latency=DURATION; got `{effect}`")),
        };
        Ok(Fault { method, path, effect })
    }

    /// Whether the fault applies to a request: the method, and the path segment by segment.
    pub fn matches(&self, verb: Verb, route: &[&str]) -> bool {
        self.method.is_none_or(|m| m == verb)
            && self.path.len() == route.len()
            && self.path.iter().zip(route).all(|(p, r)| p == "*" || p == r)
    }
}

/// `200ms`, `2s`, or a number of milliseconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("a latency is like 200ms or 2s; got `{s}`");
    if let Some(ms) = s.strip_suffix("ms") {
        ms.parse().map(Duration::from_millis).map_err(|_| bad())
    } else if let Some(secs) = s.strip_suffix('s') {
        secs.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).map(Duration::from_secs_f64).ok_or_else(bad)
    } else {
        s.parse().map(Duration::from_millis).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_match_by_method_and_segments() {
        let f = Fault::parse("post */assigned_users error=0.25").unwrap();
        assert_eq!(f.effect, FaultEffect::Error(0.25));
        assert!(f.matches(Verb::Post, &["123", "assigned_users"]));
        assert!(!f.matches(Verb::Get, &["123", "assigned_users"]));
        assert!(!f.matches(Verb::Post, &["123"]));
        let f = Fault::parse("* * latency=150ms").unwrap();
        assert_eq!(f.effect, FaultEffect::Latency(Duration::from_millis(150)));
        assert!(f.matches(Verb::Delete, &["me"]));
        assert_eq!(
            Fault::parse("get debug_token latency=1.5s").unwrap().effect,
            FaultEffect::Latency(Duration::from_millis(1500))
        );
        for bad in ["post error=0.5", "put * error=0.5", "get * error=2", "get * latency=soon", "get * crash=1"] {
            assert!(Fault::parse(bad).is_err(), "{bad}");
        }
    }
}

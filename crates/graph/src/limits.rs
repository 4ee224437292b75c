//! Enforces the configured rate limits (docs/rate-limits.md) over rolling windows kept in this
//! server's memory, and reports usage in Meta's headers: `X-App-Usage` for the app's budget,
//! `X-Business-Use-Case-Usage` for a WABA's.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use model::{GraphError, GraphId, Kind, Timestamp, Verb, World};
use serde_json::json;
use service::limits::RateLimits;

const HOUR: i64 = 3600;

/// Which budget a window counts.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Budget {
    App { app: GraphId },
    Waba { app: GraphId, waba: GraphId },
    Messages { phone: GraphId },
}

pub struct Limiter {
    limits: RateLimits,
    /// The times of the calls in each budget's window, oldest first.
    windows: Mutex<HashMap<Budget, VecDeque<Timestamp>>>,
}

/// One budget's state after a call was counted (or refused).
struct Usage {
    admitted: bool,
    /// Share of the budget used, in percent.
    percent: u64,
    /// Seconds until the oldest call in the window leaves it, when refused.
    regain_after: i64,
}

impl Limiter {
    pub fn new(limits: RateLimits) -> Self {
        Limiter { limits, windows: Mutex::new(HashMap::new()) }
    }

    /// Whether any budget is configured.
    pub fn is_on(&self) -> bool {
        !self.limits.is_off()
    }

    /// Counts a call of `app` on the route against every budget it falls under, writing the usage
    /// headers; the first budget that is spent refuses the call.
    pub fn admit(
        &self,
        world: &World,
        now: Timestamp,
        app: GraphId,
        verb: Verb,
        route: &[&str],
        headers: &mut HeaderMap,
    ) -> Result<(), GraphError> {
        if let Some(limit) = self.limits.app_calls_per_hour {
            let usage = self.take(Budget::App { app }, limit, HOUR, now);
            let value = json!({"call_count": usage.percent, "total_cputime": 0, "total_time": 0});
            insert(headers, "x-app-usage", &value.to_string());
            if !usage.admitted {
                return Err(GraphError::app_rate_limit());
            }
        }
        let node = route.first().and_then(|n| GraphId::parse(n));
        if let (Some(limit), Some(waba)) = (self.limits.waba_calls_per_hour, node.and_then(|n| waba_of(world, n))) {
            let usage = self.take(Budget::Waba { app, waba }, limit, HOUR, now);
            let value = json!({ waba.to_string(): [{
                "type": "whatsapp_business_management",
                "call_count": usage.percent,
                "total_cputime": 0,
                "total_time": 0,
                // Minutes, rounded up, as Meta gives it.
                "estimated_time_to_regain_access": (usage.regain_after + 59) / 60,
            }]});
            insert(headers, "x-business-use-case-usage", &value.to_string());
            if !usage.admitted {
                return Err(GraphError::waba_rate_limit());
            }
        }
        let sends = verb == Verb::Post && route.get(1) == Some(&"messages");
        if let (Some(limit), Some(phone), true) = (self.limits.messages_per_second, node, sends)
            && world.phone_number(phone).is_some()
            && !self.take(Budget::Messages { phone }, limit, 1, now).admitted
        {
            return Err(GraphError::throughput_limit());
        }
        Ok(())
    }

    /// Counts a call in a budget's rolling window of `window` seconds, unless it is full.
    fn take(&self, budget: Budget, limit: u32, window: i64, now: Timestamp) -> Usage {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let calls = windows.entry(budget).or_default();
        while calls.front().is_some_and(|&t| t <= now - window) {
            calls.pop_front();
        }
        let limit = limit as usize;
        let admitted = calls.len() < limit;
        if admitted {
            calls.push_back(now);
        }
        let regain_after = if admitted { 0 } else { calls.front().map_or(0, |&t| t + window - now) };
        Usage { admitted, percent: (calls.len() * 100 / limit.max(1)) as u64, regain_after }
    }
}

/// The WABA a node belongs to, for the WABA's budget: the WABA itself, or the WABA of a phone
/// number or a message template.
fn waba_of(world: &World, node: GraphId) -> Option<GraphId> {
    match world.kind(node)? {
        Kind::Waba => Some(node),
        Kind::PhoneNumber => world.phone_number(node).map(|p| p.waba),
        Kind::Template => world.template(node).map(|t| t.waba),
        _ => None,
    }
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

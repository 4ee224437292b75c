//! What an operator sees of each request: one log line, with the route, the status, the latency,
//! the caller's app and system user, and the `fbtrace_id` the client got, so an error a client
//! reports can be found in the log. Never a token, a secret or a password: those travel in
//! parameters and headers, which are not logged.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// A request's path as a route: the version prefix dropped, ids as `{id}`, and anything that is
/// not a plain lower-case name as `{other}`, so routes are few (they label metrics too).
pub fn route_of(path: &str) -> String {
    let mut segments = path.split('/').filter(|s| !s.is_empty()).peekable();
    if segments.peek().is_some_and(|first| graph::is_version(first)) {
        segments.next();
    }
    let mut route = String::with_capacity(path.len());
    for segment in segments {
        route.push('/');
        let named = segment.len() <= 40
            && segment
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' || b == b'.');
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            route.push_str("{id}");
        } else if named {
            route.push_str(segment);
        } else {
            route.push_str("{other}");
        }
    }
    if route.is_empty() {
        route.push('/');
    }
    route
}

/// Logs one line per request, after its answer.
pub async fn log_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = route_of(req.uri().path());
    let response = next.run(req).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let handled = response.extensions().get::<graph::Handled>();
    let id = |v: Option<model::GraphId>| v.map(|v| v.to_string()).unwrap_or_default();
    tracing::info!(
        target: "wabagate::request",
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms = (latency_ms * 1000.0).round() / 1000.0,
        app = %id(handled.and_then(|h| h.app)),
        system_user = %id(handled.and_then(|h| h.system_user)),
        code = handled.and_then(|h| h.code).unwrap_or(0),
        fbtrace_id = handled.map_or("", |h| h.fbtrace_id.as_str()),
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::route_of;

    #[test]
    fn routes_hide_ids_and_anything_unusual() {
        assert_eq!(route_of("/v23.0/1234567890123456/assigned_users"), "/{id}/assigned_users");
        assert_eq!(route_of("/me"), "/me");
        assert_eq!(route_of("/console/system-users/42/token"), "/console/system-users/{id}/token");
        assert_eq!(route_of("/v23.0/EAAsecretlooking/x"), "/{other}/x");
        assert_eq!(route_of("/_wabagate/apps/1/webhook_deliveries"), "/_wabagate/apps/{id}/webhook_deliveries");
        assert_eq!(route_of(""), "/");
    }
}

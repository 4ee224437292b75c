//! What an operator sees of each request: one log line, with the route, the status, the latency,
//! the caller's app and system user, and the `fbtrace_id` the client got, so an error a client
//! reports can be found in the log (never a token, a secret or a password: those travel in
//! parameters and headers, which are not logged); and the Prometheus metrics of `GET /metrics`
//! (docs/operations.md lists them).

use std::sync::OnceLock;
use std::time::Instant;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

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

/// The process's metrics recorder, installed on first use (one per process: servers in one
/// process, as in tests, count together).
pub fn metrics() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            const SECONDS: &[f64] =
                &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
            let built = PrometheusBuilder::new().set_buckets(SECONDS).and_then(|b| b.install_recorder());
            built.map_err(|e| tracing::warn!(error = %e, "no metrics: cannot install the recorder")).ok()
        })
        .as_ref()
}

/// Whether a Graph error refuses the caller (an authorization's outcome), rather than the request.
fn refusal(code: u32, subcode: Option<u32>) -> bool {
    matches!(code, 4 | 10 | 15 | 102 | 104 | 190 | 200..=299) || (code == 100 && subcode == Some(33))
}

/// Logs one line per request, after its answer, and counts it.
pub async fn log_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = route_of(req.uri().path());
    let response = next.run(req).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let handled = response.extensions().get::<graph::Handled>();
    let status = response.status().as_u16();
    let labels = [("method", method.as_str().to_string()), ("route", route.clone())];
    metrics::counter!(
        "wabagate_http_requests_total",
        "method" => method.as_str().to_string(), "route" => route.clone(), "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("wabagate_http_request_duration_seconds", &labels).record(latency_ms / 1000.0);
    if let Some(h) = handled.filter(|h| h.app.is_some() || h.code.is_some()) {
        match h.code {
            None => {
                metrics::counter!("wabagate_authorizations_total", "outcome" => "allowed", "code" => "").increment(1)
            }
            Some(code) if refusal(code, h.subcode) => {
                metrics::counter!("wabagate_authorizations_total", "outcome" => "refused", "code" => code.to_string())
                    .increment(1)
            }
            Some(_) => {}
        }
    }
    let id = |v: Option<model::GraphId>| v.map(|v| v.to_string()).unwrap_or_default();
    tracing::info!(
        target: "wabagate::request",
        method = %method,
        route = %route,
        status,
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

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

/// The label of every request no route serves.
pub const OTHER_ROUTE: &str = "{other}";

/// A request's route, as the servers' routers know it: a console or health route as declared
/// (`/console/system-users/{id}`), a Graph route as its dispatcher serves it (version dropped, ids
/// as `{id}`), and every other path [`OTHER_ROUTE`], so routes are few whatever clients send
/// (they label metrics).
pub fn route_of(matched: Option<&str>, path: &str) -> String {
    match matched {
        Some(declared) => declared.to_string(),
        None => graph::route_label(path).unwrap_or_else(|| OTHER_ROUTE.to_string()),
    }
}

/// A request's method as a label: the methods HTTP defines, and `OTHER` for any extension method.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN.iter().find(|m| *m == method).map_or("OTHER", |m| m.as_str())
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
    let method = method_label(req.method());
    let matched = req.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_string());
    let route = route_of(matched.as_deref(), req.uri().path());
    let response = next.run(req).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let handled = response.extensions().get::<graph::Handled>();
    let status = response.status().as_u16();
    let labels = [("method", method.to_string()), ("route", route.clone())];
    metrics::counter!(
        "wabagate_http_requests_total",
        "method" => method, "route" => route.clone(), "status" => status.to_string()
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
    use super::{method_label, route_of};

    #[test]
    fn routes_hide_ids_and_name_only_what_a_handler_serves() {
        let graph = |path: &str| route_of(None, path);
        assert_eq!(graph("/v23.0/1234567890123456/assigned_users"), "/{id}/assigned_users");
        assert_eq!(graph("/assigned_users/1234567890123456"), "{other}");
        assert_eq!(graph("/me"), "/me");
        assert_eq!(
            graph("/v99999.0/me/assigned_whatsapp_business_accounts"),
            "/me/assigned_whatsapp_business_accounts"
        );
        assert_eq!(graph("/v23.0/1234567890123456/no_such_edge"), "{other}");
        assert_eq!(graph("/v23.0/EAAsecretlooking/x"), "{other}");
        assert_eq!(graph("/v23.0/EAAsecretlooking"), "{other}");
        assert_eq!(graph("/_wabagate/apps/1/webhook_deliveries"), "/_wabagate/apps/{id}/webhook_deliveries");
        assert_eq!(graph("/_wabagate/apps/x/webhook_deliveries"), "{other}");
        assert_eq!(graph("/console/no-such-page"), "{other}");
        assert_eq!(graph(&"a/".repeat(10_000)), "{other}");
        assert_eq!(graph(""), "{other}");
        assert_eq!(
            route_of(Some("/console/system-users/{id}/token"), "/console/system-users/42/token"),
            "/console/system-users/{id}/token"
        );
    }

    #[test]
    fn methods_outside_http_s_own_are_one_label() {
        assert_eq!(method_label(&axum::http::Method::GET), "GET");
        assert_eq!(method_label(&axum::http::Method::from_bytes(b"BREW").unwrap()), "OTHER");
    }
}

//! Starting and stopping a wabagate server: open the store, load the world, seed it when empty,
//! write bootstrap.json, and serve the Graph API. The binary and the testkit both start here.

pub mod copy;
pub mod http;
pub mod observe;
pub mod private;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use service::fixtures::{Fixtures, Seeded, demo};
use service::{Clock, Service, Settings};
use store::{PgStore, SqliteStore, Store};

/// How often coalesced token last-use times are written to the store.
pub const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// How often a server on a shared store checks the change log without a notification.
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

/// How often PENDING templates whose automatic review is due are approved.
pub const TEMPLATE_REVIEW_INTERVAL: Duration = Duration::from_secs(1);

pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub fixtures: Option<PathBuf>,
    /// A PostgreSQL URL (`postgres://…`) to keep the world in, shared with other servers; `None`
    /// keeps it in SQLite under `data`.
    pub database: Option<String>,
    pub clock: Arc<Clock>,
    pub settings: Settings,
    /// Where clients reach this server (`--public-url`): the base of the links it answers
    /// (`paging.next`); `None` for the listening address, `http://HOST:PORT`.
    pub public_url: Option<String>,
    /// How long a stop waits for the requests in flight ([`http::SHUTDOWN_DEADLINE`]).
    pub shutdown_deadline: Duration,
}

#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub graph_url: String,
    pub service: Arc<Service>,
    /// What this start seeded (the first start on an empty store only).
    pub seeded: Option<Seeded>,
    /// The contents of bootstrap.json.
    pub bootstrap: Value,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Checks a `--public-url`: an absolute `http://` or `https://` URL with a host and neither
/// query nor fragment; answered without a trailing slash.
pub fn parse_public_url(s: &str) -> Result<String, String> {
    let url = s.trim().trim_end_matches('/');
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !rest.contains(['?', '#', ' ']) => {
            Ok(url.to_string())
        }
        _ => Err(format!("'{s}' is not an http:// or https:// URL without query or fragment")),
    }
}

pub const BOOTSTRAP_FILE: &str = "bootstrap.json";
pub const DATABASE_FILE: &str = "wabagate.db";

/// Opens the store (PostgreSQL when `cfg.database` names one, else SQLite under `cfg.data`),
/// seeds it if empty, and starts serving.
pub async fn start(cfg: ServeConfig) -> Result<Server, StartError> {
    private::secure_data_dir(&cfg.data)?;
    let store: Arc<dyn Store> = match cfg.database.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Arc::new(
            PgStore::open(url).await.map_err(|e| StartError(format!("cannot open the PostgreSQL store: {e}")))?,
        ),
        Some(other) => {
            // Only the scheme: the rest of a URL may hold a password.
            let scheme = other.split_once("://").map_or("", |(scheme, _)| scheme);
            return Err(StartError(format!("--database takes a postgres:// URL, not a {scheme}:// one")));
        }
        None => {
            let db = cfg.data.join(DATABASE_FILE);
            Arc::new(
                SqliteStore::open(&db)
                    .map_err(|e| StartError(format!("cannot open the store {}: {e}", db.display())))?,
            )
        }
    };
    start_with_store(cfg, store).await
}

/// Starts serving over a store already opened (tests wrap the store to watch it).
pub async fn start_with_store(cfg: ServeConfig, store: Arc<dyn Store>) -> Result<Server, StartError> {
    private::secure_data_dir(&cfg.data)?;
    let fixtures = match &cfg.fixtures {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| StartError(format!("cannot read fixtures {}: {e}", path.display())))?;
            Some(Fixtures::parse(&text).map_err(|e| StartError(format!("{}: {e}", path.display())))?)
        }
        None => None,
    };
    let (clock, settings) = (cfg.clock.clone(), cfg.settings.clone());
    let watch = store.watch();
    let service = tokio::task::spawn_blocking(move || Service::open(store, clock, settings))
        .await
        .map_err(|e| StartError(format!("cannot load the store: {e}")))?
        .map(Arc::new)
        .map_err(|e| StartError(format!("cannot load the store: {e}")))?;
    service.catch_up().await.map_err(|e| StartError(format!("cannot read the change log: {e}")))?;

    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| StartError(format!("cannot listen on {}: {e}", cfg.listen)))?;
    let addr = listener.local_addr().map_err(|e| StartError(e.to_string()))?;
    let host = if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
    let graph_url = if addr.is_ipv6() {
        format!("http://[{host}]:{}", addr.port())
    } else {
        format!("http://{host}:{}", addr.port())
    };

    let seeded = service.seed_if_empty(fixtures.as_ref()).await.map_err(|e| StartError(e.to_string()))?;
    let bootstrap_path = cfg.data.join(BOOTSTRAP_FILE);
    let bootstrap = match &seeded {
        Some(s) => {
            let b = bootstrap_json(&graph_url, s, fixtures.is_some());
            write_private(&bootstrap_path, &b)?;
            b
        }
        None => std::fs::read_to_string(&bootstrap_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null),
    };

    observe::metrics();
    let shutdown_deadline = cfg.shutdown_deadline;
    let (shutdown, mut stop) = tokio::sync::watch::channel(false);
    let app = health_router(service.clone())
        .merge(console::router(service.clone()))
        .merge(graph::router(service.clone(), cfg.public_url.as_deref().unwrap_or(&graph_url)))
        .layer(axum::middleware::from_fn(observe::log_requests));
    let flusher = service.clone();
    let mut flush_stop = shutdown.subscribe();
    let follow_stop = shutdown.subscribe();
    let follower = service.clone();
    let deliveries = tokio::spawn(service.clone().run_deliveries(shutdown.subscribe()));
    let task = tokio::spawn(async move {
        let flush = tokio::spawn(async move {
            let mut usage = tokio::time::interval(USAGE_FLUSH_INTERVAL);
            let mut review = tokio::time::interval(TEMPLATE_REVIEW_INTERVAL);
            loop {
                tokio::select! {
                    _ = usage.tick() => { let _ = flusher.flush_usage().await; }
                    _ = review.tick() => {
                        let _ = flusher.review_due_templates().await;
                        let _ = flusher.prune_messages().await;
                    }
                    _ = flush_stop.changed() => break,
                }
            }
        });
        // On a shared store, follow the other servers' writes: on each notification, and every
        // second in case one was missed.
        let follow = watch.map(|changed| {
            let follower = follower.clone();
            let mut stop = follow_stop;
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = changed.notified() => {}
                        _ = tokio::time::sleep(FOLLOW_INTERVAL) => {}
                        _ = stop.changed() => break,
                    }
                    let _ = follower.catch_up().await;
                }
            })
        });
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        http::serve(listener, app, stopped, shutdown_deadline).await;
        let _ = flush.await;
        let _ = deliveries.await;
        if let Some(follow) = follow {
            let _ = follow.await;
        }
    });
    Ok(Server { addr, graph_url, service, seeded, bootstrap, shutdown, task })
}

impl Server {
    /// Stops accepting, finishes the requests in flight (up to the shutdown deadline), hands back
    /// the webhook deliveries being sent (queued ones are already in the store), and flushes token
    /// last-use times.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        if let Err(e) = self.service.flush_usage().await {
            tracing::warn!(error = %e, "could not flush token last-use times");
        }
    }
}

/// `/healthz` (the process answers), `/readyz` (the store answers, the world is loaded and, on a
/// shared store, memory follows its change log: 503 otherwise) and `/metrics` (Prometheus text).
fn health_router(service: Arc<Service>) -> axum::Router {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::get;
    let started = std::time::Instant::now();
    let ready = service.clone();
    let scraped = service;
    axum::Router::new()
        .route(
            "/healthz",
            get(move || async move {
                axum::Json(json!({
                    "status": "alive",
                    "version": env!("CARGO_PKG_VERSION"),
                    "uptime_seconds": started.elapsed().as_secs(),
                }))
            }),
        )
        .route(
            "/readyz",
            get(move |headers: axum::http::HeaderMap, uri: axum::http::Uri| {
                let service = ready.clone();
                async move {
                    let (status, body) = readiness(&service).await;
                    if readiness_details_allowed(&service, &headers, &uri) {
                        (status, axum::Json(body))
                    } else {
                        (status, axum::Json(readiness_summary(&body)))
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let service = scraped.clone();
                async move {
                    let Some(handle) = observe::metrics() else {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    };
                    if service.store().is_shared() {
                        let store = service.store().clone();
                        if let Ok(Ok(head)) = tokio::task::spawn_blocking(move || store.log_head()).await {
                            let applied = service.applied_seq();
                            metrics::gauge!("wabagate_changelog_head_seq").set(head as f64);
                            metrics::gauge!("wabagate_changelog_applied_seq").set(applied as f64);
                            metrics::gauge!("wabagate_changelog_lag").set(head.saturating_sub(applied) as f64);
                        }
                    }
                    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
                }
            }),
        )
}

/// Whether a `/readyz` request may see each check's details (object counts, positions, errors):
/// only with the token of an ADMIN system user, as `Authorization: Bearer` or `access_token`
/// (with `appsecret_proof` when its app requires one). Anyone else gets [`readiness_summary`].
fn readiness_details_allowed(service: &Service, headers: &axum::http::HeaderMap, uri: &axum::http::Uri) -> bool {
    let params = graph::params::Params::from_query(uri.query().unwrap_or(""));
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    let Some(token) = params.text("access_token").map(|t| t.into_owned()).or(bearer) else { return false };
    match service.authenticate(&token, params.text("appsecret_proof").as_deref(), false) {
        Ok(service::Authenticated::User { acting, .. }) => acting.principal().role == model::Role::Admin,
        _ => false,
    }
}

/// What `/readyz` tells a caller without an admin token: the status, and the names of the
/// checks that fail.
fn readiness_summary(details: &Value) -> Value {
    let failing: Vec<&String> = details["checks"]
        .as_object()
        .map(|checks| checks.iter().filter(|(_, c)| c["ok"] != true).map(|(name, _)| name).collect())
        .unwrap_or_default();
    if failing.is_empty() {
        json!({"status": details["status"]})
    } else {
        json!({"status": details["status"], "failing": failing})
    }
}

/// What `/readyz` answers: each check, and 200 only if all pass.
async fn readiness(service: &Service) -> (axum::http::StatusCode, Value) {
    let store = service.store().clone();
    let pinged = std::time::Instant::now();
    let ping = tokio::task::spawn_blocking(move || store.ping()).await;
    let store_check = match ping {
        Ok(Ok(())) => json!({"ok": true, "latency_ms": pinged.elapsed().as_secs_f64() * 1000.0}),
        Ok(Err(e)) => json!({"ok": false, "error": e.to_string()}),
        Err(_) => json!({"ok": false, "error": "the check did not finish"}),
    };
    let shared = service.store().is_shared();
    let following = service.is_ready();
    let counts = service.world().counts();
    let ok = store_check["ok"] == true && following;
    let body = json!({
        "status": if ok { "ready" } else { "not_ready" },
        "checks": {
            "store": store_check,
            "index": {"ok": service.memory_matches_store(), "counts": counts},
            "change_log": {
                "ok": following,
                "shared_store": shared,
                "listening": service.store().listening().is_some(),
                "applied_seq": service.applied_seq(),
            },
        },
        "shared_store": shared,
        "applied_seq": service.applied_seq(),
    });
    let status = if ok { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE };
    (status, body)
}

/// bootstrap.json: for the demo world exactly the documented keys; for fixtures the ids of
/// every keyed object and the generated secrets.
fn bootstrap_json(graph_url: &str, s: &Seeded, from_fixtures: bool) -> Value {
    if from_fixtures {
        return json!({
            "graph_url": graph_url,
            "ids": s.ids,
            "tokens": s.tokens,
            "app_secrets": s.app_secrets,
        });
    }
    let id = |key: &str| s.ids.get(key).map(|i| i.to_string()).unwrap_or_default();
    json!({
        "graph_url": graph_url,
        "business_id": id(demo::PARTNER),
        "app_id": id(demo::APP),
        "app_secret": s.app_secrets.get(demo::APP),
        "admin_system_user_id": id(demo::ADMIN),
        "admin_token": s.tokens.get(demo::ADMIN_TOKEN),
        "person_email": "admin@acme.example",
        "person_password": s.passwords.get(demo::PERSON),
        "waba_id": id(demo::WABA),
        "phone_number_id": id(demo::PHONE),
        "client_business_id": id(demo::CLIENT),
        "client_waba_id": id(demo::CLIENT_WABA),
        "extended_credit_id": id(demo::CREDIT),
    })
}

/// Writes a file only its owner can read, atomically.
fn write_private(path: &Path, value: &Value) -> Result<(), StartError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| StartError(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod public_url_tests {
    use super::parse_public_url;

    #[test]
    fn public_urls_are_absolute_http_urls_without_query_or_trailing_slash() {
        assert_eq!(parse_public_url("https://graph.example.test/").as_deref(), Ok("https://graph.example.test"));
        assert_eq!(parse_public_url("http://10.0.0.5:8787").as_deref(), Ok("http://10.0.0.5:8787"));
        assert_eq!(parse_public_url("https://example.test/graph").as_deref(), Ok("https://example.test/graph"));
        for bad in ["graph.example.test", "ftp://x", "https://", "https:///x", "https://x?a=1", "https://x#f", ""] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}

//! What operators watch: `/readyz` and `/healthz` explain themselves. (`/metrics` is tested
//! against the binary, whose metrics are its own: crates/wabagate/tests/metrics.rs.)

use serde_json::{Value, json};
use testkit::TestServer;

#[tokio::test]
async fn health_and_readiness_explain_themselves() {
    let ts = TestServer::start().await;
    let health: Value = ts.client().get(format!("{}/healthz", ts.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "alive");
    assert!(health["version"].is_string() && health["uptime_seconds"].is_u64(), "{health}");
    let ready = ts.client().get(format!("{}/readyz", ts.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["store"]["ok"], true);
    assert_eq!(ready["checks"]["index"]["ok"], true);
    assert!(ready["checks"]["index"]["counts"]["system_users"].as_u64().unwrap() >= 1, "{ready}");
    assert_eq!(ready["checks"]["change_log"]["ok"], true);
    assert_eq!(ready["checks"]["change_log"]["shared_store"], json!(ts.database().is_some()));
}

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
    let ready = ts.client().get(format!("{}/readyz", ts.url)).bearer_auth(ts.admin()).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["store"]["ok"], true);
    assert_eq!(ready["checks"]["index"]["ok"], true);
    assert!(ready["checks"]["index"]["counts"]["system_users"].as_u64().unwrap() >= 1, "{ready}");
    assert_eq!(ready["checks"]["change_log"]["ok"], true);
    assert_eq!(ready["checks"]["change_log"]["shared_store"], json!(ts.database().is_some()));
}

#[tokio::test]
async fn readiness_tells_strangers_only_the_status_and_admins_the_details() {
    let ts = TestServer::start().await;
    let readyz = |token: Option<String>, query: &'static str| {
        let mut request = ts.client().get(format!("{}/readyz{query}", ts.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // Without a token, with a wrong one or an employee's: the status alone.
    let (_, employee) = ts.employee("Reader", "business_management").await;
    for token in [None, Some("EAAnotatoken".to_string()), Some(employee)] {
        let (status, body) = readyz(token.clone(), "").await;
        assert_eq!((status, &body), (200, &json!({"status": "ready"})), "{token:?}");
    }
    // An ADMIN system user's token, as a header or a parameter: every check and the counts.
    let (status, body) = readyz(Some(ts.admin()), "").await;
    assert_eq!(status, 200);
    assert!(body["checks"]["index"]["counts"]["wabas"].as_u64().unwrap() >= 1, "{body}");
    let url = format!("{}/readyz?access_token={}", ts.url, ts.admin());
    let body: Value = ts.client().get(url).send().await.unwrap().json().await.unwrap();
    assert!(body["checks"]["store"]["latency_ms"].is_number(), "{body}");
}

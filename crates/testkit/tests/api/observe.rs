//! What operators watch: `/metrics` counts known traffic, `/readyz` and `/healthz` explain
//! themselves.

use serde_json::{Value, json};
use testkit::TestServer;

/// The sum of a metric's samples whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

async fn scrape(ts: &TestServer) -> String {
    let r = ts.client().get(format!("{}/metrics", ts.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    r.text().await.unwrap()
}

#[tokio::test]
async fn metrics_count_requests_authorizations_tokens_store_calls_and_webhooks() {
    let ts = TestServer::start_with_settings(crate::deliveries::settings(crate::deliveries::quick())).await;
    let receiver = crate::deliveries::demo_subscribed(&ts, "messages").await;
    let before = scrape(&ts).await;
    let admin = ts.admin();
    for _ in 0..3 {
        ts.get("me", Some(&admin), &[]).await.ok();
    }
    for _ in 0..2 {
        ts.get("me", Some("EAAnotatokenatall"), &[]).await.assert_error(401, 190, None);
    }
    let (su, minted) = ts.employee("Counted", "business_management").await;
    let (app, secret) = (ts.b("app_id"), ts.b("app_secret"));
    let revoke = [("client_id", app.as_str()), ("client_secret", secret.as_str()), ("revoke_token", minted.as_str())];
    ts.get("oauth/revoke", Some(&admin), &revoke).await.ok();
    let path = format!("_wabagate/phone_numbers/{}/inbound", ts.b("phone_number_id"));
    ts.post(&path, Some(&admin), &[("from", "16505551234"), ("text", "counted")]).await.ok();
    receiver.wait_for(1).await;
    // The attempt is recorded just after the receiver answers.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = scrape(&ts).await;

    let delta = |name: &str, labels: &[(&str, &str)]| sample(&after, name, labels) - sample(&before, name, labels);
    let me_ok = [("method", "GET"), ("route", "/me"), ("status", "200")];
    assert_eq!(delta("wabagate_http_requests_total", &me_ok), 3.0, "{after}");
    let me_refused = [("method", "GET"), ("route", "/me"), ("status", "401")];
    assert_eq!(delta("wabagate_http_requests_total", &me_refused), 2.0);
    assert_eq!(delta("wabagate_http_request_duration_seconds_count", &[("route", "/me")]), 5.0);
    assert_eq!(delta("wabagate_authorizations_total", &[("outcome", "refused"), ("code", "190")]), 2.0);
    assert!(delta("wabagate_authorizations_total", &[("outcome", "allowed")]) >= 3.0);
    assert_eq!(delta("wabagate_tokens_minted_total", &[]), 1.0);
    assert_eq!(delta("wabagate_tokens_revoked_total", &[]), 1.0);
    assert!(delta("wabagate_store_seconds_count", &[("op", "commit")]) >= 3.0, "{after}");
    assert_eq!(delta("wabagate_webhook_attempts_total", &[("outcome", "delivered")]), 1.0);
    // Routes hide ids: no series names a system user.
    assert!(!after.contains(&su), "an id in a label");
}

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

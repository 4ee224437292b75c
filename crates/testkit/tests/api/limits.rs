//! Rate limits and injected faults, switched on by configuration (docs/rate-limits.md).

use serde_json::{Value, json};
use service::limits::{Fault, RateLimits};
use testkit::TestServer;

/// A GET with the token in the query: status, the two usage headers, and the body.
async fn call(ts: &TestServer, path: &str, token: &str) -> (u16, Option<Value>, Option<Value>, Value) {
    let r = ts.client().get(ts.graph(path)).query(&[("access_token", token)]).send().await.unwrap();
    let header = |name: &str| r.headers().get(name).map(|v| serde_json::from_str(v.to_str().unwrap()).unwrap());
    let (app, buc) = (header("x-app-usage"), header("x-business-use-case-usage"));
    (r.status().as_u16(), app, buc, r.json().await.unwrap())
}

fn settings(rate_limits: RateLimits, faults: Vec<Fault>) -> service::Settings {
    service::Settings { rate_limits, faults, ..Default::default() }
}

#[tokio::test]
async fn no_limits_and_no_usage_headers_by_default() {
    let ts = TestServer::start().await;
    for _ in 0..50 {
        let (status, app, buc, _) = call(&ts, &ts.b("waba_id"), &ts.admin()).await;
        assert_eq!((status, app, buc), (200, None, None));
    }
}

#[tokio::test]
async fn an_app_over_its_hourly_budget_gets_code_4_with_x_app_usage_until_the_hour_rolls_on() {
    let limits = RateLimits { app_calls_per_hour: Some(4), ..Default::default() };
    let ts = TestServer::start_with_settings(settings(limits, Vec::new())).await;
    let admin = ts.admin();
    for used in [25, 50, 75, 100] {
        let (status, app, _, _) = call(&ts, "me", &admin).await;
        assert_eq!(status, 200);
        assert_eq!(app, Some(json!({"call_count": used, "total_cputime": 0, "total_time": 0})));
    }
    let (status, app, _, body) = call(&ts, "me", &admin).await;
    assert_eq!(status, 400);
    assert_eq!(app.unwrap()["call_count"], 100);
    assert_eq!(body["error"]["code"], 4);
    assert_eq!(body["error"]["message"], "(#4) Application request limit reached");
    assert_eq!(body["error"]["is_transient"], true);
    // The budget is the app's, whichever of its tokens calls: its app token is refused too.
    let app_token = format!("{}|{}", ts.b("app_id"), ts.b("app_secret"));
    let (_, _, _, body) = call(&ts, &format!("debug_token?input_token={admin}"), &app_token).await;
    assert_eq!(body["error"]["code"], 4);
    // An hour later the window has emptied.
    ts.advance_clock(3600);
    let (status, app, _, _) = call(&ts, "me", &admin).await;
    assert_eq!((status, app.unwrap()["call_count"].as_u64()), (200, Some(25)));
}

#[tokio::test]
async fn a_waba_over_its_budget_gets_code_80007_with_the_business_use_case_header() {
    let limits = RateLimits { waba_calls_per_hour: Some(2), ..Default::default() };
    let ts = TestServer::start_with_settings(settings(limits, Vec::new())).await;
    let (admin, waba, phone) = (ts.admin(), ts.b("waba_id"), ts.b("phone_number_id"));
    let (status, app, buc, _) = call(&ts, &waba, &admin).await;
    assert_eq!((status, app), (200, None));
    assert_eq!(
        buc,
        Some(json!({ waba.clone(): [{
            "type": "whatsapp_business_management", "call_count": 50, "total_cputime": 0, "total_time": 0,
            "estimated_time_to_regain_access": 0,
        }]}))
    );
    // A phone number of the WABA counts against the WABA.
    let (status, _, buc, _) = call(&ts, &phone, &admin).await;
    assert_eq!((status, buc.unwrap()[&waba][0]["call_count"].as_u64()), (200, Some(100)));
    ts.advance_clock(600);
    let (status, _, buc, body) = call(&ts, &format!("{waba}/phone_numbers"), &admin).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 80007);
    assert_eq!(body["error"]["error_data"]["messaging_product"], "whatsapp");
    // The first call leaves the window 50 minutes from now.
    assert_eq!(buc.unwrap()[&waba][0]["estimated_time_to_regain_access"], 50);
    // Calls outside the WABA are not counted against it.
    assert_eq!(call(&ts, "me", &admin).await.0, 200);
    ts.advance_clock(3000);
    assert_eq!(call(&ts, &waba, &admin).await.0, 200);
}

#[tokio::test]
async fn sending_faster_than_the_throughput_gets_code_130429() {
    let limits = RateLimits { messages_per_second: Some(2), ..Default::default() };
    let ts = TestServer::start_with_settings(settings(limits, Vec::new())).await;
    let (admin, phone) = (ts.admin(), ts.b("phone_number_id"));
    let text = json!({"messaging_product": "whatsapp", "to": "15551234567", "type": "text", "text": {"body": "hi"}});
    let mut codes = Vec::new();
    for _ in 0..6 {
        let r = ts.post_json(&format!("{phone}/messages"), &admin, text.clone()).await;
        codes.push(if r.status == 200 { 0 } else { r.assert_error(400, 130429, None)["code"].as_u64().unwrap() });
    }
    // Six sends within a second or two: at most two a second get through.
    assert!(codes.iter().filter(|c| **c == 130429).count() >= 2, "{codes:?}");
    ts.advance_clock(2);
    ts.post_json(&format!("{phone}/messages"), &admin, text).await.ok();
    // Reads of the number are not messages.
    assert_eq!(call(&ts, &phone, &admin).await.0, 200);
}

#[tokio::test]
async fn injected_faults_fail_or_slow_the_routes_they_name() {
    let faults = vec![
        Fault::parse("post */assigned_users error=1").unwrap(),
        Fault::parse("get debug_token latency=300ms").unwrap(),
    ];
    let ts = TestServer::start_with_settings(settings(RateLimits::default(), faults)).await;
    let (admin, waba) = (ts.admin(), ts.b("waba_id"));
    let su = ts.create_system_user("Faulty", "EMPLOYEE").await;
    let r = ts.assign(&waba, &su, "MANAGE_TEMPLATES").await;
    let e = r.assert_error(503, 2, None);
    assert_eq!(e["is_transient"], true);
    // Nothing was written, and other routes are untouched.
    let listed = ts.get(&format!("{waba}/assigned_users"), Some(&admin), &[("business", &ts.b("business_id"))]).await;
    assert!(!listed.ids().contains(&su));
    let started = std::time::Instant::now();
    ts.get("debug_token", Some(&admin), &[("input_token", &admin)]).await.ok();
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    ts.get("me", Some(&admin), &[]).await.ok();
}

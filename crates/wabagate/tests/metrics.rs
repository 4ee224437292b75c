//! `/metrics` of the real binary (its metrics are the process's own) counts known traffic:
//! requests by route and status, refusals by code, tokens minted and revoked, store commits and
//! webhook deliveries.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

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

#[test]
fn metrics_count_requests_authorizations_tokens_store_calls_and_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wabagate"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(&data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !data.join("bootstrap.json").exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let b: Value = serde_json::from_str(&std::fs::read_to_string(data.join("bootstrap.json")).unwrap()).unwrap();
    let s = |k: &str| b[k].as_str().unwrap().to_string();
    let (admin, app, secret, business) = (s("admin_token"), s("app_id"), s("app_secret"), s("business_id"));
    let root = format!("http://127.0.0.1:{port}");
    let base = format!("{root}/v23.0");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (before, after, su) = rt.block_on(async {
        let client = reqwest::Client::new();
        let post = |url: String, form: Vec<(&'static str, String)>| {
            let client = client.clone();
            async move {
                let r = client.post(url).form(&form).send().await.unwrap();
                assert!(r.status().is_success(), "{}", r.text().await.unwrap());
                r.json::<Value>().await.unwrap()
            }
        };
        // A receiver for one webhook.
        let got = Arc::new(Mutex::new(0usize));
        let seen = got.clone();
        let hook = axum::Router::new().route(
            "/hook",
            axum::routing::get(|axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>| async move {
                q.get("hub.challenge").cloned().unwrap_or_default()
            })
            .post(move || {
                let seen = seen.clone();
                async move {
                    *seen.lock().unwrap() += 1;
                    ""
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let callback = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });
        let subscription = vec![
            ("object", "whatsapp_business_account".to_string()),
            ("callback_url", callback),
            ("verify_token", "vt".to_string()),
            ("fields", "messages".to_string()),
            ("access_token", format!("{app}|{secret}")),
        ];
        post(format!("{base}/{app}/subscriptions"), subscription).await;
        post(format!("{base}/{}/subscribed_apps", s("waba_id")), vec![("access_token", admin.clone())]).await;
        let scrape = || async { client.get(format!("{root}/metrics")).send().await.unwrap().text().await.unwrap() };

        let before = scrape().await;
        for _ in 0..3 {
            assert_eq!(client.get(format!("{base}/me?access_token={admin}")).send().await.unwrap().status(), 200);
        }
        for _ in 0..2 {
            let r = client.get(format!("{base}/me?access_token=EAAnotatokenatall")).send().await.unwrap();
            assert_eq!(r.status(), 401);
        }
        let su = post(
            format!("{base}/{business}/system_users"),
            vec![("name", "Counted".into()), ("access_token", admin.clone())],
        )
        .await;
        let su = su["id"].as_str().unwrap().to_string();
        post(format!("{base}/{su}/applications"), vec![("business_app", app.clone()), ("access_token", admin.clone())])
            .await;
        let minted = post(
            format!("{base}/{su}/access_tokens"),
            vec![
                ("business_app", app.clone()),
                ("scope", "business_management".into()),
                ("appsecret_proof", testkit::appsecret_proof(&secret, &admin)),
                ("access_token", admin.clone()),
            ],
        )
        .await;
        let minted = minted["access_token"].as_str().unwrap().to_string();
        let revoke = format!(
            "{base}/oauth/revoke?client_id={app}&client_secret={secret}&revoke_token={minted}&access_token={admin}"
        );
        assert_eq!(client.get(revoke).send().await.unwrap().status(), 200);
        let inbound = format!("{base}/_wabagate/phone_numbers/{}/inbound", s("phone_number_id"));
        post(
            inbound,
            vec![("from", "16505551234".into()), ("text", "counted".into()), ("access_token", admin.clone())],
        )
        .await;
        let waited = Instant::now();
        while *got.lock().unwrap() == 0 {
            assert!(waited.elapsed() < Duration::from_secs(10), "no webhook");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The attempt is recorded just after the receiver answers.
        tokio::time::sleep(Duration::from_millis(300)).await;
        (before, scrape().await, su)
    });
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success());

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

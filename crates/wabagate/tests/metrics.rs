//! `/metrics` of the real binary (its metrics are the process's own) counts known traffic:
//! requests by route and status, refusals by code, tokens minted and revoked, store commits and
//! webhook deliveries.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

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

/// The number of series of a metric in a scrape.
fn series(text: &str, name: &str) -> usize {
    text.lines().filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{'))).count()
}

/// A path and method no client should send: unknown versions, nodes and edges, unknown edges on
/// a known node, junk and encoded bytes, very long paths, methods HTTP does not define.
fn random_request(rng: &mut common::Rng, waba: &str, words: &mut Vec<String>) -> (reqwest::Method, String) {
    const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz_";
    const JUNK: &[u8] = b"abcXYZ019-._~!$&'()*+,;=:@%";
    let mut word = |rng: &mut common::Rng| {
        let w = rng.word(LOWER, 12);
        words.push(w.clone());
        w
    };
    let path = match rng.below(8) {
        0 => format!("/{}", word(rng)),
        1 => format!("/v{}.{}/{}/{}", rng.below(100_000), rng.below(100), word(rng), word(rng)),
        2 => format!("/v23.0/{waba}/{}", word(rng)),
        3 => format!("/{}/{}", 100_000_000_000_000 + rng.below(899_999_999_999_999), word(rng)),
        4 => format!("/_wabagate/{}/{}/{}", word(rng), rng.next(), word(rng)),
        5 => format!("/console/{}", word(rng)),
        6 => (0..200).map(|_| format!("/{}", rng.word(LOWER, 8))).collect(),
        _ => format!("/{}/%ff%00{}", rng.word(JUNK, 30), word(rng)),
    };
    let method = match rng.below(8) {
        0..=2 => reqwest::Method::GET,
        3..=4 => reqwest::Method::POST,
        5 => reqwest::Method::DELETE,
        6 => reqwest::Method::PUT,
        _ => reqwest::Method::from_bytes(rng.word(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 10).as_bytes()).unwrap(),
    };
    (method, path)
}

#[test]
fn random_paths_add_no_metric_series_and_no_memory() {
    let server = common::Binary::start(&[]);
    let (root, waba) = (server.url.clone(), server.get("waba_id"));
    let mut rng = common::Rng(0x9e37_79b9_7f4a_7c15 ^ testkit::rand_u64() | 1);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let client = reqwest::Client::new();
    let mut words = Vec::new();
    let mut storm = |n: usize, words: &mut Vec<String>| {
        let requests: Vec<_> = (0..n).map(|_| random_request(&mut rng, &waba, words)).collect();
        rt.block_on(async {
            use futures_util::StreamExt;
            futures_util::stream::iter(requests)
                .for_each_concurrent(8, |(method, path)| {
                    let request = client.request(method, format!("{root}{path}"));
                    async move {
                        let status = request.send().await.expect("the server answers").status();
                        assert!(status.is_client_error(), "{status} for {path}");
                    }
                })
                .await
        });
    };
    let scrape =
        || rt.block_on(async { client.get(format!("{root}/metrics")).send().await.unwrap().text().await.unwrap() });

    // A warm-up, so that every label the server can give (route, method and status) has shown up.
    storm(2_000, &mut words);
    let (warm, warm_rss) = (scrape(), common::rss(server.pid()));
    storm(10_000, &mut words);
    let (after, after_rss) = (scrape(), common::rss(server.pid()));

    let (before_series, after_series) =
        (series(&warm, "wabagate_http_requests_total"), series(&after, "wabagate_http_requests_total"));
    assert!(after_series <= before_series + 3, "series grew from {before_series} to {after_series}:\n{after}");
    assert!(after_series < 150, "{after_series} series:\n{after}");
    let leaked: Vec<&String> = words.iter().filter(|w| after.contains(w.as_str())).take(5).collect();
    assert!(leaked.is_empty(), "request paths in /metrics: {leaked:?}");
    assert!(after.contains("route=\"{other}\""), "{after}");
    assert!(after.contains("method=\"OTHER\""), "{after}");
    assert!(after.len() < 200_000, "/metrics is {} bytes", after.len());
    let grown = after_rss.saturating_sub(warm_rss);
    eprintln!(
        "series {before_series} -> {after_series}; /metrics {} -> {} bytes; RSS {} -> {} MB",
        warm.len(),
        after.len(),
        warm_rss >> 20,
        after_rss >> 20
    );
    assert!(grown < 20 << 20, "the server grew by {} MB", grown >> 20);
}

#[test]
fn console_routes_are_labelled_as_declared() {
    let server = common::Binary::start(&[]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let text = rt.block_on(async {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        client.get(format!("{}/console/sign-in", server.url)).send().await.unwrap();
        client.get(format!("{}/console/system-users/123", server.url)).send().await.unwrap();
        client.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap()
    });
    assert_eq!(sample(&text, "wabagate_http_requests_total", &[("route", "/console/sign-in")]), 1.0, "{text}");
    let declared = [("route", "/console/system-users/{id}")];
    assert_eq!(sample(&text, "wabagate_http_requests_total", &declared), 1.0, "{text}");
}

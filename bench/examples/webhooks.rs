//! How fast webhooks reach a receiver.
//!
//! A release server over a fresh demo world (SQLite), its app subscribed to `messages` of the demo
//! WABA with a receiver on loopback. Customer messages are simulated with
//! `POST /_wabagate/phone_numbers/{id}/inbound`; each is one delivery.
//!
//! - **latency**: one message at a time; the time from the API's answer (the event is queued and
//!   durable) to the receiver getting the signed POST;
//! - **throughput**: N messages sent by 8 clients at once; deliveries per second until the last
//!   arrives. One app's events about one WABA go out one at a time, in order, so this is the
//!   rate of one ordered line.
//!
//!     cargo build --release -p wabagate && cargo run --release -p wabagate-bench --example webhooks -- [N]
//!
//! Default N = 2000.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::StatusCode;
use wabagate_bench::{DemoServer, ms, percentile};

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::get(|Query(q): Query<HashMap<String, String>>| async move {
            q.get("hub.challenge").cloned().unwrap_or_default()
        })
        .post(move |body: Bytes| {
            let seen = seen.clone();
            async move {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if let Some(id) = v["entry"][0]["changes"][0]["value"]["messages"][0]["id"].as_str() {
                    seen.lock().unwrap().insert(id.to_string(), Instant::now());
                }
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, arrivals)
}

async fn inbound(client: &reqwest::Client, url: &str, token: &str, i: usize) -> String {
    let text = format!("bench message {i}");
    let form = [("from", "16505551234"), ("text", text.as_str()), ("access_token", token)];
    let r: serde_json::Value = client.post(url).form(&form).send().await.unwrap().json().await.unwrap();
    r["messages"][0]["id"].as_str().unwrap_or_else(|| panic!("inbound refused: {r}")).to_string()
}

async fn wait_all(arrivals: &Arrivals, n: usize) {
    let started = Instant::now();
    while arrivals.lock().unwrap().len() < n {
        assert!(started.elapsed() < Duration::from_secs(600), "deliveries stalled");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let server = DemoServer::start();
    let (hook, arrivals) = receiver().await;
    let client = reqwest::Client::new();
    let (app, secret, admin) = (server.b("app_id"), server.b("app_secret"), server.b("admin_token"));
    let form = [
        ("object", "whatsapp_business_account"),
        ("callback_url", hook.as_str()),
        ("verify_token", "bench"),
        ("fields", "messages"),
        ("access_token", &format!("{app}|{secret}")),
    ];
    let r = client.post(format!("{}/{app}/subscriptions", server.base)).form(&form).send().await.unwrap();
    assert!(r.status().is_success(), "subscription refused: {}", r.text().await.unwrap());
    let url = format!("{}/{}/subscribed_apps", server.base, server.b("waba_id"));
    assert!(client.post(url).form(&[("access_token", &admin)]).send().await.unwrap().status().is_success());
    let inbound_url = format!("{}/_wabagate/phone_numbers/{}/inbound", server.base, server.b("phone_number_id"));

    // Latency: one at a time.
    let samples = n.min(500);
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let id = inbound(&client, &inbound_url, &admin, i).await;
        let acked = Instant::now();
        loop {
            if let Some(at) = arrivals.lock().unwrap().get(&id) {
                latencies.push(at.saturating_duration_since(acked));
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    latencies.sort();

    // Throughput: n messages from 8 clients at once.
    arrivals.lock().unwrap().clear();
    let started = Instant::now();
    let per_client = n / 8;
    let mut clients = Vec::new();
    for c in 0..8 {
        let (client, url, admin) = (client.clone(), inbound_url.clone(), admin.clone());
        clients.push(tokio::spawn(async move {
            for i in 0..per_client {
                inbound(&client, &url, &admin, c * per_client + i).await;
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let queued = started.elapsed();
    wait_all(&arrivals, per_client * 8).await;
    let delivered = started.elapsed();
    let total = per_client * 8;

    println!("webhook deliveries, release build, SQLite; the receiver and the clients in this process");
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| queued → received, p50 ({samples} one at a time) | {} |", ms(percentile(&latencies, 50.0)));
    println!("| queued → received, p99 | {} |", ms(percentile(&latencies, 99.0)));
    println!("| queued → received, max | {} |", ms(*latencies.last().unwrap_or(&Duration::ZERO)));
    println!(
        "| {total} events queued by 8 clients in | {:.2} s ({:.0}/s) |",
        queued.as_secs_f64(),
        total as f64 / queued.as_secs_f64()
    );
    println!(
        "| … all {total} received after | {:.2} s ({:.0} deliveries/s, one ordered line) |",
        delivered.as_secs_f64(),
        total as f64 / delivered.as_secs_f64()
    );
}

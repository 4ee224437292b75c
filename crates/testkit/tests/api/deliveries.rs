//! Webhook deliveries, end to end: each event from the action that causes it to a real receiver
//! on loopback that checks every signature with the app secret, as a production receiver does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use testkit::TestServer;

use crate::worlds::{id, token};

/// One POST the receiver took.
#[derive(Clone, Debug)]
pub struct Received {
    /// `X-Wabagate-Delivery`.
    pub delivery: String,
    pub body: Value,
    /// The HTTP status the receiver answered.
    pub answered: u16,
}

#[derive(Default)]
struct State {
    /// Answer 500 to this many POSTs before answering 200 again.
    fail_next: usize,
    /// Never answer this many POSTs (they are counted as arrived, not recorded as posts).
    hang_next: usize,
    posts: Vec<Received>,
    /// Signatures that did not match the app secret (should stay empty).
    bad_signatures: Vec<String>,
}

/// A webhook receiver on a free loopback port: it answers the verification handshake for
/// `verify_token`, checks `X-Hub-Signature-256` (and the SHA-1 `X-Hub-Signature`) of every POST
/// against `secret`, and records what it got.
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<State>>,
    /// While true, POSTs are held unanswered.
    hold: tokio::sync::watch::Sender<bool>,
    /// POSTs that arrived, held or not.
    arrived: Arc<std::sync::atomic::AtomicUsize>,
}

fn hmac_hex<M: Mac + hmac::digest::KeyInit>(secret: &str, body: &[u8]) -> String {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

impl Receiver {
    pub async fn start(secret: &str, verify_token: &str) -> Receiver {
        let state = Arc::new(Mutex::new(State::default()));
        let (secret, verify_token) = (secret.to_string(), verify_token.to_string());
        let posts = state.clone();
        let (hold, held) = tokio::sync::watch::channel(false);
        let arrived = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = arrived.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::get(move |Query(q): Query<HashMap<String, String>>| {
                let ok = q.get("hub.verify_token") == Some(&verify_token)
                    && q.get("hub.mode").map(String::as_str) == Some("subscribe");
                async move {
                    if ok {
                        (StatusCode::OK, q["hub.challenge"].clone())
                    } else {
                        (StatusCode::FORBIDDEN, String::new())
                    }
                }
            })
            .post(move |headers: HeaderMap, body: Bytes| {
                let state = posts.clone();
                let secret = secret.clone();
                let (mut held, counter) = (held.clone(), counter.clone());
                async move {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let hang = {
                        let mut state = state.lock().unwrap();
                        let hang = state.hang_next > 0;
                        state.hang_next = state.hang_next.saturating_sub(1);
                        hang
                    };
                    if hang {
                        std::future::pending::<()>().await;
                    }
                    let _ = held.wait_for(|h| !*h).await;
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    let mut state = state.lock().unwrap();
                    let sha256 = format!("sha256={}", hmac_hex::<Hmac<Sha256>>(&secret, &body));
                    let sha1 = format!("sha1={}", hmac_hex::<Hmac<sha1::Sha1>>(&secret, &body));
                    if header("X-Hub-Signature-256") != sha256 || header("X-Hub-Signature") != sha1 {
                        state.bad_signatures.push(header("X-Hub-Signature-256"));
                    }
                    assert_eq!(header("Content-Type"), "application/json");
                    let answered = if state.fail_next > 0 {
                        state.fail_next -= 1;
                        500
                    } else {
                        200
                    };
                    let body = serde_json::from_slice(&body).expect("a webhook body is JSON");
                    state.posts.push(Received { delivery: header("X-Wabagate-Delivery"), body, answered });
                    StatusCode::from_u16(answered).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, state, hold, arrived }
    }

    /// Holds every POST unanswered until [`Receiver::release`].
    pub fn hold(&self) {
        self.hold.send_replace(true);
    }

    pub fn release(&self) {
        self.hold.send_replace(false);
    }

    /// Waits until `n` POSTs have arrived, answered or held.
    pub async fn wait_arrived(&self, n: usize) {
        let started = Instant::now();
        while self.arrived.load(std::sync::atomic::Ordering::SeqCst) < n {
            assert!(started.elapsed() < Duration::from_secs(15), "waited for {n} POSTs to arrive");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// POSTs that arrived so far, answered, held or hanging.
    pub fn arrived(&self) -> usize {
        self.arrived.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Leaves the next `n` POSTs unanswered for good (their sender has to give up).
    pub fn hang_next(&self, n: usize) {
        self.state.lock().unwrap().hang_next = n;
    }

    pub fn fail_next(&self, n: usize) {
        self.state.lock().unwrap().fail_next = n;
    }

    /// Every POST so far, failed ones included.
    pub fn posts(&self) -> Vec<Received> {
        let state = self.state.lock().unwrap();
        assert!(state.bad_signatures.is_empty(), "signatures that do not match: {:?}", state.bad_signatures);
        state.posts.clone()
    }

    /// The deliveries answered 200, as (field, value).
    pub fn delivered(&self) -> Vec<(String, Value)> {
        self.posts()
            .into_iter()
            .filter(|p| p.answered == 200)
            .map(|p| {
                let change = &p.body["entry"][0]["changes"][0];
                (change["field"].as_str().unwrap().to_string(), change["value"].clone())
            })
            .collect()
    }

    /// Waits until `n` deliveries were answered 200 (at most 15 s), and answers them.
    pub async fn wait_for(&self, n: usize) -> Vec<(String, Value)> {
        let started = Instant::now();
        loop {
            let got = self.delivered();
            if got.len() >= n {
                return got;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "waited for {n} deliveries, got {got:#?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

pub fn app_token(app: &str, secret: &str) -> String {
    format!("{app}|{secret}")
}

/// Subscribes an app to these fields at the receiver.
pub async fn subscribe_app(ts: &TestServer, app: &str, secret: &str, receiver: &Receiver, fields: &str) {
    let form = [
        ("object", "whatsapp_business_account"),
        ("callback_url", receiver.url.as_str()),
        ("verify_token", "vt"),
        ("fields", fields),
    ];
    ts.post(&format!("{app}/subscriptions"), Some(&app_token(app, secret)), &form).await.ok();
}

/// The demo app subscribed to `fields` and to the demo WABA, and its receiver.
pub async fn demo_subscribed(ts: &TestServer, fields: &str) -> Receiver {
    let (app, secret) = (ts.b("app_id"), ts.b("app_secret"));
    let receiver = Receiver::start(&secret, "vt").await;
    subscribe_app(ts, &app, &secret, &receiver, fields).await;
    ts.post(&format!("{}/subscribed_apps", ts.b("waba_id")), Some(&ts.admin()), &[]).await.ok();
    receiver
}

pub fn settings(webhooks: service::webhooks::WebhookSettings) -> service::Settings {
    service::Settings { template_review: service::TemplateReview::Manual, webhooks, ..Default::default() }
}

pub fn quick() -> service::webhooks::WebhookSettings {
    service::webhooks::WebhookSettings {
        delivered_after: Some(Duration::from_millis(100)),
        read_after: Some(Duration::from_millis(200)),
        ..Default::default()
    }
}

pub async fn create_template(ts: &TestServer, name: &str) -> String {
    let components = r#"[{"type":"BODY","text":"Your order {{1}} has shipped","example":{"body_text":[["A-1"]]}}]"#;
    let form = [("name", name), ("language", "en_US"), ("category", "UTILITY"), ("components", components)];
    let created = ts.post(&format!("{}/message_templates", ts.b("waba_id")), Some(&ts.admin()), &form).await;
    created.ok()["id"].as_str().unwrap().to_string()
}

pub async fn review(ts: &TestServer, template: &str, status: &str, reason: Option<&str>) {
    let mut form = vec![("status", status)];
    form.extend(reason.map(|r| ("reason", r)));
    ts.post(&format!("_wabagate/templates/{template}/review"), Some(&ts.admin()), &form).await.ok();
}

#[tokio::test]
async fn template_reviews_are_sent_as_message_template_status_update() {
    let ts = TestServer::start_with_settings(settings(quick())).await;
    let receiver = demo_subscribed(&ts, "message_template_status_update").await;
    let approved = create_template(&ts, "order_shipped").await;
    let rejected = create_template(&ts, "order_late").await;
    review(&ts, &approved, "APPROVED", None).await;
    review(&ts, &rejected, "REJECTED", Some("PROMOTIONAL")).await;
    let got = receiver.wait_for(2).await;
    let waba = ts.b("waba_id");
    let posts = receiver.posts();
    let body = &posts[0].body;
    assert_eq!(body["object"], "whatsapp_business_account");
    assert_eq!(body["entry"][0]["id"], waba.as_str());
    assert!(body["entry"][0]["time"].as_i64().unwrap() > 1_700_000_000, "{body}");
    assert_eq!(
        got,
        [
            (
                "message_template_status_update".to_string(),
                json!({"event": "APPROVED", "message_template_id": approved.parse::<u64>().unwrap(),
                       "message_template_name": "order_shipped", "message_template_language": "en_US",
                       "reason": "NONE", "message_template_category": "UTILITY"})
            ),
            (
                "message_template_status_update".to_string(),
                json!({"event": "REJECTED", "message_template_id": rejected.parse::<u64>().unwrap(),
                       "message_template_name": "order_late", "message_template_language": "en_US",
                       "reason": "PROMOTIONAL", "message_template_category": "UTILITY"})
            ),
        ]
    );
    // Creating a template (PENDING) sent nothing, and each delivery has an id of its own.
    assert_eq!(posts.len(), 2);
    assert_ne!(posts[0].delivery, posts[1].delivery);
    assert!(posts.iter().all(|p| p.delivery.parse::<u64>().is_ok()));
}

#[tokio::test]
async fn a_sent_message_reports_sent_delivered_and_read_in_order() {
    let ts = TestServer::start_with_settings(settings(quick())).await;
    let receiver = demo_subscribed(&ts, "messages").await;
    let phone = ts.b("phone_number_id");
    let msg = json!({"messaging_product": "whatsapp", "to": "+1 650 555 1234", "text": {"body": "hello"}});
    let sent = ts.post_json(&format!("{phone}/messages"), &ts.admin(), msg).await;
    let wamid = sent.ok()["messages"][0]["id"].as_str().unwrap().to_string();
    let got = receiver.wait_for(3).await;
    let statuses: Vec<&str> = got.iter().map(|(_, v)| v["statuses"][0]["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["sent", "delivered", "read"]);
    for (field, value) in &got {
        assert_eq!(field, "messages");
        assert_eq!(value["messaging_product"], "whatsapp");
        assert_eq!(value["metadata"]["phone_number_id"], phone.as_str());
        let status = &value["statuses"][0];
        assert_eq!(status["id"], wamid.as_str());
        assert_eq!(status["recipient_id"], "16505551234");
        assert_eq!(value["contacts"][0]["wa_id"], "16505551234");
        assert_eq!(status["recipient_user_id"], value["contacts"][0]["user_id"]);
        assert!(status["timestamp"].as_str().unwrap().parse::<i64>().is_ok(), "{status}");
    }
    // Pricing with sent and delivered, not read; the expiration only with sent.
    assert_eq!(got[0].1["statuses"][0]["pricing"]["category"], "service");
    assert!(got[0].1["statuses"][0]["conversation"]["expiration_timestamp"].is_string());
    assert!(got[1].1["statuses"][0]["conversation"].get("expiration_timestamp").is_none());
    assert!(got[2].1["statuses"][0].get("pricing").is_none());
    // Message entries carry no time, as Meta's do.
    assert!(receiver.posts()[0].body["entry"][0].get("time").is_none());
}

#[tokio::test]
async fn a_simulated_customer_message_arrives_as_a_messages_webhook() {
    let ts = TestServer::start_with_settings(settings(quick())).await;
    let receiver = demo_subscribed(&ts, "messages").await;
    let phone = ts.b("phone_number_id");
    let path = format!("_wabagate/phone_numbers/{phone}/inbound");
    let form = [("from", "16505551234"), ("text", "Does it come in blue?"), ("name", "Sheena Nelson")];
    let r = ts.post(&path, Some(&ts.admin()), &form).await;
    let wamid = r.ok()["messages"][0]["id"].as_str().unwrap().to_string();
    assert!(wamid.starts_with("wamid."));
    let got = receiver.wait_for(1).await;
    let value = &got[0].1;
    // The customer's business-scoped user id: `US.` and digits, the same in contacts and message.
    let user_id = value["contacts"][0]["user_id"].as_str().unwrap().to_string();
    assert!(user_id.starts_with("US.") && user_id[3..].bytes().all(|b| b.is_ascii_digit()), "{user_id}");
    assert_eq!(
        value["contacts"],
        json!([{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234", "user_id": user_id}])
    );
    let m = &value["messages"][0];
    assert_eq!(m["from_user_id"], user_id.as_str());
    assert_eq!(
        (m["from"].as_str(), m["id"].as_str(), m["type"].as_str()),
        (Some("16505551234"), Some(&*wamid), Some("text"))
    );
    assert_eq!(m["text"]["body"], "Does it come in blue?");
    // Bad input is refused with Graph errors; a token without access to the number sees nothing.
    ts.post(&path, Some(&ts.admin()), &[("from", "12"), ("text", "x")]).await.assert_error(400, 100, None);
    ts.post(&path, Some(&ts.admin()), &[("from", "16505551234")]).await.assert_error(400, 100, None);
    let (_, outsider) = ts.employee("Outsider", "whatsapp_business_messaging").await;
    ts.post(&path, Some(&outsider), &form).await.assert_error(400, 100, Some(33));
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_same_delivery_a_third_time() {
    let ts = TestServer::start_with_settings(settings(quick())).await;
    let receiver = demo_subscribed(&ts, "message_template_status_update").await;
    receiver.fail_next(2);
    let template = create_template(&ts, "retried").await;
    review(&ts, &template, "APPROVED", None).await;
    let started = Instant::now();
    receiver.wait_for(1).await;
    let posts = receiver.posts();
    assert_eq!(posts.iter().map(|p| p.answered).collect::<Vec<_>>(), [500, 500, 200]);
    // The same delivery, the same bytes, each time; the retries back off 1 s, then 2 s.
    assert!(posts.iter().all(|p| p.delivery == posts[0].delivery && p.body == posts[0].body));
    assert!(started.elapsed() >= Duration::from_secs(3), "{:?}", started.elapsed());
    let log = ts
        .get(
            &format!("_wabagate/apps/{}/webhook_deliveries", ts.b("app_id")),
            Some(&app_token(&ts.b("app_id"), &ts.b("app_secret"))),
            &[],
        )
        .await;
    let row = &log.data()[0];
    assert_eq!((row["status"].as_str(), row["attempts"].as_u64()), (Some("delivered"), Some(3)));
    assert_eq!(row["last_status_code"], 200);
    assert_eq!(row["id"], posts[0].delivery.as_str());
    assert_eq!(row["body"], posts[0].body);
}

#[tokio::test]
async fn one_app_s_events_about_a_waba_arrive_in_order_even_across_retries() {
    let ts = TestServer::start_with_settings(settings(quick())).await;
    let receiver = demo_subscribed(&ts, "message_template_status_update").await;
    let names = ["first", "second", "third", "fourth"];
    let mut ids = Vec::new();
    for name in names {
        ids.push(create_template(&ts, name).await);
    }
    // The first event fails twice: the others wait behind it.
    receiver.fail_next(2);
    for id in &ids {
        review(&ts, id, "APPROVED", None).await;
    }
    let got = receiver.wait_for(4).await;
    let order: Vec<&str> = got.iter().map(|(_, v)| v["message_template_name"].as_str().unwrap()).collect();
    assert_eq!(order, names);
    let answered: Vec<(String, u16)> = receiver
        .posts()
        .iter()
        .map(|p| {
            (p.body["entry"][0]["changes"][0]["value"]["message_template_name"].as_str().unwrap().into(), p.answered)
        })
        .collect();
    assert_eq!(&answered[..3], &[("first".into(), 500), ("first".into(), 500), ("first".into(), 200)]);
}

#[tokio::test]
async fn deliveries_pending_retry_survive_a_restart_and_arrive_once() {
    let ts = TestServer::start_with_settings(settings(quick())).await;
    let receiver = demo_subscribed(&ts, "message_template_status_update").await;
    receiver.fail_next(usize::MAX);
    let mut ids = Vec::new();
    for name in ["before_one", "before_two", "before_three"] {
        ids.push(create_template(&ts, name).await);
    }
    for id in &ids {
        review(&ts, id, "APPROVED", None).await;
    }
    // Wait for the first attempt to fail, then restart in the middle of the retries.
    let started = Instant::now();
    while receiver.posts().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ts = ts.restart().await;
    receiver.fail_next(0);
    let got = receiver.wait_for(3).await;
    let order: Vec<&str> = got.iter().map(|(_, v)| v["message_template_name"].as_str().unwrap()).collect();
    assert_eq!(order, ["before_one", "before_two", "before_three"]);
    // Nothing is delivered twice, even once every lease has run out: each delivery id is
    // answered 200 once.
    past_every_lease(&ts, &receiver, 4).await;
    let ok = answered_ids(&receiver);
    assert_eq!(ok.len(), 4, "{ok:?}");
    assert_eq!(ok.iter().collect::<std::collections::BTreeSet<_>>().len(), 4, "a delivery arrived twice: {ok:?}");
    drop(ts);
}

/// The delivery ids the receiver answered 200, in the order they came.
pub fn answered_ids(receiver: &Receiver) -> Vec<String> {
    receiver.posts().into_iter().filter(|p| p.answered == 200).map(|p| p.delivery).collect()
}

/// Moves the clock past every lease a delivery of `ts` can hold, then queues one more template
/// event on the demo WABA's line and waits until it is the `n`th delivery answered: the worker has
/// looked at the queue after every lease ran out, and anything a lease running out would send
/// again was claimed before it.
pub async fn past_every_lease(ts: &TestServer, receiver: &Receiver, n: usize) {
    let lease = ts.service().settings().webhooks.lease();
    ts.advance_clock(lease.as_secs() as i64 + 1);
    let sentinel = create_template(ts, &format!("after_the_leases_{}", testkit::rand_u64() % 1_000_000)).await;
    review(ts, &sentinel, "APPROVED", None).await;
    let got = receiver.wait_for(n).await;
    assert_eq!(got.len(), n, "{got:#?}");
}

#[tokio::test]
async fn a_lease_running_out_mid_attempt_sends_no_duplicate_and_keeps_the_order() {
    let webhooks = service::webhooks::WebhookSettings { timeout: Duration::from_secs(2), ..quick() };
    let ts = TestServer::start_with_settings(settings(webhooks)).await;
    let receiver = demo_subscribed(&ts, "message_template_status_update").await;
    // The receiver hangs on the first delivery: the attempt lasts until the webhook timeout.
    receiver.hang_next(1);
    let names = ["hung_first", "hung_second", "hung_third"];
    let mut templates = Vec::new();
    for name in names {
        templates.push(create_template(&ts, name).await);
    }
    for template in &templates {
        review(&ts, template, "APPROVED", None).await;
    }
    receiver.wait_arrived(1).await;
    // The clock runs far past the lease (and past any fixed one) while the attempt hangs.
    let lease = ts.service().settings().webhooks.lease();
    ts.advance_clock(lease.as_secs() as i64 + 120);
    // Wait for the attempt to time out and be recorded.
    let (app, secret) = (ts.b("app_id"), ts.b("app_secret"));
    let (log, token) = (format!("_wabagate/apps/{app}/webhook_deliveries"), app_token(&app, &secret));
    let started = Instant::now();
    let first = loop {
        let rows = ts.get(&log, Some(&token), &[("limit", "10")]).await;
        let first = rows.data().iter().min_by_key(|r| r["id"].as_str().unwrap().parse::<u64>().unwrap()).cloned();
        if let Some(first) = first.filter(|r| r["attempts"].as_u64() >= Some(1)) {
            break first;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", rows.ok());
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    // Its one attempt ended at the webhook timeout: nothing sent it again while it hung.
    assert_eq!(first["last_error"], "timed out", "{first}");
    // It is retried once, then the later ones follow in order.
    let got = receiver.wait_for(3).await;
    let order: Vec<&str> = got.iter().map(|(_, v)| v["message_template_name"].as_str().unwrap()).collect();
    assert_eq!(order, names);
    let posts = receiver.posts();
    assert_eq!(posts.len(), 3, "the hung attempt, then each delivery answered once: {posts:#?}");
    assert_eq!(posts[0].delivery, first["id"].as_str().unwrap());
    assert_eq!(receiver.arrived(), 4, "one hung attempt and three answered ones");
    // And nothing more once every lease has run out again.
    past_every_lease(&ts, &receiver, 4).await;
    let ok = answered_ids(&receiver);
    assert_eq!(ok.iter().collect::<std::collections::BTreeSet<_>>().len(), 4, "a delivery arrived twice: {ok:?}");
    assert_eq!(receiver.arrived(), 5);
}

#[tokio::test]
async fn a_delivery_is_given_up_after_the_retry_time_and_can_be_redelivered() {
    let webhooks = service::webhooks::WebhookSettings { retry_for: Duration::from_secs(2), ..quick() };
    let ts = TestServer::start_with_settings(settings(webhooks)).await;
    let receiver = demo_subscribed(&ts, "message_template_status_update").await;
    receiver.fail_next(usize::MAX);
    let template = create_template(&ts, "given_up").await;
    review(&ts, &template, "APPROVED", None).await;
    let (app, secret) = (ts.b("app_id"), ts.b("app_secret"));
    let (log, token) = (format!("_wabagate/apps/{app}/webhook_deliveries"), app_token(&app, &secret));
    let started = Instant::now();
    let row = loop {
        let rows = ts.get(&log, Some(&token), &[]).await;
        if rows.data()[0]["status"] == "failed" {
            break rows.data()[0].clone();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", rows.ok());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(row["attempts"].as_u64().unwrap() >= 2, "{row}");
    assert_eq!(row["last_status_code"], 500);
    assert_eq!(row["last_error"], "answered HTTP 500");

    receiver.fail_next(0);
    let redelivered = ts.post(&format!("{log}/{}/redeliver", row["id"].as_str().unwrap()), Some(&token), &[]).await;
    let new_id = redelivered.ok()["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, row["id"].as_str().unwrap());
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].1["message_template_name"], "given_up");
    let last = receiver.posts().pop().unwrap();
    assert_eq!((last.delivery.as_str(), &last.body), (new_id.as_str(), &row["body"]));
    // Only the app's own token reads or redelivers; an unknown delivery is a Graph error.
    ts.get(&log, Some(&ts.admin()), &[]).await.assert_error(400, 15, None);
    ts.post(&format!("{log}/999999/redeliver"), Some(&token), &[]).await.assert_error(400, 100, None);
}

#[tokio::test]
async fn only_subscribed_fields_of_subscribed_wabas_are_sent() {
    let ts = TestServer::start_with_settings(settings(quick())).await;
    let (app, secret) = (ts.b("app_id"), ts.b("app_secret"));
    let receiver = Receiver::start(&secret, "vt").await;
    // Subscribed to the field, not yet to the WABA: nothing is sent.
    subscribe_app(&ts, &app, &secret, &receiver, "message_template_status_update").await;
    let first = create_template(&ts, "unsent").await;
    review(&ts, &first, "APPROVED", None).await;
    ts.post(&format!("{}/subscribed_apps", ts.b("waba_id")), Some(&ts.admin()), &[]).await.ok();
    // Subscribed to the WABA, not to `messages`: a message sends nothing either.
    let msg = json!({"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": "hi"}});
    ts.post_json(&format!("{}/messages", ts.b("phone_number_id")), &ts.admin(), msg).await.ok();
    let second = create_template(&ts, "sent").await;
    review(&ts, &second, "APPROVED", None).await;
    let got = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.delivered().len(), 1);
    assert_eq!(got[0].1["message_template_name"], "sent");
}

#[tokio::test]
async fn an_override_callback_passes_the_handshake_and_gets_the_waba_s_events() {
    let ts = TestServer::start_with_settings(settings(quick())).await;
    let (app, secret, waba) = (ts.b("app_id"), ts.b("app_secret"), ts.b("waba_id"));
    let default = Receiver::start(&secret, "vt").await;
    subscribe_app(&ts, &app, &secret, &default, "message_template_status_update").await;
    let special = Receiver::start(&secret, "waba-vt").await;
    let path = format!("{waba}/subscribed_apps");
    let form = |vt: &'static str| [("override_callback_uri", special.url.clone()), ("verify_token", vt.to_string())];
    let wrong = form("not-it");
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let e = ts.post(&path, Some(&ts.admin()), &wrong).await.assert_error(400, 2200, None).clone();
    assert_eq!(e["message"], "(#2200) callback verification failed: Received HTTP code: 403");
    let right = form("waba-vt");
    let right: Vec<(&str, &str)> = right.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ts.post(&path, Some(&ts.admin()), &right).await.ok();
    let template = create_template(&ts, "overridden").await;
    review(&ts, &template, "APPROVED", None).await;
    special.wait_for(1).await;
    assert!(default.delivered().is_empty());
}

/// Two partners and a client whose admin shares its WABA, and a solution between the partners.
const PARTNERS: &str = r#"
[[business]]
key = "client"
name = "Client Shop"

[[business]]
key = "tp"
name = "Tech Provider"

[[business]]
key = "sp"
name = "Solution Partner"

[[app]]
key = "client_app"
business = "client"
name = "Client App"
secret = "client-secret"

[[app]]
key = "tp_app"
business = "tp"
name = "TP App"
secret = "tp-secret"

[[app]]
key = "sp_app"
business = "sp"
name = "SP App"
secret = "sp-secret"

[[system_user]]
key = "client_admin"
business = "client"
name = "Client Admin"
role = "ADMIN"
apps = ["client_app"]

[[system_user]]
key = "tp_admin"
business = "tp"
name = "TP Admin"
role = "ADMIN"
apps = ["tp_app"]

[[system_user]]
key = "sp_admin"
business = "sp"
name = "SP Admin"
role = "ADMIN"
apps = ["sp_app"]

[[token]]
key = "client_admin"
system_user = "client_admin"
app = "client_app"
scopes = ["business_management", "whatsapp_business_management", "whatsapp_business_messaging"]

[[token]]
key = "client_wa_only"
system_user = "client_admin"
app = "client_app"
scopes = ["whatsapp_business_management"]

[[token]]
key = "tp_admin"
system_user = "tp_admin"
app = "tp_app"
scopes = ["business_management", "whatsapp_business_management", "whatsapp_business_messaging"]

[[token]]
key = "sp_admin"
system_user = "sp_admin"
app = "sp_app"
scopes = ["business_management", "whatsapp_business_management", "whatsapp_business_messaging"]

[[waba]]
key = "client_waba"
owner = "client"
name = "Client WABA"

[[waba]]
key = "mps_waba"
owner = "client"
name = "Onboarded through the solution"

[[solution]]
key = "mps"
name = "Shop Solution"
owner_app = "tp_app"
partner_app = "sp_app"
owner_permissions = ["MANAGE", "MESSAGING"]
partner_permissions = ["DEVELOP"]
status = "INITIATED"
wabas = ["mps_waba"]
"#;

#[tokio::test]
async fn sharing_a_waba_sends_the_partner_partner_added_and_unsharing_partner_removed() {
    let ts = TestServer::with_fixtures(PARTNERS).await;
    let receiver = Receiver::start("tp-secret", "vt").await;
    subscribe_app(&ts, &id(&ts, "tp_app"), "tp-secret", &receiver, "account_update").await;
    let (waba, tp, client) = (id(&ts, "client_waba"), id(&ts, "tp"), id(&ts, "client"));
    let path = format!("_wabagate/wabas/{waba}/partners");
    // Only an admin of the owner shares; the partner must be another business.
    ts.post(&path, Some(&token(&ts, "tp_admin")), &[("partner", &tp)]).await.assert_error(400, 100, Some(33));
    ts.post(&path, Some(&token(&ts, "client_admin")), &[("partner", &client)]).await.assert_error(400, 100, None);
    ts.post(&path, Some(&token(&ts, "client_admin")), &[("partner", &tp), ("level", "OWNER")])
        .await
        .assert_error(400, 100, None);

    let without_scope = ts.post(&path, Some(&token(&ts, "client_wa_only")), &[("partner", &tp)]).await;
    without_scope.assert_error(403, 200, None);
    let client_app = id(&ts, "client_app");
    let with_app = [("partner", tp.as_str()), ("app", client_app.as_str())];
    ts.post(&path, Some(&token(&ts, "client_admin")), &with_app).await.assert_error(400, 100, None);
    let tp_app = id(&ts, "tp_app");
    let share = [("partner", tp.as_str()), ("level", "FULL"), ("app", tp_app.as_str())];
    ts.post(&path, Some(&token(&ts, "client_admin")), &share).await.ok();
    // The partner now reaches the WABA.
    ts.get(&waba, Some(&token(&ts, "tp_admin")), &[]).await.ok();
    let got = receiver.wait_for(2).await;
    let info = json!({"waba_id": waba, "owner_business_id": client});
    assert_eq!(got[0], ("account_update".into(), json!({"event": "PARTNER_ADDED", "waba_info": info})));
    let mut installed = info.clone();
    installed["partner_app_id"] = json!(tp_app);
    assert_eq!(got[1].1, json!({"event": "PARTNER_APP_INSTALLED", "waba_info": installed}));
    // The entry is the partner's business portfolio, as in Meta's examples.
    assert_eq!(receiver.posts()[0].body["entry"][0]["id"], tp.as_str());

    ts.delete(&path, Some(&token(&ts, "client_admin")), &[("partner", &tp)]).await.ok();
    ts.get(&waba, Some(&token(&ts, "tp_admin")), &[]).await.assert_error(400, 100, Some(33));
    let got = receiver.wait_for(3).await;
    assert_eq!(got[2].1, json!({"event": "PARTNER_REMOVED", "waba_info": info}));
    ts.delete(&path, Some(&token(&ts, "client_admin")), &[("partner", &tp)]).await.assert_error(400, 100, None);
    // The share and its end are in the audit log, and survive a restart.
    let audit = ts.get("_wabagate/audit", Some(&token(&ts, "client_admin")), &[("target", &waba)]).await;
    let actions: Vec<&str> = audit.data().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["waba.unshare", "waba.share"]);
    let ts = ts.restart().await;
    ts.get(&waba, Some(&token(&ts, "tp_admin")), &[]).await.assert_error(400, 100, Some(33));
}

#[tokio::test]
async fn a_solution_s_life_is_sent_to_both_partners_as_partner_solutions() {
    let ts = TestServer::with_fixtures(PARTNERS).await;
    let tp_receiver = Receiver::start("tp-secret", "vt").await;
    let sp_receiver = Receiver::start("sp-secret", "vt").await;
    subscribe_app(&ts, &id(&ts, "tp_app"), "tp-secret", &tp_receiver, "partner_solutions,account_update").await;
    subscribe_app(&ts, &id(&ts, "sp_app"), "sp-secret", &sp_receiver, "partner_solutions,account_update").await;
    let (tp, sp) = (token(&ts, "tp_admin"), token(&ts, "sp_admin"));

    let form = [
        ("solution_name", "Second Solution"),
        ("partner_app_id", &*id(&ts, "sp_app")),
        ("owner_permissions", "['MANAGE','MESSAGING']"),
        ("partner_permissions", "['DEVELOP']"),
    ];
    let created = ts.post(&format!("{}/whatsapp_business_solution", id(&ts, "tp_app")), Some(&tp), &form).await;
    let created = created.ok()["solution_id"].as_str().unwrap().to_string();
    let got = sp_receiver.wait_for(1).await;
    assert_eq!(got[0].1, json!({"event": "SOLUTION_CREATED", "solution_id": created, "solution_status": "INITIATED"}));
    assert_eq!(sp_receiver.posts()[0].body["entry"][0]["id"], id(&ts, "sp").as_str());

    // Accepting the fixture's solution shares its onboarded WABA with both partners.
    let mps = id(&ts, "mps");
    ts.post(&format!("{mps}/accept"), Some(&sp), &[]).await.ok();
    let got = sp_receiver.wait_for(4).await;
    assert_eq!(got[1].1, json!({"event": "SOLUTION_UPDATED", "solution_id": mps, "solution_status": "ACTIVE"}));
    let info = json!({
        "waba_id": id(&ts, "mps_waba"),
        "owner_business_id": id(&ts, "client"),
        "solution_id": mps,
        "solution_partner_business_ids": [id(&ts, "tp"), id(&ts, "sp")],
    });
    assert_eq!(got[2].1, json!({"event": "PARTNER_ADDED", "waba_info": info}));
    let mut installed = info.clone();
    installed["partner_app_id"] = json!(id(&ts, "sp_app"));
    assert_eq!(got[3].1, json!({"event": "PARTNER_APP_INSTALLED", "waba_info": installed}));

    ts.post(&format!("{mps}/send_deactivation_request"), Some(&tp), &[]).await.ok();
    ts.post(&format!("{mps}/accept_deactivation_request"), Some(&sp), &[]).await.ok();
    let got = tp_receiver.wait_for(6).await;
    let statuses: Vec<(&str, &str)> = got
        .iter()
        .filter(|(f, _)| f == "partner_solutions")
        .map(|(_, v)| (v["event"].as_str().unwrap(), v["solution_status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("SOLUTION_CREATED", "INITIATED"),
            ("SOLUTION_UPDATED", "ACTIVE"),
            ("SOLUTION_UPDATED", "PENDING_DEACTIVATION"),
            ("SOLUTION_UPDATED", "DEACTIVATED"),
        ]
    );
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_never_holds_up_the_request_or_other_apps() {
    let ts = TestServer::start_with_settings(settings(quick())).await;
    let receiver = demo_subscribed(&ts, "message_template_status_update").await;
    receiver.hold();
    let first = create_template(&ts, "held_first").await;
    review(&ts, &first, "APPROVED", None).await;
    receiver.wait_arrived(1).await;
    // The delivery hangs: the requests that cause more events are answered all the same.
    let second = create_template(&ts, "held_second").await;
    review(&ts, &second, "APPROVED", None).await;
    assert!(receiver.posts().is_empty(), "nothing answered yet");
    receiver.release();
    let got = receiver.wait_for(2).await;
    let names: Vec<&str> = got.iter().map(|(_, v)| v["message_template_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["held_first", "held_second"]);
}

#[tokio::test]
async fn a_delivery_in_flight_when_wabagate_stops_is_sent_again_after_the_restart() {
    let ts = TestServer::start_with_settings(settings(quick())).await;
    let receiver = demo_subscribed(&ts, "message_template_status_update").await;
    receiver.hold();
    let template = create_template(&ts, "in_flight").await;
    review(&ts, &template, "APPROVED", None).await;
    receiver.wait_arrived(1).await;
    // Stopped mid-attempt: the attempt's outcome was never recorded.
    let ts = ts.restart().await;
    receiver.release();
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].1["message_template_name"], "in_flight");
    let posts = receiver.posts();
    // At least once: the held attempt may have been answered too; both carry the one delivery id.
    assert!(posts.iter().all(|p| p.delivery == posts[0].delivery), "{posts:?}");
    let log = ts
        .get(
            &format!("_wabagate/apps/{}/webhook_deliveries", ts.b("app_id")),
            Some(&app_token(&ts.b("app_id"), &ts.b("app_secret"))),
            &[],
        )
        .await;
    assert_eq!(log.data().len(), 1);
    assert_eq!(log.data()[0]["status"], "delivered");
}

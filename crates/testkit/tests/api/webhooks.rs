//! Webhook subscriptions of apps (`/{app}/subscriptions`) and Meta's verification handshake,
//! against a real receiver on loopback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use testkit::TestServer;

/// How the receiver answers a verification request.
#[derive(Clone, Copy)]
enum Answer {
    /// As a real receiver does: the challenge, if the verify token is this one; else 403.
    Echo(&'static str),
    /// 200 with a body other than the challenge.
    Wrong,
}

/// A receiver on a free port: its callback URL and the verification requests it saw.
async fn receiver(answer: Answer) -> (String, Arc<Mutex<Vec<HashMap<String, String>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::get(move |Query(q): Query<HashMap<String, String>>| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(q.clone());
                match answer {
                    Answer::Echo(token) if q.get("hub.verify_token").map(String::as_str) == Some(token) => {
                        (StatusCode::OK, q.get("hub.challenge").cloned().unwrap_or_default()).into_response()
                    }
                    Answer::Echo(_) => StatusCode::FORBIDDEN.into_response(),
                    Answer::Wrong => (StatusCode::OK, "not the challenge").into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn app_token(ts: &TestServer) -> String {
    format!("{}|{}", ts.b("app_id"), ts.b("app_secret"))
}

fn subscribe<'a>(callback: &'a str, token: &'a str, fields: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("object", "whatsapp_business_account"),
        ("callback_url", callback),
        ("verify_token", token),
        ("fields", fields),
    ]
}

#[tokio::test]
async fn a_subscription_is_made_after_the_callback_echoes_the_challenge() {
    let ts = TestServer::start().await;
    let (callback, seen) = receiver(Answer::Echo("s3cret")).await;
    let path = format!("{}/subscriptions", ts.b("app_id"));
    let token = app_token(&ts);
    let r =
        ts.post(&path, Some(&token), &subscribe(&callback, "s3cret", "messages,message_template_status_update")).await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["hub.mode"], "subscribe");
    assert_eq!(requests[0]["hub.verify_token"], "s3cret");
    assert!(requests[0]["hub.challenge"].parse::<u64>().is_ok(), "{requests:?}");

    let listed = ts.get(&path, Some(&token), &[]).await;
    assert_eq!(
        listed.ok(),
        &json!({"data": [{
            "object": "whatsapp_business_account",
            "callback_url": callback,
            "active": true,
            "fields": [
                {"name": "message_template_status_update", "version": "v23.0"},
                {"name": "messages", "version": "v23.0"},
            ],
        }]})
    );
    // A second POST adds fields; DELETE with fields removes those; the subscription survives a restart.
    ts.post(&path, Some(&token), &subscribe(&callback, "s3cret", "account_update")).await.ok();
    ts.delete(&path, Some(&token), &[("object", "whatsapp_business_account"), ("fields", "messages")]).await.ok();
    let ts = ts.restart().await;
    let listed = ts.get(&path, Some(&token), &[]).await;
    let names: Vec<&str> =
        listed.ok()["data"][0]["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["account_update", "message_template_status_update"]);
    ts.delete(&path, Some(&token), &[("object", "whatsapp_business_account")]).await.ok();
    assert_eq!(ts.get(&path, Some(&token), &[]).await.ok(), &json!({"data": []}));
}

#[tokio::test]
async fn a_callback_that_fails_the_handshake_is_refused_with_2200_and_nothing_is_stored() {
    let ts = TestServer::start().await;
    let path = format!("{}/subscriptions", ts.b("app_id"));
    let token = app_token(&ts);
    let (callback, _) = receiver(Answer::Echo("expected")).await;
    let e = ts.post(&path, Some(&token), &subscribe(&callback, "other", "messages")).await;
    let e = e.assert_error(400, 2200, None).clone();
    assert_eq!(e["message"], "(#2200) callback verification failed: Received HTTP code: 403");
    let (wrong, _) = receiver(Answer::Wrong).await;
    let e =
        ts.post(&path, Some(&token), &subscribe(&wrong, "t", "messages")).await.assert_error(400, 2200, None).clone();
    assert!(e["message"].as_str().unwrap().contains("Response does not match challenge"), "{e}");
    // The callback is on loopback: what it answered is not quoted.
    assert!(
        e["message"].as_str().unwrap().ends_with(
            "received=\"\" (the answer of a callback on a loopback, link-local or private address is not quoted)"
        ),
        "{e}"
    );
    assert!(!e["message"].as_str().unwrap().contains("not the challenge"), "{e}");
    let e = ts
        .post(&path, Some(&token), &subscribe("http://127.0.0.1:1/hook", "t", "messages"))
        .await
        .assert_error(400, 2200, None)
        .clone();
    assert_eq!(e["message"], "(#2200) callback verification failed: Couldn't connect to server");
    assert_eq!(ts.get(&path, Some(&token), &[]).await.ok(), &json!({"data": []}));
}

#[tokio::test]
async fn subscriptions_need_the_app_s_own_token_and_known_fields() {
    let ts = TestServer::start().await;
    let path = format!("{}/subscriptions", ts.b("app_id"));
    let (callback, seen) = receiver(Answer::Echo("t")).await;
    // A system user's token, even an admin's of the app's business: code 15.
    ts.get(&path, Some(&ts.admin()), &[]).await.assert_error(400, 15, None);
    ts.post(&path, Some(&ts.admin()), &subscribe(&callback, "t", "messages")).await.assert_error(400, 15, None);
    let token = app_token(&ts);
    ts.post(&path, Some(&token), &subscribe(&callback, "t", "messages,weather")).await.assert_error(400, 100, None);
    let mut page = subscribe(&callback, "t", "feed");
    page[0] = ("object", "page");
    ts.post(&path, Some(&token), &page).await.assert_error(400, 100, None);
    ts.post(&path, Some(&token), &subscribe("ftp://example/hook", "t", "messages")).await.assert_error(400, 100, None);
    ts.post(&path, Some(&token), &[("object", "whatsapp_business_account")]).await.assert_error(400, 100, None);
    // None of these reached the receiver.
    assert!(seen.lock().unwrap().is_empty());
}

/// A callback that answers an internal page instead of the challenge.
async fn internal_page() -> String {
    let page = "<!DOCTYPE html><html><body>admin console, token internal-secret-42</body></html>";
    let app = axum::Router::new().route("/hook", axum::routing::get(move || async move { page }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn the_2200_error_quotes_nothing_of_an_internal_page_on_a_private_address() {
    let ts = TestServer::start().await;
    let path = format!("{}/subscriptions", ts.b("app_id"));
    let token = app_token(&ts);
    // An internal page, wabagate's own /metrics, and the same page reached by name.
    let page = internal_page().await;
    let by_name = page.replace("127.0.0.1", "localhost");
    let metrics = format!("{}/metrics", ts.url);
    for callback in [&page, &by_name, &metrics] {
        let e = ts.post(&path, Some(&token), &subscribe(callback, "t", "messages")).await;
        let message = e.assert_error(400, 2200, None)["message"].as_str().unwrap().to_string();
        assert!(message.contains("received=\"\" (the answer of a callback on a loopback"), "{callback}: {message}");
        for leak in ["DOCTYPE", "internal-secret-42", "wabagate_", "# TYPE", "admin console"] {
            assert!(!message.contains(leak), "{callback}: {message}");
        }
    }
    // The override callback of /{waba}/subscribed_apps is held to the same.
    let form = [("override_callback_uri", page.as_str()), ("verify_token", "t")];
    let e = ts.post(&format!("{}/subscribed_apps", ts.b("waba_id")), Some(&ts.admin()), &form).await;
    let message = e.assert_error(400, 2200, None)["message"].as_str().unwrap().to_string();
    assert!(!message.contains("internal-secret-42") && !message.contains("DOCTYPE"), "{message}");
}

#[tokio::test]
async fn error_messages_carry_a_less_than_sign_as_graph_does_escaped_on_the_wire() {
    let ts = TestServer::start().await;
    let url = ts.graph(&format!("{}?fields=<b>&access_token={}", ts.b("waba_id"), ts.admin()));
    let response = ts.client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let raw = response.text().await.unwrap();
    assert!(raw.contains(r"\u003C") && !raw.contains('<'), "{raw}");
    let body: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("near '<'"), "{body}");
}

fn deny_private() -> service::Settings {
    let webhooks = service::webhooks::WebhookSettings { deny_private: true, ..Default::default() };
    service::Settings { webhooks, ..Default::default() }
}

#[tokio::test]
async fn with_webhook_deny_private_a_loopback_callback_is_refused_before_any_request() {
    let ts = TestServer::start_with_settings(deny_private()).await;
    let path = format!("{}/subscriptions", ts.b("app_id"));
    let token = app_token(&ts);
    let (callback, seen) = receiver(Answer::Echo("t")).await;
    let by_name = callback.replace("127.0.0.1", "localhost");
    let mapped = callback.replace("127.0.0.1", "[::ffff:127.0.0.1]");
    for url in [&callback, &by_name, &mapped] {
        let e = ts.post(&path, Some(&token), &subscribe(url, "t", "messages")).await;
        let message = e.assert_error(400, 2200, None)["message"].as_str().unwrap().to_string();
        assert!(message.starts_with("(#2200) callback verification failed: refused: "), "{url}: {message}");
        assert!(
            message.contains("loopback, link-local or private address") && message.contains("--webhook-deny-private")
        );
    }
    // No handshake went out, and nothing was stored.
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(ts.get(&path, Some(&token), &[]).await.ok(), &json!({"data": []}));
    let form = [("override_callback_uri", callback.as_str()), ("verify_token", "t")];
    let e = ts.post(&format!("{}/subscribed_apps", ts.b("waba_id")), Some(&ts.admin()), &form).await;
    e.assert_error(400, 2200, None);
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn with_webhook_deny_private_deliveries_to_a_loopback_callback_are_not_sent() {
    use crate::deliveries::{app_token as token_of, create_template, demo_subscribed, review, settings};
    // Subscribed while private callbacks were allowed; then the server restarts refusing them.
    let ts = TestServer::start_with_settings(settings(Default::default())).await;
    let receiver = demo_subscribed(&ts, "message_template_status_update").await;
    let mut refusing = deny_private();
    refusing.template_review = service::TemplateReview::Manual;
    let ts = ts.restart_with_settings(refusing).await;
    let template = create_template(&ts, "refused").await;
    review(&ts, &template, "APPROVED", None).await;
    let (app, secret) = (ts.b("app_id"), ts.b("app_secret"));
    let log = format!("_wabagate/apps/{app}/webhook_deliveries");
    let started = std::time::Instant::now();
    let row = loop {
        let rows = ts.get(&log, Some(&token_of(&app, &secret)), &[]).await;
        let row = rows.data().first().cloned();
        if let Some(row) = row.filter(|r| r["attempts"].as_u64() >= Some(1)) {
            break row;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", rows.ok());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(row["status"], "pending", "{row}");
    let error = row["last_error"].as_str().unwrap();
    assert!(error.starts_with("refused: ") && error.contains("--webhook-deny-private"), "{error}");
    assert_eq!(row["last_status_code"], serde_json::Value::Null);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(receiver.posts().is_empty(), "{:?}", receiver.posts());
}

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
    assert!(e["message"].as_str().unwrap().contains("received=\"not the challenge\""), "{e}");
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

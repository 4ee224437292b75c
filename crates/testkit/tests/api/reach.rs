//! Revocation reaches the webhooks: when a business stops reaching a WABA, its apps stop
//! receiving the WABA's events at once, checked against real receivers on loopback. Each test
//! also subscribes the client's own app as a control, so that "the partner got nothing" is
//! asserted only after the same event reached the client.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::TestServer;

use crate::deliveries::{Receiver, app_token, subscribe_app};
use crate::worlds::{id, token};

/// A client with two WABAs (one onboarded onto an active solution between two partners), each
/// with a phone number, and a tech provider the client shares with through the API.
const WORLD: &str = r#"
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
key = "client_dev"
business = "client"
name = "Client Developer"
role = "EMPLOYEE"
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
key = "client_dev"
system_user = "client_dev"
app = "client_app"
scopes = ["business_management", "whatsapp_business_management", "whatsapp_business_messaging"]

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

[[phone_number]]
key = "client_phone"
waba = "client_waba"
display_phone_number = "+1 555-010-0300"
verified_name = "Client Shop"

[[phone_number]]
key = "mps_phone"
waba = "mps_waba"
display_phone_number = "+1 555-010-0301"
verified_name = "Client Shop Solution"

[[assignment]]
waba = "client_waba"
user = "client_dev"
tasks = ["DEVELOP"]

[[solution]]
key = "mps"
name = "Shop Solution"
owner_app = "tp_app"
partner_app = "sp_app"
owner_permissions = ["MANAGE", "MESSAGING"]
partner_permissions = ["DEVELOP"]
status = "ACTIVE"
wabas = ["mps_waba"]
"#;

/// Each app's receiver, subscribed (`/{app}/subscriptions`) to `messages`.
struct Receivers {
    client: Receiver,
    tp: Receiver,
    sp: Receiver,
}

async fn world(settings: Option<service::Settings>) -> (TestServer, Receivers) {
    let ts = match settings {
        Some(s) => TestServer::with_fixtures_and_settings(WORLD, s).await,
        None => TestServer::with_fixtures(WORLD).await,
    };
    let mut receivers = Vec::new();
    for key in ["client", "tp", "sp"] {
        let secret = format!("{key}-secret");
        let receiver = Receiver::start(&secret, "vt").await;
        subscribe_app(&ts, &id(&ts, &format!("{key}_app")), &secret, &receiver, "messages,account_update").await;
        receivers.push(receiver);
    }
    let sp = receivers.pop().unwrap();
    let tp = receivers.pop().unwrap();
    let client = receivers.pop().unwrap();
    (ts, Receivers { client, tp, sp })
}

fn partners(ts: &TestServer) -> String {
    format!("_wabagate/wabas/{}/partners", id(ts, "client_waba"))
}

async fn share(ts: &TestServer, level: &str) {
    let form = [("partner", id(ts, "tp")), ("level", level.to_string())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ts.post(&partners(ts), Some(&token(ts, "client_admin")), &form).await.ok();
}

/// Subscribes the app of `who`'s token to the WABA, with an override callback if given.
async fn subscribe_waba(ts: &TestServer, waba: &str, who: &str, override_uri: Option<&str>) {
    let mut form = Vec::new();
    if let Some(uri) = override_uri {
        form.extend([("override_callback_uri", uri), ("verify_token", "vt")]);
    }
    ts.post(&format!("{}/subscribed_apps", id(ts, waba)), Some(&token(ts, who)), &form).await.ok();
}

/// The app ids subscribed to a WABA, as its owner's admin lists them.
async fn subscribed(ts: &TestServer, waba: &str) -> Vec<String> {
    let r = ts.get(&format!("{}/subscribed_apps", id(ts, waba)), Some(&token(ts, "client_admin")), &[]).await;
    r.data().iter().map(|a| a["whatsapp_business_api_data"]["id"].as_str().unwrap().to_string()).collect()
}

/// A customer writes to a phone number; answers the message's id.
async fn customer_writes(ts: &TestServer, phone: &str, text: &str) -> String {
    let path = format!("_wabagate/phone_numbers/{}/inbound", id(ts, phone));
    let r = ts.post(&path, Some(&token(ts, "client_admin")), &[("from", "16505551234"), ("text", text)]).await;
    r.ok()["messages"][0]["id"].as_str().unwrap().to_string()
}

/// The texts of the customer messages a receiver got.
fn texts(receiver: &Receiver) -> Vec<String> {
    receiver
        .delivered()
        .iter()
        .filter(|(f, v)| f == "messages" && v["messages"].is_array())
        .map(|(_, v)| v["messages"][0]["text"]["body"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until the receiver got a customer message with this text.
async fn wait_text(receiver: &Receiver, text: &str) {
    let started = std::time::Instant::now();
    while !texts(receiver).iter().any(|t| t == text) {
        assert!(started.elapsed() < Duration::from_secs(15), "waited for {text:?}, got {:?}", texts(receiver));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Once the control receiver got `text`, and a little longer, asserts that `receiver` never did.
async fn assert_never_gets(control: &Receiver, receiver: &Receiver, text: &str) {
    wait_text(control, text).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!texts(receiver).iter().any(|t| t == text), "{text:?} reached the receiver: {:?}", texts(receiver));
}

/// An app's delivery log, newest first.
async fn deliveries(ts: &TestServer, app: &str) -> Vec<Value> {
    let app_id = id(ts, &format!("{app}_app"));
    let token = app_token(&app_id, &format!("{app}-secret"));
    let path = format!("_wabagate/apps/{app_id}/webhook_deliveries");
    ts.get(&path, Some(&token), &[]).await.data().clone()
}

async fn audit(ts: &TestServer, who: &str, target: &str) -> Vec<Value> {
    let r = ts.get("_wabagate/audit", Some(&token(ts, who)), &[("target", target), ("limit", "100")]).await;
    r.data().clone()
}

#[tokio::test]
async fn partner_receives_no_webhook_after_the_share_ends_override_callback_included() {
    let (ts, r) = world(None).await;
    share(&ts, "FULL").await;
    subscribe_waba(&ts, "client_waba", "client_admin", None).await;
    // The partner's admin subscribes its app with an override callback of its own.
    let special = Receiver::start("tp-secret", "vt").await;
    subscribe_waba(&ts, "client_waba", "tp_admin", Some(&special.url)).await;
    assert_eq!(subscribed(&ts, "client_waba").await.len(), 2);
    customer_writes(&ts, "client_phone", "while shared").await;
    wait_text(&special, "while shared").await;
    wait_text(&r.client, "while shared").await;

    ts.delete(&partners(&ts), Some(&token(&ts, "client_admin")), &[("partner", &id(&ts, "tp"))]).await.ok();
    let waba = id(&ts, "client_waba");
    ts.get(&waba, Some(&token(&ts, "tp_admin")), &[]).await.assert_error(400, 100, Some(33));
    // The subscription ended with the share: the owner sees only its own app.
    assert_eq!(subscribed(&ts, "client_waba").await, [id(&ts, "client_app")]);
    customer_writes(&ts, "client_phone", "after the share").await;
    assert_never_gets(&r.client, &special, "after the share").await;
    assert!(!texts(&r.tp).iter().any(|t| t == "after the share"));
    // The partner still hears that it was removed: that event is about itself.
    let events = r.tp.wait_for(2).await;
    assert_eq!(events[1].1["event"], "PARTNER_REMOVED", "{events:?}");

    // The end is audited, in the partner's log and in the owner's, with the share's end.
    for who in ["tp_admin", "client_admin"] {
        let log = audit(&ts, who, &waba).await;
        let ended = log.iter().find(|e| e["action"] == "subscribed_app.end").unwrap_or_else(|| panic!("{log:?}"));
        assert_eq!(ended["before"]["app"], id(&ts, "tp_app").as_str());
        assert_eq!(ended["before"]["override_callback_uri"], special.url.as_str());
        assert!(ended["after"]["ended"].as_str().unwrap().contains("no longer reaches"), "{ended}");
        assert_eq!(ended["actor"]["user"], id(&ts, "client_admin").as_str());
    }
    // Sharing again does not bring the subscription back; a restart does not either.
    share(&ts, "FULL").await;
    let ts = ts.restart().await;
    assert_eq!(subscribed(&ts, "client_waba").await, [id(&ts, "client_app")]);
}

#[tokio::test]
async fn narrowing_a_share_to_standard_keeps_the_subscription_develop_still_allows() {
    let (ts, r) = world(None).await;
    share(&ts, "FULL").await;
    subscribe_waba(&ts, "client_waba", "client_admin", None).await;
    subscribe_waba(&ts, "client_waba", "tp_admin", None).await;
    // STANDARD is what DEVELOP implies: the subscription, which needs DEVELOP, still holds...
    share(&ts, "STANDARD").await;
    assert_eq!(subscribed(&ts, "client_waba").await.len(), 2);
    customer_writes(&ts, "client_phone", "standard").await;
    wait_text(&r.tp, "standard").await;
    let log = audit(&ts, "client_admin", &id(&ts, "client_waba")).await;
    assert!(log.iter().all(|e| e["action"] != "subscribed_app.end"), "{log:?}");
    // ...while what STANDARD leaves out is gone: the partner cannot rename the WABA.
    let renamed = ts.post(&id(&ts, "client_waba"), Some(&token(&ts, "tp_admin")), &[("name", "Taken")]).await;
    renamed.assert_error(403, 200, None);
}

#[tokio::test]
async fn partner_receives_no_webhook_after_its_solution_is_deactivated() {
    let (ts, r) = world(None).await;
    subscribe_waba(&ts, "mps_waba", "client_admin", None).await;
    subscribe_waba(&ts, "mps_waba", "sp_admin", None).await;
    subscribe_waba(&ts, "mps_waba", "tp_admin", None).await;
    customer_writes(&ts, "mps_phone", "while active").await;
    for receiver in [&r.client, &r.tp, &r.sp] {
        wait_text(receiver, "while active").await;
    }
    let mps = id(&ts, "mps");
    ts.post(&format!("{mps}/send_deactivation_request"), Some(&token(&ts, "tp_admin")), &[]).await.ok();
    // A pending request changes nothing yet.
    assert_eq!(subscribed(&ts, "mps_waba").await.len(), 3);
    ts.post(&format!("{mps}/accept_deactivation_request"), Some(&token(&ts, "sp_admin")), &[]).await.ok();
    assert_eq!(subscribed(&ts, "mps_waba").await, [id(&ts, "client_app")]);
    customer_writes(&ts, "mps_phone", "after deactivation").await;
    assert_never_gets(&r.client, &r.sp, "after deactivation").await;
    assert!(!texts(&r.tp).iter().any(|t| t == "after deactivation"));
    let log = audit(&ts, "sp_admin", &id(&ts, "mps_waba")).await;
    let ended = log.iter().find(|e| e["action"] == "subscribed_app.end").unwrap_or_else(|| panic!("{log:?}"));
    assert_eq!(ended["actor"]["user"], id(&ts, "sp_admin").as_str());
    // Neither partner can subscribe again.
    let path = format!("{}/subscribed_apps", id(&ts, "mps_waba"));
    ts.post(&path, Some(&token(&ts, "sp_admin")), &[]).await.assert_error(400, 100, Some(33));
}

#[tokio::test]
async fn the_waba_owner_removes_a_partner_app_s_subscription_by_app_id() {
    let (ts, r) = world(None).await;
    share(&ts, "FULL").await;
    subscribe_waba(&ts, "client_waba", "client_admin", None).await;
    subscribe_waba(&ts, "client_waba", "tp_admin", None).await;
    let path = format!("{}/subscribed_apps", id(&ts, "client_waba"));
    let (client_app, tp_app) = (id(&ts, "client_app"), id(&ts, "tp_app"));
    // The partner holds MANAGE through its FULL share, yet is not the owner: (#200).
    let e = ts.delete(&path, Some(&token(&ts, "tp_admin")), &[("app_id", &client_app)]).await;
    e.assert_error(403, 200, None);
    // An employee of the owner with DEVELOP removes its own app's subscription, not another's.
    let e = ts.delete(&path, Some(&token(&ts, "client_dev")), &[("app_id", &tp_app)]).await;
    e.assert_error(403, 200, None);
    ts.delete(&path, Some(&token(&ts, "client_dev")), &[("app_id", "not-an-id")]).await.assert_error(400, 100, None);
    assert_eq!(subscribed(&ts, "client_waba").await.len(), 2);

    let removed = ts.delete(&path, Some(&token(&ts, "client_admin")), &[("app_id", &tp_app)]).await;
    assert_eq!(removed.ok(), &json!({"success": true}));
    assert_eq!(subscribed(&ts, "client_waba").await, [client_app.as_str()]);
    customer_writes(&ts, "client_phone", "after eviction").await;
    assert_never_gets(&r.client, &r.tp, "after eviction").await;
    // Removing it again is not an error: nothing is left to remove.
    ts.delete(&path, Some(&token(&ts, "client_admin")), &[("app_id", &tp_app)]).await.ok();
    for who in ["client_admin", "tp_admin"] {
        let log = audit(&ts, who, &id(&ts, "client_waba")).await;
        let rows: Vec<&Value> = log.iter().filter(|e| e["action"] == "subscribed_app.remove").collect();
        assert_eq!(rows.len(), 1, "{who}: {log:?}");
        assert_eq!(rows[0]["before"]["app"], tp_app.as_str());
        assert_eq!(rows[0]["actor"]["user"], id(&ts, "client_admin").as_str());
    }
    // Without app_id the caller's own app is removed, as before.
    ts.delete(&path, Some(&token(&ts, "client_dev")), &[]).await.ok();
    assert!(subscribed(&ts, "client_waba").await.is_empty());
}

#[tokio::test]
async fn a_delivery_queued_before_the_share_ends_is_dropped_not_sent() {
    let webhooks = service::webhooks::WebhookSettings {
        delivered_after: Some(Duration::from_millis(1500)),
        read_after: Some(Duration::from_millis(2500)),
        ..Default::default()
    };
    let settings = service::Settings { webhooks, ..Default::default() };
    let (ts, r) = world(Some(settings)).await;
    share(&ts, "FULL").await;
    subscribe_waba(&ts, "client_waba", "client_admin", None).await;
    subscribe_waba(&ts, "client_waba", "tp_admin", None).await;
    // One message: `sent` now, `delivered` and `read` queued for later, for both apps.
    let msg = json!({"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": "hello"}});
    let phone = id(&ts, "client_phone");
    ts.post_json(&format!("{phone}/messages"), &token(&ts, "client_admin"), msg).await.ok();
    let statuses = |receiver: &Receiver| -> Vec<String> {
        receiver
            .delivered()
            .iter()
            .filter_map(|(_, v)| v["statuses"][0]["status"].as_str().map(str::to_string))
            .collect()
    };
    let started = std::time::Instant::now();
    while statuses(&r.tp).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ts.delete(&partners(&ts), Some(&token(&ts, "client_admin")), &[("partner", &id(&ts, "tp"))]).await.ok();
    // The client gets all three; the partner only what was sent while it reached the WABA.
    r.client.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(statuses(&r.client), ["sent", "delivered", "read"]);
    assert_eq!(statuses(&r.tp), ["sent"]);
    // The partner's log shows the two as dropped, never attempted at a callback.
    let log = deliveries(&ts, "tp").await;
    let messages: Vec<&Value> = log.iter().filter(|d| d["field"] == "messages").collect();
    let shown: Vec<(&str, &str)> = messages
        .iter()
        .map(|d| {
            (
                d["status"].as_str().unwrap(),
                d["body"]["entry"][0]["changes"][0]["value"]["statuses"][0]["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(shown, [("dropped", "read"), ("dropped", "delivered"), ("delivered", "sent")]);
    for d in &messages[..2] {
        let error = d["last_error"].as_str().unwrap();
        assert!(error.starts_with("dropped: business ") && error.contains("no longer reaches"), "{error}");
        assert_eq!((d["last_status_code"].clone(), d["callback_url"].clone()), (Value::Null, Value::Null));
    }
    // Redelivering a dropped event drops it again.
    let app = id(&ts, "tp_app");
    let path = format!("_wabagate/apps/{app}/webhook_deliveries/{}/redeliver", messages[0]["id"].as_str().unwrap());
    ts.post(&path, Some(&app_token(&app, "tp-secret")), &[]).await.ok();
    let started = std::time::Instant::now();
    loop {
        let newest = deliveries(&ts, "tp").await[0].clone();
        if newest["status"] == "dropped" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{newest}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(statuses(&r.tp), ["sent"]);
}

//! Phone numbers, messages and subscribed apps.

use serde_json::json;
use testkit::TestServer;

fn text(to: &str, body: &str) -> serde_json::Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text", "text": {"body": body, "preview_url": false}})
}

#[tokio::test]
async fn phone_numbers_list_with_the_fields_pywa_asks_for() {
    let ts = TestServer::start().await;
    let (waba, phone) = (ts.b("waba_id"), ts.b("phone_number_id"));
    let list = ts.get(&format!("{waba}/phone_numbers"), Some(&ts.admin()), &[]).await;
    assert_eq!(
        list.data(),
        &vec![
            json!({"verified_name": "Acme Support", "code_verification_status": "VERIFIED", "display_phone_number": "+1 555-010-0100", "quality_rating": "GREEN", "id": phone})
        ]
    );
    let pywa = "id,verified_name,display_phone_number,conversational_automation,status,quality_rating,quality_score,webhook_configuration,name_status,new_name_status,code_verification_status,account_mode,is_on_biz_app,is_official_business_account,is_pin_enabled,is_preverified_number,search_visibility,platform_type,throughput,eligibility_for_api_business_global_search,health_status,certificate,new_certificate,last_onboarded_time,country_code,country_dial_code,whatsapp_business_manager_messaging_limit";
    let r = ts.get(&phone, Some(&ts.admin()), &[("fields", pywa)]).await;
    let p = r.ok();
    assert_eq!((p["status"].as_str(), p["platform_type"].as_str()), (Some("CONNECTED"), Some("CLOUD_API")));
    assert_eq!((p["country_code"].as_str(), p["country_dial_code"].as_str()), (Some("US"), Some("1")));
    assert_eq!(p["throughput"], json!({"level": "STANDARD"}));
}

#[tokio::test]
async fn register_verify_and_deregister_change_the_number_s_state() {
    let ts = TestServer::start().await;
    let (phone, admin) = (ts.b("phone_number_id"), ts.admin());
    let read = |f: &'static str| {
        let (ts, phone, admin) = (&ts, phone.clone(), admin.clone());
        async move { ts.get(&phone, Some(&admin), &[("fields", f)]).await.ok()[f].clone() }
    };
    let register = format!("{phone}/register");
    let reg = |pin: &'static str| ts.post_json(&register, &admin, json!({"messaging_product": "whatsapp", "pin": pin}));
    assert_eq!(reg("123456").await.ok(), &json!({"success": true}));
    assert_eq!(read("is_pin_enabled").await, true);
    let e = reg("654321").await.assert_error(400, 133005, None).clone();
    assert_eq!(e["message"], "(#133005) Two step verification PIN Mismatch");
    reg("12ab56").await.assert_error(400, 100, None);

    ts.post(&format!("{phone}/deregister"), Some(&admin), &[]).await.ok();
    assert_eq!(read("status").await, "DISCONNECTED");
    let e = ts
        .post_json(&format!("{phone}/messages"), &admin, text("15551234567", "hi"))
        .await
        .assert_error(400, 133010, None)
        .clone();
    assert_eq!(e["message"], "(#133010) Account not registered");
    reg("123456").await.ok();
    assert_eq!(read("status").await, "CONNECTED");

    ts.post(&format!("{phone}/request_code"), Some(&admin), &[("code_method", "SMS"), ("language", "en_US")])
        .await
        .ok();
    ts.post(
        &format!("{phone}/request_code"),
        Some(&admin),
        &[("code_method", "CARRIER_PIGEON"), ("language", "en_US")],
    )
    .await
    .assert_error(400, 100, None);
    ts.post(&format!("{phone}/verify_code"), Some(&admin), &[("code", "000000")]).await.assert_error(400, 136025, None);
    ts.post(&format!("{phone}/verify_code"), Some(&admin), &[("code", "123456")]).await.ok();
    assert_eq!(read("code_verification_status").await, "VERIFIED");
}

#[tokio::test]
async fn a_text_message_is_accepted_with_meta_s_answer() {
    let ts = TestServer::start().await;
    let phone = ts.b("phone_number_id");
    let r = ts.post_json(&format!("{phone}/messages"), &ts.admin(), text("+1 (555) 123-4567", "Hello")).await;
    let body = r.ok();
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["contacts"], json!([{"input": "+1 (555) 123-4567", "wa_id": "15551234567"}]));
    let id = body["messages"][0]["id"].as_str().unwrap();
    assert!(id.starts_with("wamid.HBg"), "{id}");
    assert!(body["messages"][0].get("message_status").is_none());
    // Form bodies work too, with the text object as JSON.
    let r = ts
        .post(
            &format!("{phone}/messages"),
            Some(&ts.admin()),
            &[("messaging_product", "whatsapp"), ("to", "15551234567"), ("text", r#"{"body":"form"}"#)],
        )
        .await;
    r.ok();
}

#[tokio::test]
async fn malformed_messages_get_meta_s_codes() {
    let ts = TestServer::start().await;
    let path = format!("{}/messages", ts.b("phone_number_id"));
    let admin = ts.admin();
    let cases = [
        (
            json!({"to": "15551234567", "type": "text", "text": {"body": "x"}}),
            100,
            "(#100) The parameter messaging_product is required.",
        ),
        (
            json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}),
            100,
            "(#100) The parameter to is required.",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "15551234567", "type": "text", "text": {}}),
            100,
            "(#100) The parameter text['body'] is required.",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "15551234567", "type": "text", "text": {"body": "x".repeat(4097)}}),
            100,
            "(#100) Param text['body'] must be at most 4096 characters long.",
        ),
        (json!({"messaging_product": "whatsapp", "to": "15551234567", "type": "hologram"}), 100, ""),
        (
            json!({"messaging_product": "whatsapp", "to": "not a number", "type": "text", "text": {"body": "x"}}),
            131009,
            "(#131009) Parameter value is not valid",
        ),
    ];
    for (body, code, message) in cases {
        let r = ts.post_json(&path, &admin, body.clone()).await;
        let e = r.assert_error(400, code, None).clone();
        if !message.is_empty() {
            assert_eq!(e["message"], message, "{body}");
        }
    }
}

#[tokio::test]
async fn template_messages_need_an_approved_template_and_its_parameters() {
    let ts = TestServer::start().await;
    let (waba, phone, admin) = (ts.b("waba_id"), ts.b("phone_number_id"), ts.admin());
    let messages = format!("{phone}/messages");
    let send = |name: &str, lang: &str, params: Vec<&str>| {
        let mut template = json!({"name": name, "language": {"code": lang}});
        if !params.is_empty() {
            let p: Vec<_> = params.iter().map(|t| json!({"type": "text", "text": t})).collect();
            template["components"] = json!([{"type": "BODY", "parameters": p}]);
        }
        ts.post_json(
            &messages,
            &admin,
            json!({"messaging_product": "whatsapp", "to": "15551234567", "type": "template", "template": template}),
        )
    };
    let r = send("hello_world", "en_US", vec![]).await;
    assert_eq!(r.ok()["messages"][0]["message_status"], "accepted");

    let e = send("hello_world", "fr", vec![]).await.assert_error(404, 132001, None).clone();
    assert_eq!(
        e["error_data"],
        json!({"messaging_product": "whatsapp", "details": "template name (hello_world) does not exist in fr"})
    );
    send("no_such_template", "en_US", vec![]).await.assert_error(404, 132001, None);
    send("hello_world", "en_US", vec!["extra"]).await.assert_error(400, 132000, None);

    let components =
        json!([{"type": "BODY", "text": "Order {{1}} for {{2}}", "example": {"body_text": [["1", "Ada"]]}}])
            .to_string();
    ts.post(
        &format!("{waba}/message_templates"),
        Some(&admin),
        &[("name", "order"), ("language", "en_US"), ("category", "UTILITY"), ("components", &components)],
    )
    .await
    .ok();
    // PENDING: not sendable yet.
    send("order", "en_US", vec!["7", "Ada"]).await.assert_error(404, 132001, None);
    ts.advance_clock(10);
    ts.service().review_due_templates().await.unwrap();
    send("order", "en_US", vec!["7", "Ada"]).await.ok();
    let e = send("order", "en_US", vec!["7"]).await.assert_error(400, 132000, None).clone();
    assert_eq!(
        e["error_data"]["details"],
        "body: number of localizable_params (1) does not match the expected number of params (2)"
    );
}

#[tokio::test]
async fn sending_needs_the_messaging_task_and_the_messaging_scope() {
    let ts = TestServer::start().await;
    let (waba, phone) = (ts.b("waba_id"), ts.b("phone_number_id"));
    let (su, token) = ts.employee("Sender", "whatsapp_business_management,whatsapp_business_messaging").await;
    ts.assign(&waba, &su, "VIEW_TEMPLATES").await.ok();
    ts.post_json(&format!("{phone}/messages"), &token, text("15551234567", "hi")).await.assert_error(403, 200, None);
    ts.assign(&waba, &su, "MESSAGING").await.ok();
    ts.post_json(&format!("{phone}/messages"), &token, text("15551234567", "hi")).await.ok();
    let no_scope = ts.mint(&su, "whatsapp_business_management").await;
    let e = ts
        .post_json(&format!("{phone}/messages"), &no_scope, text("15551234567", "hi"))
        .await
        .assert_error(403, 10, None)
        .clone();
    assert_eq!(e["message"], "(#10) Application does not have permission for this action");
    // A phone number of a WABA the user cannot see does not exist for it.
    ts.assign(&waba, &su, "VIEW_TEMPLATES").await.ok();
    let (_, stranger) = ts.employee("Stranger", "whatsapp_business_management,whatsapp_business_messaging").await;
    ts.get(&phone, Some(&stranger), &[]).await.assert_error(400, 100, Some(33));
    ts.post_json(&format!("{phone}/messages"), &stranger, text("15551234567", "hi")).await.assert_error(
        400,
        100,
        Some(33),
    );
}

#[tokio::test]
async fn sent_messages_are_stored() {
    let ts = TestServer::start().await;
    let phone = ts.b("phone_number_id");
    let r = ts.post_json(&format!("{phone}/messages"), &ts.admin(), text("15551234567", "kept")).await;
    let id = r.ok()["messages"][0]["id"].as_str().unwrap().to_string();
    let waba = model::GraphId(ts.b("waba_id").parse().unwrap());
    let kept = ts.service().messages(waba, 10).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].id.as_str(), kept[0].to.as_str(), kept[0].body["text"]["body"].as_str()),
        (id.as_str(), "15551234567", Some("kept"))
    );
}

#[tokio::test]
async fn subscribed_apps_are_listed_added_and_removed_for_the_caller_s_app() {
    let ts = TestServer::start().await;
    let (waba, admin) = (ts.b("waba_id"), ts.admin());
    let path = format!("{waba}/subscribed_apps");
    assert!(ts.get(&path, Some(&admin), &[]).await.data().is_empty());
    assert_eq!(ts.post(&path, Some(&admin), &[]).await.ok(), &json!({"success": true}));
    let app = ts.b("app_id");
    assert_eq!(
        ts.get(&path, Some(&admin), &[]).await.data(),
        &vec![
            json!({"whatsapp_business_api_data": {"id": app, "name": "Acme Onboarding", "link": format!("https://www.facebook.com/games/?app_id={app}")}})
        ]
    );
    let hook = crate::deliveries::Receiver::start(&ts.b("app_secret"), "s3cret").await;
    ts.post(&path, Some(&admin), &[("override_callback_uri", &hook.url), ("verify_token", "s3cret")]).await.ok();
    assert_eq!(ts.get(&path, Some(&admin), &[]).await.data()[0]["override_callback_uri"], hook.url.as_str());
    ts.post(&path, Some(&admin), &[("override_callback_uri", &hook.url)]).await.assert_error(400, 100, None);
    ts.delete(&path, Some(&admin), &[]).await.ok();
    assert!(ts.get(&path, Some(&admin), &[]).await.data().is_empty());
}

#[tokio::test]
async fn cost_and_insight_fields_need_their_tasks() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let (su, token) = ts.employee("Analyst", "whatsapp_business_management").await;
    ts.assign(&waba, &su, "VIEW_COST").await.ok();
    let r = ts.get(&waba, Some(&token), &[("fields", "id,pricing_analytics,conversation_analytics")]).await;
    assert_eq!(r.ok()["pricing_analytics"], json!({"data": [{"data_points": []}]}));
    ts.get(&waba, Some(&token), &[("fields", "id,template_analytics")]).await.assert_error(403, 200, None);
    ts.assign(&waba, &su, "VIEW_INSIGHTS").await.ok();
    ts.get(&waba, Some(&token), &[("fields", "template_analytics,analytics")]).await.ok();
    ts.get(&waba, Some(&token), &[("fields", "pricing_analytics")]).await.assert_error(403, 200, None);
}

const ANALYTICS: &str = "id,name,pricing_analytics,conversation_analytics,analytics,template_analytics";

/// The field names of each WABA of a list, by WABA id.
fn field_names(r: &testkit::Reply) -> std::collections::BTreeMap<String, Vec<String>> {
    r.data()
        .iter()
        .map(|w| {
            let mut names: Vec<String> = w.as_object().unwrap().keys().cloned().collect();
            names.sort();
            (w["id"].as_str().unwrap().to_string(), names)
        })
        .collect()
}

fn names(fields: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_messaging_only_employee_lists_wabas_without_their_cost_and_insight_fields() {
    let ts = TestServer::start().await;
    let (waba, business) = (ts.b("waba_id"), ts.b("business_id"));
    let (su, token) =
        ts.employee("Sender", "business_management,whatsapp_business_management,whatsapp_business_messaging").await;
    ts.assign(&waba, &su, "MESSAGING").await.ok();
    let fields = [("fields", ANALYTICS)];
    let only_id_and_name = [(waba.clone(), names(&["id", "name"]))].into_iter().collect();
    let owned = ts.get(&format!("{business}/owned_whatsapp_business_accounts"), Some(&token), &fields).await;
    assert_eq!(field_names(&owned), only_id_and_name, "{}", owned.body);
    let mine = ts.get(&format!("{su}/assigned_whatsapp_business_accounts"), Some(&token), &fields).await;
    assert_eq!(field_names(&mine), only_id_and_name, "{}", mine.body);
    // Asked of the WABA itself, such a field is refused, as before.
    ts.get(&waba, Some(&token), &fields).await.assert_error(403, 200, None);
    // The admin, holding every task, reads them all, in the lists too.
    let all = names(&["id", "name", "pricing_analytics", "conversation_analytics", "analytics", "template_analytics"]);
    let admin = ts.get(&format!("{business}/owned_whatsapp_business_accounts"), Some(&ts.admin()), &fields).await;
    assert_eq!(field_names(&admin)[&waba], all);
    let listed = ts.get(&format!("{su}/assigned_whatsapp_business_accounts"), Some(&ts.admin()), &fields).await;
    assert_eq!(field_names(&listed)[&waba], all, "the caller's tasks decide, not the listed user's");
    assert_eq!(admin.data()[0]["pricing_analytics"], json!({"data": [{"data_points": []}]}));
}

#[tokio::test]
async fn a_partner_on_a_standard_share_lists_client_wabas_without_their_cost_fields() {
    use crate::worlds::{id, token};
    let ts = crate::worlds::shared().await;
    let (full, standard) = (id(&ts, "full"), id(&ts, "standard"));
    let path = format!("{}/client_whatsapp_business_accounts", id(&ts, "partner"));
    let r = ts.get(&path, Some(&token(&ts, "partner_admin")), &[("fields", ANALYTICS)]).await;
    let listed = field_names(&r);
    let all = names(&["id", "name", "pricing_analytics", "conversation_analytics", "analytics", "template_analytics"]);
    assert_eq!(listed[&full], all, "FULL access reads costs");
    // STANDARD is what DEVELOP implies: insights, not costs.
    assert_eq!(listed[&standard], names(&["id", "name", "analytics", "template_analytics"]));
    ts.get(&standard, Some(&token(&ts, "partner_admin")), &[("fields", "pricing_analytics")])
        .await
        .assert_error(403, 200, None);
    // A token without whatsapp_business_management lists the WABAs without any of them.
    let su = id(&ts, "partner_admin");
    let app = id(&ts, "partner_app");
    let admin = token(&ts, "partner_admin");
    let proof = testkit::appsecret_proof("partner-secret", &admin);
    let minted = ts
        .post(
            &format!("{su}/access_tokens"),
            Some(&admin),
            &[("business_app", &app), ("scope", "business_management"), ("appsecret_proof", &proof)],
        )
        .await;
    let narrow = minted.ok()["access_token"].as_str().unwrap().to_string();
    let r = ts.get(&path, Some(&narrow), &[("fields", ANALYTICS)]).await;
    assert!(field_names(&r).values().all(|f| *f == names(&["id", "name"])), "{}", r.body);
}

use serde_json::Value;
use testkit::TestServer;

#[tokio::test]
async fn every_access_change_is_in_the_audit_log_newest_first() {
    let ts = TestServer::start().await;
    let admin = ts.admin();
    let biz = ts.b("business_id");
    let su = ts.create_system_user("Audited", "EMPLOYEE").await;
    ts.post(&format!("{biz}/system_users"), Some(&admin), &[("system_user_id", &su), ("name", "Audited Renamed")])
        .await
        .ok();
    let token = ts.mint(&su, "business_management").await; // installs the app, then mints
    ts.assign(&ts.b("waba_id"), &su, "MANAGE").await.ok();
    ts.assign(&ts.b("waba_id"), &su, "DEVELOP").await.ok();
    ts.delete(&format!("{}/assigned_users", ts.b("waba_id")), Some(&admin), &[("user", &su)]).await.ok();
    let (app, secret) = (ts.b("app_id"), ts.b("app_secret"));
    ts.get("oauth/revoke", Some(&admin), &[("client_id", &app), ("client_secret", &secret), ("revoke_token", &token)])
        .await
        .ok();
    ts.mint(&su, "business_management").await;
    ts.delete(&format!("{su}/access_tokens"), Some(&admin), &[]).await.ok();

    let url = format!("{}/_wabagate/audit?access_token={admin}&target={su}&limit=100", ts.url);
    let log = ts.get_url(&url).await;
    let actions: Vec<&str> = log.data().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "token.revoke_all",
            "token.mint",
            "token.revoke",
            "assignment.remove",
            "assignment.change",
            "assignment.add",
            "token.mint",
            "app.install",
            "system_user.rename",
            "system_user.create",
        ]
    );
    let change = &log.data()[4];
    assert_eq!(change["before"]["tasks"], serde_json::json!(["MANAGE"]));
    assert_eq!(change["after"]["tasks"], serde_json::json!(["DEVELOP"]));
    assert_eq!(change["actor"]["user"], ts.b("admin_system_user_id").as_str());
    assert_eq!(change["actor"]["via"], "api");
    assert!(change["time"].as_i64().unwrap() > 1_600_000_000);
    let rename = &log.data()[8];
    assert_eq!(
        (rename["before"]["name"].as_str(), rename["after"]["name"].as_str()),
        (Some("Audited"), Some("Audited Renamed"))
    );
    // No token appears in the log.
    assert!(!log.body.to_string().contains(&token));
}

#[tokio::test]
async fn the_audit_log_pages_and_is_for_admins_only() {
    let ts = TestServer::start().await;
    for i in 0..3 {
        ts.create_system_user(&format!("Paged {i}"), "EMPLOYEE").await;
    }
    let first = ts.get_url(&format!("{}/_wabagate/audit?access_token={}&limit=2", ts.url, ts.admin())).await;
    assert_eq!(first.data().len(), 2);
    let next = first.ok()["paging"]["next"].as_str().unwrap().to_string();
    let second = ts.get_url(&next).await;
    assert_eq!(second.data().len(), 1);
    assert!(second.ok().get("paging").and_then(|p| p.get("next")).and_then(Value::as_str).is_none());

    let (_, employee) = ts.employee("Curious", "business_management").await;
    ts.get_url(&format!("{}/_wabagate/audit?access_token={employee}", ts.url)).await.assert_error(403, 200, None);
}

#[tokio::test]
async fn webhook_subscriptions_template_reviews_and_waba_renames_are_in_the_audit_log() {
    use crate::deliveries::{Receiver, app_token, create_template, review};
    let settings = service::Settings { template_review: service::TemplateReview::Manual, ..Default::default() };
    let ts = TestServer::start_with_settings(settings).await;
    let (admin, app, waba) = (ts.admin(), ts.b("app_id"), ts.b("waba_id"));
    let app_token = app_token(&app, &ts.b("app_secret"));
    let receiver = Receiver::start(&ts.b("app_secret"), "audited-verify-token").await;
    let subscriptions = format!("{app}/subscriptions");
    for fields in ["messages", "account_update"] {
        let form = [
            ("object", "whatsapp_business_account"),
            ("callback_url", receiver.url.as_str()),
            ("verify_token", "audited-verify-token"),
            ("fields", fields),
        ];
        ts.post(&subscriptions, Some(&app_token), &form).await.ok();
    }
    let form = [("object", "whatsapp_business_account"), ("fields", "messages")];
    ts.delete(&subscriptions, Some(&app_token), &form).await.ok();
    ts.post(&format!("{waba}/subscribed_apps"), Some(&admin), &[]).await.ok();
    ts.delete(&format!("{waba}/subscribed_apps"), Some(&admin), &[]).await.ok();
    ts.post(&waba, Some(&admin), &[("name", "Acme Renamed")]).await.ok();
    // Renaming to the same name changes nothing and is not logged.
    ts.post(&waba, Some(&admin), &[("name", "Acme Renamed")]).await.ok();
    let template = create_template(&ts, "audited").await;
    review(&ts, &template, "REJECTED", Some("PROMOTIONAL")).await;

    let log = ts.get("_wabagate/audit", Some(&admin), &[("limit", "100")]).await;
    let rows: Vec<(&str, &str, &str)> = log
        .data()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap(), e["target_type"].as_str().unwrap()))
        .take(7)
        .collect();
    assert_eq!(
        rows,
        [
            ("template.review", template.as_str(), "template"),
            ("waba.rename", waba.as_str(), "waba"),
            ("subscribed_app.remove", waba.as_str(), "waba"),
            ("subscribed_app.add", waba.as_str(), "waba"),
            ("webhooks.unsubscribe", app.as_str(), "app"),
            ("webhooks.subscribe", app.as_str(), "app"),
            ("webhooks.subscribe", app.as_str(), "app"),
        ]
    );
    let e = log.data();
    let admin_user = ts.b("admin_system_user_id");
    assert_eq!(e[0]["before"], serde_json::json!({"name": "audited", "language": "en_US", "status": "PENDING"}));
    assert_eq!(
        e[0]["after"],
        serde_json::json!({"name": "audited", "language": "en_US", "status": "REJECTED", "rejected_reason": "PROMOTIONAL"})
    );
    assert_eq!(
        (e[1]["before"]["name"].as_str(), e[1]["after"]["name"].as_str()),
        (Some("Acme Support"), Some("Acme Renamed"))
    );
    assert_eq!(e[2]["before"], serde_json::json!({"app": app, "override_callback_uri": null}));
    assert_eq!((&e[2]["after"], &e[3]["before"]), (&Value::Null, &Value::Null));
    assert_eq!(e[3]["after"], serde_json::json!({"app": app, "override_callback_uri": null}));
    for row in &e[..4] {
        assert_eq!((row["actor"]["user"].as_str(), row["actor"]["via"].as_str()), (Some(&*admin_user), Some("api")));
    }
    // The app's own changes name the app as the actor; the fields before and after each one.
    let fields = |v: &Value| {
        v["fields"].as_array().map(|f| f.iter().map(|x| x.as_str().unwrap().to_string()).collect::<Vec<_>>())
    };
    assert_eq!(
        (fields(&e[4]["before"]), fields(&e[4]["after"])),
        (Some(vec!["account_update".into(), "messages".into()]), Some(vec!["account_update".into()]))
    );
    assert_eq!(
        (fields(&e[5]["before"]), fields(&e[5]["after"])),
        (Some(vec!["messages".into()]), Some(vec!["account_update".into(), "messages".into()]))
    );
    assert_eq!((&e[6]["before"], fields(&e[6]["after"])), (&Value::Null, Some(vec!["messages".into()])));
    assert_eq!(e[6]["after"]["callback_url"], receiver.url.as_str());
    for row in &e[4..7] {
        assert_eq!(
            (row["actor"]["user"].as_str(), row["actor"]["name"].as_str()),
            (Some(&*app), Some("Acme Onboarding"))
        );
        assert_eq!(row["actor"]["token"], Value::Null);
    }
    // No verify token is in the log.
    assert!(!log.body.to_string().contains("audited-verify-token"));
}

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

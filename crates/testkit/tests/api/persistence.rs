use std::os::unix::fs::PermissionsExt;

use serde_json::json;
use testkit::TestServer;

#[tokio::test]
async fn tokens_revocations_and_assignments_survive_a_restart() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let (kept_su, kept) = ts.employee("Kept", "business_management,whatsapp_business_management").await;
    let (_, revoked) = ts.employee("Revoked", "business_management").await;
    ts.assign(&waba, &kept_su, r#"["DEVELOP","VIEW_COST"]"#).await.ok();
    let (app, secret) = (ts.b("app_id"), ts.b("app_secret"));
    ts.get(
        "oauth/revoke",
        Some(&ts.admin()),
        &[("client_id", &app), ("client_secret", &secret), ("revoke_token", &revoked)],
    )
    .await
    .ok();
    let bootstrap = ts.bootstrap.clone();

    let ts = ts.restart().await;
    assert!(ts.service().world().counts()["system_users"] >= 3);
    ts.get("me", Some(&kept), &[]).await.ok();
    ts.get(&waba, Some(&kept), &[]).await.ok();
    ts.get("me", Some(&revoked), &[]).await.assert_error(401, 190, Some(460));
    let list = ts.get(&format!("{waba}/assigned_users"), Some(&kept), &[("business", &ts.b("business_id"))]).await;
    assert_eq!(list.data(), &vec![json!({"id": kept_su, "name": "Kept", "tasks": ["DEVELOP", "VIEW_COST"]})]);
    // The restart reuses the store and bootstrap.json; it seeds nothing new.
    assert_eq!(ts.bootstrap, bootstrap);
    assert_eq!(ts.get(&format!("{}/system_users", ts.b("business_id")), Some(&ts.admin()), &[]).await.data().len(), 3);
}

#[tokio::test]
async fn bootstrap_json_is_private_and_has_exactly_the_documented_keys() {
    let ts = TestServer::start().await;
    let path = ts.data_dir().join("bootstrap.json");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let b: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "admin_system_user_id",
            "admin_token",
            "app_id",
            "app_secret",
            "business_id",
            "client_business_id",
            "client_waba_id",
            "extended_credit_id",
            "graph_url",
            "person_email",
            "person_password",
            "phone_number_id",
            "waba_id",
        ]
    );
    for (k, v) in b.as_object().unwrap() {
        assert!(v.as_str().is_some_and(|s| !s.is_empty()), "{k} is {v}");
    }
    assert_eq!(b["graph_url"], ts.url.as_str());
    // The demo world's ids name what they say.
    let admin = ts.admin();
    ts.get(&ts.b("business_id"), Some(&admin), &[]).await.ok();
    ts.get(&ts.b("client_waba_id"), Some(&admin), &[]).await.ok();
    assert_eq!(ts.get("me", Some(&admin), &[]).await.ok()["id"], b["admin_system_user_id"]);
}

#[tokio::test]
async fn token_last_use_is_recorded_without_a_write_per_request_and_kept() {
    let ts = TestServer::start().await;
    let (su, token) = ts.employee("Used", "business_management").await;
    let last_used = |ts: &TestServer| {
        let world = ts.service().world();
        let id: model::GraphId = su.parse::<u64>().map(model::GraphId).unwrap();
        world.tokens_of(id).next().unwrap().last_used_at
    };
    assert_eq!(last_used(&ts), None);
    ts.get("me", Some(&token), &[]).await.ok();
    assert_eq!(last_used(&ts), None, "not written per request");
    ts.service().flush_usage().await.unwrap();
    let used = last_used(&ts).expect("flushed");
    let ts = ts.restart().await;
    assert_eq!(last_used(&ts), Some(used));
}

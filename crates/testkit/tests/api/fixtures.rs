use serde_json::json;
use testkit::TestServer;

#[tokio::test]
async fn the_documented_example_fixtures_build_the_world_they_describe() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/fixtures.example.toml")).unwrap();
    let ts = TestServer::with_fixtures(&text).await;
    let admin = "EAAexampleexampleexampleexampleexampleexampleexampleexampleexample1";
    assert_eq!(ts.bootstrap["tokens"]["admin"], admin);
    assert_eq!(ts.bootstrap["ids"]["bsp_waba"], "1000000000000030");
    assert_eq!(ts.get("me", Some(admin), &[]).await.ok(), &json!({"id": "1000000000000020", "name": "BSP Admin"}));
    let client = ts.get("1000000000000001/client_whatsapp_business_accounts", Some(admin), &[]).await;
    assert_eq!(client.ids(), ["1000000000000031"]);
    let sender = ts.bootstrap["tokens"]["sender"].as_str().unwrap().to_string();
    let list = ts.get("1000000000000031/assigned_users", Some(admin), &[("business", "1000000000000001")]).await;
    assert_eq!(
        list.data(),
        &vec![json!({"id": "1000000000000021", "name": "BSP Sender", "tasks": ["VIEW_TEMPLATES", "MESSAGING"]})]
    );
    let debug = ts.get("debug_token", Some(admin), &[("input_token", &sender)]).await;
    assert!(debug.ok()["data"]["expires_at"].as_i64().unwrap() > 0);
    assert_eq!(ts.bootstrap["app_secrets"]["onboarding"], "0123456789abcdef0123456789abcdef");
}

use serde_json::json;
use testkit::TestServer;

use crate::worlds::{self, id, token};

#[tokio::test]
async fn admin_creates_an_employee_system_user_by_default_and_lists_it_with_its_role() {
    let ts = TestServer::start().await;
    let biz = ts.b("business_id");
    let r = ts.post(&format!("{biz}/system_users"), Some(&ts.admin()), &[("name", "Ci Bot")]).await;
    let id = r.ok()["id"].as_str().unwrap().to_string();
    assert!(id.len() >= 15 && id.bytes().all(|b| b.is_ascii_digit()), "{id}");

    let list = ts.get(&format!("{biz}/system_users"), Some(&ts.admin()), &[]).await;
    let item = list.data().iter().find(|i| i["id"] == id.as_str()).expect("listed").clone();
    assert_eq!(item, json!({"id": id, "name": "Ci Bot", "role": "EMPLOYEE"}));

    let node = ts.get(&id, Some(&ts.admin()), &[("fields", "id,name,role,created_by")]).await;
    assert_eq!(node.ok()["role"], "EMPLOYEE");
    assert_eq!(node.ok()["created_by"]["id"], ts.b("admin_system_user_id").as_str());
}

#[tokio::test]
async fn admin_role_and_finance_roles_read_back_as_base_roles() {
    let ts = TestServer::start().await;
    let admin = ts.create_system_user("Second Admin", "ADMIN").await;
    let finance = ts.create_system_user("Billing", "FINANCE_EDITOR").await;
    let a = ts.get(&admin, Some(&ts.admin()), &[("fields", "role")]).await;
    assert_eq!(a.ok()["role"], "ADMIN");
    let f = ts.get(&finance, Some(&ts.admin()), &[("fields", "role,finance_permission")]).await;
    assert_eq!(f.ok()["role"], "EMPLOYEE");
    assert_eq!(f.ok()["finance_permission"], "Editor");
}

#[tokio::test]
async fn create_without_a_name_or_with_an_unknown_role_is_error_100() {
    let ts = TestServer::start().await;
    let path = format!("{}/system_users", ts.b("business_id"));
    let r = ts.post(&path, Some(&ts.admin()), &[("role", "EMPLOYEE")]).await;
    let e = r.assert_error(400, 100, None);
    assert_eq!(e["message"], "(#100) The parameter name is required");
    let r = ts.post(&path, Some(&ts.admin()), &[("name", "x"), ("role", "OWNER")]).await;
    assert!(r.assert_error(400, 100, None)["message"].as_str().unwrap().contains("Param role must be one of"));
    let long = "x".repeat(101);
    ts.post(&path, Some(&ts.admin()), &[("name", &long)]).await.assert_error(400, 100, None);
}

#[tokio::test]
async fn rename_changes_the_name_and_keeps_the_id() {
    let ts = TestServer::start().await;
    let su = ts.create_system_user("Old Name", "EMPLOYEE").await;
    let path = format!("{}/system_users", ts.b("business_id"));
    let r = ts.post(&path, Some(&ts.admin()), &[("system_user_id", &su), ("name", "New Name")]).await;
    assert_eq!(r.ok(), &json!({"success": true}));
    assert_eq!(ts.get(&su, Some(&ts.admin()), &[]).await.ok(), &json!({"id": su, "name": "New Name"}));
    let r = ts.post(&path, Some(&ts.admin()), &[("system_user_id", "1234567890123456"), ("name", "x")]).await;
    r.assert_error(400, 110, None);
}

#[tokio::test]
async fn employee_token_cannot_create_system_users_and_gets_200() {
    let ts = TestServer::start().await;
    let (_, token) = ts.employee("Worker", "business_management").await;
    let r = ts.post(&format!("{}/system_users", ts.b("business_id")), Some(&token), &[("name", "Sneaky")]).await;
    let e = r.assert_error(403, 200, None);
    assert_eq!(e["type"], "OAuthException");
    assert!(e["message"].as_str().unwrap().starts_with("(#200)"));
}

#[tokio::test]
async fn employee_can_list_its_business_system_users() {
    let ts = TestServer::start().await;
    let (id, token) = ts.employee("Reader", "business_management").await;
    let ids = ts.get(&format!("{}/system_users", ts.b("business_id")), Some(&token), &[]).await.ids();
    assert!(ids.contains(&id) && ids.contains(&ts.b("admin_system_user_id")));
}

#[tokio::test]
async fn a_token_without_business_management_cannot_list_system_users() {
    let ts = TestServer::start().await;
    let (_, token) = ts.employee("Messenger", "whatsapp_business_messaging").await;
    let r = ts.get(&format!("{}/system_users", ts.b("business_id")), Some(&token), &[]).await;
    let e = r.assert_error(403, 200, None);
    assert!(e["message"].as_str().unwrap().contains("business_management"), "{e}");
}

#[tokio::test]
async fn deleting_a_system_user_is_refused_as_unsupported() {
    let ts = TestServer::start().await;
    let su = ts.create_system_user("Permanent", "EMPLOYEE").await;
    let r = ts.delete(&su, Some(&ts.admin()), &[]).await;
    let e = r.assert_error(400, 100, Some(33));
    assert_eq!(e["type"], "GraphMethodException");
    assert!(e["message"].as_str().unwrap().starts_with("Unsupported delete request."));
    ts.get(&su, Some(&ts.admin()), &[]).await.ok();
}

#[tokio::test]
async fn me_is_the_token_s_system_user() {
    let ts = TestServer::start().await;
    let me = ts.get("me", Some(&ts.admin()), &[]).await;
    assert_eq!(me.ok(), &json!({"id": ts.b("admin_system_user_id"), "name": "Acme Admin System User"}));
    let (id, token) = ts.employee("Scopeless", "catalog_management").await;
    assert_eq!(ts.get("me", Some(&token), &[]).await.ok()["id"], id.as_str());
}

#[tokio::test]
async fn another_business_and_its_system_users_are_invisible() {
    let ts = worlds::shared().await;
    let other = token(&ts, "other_admin");
    for node in [id(&ts, "owner"), id(&ts, "owner_admin")] {
        ts.get(&node, Some(&other), &[]).await.assert_error(400, 100, Some(33));
    }
    let r = ts.post(&format!("{}/system_users", id(&ts, "owner")), Some(&other), &[("name", "Intruder")]).await;
    r.assert_error(400, 100, Some(33));
    ts.get(&format!("{}/system_users", id(&ts, "owner")), Some(&other), &[]).await.assert_error(400, 100, Some(33));
}

#[tokio::test]
async fn the_business_node_shows_its_fields() {
    let ts = TestServer::start().await;
    let biz = ts.b("business_id");
    let r = ts.get(&biz, Some(&ts.admin()), &[("fields", "id,name,timezone_id,verification_status")]).await;
    assert_eq!(
        r.ok(),
        &json!({"id": biz, "name": "Acme Messaging Partners", "timezone_id": 0, "verification_status": "verified"})
    );
}

#[tokio::test]
async fn reading_a_person_needs_business_management() {
    let ts = TestServer::start().await;
    let person = ts.service().world().persons().map(|p| p.id.to_string()).next().expect("the demo world has a person");
    let fields = [("fields", "email,role")];
    let r = ts.get(&person, Some(&ts.admin()), &fields).await;
    assert_eq!(r.ok(), &json!({"email": "admin@acme.example", "role": "ADMIN", "id": person}));
    for scopes in ["", "catalog_management,whatsapp_business_management"] {
        let (_, token) = ts.employee(&format!("Reader {}", scopes.len()), scopes).await;
        let r = ts.get(&person, Some(&token), &fields).await;
        let e = r.assert_error(403, 200, None);
        assert_eq!(e["message"], "(#200) Requires business_management permission to manage the object");
        assert!(!r.body.to_string().contains("admin@acme.example"), "{}", r.body);
        assert_eq!(ts.get("me", Some(&token), &[]).await.ok()["name"], format!("Reader {}", scopes.len()));
    }
}

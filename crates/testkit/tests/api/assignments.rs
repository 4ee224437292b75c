use serde_json::json;
use testkit::TestServer;

use crate::worlds::{self, id, token};

const WBM: &str = "business_management,whatsapp_business_management";

#[tokio::test]
async fn assigning_manage_gives_an_employee_the_waba_and_unassigning_takes_it_away() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let (su, token) = ts.employee("Onboarded", WBM).await;
    ts.get(&waba, Some(&token), &[]).await.assert_error(400, 100, Some(33));

    assert_eq!(ts.assign(&waba, &su, r#"["MANAGE"]"#).await.ok(), &json!({"success": true}));
    let node = ts.get(&waba, Some(&token), &[("fields", "id,name,currency")]).await;
    assert_eq!(node.ok(), &json!({"id": waba, "name": "Acme Support", "currency": "USD"}));

    let list =
        ts.get(&format!("{waba}/assigned_users"), Some(&ts.admin()), &[("business", &ts.b("business_id"))]).await;
    assert_eq!(list.data(), &vec![json!({"id": su, "name": "Onboarded", "tasks": ["MANAGE"]})]);
    let mine = ts.get(&format!("{su}/assigned_whatsapp_business_accounts"), Some(&token), &[]).await;
    assert_eq!(mine.data(), &vec![json!({"id": waba, "name": "Acme Support", "tasks": ["MANAGE"]})]);

    let r = ts.delete(&format!("{waba}/assigned_users"), Some(&ts.admin()), &[("user", &su)]).await;
    assert_eq!(r.ok(), &json!({"success": true}));
    ts.get(&waba, Some(&token), &[]).await.assert_error(400, 100, Some(33));
    assert!(ts.get(&format!("{su}/assigned_whatsapp_business_accounts"), Some(&token), &[]).await.data().is_empty());
    // Unassigning again is not an error.
    ts.delete(&format!("{waba}/assigned_users"), Some(&ts.admin()), &[("user", &su)]).await.ok();
}

#[tokio::test]
async fn a_repost_replaces_the_task_set() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let (su, _) = ts.employee("Changing", WBM).await;
    ts.assign(&waba, &su, r#"["MANAGE"]"#).await.ok();
    ts.assign(&waba, &su, r#"["DEVELOP","MANAGE_TEMPLATES"]"#).await.ok();
    let list = ts
        .get(
            &format!("{waba}/assigned_users"),
            Some(&ts.admin()),
            &[("business", &ts.b("business_id")), ("fields", "id,tasks,user_type")],
        )
        .await;
    assert_eq!(
        list.data(),
        &vec![json!({"id": su, "tasks": ["DEVELOP", "MANAGE_TEMPLATES"], "user_type": "SYSTEM_USER"})]
    );
}

#[tokio::test]
async fn every_documented_task_can_be_assigned_and_nothing_else() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let (su, _) = ts.employee("Granular", WBM).await;
    let all = "MANAGE,DEVELOP,MANAGE_TEMPLATES,MANAGE_PHONE,VIEW_COST,MANAGE_EXTENSIONS,VIEW_PHONE_ASSETS,MANAGE_PHONE_ASSETS,VIEW_TEMPLATES,MESSAGING,VIEW_INSIGHTS,MANAGE_USERS,MANAGE_BILLING";
    ts.assign(&waba, &su, all).await.ok();
    let list =
        ts.get(&format!("{waba}/assigned_users"), Some(&ts.admin()), &[("business", &ts.b("business_id"))]).await;
    assert_eq!(list.data()[0]["tasks"].as_array().unwrap().len(), 13);
    for bad in [r#"["FULL_CONTROL"]"#, r#"["RECEIVE_INCOMING_MESSAGES"]"#, "manage", r#"["MANAGE","NOPE"]"#] {
        let e = ts.assign(&waba, &su, bad).await.assert_error(400, 100, None).clone();
        assert!(e["message"].as_str().unwrap().contains("must be one of"), "{bad}: {e}");
    }
    ts.assign(&waba, &su, "[]").await.assert_error(400, 100, None);
    let r = ts.post(&format!("{waba}/assigned_users"), Some(&ts.admin()), &[("user", &su)]).await;
    assert_eq!(r.assert_error(400, 100, None)["message"], "(#100) The parameter tasks is required");
    let r = ts.post(&format!("{waba}/assigned_users"), Some(&ts.admin()), &[("tasks", "MANAGE")]).await;
    assert_eq!(r.assert_error(400, 100, None)["message"], "(#100) The parameter user is required");
    ts.assign(&waba, "1234567890123456", "MANAGE").await.assert_error(400, 110, None);
}

#[tokio::test]
async fn listing_assigned_users_requires_the_business_parameter() {
    let ts = TestServer::start().await;
    let r = ts.get(&format!("{}/assigned_users", ts.b("waba_id")), Some(&ts.admin()), &[]).await;
    assert_eq!(r.assert_error(400, 100, None)["message"], "(#100) The parameter business is required");
}

#[tokio::test]
async fn only_admins_assign_users_and_employees_get_200() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let (su, token) = ts.employee("Manager", WBM).await;
    ts.assign(&waba, &su, "MANAGE").await.ok();
    // Even MANAGE on the WABA does not make an employee able to assign.
    let r = ts.post(&format!("{waba}/assigned_users"), Some(&token), &[("user", &su), ("tasks", "MANAGE")]).await;
    r.assert_error(403, 200, None);
    ts.delete(&format!("{waba}/assigned_users"), Some(&token), &[("user", &su)]).await.assert_error(403, 200, None);
    // But it may read who is assigned.
    let list = ts.get(&format!("{waba}/assigned_users"), Some(&token), &[("business", &ts.b("business_id"))]).await;
    assert_eq!(list.ids(), vec![su]);
}

#[tokio::test]
async fn assigning_needs_business_management_on_the_token() {
    let ts = TestServer::start().await;
    let admin2 = ts.create_system_user("Narrow Admin", "ADMIN").await;
    let token = ts.mint(&admin2, "whatsapp_business_management").await;
    let (su, _) = ts.employee("Target", WBM).await;
    let r = ts
        .post(&format!("{}/assigned_users", ts.b("waba_id")), Some(&token), &[("user", &su), ("tasks", "DEVELOP")])
        .await;
    assert!(r.assert_error(403, 200, None)["message"].as_str().unwrap().contains("business_management"));
}

#[tokio::test]
async fn a_token_without_a_whatsapp_or_business_scope_cannot_read_a_waba() {
    let ts = TestServer::start().await;
    let (su, token) = ts.employee("Catalog Only", "catalog_management").await;
    ts.assign(&ts.b("waba_id"), &su, "MANAGE").await.ok();
    ts.get(&ts.b("waba_id"), Some(&token), &[]).await.assert_error(403, 200, None);
}

#[tokio::test]
async fn an_admin_system_user_reaches_owned_and_shared_wabas_by_default() {
    let ts = TestServer::start().await;
    for waba in [ts.b("waba_id"), ts.b("client_waba_id")] {
        ts.get(&waba, Some(&ts.admin()), &[]).await.ok();
    }
    let owned =
        ts.get(&format!("{}/owned_whatsapp_business_accounts", ts.b("business_id")), Some(&ts.admin()), &[]).await;
    assert_eq!(owned.ids(), vec![ts.b("waba_id")]);
    let client =
        ts.get(&format!("{}/client_whatsapp_business_accounts", ts.b("business_id")), Some(&ts.admin()), &[]).await;
    assert_eq!(client.ids(), vec![ts.b("client_waba_id")]);
    let item = &client.data()[0];
    for field in ["id", "name", "currency", "timezone_id", "message_template_namespace"] {
        assert!(item.get(field).is_some(), "{field} missing from {item}");
    }
    // The client business's WABA, shared FULL, can be assigned MANAGE to a partner employee.
    let (su, token) = ts.employee("Client Manager", WBM).await;
    ts.assign(&ts.b("client_waba_id"), &su, "MANAGE").await.ok();
    let r = ts.get(&ts.b("client_waba_id"), Some(&token), &[("fields", "ownership_type,owner_business_info")]).await;
    assert_eq!(r.ok()["ownership_type"], "CLIENT_OWNED");
    assert_eq!(r.ok()["owner_business_info"]["id"], ts.b("client_business_id").as_str());
}

#[tokio::test]
async fn lists_are_narrowed_to_the_wabas_an_employee_holds_a_task_on() {
    let ts = worlds::shared().await;
    let owner = token(&ts, "owner_admin");
    let owned = format!("{}/owned_whatsapp_business_accounts", id(&ts, "owner"));
    assert_eq!(ts.get(&owned, Some(&owner), &[]).await.data().len(), 3);

    let su =
        ts.post(&format!("{}/system_users", id(&ts, "owner")), Some(&owner), &[("name", "Viewer")]).await.ok()["id"]
            .as_str()
            .unwrap()
            .to_string();
    ts.post(&format!("{su}/applications"), Some(&owner), &[("business_app", &id(&ts, "owner_app"))]).await.ok();
    let proof = testkit::appsecret_proof("owner-secret", &owner);
    let viewer = ts
        .post(
            &format!("{su}/access_tokens"),
            Some(&owner),
            &[("business_app", &id(&ts, "owner_app")), ("scope", WBM), ("appsecret_proof", &proof)],
        )
        .await
        .ok()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ts.get(&owned, Some(&viewer), &[]).await.data().is_empty());
    ts.post(
        &format!("{}/assigned_users", id(&ts, "private")),
        Some(&owner),
        &[("user", &su), ("tasks", "VIEW_TEMPLATES")],
    )
    .await
    .ok();
    assert_eq!(ts.get(&owned, Some(&viewer), &[]).await.ids(), vec![id(&ts, "private")]);
}

#[tokio::test]
async fn a_standard_share_allows_develop_level_tasks_and_refuses_manage_naming_the_alternatives() {
    let ts = worlds::shared().await;
    let admin = token(&ts, "partner_admin");
    let (standard, dev) = (id(&ts, "standard"), id(&ts, "partner_dev"));
    let r =
        ts.post(&format!("{standard}/assigned_users"), Some(&admin), &[("user", &dev), ("tasks", "['MANAGE']")]).await;
    let message = r.assert_error(403, 200, None)["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("STANDARD") && message.contains("DEVELOP") && message.contains("MANAGE_TEMPLATES"),
        "{message}"
    );
    for beyond in ["MANAGE_USERS", "MANAGE_BILLING", "VIEW_COST"] {
        let r =
            ts.post(&format!("{standard}/assigned_users"), Some(&admin), &[("user", &dev), ("tasks", beyond)]).await;
        r.assert_error(403, 200, None);
    }
    ts.post(&format!("{standard}/assigned_users"), Some(&admin), &[("user", &dev), ("tasks", "['DEVELOP']")])
        .await
        .ok();
    ts.get(&standard, Some(&token(&ts, "partner_dev")), &[]).await.ok();
    // On the FULL share, MANAGE is fine.
    let full = id(&ts, "full");
    ts.post(&format!("{full}/assigned_users"), Some(&admin), &[("user", &dev), ("tasks", "['MANAGE']")]).await.ok();
    let list = ts
        .get(
            &format!("{full}/assigned_users"),
            Some(&admin),
            &[("business", &id(&ts, "partner")), ("fields", "id,tasks,permitted_tasks")],
        )
        .await;
    assert_eq!(list.data()[0]["tasks"], json!(["MANAGE"]));
    assert_eq!(list.data()[0]["permitted_tasks"].as_array().unwrap().len(), 13);
}

#[tokio::test]
async fn a_partner_admin_reaches_shared_wabas_only_and_cannot_assign_on_others() {
    let ts = worlds::shared().await;
    let admin = token(&ts, "partner_admin");
    ts.get(&id(&ts, "full"), Some(&admin), &[]).await.ok();
    ts.get(&id(&ts, "standard"), Some(&admin), &[]).await.ok();
    ts.get(&id(&ts, "private"), Some(&admin), &[]).await.assert_error(400, 100, Some(33));
    let r = ts
        .post(
            &format!("{}/assigned_users", id(&ts, "private")),
            Some(&admin),
            &[("user", &id(&ts, "partner_dev")), ("tasks", "DEVELOP")],
        )
        .await;
    r.assert_error(400, 100, Some(33));
    let client = ts.get(&format!("{}/client_whatsapp_business_accounts", id(&ts, "partner")), Some(&admin), &[]).await;
    let mut want = vec![id(&ts, "full"), id(&ts, "standard")];
    want.sort();
    assert_eq!(client.ids(), want);
}

#[tokio::test]
async fn a_business_assigns_only_its_own_users() {
    let ts = worlds::shared().await;
    let r = ts
        .post(
            &format!("{}/assigned_users", id(&ts, "full")),
            Some(&token(&ts, "owner_admin")),
            &[("user", &id(&ts, "partner_dev")), ("tasks", "MANAGE")],
        )
        .await;
    r.assert_error(400, 100, None);
    // And lists only its own users' assignments.
    let r = ts
        .get(
            &format!("{}/assigned_users", id(&ts, "full")),
            Some(&token(&ts, "owner_admin")),
            &[("business", &id(&ts, "partner"))],
        )
        .await;
    r.assert_error(403, 200, None);
}

#[tokio::test]
async fn an_admin_narrowed_by_an_assignment_loses_what_it_no_longer_holds() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let admin2 = ts.create_system_user("Admin Two", "ADMIN").await;
    let token2 = ts.mint(&admin2, WBM).await;
    let (su, _) = ts.employee("Someone", WBM).await;
    ts.post(&format!("{waba}/assigned_users"), Some(&token2), &[("user", &su), ("tasks", "DEVELOP")]).await.ok();
    ts.assign(&waba, &admin2, "VIEW_TEMPLATES").await.ok();
    ts.get(&waba, Some(&token2), &[]).await.ok();
    let r = ts.post(&format!("{waba}/assigned_users"), Some(&token2), &[("user", &su), ("tasks", "MANAGE")]).await;
    r.assert_error(403, 200, None);
}

#[tokio::test]
async fn a_person_can_be_assigned_too() {
    let ts = TestServer::start().await;
    let people = ts.service().world().persons().map(|p| p.id.to_string()).collect::<Vec<_>>();
    let person = people.first().expect("the demo world has a person").clone();
    ts.assign(&ts.b("waba_id"), &person, "VIEW_TEMPLATES").await.ok();
    let list = ts
        .get(
            &format!("{}/assigned_users", ts.b("waba_id")),
            Some(&ts.admin()),
            &[("business", &ts.b("business_id")), ("fields", "id,name,tasks,user_type")],
        )
        .await;
    assert_eq!(
        list.data(),
        &vec![json!({"id": person, "name": "Ada Admin", "tasks": ["VIEW_TEMPLATES"], "user_type": "BUSINESS_USER"})]
    );
}

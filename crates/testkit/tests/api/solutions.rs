//! Multi-Partner Solutions: their lifecycle, and the cap they put on a partner's tasks.

use serde_json::json;
use testkit::TestServer;

use crate::worlds::{id, token};

/// A client business whose WABA was onboarded onto an active solution between a tech provider
/// (owner app, holding MESSAGING) and a solution partner (partner app, without MESSAGING).
const MPS: &str = r#"
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

[[system_user]]
key = "sp_dev"
business = "sp"
name = "SP Dev"
apps = ["sp_app"]

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

[[token]]
key = "sp_dev"
system_user = "sp_dev"
app = "sp_app"
scopes = ["business_management", "whatsapp_business_management", "whatsapp_business_messaging"]

[[waba]]
key = "client_waba"
owner = "client"
name = "Client WABA"

[[phone_number]]
key = "client_phone"
waba = "client_waba"
display_phone_number = "+44 7700 900123"
verified_name = "Client Shop"

[[waba]]
key = "spare_waba"
owner = "client"
name = "Spare WABA"

[[solution]]
key = "mps"
name = "Shop Solution"
owner_app = "tp_app"
partner_app = "sp_app"
owner_permissions = ["MANAGE", "MESSAGING"]
partner_permissions = ["DEVELOP", "MANAGE_TEMPLATES", "VIEW_COST"]
wabas = ["client_waba"]
"#;

#[tokio::test]
async fn without_messaging_a_partner_cannot_assign_manage_and_is_told_the_granular_tasks() {
    let ts = TestServer::with_fixtures(MPS).await;
    let (waba, dev, admin) = (id(&ts, "client_waba"), id(&ts, "sp_dev"), token(&ts, "sp_admin"));
    let path = format!("{waba}/assigned_users");
    let r = ts.post(&path, Some(&admin), &[("user", &dev), ("tasks", "['MANAGE']")]).await;
    let message = r.assert_error(403, 200, None)["message"].as_str().unwrap().to_string();
    assert!(message.contains("Multi-Partner Solution") && message.contains("without MESSAGING"), "{message}");
    for granular in ["DEVELOP", "MANAGE_TEMPLATES", "VIEW_COST", "MANAGE_BILLING", "MANAGE_USERS"] {
        assert!(message.contains(granular), "{granular} not named: {message}");
    }
    ts.post(&path, Some(&admin), &[("user", &dev), ("tasks", "['MESSAGING']")]).await.assert_error(403, 200, None);
    ts.post(&path, Some(&admin), &[("user", &dev), ("tasks", "['DEVELOP','MANAGE_TEMPLATES']")]).await.ok();

    // DEVELOP through the solution does everything it implies but send.
    let dev_token = token(&ts, "sp_dev");
    ts.get(&format!("{waba}/message_templates"), Some(&dev_token), &[]).await.ok();
    let phone = id(&ts, "client_phone");
    let msg = json!({"messaging_product": "whatsapp", "to": "447700900123", "text": {"body": "hi"}});
    ts.post_json(&format!("{phone}/messages"), &dev_token, msg.clone()).await.assert_error(403, 200, None);
    // The partner admin's default reach is capped the same way.
    ts.post_json(&format!("{phone}/messages"), &admin, msg.clone()).await.assert_error(403, 200, None);
    ts.get(&format!("{waba}/phone_numbers"), Some(&admin), &[]).await.ok();
    // The tech provider's side holds MESSAGING: it sends.
    ts.post_json(&format!("{phone}/messages"), &token(&ts, "tp_admin"), msg).await.ok();
    // A WABA not onboarded onto the solution is out of reach.
    ts.get(&id(&ts, "spare_waba"), Some(&admin), &[]).await.assert_error(400, 100, Some(33));
}

#[tokio::test]
async fn a_deactivated_solution_no_longer_reaches_its_wabas() {
    let ts = TestServer::with_fixtures(MPS).await;
    let (waba, solution) = (id(&ts, "client_waba"), id(&ts, "mps"));
    let (tp, sp) = (token(&ts, "tp_admin"), token(&ts, "sp_admin"));
    ts.get(&waba, Some(&sp), &[]).await.ok();
    let listed = ts.get(&format!("{waba}/solutions"), Some(&sp), &[("fields", "id,name,status")]).await;
    assert_eq!(listed.data(), &vec![json!({"id": solution, "name": "Shop Solution", "status": "ACTIVE"})]);
    ts.post(&format!("{solution}/send_deactivation_request"), Some(&sp), &[]).await.ok();
    // The side that asked cannot answer its own request.
    ts.post(&format!("{solution}/accept_deactivation_request"), Some(&sp), &[]).await.assert_error(403, 200, None);
    ts.post(&format!("{solution}/accept_deactivation_request"), Some(&tp), &[]).await.ok();
    let s = ts.get(&solution, Some(&sp), &[("fields", "status,status_for_pending_request")]).await;
    assert_eq!(
        (s.ok()["status"].as_str(), s.ok()["status_for_pending_request"].as_str()),
        (Some("DEACTIVATED"), Some("NONE"))
    );
    ts.get(&waba, Some(&sp), &[]).await.assert_error(400, 100, Some(33));
}

#[tokio::test]
async fn a_solution_is_created_by_the_owner_and_accepted_or_rejected_by_the_partner() {
    let ts = TestServer::with_fixtures(MPS).await;
    let (tp_app, sp_app) = (id(&ts, "tp_app"), id(&ts, "sp_app"));
    let (tp, sp) = (token(&ts, "tp_admin"), token(&ts, "sp_admin"));
    let create_path = format!("{tp_app}/whatsapp_business_solution");
    let create = |name: &'static str, owner: &'static str, partner: &'static str| {
        ts.post_json(
            &create_path,
            &tp,
            json!({"solution_name": name, "partner_app_id": sp_app, "owner_permissions": [owner], "partner_permissions": [partner]}),
        )
    };
    let created = create("New Solution", "MANAGE", "MESSAGING").await;
    let solution = created.ok()["solution_id"].as_str().unwrap().to_string();
    let node = ts.get(&solution, Some(&sp), &[("fields", "name,status,status_for_pending_request,owner_app,owner_permissions,partners{partner_app,partner_permissions}")]).await;
    let node = node.ok();
    assert_eq!(
        (node["status"].as_str(), node["status_for_pending_request"].as_str()),
        (Some("INITIATED"), Some("PENDING_ACTIVATION"))
    );
    assert_eq!(node["owner_app"]["id"], tp_app.as_str());
    assert_eq!(node["owner_permissions"], json!(["MANAGE"]));
    assert_eq!(node["partners"]["data"][0]["partner_app"]["id"], sp_app.as_str());
    assert_eq!(node["partners"]["data"][0]["partner_permissions"], json!(["MESSAGING"]));

    // Lists by role, on each side's own app.
    let owned = ts.get(&format!("{tp_app}/whatsapp_business_solutions"), Some(&tp), &[("role", "OWNER")]).await;
    assert!(owned.ids().contains(&solution));
    let partnered = ts.get(&format!("{sp_app}/whatsapp_business_solutions"), Some(&sp), &[("role", "PARTNER")]).await;
    assert!(partnered.ids().contains(&solution));
    assert!(
        ts.get(&format!("{sp_app}/whatsapp_business_solutions"), Some(&sp), &[("role", "OWNER")])
            .await
            .data()
            .is_empty()
    );

    // Only the partner accepts; once accepted it cannot be rejected.
    ts.post(&format!("{solution}/accept"), Some(&tp), &[]).await.assert_error(403, 200, None);
    ts.post(&format!("{solution}/accept"), Some(&sp), &[]).await.ok();
    ts.post(&format!("{solution}/reject"), Some(&sp), &[]).await.assert_error(400, 100, None);
    assert_eq!(ts.get(&solution, Some(&tp), &[("fields", "status")]).await.ok()["status"], "ACTIVE");

    let rejected =
        create("Rejected One", "MANAGE", "MESSAGING").await.ok()["solution_id"].as_str().unwrap().to_string();
    ts.post(&format!("{rejected}/reject"), Some(&sp), &[]).await.ok();
    assert_eq!(ts.get(&rejected, Some(&tp), &[("fields", "status")]).await.ok()["status"], "REJECTED");

    // Exactly one side holds MESSAGING, and names are 2 to 75 characters.
    create("Both Sides", "MESSAGING", "MESSAGING").await.assert_error(400, 100, None);
    create("Neither Side", "MANAGE", "DEVELOP").await.assert_error(400, 100, None);
    create("X", "MANAGE", "MESSAGING").await.assert_error(400, 100, None);
    // Only an admin of the owner app's business creates.
    ts.post_json(
        &format!("{tp_app}/whatsapp_business_solution"),
        &sp,
        json!({"solution_name": "Not Mine", "partner_app_id": sp_app, "owner_permissions": ["MANAGE"], "partner_permissions": ["MESSAGING"]}),
    )
    .await
    .assert_error(400, 100, Some(33));
}

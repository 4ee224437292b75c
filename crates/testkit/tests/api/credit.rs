//! Lines of credit shared with a client and attached to its WABA.

use serde_json::json;
use testkit::TestServer;

#[tokio::test]
async fn a_partner_shares_its_credit_line_with_a_client_waba_and_revokes_it() {
    let ts = TestServer::start().await;
    let (biz, credit, waba, admin) =
        (ts.b("business_id"), ts.b("extended_credit_id"), ts.b("client_waba_id"), ts.admin());
    let lines = ts.get(&format!("{biz}/extendedcredits"), Some(&admin), &[("fields", "id,legal_entity_name")]).await;
    assert_eq!(lines.data(), &vec![json!({"id": credit, "legal_entity_name": "Acme Messaging Partners LLC"})]);

    let r = ts
        .post(
            &format!("{credit}/whatsapp_credit_sharing_and_attach"),
            Some(&admin),
            &[("waba_id", &waba), ("waba_currency", "USD")],
        )
        .await;
    let allocation = r.ok()["allocation_config_id"].as_str().unwrap().to_string();
    assert_eq!(r.ok()["waba_id"], waba.as_str());
    let a = ts
        .get(&allocation, Some(&admin), &[("fields", "receiving_credential,receiving_business,request_status")])
        .await;
    let a = a.ok().clone();
    assert_eq!(a["request_status"], "ACTIVE");
    assert_eq!(a["receiving_business"]["id"], ts.b("client_business_id").as_str());
    let funding = ts.get(&waba, Some(&admin), &[("fields", "primary_funding_id")]).await;
    assert_eq!(funding.ok()["primary_funding_id"], a["receiving_credential"]["id"]);

    // A WABA's credit line cannot be changed.
    ts.post(
        &format!("{credit}/whatsapp_credit_sharing_and_attach"),
        Some(&admin),
        &[("waba_id", &waba), ("waba_currency", "EUR")],
    )
    .await
    .assert_error(400, 100, None);

    assert_eq!(ts.delete(&allocation, Some(&admin), &[]).await.ok(), &json!({"success": true}));
    let a = ts.get(&allocation, Some(&admin), &[("fields", "request_status")]).await;
    assert_eq!(a.ok()["request_status"], "DELETED");
    assert!(
        ts.get(&waba, Some(&admin), &[("fields", "id,primary_funding_id")])
            .await
            .ok()
            .get("primary_funding_id")
            .is_none()
    );
}

#[tokio::test]
async fn sharing_credit_needs_a_known_currency_manage_billing_and_a_finance_editor() {
    let ts = TestServer::start().await;
    let (credit, waba) = (ts.b("extended_credit_id"), ts.b("waba_id"));
    let share = |token: String, currency: &'static str| {
        let path = format!("{credit}/whatsapp_credit_sharing_and_attach");
        let waba = waba.clone();
        let ts = &ts;
        async move { ts.post(&path, Some(&token), &[("waba_id", waba.as_str()), ("waba_currency", currency)]).await }
    };
    let e = share(ts.admin(), "XYZ").await.assert_error(400, 100, None).clone();
    assert!(e["message"].as_str().unwrap().contains("AUD, EUR, GBP, IDR, INR, USD"));
    ts.post(&format!("{credit}/whatsapp_credit_sharing_and_attach"), Some(&ts.admin()), &[("waba_currency", "USD")])
        .await
        .assert_error(400, 100, None);

    // An employee holding MANAGE_BILLING but no finance role is refused.
    let (su, token) = ts.employee("Billing Clerk", "business_management").await;
    ts.assign(&waba, &su, "MANAGE_BILLING").await.ok();
    share(token, "USD").await.assert_error(403, 200, None);
    // A finance editor without MANAGE_BILLING is refused; with it, allowed.
    let editor = ts.create_system_user("Finance Editor", "FINANCE_EDITOR").await;
    let editor_token = ts.mint(&editor, "business_management").await;
    ts.assign(&waba, &editor, "VIEW_COST").await.ok();
    share(editor_token.clone(), "USD").await.assert_error(403, 200, None);
    ts.assign(&waba, &editor, "MANAGE_BILLING").await.ok();
    share(editor_token, "GBP").await.ok();
}

#[tokio::test]
async fn another_business_cannot_see_or_use_the_credit_line() {
    let ts = TestServer::with_fixtures(crate::worlds::SHARED).await;
    let other = crate::worlds::token(&ts, "other_admin");
    let owner = crate::worlds::id(&ts, "owner");
    ts.get(&format!("{owner}/extendedcredits"), Some(&other), &[]).await.assert_error(400, 100, Some(33));
}

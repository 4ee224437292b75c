use serde_json::{Value, json};
use testkit::{TestServer, appsecret_proof};

use crate::worlds::{self, id, token};

const SIXTY_DAYS: i64 = 60 * 24 * 3600;

async fn debug(ts: &TestServer, input: &str) -> Value {
    let app_token = format!("{}|{}", ts.b("app_id"), ts.b("app_secret"));
    ts.get("debug_token", Some(&app_token), &[("input_token", input)]).await.ok()["data"].clone()
}

#[tokio::test]
async fn a_minted_token_is_opaque_and_debug_token_describes_it() {
    let ts = TestServer::start().await;
    let (su, token) = ts.employee("Minted", "whatsapp_business_management,whatsapp_business_messaging").await;
    assert!(token.starts_with("EAA") && token.len() >= 46, "{token}");
    let data = debug(&ts, &token).await;
    let issued = data["issued_at"].as_i64().unwrap();
    assert_eq!(
        data,
        json!({
            "app_id": ts.b("app_id"),
            "type": "SYSTEM_USER",
            "application": "Acme Onboarding",
            "data_access_expires_at": 0,
            "expires_at": 0,
            "is_valid": true,
            "issued_at": issued,
            "scopes": ["whatsapp_business_management", "whatsapp_business_messaging"],
            "granular_scopes": [{"scope": "whatsapp_business_management"}, {"scope": "whatsapp_business_messaging"}],
            "user_id": su,
        })
    );
    // A token of the same app may inspect it too.
    let by_admin = ts.get("debug_token", Some(&ts.admin()), &[("input_token", &token)]).await;
    assert_eq!(by_admin.ok()["data"]["user_id"], su.as_str());
}

#[tokio::test]
async fn sixty_day_tokens_expire_and_then_answer_190_463() {
    let ts = TestServer::start().await;
    let su = ts.create_system_user("Expiring", "EMPLOYEE").await;
    let admin = ts.admin();
    ts.post(&format!("{su}/applications"), Some(&admin), &[("business_app", &ts.b("app_id"))]).await.ok();
    let proof = appsecret_proof(&ts.b("app_secret"), &admin);
    let r = ts
        .post(
            &format!("{su}/access_tokens"),
            Some(&admin),
            &[
                ("business_app", &ts.b("app_id")),
                ("scope", "business_management"),
                ("appsecret_proof", &proof),
                ("set_token_expires_in_60_days", "true"),
            ],
        )
        .await;
    let token = r.ok()["access_token"].as_str().unwrap().to_string();
    let data = debug(&ts, &token).await;
    assert_eq!(data["expires_at"].as_i64().unwrap() - data["issued_at"].as_i64().unwrap(), SIXTY_DAYS);
    ts.get("me", Some(&token), &[]).await.ok();

    ts.advance_clock(SIXTY_DAYS + 1);
    let e = ts.get("me", Some(&token), &[]).await.assert_error(401, 190, Some(463)).clone();
    assert!(e["message"].as_str().unwrap().starts_with("Error validating access token: Session has expired on "));
    let data = debug(&ts, &token).await;
    assert_eq!(data["is_valid"], false);
    assert_eq!(data["error"]["subcode"], 463);
    // The never-expiring admin token is unaffected.
    ts.get("me", Some(&admin), &[]).await.ok();
}

#[tokio::test]
async fn minting_needs_the_app_installed_a_proof_and_known_scopes() {
    let ts = TestServer::start().await;
    let su = ts.create_system_user("Fresh", "EMPLOYEE").await;
    let admin = ts.admin();
    let app = ts.b("app_id");
    let proof = appsecret_proof(&ts.b("app_secret"), &admin);
    let path = format!("{su}/access_tokens");

    let r = ts.post(&path, Some(&admin), &[("business_app", &app), ("appsecret_proof", &proof)]).await;
    assert!(r.assert_error(400, 100, None)["message"].as_str().unwrap().contains("not installed"));

    ts.post(&format!("{su}/applications"), Some(&admin), &[("business_app", &app)]).await.ok();
    let r = ts.post(&path, Some(&admin), &[("business_app", &app)]).await;
    let e = r.assert_error(400, 100, None);
    assert_eq!(e["type"], "GraphMethodException");
    assert_eq!(e["message"], "API calls from the server require an appsecret_proof argument");

    let r = ts.post(&path, Some(&admin), &[("business_app", &app), ("appsecret_proof", &"0".repeat(64))]).await;
    assert_eq!(r.assert_error(400, 100, None)["message"], "Invalid appsecret_proof provided in the API argument");

    let r = ts
        .post(
            &path,
            Some(&admin),
            &[("business_app", &app), ("appsecret_proof", &proof), ("scope", "business_management,publish_actions")],
        )
        .await;
    r.assert_error(400, 3962, None);

    let r = ts.post(&path, Some(&admin), &[("appsecret_proof", &proof)]).await;
    assert_eq!(r.assert_error(400, 100, None)["message"], "(#100) The parameter business_app is required");
}

#[tokio::test]
async fn an_app_of_another_business_cannot_be_installed() {
    let ts = worlds::shared().await;
    let r = ts
        .post(
            &format!("{}/applications", id(&ts, "partner_dev")),
            Some(&token(&ts, "partner_admin")),
            &[("business_app", &id(&ts, "owner_app"))],
        )
        .await;
    r.assert_error(400, 100, None);
}

#[tokio::test]
async fn an_employee_mints_its_own_token_but_not_another_s() {
    let ts = worlds::shared().await;
    let dev = token(&ts, "partner_dev");
    let proof = appsecret_proof("partner-secret", &dev);
    let app = id(&ts, "partner_app");
    let own = ts
        .post(
            &format!("{}/access_tokens", id(&ts, "partner_dev")),
            Some(&dev),
            &[("business_app", &app), ("scope", "business_management"), ("appsecret_proof", &proof)],
        )
        .await;
    assert!(own.ok()["access_token"].as_str().unwrap().starts_with("EAA"));
    let other = ts
        .post(
            &format!("{}/access_tokens", id(&ts, "partner_admin")),
            Some(&dev),
            &[("business_app", &app), ("scope", "business_management"), ("appsecret_proof", &proof)],
        )
        .await;
    other.assert_error(403, 200, None);
}

#[tokio::test]
async fn revoking_all_of_a_system_user_s_tokens_invalidates_them_with_190_460() {
    let ts = TestServer::start().await;
    let (su, t1) = ts.employee("Revoked", "business_management").await;
    let t2 = ts.mint(&su, "business_management").await;
    let r = ts.delete(&format!("{su}/access_tokens"), Some(&ts.admin()), &[]).await;
    assert_eq!(r.ok(), &json!({"success": true}));
    for t in [&t1, &t2] {
        let e = ts.get("me", Some(t), &[]).await.assert_error(401, 190, Some(460)).clone();
        assert_eq!(e["type"], "OAuthException");
    }
    let data = debug(&ts, &t1).await;
    assert_eq!((data["is_valid"].clone(), data["error"]["code"].clone()), (json!(false), json!(190)));
    // A new token minted afterwards works.
    let t3 = ts.mint(&su, "business_management").await;
    ts.get("me", Some(&t3), &[]).await.ok();
}

#[tokio::test]
async fn oauth_revoke_revokes_one_token_only() {
    let ts = TestServer::start().await;
    let (su, t1) = ts.employee("Two Tokens", "business_management").await;
    let t2 = ts.mint(&su, "business_management").await;
    let (app, secret) = (ts.b("app_id"), ts.b("app_secret"));
    let r = ts
        .get(
            "oauth/revoke",
            Some(&ts.admin()),
            &[("client_id", &app), ("client_secret", &secret), ("revoke_token", &t1)],
        )
        .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    ts.get("me", Some(&t1), &[]).await.assert_error(401, 190, Some(460));
    ts.get("me", Some(&t2), &[]).await.ok();

    let r = ts
        .get(
            "oauth/revoke",
            Some(&ts.admin()),
            &[("client_id", &app), ("client_secret", "nope"), ("revoke_token", &t2)],
        )
        .await;
    r.assert_error(400, 1, None);
    let r = ts
        .get(
            "oauth/revoke",
            Some(&ts.admin()),
            &[("client_id", "42"), ("client_secret", &secret), ("revoke_token", &t2)],
        )
        .await;
    r.assert_error(400, 101, None);
    ts.get("me", Some(&t2), &[]).await.ok();
}

#[tokio::test]
async fn refresh_gives_a_new_sixty_day_token_and_keeps_the_old_one_until_its_expiry() {
    let ts = TestServer::start().await;
    let su = ts.create_system_user("Rotating", "EMPLOYEE").await;
    let admin = ts.admin();
    let (app, secret) = (ts.b("app_id"), ts.b("app_secret"));
    ts.post(&format!("{su}/applications"), Some(&admin), &[("business_app", &app)]).await.ok();
    let proof = appsecret_proof(&secret, &admin);
    let old = ts
        .post(
            &format!("{su}/access_tokens"),
            Some(&admin),
            &[
                ("business_app", &app),
                ("scope", "business_management"),
                ("appsecret_proof", &proof),
                ("set_token_expires_in_60_days", "1"),
            ],
        )
        .await
        .ok()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    ts.advance_clock(30 * 24 * 3600);
    let params = [
        ("grant_type", "fb_exchange_token"),
        ("client_id", &app),
        ("client_secret", &secret),
        ("fb_exchange_token", &old),
        ("set_token_expires_in_60_days", "true"),
    ];
    let r = ts.get("oauth/access_token", None, &params).await;
    let body = r.ok().clone();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], SIXTY_DAYS);
    let new = body["access_token"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(ts.get("me", Some(&new), &[]).await.ok()["id"], su.as_str());
    ts.get("me", Some(&old), &[]).await.ok();

    ts.advance_clock(31 * 24 * 3600);
    ts.get("me", Some(&old), &[]).await.assert_error(401, 190, Some(463));
    ts.get("me", Some(&new), &[]).await.ok();
    // An expired token cannot be refreshed.
    let params = [
        ("grant_type", "fb_exchange_token"),
        ("client_id", &app),
        ("client_secret", &secret),
        ("fb_exchange_token", &old),
    ];
    ts.get("oauth/access_token", None, &params).await.assert_error(401, 190, Some(463));
    // A token that never expires is not refreshed.
    let params = [
        ("grant_type", "fb_exchange_token"),
        ("client_id", &app),
        ("client_secret", &secret),
        ("fb_exchange_token", &admin),
    ];
    ts.get("oauth/access_token", None, &params).await.assert_error(400, 100, None);
}

#[tokio::test]
async fn token_errors_distinguish_missing_garbage_and_unknown_tokens() {
    let ts = TestServer::start().await;
    let e = ts.get("me", None, &[]).await.assert_error(400, 104, None).clone();
    assert_eq!(e["message"], "An access token is required to request this resource.");
    let e = ts.get("me", Some("not a token"), &[]).await.assert_error(401, 190, None).clone();
    assert_eq!(e["message"], "Invalid OAuth access token - Cannot parse access token");
    let unknown = format!("EAA{}", "x".repeat(64));
    ts.get("me", Some(&unknown), &[]).await.assert_error(401, 190, Some(467));
    let data = debug(&ts, &unknown).await;
    assert_eq!(data["is_valid"], false);
    assert_eq!(data["error"]["code"], 190);
}

#[tokio::test]
async fn debug_token_refuses_a_viewer_of_another_app() {
    let ts = worlds::shared().await;
    let input = token(&ts, "partner_admin");
    let other_app = format!("{}|other-secret", id(&ts, "other_app"));
    ts.get("debug_token", Some(&other_app), &[("input_token", &input)]).await.assert_error(400, 100, None);
    let wrong_secret = format!("{}|nope", id(&ts, "partner_app"));
    ts.get("debug_token", Some(&wrong_secret), &[("input_token", &input)]).await.assert_error(401, 190, None);
    ts.get("debug_token", Some(&token(&ts, "other_admin")), &[("input_token", &input)])
        .await
        .assert_error(400, 100, None);
    let ok = ts
        .get("debug_token", Some(&format!("{}|partner-secret", id(&ts, "partner_app"))), &[("input_token", &input)])
        .await;
    assert_eq!(ok.ok()["data"]["user_id"], id(&ts, "partner_admin").as_str());
    ts.get("debug_token", Some(&input), &[]).await.assert_error(400, 100, None);
}

#[tokio::test]
async fn an_app_requiring_appsecret_proof_refuses_calls_without_one() {
    let ts = worlds::shared().await;
    let strict = token(&ts, "partner_admin_strict");
    let e = ts.get("me", Some(&strict), &[]).await.assert_error(400, 100, None).clone();
    assert_eq!(e["type"], "GraphMethodException");
    let proof = appsecret_proof("strict-secret", &strict);
    ts.get("me", Some(&strict), &[("appsecret_proof", &proof)]).await.ok();
    // On any app, a proof that is sent is checked.
    let relaxed = token(&ts, "partner_admin");
    let wrong = appsecret_proof("strict-secret", &relaxed);
    ts.get("me", Some(&relaxed), &[("appsecret_proof", &wrong)]).await.assert_error(400, 100, None);
    let right = appsecret_proof("partner-secret", &relaxed);
    ts.get("me", Some(&relaxed), &[("appsecret_proof", &right)]).await.ok();
}

#[tokio::test]
async fn no_token_is_kept_in_clear_in_the_data_directory_but_bootstrap_json() {
    let ts = TestServer::start().await;
    let (_, token) = ts.employee("Secret Keeper", "business_management").await;
    ts.get("me", Some(&token), &[]).await.ok();
    ts.service().flush_usage().await.unwrap();
    let admin = ts.admin();
    for entry in std::fs::read_dir(ts.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&token), "{} holds a minted token", path.display());
        if !path.ends_with("bootstrap.json") {
            assert!(!text.contains(&admin), "{} holds the admin token", path.display());
        }
    }
}

/// One business with two apps, one requiring appsecret_proof, both installed on its admin system
/// user and on a bot; the admin holds a token of each, and a narrow, expiring one.
const MINTING: &str = r#"
[[business]]
key = "acme"
name = "Acme"

[[app]]
key = "strict"
business = "acme"
name = "Strict App"
secret = "strict-secret"
require_appsecret_proof = true

[[app]]
key = "loose"
business = "acme"
name = "Loose App"
secret = "loose-secret"

[[system_user]]
key = "admin"
business = "acme"
name = "Admin"
role = "ADMIN"
apps = ["strict", "loose"]

[[system_user]]
key = "bot"
business = "acme"
name = "Bot"
apps = ["strict", "loose"]

[[token]]
key = "strict_admin"
system_user = "admin"
app = "strict"
scopes = ["business_management", "whatsapp_business_management", "whatsapp_business_messaging"]

[[token]]
key = "loose_admin"
system_user = "admin"
app = "loose"
scopes = ["business_management", "whatsapp_business_management"]

[[token]]
key = "narrow_admin"
system_user = "admin"
app = "loose"
scopes = ["business_management"]
expires = "60d"
"#;

/// Mints a token for the bot with `caller`, for `app` (with its proof over `caller`).
async fn mint_for_bot(
    ts: &TestServer,
    caller: &str,
    app: &str,
    secret: &str,
    extra: &[(&str, &str)],
) -> testkit::Reply {
    let proof = appsecret_proof(secret, caller);
    let app = id(ts, app);
    let mut form = vec![("business_app", app.as_str()), ("appsecret_proof", proof.as_str())];
    form.extend_from_slice(extra);
    ts.post(&format!("{}/access_tokens", id(ts, "bot")), Some(caller), &form).await
}

#[tokio::test]
async fn a_minted_token_holds_no_scope_and_no_lifetime_beyond_the_token_that_mints_it() {
    let ts = TestServer::with_fixtures(MINTING).await;
    let narrow = token(&ts, "narrow_admin");
    let wider =
        [("scope", "business_management,whatsapp_business_management"), ("set_token_expires_in_60_days", "true")];
    let e = mint_for_bot(&ts, &narrow, "loose", "loose-secret", &wider).await.assert_error(403, 200, None).clone();
    assert!(e["message"].as_str().unwrap().contains("does not hold whatsapp_business_management"), "{e}");
    let forever = [("scope", "business_management")];
    let e = mint_for_bot(&ts, &narrow, "loose", "loose-secret", &forever).await.assert_error(403, 200, None).clone();
    assert!(e["message"].as_str().unwrap().contains("set_token_expires_in_60_days=true"), "{e}");
    let explicit = [("scope", "business_management"), ("set_token_expires_in_60_days", "false")];
    mint_for_bot(&ts, &narrow, "loose", "loose-secret", &explicit).await.assert_error(403, 200, None);

    let within = [("scope", "business_management"), ("set_token_expires_in_60_days", "true")];
    let minted = mint_for_bot(&ts, &narrow, "loose", "loose-secret", &within).await;
    let minted = minted.ok()["access_token"].as_str().unwrap().to_string();
    let app_token = format!("{}|loose-secret", id(&ts, "loose"));
    let data = ts.get("debug_token", Some(&app_token), &[("input_token", &minted)]).await.ok()["data"].clone();
    assert_eq!(data["scopes"], json!(["business_management"]));
    assert_eq!(data["expires_at"].as_i64().unwrap() - data["issued_at"].as_i64().unwrap(), SIXTY_DAYS);
    assert_eq!(data["user_id"], id(&ts, "bot").as_str());

    // A never-expiring token mints never-expiring tokens of its scopes, as BSP onboarding does.
    let loose = token(&ts, "loose_admin");
    let same = [("scope", "business_management,whatsapp_business_management")];
    mint_for_bot(&ts, &loose, "loose", "loose-secret", &same).await.ok();
}

#[tokio::test]
async fn a_token_of_an_app_that_requires_a_proof_mints_only_for_that_app() {
    let ts = TestServer::with_fixtures(MINTING).await;
    let strict = token(&ts, "strict_admin");
    // Its own calls need a proof keyed with its app's secret, which the caller does not know here.
    ts.get("me", Some(&strict), &[]).await.assert_error(400, 100, None);
    let scope = [("scope", "whatsapp_business_management")];
    // A proof of the other app's secret does not stand in for its own.
    let e = mint_for_bot(&ts, &strict, "loose", "loose-secret", &scope).await.assert_error(403, 200, None).clone();
    assert!(e["message"].as_str().unwrap().contains("requires appsecret_proof"), "{e}");
    mint_for_bot(&ts, &strict, "strict", "loose-secret", &scope).await.assert_error(400, 100, None);
    let minted = mint_for_bot(&ts, &strict, "strict", "strict-secret", &scope).await;
    assert!(minted.ok()["access_token"].as_str().unwrap().starts_with("EAA"));
    // A token of an app without the requirement may mint for the strict app, proving its secret.
    mint_for_bot(&ts, &token(&ts, "loose_admin"), "strict", "strict-secret", &scope).await.ok();
}

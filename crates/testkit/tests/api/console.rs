//! The console over plain HTTP: sessions, CSRF, the admin/non-admin split and escaping. The
//! click-through in a real browser lives in `browser/`.

use serde_json::json;
use testkit::TestServer;

const PEOPLE: &str = r#"
[[business]]
key = "biz"
name = "People Co"

[[person]]
key = "boss"
business = "biz"
name = "Bea Boss"
email = "boss@people.example"
role = "ADMIN"
password = "boss password"

[[person]]
key = "clerk"
business = "biz"
name = "Cal Clerk"
email = "clerk@people.example"
password = "clerk password"

[[app]]
key = "app"
business = "biz"
name = "People App"

[[waba]]
key = "waba"
owner = "biz"
name = "People WABA"
"#;

struct Browser<'a> {
    ts: &'a TestServer,
    client: reqwest::Client,
    /// The cookies the server set (name → value), sent back with every request.
    cookies: std::collections::BTreeMap<String, String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    /// The session cookie's `Set-Cookie`, if the answer set it.
    set_cookie: Option<String>,
    retry_after: Option<i64>,
    html: String,
}

/// The value of a form's hidden `csrf` field, if the page has one.
fn csrf_field(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf\" value=\"")? + 19;
    Some(html[start..start + html[start..].find('"')?].to_string())
}

impl<'a> Browser<'a> {
    fn new(ts: &'a TestServer) -> Self {
        Self::from_address(ts, "127.0.0.1")
    }

    /// A browser whose connections come from this loopback address (all of 127.0.0.0/8 reaches
    /// the server), as another client would.
    fn from_address(ts: &'a TestServer, address: &str) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(address.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap();
        Browser { ts, client, cookies: Default::default() }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = if self.cookies.is_empty() {
            req
        } else {
            let header: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req.header("cookie", header.join("; "))
        };
        let res = req.send().await.unwrap();
        let header = |n: &str| res.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (location, retry_after) = (header("location"), header("retry-after").and_then(|r| r.parse().ok()));
        let mut set_cookie = None;
        for c in res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let (name, value) = c.split(';').next().unwrap().split_once('=').unwrap();
            if c.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
            if name == "wabagate_session" {
                set_cookie = Some(c.to_string());
            }
        }
        Page { status: res.status().as_u16(), location, set_cookie, retry_after, html: res.text().await.unwrap() }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.ts.url));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.client.post(format!("{}{path}", self.ts.url)).form(form);
        self.send(req).await
    }

    /// Opens the sign-in page and submits its form, as a browser does.
    async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let csrf = csrf_field(&self.get("/console/sign-in").await.html).unwrap_or_default();
        self.post("/console/sign-in", &[("email", email), ("password", password), ("csrf", &csrf)]).await
    }

    /// The CSRF token of the signed-in session, read from a page's forms.
    async fn csrf(&mut self) -> String {
        csrf_field(&self.get("/console/system-users").await.html).expect("a form with a CSRF token")
    }
}

#[tokio::test]
async fn signing_in_sets_a_hardened_session_cookie_and_wrong_passwords_are_refused() {
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    assert_eq!(b.get("/console/system-users").await.location.as_deref(), Some("/console/sign-in"));
    let wrong = b.sign_in("admin@acme.example", "wrong").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.html.contains("Incorrect email or password."));
    let unknown = b.sign_in("nobody@acme.example", "wrong").await;
    assert_eq!(unknown.status, 401);

    let ok = b.sign_in("admin@acme.example", &ts.b("person_password")).await;
    assert_eq!((ok.status, ok.location.as_deref()), (303, Some("/console/system-users")));
    let cookie = ok.set_cookie.unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let page = b.get("/console/system-users").await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains("Acme Admin System User"));
}

#[tokio::test]
async fn five_failed_sign_ins_lock_the_email_out_for_fifteen_minutes() {
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    let password = ts.b("person_password");
    for _ in 0..5 {
        assert_eq!(b.sign_in("admin@acme.example", "guess").await.status, 401);
    }
    // Locked: even the right password is not checked, for any spelling of the email.
    let locked = b.sign_in(" Admin@ACME.example", &password).await;
    assert_eq!(locked.status, 429);
    assert!(locked.html.contains("Too many failed sign-ins for this email. Try again in 15 minutes."));
    assert!(locked.set_cookie.is_none());
    let retry = b.sign_in("admin@acme.example", "guess").await.retry_after.unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    // Unknown emails are counted the same way, and other emails are not affected.
    for _ in 0..5 {
        assert_eq!(b.sign_in("nobody@acme.example", "guess").await.status, 401);
    }
    assert_eq!(b.sign_in("nobody@acme.example", "guess").await.status, 429);
    ts.advance_clock(15 * 60);
    let ok = b.sign_in("admin@acme.example", &password).await;
    assert_eq!((ok.status, ok.location.as_deref()), (303, Some("/console/system-users")));
    // Over HTTPS (as a proxy in front says) the cookie is Secure too.
    let mut https = Browser::new(&ts);
    let form = https.client.get(format!("{}/console/sign-in", ts.url)).header("x-forwarded-proto", "https");
    let form = https.send(form).await;
    assert!(https.cookies.contains_key("wabagate_sign_in"));
    let csrf = csrf_field(&form.html).unwrap();
    let req = https.client.post(format!("{}/console/sign-in", ts.url)).header("x-forwarded-proto", "https").form(&[
        ("email", "admin@acme.example"),
        ("password", password.as_str()),
        ("csrf", csrf.as_str()),
    ]);
    let page = https.send(req).await;
    assert!(page.set_cookie.unwrap().ends_with("; Secure"));
}

#[tokio::test]
async fn guessing_from_one_address_cannot_keep_the_admin_out_from_another() {
    let ts = TestServer::start().await;
    let password = ts.b("person_password");
    let mut attacker = Browser::from_address(&ts, "127.0.0.2");
    for _ in 0..5 {
        assert_eq!(attacker.sign_in("admin@acme.example", "guess").await.status, 401);
    }
    let locked = attacker.sign_in("admin@acme.example", &password).await;
    assert_eq!(locked.status, 429, "the right password is not even checked");
    assert!(locked.html.contains("Too many failed sign-ins for this email."), "{}", locked.html);
    assert!(locked.set_cookie.is_none());
    // The admin, at a client that has not failed, signs in.
    let mut admin = Browser::from_address(&ts, "127.0.0.3");
    let ok = admin.sign_in("admin@acme.example", &password).await;
    assert_eq!((ok.status, ok.location.as_deref()), (303, Some("/console/system-users")));
    // A new address gets one guess at the locked email, then is locked too.
    let mut second = Browser::from_address(&ts, "127.0.0.4");
    assert_eq!(second.sign_in("admin@acme.example", "guess").await.status, 401);
    assert_eq!(second.sign_in("admin@acme.example", &password).await.status, 429);
    // The admin's success forgot nothing of the attackers' failures.
    assert_eq!(attacker.sign_in("admin@acme.example", &password).await.status, 429);
}

#[tokio::test]
async fn twenty_failed_sign_ins_from_one_address_lock_it_out_whatever_the_email() {
    let ts = TestServer::start().await;
    let mut b = Browser::from_address(&ts, "127.0.0.5");
    for i in 0..20 {
        let page = b.sign_in(&format!("nobody{i}@acme.example"), "guess").await;
        assert_eq!(page.status, 401, "attempt {i}");
    }
    let locked = b.sign_in("admin@acme.example", &ts.b("person_password")).await;
    assert_eq!(locked.status, 429);
    assert!(locked.html.contains("Too many failed sign-ins from this address."), "{}", locked.html);
    assert!((1..=900).contains(&locked.retry_after.unwrap()));
    // Other addresses are not affected, and successful sign-ins never count against one.
    let mut other = Browser::from_address(&ts, "127.0.0.6");
    for _ in 0..25 {
        let mut fresh = Browser::from_address(&ts, "127.0.0.6");
        assert_eq!(fresh.sign_in("admin@acme.example", &ts.b("person_password")).await.status, 303);
    }
    assert_eq!(other.sign_in("nobody0@acme.example", "guess").await.status, 401);
    ts.advance_clock(15 * 60);
    assert_eq!(b.sign_in("admin@acme.example", &ts.b("person_password")).await.status, 303);
}

#[tokio::test]
async fn a_sign_in_without_the_form_s_token_is_refused() {
    let ts = TestServer::start().await;
    let password = ts.b("person_password");
    let form = [("email", "admin@acme.example"), ("password", password.as_str())];
    // No token and no cookie: what another site's form would send.
    let mut b = Browser::new(&ts);
    let refused = b.post("/console/sign-in", &form).await;
    assert_eq!(refused.status, 403);
    assert!(refused.html.contains("security token is missing or out of date"), "{}", refused.html);
    assert!(refused.set_cookie.is_none(), "no session");
    // The cookie, but a forged token; the token, but another browser's cookie.
    let mut b = Browser::new(&ts);
    b.get("/console/sign-in").await;
    let forged = [form[0], form[1], ("csrf", "forged")];
    assert_eq!(b.post("/console/sign-in", &forged).await.status, 403);
    let mut other = Browser::new(&ts);
    let token = csrf_field(&other.get("/console/sign-in").await.html).unwrap();
    let mut b = Browser::new(&ts);
    b.get("/console/sign-in").await;
    assert_eq!(b.post("/console/sign-in", &[form[0], form[1], ("csrf", &token)]).await.status, 403);
    // The refusal's page carries a fresh form that works.
    let mut b = Browser::new(&ts);
    let refused = b.post("/console/sign-in", &form).await;
    let token = csrf_field(&refused.html).expect("a fresh form");
    let ok = b.post("/console/sign-in", &[form[0], form[1], ("csrf", &token)]).await;
    assert_eq!((ok.status, ok.location.as_deref()), (303, Some("/console/system-users")));
}

#[tokio::test]
async fn console_pages_send_security_headers() {
    let ts = TestServer::start().await;
    let res = ts.client().get(format!("{}/console/sign-in", ts.url)).send().await.unwrap();
    let h = res.headers();
    assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn a_post_without_the_session_s_csrf_token_is_refused() {
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    b.sign_in("admin@acme.example", &ts.b("person_password")).await;
    let csrf = b.csrf().await;
    b.post("/console/system-users/policy", &[("csrf", &csrf)]).await;
    assert_eq!(b.post("/console/system-users", &[("name", "No Token")]).await.status, 403);
    assert_eq!(b.post("/console/system-users", &[("name", "Bad Token"), ("csrf", "forged")]).await.status, 403);
    let made = b.post("/console/system-users", &[("name", "Good Token"), ("role", "EMPLOYEE"), ("csrf", &csrf)]).await;
    assert_eq!(made.status, 303);
    let names: Vec<String> = ts
        .get(&format!("{}/system_users", ts.b("business_id")), Some(&ts.admin()), &[])
        .await
        .data()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"Good Token".to_string()));
    assert!(!names.iter().any(|n| n == "No Token" || n == "Bad Token"));
}

#[tokio::test]
async fn the_system_user_policy_is_accepted_once_before_the_first_system_user() {
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    b.sign_in("admin@acme.example", &ts.b("person_password")).await;
    let add = b.get("/console/system-users?add=1").await.html;
    assert!(add.contains("System user policy") && !add.contains("Create system user"));
    let csrf = b.csrf().await;
    // Creating before accepting sends the admin back to the policy.
    let early = b.post("/console/system-users", &[("name", "Too Early"), ("csrf", &csrf)]).await;
    assert_eq!(early.location.as_deref(), Some("/console/system-users?add=1"));
    b.post("/console/system-users/policy", &[("csrf", &csrf)]).await;
    let add = b.get("/console/system-users?add=1").await.html;
    assert!(add.contains("Create system user") && !add.contains("System user policy"));
}

#[tokio::test]
async fn tokens_generated_in_the_console_work_on_the_api_and_assignments_show_both_ways() {
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    b.sign_in("admin@acme.example", &ts.b("person_password")).await;
    let csrf = b.csrf().await;
    b.post("/console/system-users/policy", &[("csrf", &csrf)]).await;
    let made = b.post("/console/system-users", &[("name", "Console Bot"), ("role", "EMPLOYEE"), ("csrf", &csrf)]).await;
    let su = made.location.unwrap().rsplit('/').next().unwrap().to_string();
    let page = b
        .post(
            &format!("/console/system-users/{su}/token"),
            &[
                ("app", &ts.b("app_id")),
                ("expiration", "never"),
                ("scope", "business_management"),
                ("scope", "whatsapp_business_management"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(page.status, 200);
    let start = page.html.find("value=\"EAA").expect("the token is shown") + 7;
    let token = page.html[start..start + page.html[start..].find('"').unwrap()].to_string();
    assert_eq!(ts.get("me", Some(&token), &[]).await.ok()["id"], su.as_str());
    // Shown once: the system user's page lists its metadata, never the token.
    let su_page = b.get(&format!("/console/system-users/{su}")).await.html;
    assert!(!su_page.contains(&token) && su_page.contains("business_management, whatsapp_business_management"));

    let waba = ts.b("waba_id");
    let r = b
        .post(
            &format!("/console/whatsapp-accounts/{waba}/people"),
            &[("user", &su), ("access", "full"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303);
    let list =
        ts.get(&format!("{waba}/assigned_users"), Some(&ts.admin()), &[("business", &ts.b("business_id"))]).await;
    assert_eq!(list.data(), &vec![json!({"id": su, "name": "Console Bot", "tasks": ["MANAGE"]})]);
    // A change through the API shows in the console at once.
    ts.assign(&waba, &su, "VIEW_TEMPLATES").await.ok();
    assert!(b.get(&format!("/console/whatsapp-accounts/{waba}")).await.html.contains("VIEW_TEMPLATES"));
    let audit = ts.get_url(&format!("{}/_wabagate/audit?access_token={}&target={su}", ts.url, ts.admin())).await;
    let via: Vec<&str> = audit.data().iter().map(|e| e["actor"]["via"].as_str().unwrap()).collect();
    assert!(via.contains(&"console") && via.contains(&"api"), "{via:?}");
}

#[tokio::test]
async fn a_person_who_is_not_an_admin_sees_no_change_controls_and_forged_posts_are_refused() {
    let ts = TestServer::with_fixtures(PEOPLE).await;
    let mut b = Browser::new(&ts);
    assert_eq!(b.sign_in("clerk@people.example", "clerk password").await.status, 303);
    let page = b.get("/console/system-users?add=1").await.html;
    assert!(!page.contains(">Add<") && !page.contains("Create system user") && !page.contains("System user policy"));
    let csrf = b.csrf().await;
    let forged = b.post("/console/system-users/policy", &[("csrf", &csrf)]).await;
    assert_eq!(forged.status, 403);
    let waba = ts.bootstrap["ids"]["waba"].as_str().unwrap().to_string();
    let me = ts.bootstrap["ids"]["clerk"].as_str().unwrap().to_string();
    // The clerk holds no task on the WABA, so for it the WABA is not there at all.
    let forged = b
        .post(
            &format!("/console/whatsapp-accounts/{waba}/people"),
            &[("user", &me), ("access", "full"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(forged.status, 404);
    assert_eq!(b.get("/console/activity").await.status, 403);

    let mut boss = Browser::new(&ts);
    boss.sign_in("boss@people.example", "boss password").await;
    let waba_page = boss.get(&format!("/console/whatsapp-accounts/{waba}")).await.html;
    assert!(waba_page.contains("Add People"));
    assert!(!waba_page.contains("Cal Clerk"), "the forged assignment did not happen");
}

#[tokio::test]
async fn names_are_escaped_everywhere_they_are_shown() {
    let ts = TestServer::start().await;
    let su = ts.create_system_user("<script>alert(1)</script>", "EMPLOYEE").await;
    let mut b = Browser::new(&ts);
    b.sign_in("admin@acme.example", &ts.b("person_password")).await;
    for path in [
        "/console/system-users".to_string(),
        format!("/console/system-users/{su}"),
        "/console/access".into(),
        "/console/activity".into(),
    ] {
        let html = b.get(&path).await.html;
        assert!(!html.contains("<script>alert(1)</script>"), "{path} shows raw markup");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || html.contains("&#60;script&#62;"), "{path}");
    }
}

#[tokio::test]
async fn the_access_overview_downloads_as_csv() {
    let ts = TestServer::start().await;
    let (su, _) = ts.employee("Csv Bot", "business_management").await;
    ts.assign(&ts.b("waba_id"), &su, "DEVELOP").await.ok();
    let mut b = Browser::new(&ts);
    b.sign_in("admin@acme.example", &ts.b("person_password")).await;
    let csv = b.get("/console/access.csv?filter=Csv").await.html;
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("user_id,user_name,user_type,waba_id,waba_name,tasks"));
    let row = lines.find(|l| l.contains(&ts.b("waba_id"))).expect("a row for the WABA");
    assert!(
        row.starts_with(&format!("{su},Csv Bot,SYSTEM_USER,")) && row.contains("DEVELOP MANAGE_TEMPLATES"),
        "{row}"
    );
}

#[tokio::test]
async fn a_waba_named_as_a_formula_reaches_the_csv_as_text() {
    let ts = TestServer::start().await;
    let (waba, formula) = (ts.b("waba_id"), r#"=HYPERLINK("http://x.example","y")"#);
    ts.post(&waba, Some(&ts.admin()), &[("name", formula)]).await.ok();
    let mut b = Browser::new(&ts);
    b.sign_in("admin@acme.example", &ts.b("person_password")).await;
    let csv = b.get("/console/access.csv").await.html;
    let row = csv.lines().find(|l| l.contains(&waba)).expect("a row for the WABA");
    assert!(row.contains(r#","'=HYPERLINK(""http://x.example"",""y"")","#), "{row}");
    assert!(!csv.lines().any(|l| l.split(',').any(|cell| cell.trim_start_matches('"').starts_with('='))), "{csv}");
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    b.sign_in("admin@acme.example", &ts.b("person_password")).await;
    let csrf = b.csrf().await;
    let old = b.cookies.clone();
    assert_eq!(b.post("/console/sign-out", &[("csrf", &csrf)]).await.location.as_deref(), Some("/console/sign-in"));
    b.cookies = old;
    assert_eq!(b.get("/console/system-users").await.location.as_deref(), Some("/console/sign-in"));
}

#[tokio::test]
async fn the_webhooks_page_lists_deliveries_and_redelivers_them() {
    use crate::deliveries::{create_template, demo_subscribed, quick, review, settings};
    let ts = TestServer::start_with_settings(settings(quick())).await;
    let receiver = demo_subscribed(&ts, "message_template_status_update").await;
    receiver.fail_next(1);
    let template = create_template(&ts, "console_shown").await;
    review(&ts, &template, "APPROVED", None).await;
    receiver.wait_for(1).await;

    let mut b = Browser::new(&ts);
    b.sign_in("admin@acme.example", &ts.b("person_password")).await;
    let page = b.get("/console/webhooks").await;
    assert_eq!(page.status, 200);
    let delivery = receiver.posts()[0].delivery.clone();
    let row = page.html.split(&format!("data-delivery=\"{delivery}\"")).nth(1).expect("the delivery is listed");
    let row = &row[..row.find("</tr>").unwrap()];
    for shown in ["message_template_status_update", "APPROVED", "delivered", "200", "console_shown", &ts.b("waba_id")] {
        assert!(row.contains(shown), "{shown} not in {row}");
    }
    assert!(row.contains("<td>2</td>"), "two attempts: {row}");

    let csrf = b.csrf().await;
    let app = ts.b("app_id");
    let redeliver = format!("/console/webhooks/{app}/deliveries/{delivery}/redeliver");
    assert_eq!(b.post(&redeliver, &[]).await.status, 403);
    let done = b.post(&redeliver, &[("csrf", &csrf)]).await;
    assert_eq!((done.status, done.location.as_deref()), (303, Some(&*format!("/console/webhooks?app={app}"))));
    let got = receiver.wait_for(2).await;
    assert_eq!(got[0], got[1]);
    assert_ne!(receiver.posts()[2].delivery, delivery);
    // Another business's delivery id is not there to redeliver.
    assert_eq!(
        b.post(&format!("/console/webhooks/{app}/deliveries/99999/redeliver"), &[("csrf", &csrf)]).await.status,
        404
    );
}

#[tokio::test]
async fn the_webhooks_page_shows_a_dropped_delivery_and_why() {
    use crate::deliveries::{demo_subscribed, settings};
    let webhooks = service::webhooks::WebhookSettings {
        delivered_after: Some(std::time::Duration::from_millis(1500)),
        read_after: Some(std::time::Duration::from_millis(1500)),
        ..Default::default()
    };
    let ts = TestServer::start_with_settings(settings(webhooks)).await;
    let receiver = demo_subscribed(&ts, "messages").await;
    let msg = json!({"messaging_product": "whatsapp", "to": "16505551234", "text": {"body": "hi"}});
    ts.post_json(&format!("{}/messages", ts.b("phone_number_id")), &ts.admin(), msg).await.ok();
    receiver.wait_for(1).await;
    // The app leaves the WABA before the `read` status is due: it is dropped, not sent.
    ts.delete(&format!("{}/subscribed_apps", ts.b("waba_id")), Some(&ts.admin()), &[]).await.ok();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(receiver.posts().len(), 1);

    let mut b = Browser::new(&ts);
    b.sign_in("admin@acme.example", &ts.b("person_password")).await;
    let page = b.get("/console/webhooks").await;
    assert_eq!(page.status, 200);
    let rows: Vec<&str> = page.html.split("data-delivery=\"").skip(1).map(|r| &r[..r.find("</tr>").unwrap()]).collect();
    assert_eq!(rows.len(), 2, "{}", page.html);
    assert!(rows[0].contains("status: read") && rows[0].contains(">dropped<"), "{}", rows[0]);
    let waba = ts.b("waba_id");
    assert!(rows[0].contains(&format!("dropped: the app is no longer subscribed to WABA {waba}")), "{}", rows[0]);
    assert!(rows[1].contains("status: sent") && rows[1].contains(">delivered<"), "{}", rows[1]);
}

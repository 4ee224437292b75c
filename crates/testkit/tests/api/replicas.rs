//! Several servers sharing one PostgreSQL store. These tests need `WABAGATE_TEST_DATABASE`
//! (scripts/test sets it); without it they say so and pass nothing off as checked.

use std::time::{Duration, Instant};

use futures_util::FutureExt;

use serde_json::json;
use testkit::{Reply, TestServer};

/// Polls until `check` holds, for at most five seconds; returns how long it took.
async fn eventually<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if check().await {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: not within 5 s");
}

async fn pair() -> Option<(TestServer, TestServer)> {
    let a = TestServer::start().await;
    if a.database().is_none() {
        eprintln!("!!! replica tests need {}: NOT RUN", testkit::DATABASE_ENV);
        return None;
    }
    let b = a.replica("wabagate_replica_b").await;
    Some((a, b))
}

/// The number of system users `server` lists, asked with the admin token of `world`.
async fn user_count(server: &TestServer, world: &TestServer) -> usize {
    server.get(&format!("{}/system_users", world.b("business_id")), Some(&world.admin()), &[]).await.ids().len()
}

/// The assigned users `server` lists on a WABA, asked with the admin token of `world`.
async fn assigned(server: &TestServer, world: &TestServer, waba: &str) -> serde_json::Value {
    let biz = world.b("business_id");
    server.get(&format!("{waba}/assigned_users"), Some(&world.admin()), &[("business", &biz)]).await.body["data"]
        .clone()
}

/// The system users `server` lists (up to 100), asked with the admin token of `world`.
async fn listed_users(server: &TestServer, world: &TestServer) -> usize {
    let path = format!("{}/system_users", world.b("business_id"));
    server.get(&path, Some(&world.admin()), &[("limit", "100")]).await.ids().len()
}

/// Creates an employee system user through `server` with the admin token of `world`.
async fn create_user(server: &TestServer, world: &TestServer, n: usize) -> Reply {
    let path = format!("{}/system_users", world.b("business_id"));
    server.post(&path, Some(&world.admin()), &[("name", &format!("Busy Bot {n}")), ("role", "EMPLOYEE")]).await
}

fn ok(r: &Reply) -> bool {
    r.status == 200
}

#[tokio::test]
async fn a_token_minted_on_one_replica_works_on_the_other_and_a_revocation_reaches_it() {
    let Some((a, b)) = pair().await else { return };
    let (su, token) = a.employee("Shared Bot", "business_management").await;
    let took = eventually("B knows the new token", || async { ok(&b.get("me", Some(&token), &[]).await) }).await;
    eprintln!("mint on A seen on B after {took:?}");
    assert_eq!(b.get("me", Some(&token), &[]).await.ok()["id"], su.as_str());

    let (app, secret) = (a.b("app_id"), a.b("app_secret"));
    a.get(
        "oauth/revoke",
        Some(&a.admin()),
        &[("client_id", &app), ("client_secret", &secret), ("revoke_token", &token)],
    )
    .await
    .ok();
    let took = eventually("B refuses the revoked token", || async {
        b.get("me", Some(&token), &[]).await.body["error"]["error_subcode"] == 460
    })
    .await;
    eprintln!("revocation on A seen on B after {took:?}");
}

#[tokio::test]
async fn an_assignment_made_on_one_replica_is_honoured_by_the_other() {
    let Some((a, b)) = pair().await else { return };
    let waba = a.b("waba_id");
    let (su, token) = a.employee("Assigned Bot", "business_management,whatsapp_business_management").await;
    eventually("B knows the token", || async { ok(&b.get("me", Some(&token), &[]).await) }).await;
    b.assign(&waba, &su, "MANAGE").await.ok();
    eventually("A honours B's assignment", || async { ok(&a.get(&waba, Some(&token), &[]).await) }).await;
    // A second replica started on the same database joins the world and seeds nothing.
    let bootstrap_b = std::fs::read_to_string(b.data_dir().join("bootstrap.json"));
    assert!(bootstrap_b.is_err(), "the replica wrote no bootstrap.json: it created nothing");
    assert_eq!(user_count(&a, &a).await, user_count(&b, &a).await);
}

#[tokio::test]
async fn a_replica_that_lost_its_database_connection_catches_up_when_it_is_back() {
    let Some((a, b)) = pair().await else { return };
    let (su, token) = a.employee("Catch Up Bot", "business_management,whatsapp_business_management").await;
    eventually("B knows the token", || async { ok(&b.get("me", Some(&token), &[]).await) }).await;

    // Cut every connection of replica B.
    let url = a.database().unwrap().split('?').next().unwrap().to_string();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let cut = client
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE '%_wabagate_replica_b'",
            &[],
        )
        .await
        .unwrap();
    assert!(!cut.is_empty(), "B had connections to cut");
    let readyz = |s: &TestServer| {
        let url = format!("{}/readyz", s.url);
        let client = s.client().clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    eventually("B says it is not ready while it cannot follow", || readyz(&b).map(|s| s == 503)).await;
    let why: serde_json::Value =
        b.client().get(format!("{}/readyz", b.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(why, serde_json::json!({"status": "not_ready", "failing": ["change_log"]}));
    let why: serde_json::Value =
        b.client().get(format!("{}/readyz", b.url)).bearer_auth(a.admin()).send().await.unwrap().json().await.unwrap();
    assert_eq!(why["status"], "not_ready", "{why}");
    assert_eq!(why["checks"]["change_log"]["ok"], false, "{why}");

    // Changes on A while B is cut off.
    let waba = a.b("waba_id");
    a.assign(&waba, &su, "VIEW_TEMPLATES").await.ok();
    let (app, secret) = (a.b("app_id"), a.b("app_secret"));
    let second = a.mint(&su, "whatsapp_business_management").await;
    a.get(
        "oauth/revoke",
        Some(&a.admin()),
        &[("client_id", &app), ("client_secret", &secret), ("revoke_token", &token)],
    )
    .await
    .ok();

    eventually("B is ready again", || readyz(&b).map(|s| s == 200)).await;
    eventually("B reconnects and applies what it missed", || async {
        ok(&b.get(&format!("{waba}/message_templates"), Some(&second), &[]).await)
            && b.get("me", Some(&token), &[]).await.body["error"]["error_subcode"] == 460
    })
    .await;
}

#[tokio::test]
async fn two_replicas_writing_the_same_assignment_at_once_agree_on_one_state() {
    let Some((a, b)) = pair().await else { return };
    let waba = a.b("waba_id");
    let (su, token) = a.employee("Contested Bot", "business_management").await;
    eventually("B knows the token", || async { ok(&b.get("me", Some(&token), &[]).await) }).await;
    for round in 0..5 {
        let (ra, rb) = tokio::join!(a.assign(&waba, &su, "DEVELOP"), b.assign(&waba, &su, "VIEW_COST"));
        // Neither is refused because the other replica moved first: both land, one after the other.
        for r in [&ra, &rb] {
            assert_eq!(r.status, 200, "round {round}: {}", r.body);
        }
        eventually("both replicas show the same assignment", || async {
            assigned(&a, &a, &waba).await == assigned(&b, &a, &waba).await
        })
        .await;
        let state = assigned(&a, &a, &waba).await;
        assert!(
            state == json!([{"id": su, "name": "Contested Bot", "tasks": ["DEVELOP"]}])
                || state == json!([{"id": su, "name": "Contested Bot", "tasks": ["VIEW_COST"]}]),
            "{state}"
        );
    }
}

#[tokio::test]
async fn writes_on_two_replicas_at_once_are_never_refused_and_all_reach_both() {
    let Some((a, b)) = pair().await else { return };
    let before = listed_users(&a, &a).await;
    let writes: Vec<_> = (0..40).map(|n| create_user(if n % 2 == 0 { &a } else { &b }, &a, n)).collect();
    let replies = futures_util::future::join_all(writes).await;
    let mut ids = std::collections::BTreeSet::new();
    for r in &replies {
        assert_eq!(r.status, 200, "{}", r.body);
        ids.insert(r.body["id"].as_str().expect("an id").to_string());
    }
    assert_eq!(ids.len(), 40, "each write created its own system user");
    for server in [&a, &b] {
        eventually("every acknowledged write is on both replicas", || async {
            listed_users(server, &a).await == before + 40
        })
        .await;
    }
}

#[tokio::test]
async fn webhooks_queued_on_either_server_are_delivered_once_in_order() {
    let Some((a, b)) = pair().await else { return };
    let receiver = crate::deliveries::Receiver::start(&a.b("app_secret"), "vt").await;
    let app = a.b("app_id");
    let form = [
        ("object", "whatsapp_business_account"),
        ("callback_url", receiver.url.as_str()),
        ("verify_token", "vt"),
        ("fields", "messages"),
    ];
    let app_token = format!("{app}|{}", a.b("app_secret"));
    a.post(&format!("{app}/subscriptions"), Some(&app_token), &form).await.ok();
    b.post(&format!("{}/subscribed_apps", a.b("waba_id")), Some(&a.admin()), &[]).await.ok();
    // Customers write through both servers; both servers' workers send from the one queue.
    let path = format!("_wabagate/phone_numbers/{}/inbound", a.b("phone_number_id"));
    let mut sent = Vec::new();
    for i in 0..12 {
        let server = if i % 2 == 0 { &a } else { &b };
        let text = format!("message {i}");
        let r = server.post(&path, Some(&a.admin()), &[("from", "16505551234"), ("text", &text)]).await;
        sent.push(r.ok()["messages"][0]["id"].as_str().unwrap().to_string());
    }
    let got = receiver.wait_for(12).await;
    let ids: Vec<String> = got.iter().map(|(_, v)| v["messages"][0]["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, sent, "in the order the messages arrived");
    // Once every lease has run out (the servers share one clock), one more message on the same
    // line: by the time it is delivered, both workers have looked at the queue since.
    let lease = a.service().settings().webhooks.lease();
    a.advance_clock(lease.as_secs() as i64 + 1);
    let last = b.post(&path, Some(&a.admin()), &[("from", "16505551234"), ("text", "after the leases")]).await;
    let last = last.ok()["messages"][0]["id"].as_str().unwrap().to_string();
    let got = receiver.wait_for(13).await;
    assert_eq!(got[12].1["messages"][0]["id"], last.as_str());
    let posts = receiver.posts();
    assert_eq!(posts.len(), 13, "each delivery once: {posts:#?}");
}

#[tokio::test]
async fn each_replica_reports_its_change_log_lag_in_metrics() {
    let Some((a, b)) = pair().await else { return };
    let (su, _) = a.employee("Lagging", "business_management").await;
    eventually("B applies A's writes", || async { b.get(&su, Some(&a.admin()), &[]).await.status == 200 }).await;
    // The in-process test servers share one metrics recorder, so a scrape may show the gauges
    // another server of the suite set a moment before: B's own values show within a few scrapes.
    let scrape = || async {
        let text = b.client().get(format!("{}/metrics", b.url)).send().await.unwrap().text().await.unwrap();
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()))
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        let (head, applied, lag) = (
            value("wabagate_changelog_head_seq"),
            value("wabagate_changelog_applied_seq"),
            value("wabagate_changelog_lag"),
        );
        head >= 1.0 && applied == head && lag == 0.0
    };
    eventually("B reports its head, applied position and a lag of 0", scrape).await;
}

/// The names of the system users `server` lists, asked with the admin token of `world`.
async fn user_names(server: &TestServer, world: &TestServer) -> std::collections::BTreeSet<String> {
    let path = format!("{}/system_users", world.b("business_id"));
    let listed = server.get(&path, Some(&world.admin()), &[("limit", "100"), ("fields", "name")]).await;
    listed.data().iter().map(|u| u["name"].as_str().unwrap().to_string()).collect()
}

/// A client of the database beside the servers, in the test's schema.
async fn database(server: &TestServer) -> tokio_postgres::Client {
    let url = server.database().unwrap();
    let base = url.split('?').next().unwrap().to_string();
    let schema = url.split("schema=").nth(1).and_then(|s| s.split('&').next()).unwrap().to_string();
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(&format!("SET search_path TO {schema}")).await.unwrap();
    client
}

/// Sends one write until it is acknowledged, each attempt under its own name; answers the
/// acknowledged name and the refused ones. A refusal must be transient (code 2).
async fn until_acknowledged<F, Fut>(what: String, mut attempt: F) -> (String, Vec<String>)
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    let mut refused = Vec::new();
    for n in 0..100 {
        let name = format!("{what} try {n}");
        let r = attempt(name.clone()).await;
        if r.status == 200 {
            return (name, refused);
        }
        assert_eq!(r.body["error"]["code"], 2, "{what}: only transient refusals: {}", r.body);
        refused.push(name);
    }
    panic!("{what}: never acknowledged");
}

#[tokio::test]
async fn writers_a_follower_and_the_webhook_workers_lose_nothing_and_send_nothing_twice_under_failing_commits() {
    let Some((a, b)) = pair().await else { return };
    let c = a.replica("wabagate_replica_c");
    let c = c.await;
    let receiver = crate::deliveries::Receiver::start(&a.b("app_secret"), "vt").await;
    let app = a.b("app_id");
    let form = [
        ("object", "whatsapp_business_account"),
        ("callback_url", receiver.url.as_str()),
        ("verify_token", "vt"),
        ("fields", "messages"),
    ];
    let app_token = format!("{app}|{}", a.b("app_secret"));
    a.post(&format!("{app}/subscriptions"), Some(&app_token), &form).await.ok();
    b.post(&format!("{}/subscribed_apps", a.b("waba_id")), Some(&a.admin()), &[]).await.ok();
    let (users, admin) = (format!("{}/system_users", a.b("business_id")), a.admin());
    let before = user_names(&a, &a).await;

    // Commits fail at random from here on: a round's insert of a system user or a message raises.
    let db = database(&a).await;
    db.batch_execute(
        "CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF random() < 0.15 THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER injected_fault BEFORE INSERT ON system_users FOR EACH ROW EXECUTE FUNCTION injected_fault();
         CREATE TRIGGER injected_fault BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION injected_fault();",
    )
    .await
    .unwrap();

    // Writers on both replicas at once; customers writing in through both, one after another.
    let writers = (0..30).map(|i| {
        let (server, users, admin) = (if i % 2 == 0 { &a } else { &b }, &users, &admin);
        until_acknowledged(format!("Crowd {i}"), move |name| async move {
            server.post(users, Some(admin), &[("name", &name), ("role", "EMPLOYEE")]).await
        })
    });
    let inbound = format!("_wabagate/phone_numbers/{}/inbound", a.b("phone_number_id"));
    let customers = async {
        let mut acknowledged = Vec::new();
        let mut refused = Vec::new();
        for i in 0..12 {
            let server = if i % 2 == 0 { &a } else { &b };
            let (text, failed) = until_acknowledged(format!("message {i}"), |text| {
                let (inbound, admin) = (&inbound, &admin);
                async move { server.post(inbound, Some(admin), &[("from", "16505551234"), ("text", &text)]).await }
            })
            .await;
            acknowledged.push(text);
            refused.extend(failed);
        }
        (acknowledged, refused)
    };
    // The follower reads all the while: it never lists a user no writer was told of.
    let done = std::sync::atomic::AtomicBool::new(false);
    let follower = async {
        let mut seen = std::collections::BTreeSet::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            seen.extend(user_names(&c, &a).await);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seen
    };
    let work = async {
        let r = tokio::join!(futures_util::future::join_all(writers), customers);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    };
    let ((written, (messages, refused_messages)), seen_by_follower) = tokio::join!(work, follower);
    db.batch_execute("DROP TRIGGER injected_fault ON system_users; DROP TRIGGER injected_fault ON messages")
        .await
        .unwrap();

    let acknowledged: std::collections::BTreeSet<String> = written.iter().map(|(name, _)| name.clone()).collect();
    let refused: Vec<&String> = written.iter().flat_map(|(_, refused)| refused).chain(&refused_messages).collect();
    assert!(!refused.is_empty(), "the injected faults failed some commits");
    let expected: std::collections::BTreeSet<String> = before.union(&acknowledged).cloned().collect();
    // Every acknowledged write is on every replica, and nothing refused is anywhere.
    for server in [&a, &b, &c] {
        eventually("every acknowledged write is on every replica", || async {
            user_names(server, &a).await == expected
        })
        .await;
    }
    assert!(seen_by_follower.is_subset(&expected), "the follower saw writes that were refused");
    // The log has no gap: every replica applied every row, in order.
    let seqs: Vec<i64> =
        db.query("SELECT seq FROM changes ORDER BY seq", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "no log seq is skipped: {seqs:?}");
    // Each acknowledged message is delivered once, in order; no refused one is delivered.
    let got = receiver.wait_for(messages.len()).await;
    let texts: Vec<String> =
        got.iter().map(|(_, v)| v["messages"][0]["text"]["body"].as_str().unwrap().to_string()).collect();
    assert_eq!(texts, messages, "each acknowledged message once, in order");
    let pending = || async {
        db.query_one("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    eventually("the queue is empty", || async { pending().await == 0 }).await;
    assert_eq!(receiver.posts().len(), messages.len(), "nothing delivered twice");
}

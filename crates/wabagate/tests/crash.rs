//! Crash safety and the process's life: concurrent writers create system users, install the app
//! on them, mint their tokens and assign them to the WABA against the real binary, which is
//! killed with SIGKILL at random moments and restarted over the same store. After each restart
//! every write that was acknowledged with a 2xx is there, and consistent: each token works for
//! its system user and app, each assignment's user exists. On SQLite, and on PostgreSQL when
//! WABAGATE_TEST_DATABASE names one. Under the same load, SIGTERM stops the server cleanly (exit
//! 0) with no acknowledged write and no queued webhook lost, and `wabagate backup` copies the
//! store while it is written.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use testkit::appsecret_proof;

const ROUNDS: usize = 4;
const WRITERS: usize = 6;

/// Everything the server acknowledged.
#[derive(Default)]
struct Acked {
    users: Vec<String>,
    /// (system user, token)
    tokens: Vec<(String, String)>,
    /// System users assigned MANAGE_TEMPLATES on the WABA.
    assigned: Vec<String>,
}

struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, database: Option<&str>) -> Running {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wabagate"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"]).arg(data);
    if let Some(url) = database {
        cmd.args(["--database", url]);
    }
    let child = cmd.env("RUST_LOG", "warn").stdout(Stdio::null()).spawn().expect("the server starts");
    let running = Running { child, url: format!("http://127.0.0.1:{port}") };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !data.join("bootstrap.json").exists() {
        assert!(std::time::Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    running
}

struct World {
    admin: String,
    business: String,
    waba: String,
    app: String,
    secret: String,
    phone: String,
    proof: String,
}

fn world(data: &Path) -> World {
    let b: Value = serde_json::from_str(&std::fs::read_to_string(data.join("bootstrap.json")).unwrap()).unwrap();
    let s = |k: &str| b[k].as_str().unwrap().to_string();
    let admin = s("admin_token");
    let proof = appsecret_proof(&s("app_secret"), &admin);
    World {
        business: s("business_id"),
        waba: s("waba_id"),
        app: s("app_id"),
        secret: s("app_secret"),
        phone: s("phone_number_id"),
        proof,
        admin,
    }
}

/// POSTs a form; `None` when the server did not acknowledge it (an error, or no answer).
async fn post(client: &reqwest::Client, url: String, form: &[(&str, &str)]) -> Option<Value> {
    let r = client.post(url).form(form).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// Writes until the server stops answering, recording what it acknowledged.
async fn writer(base: String, w: Arc<World>, acked: Arc<Mutex<Acked>>, n: usize) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let token = w.admin.as_str();
    for i in 0.. {
        let url = |path: String| format!("{base}/v23.0/{path}?access_token={token}");
        let name = format!("Crash {n}-{i}");
        let Some(created) = post(&client, url(format!("{}/system_users", w.business)), &[("name", &name)]).await else {
            return;
        };
        let su = created["id"].as_str().expect("an id").to_string();
        acked.lock().unwrap().users.push(su.clone());
        if post(&client, url(format!("{su}/applications")), &[("business_app", &w.app)]).await.is_none() {
            return;
        }
        let form = [("business_app", w.app.as_str()), ("scope", "business_management"), ("appsecret_proof", &w.proof)];
        let Some(minted) = post(&client, url(format!("{su}/access_tokens")), &form).await else { return };
        let minted = minted["access_token"].as_str().expect("a token").to_string();
        acked.lock().unwrap().tokens.push((su.clone(), minted));
        let form = [("user", su.as_str()), ("tasks", "MANAGE_TEMPLATES")];
        if post(&client, url(format!("{}/assigned_users", w.waba)), &form).await.is_none() {
            return;
        }
        acked.lock().unwrap().assigned.push(su);
    }
}

/// Every id of a paged edge, following `next`.
async fn all_ids(client: &reqwest::Client, first: String) -> Vec<String> {
    let mut ids = Vec::new();
    let mut url = Some(first);
    while let Some(u) = url {
        let page: Value = client.get(&u).send().await.unwrap().json().await.unwrap();
        let data = page["data"].as_array().unwrap_or_else(|| panic!("a page: {page}"));
        ids.extend(data.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        url = page["paging"]["next"].as_str().map(str::to_string);
    }
    ids
}

/// Checks that everything acknowledged so far is in the store the server at `base` loaded.
async fn check(base: &str, w: &World, acked: &Acked) {
    let client = reqwest::Client::new();
    let token = &w.admin;
    let users =
        all_ids(&client, format!("{base}/v23.0/{}/system_users?limit=100&access_token={token}", w.business)).await;
    for su in &acked.users {
        assert!(users.contains(su), "acknowledged system user {su} is gone");
    }
    let assigned = all_ids(
        &client,
        format!("{base}/v23.0/{}/assigned_users?business={}&limit=100&access_token={token}", w.waba, w.business),
    )
    .await;
    for su in &acked.assigned {
        assert!(assigned.contains(su), "acknowledged assignment of {su} is gone");
    }
    // No assignment without its system user.
    for su in &assigned {
        let r = client.get(format!("{base}/v23.0/{su}?access_token={token}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "assigned user {su} does not exist");
    }
    // Every acknowledged token works, for its own system user and the app it was minted for.
    for (su, minted) in &acked.tokens {
        let me: Value =
            client.get(format!("{base}/v23.0/me?access_token={minted}")).send().await.unwrap().json().await.unwrap();
        assert_eq!(me["id"], su.as_str(), "token of {su}: {me}");
        let debug: Value = client
            .get(format!("{base}/v23.0/debug_token?input_token={minted}&access_token={token}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(debug["data"]["app_id"], w.app.as_str(), "{debug}");
        assert_eq!(debug["data"]["is_valid"], true, "{debug}");
    }
}

fn random_ms(low: u64, high: u64) -> u64 {
    low + testkit::rand_u64() % (high - low)
}

fn crash_and_restart(data: PathBuf, database: Option<&str>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut server = start(&data, database);
    let w = Arc::new(world(&data));
    for round in 0..ROUNDS {
        let writers: Vec<_> = (0..WRITERS)
            .map(|n| rt.spawn(writer(server.url.clone(), w.clone(), acked.clone(), round * WRITERS + n)))
            .collect();
        std::thread::sleep(Duration::from_millis(random_ms(300, 1200)));
        // SIGKILL: no shutdown, no flush, in the middle of the writers' requests.
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        rt.block_on(async {
            for handle in writers {
                handle.await.unwrap();
            }
        });
        server = start(&data, database);
        let acked = acked.lock().unwrap();
        assert!(!acked.users.is_empty(), "round {round}: no write was acknowledged before the kill");
        rt.block_on(check(&server.url, &w, &acked));
    }
    let acked = acked.lock().unwrap();
    eprintln!(
        "{ROUNDS} kills: {} system users, {} tokens, {} assignments acknowledged, all present",
        acked.users.len(),
        acked.tokens.len(),
        acked.assigned.len()
    );
}

#[test]
fn acknowledged_writes_survive_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_restart(dir.path().join("data"), None);
}

#[test]
fn acknowledged_writes_survive_sigkill_on_postgres() {
    let Some(url) = testkit::fresh_database() else {
        eprintln!("skipped: {} is not set", testkit::DATABASE_ENV);
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    crash_and_restart(dir.path().join("data"), Some(&url));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(testkit::drop_database(&url));
}

/// A webhook receiver that answers the handshake and every POST, recording the ids of the
/// customer messages it got.
async fn receiver() -> (String, Arc<Mutex<HashSet<String>>>) {
    use std::collections::HashMap;
    let got = Arc::new(Mutex::new(HashSet::new()));
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::get(|axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>| async move {
            q.get("hub.challenge").cloned().unwrap_or_default()
        })
        .post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap();
                let id = v["entry"][0]["changes"][0]["value"]["messages"][0]["id"].as_str().unwrap().to_string();
                seen.lock().unwrap().insert(id);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// Customers write to the demo number until the server stops answering; the ids of the
/// messages it acknowledged are recorded.
async fn customer(base: String, w: Arc<World>, acked: Arc<Mutex<Vec<String>>>) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    for i in 0.. {
        let url = format!("{base}/v23.0/_wabagate/phone_numbers/{}/inbound?access_token={}", w.phone, w.admin);
        let text = format!("message {i}");
        let Some(r) = post(&client, url, &[("from", "16505551234"), ("text", &text)]).await else { return };
        acked.lock().unwrap().push(r["messages"][0]["id"].as_str().unwrap().to_string());
    }
}

#[test]
fn sigterm_under_load_exits_0_and_loses_no_write_or_queued_webhook() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = start(&data, None);
    let w = Arc::new(world(&data));
    let (hook, received) = rt.block_on(receiver());
    rt.block_on(async {
        let client = reqwest::Client::new();
        let base = &server.url;
        let form = [
            ("object", "whatsapp_business_account"),
            ("callback_url", hook.as_str()),
            ("verify_token", "vt"),
            ("fields", "messages"),
            ("access_token", &format!("{}|{}", w.app, w.secret)),
        ];
        post(&client, format!("{base}/v23.0/{}/subscriptions", w.app), &form).await.expect("subscribed");
        let url = format!("{base}/v23.0/{}/subscribed_apps?access_token={}", w.waba, w.admin);
        post(&client, url, &[]).await.expect("subscribed to the WABA");
    });
    let acked = Arc::new(Mutex::new(Acked::default()));
    let messages = Arc::new(Mutex::new(Vec::new()));
    let mut load: Vec<_> =
        (0..WRITERS).map(|n| rt.spawn(writer(server.url.clone(), w.clone(), acked.clone(), n))).collect();
    load.extend((0..2).map(|_| rt.spawn(customer(server.url.clone(), w.clone(), messages.clone()))));
    std::thread::sleep(Duration::from_millis(800));

    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the server did not stop within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "SIGTERM: {status}");
    rt.block_on(async {
        for handle in load {
            handle.await.unwrap();
        }
    });

    server = start(&data, None);
    let acked = acked.lock().unwrap();
    let messages = messages.lock().unwrap().clone();
    assert!(!acked.users.is_empty() && !messages.is_empty(), "nothing was acknowledged before SIGTERM");
    rt.block_on(check(&server.url, &w, &acked));
    // Every customer message acknowledged before the stop reaches the receiver, before or after it.
    let waited = std::time::Instant::now();
    loop {
        let missing: Vec<String> =
            messages.iter().filter(|id| !received.lock().unwrap().contains(*id)).cloned().collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "{} of {} webhooks lost: {missing:?}",
            missing.len(),
            messages.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "SIGTERM under load: exit 0; {} system users, {} tokens, {} assignments and {} webhooks, all there",
        acked.users.len(),
        acked.tokens.len(),
        acked.assigned.len(),
        messages.len()
    );
    drop(server);
}

#[test]
fn a_backup_taken_under_load_is_a_consistent_store() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data, None);
    let w = Arc::new(world(&data));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let writers: Vec<_> =
        (0..WRITERS).map(|n| rt.spawn(writer(server.url.clone(), w.clone(), acked.clone(), n))).collect();
    std::thread::sleep(Duration::from_millis(500));
    // Everything acknowledged before the backup starts is in it.
    let before = {
        let acked = acked.lock().unwrap();
        Acked { users: acked.users.clone(), tokens: acked.tokens.clone(), assigned: acked.assigned.clone() }
    };
    let copy_dir = dir.path().join("restored");
    std::fs::create_dir_all(&copy_dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wabagate"))
        .args(["backup", "--data"])
        .arg(&data)
        .arg("--to")
        .arg(copy_dir.join("wabagate.db"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("integrity checked"));
    // A second backup to the same file is refused; so is a missing store.
    let again = Command::new(env!("CARGO_BIN_EXE_wabagate"))
        .args(["backup", "--data"])
        .arg(&data)
        .arg("--to")
        .arg(copy_dir.join("wabagate.db"))
        .output()
        .unwrap();
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists"));
    let missing = Command::new(env!("CARGO_BIN_EXE_wabagate"))
        .args(["backup", "--data", "/nonexistent", "--to"])
        .arg(dir.path().join("x.db"))
        .output()
        .unwrap();
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("no store"));
    drop(server);
    rt.block_on(async {
        for handle in writers {
            handle.await.unwrap();
        }
    });
    // The copy starts as a store of its own and holds what was acknowledged before it.
    std::fs::copy(data.join("bootstrap.json"), copy_dir.join("bootstrap.json")).unwrap();
    let restored = start(&copy_dir, None);
    assert!(!before.users.is_empty(), "nothing was written before the backup");
    rt.block_on(check(&restored.url, &w, &before));
}

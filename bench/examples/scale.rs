//! wabagate at scale: a store with 1M system users, 100k WABAs, 10M assignments and 1M tokens.
//! Reports the time from start to serving, resident memory, and the hot path against the demo
//! world, alternating the two servers under the same load (wrk).
//!
//!     cargo build --release -p wabagate
//!     cargo run --release -p wabagate-bench --example scale -- [FACTOR] [SECONDS] [DIR]
//!
//! FACTOR scales every count (default 1.0: the full 10M grants; 0.01 for a quick look). DIR keeps
//! the filled store (and its keys) for the next run, which reuses it instead of filling again.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use model::*;
use service::secrets;
use store::{SqliteStore, Store};
use wabagate_bench::{Run, Server, employee_with_task, free_port, rss_mib, wait_for_file, wait_for_within, wrk};

/// Per business: system users, WABAs, assignments per system user.
const SYSTEM_USERS_PER_BUSINESS: usize = 10_000;
const WABAS_PER_BUSINESS: usize = 1_000;
const ASSIGNMENTS_PER_SYSTEM_USER: usize = 10;
/// Changes per transaction while filling the store.
const BATCH: usize = 100_000;

#[derive(serde::Serialize, serde::Deserialize)]
struct Keys {
    admin_token: String,
    employee_token: String,
    waba: GraphId,
    business: GraphId,
    /// The first business's app (its secret is `secret`).
    app: GraphId,
}

fn gid(n: u64) -> GraphId {
    GraphId(1_000_000_000_000_000 + n)
}

/// Fills a store: `businesses` businesses, each with an app, its system users (the first an
/// ADMIN), its WABAs with a phone number each, assignments and one token per system user.
fn fill(store: &dyn Store, businesses: usize, per_business: usize, wabas_per_business: usize) -> Keys {
    let total = businesses * (1 + 1 + per_business * (1 + 1 + ASSIGNMENTS_PER_SYSTEM_USER) + wabas_per_business * 2);
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("filling [{bar:40}] {pos}/{len} changes ({eta})").unwrap().progress_chars("=> "),
    );
    let mut batch = Vec::with_capacity(BATCH);
    let flush = |batch: &mut Vec<Change>, force: bool| {
        if batch.len() >= BATCH || (force && !batch.is_empty()) {
            store.commit(0, batch, &[]).expect("the store takes the batch");
            bar.inc(batch.len() as u64);
            batch.clear();
        }
    };
    let mut next = 0u64;
    let mut id = || {
        next += 1;
        gid(next)
    };
    let admin_token = secrets::new_token();
    let employee_token = secrets::new_token();
    let all_scopes = ScopeSet::of(&[Scope::BUSINESS_MANAGEMENT, Scope::WHATSAPP_BUSINESS_MANAGEMENT]);
    let mut keys = None;
    for b in 0..businesses {
        let business = id();
        batch.push(Change::Business(Box::new(Business {
            id: business,
            name: format!("Business {b}"),
            timezone_id: 0,
            verification_status: "verified".into(),
            created_time: 0,
            system_user_policy_accepted_at: Some(0),
        })));
        let app = id();
        batch.push(Change::App(Box::new(App {
            id: app,
            business,
            name: format!("App {b}"),
            secret: "secret".into(),
            require_appsecret_proof: false,
            created_time: 0,
        })));
        let wabas: Vec<GraphId> = (0..wabas_per_business).map(|_| id()).collect();
        for (i, w) in wabas.iter().enumerate() {
            batch.push(Change::Waba(Box::new(Waba {
                id: *w,
                owner: business,
                name: format!("WABA {b}-{i}"),
                currency: "USD".into(),
                timezone_id: "1".into(),
                message_template_namespace: "ns".into(),
                account_review_status: "APPROVED".into(),
                created_time: 0,
                primary_funding_id: None,
            })));
            batch.push(Change::PhoneNumber(Box::new(PhoneNumber {
                id: id(),
                waba: *w,
                display_phone_number: format!("+1 555-{b:03}-{i:04}"),
                verified_name: format!("WABA {b}-{i}"),
                status: "CONNECTED".into(),
                code_verification_status: "VERIFIED".into(),
                quality_rating: "GREEN".into(),
                created_time: 0,
                pin_hash: None,
                pending_code: None,
                last_onboarded_time: None,
            })));
        }
        flush(&mut batch, false);
        for u in 0..per_business {
            let su = id();
            let role = if u == 0 { Role::Admin } else { Role::Employee };
            batch.push(Change::SystemUser(Box::new(SystemUser {
                id: su,
                business,
                name: format!("System User {b}-{u}"),
                role,
                finance_permission: None,
                created_by: None,
                created_time: 0,
                apps: IdSet::from([app]),
            })));
            let hash = match (b, u) {
                (0, 0) => secrets::token_hash(&admin_token),
                (0, 1) => secrets::token_hash(&employee_token),
                _ => secrets::token_hash(&format!("unused-{b}-{u}")),
            };
            batch.push(Change::Token(Box::new(Token {
                id: id(),
                hash,
                system_user: su,
                app,
                scopes: all_scopes,
                issued_at: 0,
                expires_at: None,
                revoked_at: None,
                last_used_at: None,
            })));
            for k in 0..ASSIGNMENTS_PER_SYSTEM_USER {
                let waba = wabas[(u * ASSIGNMENTS_PER_SYSTEM_USER + k) % wabas.len()];
                // The bench employee holds only VIEW_TEMPLATES, to be refused on phone numbers.
                let tasks =
                    if (b, u) == (0, 1) { TaskSet::of(&[Task::ViewTemplates]) } else { TaskSet::of(&[Task::Develop]) };
                batch.push(Change::Assign(Assignment { waba, user: su, tasks, assigned_time: 0 }));
            }
            flush(&mut batch, false);
        }
        if b == 0 {
            keys = Some(Keys {
                admin_token: admin_token.clone(),
                employee_token: employee_token.clone(),
                waba: wabas[0],
                business,
                app,
            });
        }
    }
    flush(&mut batch, true);
    bar.finish();
    keys.expect("at least one business")
}

/// Starts the release server over a data directory; returns it, its port, and how long it took
/// until /readyz answered 200.
fn serve(data: &std::path::Path) -> (Server, u16, Duration) {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(|d| d.parent()).map(|d| d.join("wabagate")).unwrap();
    assert!(bin.exists(), "build the server first: cargo build --release -p wabagate");
    let port = free_port();
    let started = Instant::now();
    let child = Command::new(bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    wait_for_within(port, Duration::from_secs(600));
    (server, port, started.elapsed())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let factor: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let per_business = ((SYSTEM_USERS_PER_BUSINESS as f64 * factor.min(1.0)).ceil() as usize).max(2);
    let wabas_per_business =
        ((WABAS_PER_BUSINESS as f64 * factor.min(1.0)).ceil() as usize).max(ASSIGNMENTS_PER_SYSTEM_USER);
    let businesses = ((100.0 * factor.max(0.01)).round() as usize).clamp(1, 100);

    let temp = tempfile::tempdir().unwrap();
    let big = args.next().map_or_else(|| temp.path().to_path_buf(), std::path::PathBuf::from);
    let saved = big.join(format!("keys-{factor}.json"));
    let fill_start = Instant::now();
    let keys = match std::fs::read_to_string(&saved) {
        Ok(text) => serde_json::from_str(&text).unwrap(),
        Err(_) => {
            std::fs::create_dir_all(&big).unwrap();
            let store = SqliteStore::open(&big.join("wabagate.db")).unwrap();
            let keys = fill(&store, businesses, per_business, wabas_per_business);
            std::fs::write(&saved, serde_json::to_string(&keys).unwrap()).unwrap();
            keys
        }
    };
    let filled = fill_start.elapsed();
    let (system_users, wabas) = (businesses * per_business, businesses * wabas_per_business);
    let grants = system_users * ASSIGNMENTS_PER_SYSTEM_USER;

    // Three starts (the first may read the store from disk, the others from the page cache);
    // the last server stays up for the load.
    let mut starts = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        drop(last.take());
        let (server, port, took) = serve(&big);
        starts.push(took);
        last = Some((server, port));
    }
    let (big_server, big_port) = last.expect("three starts");
    let rss = rss_mib(big_server.0.id());
    let mut sorted = starts.clone();
    sorted.sort();

    // The demo world, for comparison: the same scenarios on a fresh server.
    let demo = tempfile::tempdir().unwrap();
    let (demo_server, demo_port, _) = serve(demo.path());
    wait_for_file(&demo.path().join("bootstrap.json"));
    let b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(demo.path().join("bootstrap.json")).unwrap()).unwrap();
    let s = |k: &str| b[k].as_str().unwrap().to_string();

    // Employees on the demo WABA holding only VIEW_TEMPLATES, as on the large store: both
    // answer a page of one assigned user with a link to the next, and both refuse them phone
    // numbers.
    let demo_base = format!("http://127.0.0.1:{demo_port}/v23.0");
    let employee = || {
        let (admin, business, app, secret, waba) =
            (s("admin_token"), s("business_id"), s("app_id"), s("app_secret"), s("waba_id"));
        employee_with_task(&demo_base, &admin, &business, &app, &secret, &waba, "VIEW_TEMPLATES").1
    };
    employee();
    let demo_employee = employee();
    let scenarios = |port: u16, admin: &str, employee: &str, waba: &str, business: &str, app: &str, secret: &str| {
        vec![
            (
                "GET /{waba}/assigned_users (one per page)",
                format!(
                    "http://127.0.0.1:{port}/v23.0/{waba}/assigned_users?business={business}&limit=1&access_token={admin}"
                ),
            ),
            (
                "GET /{waba}/phone_numbers",
                format!("http://127.0.0.1:{port}/v23.0/{waba}/phone_numbers?access_token={admin}"),
            ),
            (
                "GET /{waba}/phone_numbers (refused: missing task)",
                format!("http://127.0.0.1:{port}/v23.0/{waba}/phone_numbers?access_token={employee}"),
            ),
            ("GET /me (unknown token)", format!("http://127.0.0.1:{port}/v23.0/me?access_token=EAA{}", "x".repeat(64))),
            (
                "GET /debug_token",
                format!("http://127.0.0.1:{port}/v23.0/debug_token?input_token={admin}&access_token={app}%7C{secret}"),
            ),
        ]
    };
    let big_urls = scenarios(
        big_port,
        &keys.admin_token,
        &keys.employee_token,
        &keys.waba.to_string(),
        &keys.business.to_string(),
        &keys.app.to_string(),
        "secret",
    );
    let demo_urls = scenarios(
        demo_port,
        &s("admin_token"),
        &demo_employee,
        &s("waba_id"),
        &s("business_id"),
        &s("app_id"),
        &s("app_secret"),
    );
    let refused =
        format!("http://127.0.0.1:{big_port}/v23.0/{}/phone_numbers?access_token={}", keys.waba, keys.employee_token);
    assert!(wrk(&refused, 1, None, &[]).non_2xx > 0, "the bench employee is refused on phone numbers");

    println!(
        "wabagate at scale: {system_users} system users, {wabas} WABAs, {grants} assignments, {system_users} tokens\n"
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!("| filling the store | {:.1} s |", filled.as_secs_f64());
    println!(
        "| start to serving (median of 3) | {:.2} s ({}) |",
        sorted[1].as_secs_f64(),
        starts.iter().map(|d| format!("{:.2}", d.as_secs_f64())).collect::<Vec<_>>().join(", ")
    );
    println!("| resident memory after start | {rss:.0} MiB |");
    println!();
    println!("| scenario | demo world requests/s | large store requests/s | large/demo | large p99 |");
    println!("|---|---|---|---|---|");
    for ((name, big_url), (_, demo_url)) in big_urls.iter().zip(demo_urls.iter()) {
        let mut best_big = Run::default();
        let mut best_demo = Run::default();
        for _ in 0..2 {
            let r = wrk(demo_url, seconds, None, &[]);
            if r.rps > best_demo.rps {
                best_demo = r;
            }
            let r = wrk(big_url, seconds, None, &[]);
            if r.rps > best_big.rps {
                best_big = r;
            }
        }
        let expect_errors = name.contains("unknown") || name.contains("refused");
        assert!(expect_errors || (best_big.non_2xx == 0 && best_demo.non_2xx == 0), "{name}: errors under load");
        println!(
            "| {name} | {:.0} | {:.0} | {:.0}% | {:.2} ms |",
            best_demo.rps,
            best_big.rps,
            100.0 * best_big.rps / best_demo.rps.max(1.0),
            best_big.p99_ms
        );
    }
    println!("\n| resident memory after the load | {:.0} MiB |", rss_mib(big_server.0.id()));
    drop(demo_server);
}

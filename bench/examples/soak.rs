//! Soak: a release server under a steady mix of reads and writes for a bounded time, with its
//! resident memory sampled along the way and every answer checked.
//!
//!     cargo build --release -p wabagate
//!     cargo run --release -p wabagate-bench --example soak -- [SECONDS] [WORKERS]
//!
//! Defaults: 600 seconds, 16 workers. Each worker loops over a fixed set of system users: four
//! reads (a WABA's assigned users, its phone numbers, debug_token, /me with the user's token) for
//! each write (assign or change tasks, unassign, rename), so the world stays the same size and
//! memory should stay flat. Prints a table of resident memory, requests and errors per interval,
//! then the totals. An answer other than the expected status counts as an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wabagate_bench::{DemoServer, employee_with_task, rss_mib};

const TASKS: [&str; 4] = ["MANAGE_TEMPLATES", "DEVELOP", "VIEW_COST", "MANAGE_TEMPLATES,VIEW_INSIGHTS"];

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
}

struct World {
    base: String,
    admin: String,
    business: String,
    waba: String,
    app_token: String,
    /// (system user, its token)
    users: Vec<(String, String)>,
}

async fn worker(w: Arc<World>, n: usize, until: Instant, counters: Arc<Counters>) {
    let client = reqwest::Client::new();
    let mut i = n;
    while Instant::now() < until {
        let (su, token) = &w.users[i % w.users.len()];
        let admin = w.admin.as_str();
        let requests = [
            client
                .get(format!("{}/{}/assigned_users", w.base, w.waba))
                .query(&[("business", &w.business)])
                .bearer_auth(admin),
            client.get(format!("{}/{}/phone_numbers", w.base, w.waba)).bearer_auth(admin),
            client.get(format!("{}/debug_token", w.base)).query(&[("input_token", token)]).bearer_auth(&w.app_token),
            client.get(format!("{}/me", w.base)).bearer_auth(token),
            match i % 3 {
                0 => client
                    .post(format!("{}/{}/assigned_users", w.base, w.waba))
                    .bearer_auth(admin)
                    .form(&[("user", su.as_str()), ("tasks", TASKS[i % TASKS.len()])]),
                1 => client
                    .delete(format!("{}/{}/assigned_users", w.base, w.waba))
                    .query(&[("user", su.as_str())])
                    .bearer_auth(admin),
                _ => client
                    .post(format!("{}/{}/system_users", w.base, w.business))
                    .bearer_auth(admin)
                    .form(&[("system_user_id", su.clone()), ("name", format!("Soak {i}"))]),
            },
        ];
        for request in requests {
            let ok = match request.send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            counters.requests.fetch_add(1, Ordering::Relaxed);
            if !ok {
                counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        i += 1;
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(600);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let demo = DemoServer::start();
    let pid = demo.server.0.id();
    let base = demo.base.clone();
    let (admin, business, waba, app, secret) =
        (demo.b("admin_token"), demo.b("business_id"), demo.b("waba_id"), demo.b("app_id"), demo.b("app_secret"));
    let users = (0..workers)
        .map(|_| employee_with_task(&base, &admin, &business, &app, &secret, &waba, "MANAGE_TEMPLATES"))
        .collect();
    let w = Arc::new(World { base, admin, business, waba, app_token: format!("{app}|{secret}"), users });

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..workers).map(|n| rt.spawn(worker(w.clone(), n, until, counters.clone()))).collect();

    println!("Soak: {seconds} s, {workers} workers, 4 reads per write, the clients in this process\n");
    println!("| time | resident memory | requests | requests/s in interval | errors |");
    println!("|---|---|---|---|---|");
    let interval = Duration::from_secs((seconds / 10).max(1));
    let first_rss = rss_mib(pid);
    let (mut last_requests, mut peak) = (0, first_rss);
    println!("| 0 s | {first_rss:.1} MiB | 0 | — | 0 |");
    while Instant::now() < until {
        std::thread::sleep(interval.min(until.saturating_duration_since(Instant::now())));
        let rss = rss_mib(pid);
        peak = peak.max(rss);
        let requests = counters.requests.load(Ordering::Relaxed);
        println!(
            "| {} s | {rss:.1} MiB | {requests} | {:.0} | {} |",
            started.elapsed().as_secs(),
            (requests - last_requests) as f64 / interval.as_secs_f64(),
            counters.errors.load(Ordering::Relaxed)
        );
        last_requests = requests;
    }
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    let (requests, errors) = (counters.requests.load(Ordering::Relaxed), counters.errors.load(Ordering::Relaxed));
    let last_rss = rss_mib(pid);
    println!(
        "\nTotal: {requests} requests, {errors} errors; resident memory {first_rss:.1} MiB after the set-up, {last_rss:.1} MiB at the end, {peak:.1} MiB at most"
    );
}

//! Durable writes on PostgreSQL: one server, then two replicas of one database writing at once.
//!
//! Each server gets 32 client connections (as `wrk -t1 -c32` would), each sending writes back to
//! back for the run's length: three of every four are `POST /{waba}/assigned_users` (alternating
//! DEVELOP and VIEW_TEMPLATES on an employee of the connection's own, so that one in three repeats
//! what the employee holds and changes nothing), the fourth creates a system user. A
//! write is counted once answered 200; any other answer is a refusal. Meanwhile a prober creates
//! a system user on one replica and asks the other for it until it answers: the time from the
//! acknowledgement to the first answer is one visibility sample.
//!
//!     cargo run --release -p wabagate-bench --example pgwrites -- [SECONDS] [postgres://…]
//!
//! Defaults: 10 s per run, the URL of WABAGATE_TEST_DATABASE or postgres://postgres@127.0.0.1:5432/test.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use testkit::TestServer;
use wabagate_bench::{ms, percentile};

const CONNECTIONS: usize = 32;

#[derive(Default)]
struct Tally {
    ok: u64,
    refused: u64,
    latencies: Vec<Duration>,
}

/// One client connection's loop of writes against `server` until `stop`.
#[allow(clippy::too_many_arguments)]
async fn writer(
    client: reqwest::Client,
    server: String,
    waba: String,
    biz: String,
    admin: String,
    user: String,
    lane: usize,
    stop: Arc<AtomicBool>,
) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let started = Instant::now();
        let sent = if n.is_multiple_of(4) {
            let name = format!("Bench Bot {lane}-{n}");
            client
                .post(format!("{server}/v23.0/{biz}/system_users"))
                .query(&[("access_token", admin.as_str())])
                .form(&[("name", name.as_str()), ("role", "EMPLOYEE")])
                .send()
                .await
        } else {
            let tasks = if n.is_multiple_of(2) { "DEVELOP" } else { "VIEW_TEMPLATES" };
            client
                .post(format!("{server}/v23.0/{waba}/assigned_users"))
                .query(&[("access_token", admin.as_str())])
                .form(&[("user", user.as_str()), ("tasks", tasks)])
                .send()
                .await
        };
        let status = match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                let _ = r.bytes().await;
                status
            }
            Err(_) => 0,
        };
        tally.latencies.push(started.elapsed());
        if status == 200 {
            tally.ok += 1;
        } else {
            tally.refused += 1;
        }
    }
    tally
}

/// Creates system users on `from` and waits for each on `to`, until `stop`.
async fn prober(from: String, to: String, biz: String, admin: String, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut samples = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let created = client
            .post(format!("{from}/v23.0/{biz}/system_users"))
            .query(&[("access_token", admin.as_str())])
            .form(&[("name", format!("Probe {n}").as_str()), ("role", "EMPLOYEE")])
            .send()
            .await;
        let Ok(created) = created else { continue };
        let Ok(body) = created.json::<serde_json::Value>().await else { continue };
        let Some(id) = body["id"].as_str().map(str::to_string) else { continue };
        let acked = Instant::now();
        loop {
            let seen = client.get(format!("{to}/v23.0/{id}")).query(&[("access_token", admin.as_str())]).send().await;
            if seen.map(|r| r.status().as_u16() == 200).unwrap_or(false) {
                samples.push(acked.elapsed());
                break;
            }
            assert!(acked.elapsed() < Duration::from_secs(10), "an acknowledged write never reached the other replica");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    samples
}

struct Row {
    name: String,
    seconds: f64,
    tally: Tally,
    visible: Vec<Duration>,
}

async fn run(servers: &[&TestServer], world: &TestServer, users: &[String], seconds: u64, name: &str) -> Row {
    let (waba, biz, admin) = (world.b("waba_id"), world.b("business_id"), world.admin());
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        // One pooled connection per lane: keep-alive, as wrk's connections are.
        let client = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).build().unwrap();
        for lane in 0..CONNECTIONS {
            let user = &users[i * CONNECTIONS + lane];
            writers.push(tokio::spawn(writer(
                client.clone(),
                server.url.clone(),
                waba.clone(),
                biz.clone(),
                admin.clone(),
                user.clone(),
                i * CONNECTIONS + lane,
                stop.clone(),
            )));
        }
    }
    let probe = (servers.len() == 2).then(|| {
        tokio::spawn(prober(servers[0].url.clone(), servers[1].url.clone(), biz.clone(), admin.clone(), stop.clone()))
    });
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut tally = Tally::default();
    for w in writers {
        let t = w.await.unwrap();
        tally.ok += t.ok;
        tally.refused += t.refused;
        tally.latencies.extend(t.latencies);
    }
    let elapsed = started.elapsed().as_secs_f64();
    tally.latencies.sort();
    let mut visible = match probe {
        Some(p) => p.await.unwrap(),
        None => Vec::new(),
    };
    visible.sort();
    Row { name: name.to_string(), seconds: elapsed, tally, visible }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let url = args
        .next()
        .or_else(|| std::env::var(testkit::DATABASE_ENV).ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
    // SAFETY: set before any thread reads the environment.
    unsafe { std::env::set_var(testkit::DATABASE_ENV, &url) };

    let a = TestServer::start().await;
    let mut users = Vec::new();
    for n in 0..2 * CONNECTIONS {
        users.push(a.create_system_user(&format!("Bench Assignee {n}"), "EMPLOYEE").await);
    }
    let one = run(&[&a], &a, &users, seconds, "one server").await;
    let b = a.replica("bench_replica_b").await;
    let two = run(&[&a, &b], &a, &users, seconds, "two replicas at once").await;

    println!(
        "Durable writes on PostgreSQL: {CONNECTIONS} connections per server, {seconds} s per run; \
         3 of 4 writes assign tasks, 1 of 4 creates a system user\n"
    );
    println!("| run | writes/s | refused | p50 | p99 | acknowledged on A → visible on B (p50 / p99 / max, n) |");
    println!("|---|---|---|---|---|---|");
    for row in [one, two] {
        let visible = if row.visible.is_empty() {
            "—".to_string()
        } else {
            format!(
                "{} / {} / {} ({})",
                ms(percentile(&row.visible, 50.0)),
                ms(percentile(&row.visible, 99.0)),
                ms(*row.visible.last().unwrap()),
                row.visible.len()
            )
        };
        println!(
            "| {} | {:.0} | {} | {} | {} | {visible} |",
            row.name,
            row.tally.ok as f64 / row.seconds,
            row.tally.refused,
            ms(percentile(&row.tally.latencies, 50.0)),
            ms(percentile(&row.tally.latencies, 99.0)),
        );
    }
}

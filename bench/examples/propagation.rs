//! How long a revocation takes to reach another replica.
//!
//! Two wabagate servers share one PostgreSQL database (a fresh schema, dropped afterwards). For
//! each of N tokens: revoke it on replica A (`GET /oauth/revoke`), then ask replica B with it until
//! B refuses it (190/460). The time from sending the revocation to B's first refusal is one sample.
//!
//!     cargo run --release -p wabagate-bench --example propagation -- [N] [postgres://…]
//!
//! Defaults: N = 1000, the URL of WABAGATE_TEST_DATABASE or postgres://postgres@127.0.0.1:5432/test.

use std::time::{Duration, Instant};

use testkit::TestServer;
use wabagate_bench::{ms, percentile};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let url = args
        .next()
        .or_else(|| std::env::var(testkit::DATABASE_ENV).ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
    // SAFETY: set before any thread reads the environment.
    unsafe { std::env::set_var(testkit::DATABASE_ENV, &url) };

    let a = TestServer::start().await;
    let b = a.replica("bench_replica_b").await;
    let (su, _) = a.employee("Bench Bot", "business_management").await;
    eprintln!("minting {n} tokens on replica A …");
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        tokens.push(a.mint(&su, "business_management").await);
    }
    // Wait until B knows them all.
    let last = tokens.last().cloned().unwrap_or_default();
    let start = Instant::now();
    while b.get("me", Some(&last), &[]).await.status != 200 {
        assert!(start.elapsed() < Duration::from_secs(30), "replica B never saw the tokens");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let (app, secret, admin) = (a.b("app_id"), a.b("app_secret"), a.admin());
    let mut samples = Vec::with_capacity(n);
    for token in &tokens {
        let sent = Instant::now();
        let r = a
            .get(
                "oauth/revoke",
                Some(&admin),
                &[("client_id", &app), ("client_secret", &secret), ("revoke_token", token)],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        loop {
            let seen = b.get("me", Some(token), &[]).await;
            if seen.body["error"]["error_subcode"] == 460 {
                samples.push(sent.elapsed());
                break;
            }
            assert!(sent.elapsed() < Duration::from_secs(10), "replica B never refused a revoked token");
        }
    }
    samples.sort();
    println!("Revocation propagation between two replicas (PostgreSQL LISTEN/NOTIFY), {n} revocations");
    println!();
    println!("| statistic | time from revoke sent on A to first refusal on B |");
    println!("|---|---|");
    for (name, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0)] {
        println!("| {name} | {} |", ms(percentile(&samples, p)));
    }
    println!("| max | {} |", ms(*samples.last().unwrap_or(&Duration::ZERO)));
    println!("| mean | {} |", ms(samples.iter().sum::<Duration>() / samples.len().max(1) as u32));
}

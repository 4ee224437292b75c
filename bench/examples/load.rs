//! Authorization at the speed of HTTP: wabagate against a bare axum server answering the same
//! bytes (status, body and wabagate's own headers), under the same load generator (wrk),
//! alternating the two so drift hits both.
//!
//!     cargo build --release -p wabagate
//!     cargo run --release -p wabagate-bench --example load -- [SECONDS] [ROUNDS]
//!
//! Needs `wrk` (Debian package wrk). Prints a Markdown table: requests/s, p50 and p99 latency of
//! each scenario on both systems, and wabagate's share of the baseline's requests/s.

use std::path::PathBuf;

use wabagate_bench::{
    CONNECTIONS, DemoServer, Run, Server, THREADS, employee_with_task, free_port, on_server_cpus, placement, wait_for,
    wrk,
};

use axum::http::StatusCode;
use axum::response::IntoResponse;

/// The baseline runs in this program: it gets the allocator wabagate uses, so the two differ
/// only in what wabagate does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The headers of wabagate's answer the baseline repeats (hyper adds date and content-length).
const ECHOED_HEADERS: [&str; 3] = ["content-type", "www-authenticate", "x-fb-trace-id"];

/// The environment variable that hands the baseline process one header's value.
fn header_var(name: &str) -> String {
    format!("WABAGATE_BENCH_HEADER_{}", name.replace('-', "_"))
}

/// The bare server: answers every request with one status, these headers and body.
async fn baseline(port: u16, status: u16, headers: Vec<(String, String)>, body: String) {
    let status = StatusCode::from_u16(status).unwrap();
    let app = axum::Router::new().fallback(move || {
        let (headers, body) = (headers.clone(), body.clone());
        async move {
            let mut response = (status, body).into_response();
            for (name, value) in headers {
                response.headers_mut().insert(
                    axum::http::HeaderName::try_from(name).unwrap(),
                    axum::http::HeaderValue::try_from(value).unwrap(),
                );
            }
            response
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}

struct Scenario {
    name: &'static str,
    path: String,
    /// A wrk Lua script and its arguments, for writes.
    script: Option<(PathBuf, Vec<String>)>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    if std::env::var("WABAGATE_BENCH_BASELINE").is_ok() {
        // A child process: serve the baseline.
        let port: u16 = std::env::var("WABAGATE_BENCH_PORT").unwrap().parse().unwrap();
        let status: u16 = std::env::var("WABAGATE_BENCH_STATUS").unwrap().parse().unwrap();
        let body = std::env::var("WABAGATE_BENCH_BODY").unwrap();
        let headers = ECHOED_HEADERS
            .iter()
            .filter_map(|h| std::env::var(header_var(h)).ok().map(|v| (h.to_string(), v)))
            .collect();
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(baseline(port, status, headers, body));
        return;
    }
    let demo = DemoServer::start();
    let (s, base) = (|k: &str| demo.b(k), demo.base.clone());
    let (admin, waba, biz, app, secret) =
        (s("admin_token"), s("waba_id"), s("business_id"), s("app_id"), s("app_secret"));

    // An employee holding only VIEW_TEMPLATES: refused on phone numbers for a missing task.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (employee, employee_token) = employee_with_task(&base, &admin, &biz, &app, &secret, &waba, "VIEW_TEMPLATES");
    let unknown = format!("EAA{}", "x".repeat(64));
    let script_dir = tempfile::tempdir().unwrap();
    let script = script_dir.path().join("assign.lua");
    std::fs::write(
        &script,
        r#"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local n = 0
function init(args) user = args[1] end
function request()
  n = n + 1
  local tasks = (n % 2 == 0) and "DEVELOP" or "VIEW_TEMPLATES"
  return wrk.format(nil, nil, nil, "user=" .. user .. "&tasks=" .. tasks)
end
"#,
    )
    .unwrap();

    let scenarios = [
        Scenario {
            name: "GET /{waba}/assigned_users (authorized)",
            path: format!("{waba}/assigned_users?business={biz}&access_token={admin}"),
            script: None,
        },
        Scenario {
            name: "GET /{waba}/phone_numbers (authorized)",
            path: format!("{waba}/phone_numbers?access_token={admin}"),
            script: None,
        },
        Scenario {
            name: "GET /{waba}/phone_numbers (refused: missing task)",
            path: format!("{waba}/phone_numbers?access_token={employee_token}"),
            script: None,
        },
        Scenario { name: "GET /me (unknown token)", path: format!("me?access_token={unknown}"), script: None },
        Scenario {
            name: "GET /debug_token",
            path: format!("debug_token?input_token={admin}&access_token={app}%7C{secret}"),
            script: None,
        },
        Scenario {
            name: "POST /{waba}/assigned_users (durable write)",
            path: format!("{waba}/assigned_users?access_token={admin}"),
            script: Some((script.clone(), vec![employee.clone()])),
        },
    ];

    println!(
        "Load: wrk -t{THREADS} -c{CONNECTIONS}, {seconds} s per run, best of {rounds} alternating rounds per system, {}\n",
        placement()
    );
    println!("| scenario | system | requests/s | p50 | p99 | vs baseline |");
    println!("|---|---|---|---|---|---|");
    // No pooled connections: this runtime is idle while wrk runs, longer than the server keeps an
    // idle connection open, and a pooled connection would be found closed only when reused.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    for sc in &scenarios {
        // The exact bytes wabagate answers, for the baseline to answer.
        let url = format!("{base}/{}", sc.path);
        let (status, headers, body) = rt.block_on(async {
            let r = match &sc.script {
                None => client.get(&url).send().await.unwrap(),
                Some((_, args)) => {
                    client.post(&url).form(&[("user", args[0].as_str()), ("tasks", "DEVELOP")]).send().await.unwrap()
                }
            };
            let headers: Vec<(String, String)> = ECHOED_HEADERS
                .iter()
                .filter_map(|h| r.headers().get(*h).map(|v| (h.to_string(), v.to_str().unwrap().to_string())))
                .collect();
            (r.status().as_u16(), headers, r.text().await.unwrap())
        });
        let bport = free_port();
        let mut command = on_server_cpus(std::env::current_exe().unwrap());
        command
            .env("WABAGATE_BENCH_BASELINE", "1")
            .env("WABAGATE_BENCH_PORT", bport.to_string())
            .env("WABAGATE_BENCH_STATUS", status.to_string())
            .env("WABAGATE_BENCH_BODY", &body);
        for (name, value) in &headers {
            command.env(header_var(name), value);
        }
        let _baseline = Server(command.spawn().unwrap());
        wait_for(bport);
        let burl = format!("http://127.0.0.1:{bport}/v23.0/{}", sc.path);
        let (script, args) = match &sc.script {
            Some((s, a)) => (Some(s), a.clone()),
            None => (None, Vec::new()),
        };
        let mut best_base = Run::default();
        let mut best_wg = Run::default();
        for _ in 0..rounds {
            let r = wrk(&burl, seconds, script, &args);
            if r.rps > best_base.rps {
                best_base = r;
            }
            let r = wrk(&url, seconds, script, &args);
            if r.rps > best_wg.rps {
                best_wg = r;
            }
        }
        let expect_refusal = status >= 400;
        assert!(expect_refusal || best_wg.non_2xx == 0, "{}: wabagate answered errors under load", sc.name);
        for (system, r) in [("baseline", best_base), ("wabagate", best_wg)] {
            let ratio = if system == "wabagate" {
                format!("{:.0}%", 100.0 * r.rps / best_base.rps.max(1.0))
            } else {
                "—".into()
            };
            println!("| {} | {system} | {:.0} | {:.2} ms | {:.2} ms | {ratio} |", sc.name, r.rps, r.p50_ms, r.p99_ms);
        }
    }
}

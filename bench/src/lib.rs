//! Helpers shared by the benchmark programs in `examples/` (`cargo run --release -p wabagate-bench --example …`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The p-th percentile (0–100) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub const CONNECTIONS: &str = "32";
pub const THREADS: &str = "1";

/// One measured run of wrk.
#[derive(Clone, Copy, Debug, Default)]
pub struct Run {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_for(port: u16) {
    wait_for_within(port, Duration::from_secs(30))
}

/// Waits until something listens on the port, for at most `limit`.
pub fn wait_for_within(port: u16, limit: Duration) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < limit, "nothing listens on {port} after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn parse_ms(s: &str) -> f64 {
    let s = s.trim();
    if let Some(v) = s.strip_suffix("us") {
        v.parse::<f64>().unwrap_or(0.0) / 1000.0
    } else if let Some(v) = s.strip_suffix("ms") {
        v.parse().unwrap_or(0.0)
    } else if let Some(v) = s.strip_suffix('s') {
        v.parse::<f64>().unwrap_or(0.0) * 1000.0
    } else {
        0.0
    }
}

/// Whether the load generator and the servers run on CPUs of their own: wrk on CPU 0, servers on
/// the others (with `taskset`, from util-linux). On by default with two CPUs or more, so the load
/// generator does not preempt the server it measures (which shows as the scheduler's time slice
/// in p99); `WABAGATE_BENCH_PIN=0` runs everything on every CPU.
pub fn pinned() -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    cpus >= 2 && std::env::var("WABAGATE_BENCH_PIN").map_or(true, |v| v != "0")
}

/// A command for `program`, on the servers' CPUs when [`pinned`].
pub fn on_server_cpus(program: impl AsRef<std::ffi::OsStr>) -> Command {
    on_cpus(program, &format!("1-{}", std::thread::available_parallelism().map_or(1, |n| n.get()) - 1))
}

fn on_cpus(program: impl AsRef<std::ffi::OsStr>, cpus: &str) -> Command {
    if pinned() {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", cpus]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// How the load runs, for a table's heading.
pub fn placement() -> &'static str {
    if pinned() { "wrk on CPU 0, servers on the other CPUs" } else { "wrk and servers on every CPU" }
}

/// Runs wrk against `url` (with a Lua script for writes) and reads its report.
pub fn wrk(url: &str, seconds: u64, script: Option<&PathBuf>, args: &[String]) -> Run {
    let mut cmd = on_cpus("wrk", "0");
    cmd.args(["-t", THREADS, "-c", CONNECTIONS, "-d", &format!("{seconds}s"), "--latency"]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    cmd.arg(url);
    if !args.is_empty() {
        cmd.arg("--").args(args);
    }
    let out = cmd.output().expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut run = Run::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => run.rps = v.parse().unwrap_or(0.0),
            ["50%", v] => run.p50_ms = parse_ms(v),
            ["99%", v] => run.p99_ms = parse_ms(v),
            ["Non-2xx", "or", "3xx", "responses:", v] => run.non_2xx = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    run
}

/// A child process, killed when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until a file exists (a server writes bootstrap.json just after it starts listening).
pub fn wait_for_file(path: &std::path::Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < Duration::from_secs(30), "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Creates a system user on a running server with the app installed, a token with
/// `whatsapp_business_management` only, and `task` on the WABA; returns its id and token.
pub fn employee_with_task(
    base: &str,
    admin: &str,
    business: &str,
    app: &str,
    secret: &str,
    waba: &str,
    task: &str,
) -> (String, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let post = |path: String, form: Vec<(&'static str, String)>| {
            let c = c.clone();
            async move {
                let r = c
                    .post(format!("{base}/{path}"))
                    .query(&[("access_token", admin)])
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                r.json::<serde_json::Value>().await.unwrap()
            }
        };
        let su = post(format!("{business}/system_users"), vec![("name", "Bench Employee".into())]).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        post(format!("{su}/applications"), vec![("business_app", app.to_string())]).await;
        let proof = testkit::appsecret_proof(secret, admin);
        let token = post(
            format!("{su}/access_tokens"),
            vec![
                ("business_app", app.to_string()),
                ("scope", "whatsapp_business_management".into()),
                ("appsecret_proof", proof),
            ],
        )
        .await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let assigned =
            post(format!("{waba}/assigned_users"), vec![("user", su.clone()), ("tasks", task.to_string())]).await;
        assert_eq!(assigned["success"], true, "{assigned}");
        (su, token)
    })
}

/// The resident memory of a process, in MiB (Linux).
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// A release server over a fresh demo world, on the servers' CPUs.
pub struct DemoServer {
    pub server: Server,
    pub port: u16,
    /// `http://127.0.0.1:PORT/v23.0`
    pub base: String,
    /// bootstrap.json, as the server wrote it.
    pub bootstrap: serde_json::Value,
    _data: tempfile::TempDir,
}

impl DemoServer {
    /// Starts target/release/wabagate (beside the running example's examples/ folder).
    pub fn start() -> DemoServer {
        let exe = std::env::current_exe().unwrap();
        let bin = exe.parent().and_then(|d| d.parent()).map(|d| d.join("wabagate")).unwrap();
        assert!(
            bin.exists(),
            "build the server first: cargo build --release -p wabagate ({} is missing)",
            bin.display()
        );
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let server = Server(
            on_server_cpus(&bin)
                .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
                .arg(data.path())
                // `warn` leaves the request log out; WABAGATE_BENCH_RUST_LOG=info measures the
                // default configuration, one log line per request.
                .env("RUST_LOG", std::env::var("WABAGATE_BENCH_RUST_LOG").unwrap_or_else(|_| "warn".into()))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_for(port);
        wait_for_file(&data.path().join("bootstrap.json"));
        let bootstrap =
            serde_json::from_str(&std::fs::read_to_string(data.path().join("bootstrap.json")).unwrap()).unwrap();
        DemoServer { server, port, base: format!("http://127.0.0.1:{port}/v23.0"), bootstrap, _data: data }
    }

    /// A string of bootstrap.json.
    pub fn b(&self, key: &str) -> String {
        self.bootstrap[key].as_str().unwrap().to_string()
    }
}

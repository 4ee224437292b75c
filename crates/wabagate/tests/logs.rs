//! The request log of the real binary: with `--log-format json`, every line is a JSON object,
//! each request is one line with its route, status, latency, app, system user and the
//! `fbtrace_id` its client got, and no token or secret is ever written.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[test]
fn each_request_is_one_json_line_that_a_client_s_fbtrace_id_finds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wabagate"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--log-format", "json", "--data"])
        .arg(&data)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !data.join("bootstrap.json").exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let b: Value = serde_json::from_str(&std::fs::read_to_string(data.join("bootstrap.json")).unwrap()).unwrap();
    let (token, secret) = (b["admin_token"].as_str().unwrap(), b["app_secret"].as_str().unwrap());
    let base = format!("http://127.0.0.1:{port}/v23.0");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (ok_trace, refused_trace) = rt.block_on(async {
        let client = reqwest::Client::new();
        let ok = client.get(format!("{base}/me?access_token={token}")).send().await.unwrap();
        let ok_trace = ok.headers()["x-fb-trace-id"].to_str().unwrap().to_string();
        let waba = b["waba_id"].as_str().unwrap();
        let refused = client
            .post(format!("{base}/{waba}/assigned_users"))
            .bearer_auth(token)
            .form(&[("user", "1"), ("tasks", "['NOT_A_TASK']"), ("client_secret", secret)])
            .send()
            .await
            .unwrap();
        let body: Value = refused.json().await.unwrap();
        (ok_trace, body["error"]["fbtrace_id"].as_str().unwrap().to_string())
    });
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success());

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    let line_of = |trace: &str| {
        let found: Vec<&Value> = lines.iter().filter(|l| l["fbtrace_id"] == trace).collect();
        assert_eq!(found.len(), 1, "one line for {trace}:\n{text}");
        found[0].clone()
    };
    let ok = line_of(&ok_trace);
    assert_eq!(
        (ok["method"].as_str(), ok["route"].as_str(), ok["status"].as_u64()),
        (Some("GET"), Some("/me"), Some(200))
    );
    assert_eq!(ok["app"], b["app_id"]);
    assert_eq!(ok["system_user"], b["admin_system_user_id"]);
    assert!(ok["latency_ms"].as_f64().unwrap() >= 0.0);
    let refused = line_of(&refused_trace);
    assert_eq!(refused["route"], "/{id}/assigned_users");
    assert_eq!(refused["status"], 400);
    assert_eq!(refused["code"], 100);
    assert_eq!(refused["system_user"], b["admin_system_user_id"]);
    for secret in [token, secret, b["person_password"].as_str().unwrap()] {
        assert!(!text.contains(secret), "a secret in the log");
    }
}

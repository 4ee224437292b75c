//! Hostile requests: every one gets a Graph error with the right code (or the 413/414/431 HTTP
//! itself prescribes), never a 5xx; afterwards the server still serves and the store holds what
//! it held.

use std::time::Duration;

use serde_json::Value;
use testkit::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a raw exchange got back: the status and the body (empty when the server closed without
/// an answer).
struct Raw {
    status: Option<u16>,
    body: String,
}

impl Raw {
    #[track_caller]
    fn graph_error(&self, status: u16, code: u64) {
        assert_eq!(self.status, Some(status), "{}", self.body);
        let body: Value = serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body));
        assert_eq!(body["error"]["code"], code, "{}", self.body);
        assert!(body["error"]["fbtrace_id"].is_string(), "{}", self.body);
    }
}

/// Sends `head` then `body` on a fresh connection (the body from another task, so an early
/// answer is read while the body is still going out), and reads the answer.
async fn raw(ts: &TestServer, head: Vec<u8>, body: Vec<u8>) -> Raw {
    let addr = ts.url.trim_start_matches("http://").to_string();
    let stream = TcpStream::connect(&addr).await.expect("the server accepts");
    let (mut read, mut write) = stream.into_split();
    let sender = tokio::spawn(async move {
        // The server may answer and close before taking the whole body: write errors are expected.
        if write.write_all(&head).await.is_ok() {
            for chunk in body.chunks(64 * 1024) {
                if write.write_all(chunk).await.is_err() {
                    break;
                }
            }
        }
        write
    });
    let mut answer = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, read.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
        }
        if complete(&answer) {
            break;
        }
    }
    drop(sender.await);
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text.strip_prefix("HTTP/1.1 ").and_then(|s| s.get(..3)).and_then(|s| s.parse().ok());
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Raw { status, body }
}

/// Whether a response with a content-length has fully arrived.
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
    head.lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>()))
        .and_then(Result::ok)
        .is_some_and(|len| body.len() >= len)
}

fn request(method: &str, target: &str, headers: &[(&str, String)]) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// What the store holds that hostile requests must not change: the business's system users.
async fn system_users(ts: &TestServer) -> Vec<String> {
    ts.get(&format!("{}/system_users", ts.b("business_id")), Some(&ts.admin()), &[("limit", "100")]).await.ids()
}

#[tokio::test]
async fn hostile_requests_get_graph_errors_and_leave_the_server_serving_and_the_store_intact() {
    let ts = TestServer::start().await;
    let (admin, business, waba) = (ts.admin(), ts.b("business_id"), ts.b("waba_id"));
    let (employee, _) = ts.employee("Hostile Target", "business_management").await;
    ts.assign(&waba, &employee, "MANAGE_TEMPLATES").await.ok();
    let before = system_users(&ts).await;
    let users_path = format!("/v23.0/{business}/system_users?access_token={admin}");
    let form = || ("content-type", "application/x-www-form-urlencoded".to_string());

    // A 20 MB body, announced: refused from its headers, 413.
    let huge = vec![b'a'; 20 * 1024 * 1024];
    let r = raw(&ts, request("POST", &users_path, &[form(), ("content-length", huge.len().to_string())]), huge).await;
    r.graph_error(413, 100);
    // A 3 MB body, chunked (no length announced): refused once past the limit, 413.
    let mut chunked = Vec::new();
    for _ in 0..48 {
        chunked.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        chunked.extend(std::iter::repeat_n(b'a', 64 * 1024));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = raw(&ts, request("POST", &users_path, &[form(), ("transfer-encoding", "chunked".into())]), chunked).await;
    r.graph_error(413, 100);
    // The same through multipart.
    let big = reqwest::multipart::Form::new().text("name", "x".repeat(3 * 1024 * 1024));
    let req = ts.client().post(ts.graph(&format!("{business}/system_users"))).bearer_auth(&admin).multipart(big);
    ts.send_raw(req).await.assert_error(413, 100, None);

    // JSON nested 100,000 deep, broken JSON, invalid UTF-8 in JSON: 100.
    let json = |body: Vec<u8>| {
        ts.client()
            .post(ts.graph(&format!("{business}/system_users")))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body)
    };
    let deep = format!("{{\"name\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    ts.send_raw(json(deep.into_bytes())).await.assert_error(400, 100, None);
    ts.send_raw(json(b"{\"name\": \"unterminated".to_vec())).await.assert_error(400, 100, None);
    ts.send_raw(json(b"{\"name\": \"\xff\xfe\"}".to_vec())).await.assert_error(400, 100, None);
    // Invalid UTF-8 in a form body and in the query: 100, not replacement characters.
    let req = ts
        .client()
        .post(ts.graph(&format!("{business}/system_users")))
        .bearer_auth(&admin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=%FF%FE%FD");
    ts.send_raw(req).await.assert_error(400, 100, None);
    let url = format!("{}/v23.0/{business}/system_users?name=%C3%28&access_token={admin}", ts.url);
    ts.send_raw(ts.client().post(url)).await.assert_error(400, 100, None);

    // 10,000 tasks: the same task repeated is one task; 10,000 unknown ones are 100.
    let tasks = vec!["MANAGE_TEMPLATES"; 10_000].join(",");
    ts.post(&format!("{waba}/assigned_users"), Some(&admin), &[("user", &employee), ("tasks", &tasks)]).await.ok();
    let unknown: Vec<String> = (0..10_000).map(|i| format!("TASK_{i}")).collect();
    ts.post(&format!("{waba}/assigned_users"), Some(&admin), &[("user", &employee), ("tasks", &unknown.join(","))])
        .await
        .assert_error(400, 100, None);
    ts.post(&format!("{waba}/assigned_users"), Some(&admin), &[("user", &employee), ("tasks", "MANAGE';--")])
        .await
        .assert_error(400, 100, None);

    // SQL metacharacters in a name are a name like any other.
    let sneaky = "Robert'); DROP TABLE system_users;-- \" OR 1=1 /*";
    let created = ts.post(&format!("{business}/system_users"), Some(&admin), &[("name", sneaky)]).await;
    let sneaky_id = created.ok()["id"].as_str().unwrap().to_string();
    assert_eq!(ts.get(&sneaky_id, Some(&admin), &[("fields", "name")]).await.ok()["name"], sneaky);

    // Path traversal reaches no file: Graph answers for an unknown node.
    for target in ["/v23.0/../../etc/passwd", "/v23.0/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd"] {
        let r = raw(&ts, request("GET", &format!("{target}?access_token={admin}"), &[]), Vec::new()).await;
        let status = r.status.unwrap_or_else(|| panic!("{target}: no answer"));
        assert!((400..500).contains(&status), "{target}: {status} {}", r.body);
        assert!(!r.body.contains("root:"), "{target}: {}", r.body);
        let body: Value = serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("{target}: {}", r.body));
        assert!(body["error"]["code"].is_u64(), "{target}: {}", r.body);
    }
    let r = raw(&ts, request("GET", "/console/../../etc/passwd", &[]), Vec::new()).await;
    assert!(r.status.is_some_and(|s| s < 500) && !r.body.contains("root:"), "{:?} {}", r.status, r.body);

    // A 1 MB header: 431, as HTTP says.
    let r = raw(&ts, request("GET", "/v23.0/me", &[("x-padding", "a".repeat(1024 * 1024))]), Vec::new()).await;
    assert_eq!(r.status, Some(431));
    // A 100 KB token: in a header it is no token (190); in the URL the request line is too long (414).
    let long = format!("EAA{}", "b".repeat(100 * 1024));
    let r = raw(&ts, request("GET", "/v23.0/me", &[("authorization", format!("Bearer {long}"))]), Vec::new()).await;
    r.graph_error(401, 190);
    let r = raw(&ts, request("GET", &format!("/v23.0/me?access_token={long}"), &[]), Vec::new()).await;
    assert_eq!(r.status, Some(414), "{}", r.body);

    // Absurd limits and cursors.
    let list = format!("{business}/system_users");
    ts.get(&list, Some(&admin), &[("limit", "99999999999999999999999999")]).await.assert_error(400, 100, None);
    assert!(!ts.get(&list, Some(&admin), &[("limit", "-5")]).await.data().is_empty());
    assert!(ts.get(&list, Some(&admin), &[("limit", "100000000")]).await.data().len() <= 100);
    for cursor in ["!!!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "MTg0NDY3NDQwNzM3MDk1NTE2MTY", &"QQ".repeat(5000)]
    {
        ts.get(&list, Some(&admin), &[("after", cursor)]).await.assert_error(400, 100, None);
        ts.get(&list, Some(&admin), &[("before", cursor)]).await.assert_error(400, 100, None);
    }

    // TLS on the plain port: hyper's 400 (no request was ever made), and nothing else breaks.
    let client_hello = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x00\x01\x02\x03\x04\x05\x06\x07".to_vec();
    let r = raw(&ts, client_hello, Vec::new()).await;
    assert!(r.status.is_none_or(|s| s == 400), "{:?}", r.status);

    // Still serving, and the store holds what it held plus the one user made on purpose.
    ts.get("me", Some(&admin), &[]).await.ok();
    let mut expected = before.clone();
    expected.push(sneaky_id.clone());
    expected.sort();
    let mut after = system_users(&ts).await;
    after.sort();
    assert_eq!(after, expected);
    let ts = ts.restart().await;
    let mut restarted = system_users(&ts).await;
    restarted.sort();
    assert_eq!(restarted, expected);
    let assigned = ts.get(&format!("{waba}/assigned_users"), Some(&admin), &[("business", &business)]).await;
    let entry = assigned.data().iter().find(|u| u["id"] == employee.as_str()).cloned().expect("still assigned");
    assert_eq!(entry["tasks"], serde_json::json!(["MANAGE_TEMPLATES"]));
}

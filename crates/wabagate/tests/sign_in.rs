//! A crowd of console sign-ins against the real binary: passwords are checked about one per core,
//! the rest are answered 503 with `Retry-After` at once, so memory stays small and the API keeps
//! answering.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A browser at one loopback address with the sign-in form open: its client and the form's token.
async fn open_form(root: &str, address: std::net::IpAddr) -> (reqwest::Client, String) {
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).local_address(address).build().unwrap();
    let page = client.get(format!("{root}/console/sign-in")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let html = page.text().await.unwrap();
    let start = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let token = html[start..start + html[start..].find('"').unwrap()].to_string();
    assert_eq!(cookie, format!("wabagate_sign_in={token}"));
    (client, cookie)
}

#[test]
fn two_hundred_concurrent_sign_ins_stay_small_and_the_api_keeps_answering() {
    let server = common::Binary::start(&[]);
    let (root, admin, email) = (server.url.clone(), server.get("admin_token"), server.get("person_email"));
    let pid = server.pid();
    let baseline = common::rss(pid);
    let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(baseline)));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(common::rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (statuses, api) = rt.block_on(async {
        // 200 clients, each at its own address, each with the form open.
        let mut forms = Vec::new();
        for i in 0..200u32 {
            let address = std::net::Ipv4Addr::new(127, 1, (i / 200) as u8, (i % 200 + 2) as u8);
            forms.push(open_form(&root, address.into()).await);
        }
        let start = Arc::new(tokio::sync::Barrier::new(201));
        let mut storm = Vec::new();
        for (i, (client, cookie)) in forms.into_iter().enumerate() {
            let (start, url) = (start.clone(), format!("{root}/console/sign-in"));
            let token = cookie.split_once('=').unwrap().1.to_string();
            let who = if i % 2 == 0 { format!("nobody{i}@acme.example") } else { email.clone() };
            storm.push(tokio::spawn(async move {
                let form = [("email", who.as_str()), ("password", "not the password"), ("csrf", token.as_str())];
                let request = client.post(url).header("cookie", cookie).form(&form);
                start.wait().await;
                let r = request.send().await.unwrap();
                (r.status().as_u16(), r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()))
            }));
        }
        start.wait().await;
        let began = Instant::now();
        // The API, during the storm.
        let api_client = reqwest::Client::new();
        let mut api = Vec::new();
        while !storm.iter().all(|t| t.is_finished()) {
            let asked = Instant::now();
            let r = api_client.get(format!("{root}/v23.0/me?access_token={admin}")).send().await.unwrap();
            api.push((r.status().as_u16(), asked.elapsed()));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut statuses = Vec::new();
        for t in storm {
            statuses.push(t.await.unwrap());
        }
        eprintln!("the storm took {:?}", began.elapsed());
        (statuses, api)
    });
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);

    let count = |s: u16| statuses.iter().filter(|(status, _)| *status == s).count();
    let (refused, busy) = (count(401), count(503));
    let slowest = api.iter().map(|(_, t)| *t).max().unwrap_or_default();
    eprintln!(
        "sign-ins: {refused} checked and refused (401), {busy} busy (503), others {}; RSS {} MB before, peak {} MB; \
         {} API calls during the storm, slowest {slowest:?}",
        statuses.len() - refused - busy,
        baseline >> 20,
        peak >> 20,
        api.len()
    );
    assert_eq!(refused + busy, 200, "{statuses:?}");
    assert!(refused >= 1 && busy >= 1, "{statuses:?}");
    assert!(statuses.iter().filter(|(s, _)| *s == 503).all(|(_, retry)| retry.as_deref() == Some("1")), "{statuses:?}");
    assert!(peak < 300 << 20, "peak RSS {} MB", peak >> 20);
    assert!(!api.is_empty(), "no API call during the storm");
    assert!(api.iter().all(|(s, _)| *s == 200), "{api:?}");
}

//! The Graph conventions every client relies on (DESIGN.md §4).

use serde_json::{Value, json};
use testkit::TestServer;

#[tokio::test]
async fn any_version_and_unversioned_paths_reach_the_same_node() {
    let ts = TestServer::start().await;
    let want = ts.get("me", Some(&ts.admin()), &[]).await.ok().clone();
    for prefix in ["", "/v2.0", "/v21.0", "/v26.0"] {
        let url = format!("{}{prefix}/me?access_token={}", ts.url, ts.admin());
        assert_eq!(ts.get_url(&url).await.ok(), &want, "{prefix}");
    }
}

#[tokio::test]
async fn the_token_comes_from_the_query_the_form_body_or_a_bearer_header() {
    let ts = TestServer::start().await;
    let biz = ts.b("business_id");
    let path = ts.graph(&format!("{biz}/system_users"));
    let form = ts.client().post(&path).form(&[("name", "Form Token"), ("access_token", &ts.admin())]);
    ts.send_raw(form).await.ok();
    let bearer = ts.client().post(&path).bearer_auth(ts.admin()).form(&[("name", "Bearer Token")]);
    ts.send_raw(bearer).await.ok();
    let names: Vec<Value> = ts
        .get(&format!("{biz}/system_users"), Some(&ts.admin()), &[])
        .await
        .data()
        .iter()
        .map(|i| i["name"].clone())
        .collect();
    assert!(names.contains(&json!("Form Token")) && names.contains(&json!("Bearer Token")), "{names:?}");
}

#[tokio::test]
async fn json_bodies_with_real_arrays_and_a_stray_id_work_as_the_node_sdk_sends_them() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let (su, _) = ts.employee("Node Style", "business_management").await;
    let r = ts
        .post_json(&format!("{waba}/assigned_users"), &ts.admin(), json!({"user": su, "tasks": ["MANAGE"], "id": waba}))
        .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    // DELETE with params in the query, a stray id, and a `{}` JSON body.
    let req = ts
        .client()
        .delete(ts.graph(&format!("{waba}/assigned_users")))
        .query(&[("user", su.as_str()), ("id", waba.as_str()), ("access_token", ts.admin().as_str())])
        .json(&json!({}));
    ts.send_raw(req).await.ok();
    // DELETE with `user` in the body, as Meta's OpenAPI file describes it.
    ts.assign(&waba, &su, "MANAGE").await.ok();
    let req = ts
        .client()
        .delete(ts.graph(&format!("{waba}/assigned_users")))
        .bearer_auth(ts.admin())
        .json(&json!({"user": su}));
    ts.send_raw(req).await.ok();
    let listed =
        ts.get(&format!("{waba}/assigned_users"), Some(&ts.admin()), &[("business", &ts.b("business_id"))]).await;
    assert!(!listed.ids().contains(&su));
    // GET with a `{}` JSON body.
    let req = ts.client().get(ts.graph("me")).query(&[("access_token", ts.admin())]).json(&json!({}));
    ts.send_raw(req).await.ok();
}

#[tokio::test]
async fn tasks_are_read_in_all_four_list_encodings() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let (su, _) = ts.employee("Encodings", "business_management").await;
    let read = || async {
        let r =
            ts.get(&format!("{waba}/assigned_users"), Some(&ts.admin()), &[("business", &ts.b("business_id"))]).await;
        r.data()[0]["tasks"].clone()
    };
    for (encoding, want) in [
        (r#"["DEVELOP","MANAGE_TEMPLATES"]"#, json!(["DEVELOP", "MANAGE_TEMPLATES"])),
        ("MANAGE_PHONE,VIEW_COST", json!(["MANAGE_PHONE", "VIEW_COST"])),
        ("['MESSAGING','VIEW_INSIGHTS']", json!(["MESSAGING", "VIEW_INSIGHTS"])),
    ] {
        ts.assign(&waba, &su, encoding).await.ok();
        assert_eq!(read().await, want, "{encoding}");
    }
    ts.post_json(&format!("{waba}/assigned_users"), &ts.admin(), json!({"user": su, "tasks": ["MANAGE_USERS"]}))
        .await
        .ok();
    assert_eq!(read().await, json!(["MANAGE_USERS"]));
}

#[tokio::test]
async fn a_multipart_form_is_read_like_curl_dash_f_sends_it() {
    let ts = TestServer::start().await;
    let form = reqwest::multipart::Form::new().text("name", "Multipart Bot").text("role", "EMPLOYEE");
    let req = ts
        .client()
        .post(ts.graph(&format!("{}/system_users", ts.b("business_id"))))
        .bearer_auth(ts.admin())
        .multipart(form);
    let id = ts.send_raw(req).await.ok()["id"].as_str().unwrap().to_string();
    assert_eq!(ts.get(&id, Some(&ts.admin()), &[]).await.ok()["name"], "Multipart Bot");
}

#[tokio::test]
async fn fields_select_and_unknown_fields_are_error_100() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let r = ts.get(&waba, Some(&ts.admin()), &[("fields", "name,owner_business_info{name}")]).await;
    assert_eq!(
        r.ok(),
        &json!({"name": "Acme Support", "owner_business_info": {"name": "Acme Messaging Partners", "id": ts.b("business_id")}, "id": waba})
    );
    let r = ts.get(&waba, Some(&ts.admin()), &[("fields", "name,colour")]).await;
    assert_eq!(
        r.assert_error(400, 100, None)["message"],
        "(#100) Tried accessing nonexisting field (colour) on node type (WhatsAppBusinessAccount)"
    );
    ts.get(&waba, Some(&ts.admin()), &[("fields", "name{")]).await.assert_error(400, 100, None);
}

#[tokio::test]
async fn paging_walks_every_page_by_the_absolute_next_link_and_back() {
    let ts = TestServer::start().await;
    let biz = ts.b("business_id");
    for i in 0..11 {
        ts.create_system_user(&format!("Paged {i:02}"), "EMPLOYEE").await;
    }
    let first = ts
        .get(
            &format!("{biz}/system_users"),
            Some(&ts.admin()),
            &[("limit", "5"), ("fields", "id,name"), ("summary", "total_count")],
        )
        .await;
    assert_eq!(first.ok()["summary"], json!({"total_count": 12}));
    assert!(first.ok()["paging"].get("previous").is_none());
    let mut seen = first.ids();
    let mut page = first;
    let mut pages = 1;
    while let Some(next) = page.ok()["paging"].get("next").and_then(Value::as_str).map(str::to_string) {
        assert!(next.starts_with(&format!("{}/v23.0/{biz}/system_users?", ts.url)), "{next}");
        assert!(next.contains("access_token="), "{next}");
        page = ts.get_url(&next).await;
        assert_eq!(page.ok()["summary"], json!({"total_count": 12}), "the original params are carried");
        seen.extend(page.ids());
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 12);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 12);
    // The last page links back to the one before it.
    let previous = page.ok()["paging"]["previous"].as_str().unwrap().to_string();
    assert_eq!(ts.get_url(&previous).await.ids(), seen[5..10].to_vec());
    // And the cursors work as parameters, as the Python SDK uses them.
    let after = page.ok()["paging"]["cursors"]["before"].as_str().unwrap().to_string();
    let r = ts.get(&format!("{biz}/system_users"), Some(&ts.admin()), &[("limit", "5"), ("before", &after)]).await;
    assert_eq!(r.ids(), seen[5..10].to_vec());
}

/// A list of the demo business's system users, two to a page, asked for with a Bearer header
/// and `Host: evil.example`.
async fn first_page_with_a_bearer(ts: &TestServer) -> String {
    for i in 0..3 {
        ts.create_system_user(&format!("Bearer {i}"), "EMPLOYEE").await;
    }
    let req = ts
        .client()
        .get(ts.graph(&format!("{}/system_users", ts.b("business_id"))))
        .bearer_auth(ts.admin())
        .header("host", "evil.example")
        .header("x-forwarded-proto", "https")
        .query(&[("limit", "2")]);
    let page = ts.send_raw(req).await;
    page.ok()["paging"]["next"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_bearer_token_stays_out_of_the_next_link_which_is_on_the_listening_address() {
    let ts = TestServer::start().await;
    let next = first_page_with_a_bearer(&ts).await;
    let path = format!("{}/v23.0/{}/system_users?", ts.url, ts.b("business_id"));
    assert!(next.starts_with(&path), "the link is on the server's own address, not the Host header's: {next}");
    assert!(!next.contains("evil.example") && !next.contains(&ts.admin()), "{next}");
    assert!(!next.contains("access_token"), "{next}");
    // Followed with the same header, it is the second page; without it, there is no token.
    let r = ts.send_raw(ts.client().get(&next).bearer_auth(ts.admin())).await;
    assert_eq!(r.data().len(), 2);
    ts.get_url(&next).await.assert_error(400, 104, None);
}

#[tokio::test]
async fn a_token_in_the_query_is_carried_into_the_next_link() {
    let ts = TestServer::start().await;
    for i in 0..3 {
        ts.create_system_user(&format!("Query {i}"), "EMPLOYEE").await;
    }
    let req = ts
        .client()
        .get(ts.graph(&format!("{}/system_users", ts.b("business_id"))))
        .header("host", "evil.example")
        .query(&[("limit", "2"), ("access_token", &ts.admin())]);
    let next = ts.send_raw(req).await.ok()["paging"]["next"].as_str().unwrap().to_string();
    assert!(next.starts_with(&ts.url), "{next}");
    assert!(next.contains(&format!("access_token={}", ts.admin())), "{next}");
    assert_eq!(ts.get_url(&next).await.data().len(), 2);
}

#[tokio::test]
async fn links_are_built_on_the_configured_public_url() {
    let ts = TestServer::start_configured(|cfg| cfg.public_url = Some("https://graph.example.test".into())).await;
    let next = first_page_with_a_bearer(&ts).await;
    let want = format!("https://graph.example.test/v23.0/{}/system_users?limit=2&after=", ts.b("business_id"));
    assert!(next.starts_with(&want), "{next}");
    // The link names the same page on this server.
    let local = next.replace("https://graph.example.test", &ts.url);
    assert_eq!(ts.send_raw(ts.client().get(&local).bearer_auth(ts.admin())).await.data().len(), 2);
}

#[tokio::test]
async fn unknown_nodes_edges_and_methods_get_graph_errors() {
    let ts = TestServer::start().await;
    let admin = ts.admin();
    let e = ts.get("no_such_alias", Some(&admin), &[]).await.assert_error(404, 803, None).clone();
    assert_eq!(e["message"], "(#803) Some of the aliases you requested do not exist: no_such_alias");
    let e = ts.get("1234567890123456", Some(&admin), &[]).await.assert_error(400, 100, Some(33)).clone();
    assert_eq!(e["type"], "GraphMethodException");
    let e =
        ts.get(&format!("{}/nonsense", ts.b("waba_id")), Some(&admin), &[]).await.assert_error(400, 100, None).clone();
    assert!(e["message"].as_str().unwrap().contains("nonexisting field (nonsense)"));
    let e = ts
        .delete(&format!("{}/system_users", ts.b("business_id")), Some(&admin), &[])
        .await
        .assert_error(400, 100, Some(33))
        .clone();
    assert!(e["message"].as_str().unwrap().starts_with("Unsupported delete request."));
    let r = ts.send_raw(ts.client().put(ts.graph("me")).query(&[("access_token", &admin)])).await;
    r.assert_error(400, 100, Some(33));
    ts.get("a/b/c/d", Some(&admin), &[]).await.assert_error(400, 100, Some(33));
}

#[tokio::test]
async fn broken_bodies_and_parameters_get_error_100_not_a_crash() {
    let ts = TestServer::start().await;
    let path = ts.graph(&format!("{}/system_users", ts.b("business_id")));
    let req =
        ts.client().post(&path).bearer_auth(ts.admin()).header("content-type", "application/json").body("{\"name\":");
    ts.send_raw(req).await.assert_error(400, 100, None);
    let req = ts.client().post(&path).bearer_auth(ts.admin()).header("content-type", "application/json").body("[1,2]");
    ts.send_raw(req).await.assert_error(400, 100, None);
    let r = ts.get(&format!("{}/system_users", ts.b("business_id")), Some(&ts.admin()), &[("limit", "many")]).await;
    r.assert_error(400, 100, None);
    let r = ts.get(&format!("{}/system_users", ts.b("business_id")), Some(&ts.admin()), &[("after", "%%%")]).await;
    r.assert_error(400, 100, None);
    let r = ts
        .post(
            &format!("{}/assigned_users", ts.b("waba_id")),
            Some(&ts.admin()),
            &[("user", "abc"), ("tasks", "MANAGE")],
        )
        .await;
    r.assert_error(400, 100, None);
}

#[tokio::test]
async fn error_envelopes_carry_a_fresh_fbtrace_id_and_no_string_error_data() {
    let ts = TestServer::start().await;
    let a = ts.get("me", Some("garbage"), &[]).await;
    let b = ts.get("me", Some("garbage"), &[]).await;
    let (ea, eb) = (a.assert_error(401, 190, None), b.assert_error(401, 190, None));
    assert_ne!(ea["fbtrace_id"], eb["fbtrace_id"]);
    assert!(ea.get("error_data").is_none());
    let keys: Vec<&String> = ea.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["message", "type", "code", "fbtrace_id"]);
}

#[tokio::test]
async fn summary_true_as_the_python_sdk_sends_it_is_accepted() {
    let ts = TestServer::start().await;
    let r = ts.get(&format!("{}/system_users", ts.b("business_id")), Some(&ts.admin()), &[("summary", "true")]).await;
    assert_eq!(r.ok()["summary"]["total_count"], 1);
}

#[tokio::test]
async fn health_and_readiness_answer_outside_the_graph() {
    let ts = TestServer::start().await;
    let health = ts.client().get(format!("{}/healthz", ts.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = ts.client().get(format!("{}/readyz", ts.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn php_style_arrays_as_curl_dash_f_users_write_them_are_lists() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let (su, _) = ts.employee("Array Bot", "business_management").await;
    let form = reqwest::multipart::Form::new()
        .text("user", su.clone())
        .text("tasks[]", "DEVELOP")
        .text("tasks[]", "VIEW_COST");
    let req = ts.client().post(ts.graph(&format!("{waba}/assigned_users"))).bearer_auth(ts.admin()).multipart(form);
    ts.send_raw(req).await.ok();
    let list =
        ts.get(&format!("{waba}/assigned_users"), Some(&ts.admin()), &[("business", &ts.b("business_id"))]).await;
    assert_eq!(list.data()[0]["tasks"], json!(["DEVELOP", "VIEW_COST"]));
    ts.post(&format!("{waba}/assigned_users"), Some(&ts.admin()), &[("user", &su), ("tasks[0]", "MESSAGING")])
        .await
        .ok();
    let list =
        ts.get(&format!("{waba}/assigned_users"), Some(&ts.admin()), &[("business", &ts.b("business_id"))]).await;
    assert_eq!(list.data()[0]["tasks"], json!(["MESSAGING"]));
}

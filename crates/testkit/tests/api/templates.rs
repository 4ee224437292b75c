use serde_json::{Value, json};
use testkit::TestServer;

fn body(text: &str, example: Option<Value>) -> String {
    let mut c = json!({"type": "BODY", "text": text});
    if let Some(e) = example {
        c["example"] = e;
    }
    json!([c]).to_string()
}

async fn create(ts: &TestServer, name: &str, language: &str, components: &str) -> testkit::Reply {
    ts.post(
        &format!("{}/message_templates", ts.b("waba_id")),
        Some(&ts.admin()),
        &[("name", name), ("language", language), ("category", "UTILITY"), ("components", components)],
    )
    .await
}

#[tokio::test]
async fn a_new_template_is_pending_then_approved_by_the_review_and_readers_see_it() {
    let ts = TestServer::start().await;
    let r =
        create(&ts, "order_update", "en_US", &body("Order {{1}} shipped", Some(json!({"body_text": [["123"]]})))).await;
    let created = r.ok().clone();
    assert_eq!((created["status"].as_str(), created["category"].as_str()), (Some("PENDING"), Some("UTILITY")));
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(ts.get(&id, Some(&ts.admin()), &[("fields", "status")]).await.ok()["status"], "PENDING");

    ts.advance_clock(5);
    // The server's own reviewer may get there first; either way it is approved now.
    ts.service().review_due_templates().await.unwrap();
    let t = ts.get(&id, Some(&ts.admin()), &[]).await;
    assert_eq!(t.ok()["status"], "APPROVED");
    assert_eq!(t.ok()["parameter_format"], "POSITIONAL");
    assert_eq!(t.ok()["components"][0]["example"]["body_text"], json!([["123"]]));
}

#[tokio::test]
async fn templates_are_validated_as_meta_does() {
    let ts = TestServer::start().await;
    let ok = body("Hello", None);
    for (name, language, components) in [
        ("Order_Update", "en_US", ok.as_str()),
        ("order update", "en_US", ok.as_str()),
        ("ok_name", "english", ok.as_str()),
        ("ok_name", "en_US", "[]"),
        ("ok_name", "en_US", "not json"),
        ("ok_name", "en_US", r#"[{"type":"FOOTER","text":"x"}]"#),
        ("ok_name", "en_US", r#"[{"type":"BODY","text":"a"},{"type":"BODY","text":"b"}]"#),
        ("ok_name", "en_US", r#"[{"type":"BODY","text":"{{1}} and {{3}}","example":{"body_text":[["a","b"]]}}]"#),
        ("ok_name", "en_US", r#"[{"type":"SIDEBAR","text":"x"}]"#),
    ] {
        let r = create(&ts, name, language, components).await;
        let e = r.assert_error(400, 100, None);
        assert_eq!(e["message"], "Invalid parameter", "{name} {language} {components}");
        assert!(e["error_user_msg"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let r = create(&ts, "needs_example", "en_US", &body("Hi {{1}}", None)).await;
    let e = r.assert_error(400, 100, Some(2388043));
    assert_eq!(e["error_user_msg"], "component of type BODY is missing expected field(s) (example)");
    let r = ts
        .post(
            &format!("{}/message_templates", ts.b("waba_id")),
            Some(&ts.admin()),
            &[("name", "x"), ("language", "en_US"), ("category", "PROMO"), ("components", &ok)],
        )
        .await;
    r.assert_error(400, 100, None);
    let r = ts
        .post(
            &format!("{}/message_templates", ts.b("waba_id")),
            Some(&ts.admin()),
            &[("name", "x"), ("language", "en_US"), ("category", "UTILITY")],
        )
        .await;
    assert_eq!(r.assert_error(400, 100, None)["message"], "(#100) The parameter components is required");
}

#[tokio::test]
async fn named_parameters_need_named_examples() {
    let ts = TestServer::start().await;
    let components = json!([{
        "type": "BODY",
        "text": "Hi {{first_name}}, order {{order_id}}",
        "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ada"}, {"param_name": "order_id", "example": "7"}]}
    }]);
    let r = ts
        .post_json(
            &format!("{}/message_templates", ts.b("waba_id")),
            &ts.admin(),
            json!({"name": "named_one", "language": "en", "category": "MARKETING", "parameter_format": "NAMED", "components": components}),
        )
        .await;
    let id = r.ok()["id"].as_str().unwrap().to_string();
    assert_eq!(
        ts.get(&id, Some(&ts.admin()), &[("fields", "parameter_format")]).await.ok()["parameter_format"],
        "NAMED"
    );
    let missing = json!([{"type": "BODY", "text": "Hi {{first_name}}", "example": {"body_text_named_params": []}}]);
    let r = ts
        .post_json(
            &format!("{}/message_templates", ts.b("waba_id")),
            &ts.admin(),
            json!({"name": "named_two", "language": "en", "category": "MARKETING", "parameter_format": "NAMED", "components": missing}),
        )
        .await;
    r.assert_error(400, 100, Some(2388043));
}

#[tokio::test]
async fn a_duplicate_name_and_language_is_refused_but_another_language_is_fine() {
    let ts = TestServer::start().await;
    create(&ts, "greeting", "en_US", &body("Hello", None)).await.ok();
    let e = create(&ts, "greeting", "en_US", &body("Hello again", None))
        .await
        .assert_error(400, 100, Some(2388024))
        .clone();
    assert_eq!(e["error_user_title"], "Content in This Language Already Exists");
    create(&ts, "greeting", "pt_BR", &body("Olá", None)).await.ok();
}

#[tokio::test]
async fn a_waba_holds_at_most_250_templates() {
    let ts = TestServer::start().await;
    // The demo world has one template already.
    for i in 1..250 {
        create(&ts, &format!("t_{i:03}"), "en_US", &body("Hello", None)).await.ok();
    }
    let e =
        create(&ts, "one_too_many", "en_US", &body("Hello", None)).await.assert_error(400, 100, Some(2388019)).clone();
    assert_eq!(e["error_user_title"], "Message template limit exceeded");
    let r = ts
        .get(
            &format!("{}/message_templates", ts.b("waba_id")),
            Some(&ts.admin()),
            &[("summary", "total_count,message_template_count,message_template_limit"), ("limit", "1")],
        )
        .await;
    assert_eq!(r.ok()["summary"]["message_template_count"], 250);
    assert_eq!(r.ok()["summary"]["message_template_limit"], 250);
}

#[tokio::test]
async fn listing_filters_by_name_status_category_and_language_and_pages() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    for (name, lang) in [("alpha", "en_US"), ("alpha", "es"), ("beta", "en_US"), ("gamma", "en_US")] {
        create(&ts, name, lang, &body("x", None)).await.ok();
    }
    let list = |params: Vec<(&'static str, String)>| {
        let ts = &ts;
        let waba = waba.clone();
        async move {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = ts.get(&format!("{waba}/message_templates"), Some(&ts.admin()), &params).await;
            r.data()
                .iter()
                .map(|t| {
                    format!(
                        "{}:{}:{}",
                        t["name"].as_str().unwrap(),
                        t["language"].as_str().unwrap(),
                        t["status"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let mut by_name = list(vec![("name", "alpha".into())]).await;
    by_name.sort();
    assert_eq!(by_name, ["alpha:en_US:PENDING", "alpha:es:PENDING"]);
    assert_eq!(list(vec![("status", r#"["APPROVED"]"#.into())]).await, ["hello_world:en_US:APPROVED"]);
    assert_eq!(list(vec![("status", "PENDING".into()), ("language", "es".into())]).await, ["alpha:es:PENDING"]);
    assert_eq!(list(vec![("category", "MARKETING".into())]).await.len(), 0);
    let page = ts.get(&format!("{waba}/message_templates"), Some(&ts.admin()), &[("limit", "2")]).await;
    assert_eq!(page.data().len(), 2);
    let next = page.ok()["paging"]["next"].as_str().unwrap().to_string();
    assert_eq!(ts.get_url(&next).await.data().len(), 2);
}

#[tokio::test]
async fn pywa_s_template_request_gets_every_field_and_counter_it_reads() {
    let ts = TestServer::start().await;
    let fields = "id,name,language,category,status,components,parameter_format,message_send_ttl_seconds,correct_category,previous_category,rejected_reason,library_template_name,quality_score,cta_url_link_tracking_opted_out,sub_category,degrees_of_freedom_spec";
    let r = ts
        .get(
            &format!("{}/message_templates", ts.b("waba_id")),
            Some(&ts.admin()),
            &[
                ("fields", fields),
                ("summary", "total_count,message_template_count,message_template_limit,are_translations_complete"),
            ],
        )
        .await;
    let t = &r.data()[0];
    for key in ["id", "name", "language", "status", "category", "parameter_format", "components"] {
        assert!(t.get(key).is_some(), "{key} missing: {t}");
    }
    assert!(t["quality_score"]["score"].is_string() && t["quality_score"]["date"].is_i64(), "{t}");
    for (_, v) in t.as_object().unwrap() {
        assert!(!v.is_null(), "no nulls: {t}");
    }
    assert_eq!(
        r.ok()["summary"],
        json!({"total_count": 1, "message_template_count": 1, "message_template_limit": 250, "are_translations_complete": true})
    );
}

#[tokio::test]
async fn templates_are_deleted_by_name_by_id_or_by_ids() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let admin = ts.admin();
    create(&ts, "multi", "en_US", &body("x", None)).await.ok();
    create(&ts, "multi", "fr", &body("x", None)).await.ok();
    let one = create(&ts, "single", "en_US", &body("x", None)).await.ok()["id"].as_str().unwrap().to_string();
    let two = create(&ts, "pair_a", "en_US", &body("x", None)).await.ok()["id"].as_str().unwrap().to_string();
    let three = create(&ts, "pair_b", "en_US", &body("x", None)).await.ok()["id"].as_str().unwrap().to_string();
    let path = format!("{waba}/message_templates");
    ts.delete(&path, Some(&admin), &[("name", "multi")]).await.ok();
    ts.delete(&path, Some(&admin), &[("hsm_id", &one), ("name", "single")]).await.ok();
    ts.delete(&path, Some(&admin), &[("hsm_ids", &format!("[\"{two}\",\"{three}\"]"))]).await.ok();
    let left: Vec<String> =
        ts.get(&path, Some(&admin), &[]).await.data().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(left, ["hello_world"]);
    ts.get(&one, Some(&admin), &[]).await.assert_error(400, 100, Some(33));
    ts.delete(&path, Some(&admin), &[("name", "never_was")]).await.assert_error(400, 100, None);
    ts.delete(&path, Some(&admin), &[]).await.assert_error(400, 100, None);
}

#[tokio::test]
async fn editing_a_template_sends_it_back_to_review() {
    let ts = TestServer::start().await;
    let id = ts.get(&format!("{}/message_templates", ts.b("waba_id")), Some(&ts.admin()), &[]).await.data()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = ts
        .post(&id, Some(&ts.admin()), &[("components", &body("Hello {{1}}", Some(json!({"body_text": [["you"]]}))))])
        .await;
    assert_eq!(r.ok(), &json!({"success": true}));
    let t = ts.get(&id, Some(&ts.admin()), &[("fields", "status,components")]).await;
    assert_eq!(t.ok()["status"], "PENDING");
    assert_eq!(t.ok()["components"][0]["text"], "Hello {{1}}");
    ts.post(&id, Some(&ts.admin()), &[("category", "MARKETING")]).await.ok();
    assert_eq!(
        ts.get(&id, Some(&ts.admin()), &[("fields", "previous_category")]).await.ok()["previous_category"],
        "UTILITY"
    );
}

#[tokio::test]
async fn manual_review_approves_or_rejects_with_a_reason() {
    let ts = TestServer::start_with_settings(service::Settings {
        template_review: service::TemplateReview::Manual,
        ..Default::default()
    })
    .await;
    let a = create(&ts, "to_approve", "en_US", &body("x", None)).await.ok()["id"].as_str().unwrap().to_string();
    let b = create(&ts, "to_reject", "en_US", &body("x", None)).await.ok()["id"].as_str().unwrap().to_string();
    ts.advance_clock(3600);
    assert_eq!(ts.service().review_due_templates().await.unwrap(), 0, "manual review never approves by itself");
    let review = |id: &str| format!("{}/_wabagate/templates/{id}/review", ts.url);
    let post = |url: String, params: Vec<(&'static str, &'static str)>, token: String| {
        let req = ts.client().post(url).query(&[("access_token", token)]).form(&params);
        ts.send_raw(req)
    };
    post(review(&a), vec![("status", "APPROVED")], ts.admin()).await.ok();
    post(review(&b), vec![("status", "REJECTED"), ("reason", "PROMOTIONAL")], ts.admin()).await.ok();
    let ta = ts.get(&a, Some(&ts.admin()), &[("fields", "status,rejected_reason")]).await;
    assert_eq!((ta.ok()["status"].as_str(), ta.ok()["rejected_reason"].as_str()), (Some("APPROVED"), Some("NONE")));
    let tb = ts.get(&b, Some(&ts.admin()), &[("fields", "status,rejected_reason")]).await;
    assert_eq!(
        (tb.ok()["status"].as_str(), tb.ok()["rejected_reason"].as_str()),
        (Some("REJECTED"), Some("PROMOTIONAL"))
    );
    post(review(&b), vec![("status", "APPROVED")], ts.admin()).await.assert_error(400, 100, None);
    let (employee_id, employee) = ts.employee("Reviewer", "business_management,whatsapp_business_management").await;
    let c = create(&ts, "to_keep", "en_US", &body("x", None)).await.ok()["id"].as_str().unwrap().to_string();
    // An employee without a task on the WABA does not see its templates; one that manages them is
    // still no admin.
    post(review(&c), vec![("status", "APPROVED")], employee.clone()).await.assert_error(400, 100, Some(33));
    ts.assign(&ts.b("waba_id"), &employee_id, "MANAGE_TEMPLATES").await.ok();
    post(review(&c), vec![("status", "APPROVED")], employee).await.assert_error(403, 200, None);
}

#[tokio::test]
async fn reviewing_a_template_needs_whatsapp_business_management_and_manage_templates() {
    let ts = TestServer::start_with_settings(service::Settings {
        template_review: service::TemplateReview::Manual,
        ..Default::default()
    })
    .await;
    let waba = ts.b("waba_id");
    let id = create(&ts, "under_review", "en_US", &body("x", None)).await.ok()["id"].as_str().unwrap().to_string();
    let review = format!("_wabagate/templates/{id}/review");
    let approve = [("status", "APPROVED")];
    let (_, scopeless) = admin_system_user(&ts, "No scopes", "").await;
    let e = ts.post(&review, Some(&scopeless), &approve).await.assert_error(403, 10, None).clone();
    assert_eq!(e["message"], "(#10) Application does not have permission for this action");
    let (_, messaging) = admin_system_user(&ts, "Messaging only", "whatsapp_business_messaging").await;
    ts.post(&review, Some(&messaging), &approve).await.assert_error(403, 10, None);
    let (partial, managing) = admin_system_user(&ts, "Partial access", "whatsapp_business_management").await;
    ts.assign(&waba, &partial, "VIEW_TEMPLATES,MESSAGING").await.ok();
    let e = ts.post(&review, Some(&managing), &approve).await.assert_error(403, 200, None).clone();
    assert!(e["message"].as_str().unwrap().contains("MANAGE_TEMPLATES"), "{e}");
    let status = async || ts.get(&id, Some(&ts.admin()), &[("fields", "status")]).await.ok()["status"].clone();
    assert_eq!(status().await, "PENDING", "no refused review changed the template");
    ts.assign(&waba, &partial, "MANAGE_TEMPLATES").await.ok();
    ts.post(&review, Some(&managing), &approve).await.ok();
    assert_eq!(status().await, "APPROVED");
}

/// An admin system user with the demo app installed and a token of `scopes`: (id, token).
async fn admin_system_user(ts: &TestServer, name: &str, scopes: &str) -> (String, String) {
    let su = ts.create_system_user(name, "ADMIN").await;
    let token = ts.mint(&su, scopes).await;
    (su, token)
}

//! The client commands, end to end: the real binary against a real server on loopback.

use std::process::{Command, Output};

use serde_json::Value;
use testkit::TestServer;

/// Runs `wabagate ARGS` against the server with a token; (exit code, stdout, stderr).
async fn wabagate(ts: &TestServer, token: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wabagate"));
    cmd.args(args).env("WABAGATE_GRAPH_URL", &ts.url).env_remove("WABAGATE_TOKEN").env_remove("WABAGATE_BUSINESS");
    if let Some(t) = token {
        cmd.env("WABAGATE_TOKEN", t);
    }
    let Output { status, stdout, stderr } = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    (status.code().unwrap_or(-1), String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
}

/// Runs a command that must succeed and print JSON.
async fn json(ts: &TestServer, args: &[&str]) -> Value {
    let (code, out, err) = wabagate(ts, Some(&ts.admin()), &[args, &["--output", "json"]].concat()).await;
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|_| panic!("{args:?} printed no JSON: {out}"))
}

#[tokio::test]
async fn system_users_apps_tokens_and_access_from_the_terminal() {
    let ts = TestServer::start().await;
    let (waba, app, secret) = (ts.b("waba_id"), ts.b("app_id"), ts.b("app_secret"));

    let created = json(&ts, &["system-users", "create", "--name", "Onboarding Bot", "--role", "admin"]).await;
    let id = created[0]["id"].as_str().unwrap().to_string();
    assert_eq!(created[0]["role"], "ADMIN");
    let listed = json(&ts, &["system-users", "list"]).await;
    assert!(listed.as_array().unwrap().iter().any(|u| u["id"] == id.as_str() && u["name"] == "Onboarding Bot"));

    // Names work wherever a system user is asked for.
    json(&ts, &["apps", "install", "--system-user", "Onboarding Bot", "--app", &app]).await;
    let generate = ["tokens", "generate", "--system-user", "Onboarding Bot", "--app", &app, "--scope"];
    let minted = json(&ts, &[&generate[..], &["whatsapp_business_management", "--app-secret", &secret]].concat()).await;
    let token = minted[0]["access_token"].as_str().unwrap().to_string();
    assert_eq!(ts.get("me", Some(&token), &[]).await.ok()["id"], id.as_str());
    let debug = json(&ts, &["tokens", "debug", "--input-token", &token]).await;
    assert_eq!((debug[0]["is_valid"].as_str(), debug[0]["user_id"].as_str()), (Some("true"), Some(id.as_str())));

    json(
        &ts,
        &["access", "grant", "--waba", &waba, "--system-user", "Onboarding Bot", "--tasks", "develop,MANAGE_TEMPLATES"],
    )
    .await;
    let access = json(&ts, &["access", "list", "--waba", &waba]).await;
    let entry = access.as_array().unwrap().iter().find(|u| u["id"] == id.as_str()).cloned().expect("assigned");
    assert_eq!(entry["tasks"], "DEVELOP,MANAGE_TEMPLATES");
    // The same in CSV and as a table.
    let (code, csv, _) =
        wabagate(&ts, Some(&ts.admin()), &["access", "list", "--waba", &waba, "--output", "csv"]).await;
    assert_eq!(code, 0);
    assert!(csv.starts_with("id,name,user_type,tasks\n"), "{csv}");
    assert!(csv.contains(&format!("{id},Onboarding Bot,SYSTEM_USER,\"DEVELOP,MANAGE_TEMPLATES\"")), "{csv}");
    let (_, table, _) = wabagate(&ts, Some(&ts.admin()), &["access", "list", "--waba", &waba]).await;
    assert!(table.starts_with("ID ") && table.contains("Onboarding Bot"), "{table}");

    let wabas = json(&ts, &["wabas", "list"]).await;
    let kinds: Vec<(&str, &str)> = wabas
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["id"].as_str().unwrap(), w["ownership"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&(waba.as_str(), "owned")));
    assert!(kinds.contains(&(ts.b("client_waba_id").as_str(), "client")));

    let client_waba = ts.b("client_waba_id");
    let credit = ts.b("extended_credit_id");
    let shared = json(&ts, &["credit", "share", "--credit-line", &credit, "--waba", &client_waba]).await;
    assert_eq!(shared[0]["waba_id"], client_waba.as_str());
    assert!(!shared[0]["allocation_config_id"].as_str().unwrap().is_empty());

    json(&ts, &["access", "revoke", "--waba", &waba, "--system-user", &id]).await;
    let access = json(&ts, &["access", "list", "--waba", &waba]).await;
    assert!(!access.as_array().unwrap().iter().any(|u| u["id"] == id.as_str()));

    json(&ts, &["system-users", "rename", "--system-user", &id, "--name", "Billing Bot"]).await;
    assert_eq!(ts.get(&id, Some(&ts.admin()), &[]).await.ok()["name"], "Billing Bot");
    json(&ts, &["tokens", "revoke", "--system-user", "Billing Bot"]).await;
    ts.get("me", Some(&token), &[]).await.assert_error(401, 190, Some(460));
}

#[tokio::test]
async fn errors_show_meta_s_message_code_and_trace_id_and_exit_non_zero() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let su = ts.create_system_user("Target", "EMPLOYEE").await;
    // A Graph error: exit 1, with the message, code and fbtrace_id.
    let (code, out, err) =
        wabagate(&ts, Some(&ts.admin()), &["access", "grant", "--waba", &waba, "--system-user", &su, "--tasks", "FLY"])
            .await;
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("(#100) Param tasks[0] must be one of"), "{err}");
    assert!(err.contains("code 100 (OAuthException, HTTP 400), fbtrace_id A"), "{err}");
    let (code, _, err) = wabagate(&ts, Some("EAAnotatoken"), &["wabas", "list", "--business", "1"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("code 190"), "{err}");
    // A wrong command line or an unknown name: exit 2.
    let (code, _, err) = wabagate(&ts, None, &["wabas", "list"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("no token"), "{err}");
    let (code, _, err) =
        wabagate(&ts, Some(&ts.admin()), &["access", "revoke", "--waba", &waba, "--system-user", "Nobody"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("no system user named \"Nobody\""), "{err}");
    // Nothing listening: exit 3.
    let (code, _, err) =
        wabagate(&ts, Some(&ts.admin()), &["--graph-url", "http://127.0.0.1:1", "wabas", "list"]).await;
    assert_eq!(code, 3);
    assert!(err.contains("cannot reach the Graph API"), "{err}");
}

#[test]
fn help_documents_exit_codes_and_every_command_has_an_example() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_wabagate")).args(args).arg("--help").output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let top = help(&[]);
    assert!(top.contains("Exit codes") && top.contains("3  the Graph API could not be reached"), "{top}");
    for command in [
        &["system-users", "list"][..],
        &["system-users", "create"],
        &["system-users", "rename"],
        &["apps", "install"],
        &["tokens", "generate"],
        &["tokens", "debug"],
        &["tokens", "revoke"],
        &["wabas", "list"],
        &["access", "list"],
        &["access", "grant"],
        &["access", "revoke"],
        &["credit", "share"],
    ] {
        assert!(help(command).contains("Example"), "{command:?}");
    }
}

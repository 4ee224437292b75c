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

    // The report: tasks as assigned and as they take effect, and the admin's default.
    let report = json(&ts, &["access", "report"]).await;
    let row = |user: &str| {
        report.as_array().unwrap().iter().find(|r| r["waba_id"] == waba.as_str() && r["user_id"] == user).cloned()
    };
    let bot = row(&id).expect("the bot is in the report");
    assert_eq!(bot["assigned"], "DEVELOP,MANAGE_TEMPLATES");
    let implied = model::TaskSet::of(&[model::Task::Develop, model::Task::ManageTemplates]).expand();
    assert_eq!(bot["effective"], implied.names().join(","));
    assert!(implied.contains(model::Task::Messaging) && !implied.contains(model::Task::Manage));
    let admin = row(&ts.b("admin_system_user_id")).expect("the admin is in the report");
    assert_eq!(
        (admin["assigned"].as_str(), admin["effective"].as_str()),
        (Some("(admin default)"), Some(model::TaskSet::ALL.names().join(",").as_str()))
    );

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
    // A wrong command line or an unknown name: exit 4.
    let (code, _, err) = wabagate(&ts, None, &["wabas", "list"]).await;
    assert_eq!(code, 4);
    assert!(err.contains("no token"), "{err}");
    let (code, _, err) =
        wabagate(&ts, Some(&ts.admin()), &["access", "revoke", "--waba", &waba, "--system-user", "Nobody"]).await;
    assert_eq!(code, 4);
    assert!(err.contains("no system user named \"Nobody\""), "{err}");
    let (code, _, _) = wabagate(&ts, Some(&ts.admin()), &["access", "grant", "--waba", &waba]).await;
    assert_eq!(code, 4);
    // Nothing listening: exit 3.
    let (code, _, err) =
        wabagate(&ts, Some(&ts.admin()), &["--graph-url", "http://127.0.0.1:1", "wabas", "list"]).await;
    assert_eq!(code, 3);
    assert!(err.contains("cannot reach the Graph API"), "{err}");
}

#[test]
fn shell_completions_cover_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_wabagate")).args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["system-users", "access", "plan", "graph-url"] {
            assert!(script.contains(word), "{shell}: {word}");
        }
    }
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
        &["access", "report"],
        &["access", "plan"],
        &["access", "apply"],
        &["completions"],
    ] {
        assert!(help(command).contains("Example"), "{command:?}");
    }
}

/// A business with 200 WABAs and three employees; the admin's token is fixed.
fn many_wabas() -> String {
    let mut toml = String::from(
        r#"
[[business]]
key = "bsp"
name = "Many BSP"

[[app]]
key = "app"
business = "bsp"
name = "Many App"

[[system_user]]
key = "admin"
business = "bsp"
name = "Admin"
role = "ADMIN"
apps = ["app"]

[[token]]
key = "admin"
system_user = "admin"
app = "app"
scopes = ["business_management", "whatsapp_business_management"]
value = "EAAmanymanymanymanymanymanymanymanymanymanymanymanymanymanymanymany"
"#,
    );
    for name in ["Alpha", "Beta", "Gamma"] {
        toml.push_str(&format!("\n[[system_user]]\nkey = \"{name}\"\nbusiness = \"bsp\"\nname = \"{name}\"\n"));
    }
    for i in 0..200 {
        toml.push_str(&format!("\n[[waba]]\nkey = \"w{i}\"\nowner = \"bsp\"\nname = \"WABA {i:03}\"\n"));
    }
    toml
}

const MANY_TOKEN: &str = "EAAmanymanymanymanymanymanymanymanymanymanymanymanymanymanymanymany";

fn access_file(dir: &std::path::Path, body: &str) -> String {
    let path = dir.join("access.toml");
    std::fs::write(&path, body).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn access_as_code_plans_and_applies_over_two_hundred_wabas() {
    let ts = TestServer::with_fixtures(&many_wabas()).await;
    let dir = tempfile::tempdir().unwrap();
    let token = Some(MANY_TOKEN);
    let wabas = json_with(&ts, MANY_TOKEN, &["wabas", "list"]).await;
    let ids: Vec<String> = wabas.as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 200);
    let users = json_with(&ts, MANY_TOKEN, &["system-users", "list"]).await;
    let user = |name: &str| {
        users.as_array().unwrap().iter().find(|u| u["name"] == name).unwrap()["id"].as_str().unwrap().to_string()
    };
    // Gamma is not in the file: its access must stay as it is.
    let first_waba = ids_by_name(&wabas, "WABA 000");
    json_with(
        &ts,
        MANY_TOKEN,
        &["access", "grant", "--waba", &first_waba, "--system-user", "Gamma", "--tasks", "DEVELOP"],
    )
    .await;

    // Alpha on every WABA (by name), Beta on ten (by id).
    let mut body = String::new();
    for i in 0..200 {
        body.push_str(&format!(
            "[[assignment]]\nsystem_user = \"Alpha\"\nwaba = \"WABA {i:03}\"\ntasks = [\"MANAGE\"]\n\n"
        ));
    }
    for i in 0..10 {
        let (beta, id) = (user("Beta"), ids_by_name(&wabas, &format!("WABA {i:03}")));
        body.push_str(&format!(
            "[[assignment]]\nsystem_user = \"{beta}\"\nwaba = \"{id}\"\ntasks = [\"DEVELOP\", \"MANAGE_TEMPLATES\"]\n\n"
        ));
    }
    let file = access_file(dir.path(), &body);
    let (code, out, err) = wabagate(&ts, token, &["access", "plan", "-f", &file]).await;
    assert_eq!(code, 2, "{err}");
    assert!(out.contains("Plan: 210 to add, 0 to change, 0 to remove."), "{out}");
    assert!(
        out.contains(&format!(
            "  + WABA 000 ({}) · Alpha ({}): MANAGE",
            ids_by_name(&wabas, "WABA 000"),
            user("Alpha")
        )),
        "{out}"
    );

    // Without --yes, apply asks; anything but "yes" changes nothing.
    let (code, _, err) = wabagate_stdin(&ts, MANY_TOKEN, &["access", "apply", "-f", &file], "no\n").await;
    assert_eq!(code, 5, "{err}");
    assert_eq!(wabagate(&ts, token, &["access", "plan", "-f", &file]).await.0, 2);
    let (code, _, err) = wabagate(&ts, token, &["access", "apply", "-f", &file, "--yes"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Applied 210 changes."), "{err}");
    let (code, out, _) = wabagate(&ts, token, &["access", "plan", "-f", &file]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("No changes."), "{out}");
    // Applying again changes nothing.
    let (code, _, err) = wabagate(&ts, token, &["access", "apply", "-f", &file, "--yes"]).await;
    assert_eq!((code, err.contains("Applied")), (0, false), "{err}");

    // A smaller file: Alpha keeps 100 WABAs, five of them with other tasks; Beta is gone from
    // the file, so it is not touched; Gamma never was.
    let mut body = String::new();
    for i in 0..100 {
        let tasks = if i < 5 { "\"MANAGE_TEMPLATES\"" } else { "\"MANAGE\"" };
        body.push_str(&format!(
            "[[assignment]]\nsystem_user = \"Alpha\"\nwaba = \"WABA {i:03}\"\ntasks = [{tasks}]\n\n"
        ));
    }
    let file = access_file(dir.path(), &body);
    let (code, out, _) = wabagate(&ts, token, &["access", "plan", "-f", &file, "--output", "json"]).await;
    assert_eq!(code, 2);
    let steps: Value = serde_json::from_str(&out).unwrap();
    let count = |a: &str| steps.as_array().unwrap().iter().filter(|s| s["action"] == a).count();
    assert_eq!((count("add"), count("change"), count("remove")), (0, 5, 100));
    assert_eq!(wabagate(&ts, token, &["access", "apply", "-f", &file, "--yes"]).await.0, 0);
    let business = ts.bootstrap["ids"]["bsp"].as_str().unwrap().to_string();
    let on = |waba: &str| {
        let (ts, waba, business) = (&ts, waba.to_string(), business.clone());
        async move {
            let r =
                ts.get(&format!("{waba}/assigned_users"), Some(MANY_TOKEN), &[("business", business.as_str())]).await;
            r.data().iter().map(|u| (u["name"].as_str().unwrap().to_string(), u["tasks"].clone())).collect::<Vec<_>>()
        }
    };
    let first = on(&ids_by_name(&wabas, "WABA 000")).await;
    assert!(first.contains(&("Alpha".into(), serde_json::json!(["MANAGE_TEMPLATES"]))), "{first:?}");
    assert!(first.contains(&("Beta".into(), serde_json::json!(["DEVELOP", "MANAGE_TEMPLATES"]))), "{first:?}");
    assert!(first.iter().any(|(n, _)| n == "Gamma"), "{first:?}");
    let last = on(&ids_by_name(&wabas, "WABA 199")).await;
    assert!(!last.iter().any(|(n, _)| n == "Alpha"), "{last:?}");
}

#[tokio::test]
async fn a_wrong_access_file_is_refused_before_anything_changes() {
    let ts = TestServer::with_fixtures(&many_wabas()).await;
    let dir = tempfile::tempdir().unwrap();
    for (body, says) in [
        (
            "[[assignment]]\nsystem_user = \"Nobody\"\nwaba = \"WABA 000\"\ntasks = [\"MANAGE\"]\n",
            "no system user \"Nobody\"",
        ),
        (
            "[[assignment]]\nsystem_user = \"Alpha\"\nwaba = \"WABA 999\"\ntasks = [\"MANAGE\"]\n",
            "no WABA \"WABA 999\"",
        ),
        ("[[assignment]]\nsystem_user = \"Alpha\"\nwaba = \"WABA 000\"\ntasks = [\"FLY\"]\n", "unknown task \"FLY\""),
        ("[[assignment]]\nsystem_user = \"Alpha\"\nwaba = \"WABA 000\"\ntasks = []\n", "tasks is empty"),
        ("[[assignment]]\nsystem_user = \"Alpha\"\nwaba = \"WABA 000\"\n", "missing field `tasks`"),
        (
            "[[assignment]]\nsystem_user = \"Alpha\"\nwaba = \"WABA 000\"\ntasks = [\"MANAGE\"]\ncolour = 1\n",
            "unknown field `colour`",
        ),
        (
            "[[assignment]]\nsystem_user = \"Alpha\"\nwaba = \"WABA 000\"\ntasks = [\"MANAGE\"]\n[[assignment]]\nsystem_user = \"Alpha\"\nwaba = \"WABA 000\"\ntasks = [\"DEVELOP\"]\n",
            "listed twice",
        ),
        ("not toml at all [", "access.toml"),
    ] {
        let file = access_file(dir.path(), body);
        let (code, _, err) = wabagate(&ts, Some(MANY_TOKEN), &["access", "apply", "-f", &file, "--yes"]).await;
        assert_eq!(code, 4, "{body}: {err}");
        assert!(err.contains(says), "{body}: {err}");
    }
    let (code, _, err) = wabagate(&ts, Some(MANY_TOKEN), &["access", "plan", "-f", "/nonexistent/access.toml"]).await;
    assert_eq!(code, 4, "{err}");
}

#[tokio::test]
async fn apply_stops_at_the_first_graph_error_and_shows_it() {
    // A client's WABA shared with STANDARD access: MANAGE is beyond its cap.
    let mut fixtures = many_wabas();
    fixtures.push_str(
        "\n[[business]]\nkey = \"client\"\nname = \"Client\"\n\n[[waba]]\nkey = \"zeta\"\nowner = \"client\"\nname = \"Zeta Shared\"\n\n[[share]]\nwaba = \"zeta\"\npartner = \"bsp\"\nlevel = \"STANDARD\"\n",
    );
    let ts = TestServer::with_fixtures(&fixtures).await;
    let dir = tempfile::tempdir().unwrap();
    let body = "[[assignment]]\nsystem_user = \"Alpha\"\nwaba = \"WABA 000\"\ntasks = [\"MANAGE\"]\n\n[[assignment]]\nsystem_user = \"Alpha\"\nwaba = \"Zeta Shared\"\ntasks = [\"MANAGE\"]\n\n[[assignment]]\nsystem_user = \"Beta\"\nwaba = \"Zeta Shared\"\ntasks = [\"DEVELOP\"]\n";
    let file = access_file(dir.path(), body);
    let (code, out, _) = wabagate(&ts, Some(MANY_TOKEN), &["access", "plan", "-f", &file]).await;
    assert_eq!(code, 2);
    assert!(out.contains("Plan: 3 to add, 0 to change, 0 to remove."), "{out}");
    let (code, _, err) = wabagate(&ts, Some(MANY_TOKEN), &["access", "apply", "-f", &file, "--yes"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Applied 1 of 3 changes; then the Graph API refused one:"), "{err}");
    assert!(err.contains("(#200) Permissions error") && err.contains("code 200"), "{err}");
    // What came before the error is applied, what came after is not.
    let (code, out, _) = wabagate(&ts, Some(MANY_TOKEN), &["access", "plan", "-f", &file]).await;
    assert_eq!(code, 2);
    assert!(out.contains("Plan: 2 to add, 0 to change, 0 to remove."), "{out}");
}

fn ids_by_name(wabas: &Value, name: &str) -> String {
    wabas.as_array().unwrap().iter().find(|w| w["name"] == name).unwrap()["id"].as_str().unwrap().to_string()
}

async fn json_with(ts: &TestServer, token: &str, args: &[&str]) -> Value {
    let (code, out, err) = wabagate(ts, Some(token), &[args, &["--output", "json"]].concat()).await;
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap()
}

/// Runs `wabagate ARGS` with this on its standard input.
async fn wabagate_stdin(ts: &TestServer, token: &str, args: &[&str], input: &str) -> (i32, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wabagate"));
    cmd.args(args).env("WABAGATE_GRAPH_URL", &ts.url).env("WABAGATE_TOKEN", token).env_remove("WABAGATE_BUSINESS");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let input = input.to_string();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[tokio::test]
async fn listing_follows_every_page_with_the_token_in_the_header() {
    let ts = TestServer::start().await;
    let before = json(&ts, &["system-users", "list"]).await.as_array().unwrap().len();
    for i in 0..101 {
        ts.create_system_user(&format!("Paged {i:03}"), "EMPLOYEE").await;
    }
    // More than one page of 100: the second comes from `paging.next`, which holds no token.
    let listed = json(&ts, &["system-users", "list"]).await;
    let names: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|u| u["name"].as_str()).collect();
    assert_eq!(names.len(), before + 101);
    assert!(names.contains(&"Paged 000") && names.contains(&"Paged 100"), "{names:?}");
}

#[tokio::test]
async fn csv_output_shows_a_formula_named_waba_as_text() {
    let ts = TestServer::start().await;
    let (waba, formula) = (ts.b("waba_id"), r#"=HYPERLINK("http://x.example","y")"#);
    ts.post(&waba, Some(&ts.admin()), &[("name", formula)]).await.ok();
    for args in [&["access", "report", "--output", "csv"][..], &["access", "list", "--waba", &waba, "--output", "csv"]]
    {
        let (code, out, err) = wabagate(&ts, Some(&ts.admin()), args).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(r#""'=HYPERLINK(""http://x.example"",""y"")""#) || !out.contains("HYPERLINK"), "{out}");
        assert!(!out.lines().any(|l| l.split(',').any(|c| c.trim_start_matches('"').starts_with('='))), "{out}");
    }
    let (_, report, _) = wabagate(&ts, Some(&ts.admin()), &["access", "report", "--output", "csv"]).await;
    assert!(report.contains("'=HYPERLINK"), "{report}");
}

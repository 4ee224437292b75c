//! The rules table, walked over HTTP: for every WABA endpoint of `model::rules::RULES` and every
//! single task, an employee system user holding only that task is allowed or refused exactly as
//! the table says; and a token lacking the endpoint's scope is refused with the scope's code.

use model::Task;
use model::rules::{Operation, RULES, Rule, Target, single_task_allows};
use serde_json::json;
use testkit::{Reply, TestServer};

const ALL_SCOPES: [&str; 3] = ["business_management", "whatsapp_business_management", "whatsapp_business_messaging"];

struct Probe<'a> {
    ts: &'a TestServer,
    token: &'a str,
    label: String,
}

impl Probe<'_> {
    /// Performs the endpoint of `op`. A successful probe that changes state undoes it, so every
    /// probe can run again.
    async fn run(&self, op: Operation) -> Option<Reply> {
        let ts = self.ts;
        let (waba, phone, credit) = (ts.b("waba_id"), ts.b("phone_number_id"), ts.b("extended_credit_id"));
        let t = Some(self.token);
        Some(match op {
            Operation::ReadWaba => ts.get(&waba, t, &[]).await,
            Operation::UpdateWaba => ts.post(&waba, t, &[("name", "Acme Support")]).await,
            Operation::ReadAssignedUsers => {
                ts.get(&format!("{waba}/assigned_users"), t, &[("business", &ts.b("business_id"))]).await
            }
            Operation::ManageAssignedUsers => {
                let su = ts.b("admin_system_user_id");
                ts.delete(&format!("{waba}/assigned_users"), t, &[("user", &su)]).await
            }
            Operation::ReadPhoneNumbers => ts.get(&format!("{waba}/phone_numbers"), t, &[]).await,
            Operation::ManagePhone => {
                ts.post(&format!("{phone}/request_code"), t, &[("code_method", "SMS"), ("language", "en_US")]).await
            }
            Operation::ReadTemplates => ts.get(&format!("{waba}/message_templates"), t, &[]).await,
            Operation::ManageTemplates => {
                let name = format!("probe_{}", self.label.to_lowercase());
                let components = json!([{"type": "BODY", "text": "Probe"}]).to_string();
                let r = ts
                    .post(
                        &format!("{waba}/message_templates"),
                        t,
                        &[("name", &name), ("language", "en_US"), ("category", "UTILITY"), ("components", &components)],
                    )
                    .await;
                if r.status == 200 {
                    ts.delete(&format!("{waba}/message_templates"), Some(&ts.admin()), &[("name", &name)]).await.ok();
                }
                r
            }
            Operation::SendMessages => {
                let body = json!({"messaging_product": "whatsapp", "to": "15551234567", "type": "text", "text": {"body": "hi"}});
                ts.post_json(&format!("{phone}/messages"), self.token, body).await
            }
            Operation::ManageSubscribedApps => ts.post(&format!("{waba}/subscribed_apps"), t, &[]).await,
            // Another app's subscription (an app that is not subscribed has nothing to remove).
            Operation::RemoveAppSubscriptions => {
                ts.delete(&format!("{waba}/subscribed_apps"), t, &[("app_id", "1000000000000001")]).await
            }
            Operation::ReadSubscribedApps => ts.get(&format!("{waba}/subscribed_apps"), t, &[]).await,
            Operation::ReadCost => ts.get(&waba, t, &[("fields", "id,pricing_analytics")]).await,
            Operation::ReadInsights => ts.get(&waba, t, &[("fields", "id,template_analytics")]).await,
            Operation::ShareCredit => {
                let r = ts
                    .post(
                        &format!("{credit}/whatsapp_credit_sharing_and_attach"),
                        t,
                        &[("waba_id", &waba), ("waba_currency", "USD")],
                    )
                    .await;
                if r.status == 200 {
                    let allocation = r.body["allocation_config_id"].as_str().unwrap().to_string();
                    ts.delete(&allocation, Some(&ts.admin()), &[]).await.ok();
                }
                r
            }
            Operation::ReviewTemplates => {
                // A template the admin created, PENDING for the review's few seconds.
                let name = format!("review_{}", self.label.to_lowercase());
                let components = json!([{"type": "BODY", "text": "Probe"}]).to_string();
                let waba_templates = format!("{waba}/message_templates");
                let created = ts
                    .post(
                        &waba_templates,
                        Some(&ts.admin()),
                        &[("name", &name), ("language", "en_US"), ("category", "UTILITY"), ("components", &components)],
                    )
                    .await;
                let id = created.ok()["id"].as_str().unwrap().to_string();
                let r = ts.post(&format!("_wabagate/templates/{id}/review"), t, &[("status", "APPROVED")]).await;
                ts.delete(&waba_templates, Some(&ts.admin()), &[("name", &name)]).await.ok();
                r
            }
            Operation::ReadBusiness
            | Operation::ReadPerson
            | Operation::ListSystemUsers
            | Operation::ReadSystemUser
            | Operation::ManageSystemUsers
            | Operation::InstallApp
            | Operation::ManageTokens
            | Operation::ListWabas
            | Operation::ReadAuditLog
            | Operation::ReadSolutions
            | Operation::ManageSolutions
            | Operation::ReadCreditLines
            | Operation::ManageCreditLines
            | Operation::ShareWabas
            | Operation::ManageWebhookSubscriptions
            | Operation::ExchangeTokens
            | Operation::RedeliverWebhooks => return None,
        })
    }
}

fn waba_rules() -> impl Iterator<Item = &'static Rule> {
    RULES.iter().filter(|r| matches!(r.target, Target::Waba { .. }))
}

/// A finance-editor employee (so credit sharing turns on the task alone) with a token of `scopes`.
async fn finance_employee(ts: &TestServer, name: &str, scopes: &[&str]) -> (String, String) {
    let su = ts.create_system_user(name, "FINANCE_EDITOR").await;
    (su.clone(), ts.mint(&su, &scopes.join(",")).await)
}

#[tokio::test]
async fn every_waba_endpoint_allows_exactly_the_tasks_the_rules_table_names() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    let mut checked = 0;
    for task in Task::ALL {
        let (su, token) = finance_employee(&ts, &format!("Only {task}"), &ALL_SCOPES).await;
        ts.assign(&waba, &su, task.as_str()).await.ok();
        let probe = Probe { ts: &ts, token: &token, label: task.as_str().to_string() };
        for rule in waba_rules() {
            let reply = probe.run(rule.op).await.unwrap_or_else(|| panic!("no probe for {:?}", rule.op));
            let allowed = single_task_allows(rule, task, false).unwrap();
            if allowed {
                assert_eq!(reply.status, 200, "{task} on {}: expected allowed, got {}", rule.endpoints, reply.body);
            } else {
                assert_eq!(
                    (reply.status, reply.body["error"]["code"].as_u64()),
                    (403, Some(200)),
                    "{task} on {}: expected (#200), got {}",
                    rule.endpoints,
                    reply.body
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, Task::ALL.len() * waba_rules().count());
}

#[tokio::test]
async fn every_waba_endpoint_refuses_a_token_without_its_scope() {
    let ts = TestServer::start().await;
    let waba = ts.b("waba_id");
    for rule in waba_rules() {
        let lacking: Vec<&str> =
            ALL_SCOPES.iter().copied().filter(|s| !rule.scopes.iter().any(|r| r.as_str() == *s)).collect();
        let (su, token) = finance_employee(&ts, &format!("Scopeless {:?}", rule.op), &lacking).await;
        ts.assign(&waba, &su, "MANAGE").await.ok();
        let probe = Probe { ts: &ts, token: &token, label: format!("{:?}", rule.op) };
        let reply = probe.run(rule.op).await.unwrap();
        let whatsapp_only = rule.scopes.iter().all(|s| s.as_str().starts_with("whatsapp_"));
        let code = if whatsapp_only { 10 } else { 200 };
        assert_eq!(
            (reply.status, reply.body["error"]["code"].as_u64()),
            (403, Some(code)),
            "{} without {:?}: {}",
            rule.endpoints,
            rule.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            reply.body
        );
    }
}

#[tokio::test]
async fn the_admin_system_user_passes_every_waba_endpoint() {
    let ts = TestServer::start().await;
    let admin = ts.admin();
    let probe = Probe { ts: &ts, token: &admin, label: "admin".into() };
    for rule in waba_rules() {
        let reply = probe.run(rule.op).await.unwrap();
        assert_eq!(reply.status, 200, "{}: {}", rule.endpoints, reply.body);
    }
}

//! `wabagate` as a Graph client: system users, apps, tokens, WABAs and access from the terminal,
//! against wabagate or any Graph-compatible base URL.

mod graph;
pub mod output;
mod plan;

use clap::{Args, Subcommand};
use serde_json::Value;

pub use graph::{CliError, Graph};

/// The exit code of a wrong command line or input file.
pub const USAGE_EXIT: u8 = 4;
use output::{Format, Rows};

/// Where and as whom the client commands call, and how they print.
#[derive(Args, Debug)]
pub struct ClientArgs {
    /// The Graph API's base URL: wabagate's, or https://graph.facebook.com.
    #[arg(long, global = true, env = "WABAGATE_GRAPH_URL", default_value = "http://127.0.0.1:8787")]
    pub graph_url: String,
    /// The access token to call with (a system user's or a person's).
    #[arg(long, global = true, env = "WABAGATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The business to act in; by default the business of the token's user.
    #[arg(long, global = true, env = "WABAGATE_BUSINESS")]
    pub business: Option<String>,
    /// The secret of the token's app: every call then carries its appsecret_proof (minting a
    /// token needs it).
    #[arg(long, global = true, env = "WABAGATE_APP_SECRET", hide_env_values = true)]
    pub app_secret: Option<String>,
    /// The Graph API version in the path.
    #[arg(long, global = true, env = "WABAGATE_API_VERSION", default_value = "v23.0")]
    pub api_version: String,
    /// How results are printed.
    #[arg(long, global = true, value_enum, default_value = "table")]
    pub output: Format,
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// System users of the business: list, create, rename.
    #[command(subcommand, name = "system-users")]
    SystemUsers(SystemUsers),
    /// Install an app on a system user.
    #[command(subcommand)]
    Apps(Apps),
    /// Access tokens: generate, inspect, revoke.
    #[command(subcommand)]
    Tokens(Tokens),
    /// The WhatsApp Business Accounts the business owns and those its clients share with it.
    #[command(subcommand)]
    Wabas(Wabas),
    /// Who holds which tasks on a WABA: list, grant, revoke.
    #[command(subcommand)]
    Access(Access),
    /// Credit lines: share one with a client's WABA.
    #[command(subcommand)]
    Credit(Credit),
}

#[derive(Subcommand, Debug)]
pub enum SystemUsers {
    /// List the business's system users.
    #[command(after_help = "Example:\n  wabagate system-users list --output csv")]
    List,
    /// Create a system user.
    #[command(after_help = "Example:\n  wabagate system-users create --name \"Onboarding Bot\" --role admin")]
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["admin", "employee"], default_value = "employee")]
        role: String,
    },
    /// Rename a system user.
    #[command(
        after_help = "Example:\n  wabagate system-users rename --system-user 1234567890123456 --name \"Billing Bot\""
    )]
    Rename {
        /// The system user's id or name.
        #[arg(long)]
        system_user: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum Apps {
    /// Install an app on a system user (needed before a token of that app can be generated).
    #[command(after_help = "Example:\n  wabagate apps install --system-user \"Onboarding Bot\" --app 1234567890123456")]
    Install {
        /// The system user's id or name.
        #[arg(long)]
        system_user: String,
        #[arg(long)]
        app: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum Tokens {
    /// Generate a token for a system user; prints it once.
    #[command(
        after_help = "Example:\n  wabagate tokens generate --system-user \"Onboarding Bot\" --app 1234567890123456 \\\n    --scope whatsapp_business_management,whatsapp_business_messaging --app-secret $APP_SECRET"
    )]
    Generate {
        /// The system user's id or name.
        #[arg(long)]
        system_user: String,
        #[arg(long)]
        app: String,
        /// Permissions, comma-separated.
        #[arg(long)]
        scope: String,
        #[arg(long, value_parser = ["never", "60d"], default_value = "never")]
        expires: String,
    },
    /// What debug_token says of a token.
    #[command(after_help = "Example:\n  wabagate tokens debug --input-token EAA…")]
    Debug {
        #[arg(long)]
        input_token: String,
    },
    /// Revoke every token of a system user.
    #[command(after_help = "Example:\n  wabagate tokens revoke --system-user \"Onboarding Bot\"")]
    Revoke {
        /// The system user's id or name.
        #[arg(long)]
        system_user: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum Wabas {
    /// List the owned and client WABAs the token can see.
    #[command(after_help = "Example:\n  wabagate wabas list --output json")]
    List,
}

#[derive(Subcommand, Debug)]
pub enum Access {
    /// The business's users assigned to a WABA, with their tasks.
    #[command(after_help = "Example:\n  wabagate access list --waba 1234567890123456")]
    List {
        #[arg(long)]
        waba: String,
    },
    /// Give a system user exactly these tasks on a WABA.
    #[command(
        after_help = "Example:\n  wabagate access grant --waba 1234567890123456 --system-user \"Onboarding Bot\" --tasks MANAGE\n  wabagate access grant --waba 1234567890123456 --system-user 2345678901234567 --tasks DEVELOP,MANAGE_TEMPLATES"
    )]
    Grant {
        #[arg(long)]
        waba: String,
        /// The system user's id or name.
        #[arg(long)]
        system_user: String,
        /// Tasks, comma-separated: MANAGE, DEVELOP, MANAGE_TEMPLATES, …
        #[arg(long)]
        tasks: String,
    },
    /// Who can do what where: every user assigned on every WABA the token can see, with its
    /// tasks as assigned and as they take effect (implied tasks added, the route's cap applied),
    /// and the business's admin system users, who hold every task the cap allows by default.
    #[command(after_help = "Examples:\n  wabagate access report\n  wabagate access report --output csv > access.csv")]
    Report,
    /// Compare the access on every WABA the token can see with a file; exit 2 if they differ.
    #[command(
        after_help = "The file lists [[assignment]] tables:\n\n  [[assignment]]\n  system_user = \"Onboarding Bot\"   # a name or an id\n  waba = \"Acme Support\"            # a name or an id\n  tasks = [\"MANAGE\"]\n\nFor every system user the file names, its assignments on the WABAs the token can see are to be\nexactly those listed; system users it does not name are not touched.\n\nExample:\n  wabagate access plan -f access.toml"
    )]
    Plan {
        /// The access file (TOML).
        #[arg(short, long)]
        file: std::path::PathBuf,
    },
    /// Make the access on every WABA the token can see what a file says (see `access plan`).
    #[command(after_help = "Example:\n  wabagate access apply -f access.toml --yes")]
    Apply {
        /// The access file (TOML).
        #[arg(short, long)]
        file: std::path::PathBuf,
        /// Apply without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Take every task of a system user on a WABA away.
    #[command(
        after_help = "Example:\n  wabagate access revoke --waba 1234567890123456 --system-user \"Onboarding Bot\""
    )]
    Revoke {
        #[arg(long)]
        waba: String,
        /// The system user's id or name.
        #[arg(long)]
        system_user: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum Credit {
    /// Share a credit line with a client's WABA and attach it.
    #[command(
        after_help = "Example:\n  wabagate credit share --credit-line 1234567890123456 --waba 2345678901234567 --currency USD"
    )]
    Share {
        #[arg(long)]
        credit_line: String,
        #[arg(long)]
        waba: String,
        #[arg(long, default_value = "USD")]
        currency: String,
    },
}

/// What a command did: rows to print, or text it printed itself with its exit code.
enum Outcome {
    Rows(Rows),
    Printed(u8),
}

/// Runs a client command; prints its result or its error, and says how to exit.
pub async fn run(args: ClientArgs, command: ClientCommand) -> u8 {
    let graph = Graph::new(&args.graph_url, &args.api_version, args.token.clone(), args.app_secret.as_deref());
    let client = Client { graph, args, business: tokio::sync::OnceCell::new() };
    match client.run(command).await {
        Ok(Outcome::Rows(rows)) => {
            output::print(&rows.render(client.args.output));
            0
        }
        Ok(Outcome::Printed(code)) => code,
        Err(e) => {
            eprintln!("wabagate: {e}");
            e.exit_code()
        }
    }
}

struct Client {
    graph: Graph,
    args: ClientArgs,
    /// The business, once found (a command may need it more than once).
    business: tokio::sync::OnceCell<String>,
}

/// The WABAs a business owns (`true`) and those its clients share with it (`false`), with these
/// fields: every WABA the token can see.
async fn visible_wabas(graph: &Graph, business: &str, fields: &str) -> Result<Vec<(bool, Value)>, CliError> {
    let mut wabas = Vec::new();
    for (edge, owned) in [("owned_whatsapp_business_accounts", true), ("client_whatsapp_business_accounts", false)] {
        let listed = graph.get_all(&format!("{business}/{edge}"), &[("fields", fields)]).await?;
        wabas.extend(listed.into_iter().map(|w| (owned, w)));
    }
    Ok(wabas)
}

/// The tasks of a JSON list, those this build knows.
fn task_set(list: &Value) -> model::TaskSet {
    let mut set = model::TaskSet::EMPTY;
    for task in list.as_array().into_iter().flatten().filter_map(|t| model::Task::parse(t.as_str()?)) {
        set.insert(task);
    }
    set
}

/// Asks on the terminal; only `yes` confirms.
fn confirm(changes: usize) -> Result<bool, CliError> {
    use std::io::{BufRead, Write};
    eprint!("Apply these {changes} changes? Only 'yes' will be accepted: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::Usage(format!("cannot read the answer: {e}")))?;
    Ok(answer.trim() == "yes")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn one(columns: &[&'static str], values: Vec<String>) -> Rows {
    let mut rows = Rows::new(columns);
    rows.push(values);
    rows
}

impl Client {
    async fn run(&self, command: ClientCommand) -> Result<Outcome, CliError> {
        if self.args.token.is_none() {
            return Err(CliError::Usage("no token: pass --token or set WABAGATE_TOKEN".into()));
        }
        let rows = match command {
            ClientCommand::Access(c) => return self.access(c).await,
            ClientCommand::SystemUsers(c) => self.system_users(c).await?,
            ClientCommand::Apps(Apps::Install { system_user, app }) => {
                let su = self.system_user_id(&system_user).await?;
                self.graph.post(&format!("{su}/applications"), &[("business_app", &app)]).await?;
                one(&["system_user", "app", "installed"], vec![su, app, "true".into()])
            }
            ClientCommand::Tokens(c) => self.tokens(c).await?,
            ClientCommand::Wabas(Wabas::List) => self.wabas().await?,
            ClientCommand::Credit(Credit::Share { credit_line, waba, currency }) => {
                let r = self
                    .graph
                    .post(
                        &format!("{credit_line}/whatsapp_credit_sharing_and_attach"),
                        &[("waba_id", &waba), ("waba_currency", &currency)],
                    )
                    .await?;
                one(&["allocation_config_id", "waba_id"], vec![text(&r["allocation_config_id"]), text(&r["waba_id"])])
            }
        };
        Ok(Outcome::Rows(rows))
    }

    /// `access plan` (`apply: None`) and `access apply` (`Some(confirmed)`).
    async fn plan(&self, file: &std::path::Path, apply: Option<bool>) -> Result<Outcome, CliError> {
        let business = self.business().await?;
        let plan = plan::plan(&self.graph, &business, file).await?;
        let shown = file.display().to_string();
        match self.args.output {
            Format::Json => output::print(&plan.json()),
            _ => output::print(&plan.text(&shown)),
        }
        let Some(confirmed) = apply else {
            return Ok(Outcome::Printed(if plan.steps.is_empty() { 0 } else { 2 }));
        };
        if plan.steps.is_empty() {
            return Ok(Outcome::Printed(0));
        }
        if !confirmed && !confirm(plan.steps.len())? {
            return Err(CliError::Cancelled);
        }
        match plan::apply(&self.graph, &plan).await {
            Ok(()) => {
                eprintln!("Applied {} changes.", plan.steps.len());
                Ok(Outcome::Printed(0))
            }
            Err((done, e)) => {
                eprintln!("Applied {done} of {} changes; then the Graph API refused one:", plan.steps.len());
                Err(e)
            }
        }
    }

    /// The business to act in: --business, or the business of the token's user.
    async fn business(&self) -> Result<String, CliError> {
        let found = self.business.get_or_try_init(|| async {
            if let Some(b) = &self.args.business {
                return Ok(b.clone());
            }
            let me = self.graph.get("me", &[("fields", "id,business")]).await?;
            match me.pointer("/business/id").and_then(Value::as_str) {
                Some(b) => Ok(b.to_string()),
                None => Err(CliError::Usage("cannot tell the token's business: pass --business".into())),
            }
        });
        found.await.cloned()
    }

    /// A system user named by id, or by its exact name among the business's system users.
    async fn system_user_id(&self, id_or_name: &str) -> Result<String, CliError> {
        if !id_or_name.is_empty() && id_or_name.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(id_or_name.to_string());
        }
        let business = self.business().await?;
        let users = self.graph.get_all(&format!("{business}/system_users"), &[]).await?;
        let found: Vec<&Value> = users.iter().filter(|u| u["name"] == id_or_name).collect();
        match found.as_slice() {
            [u] => Ok(text(&u["id"])),
            [] => Err(CliError::Usage(format!("business {business} has no system user named \"{id_or_name}\""))),
            _ => Err(CliError::Usage(format!(
                "business {business} has {} system users named \"{id_or_name}\": use an id",
                found.len()
            ))),
        }
    }

    async fn system_users(&self, command: SystemUsers) -> Result<Rows, CliError> {
        let business = self.business().await?;
        match command {
            SystemUsers::List => {
                let users =
                    self.graph.get_all(&format!("{business}/system_users"), &[("fields", "id,name,role")]).await?;
                let mut rows = Rows::new(&["id", "name", "role"]);
                for u in users {
                    rows.push(vec![text(&u["id"]), text(&u["name"]), text(&u["role"])]);
                }
                Ok(rows)
            }
            SystemUsers::Create { name, role } => {
                let role = role.to_uppercase();
                let r =
                    self.graph.post(&format!("{business}/system_users"), &[("name", &name), ("role", &role)]).await?;
                Ok(one(&["id", "name", "role"], vec![text(&r["id"]), name, role]))
            }
            SystemUsers::Rename { system_user, name } => {
                let su = self.system_user_id(&system_user).await?;
                self.graph
                    .post(&format!("{business}/system_users"), &[("system_user_id", &su), ("name", &name)])
                    .await?;
                Ok(one(&["id", "name"], vec![su, name]))
            }
        }
    }

    async fn tokens(&self, command: Tokens) -> Result<Rows, CliError> {
        match command {
            Tokens::Generate { system_user, app, scope, expires } => {
                let su = self.system_user_id(&system_user).await?;
                let mut params = vec![("business_app", app.as_str()), ("scope", scope.as_str())];
                if expires == "60d" {
                    params.push(("set_token_expires_in_60_days", "true"));
                }
                let r = self.graph.post(&format!("{su}/access_tokens"), &params).await?;
                Ok(one(&["access_token"], vec![text(&r["access_token"])]))
            }
            Tokens::Debug { input_token } => {
                let r = self.graph.get("debug_token", &[("input_token", &input_token)]).await?;
                let d = &r["data"];
                let columns =
                    ["is_valid", "type", "app_id", "application", "user_id", "scopes", "issued_at", "expires_at"];
                let mut values: Vec<String> = columns.iter().map(|c| text(&d[*c])).collect();
                let mut columns = columns.to_vec();
                if let Some(e) = d.get("error") {
                    columns.push("error");
                    values.push(text(&e["message"]));
                }
                Ok(one(&columns, values))
            }
            Tokens::Revoke { system_user } => {
                let su = self.system_user_id(&system_user).await?;
                self.graph.delete(&format!("{su}/access_tokens"), &[]).await?;
                Ok(one(&["system_user", "tokens_revoked"], vec![su, "true".into()]))
            }
        }
    }

    async fn wabas(&self) -> Result<Rows, CliError> {
        let business = self.business().await?;
        let mut rows = Rows::new(&["id", "name", "ownership", "currency", "timezone_id"]);
        for (owned, w) in visible_wabas(&self.graph, &business, "id,name,currency,timezone_id").await? {
            let ownership = if owned { "owned" } else { "client" };
            rows.push(vec![
                text(&w["id"]),
                text(&w["name"]),
                ownership.into(),
                text(&w["currency"]),
                text(&w["timezone_id"]),
            ]);
        }
        Ok(rows)
    }

    async fn report(&self) -> Result<Rows, CliError> {
        let business = self.business().await?;
        let users = self.graph.get_all(&format!("{business}/system_users"), &[("fields", "id,name,role")]).await?;
        let admins: Vec<&Value> = users.iter().filter(|u| u["role"] == "ADMIN").collect();
        let mut rows = Rows::new(&["waba_id", "waba", "user_id", "user", "user_type", "assigned", "effective"]);
        for (owned, waba) in visible_wabas(&self.graph, &business, "id,name").await? {
            let (waba_id, waba_name) = (text(&waba["id"]), text(&waba["name"]));
            let params = [("business", business.as_str()), ("fields", "id,name,user_type,tasks,permitted_tasks")];
            let assigned = self.graph.get_all(&format!("{waba_id}/assigned_users"), &params).await?;
            // The cap of the business's route to the WABA: every task on its own WABAs; on a
            // client's, what an assigned user's permitted_tasks says.
            let cap = if owned {
                Some(model::TaskSet::ALL)
            } else {
                assigned.first().map(|u| task_set(&u["permitted_tasks"]))
            };
            for u in &assigned {
                let effective = task_set(&u["tasks"]).expand().intersect(task_set(&u["permitted_tasks"]));
                rows.push(vec![
                    waba_id.clone(),
                    waba_name.clone(),
                    text(&u["id"]),
                    text(&u["name"]),
                    text(&u["user_type"]),
                    text(&u["tasks"]),
                    effective.names().join(","),
                ]);
            }
            for admin in &admins {
                if assigned.iter().any(|u| u["id"] == admin["id"]) {
                    continue;
                }
                let effective = match cap {
                    Some(cap) => cap.names().join(","),
                    None => "every task the share allows".into(),
                };
                let row = vec![
                    waba_id.clone(),
                    waba_name.clone(),
                    text(&admin["id"]),
                    text(&admin["name"]),
                    "SYSTEM_USER".into(),
                    "(admin default)".into(),
                    effective,
                ];
                rows.push(row);
            }
        }
        Ok(rows)
    }

    async fn access(&self, command: Access) -> Result<Outcome, CliError> {
        let rows = match command {
            Access::Plan { file } => return self.plan(&file, None).await,
            Access::Report => self.report().await?,
            Access::Apply { file, yes } => return self.plan(&file, Some(yes)).await,
            Access::List { waba } => {
                let business = self.business().await?;
                let params = [("business", business.as_str()), ("fields", "id,name,user_type,tasks")];
                let users = self.graph.get_all(&format!("{waba}/assigned_users"), &params).await?;
                let mut rows = Rows::new(&["id", "name", "user_type", "tasks"]);
                for u in users {
                    rows.push(vec![text(&u["id"]), text(&u["name"]), text(&u["user_type"]), text(&u["tasks"])]);
                }
                rows
            }
            Access::Grant { waba, system_user, tasks } => {
                let su = self.system_user_id(&system_user).await?;
                let tasks =
                    tasks.split(',').map(|t| t.trim().to_uppercase()).filter(|t| !t.is_empty()).collect::<Vec<_>>();
                let list = serde_json::to_string(&tasks).unwrap_or_default();
                self.graph.post(&format!("{waba}/assigned_users"), &[("user", &su), ("tasks", &list)]).await?;
                one(&["waba", "system_user", "tasks"], vec![waba, su, tasks.join(",")])
            }
            Access::Revoke { waba, system_user } => {
                let su = self.system_user_id(&system_user).await?;
                self.graph.delete(&format!("{waba}/assigned_users"), &[("user", &su)]).await?;
                one(&["waba", "system_user", "tasks"], vec![waba, su, String::new()])
            }
        };
        Ok(Outcome::Rows(rows))
    }
}

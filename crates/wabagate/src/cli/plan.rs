//! Access as code: `access plan -f access.toml` shows how the access on the WABAs the token can
//! see differs from a file, and `access apply` makes it so.
//!
//! ```toml
//! [[assignment]]
//! system_user = "Onboarding Bot"   # a name or an id
//! waba = "Acme Support"            # a name or an id
//! tasks = ["MANAGE"]
//! ```
//!
//! For every system user the file names, its assignments on the WABAs the token can see become
//! exactly those listed (a WABA it is not listed on loses its assignment there); system users the
//! file does not name are not touched.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{CliError, Graph, text, visible_wabas};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessFile {
    #[serde(default)]
    assignment: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    system_user: String,
    waba: String,
    tasks: Vec<String>,
}

/// An id and the name shown beside it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Named {
    pub name: String,
    pub id: String,
}

type Tasks = BTreeSet<String>;

/// One difference between the server and the file.
#[derive(Debug)]
pub struct Step {
    pub waba: Named,
    pub user: Named,
    /// Tasks now (`None`: not assigned).
    pub before: Option<Tasks>,
    /// Tasks the file wants (`None`: not assigned).
    pub after: Option<Tasks>,
}

impl Step {
    fn action(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, _) => "add",
            (_, None) => "remove",
            _ => "change",
        }
    }
}

fn list(tasks: &Option<Tasks>) -> String {
    tasks.as_ref().map(|t| t.iter().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default()
}

pub struct Plan {
    pub steps: Vec<Step>,
    pub wabas: usize,
    pub users: usize,
}

impl Plan {
    /// The plan as a person reads it, terraform's way.
    pub fn text(&self, file: &str) -> String {
        if self.steps.is_empty() {
            return format!(
                "No changes. Access of the {} system users in {file} on the {} WABAs the token can see matches it.\n",
                self.users, self.wabas
            );
        }
        let mut out = String::new();
        for s in &self.steps {
            let target = format!("{} ({}) · {} ({})", s.waba.name, s.waba.id, s.user.name, s.user.id);
            match s.action() {
                "add" => out.push_str(&format!("  + {target}: {}\n", list(&s.after))),
                "remove" => out.push_str(&format!("  - {target}: {}\n", list(&s.before))),
                _ => out.push_str(&format!("  ~ {target}: {} → {}\n", list(&s.before), list(&s.after))),
            }
        }
        let count = |a: &str| self.steps.iter().filter(|s| s.action() == a).count();
        out.push_str(&format!(
            "\nPlan: {} to add, {} to change, {} to remove.\n",
            count("add"),
            count("change"),
            count("remove")
        ));
        out
    }

    pub fn json(&self) -> String {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                json!({
                    "action": s.action(),
                    "waba_id": s.waba.id, "waba": s.waba.name,
                    "system_user_id": s.user.id, "system_user": s.user.name,
                    "before": s.before.as_ref().map(|t| t.iter().collect::<Vec<_>>()),
                    "after": s.after.as_ref().map(|t| t.iter().collect::<Vec<_>>()),
                })
            })
            .collect();
        serde_json::to_string_pretty(&steps).unwrap_or_default() + "\n"
    }
}

/// Resolves a name or an id among `(id, name)` pairs.
fn resolve(all: &[Named], wanted: &str, what: &str) -> Result<Named, CliError> {
    let by_id: Vec<&Named> = all.iter().filter(|n| n.id == wanted).collect();
    let found = if by_id.is_empty() { all.iter().filter(|n| n.name == wanted).collect() } else { by_id };
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CliError::Usage(format!("the token sees no {what} \"{wanted}\""))),
        many => Err(CliError::Usage(format!("{} {what}s are named \"{wanted}\": use an id", many.len()))),
    }
}

fn tasks(entry: &Entry) -> Result<Tasks, CliError> {
    let mut out = Tasks::new();
    for t in &entry.tasks {
        let task = model::Task::parse(&t.trim().to_uppercase()).ok_or_else(|| {
            let known: Vec<&str> = model::Task::ALL.iter().map(|t| t.as_str()).collect();
            CliError::Usage(format!("unknown task \"{t}\" for {}; tasks are {}", entry.system_user, known.join(", ")))
        })?;
        out.insert(task.as_str().to_string());
    }
    if out.is_empty() {
        return Err(CliError::Usage(format!(
            "{} on {}: tasks is empty (leave the WABA out to remove the assignment)",
            entry.system_user, entry.waba
        )));
    }
    Ok(out)
}

/// Compares the file with the server.
pub async fn plan(graph: &Graph, business: &str, path: &Path) -> Result<Plan, CliError> {
    let content =
        std::fs::read_to_string(path).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let file: AccessFile = toml::from_str(&content).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;

    let named = |items: Vec<Value>| -> Vec<Named> {
        items.iter().map(|i| Named { id: text(&i["id"]), name: text(&i["name"]) }).collect()
    };
    let users = named(graph.get_all(&format!("{business}/system_users"), &[("fields", "id,name")]).await?);
    let mut wabas = named(visible_wabas(graph, business, "id,name").await?.into_iter().map(|(_, w)| w).collect());
    wabas.sort();

    let mut wanted: BTreeMap<(Named, Named), Tasks> = BTreeMap::new();
    let mut named_users = BTreeSet::new();
    for entry in &file.assignment {
        let user = resolve(&users, &entry.system_user, "system user")?;
        let waba = resolve(&wabas, &entry.waba, "WABA")?;
        named_users.insert(user.clone());
        if wanted.insert((waba.clone(), user.clone()), tasks(entry)?).is_some() {
            return Err(CliError::Usage(format!("{} on {} is listed twice", user.name, waba.name)));
        }
    }

    let ids: BTreeMap<&str, &Named> = named_users.iter().map(|u| (u.id.as_str(), u)).collect();
    let mut current: BTreeMap<(Named, Named), Tasks> = BTreeMap::new();
    if !ids.is_empty() {
        let bar = progress(wabas.len() as u64, "reading WABAs");
        for waba in &wabas {
            let params = [("business", business), ("fields", "id,tasks")];
            for assigned in graph.get_all(&format!("{}/assigned_users", waba.id), &params).await? {
                if let Some(user) = ids.get(text(&assigned["id"]).as_str()) {
                    let tasks = assigned["tasks"].as_array().into_iter().flatten().map(text).collect();
                    current.insert((waba.clone(), (*user).clone()), tasks);
                }
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
    }

    let mut steps = Vec::new();
    for waba in &wabas {
        for user in &named_users {
            let key = (waba.clone(), user.clone());
            let (before, after) = (current.get(&key).cloned(), wanted.get(&key).cloned());
            if before != after {
                steps.push(Step { waba: waba.clone(), user: user.clone(), before, after });
            }
        }
    }
    Ok(Plan { steps, wabas: wabas.len(), users: named_users.len() })
}

/// Carries the plan out in order, stopping at the first error; returns how many steps were done
/// along with the error.
pub async fn apply(graph: &Graph, plan: &Plan) -> Result<(), (usize, CliError)> {
    let bar = progress(plan.steps.len() as u64, "applying changes");
    for (done, step) in plan.steps.iter().enumerate() {
        let path = format!("{}/assigned_users", step.waba.id);
        let result = match &step.after {
            Some(tasks) => {
                let list = serde_json::to_string(&tasks.iter().collect::<Vec<_>>()).unwrap_or_default();
                graph.post(&path, &[("user", &step.user.id), ("tasks", &list)]).await
            }
            None => graph.delete(&path, &[("user", &step.user.id)]).await,
        };
        if let Err(e) = result {
            bar.abandon();
            return Err((done, e));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// A progress bar on standard error (drawn only on a terminal).
fn progress(len: u64, what: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len}") {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar
}

//! The world a store starts with: the demo world of DESIGN.md §5, or one declared in a TOML
//! fixtures file (format: `docs/fixtures.md`). Both go through [`Fixtures`].

use std::collections::{BTreeMap, BTreeSet, HashSet};

use model::{
    App, Assignment, Business, Change, CreditLine, FinancePermission, GraphId, MessageTemplate, Person, PhoneNumber,
    Role, Scope, ScopeSet, Secret, Share, ShareLevel, Solution, SolutionWaba, SystemUser, Task, TaskSet, Token, Waba,
};
use rand::Rng;
use serde::Deserialize;

use crate::Service;
use crate::ops::SIXTY_DAYS;
use crate::secrets;

#[derive(Debug)]
pub struct FixtureError(pub String);

impl std::fmt::Display for FixtureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FixtureError {}

fn err<T>(msg: impl Into<String>) -> Result<T, FixtureError> {
    Err(FixtureError(msg.into()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    #[serde(default)]
    pub business: Vec<FixtureBusiness>,
    #[serde(default)]
    pub person: Vec<FixturePerson>,
    #[serde(default)]
    pub app: Vec<FixtureApp>,
    #[serde(default)]
    pub system_user: Vec<FixtureSystemUser>,
    #[serde(default)]
    pub token: Vec<FixtureToken>,
    #[serde(default)]
    pub waba: Vec<FixtureWaba>,
    #[serde(default)]
    pub phone_number: Vec<FixturePhoneNumber>,
    #[serde(default)]
    pub template: Vec<FixtureTemplate>,
    #[serde(default)]
    pub share: Vec<FixtureShare>,
    #[serde(default)]
    pub credit_line: Vec<FixtureCreditLine>,
    #[serde(default)]
    pub solution: Vec<FixtureSolution>,
    #[serde(default)]
    pub assignment: Vec<FixtureAssignment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureBusiness {
    pub key: String,
    pub id: Option<GraphId>,
    pub name: String,
    #[serde(default)]
    pub timezone_id: u32,
    pub verification_status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixturePerson {
    pub key: String,
    pub id: Option<GraphId>,
    pub business: String,
    pub name: String,
    pub email: String,
    #[serde(default = "employee")]
    pub role: Role,
    pub finance_permission: Option<FinancePermission>,
    pub password: Secret,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureApp {
    pub key: String,
    pub id: Option<GraphId>,
    pub business: String,
    pub name: String,
    pub secret: Option<Secret>,
    #[serde(default)]
    pub require_appsecret_proof: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureSystemUser {
    pub key: String,
    pub id: Option<GraphId>,
    pub business: String,
    pub name: String,
    #[serde(default = "employee")]
    pub role: Role,
    pub finance_permission: Option<FinancePermission>,
    #[serde(default)]
    pub apps: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureToken {
    pub key: String,
    pub system_user: String,
    pub app: String,
    pub scopes: Vec<String>,
    /// `never` (default) or `60d`.
    #[serde(default = "never")]
    pub expires: String,
    /// A fixed token value (`EAA` and 64 letters or digits), for tests that must know it in
    /// advance. Without it a token is generated and written to bootstrap.json.
    pub value: Option<Secret>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureWaba {
    pub key: String,
    pub id: Option<GraphId>,
    pub owner: String,
    pub name: String,
    #[serde(default = "usd")]
    pub currency: String,
    #[serde(default = "one")]
    pub timezone_id: String,
    pub message_template_namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixturePhoneNumber {
    pub key: String,
    pub id: Option<GraphId>,
    pub waba: String,
    pub display_phone_number: String,
    pub verified_name: String,
    #[serde(default = "connected")]
    pub status: String,
    #[serde(default = "verified")]
    pub code_verification_status: String,
    #[serde(default = "green")]
    pub quality_rating: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureTemplate {
    pub waba: String,
    pub name: String,
    #[serde(default = "en_us")]
    pub language: String,
    #[serde(default = "utility")]
    pub category: String,
    #[serde(default = "approved")]
    pub status: String,
    /// The BODY component's text.
    pub body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureShare {
    pub waba: String,
    pub partner: String,
    pub level: ShareLevel,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureCreditLine {
    pub key: String,
    pub id: Option<GraphId>,
    pub business: String,
    pub legal_entity_name: String,
    #[serde(default = "usd")]
    pub currency: String,
}

/// A Multi-Partner Solution between two apps, with the WABAs onboarded onto it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureSolution {
    pub key: String,
    pub id: Option<GraphId>,
    pub name: String,
    pub owner_app: String,
    pub partner_app: String,
    pub owner_permissions: Vec<String>,
    pub partner_permissions: Vec<String>,
    #[serde(default = "active")]
    pub status: String,
    #[serde(default)]
    pub wabas: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureAssignment {
    pub waba: String,
    pub user: String,
    pub tasks: Vec<String>,
}

fn employee() -> Role {
    Role::Employee
}
fn never() -> String {
    "never".into()
}
fn usd() -> String {
    "USD".into()
}
fn one() -> String {
    "1".into()
}
fn connected() -> String {
    "CONNECTED".into()
}
fn verified() -> String {
    "VERIFIED".into()
}
fn green() -> String {
    "GREEN".into()
}
fn en_us() -> String {
    "en_US".into()
}
fn utility() -> String {
    "UTILITY".into()
}
fn approved() -> String {
    "APPROVED".into()
}
fn active() -> String {
    "ACTIVE".into()
}

fn tasks(what: &str, names: &[String]) -> Result<TaskSet, FixtureError> {
    let mut set = TaskSet::EMPTY;
    for t in names {
        set.insert(Task::parse(t).ok_or_else(|| FixtureError(format!("{what}: unknown task {t}")))?);
    }
    Ok(set)
}

/// What seeding produced: the ids of every keyed object, and the secrets shown once.
#[derive(Debug, Default)]
pub struct Seeded {
    pub ids: BTreeMap<String, GraphId>,
    pub tokens: BTreeMap<String, Secret>,
    pub app_secrets: BTreeMap<String, Secret>,
    pub passwords: BTreeMap<String, Secret>,
}

/// The demo world's keys, as [`Fixtures::demo`] names them.
pub mod demo {
    pub const PARTNER: &str = "partner";
    pub const PERSON: &str = "partner_admin";
    pub const APP: &str = "app";
    pub const ADMIN: &str = "admin_system_user";
    pub const ADMIN_TOKEN: &str = "admin_token";
    pub const WABA: &str = "waba";
    pub const PHONE: &str = "phone_number";
    pub const CLIENT: &str = "client";
    pub const CLIENT_WABA: &str = "client_waba";
    pub const CREDIT: &str = "credit_line";
}

impl Fixtures {
    pub fn parse(text: &str) -> Result<Fixtures, FixtureError> {
        toml::from_str(text).map_err(|e| FixtureError(format!("fixtures: {e}")))
    }

    /// The demo world of DESIGN.md §5, with a fresh password for its person.
    pub fn demo() -> Fixtures {
        use demo::*;
        let s = String::from;
        Fixtures {
            business: vec![
                FixtureBusiness {
                    key: s(PARTNER),
                    id: None,
                    name: s("Acme Messaging Partners"),
                    timezone_id: 0,
                    verification_status: Some(s("verified")),
                },
                FixtureBusiness {
                    key: s(CLIENT),
                    id: None,
                    name: s("Lucky Shrub"),
                    timezone_id: 0,
                    verification_status: Some(s("verified")),
                },
            ],
            person: vec![FixturePerson {
                key: s(PERSON),
                id: None,
                business: s(PARTNER),
                name: s("Ada Admin"),
                email: s("admin@acme.example"),
                role: Role::Admin,
                finance_permission: Some(FinancePermission::Editor),
                password: Secret::new(secrets::new_password()),
            }],
            app: vec![FixtureApp {
                key: s(APP),
                id: None,
                business: s(PARTNER),
                name: s("Acme Onboarding"),
                secret: None,
                require_appsecret_proof: false,
            }],
            system_user: vec![FixtureSystemUser {
                key: s(ADMIN),
                id: None,
                business: s(PARTNER),
                name: s("Acme Admin System User"),
                role: Role::Admin,
                finance_permission: Some(FinancePermission::Editor),
                apps: vec![s(APP)],
            }],
            token: vec![FixtureToken {
                key: s(ADMIN_TOKEN),
                system_user: s(ADMIN),
                app: s(APP),
                scopes: [
                    Scope::BUSINESS_MANAGEMENT,
                    Scope::CATALOG_MANAGEMENT,
                    Scope::WHATSAPP_BUSINESS_MESSAGING,
                    Scope::WHATSAPP_BUSINESS_MANAGEMENT,
                ]
                .iter()
                .map(|sc| sc.as_str().to_string())
                .collect(),
                expires: never(),
                value: None,
            }],
            waba: vec![
                FixtureWaba {
                    key: s(WABA),
                    id: None,
                    owner: s(PARTNER),
                    name: s("Acme Support"),
                    currency: usd(),
                    timezone_id: one(),
                    message_template_namespace: None,
                },
                FixtureWaba {
                    key: s(CLIENT_WABA),
                    id: None,
                    owner: s(CLIENT),
                    name: s("Lucky Shrub"),
                    currency: usd(),
                    timezone_id: one(),
                    message_template_namespace: None,
                },
            ],
            phone_number: vec![FixturePhoneNumber {
                key: s(PHONE),
                id: None,
                waba: s(WABA),
                display_phone_number: s("+1 555-010-0100"),
                verified_name: s("Acme Support"),
                status: connected(),
                code_verification_status: verified(),
                quality_rating: green(),
            }],
            template: vec![FixtureTemplate {
                waba: s(WABA),
                name: s("hello_world"),
                language: en_us(),
                category: utility(),
                status: approved(),
                body: s("Hello World from Acme Support!"),
            }],
            share: vec![FixtureShare { waba: s(CLIENT_WABA), partner: s(PARTNER), level: ShareLevel::Full }],
            credit_line: vec![FixtureCreditLine {
                key: s(CREDIT),
                id: None,
                business: s(PARTNER),
                legal_entity_name: s("Acme Messaging Partners LLC"),
                currency: usd(),
            }],
            solution: vec![],
            assignment: vec![],
        }
    }

    /// The changes that build this world, and what seeding reveals once.
    pub fn build(&self, now: i64) -> Result<(Vec<Change>, Seeded), FixtureError> {
        Builder { now, seeded: Seeded::default(), taken: HashSet::new(), changes: Vec::new() }.build(self)
    }
}

struct Builder {
    now: i64,
    seeded: Seeded,
    taken: HashSet<GraphId>,
    changes: Vec<Change>,
}

impl Builder {
    fn id(&mut self, what: &str, key: &str, fixed: Option<GraphId>) -> Result<GraphId, FixtureError> {
        if self.seeded.ids.contains_key(key) {
            return err(format!("{what} '{key}': the key is used twice"));
        }
        let id = match fixed {
            Some(id) if id.0 > i64::MAX as u64 => return err(format!("{what} '{key}': id {id} is too large")),
            Some(id) if self.taken.contains(&id) => return err(format!("{what} '{key}': id {id} is used twice")),
            Some(id) => id,
            None => self.fresh_id(),
        };
        self.taken.insert(id);
        self.seeded.ids.insert(key.to_string(), id);
        Ok(id)
    }

    fn fresh_id(&mut self) -> GraphId {
        loop {
            let id = GraphId(rand::rng().random_range(1_000_000_000_000_000..10_000_000_000_000_000));
            if self.taken.insert(id) {
                return id;
            }
        }
    }

    fn lookup(&self, what: &str, reference: &str) -> Result<GraphId, FixtureError> {
        if let Some(id) = self.seeded.ids.get(reference) {
            return Ok(*id);
        }
        match GraphId::parse(reference) {
            Some(id) if self.taken.contains(&id) => Ok(id),
            _ => err(format!("{what}: nothing above is named '{reference}'")),
        }
    }

    fn build(mut self, f: &Fixtures) -> Result<(Vec<Change>, Seeded), FixtureError> {
        let now = self.now;
        let mut businesses = BTreeSet::new();
        for b in &f.business {
            let id = self.id("business", &b.key, b.id)?;
            businesses.insert(id);
            self.changes.push(Change::Business(Box::new(Business {
                id,
                name: b.name.clone(),
                timezone_id: b.timezone_id,
                verification_status: b.verification_status.clone().unwrap_or_else(|| "verified".into()),
                created_time: now,
                system_user_policy_accepted_at: None,
            })));
        }
        let business = |this: &Self, what: &str, r: &str| -> Result<GraphId, FixtureError> {
            let id = this.lookup(what, r)?;
            if businesses.contains(&id) { Ok(id) } else { err(format!("{what}: '{r}' is not a business")) }
        };
        let mut emails = HashSet::new();
        for p in &f.person {
            let biz = business(&self, &format!("person '{}'", p.key), &p.business)?;
            if !emails.insert(p.email.to_lowercase()) {
                return err(format!("person '{}': email {} is used twice", p.key, p.email));
            }
            let id = self.id("person", &p.key, p.id)?;
            self.seeded.passwords.insert(p.key.clone(), p.password.clone());
            self.changes.push(Change::Person(Box::new(Person {
                id,
                business: biz,
                name: p.name.clone(),
                email: p.email.clone(),
                role: p.role,
                finance_permission: p.finance_permission,
                password_hash: secrets::hash_password(p.password.expose()),
                created_time: now,
            })));
        }
        let mut apps = BTreeMap::new();
        for a in &f.app {
            let biz = business(&self, &format!("app '{}'", a.key), &a.business)?;
            let id = self.id("app", &a.key, a.id)?;
            let secret = a.secret.clone().unwrap_or_else(|| Secret::new(secrets::new_app_secret()));
            self.seeded.app_secrets.insert(a.key.clone(), secret.clone());
            apps.insert(id, biz);
            self.changes.push(Change::App(Box::new(App {
                id,
                business: biz,
                name: a.name.clone(),
                secret,
                require_appsecret_proof: a.require_appsecret_proof,
                created_time: now,
            })));
        }
        let mut system_users = BTreeMap::new();
        for s in &f.system_user {
            let what = format!("system user '{}'", s.key);
            let biz = business(&self, &what, &s.business)?;
            let mut installed = model::IdSet::default();
            for a in &s.apps {
                let app = self.lookup(&what, a)?;
                match apps.get(&app) {
                    Some(owner) if *owner == biz => installed.insert(app),
                    _ => return err(format!("{what}: app '{a}' is not an app of its business")),
                };
            }
            let id = self.id("system user", &s.key, s.id)?;
            system_users.insert(id, (biz, installed.clone()));
            self.changes.push(Change::SystemUser(Box::new(SystemUser {
                id,
                business: biz,
                name: s.name.clone(),
                role: s.role,
                finance_permission: s.finance_permission,
                created_by: None,
                created_time: now,
                apps: installed,
            })));
        }
        for t in &f.token {
            let what = format!("token '{}'", t.key);
            let su = self.lookup(&what, &t.system_user)?;
            let app = self.lookup(&what, &t.app)?;
            match system_users.get(&su) {
                Some((_, installed)) if installed.contains(&app) => {}
                Some(_) => return err(format!("{what}: app '{}' is not installed on '{}'", t.app, t.system_user)),
                None => return err(format!("{what}: '{}' is not a system user", t.system_user)),
            }
            let mut scopes = ScopeSet::EMPTY;
            for name in &t.scopes {
                scopes.insert(Scope::parse(name).ok_or_else(|| FixtureError(format!("{what}: unknown scope {name}")))?);
            }
            let expires_at = match t.expires.as_str() {
                "never" => None,
                "60d" => Some(now + SIXTY_DAYS),
                other => return err(format!("{what}: expires is 'never' or '60d', not '{other}'")),
            };
            let raw = match &t.value {
                Some(v) if secrets::is_token_shaped(v.expose()) => v.expose().to_string(),
                Some(_) => return err(format!("{what}: value must be EAA followed by 64 letters or digits")),
                None => secrets::new_token(),
            };
            // Tokens are not nodes: their keys name them in bootstrap.json's `tokens` only.
            if self.seeded.tokens.insert(t.key.clone(), Secret::new(raw.clone())).is_some() {
                return err(format!("{what}: the key is used twice"));
            }
            let id = self.fresh_id();
            self.changes.push(Change::Token(Box::new(Token {
                id,
                hash: secrets::token_hash(&raw),
                system_user: su,
                app,
                scopes,
                issued_at: now,
                expires_at,
                revoked_at: None,
                last_used_at: None,
            })));
        }
        let mut wabas = BTreeMap::new();
        for w in &f.waba {
            let owner = business(&self, &format!("waba '{}'", w.key), &w.owner)?;
            let id = self.id("waba", &w.key, w.id)?;
            wabas.insert(id, owner);
            let namespace = w.message_template_namespace.clone().unwrap_or_else(|| {
                let bytes: [u8; 16] = rand::rng().random();
                let hex = hex::encode(bytes);
                format!("{}_{}_{}_{}_{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
            });
            self.changes.push(Change::Waba(Box::new(Waba {
                id,
                owner,
                name: w.name.clone(),
                currency: w.currency.clone(),
                timezone_id: w.timezone_id.clone(),
                message_template_namespace: namespace,
                account_review_status: "APPROVED".into(),
                created_time: now,
                primary_funding_id: None,
            })));
        }
        let waba = |this: &Self, what: &str, r: &str| -> Result<GraphId, FixtureError> {
            let id = this.lookup(what, r)?;
            if wabas.contains_key(&id) { Ok(id) } else { err(format!("{what}: '{r}' is not a WABA")) }
        };
        for p in &f.phone_number {
            let w = waba(&self, &format!("phone number '{}'", p.key), &p.waba)?;
            let id = self.id("phone number", &p.key, p.id)?;
            self.changes.push(Change::PhoneNumber(Box::new(PhoneNumber {
                id,
                waba: w,
                display_phone_number: p.display_phone_number.clone(),
                verified_name: p.verified_name.clone(),
                status: p.status.clone(),
                code_verification_status: p.code_verification_status.clone(),
                quality_rating: p.quality_rating.clone(),
                created_time: now,
                pin_hash: None,
                pending_code: None,
                last_onboarded_time: Some(now),
            })));
        }
        for t in &f.template {
            let w = waba(&self, &format!("template '{}'", t.name), &t.waba)?;
            let key = format!("template:{}:{}:{}", t.waba, t.name, t.language);
            let id = self.id("template", &key, None)?;
            self.changes.push(Change::Template(Box::new(MessageTemplate {
                id,
                waba: w,
                name: t.name.clone(),
                language: t.language.clone(),
                category: t.category.clone(),
                status: t.status.clone(),
                parameter_format: "POSITIONAL".into(),
                components: serde_json::json!([{"type": "BODY", "text": t.body}]),
                created_time: now,
                review_at: None,
                rejected_reason: None,
                previous_category: None,
            })));
        }
        for s in &f.share {
            let what = format!("share of '{}'", s.waba);
            let w = waba(&self, &what, &s.waba)?;
            let partner = business(&self, &what, &s.partner)?;
            if wabas[&w] == partner {
                return err(format!("{what}: a business cannot share its own WABA with itself"));
            }
            self.changes.push(Change::Share(Share { waba: w, partner, level: s.level, created_time: now }));
        }
        for c in &f.credit_line {
            let biz = business(&self, &format!("credit line '{}'", c.key), &c.business)?;
            let id = self.id("credit line", &c.key, c.id)?;
            self.changes.push(Change::CreditLine(Box::new(CreditLine {
                id,
                business: biz,
                legal_entity_name: c.legal_entity_name.clone(),
                currency: c.currency.clone(),
                created_time: now,
            })));
        }
        for x in &f.solution {
            let what = format!("solution '{}'", x.key);
            let owner_app = self.lookup(&what, &x.owner_app)?;
            let partner_app = self.lookup(&what, &x.partner_app)?;
            if !apps.contains_key(&owner_app) || !apps.contains_key(&partner_app) || owner_app == partner_app {
                return err(format!("{what}: owner_app and partner_app must be two different apps"));
            }
            let owner_permissions = tasks(&what, &x.owner_permissions)?;
            let partner_permissions = tasks(&what, &x.partner_permissions)?;
            if owner_permissions.contains(Task::Messaging) == partner_permissions.contains(Task::Messaging) {
                return err(format!("{what}: exactly one side holds MESSAGING"));
            }
            if !["DRAFT", "INITIATED", "ACTIVE", "REJECTED", "DEACTIVATED"].contains(&x.status.as_str()) {
                return err(format!("{what}: status {} is not a solution status", x.status));
            }
            let id = self.id("solution", &x.key, x.id)?;
            self.changes.push(Change::Solution(Box::new(Solution {
                id,
                name: x.name.clone(),
                owner_app,
                partner_app,
                owner_permissions,
                partner_permissions,
                status: x.status.clone(),
                status_for_pending_request: if x.status == "INITIATED" { "PENDING_ACTIVATION" } else { "NONE" }.into(),
                deactivation_requested_by: None,
                created_time: now,
            })));
            for w in &x.wabas {
                let w = waba(&self, &what, w)?;
                self.changes.push(Change::OnboardToSolution(SolutionWaba { solution: id, waba: w, created_time: now }));
            }
        }
        let mut world = model::World::default();
        for change in &self.changes {
            world.apply(change);
        }
        for a in &f.assignment {
            let what = format!("assignment of '{}' on '{}'", a.user, a.waba);
            let w = waba(&self, &what, &a.waba)?;
            let user = self.lookup(&what, &a.user)?;
            let principal = world.principal(user).ok_or_else(|| FixtureError(format!("{what}: not a user")))?;
            let tasks = tasks(&what, &a.tasks)?;
            if tasks.is_empty() {
                return err(format!("{what}: no tasks"));
            }
            model::rules::check_grant(&world, principal.business, w, tasks)
                .map_err(|e| FixtureError(format!("{what}: {}", e.message)))?;
            let change = Change::Assign(Assignment { waba: w, user, tasks, assigned_time: now });
            world.apply(&change);
            self.changes.push(change);
        }
        Ok((self.changes, self.seeded))
    }
}

impl Service {
    /// Builds the world from fixtures (the demo world when `None`) if the store is empty.
    /// Returns what was seeded, or `None` when the store already held a world.
    pub async fn seed_if_empty(&self, fixtures: Option<&Fixtures>) -> Result<Option<Seeded>, FixtureError> {
        if !self.world().is_empty() {
            return Ok(None);
        }
        let demo;
        let fixtures = match fixtures {
            Some(f) => f,
            None => {
                demo = Fixtures::demo();
                &demo
            }
        };
        let (changes, seeded) = fixtures.build(self.now())?;
        let _serial = self.writes.lock().await;
        // Another server sharing the store may have seeded it meanwhile: then join its world.
        self.catch_up().await.map_err(|e| FixtureError(e.message))?;
        if !self.world().is_empty() {
            return Ok(None);
        }
        let based_on = self.applied_seq();
        match self.commit(based_on, changes, Vec::new()).await {
            Ok(()) => {}
            Err(_) if self.store().is_shared() => {
                self.catch_up().await.map_err(|e| FixtureError(e.message))?;
                if !self.world().is_empty() {
                    return Ok(None);
                }
                return Err(FixtureError("could not seed the shared store".into()));
            }
            Err(e) => return Err(FixtureError(e.message)),
        }
        Ok(Some(seeded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_world_builds_with_every_documented_object() {
        let (changes, seeded) = Fixtures::demo().build(1_700_000_000).unwrap();
        let mut world = model::World::default();
        for c in &changes {
            world.apply(c);
        }
        for key in [demo::PARTNER, demo::CLIENT, demo::WABA, demo::CLIENT_WABA, demo::ADMIN, demo::PHONE, demo::CREDIT]
        {
            assert!(seeded.ids.contains_key(key), "{key}");
        }
        let partner = seeded.ids[demo::PARTNER];
        let client_waba = seeded.ids[demo::CLIENT_WABA];
        assert_eq!(world.share(client_waba, partner).unwrap().level, ShareLevel::Full);
        assert!(secrets::is_token_shaped(seeded.tokens[demo::ADMIN_TOKEN].expose()));
        assert_eq!(world.templates_of(seeded.ids[demo::WABA]).next().unwrap().status, "APPROVED");
    }

    #[test]
    fn no_debug_output_shows_a_secret() {
        let fixtures = Fixtures::demo();
        let (changes, seeded) = fixtures.build(1_700_000_000).unwrap();
        let printed = format!("{fixtures:?} {changes:?} {seeded:?}");
        let secrets = seeded.tokens.values().chain(seeded.app_secrets.values()).chain(seeded.passwords.values());
        let mut count = 0;
        for secret in secrets {
            assert!(!printed.contains(secret.expose()), "a secret is printed");
            count += 1;
        }
        assert!(count >= 3 && printed.contains("Secret(<redacted>)"));
        // Neither are the stored hashes of passwords and PINs.
        for change in &changes {
            if let Change::Person(p) = change {
                assert!(!printed.contains(p.password_hash.expose()));
            }
        }
    }

    #[test]
    fn fixtures_reject_unknown_references_and_fields() {
        let bad_ref = Fixtures::parse(
            r#"
            [[business]]
            key = "b"
            name = "B"
            [[waba]]
            key = "w"
            owner = "nobody"
            name = "W"
            "#,
        )
        .unwrap();
        assert!(bad_ref.build(0).unwrap_err().0.contains("nobody"));
        assert!(Fixtures::parse("[[business]]\nkey='b'\nname='B'\ncolour='red'").is_err());
    }

    #[test]
    fn fixture_assignments_respect_share_caps() {
        let f = Fixtures::parse(
            r#"
            [[business]]
            key = "owner"
            name = "Owner"
            [[business]]
            key = "partner"
            name = "Partner"
            [[system_user]]
            key = "dev"
            business = "partner"
            name = "Dev"
            [[waba]]
            key = "w"
            owner = "owner"
            name = "W"
            [[share]]
            waba = "w"
            partner = "partner"
            level = "STANDARD"
            [[assignment]]
            waba = "w"
            user = "dev"
            tasks = ["MANAGE"]
            "#,
        )
        .unwrap();
        assert!(f.build(0).unwrap_err().0.contains("MANAGE cannot be assigned"));
    }
}

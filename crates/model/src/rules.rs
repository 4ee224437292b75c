//! The access rules of DESIGN.md §3, as one table. `docs/access-rules.md` embeds
//! [`rules_markdown`]'s output and a test keeps the two identical.

use std::marker::PhantomData;

use crate::error::Verb;
use crate::world::{Principal, World};
use crate::{GraphError, GraphId, Role, Scope, ScopeSet, ShareLevel, Solution, Task, TaskSet};

use Task::*;

/// What `DEVELOP` implies, and so also the cap of a STANDARD share.
pub const DEVELOP_IMPLIES: TaskSet = TaskSet::of(&[
    Develop,
    ViewTemplates,
    ManageTemplates,
    ViewPhoneAssets,
    ManagePhone,
    ManagePhoneAssets,
    ManageExtensions,
    Messaging,
    ViewInsights,
]);

/// Task implication (our reading of Meta's docs): holding the left task means holding the right set.
pub const IMPLIES: [(Task, TaskSet); 5] = [
    (Manage, TaskSet::ALL),
    (Develop, DEVELOP_IMPLIES),
    (ManageTemplates, TaskSet::of(&[ViewTemplates])),
    (ManagePhone, TaskSet::of(&[ViewPhoneAssets])),
    (ManagePhoneAssets, TaskSet::of(&[ViewPhoneAssets])),
];

/// How a user's business reaches a WABA; each route caps the tasks that can be held through it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Route {
    Owned,
    Shared(ShareLevel),
    /// Through an active Multi-Partner Solution the WABA was onboarded onto; `messaging` tells
    /// whether this business's side of the solution holds MESSAGING.
    Solution {
        solution: GraphId,
        messaging: bool,
    },
}

/// The cap of a solution side without MESSAGING: everything but MESSAGING and MANAGE.
pub const SOLUTION_WITHOUT_MESSAGING: TaskSet = TaskSet::ALL.minus(TaskSet::of(&[Messaging, Manage]));

impl Route {
    pub fn cap(self) -> TaskSet {
        match self {
            Route::Owned | Route::Shared(ShareLevel::Full) | Route::Solution { messaging: true, .. } => TaskSet::ALL,
            Route::Shared(ShareLevel::Standard) => DEVELOP_IMPLIES,
            Route::Solution { messaging: false, .. } => SOLUTION_WITHOUT_MESSAGING,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Route::Owned => "owned by the business".into(),
            Route::Shared(ShareLevel::Full) => "shared with the business with FULL access".into(),
            Route::Shared(ShareLevel::Standard) => "shared with the business with STANDARD access".into(),
            Route::Solution { solution, messaging: true } => {
                format!("reached through Multi-Partner Solution {solution}, whose side of the business holds MESSAGING")
            }
            Route::Solution { solution, messaging: false } => {
                format!("reached through Multi-Partner Solution {solution} without MESSAGING")
            }
        }
    }
}

/// Every route by which `business` reaches `waba`.
pub fn routes(world: &World, business: GraphId, waba: GraphId) -> Vec<Route> {
    routes_after(world, business, waba, &Pending::Nothing)
}

/// A change of reach about to be written, so that reach can be asked of the world as it will be
/// once the change is applied (a write sees the world as it was before it).
#[derive(Clone, Copy, Debug)]
pub enum Pending<'a> {
    Nothing,
    /// The WABA's share with the partner becomes this level, or ends (`None`).
    Share {
        waba: GraphId,
        partner: GraphId,
        level: Option<ShareLevel>,
    },
    /// A solution takes this state.
    Solution(&'a Solution),
}

/// [`routes`] once `pending` is applied.
pub fn routes_after(world: &World, business: GraphId, waba: GraphId, pending: &Pending<'_>) -> Vec<Route> {
    let Some(w) = world.waba(waba) else { return Vec::new() };
    let mut out = Vec::new();
    if w.owner == business {
        out.push(Route::Owned);
    }
    let share = match *pending {
        Pending::Share { waba: pw, partner, level } if pw == waba && partner == business => level,
        _ => world.share(waba, business).map(|s| s.level),
    };
    if let Some(level) = share {
        out.push(Route::Shared(level));
    }
    let solutions = world.solutions_of(waba).map(|s| match *pending {
        Pending::Solution(next) if next.id == s.id => next,
        _ => s,
    });
    for sol in solutions.filter(|s| s.status == "ACTIVE") {
        let owner = world.app(sol.owner_app).map(|a| a.business);
        let partner = world.app(sol.partner_app).map(|a| a.business);
        let side = if owner == Some(business) {
            Some(sol.owner_permissions)
        } else if partner == Some(business) {
            Some(sol.partner_permissions)
        } else {
            None
        };
        if let Some(perms) = side {
            out.push(Route::Solution { solution: sol.id, messaging: perms.contains(Messaging) });
        }
    }
    out
}

/// The task an app's business must be able to hold on a WABA (within its route's cap) for the
/// app to stay subscribed to the WABA's webhooks: the task `POST /{waba}/subscribed_apps` asks.
pub const WEBHOOK_TASK: Task = Develop;

/// Whether an app reaches a WABA's data for webhooks once `pending` is applied: its business
/// reaches the WABA by a route whose cap holds [`WEBHOOK_TASK`]. The one test both for ending
/// subscriptions when reach changes and for each delivery when it is queued and sent
/// (docs/webhooks.md); `Err` says why not.
pub fn webhook_reach(world: &World, app: GraphId, waba: GraphId, pending: &Pending<'_>) -> Result<(), String> {
    let Some(app) = world.app(app) else { return Err("the app no longer exists".into()) };
    if world.waba(waba).is_none() {
        return Err(format!("WABA {waba} no longer exists"));
    }
    let routes = routes_after(world, app.business, waba, pending);
    if routes.is_empty() {
        return Err(format!("business {} no longer reaches WABA {waba}", app.business));
    }
    if !routes.iter().any(|r| r.cap().contains(WEBHOOK_TASK)) {
        return Err(format!("business {} can no longer hold {} on WABA {waba}", app.business, WEBHOOK_TASK.as_str()));
    }
    Ok(())
}

/// What `business` can hold on `waba` at most: the union of its routes' caps; `None` when it
/// does not reach the WABA at all.
pub fn cap(world: &World, business: GraphId, waba: GraphId) -> Option<TaskSet> {
    let routes = routes(world, business, waba);
    (!routes.is_empty()).then(|| routes.iter().fold(TaskSet::EMPTY, |acc, r| acc.union(r.cap())))
}

/// The tasks a user holds on a WABA before the route's cap: its assignment expanded by
/// implication, or, for an admin without an assignment there, every task. An assignment on an
/// admin overrides the default (Meta: "per-WABA partial access can override that").
pub fn granted_tasks(world: &World, user: &Principal, waba: GraphId) -> TaskSet {
    match world.assignment(waba, user.id) {
        Some(a) => a.tasks.expand(),
        None if user.role == Role::Admin => TaskSet::ALL,
        None => TaskSet::EMPTY,
    }
}

/// The tasks a user can exercise on a WABA: granted tasks within the cap of its business's route.
pub fn effective_tasks(world: &World, user: &Principal, waba: GraphId) -> TaskSet {
    match cap(world, user.business, waba) {
        Some(cap) => granted_tasks(world, user, waba).intersect(cap),
        None => TaskSet::EMPTY,
    }
}

/// Every operation a rule guards.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Operation {
    ReadBusiness,
    ListSystemUsers,
    ReadSystemUser,
    ManageSystemUsers,
    InstallApp,
    ManageTokens,
    ListWabas,
    ReadAuditLog,
    ReadWaba,
    UpdateWaba,
    ReadAssignedUsers,
    ManageAssignedUsers,
    ReadPhoneNumbers,
    ManagePhone,
    ReadTemplates,
    ManageTemplates,
    SendMessages,
    ManageSubscribedApps,
    RemoveAppSubscriptions,
    ReadCost,
    ReadInsights,
    ShareCredit,
    ReadSubscribedApps,
    ReadSolutions,
    ManageSolutions,
    ReadCreditLines,
    ManageCreditLines,
    ReviewTemplates,
    ReadPerson,
    ShareWabas,
    ManageWebhookSubscriptions,
    ExchangeTokens,
    RedeliverWebhooks,
}

/// Who in the caller's business may perform a business-level operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Who {
    /// Any person or system user of the business.
    Member,
    /// The system user the operation targets, or an admin.
    SelfOrAdmin,
    /// Admins only.
    Admin,
    /// Admins, and people and system users with the finance Editor permission.
    FinanceEditor,
}

/// What an operation is checked against.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Target {
    /// The business (or a system user of it): the caller must belong to it.
    Business(Who),
    /// A WABA: the caller must hold one of `tasks`, effective through its business's route
    /// (`capped`) or as granted (`!capped`, for administering users), and be an admin if `admin`.
    Waba { tasks: TaskSet, capped: bool, admin: bool },
    /// An app's own objects: the caller must be the app itself, with its app token or its client
    /// id and secret (such calls carry no scopes), or, if `admins`, an admin of the app's business
    /// signed in to the console.
    App { admins: bool },
}

pub struct Rule {
    pub op: Operation,
    pub endpoints: &'static str,
    /// The token must carry one of these.
    pub scopes: &'static [Scope],
    pub target: Target,
}

const BM: &[Scope] = &[Scope::BUSINESS_MANAGEMENT];
const WBM: &[Scope] = &[Scope::WHATSAPP_BUSINESS_MANAGEMENT];
const WBM_OR_BM: &[Scope] = &[Scope::WHATSAPP_BUSINESS_MANAGEMENT, Scope::BUSINESS_MANAGEMENT];
const MESSAGING: &[Scope] = &[Scope::WHATSAPP_BUSINESS_MESSAGING];

const fn waba(tasks: &[Task]) -> Target {
    Target::Waba { tasks: TaskSet::of(tasks), capped: true, admin: false }
}

const ANY_TASK: Target = Target::Waba { tasks: TaskSet::ALL, capped: true, admin: false };

/// The rules table.
pub const RULES: [Rule; 33] = [
    Rule {
        op: Operation::ReadBusiness,
        endpoints: "GET /{business}",
        scopes: BM,
        target: Target::Business(Who::Member),
    },
    Rule {
        op: Operation::ListSystemUsers,
        endpoints: "GET /{business}/system_users",
        scopes: BM,
        target: Target::Business(Who::Member),
    },
    Rule {
        op: Operation::ReadSystemUser,
        endpoints: "GET /{system-user}, GET /{system-user}/assigned_whatsapp_business_accounts",
        scopes: BM,
        target: Target::Business(Who::Member),
    },
    Rule {
        op: Operation::ManageSystemUsers,
        endpoints: "POST /{business}/system_users (create, rename)",
        scopes: BM,
        target: Target::Business(Who::Admin),
    },
    Rule {
        op: Operation::InstallApp,
        endpoints: "POST /{system-user}/applications",
        scopes: BM,
        target: Target::Business(Who::SelfOrAdmin),
    },
    Rule {
        op: Operation::ManageTokens,
        endpoints: "POST, DELETE /{system-user}/access_tokens",
        scopes: BM,
        target: Target::Business(Who::SelfOrAdmin),
    },
    Rule {
        op: Operation::ListWabas,
        endpoints: "GET /{business}/owned_whatsapp_business_accounts, GET /{business}/client_whatsapp_business_accounts",
        scopes: BM,
        target: Target::Business(Who::Member),
    },
    Rule {
        op: Operation::ReadAuditLog,
        endpoints: "GET /_wabagate/audit",
        scopes: BM,
        target: Target::Business(Who::Admin),
    },
    Rule {
        op: Operation::ReadWaba,
        endpoints: "GET /{waba}, GET /{waba}/solutions",
        scopes: WBM_OR_BM,
        target: ANY_TASK,
    },
    Rule { op: Operation::UpdateWaba, endpoints: "POST /{waba}", scopes: WBM, target: waba(&[Manage]) },
    Rule {
        op: Operation::ReadAssignedUsers,
        endpoints: "GET /{waba}/assigned_users",
        scopes: WBM_OR_BM,
        target: ANY_TASK,
    },
    Rule {
        op: Operation::ManageAssignedUsers,
        endpoints: "POST, DELETE /{waba}/assigned_users",
        scopes: BM,
        target: Target::Waba { tasks: TaskSet::of(&[ManageUsers]), capped: false, admin: true },
    },
    Rule {
        op: Operation::ReadPhoneNumbers,
        endpoints: "GET /{waba}/phone_numbers, GET /{phone}",
        scopes: WBM,
        target: waba(&[ViewPhoneAssets]),
    },
    Rule {
        op: Operation::ManagePhone,
        endpoints: "POST /{phone}/register, deregister, request_code, verify_code, settings",
        scopes: WBM,
        target: waba(&[ManagePhone]),
    },
    Rule {
        op: Operation::ReadTemplates,
        endpoints: "GET /{waba}/message_templates, GET /{template}",
        scopes: WBM,
        target: waba(&[ViewTemplates]),
    },
    Rule {
        op: Operation::ManageTemplates,
        endpoints: "POST, DELETE /{waba}/message_templates, POST /{template}",
        scopes: WBM,
        target: waba(&[ManageTemplates]),
    },
    Rule {
        op: Operation::SendMessages,
        endpoints: "POST /{phone}/messages",
        scopes: MESSAGING,
        target: waba(&[Messaging]),
    },
    Rule {
        op: Operation::ManageSubscribedApps,
        endpoints: "POST, DELETE /{waba}/subscribed_apps",
        scopes: WBM,
        target: waba(&[Develop]),
    },
    Rule {
        op: Operation::RemoveAppSubscriptions,
        endpoints: "DELETE /{waba}/subscribed_apps with the app_id of another app (users of the business that owns the WABA)",
        scopes: WBM,
        target: waba(&[Manage]),
    },
    Rule {
        op: Operation::ReadCost,
        endpoints: "the pricing_analytics and conversation_analytics fields of a WABA, wherever it is rendered",
        scopes: WBM,
        target: waba(&[ViewCost]),
    },
    Rule {
        op: Operation::ReadInsights,
        endpoints: "the analytics and template_analytics fields of a WABA, wherever it is rendered",
        scopes: WBM,
        target: waba(&[ViewInsights]),
    },
    Rule {
        op: Operation::ShareCredit,
        endpoints: "POST /{credit}/whatsapp_credit_sharing_and_attach (and ManageCreditLines on the credit line's business)",
        scopes: BM,
        target: waba(&[ManageBilling]),
    },
    Rule { op: Operation::ReadSubscribedApps, endpoints: "GET /{waba}/subscribed_apps", scopes: WBM, target: ANY_TASK },
    Rule {
        op: Operation::ReadSolutions,
        endpoints: "GET /{app}/whatsapp_business_solutions, GET /{solution} (the business of either app)",
        scopes: WBM,
        target: Target::Business(Who::Member),
    },
    Rule {
        op: Operation::ManageSolutions,
        endpoints: "POST /{app}/whatsapp_business_solution, POST /{solution}/accept, reject, send_deactivation_request, accept_deactivation_request, reject_deactivation_request",
        scopes: WBM,
        target: Target::Business(Who::Admin),
    },
    Rule {
        op: Operation::ReadCreditLines,
        endpoints: "GET /{business}/extendedcredits, GET /{credit}, GET /{allocation-config}",
        scopes: BM,
        target: Target::Business(Who::Member),
    },
    Rule {
        op: Operation::ManageCreditLines,
        endpoints: "DELETE /{allocation-config}; sharing a credit line",
        scopes: BM,
        target: Target::Business(Who::FinanceEditor),
    },
    Rule {
        op: Operation::ReviewTemplates,
        endpoints: "POST /_wabagate/templates/{id}/review (an admin of the business that owns the WABA)",
        scopes: WBM,
        target: Target::Waba { tasks: TaskSet::of(&[ManageTemplates]), capped: true, admin: true },
    },
    Rule { op: Operation::ReadPerson, endpoints: "GET /{person}", scopes: BM, target: Target::Business(Who::Member) },
    Rule {
        op: Operation::ShareWabas,
        endpoints: "POST, DELETE /_wabagate/wabas/{waba}/partners (an admin of the business that owns the WABA)",
        scopes: BM,
        target: Target::Business(Who::Admin),
    },
    Rule {
        op: Operation::ManageWebhookSubscriptions,
        endpoints: "POST, DELETE /{app}/subscriptions",
        scopes: &[],
        target: Target::App { admins: false },
    },
    Rule {
        op: Operation::ExchangeTokens,
        endpoints: "GET /oauth/access_token (fb_exchange_token), GET /oauth/revoke",
        scopes: &[],
        target: Target::App { admins: false },
    },
    Rule {
        op: Operation::RedeliverWebhooks,
        endpoints: "POST /_wabagate/apps/{app}/webhook_deliveries/{id}/redeliver; in the console, Webhooks → Redeliver",
        scopes: &[],
        target: Target::App { admins: true },
    },
];

/// Fields of a WABA that need an operation beyond seeing the WABA, checked wherever a WABA is
/// rendered: asked of one WABA, a field the caller may not read refuses the read; in a list of
/// WABAs, it is left out of the WABAs the caller may not read it of.
pub const WABA_FIELDS: [(&str, Operation); 4] = [
    ("pricing_analytics", Operation::ReadCost),
    ("conversation_analytics", Operation::ReadCost),
    ("analytics", Operation::ReadInsights),
    ("template_analytics", Operation::ReadInsights),
];

/// Checks that a caller who sees `waba` may also read its field `field` ([`WABA_FIELDS`]).
pub fn authorize_waba_field(
    world: &World,
    caller: &Caller,
    verb: Verb,
    waba: GraphId,
    field: &str,
) -> Result<(), GraphError> {
    match WABA_FIELDS.iter().find(|(name, _)| *name == field) {
        Some((_, op)) => authorize_waba(world, caller, verb, *op, waba).map(|_| ()),
        None => Ok(()),
    }
}

pub fn rule(op: Operation) -> &'static Rule {
    RULES.iter().find(|r| r.op == op).expect("every operation has a rule")
}

/// Who calls: a principal, with the scopes of its token (`None` for a person in the console,
/// whose session is not scoped).
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub scopes: Option<ScopeSet>,
}

/// Makes the proofs below invariant in `'w`: a proof is good only for the very world it was
/// checked against, so it cannot be carried into another write.
type Checked<'w> = PhantomData<fn(&'w World) -> &'w World>;

/// Proof that a caller may perform `op` on a business, checked against the world `'w`. Only
/// [`authorize_business`] makes one; it cannot be forged, cloned or kept past that world:
///
/// ```compile_fail,E0451
/// use wabagate_model::rules::{BusinessAccess, Operation};
/// let forged = BusinessAccess { business: wabagate_model::GraphId(1), op: Operation::ManageTokens, world: Default::default() };
/// ```
#[derive(Debug)]
pub struct BusinessAccess<'w> {
    business: GraphId,
    op: Operation,
    world: Checked<'w>,
}

impl BusinessAccess<'_> {
    pub fn business(&self) -> GraphId {
        self.business
    }
    pub fn op(&self) -> Operation {
        self.op
    }
}

/// Proof that a caller may perform `op` on a WABA, checked against the world `'w`. Only
/// [`authorize_waba`] makes one:
///
/// ```
/// use wabagate_model::rules::{authorize_waba, Caller, Operation};
/// use wabagate_model::{GraphId, Principal, Role, UserKind, Verb, World};
/// let world = World::default();
/// let caller = Caller {
///     principal: Principal { id: GraphId(2), business: GraphId(1), role: Role::Admin, kind: UserKind::SystemUser, finance: None },
///     scopes: None,
/// };
/// // Nothing is reached in an empty world: no proof, an error.
/// assert!(authorize_waba(&world, &caller, Verb::Post, Operation::ManageAssignedUsers, GraphId(3)).is_err());
/// ```
///
/// and nothing else can:
///
/// ```compile_fail,E0451
/// use wabagate_model::rules::{Operation, WabaAccess};
/// use wabagate_model::{GraphId, TaskSet};
/// let forged = WabaAccess {
///     waba: GraphId(3),
///     op: Operation::ManageAssignedUsers,
///     effective: TaskSet::ALL,
///     world: Default::default(),
/// };
/// ```
#[derive(Debug)]
pub struct WabaAccess<'w> {
    waba: GraphId,
    op: Operation,
    effective: TaskSet,
    world: Checked<'w>,
}

impl WabaAccess<'_> {
    pub fn waba(&self) -> GraphId {
        self.waba
    }
    pub fn op(&self) -> Operation {
        self.op
    }
    /// The caller's effective tasks on the WABA.
    pub fn effective(&self) -> TaskSet {
        self.effective
    }
}

/// Proof that the caller is the app `app` itself, allowed `op` on the app's own objects, checked
/// against the world `'w`. Only [`authorize_app`] makes one.
#[derive(Debug)]
pub struct AppAccess<'w> {
    app: GraphId,
    op: Operation,
    world: Checked<'w>,
}

impl AppAccess<'_> {
    pub fn app(&self) -> GraphId {
        self.app
    }
    pub fn op(&self) -> Operation {
        self.op
    }
}

/// Who acts on an app's own objects.
#[derive(Clone, Copy, Debug)]
pub enum AppCaller<'c> {
    /// An app, authenticated by its app token (`{app-id}|{app-secret}`) or its client id and secret.
    App(GraphId),
    /// A person or system user.
    User(&'c Caller),
}

fn check_scope(caller: &Caller, rule: &Rule) -> Result<(), GraphError> {
    match caller.scopes {
        _ if rule.scopes.is_empty() => Ok(()),
        Some(held) if !held.intersects(ScopeSet::of(rule.scopes)) => Err(GraphError::missing_scope(rule.scopes)),
        _ => Ok(()),
    }
}

/// Checks a business-level operation. `object` is the node named in the path (the business or
/// one of its system users), `subject` the system user the operation acts on, if any.
pub fn authorize_business<'w>(
    world: &'w World,
    caller: &Caller,
    verb: Verb,
    op: Operation,
    business: GraphId,
    object: GraphId,
    subject: Option<GraphId>,
) -> Result<BusinessAccess<'w>, GraphError> {
    let rule = rule(op);
    let Target::Business(who) = rule.target else { panic!("{op:?} is not a business operation") };
    check_scope(caller, rule)?;
    if world.business(business).is_none() || caller.principal.business != business {
        return Err(GraphError::unknown_object(verb, object));
    }
    let admin = caller.principal.role == Role::Admin;
    let allowed = match who {
        Who::Member => true,
        Who::Admin => admin,
        Who::SelfOrAdmin => admin || subject == Some(caller.principal.id),
        Who::FinanceEditor => admin || caller.principal.finance == Some(crate::FinancePermission::Editor),
    };
    if !allowed {
        let detail = match who {
            Who::SelfOrAdmin => format!("only an admin of business {business} can do this for another system user"),
            Who::FinanceEditor => format!("only an admin or finance editor of business {business} can do this"),
            _ => format!("only an admin of business {business} can do this"),
        };
        return Err(GraphError::permission(Some(&detail)));
    }
    Ok(BusinessAccess { business, op, world: PhantomData })
}

/// Checks a WABA-level operation (DESIGN.md §3, steps 3 and 4).
pub fn authorize_waba<'w>(
    world: &'w World,
    caller: &Caller,
    verb: Verb,
    op: Operation,
    waba: GraphId,
) -> Result<WabaAccess<'w>, GraphError> {
    let rule = rule(op);
    let Target::Waba { tasks, capped, admin } = rule.target else { panic!("{op:?} is not a WABA operation") };
    check_scope(caller, rule)?;
    let user = &caller.principal;
    let effective = effective_tasks(world, user, waba);
    if effective.is_empty() {
        return Err(GraphError::unknown_object(verb, waba));
    }
    if admin && user.role != Role::Admin {
        return Err(GraphError::permission(Some(&format!(
            "only an admin system user or admin of a business that can reach WhatsApp Business Account {waba} can do this"
        ))));
    }
    let held = if capped { effective } else { granted_tasks(world, user, waba) };
    if !held.intersects(tasks) {
        return Err(GraphError::permission(Some(&format!(
            "this needs one of the tasks {tasks} on WhatsApp Business Account {waba}; the user holds {}",
            if effective.is_empty() { "none".to_string() } else { effective.to_string() }
        ))));
    }
    Ok(WabaAccess { waba, op, effective, world: PhantomData })
}

/// Checks an operation on an app's own objects: the caller must be the app itself (an app token
/// or the app's client credentials), or where the rule says so an admin of the app's business in
/// the console; anyone else is refused with code 15.
pub fn authorize_app<'w>(
    world: &'w World,
    caller: AppCaller<'_>,
    verb: Verb,
    op: Operation,
    app: GraphId,
) -> Result<AppAccess<'w>, GraphError> {
    let Target::App { admins } = rule(op).target else { panic!("{op:?} is not an app operation") };
    let Some(owner) = world.app(app).map(|a| a.business) else {
        return Err(GraphError::unknown_object(verb, app));
    };
    let allowed = match caller {
        AppCaller::App(a) => a == app,
        // A person in the console (no token, so no scopes), admin of the app's business.
        AppCaller::User(c) => {
            admins && c.scopes.is_none() && c.principal.business == owner && c.principal.role == Role::Admin
        }
    };
    if !allowed {
        return Err(GraphError::app_token_required());
    }
    Ok(AppAccess { app, op, world: PhantomData })
}

/// Checks that `tasks` can be granted to a user of `business` on `waba`: the business must reach
/// the WABA, and each task must lie within the cap of its routes. (What a task implies beyond the
/// cap is simply not effective: DEVELOP through a solution without MESSAGING does not send.)
pub fn check_grant(world: &World, business: GraphId, waba: GraphId, tasks: TaskSet) -> Result<(), GraphError> {
    let Some(cap) = cap(world, business, waba) else {
        return Err(GraphError::permission(Some(&format!(
            "WhatsApp Business Account {waba} is neither owned by nor shared with business {business}"
        ))));
    };
    let beyond = tasks.minus(cap);
    if beyond.is_empty() {
        return Ok(());
    }
    let how: Vec<String> = routes(world, business, waba).iter().map(|r| r.describe()).collect();
    let granular = cap.minus(TaskSet::of(&[Manage]));
    Err(GraphError::permission(Some(&format!(
        "{beyond} cannot be assigned on WhatsApp Business Account {waba}: it is {}, which allows only {granular}. Assign those tasks instead",
        how.join(" and ")
    ))))
}

/// The rules table as Markdown, for `docs/access-rules.md`.
pub fn rules_markdown() -> String {
    let mut out = String::from("| endpoint | scope (any of) | who may call |\n|---|---|---|\n");
    for r in &RULES {
        let scopes: Vec<&str> = r.scopes.iter().map(|s| s.as_str()).collect();
        let who = match r.target {
            Target::Business(Who::Member) => "any person or system user of the business".to_string(),
            Target::Business(Who::SelfOrAdmin) => "the system user itself, or an admin of its business".to_string(),
            Target::Business(Who::Admin) => "an admin of the business".to_string(),
            Target::Business(Who::FinanceEditor) => "an admin or finance editor of the business".to_string(),
            Target::Waba { tasks, capped, admin } => {
                let tasks = if tasks == TaskSet::ALL { "any task".to_string() } else { format!("task {tasks}") };
                let how = if capped { "effective" } else { "granted (before the route's cap)" };
                let admin = if admin { "an admin holding " } else { "a user holding " };
                format!("{admin}{tasks} on the WABA, {how}")
            }
            Target::App { admins: false } => "the app itself, with its app token or client id and secret".to_string(),
            Target::App { admins: true } => {
                "the app itself, with its app token; in the console, an admin of the app's business".to_string()
            }
        };
        let scopes = if scopes.is_empty() { "none (app credentials)".to_string() } else { scopes.join(", ") };
        out.push_str(&format!("| {} | {} | {} |\n", r.endpoints, scopes, who));
    }
    out
}

/// Whether a user holding exactly `task` (on a WABA its business owns) passes the task check of
/// `rule`. Scopes aside, this is the whole matrix: the admin condition and the task sets.
pub fn single_task_allows(rule: &Rule, task: Task, admin: bool) -> Option<bool> {
    match rule.target {
        Target::Waba { tasks, admin: needs_admin, .. } => {
            Some((!needs_admin || admin) && TaskSet::of(&[task]).expand().intersects(tasks))
        }
        Target::Business(_) | Target::App { .. } => None,
    }
}

/// The WABA operations × single tasks matrix as Markdown: ✓ where an employee system user holding
/// only that task (and the scope) is allowed.
pub fn matrix_markdown() -> String {
    let mut out = String::from("| endpoint |");
    for t in Task::ALL {
        out.push_str(&format!(" {} |", t.as_str()));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(Task::ALL.len()));
    out.push('\n');
    for r in RULES.iter().filter(|r| matches!(r.target, Target::Waba { .. })) {
        out.push_str(&format!("| {} |", r.endpoints));
        for t in Task::ALL {
            let cell = if single_task_allows(r, t, false) == Some(true) { "✓" } else { "·" };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out
}

/// The implication table and the route caps as Markdown, for `docs/access-rules.md`.
pub fn implications_markdown() -> String {
    let mut out = String::from("| holding | implies |\n|---|---|\n");
    for (task, implied) in IMPLIES {
        out.push_str(&format!("| {task} | {} |\n", implied.minus(TaskSet::of(&[task]))));
    }
    out.push_str("\n| route | cap |\n|---|---|\n");
    let solution = GraphId(0);
    for (name, route) in [
        ("owned by the business", Route::Owned),
        ("shared with it FULL", Route::Shared(ShareLevel::Full)),
        ("shared with it STANDARD", Route::Shared(ShareLevel::Standard)),
        ("through a Multi-Partner Solution, its side holding MESSAGING", Route::Solution { solution, messaging: true }),
        (
            "through a Multi-Partner Solution, its side without MESSAGING",
            Route::Solution { solution, messaging: false },
        ),
    ] {
        let cap = route.cap();
        let cap = if cap == TaskSet::ALL { "every task".to_string() } else { cap.to_string() };
        out.push_str(&format!("| {name} | {cap} |\n"));
    }
    out
}

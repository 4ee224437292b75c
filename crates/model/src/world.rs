//! The whole state of Business Manager, held in memory. Every authorization is answered from
//! here; the store only ever receives the same [`Change`]s that [`World::apply`] takes.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::entity::*;
use crate::{FinancePermission, GraphId, IdSet, Role, TaskSet};

/// The world's hash maps: keyed by ids and token hashes, hashed with foldhash (seeded per map),
/// several times faster than SipHash on 8- and 32-byte keys.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// What kind of node an id names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Business,
    Person,
    App,
    SystemUser,
    Token,
    Waba,
    PhoneNumber,
    Template,
    CreditLine,
    Solution,
    AllocationConfig,
}

/// One durable change to the world. Every write is a list of these: committed to the store in
/// one transaction, then applied to the in-memory world. Entities are boxed so a change is small
/// (40 bytes) where most are: ten million assignments stream through the load as changes.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Business(Box<Business>),
    Person(Box<Person>),
    App(Box<App>),
    SystemUser(Box<SystemUser>),
    Token(Box<Token>),
    Waba(Box<Waba>),
    Share(Share),
    /// A WABA no longer shared with a partner business: the share and the partner's
    /// assignments on it end.
    Unshare {
        waba: GraphId,
        partner: GraphId,
    },
    Assign(Assignment),
    Unassign {
        waba: GraphId,
        user: GraphId,
    },
    PhoneNumber(Box<PhoneNumber>),
    Template(Box<MessageTemplate>),
    DeleteTemplate {
        id: GraphId,
    },
    CreditLine(Box<CreditLine>),
    Solution(Box<Solution>),
    OnboardToSolution(SolutionWaba),
    Allocation(Box<AllocationConfig>),
    Subscribe(Box<SubscribedApp>),
    /// An app's webhook subscription, created or replaced.
    AppSubscribe(Box<AppSubscription>),
    /// An app's webhook subscription to an object type, removed.
    AppUnsubscribe {
        app: GraphId,
        object: String,
    },
    Unsubscribe {
        waba: GraphId,
        app: GraphId,
    },
    /// A sent message: stored, not indexed.
    Message(Box<Message>),
    /// A webhook event queued for delivery: stored, not indexed.
    Event(Box<WebhookEvent>),
    /// Coalesced last-use times of tokens.
    TokensUsed {
        uses: Vec<(GraphId, Timestamp)>,
    },
}

/// A person or system user: whoever can hold tasks on a WABA.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UserKind {
    SystemUser,
    Person,
}

impl UserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::SystemUser => "SYSTEM_USER",
            UserKind::Person => "BUSINESS_USER",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Principal {
    pub id: GraphId,
    pub business: GraphId,
    pub role: Role,
    pub kind: UserKind,
    pub finance: Option<FinancePermission>,
}

#[derive(Default, Debug)]
pub struct World {
    /// The kind of every node but system users and tokens, which their own maps answer (the two
    /// kinds there are millions of).
    kinds: HashMap<GraphId, Kind>,
    businesses: BTreeMap<GraphId, Business>,
    persons: BTreeMap<GraphId, Person>,
    apps: BTreeMap<GraphId, App>,
    system_users: HashMap<GraphId, SystemUser>,
    /// (business, system user): each business's system users as one range.
    system_users_by_business: BTreeSet<(GraphId, GraphId)>,
    tokens: HashMap<GraphId, Token>,
    /// (system user, token): each system user's tokens as one range.
    tokens_by_system_user: BTreeSet<(GraphId, GraphId)>,
    token_by_hash: HashMap<[u8; 32], GraphId>,
    wabas: BTreeMap<GraphId, Waba>,
    /// (owner business, waba): each business's own WABAs as one range.
    wabas_by_owner: BTreeSet<(GraphId, GraphId)>,
    /// (waba, partner business) → share.
    shares: BTreeMap<(GraphId, GraphId), Share>,
    /// (partner business, waba): the WABAs shared with each business.
    shared_with: BTreeSet<(GraphId, GraphId)>,
    /// Each WABA's assignments, grouped by the business of the user.
    grants: HashMap<GraphId, WabaGrants>,
    /// Every person and system user: its business and the WABAs it is assigned. One lookup
    /// answers both while assigning, as when loading ten million assignments.
    holders: HashMap<GraphId, Holder>,
    phone_numbers: BTreeMap<GraphId, PhoneNumber>,
    /// (waba, phone number) and (waba, template): each WABA's assets as one range.
    phone_numbers_by_waba: BTreeSet<(GraphId, GraphId)>,
    templates: BTreeMap<GraphId, MessageTemplate>,
    templates_by_waba: BTreeSet<(GraphId, GraphId)>,
    credit_lines: BTreeMap<GraphId, CreditLine>,
    solutions: BTreeMap<GraphId, Solution>,
    /// (waba, solution): the solutions each WABA was onboarded onto.
    solution_wabas: BTreeMap<(GraphId, GraphId), SolutionWaba>,
    allocations: BTreeMap<GraphId, AllocationConfig>,
    /// (waba, app) → subscription.
    subscribed_apps: BTreeMap<(GraphId, GraphId), SubscribedApp>,
    app_subscriptions: BTreeMap<(GraphId, String), AppSubscription>,
}

/// What undoes changes applied with [`World::apply_undoable`]: each entry puts back what one key
/// of one map held before.
#[derive(Default)]
pub struct Undo(Vec<Restore>);

/// Puts back one key of one map.
type Restore = Box<dyn FnOnce(&mut World) + Send + Sync>;

impl Undo {
    /// Puts the world back as it was before the changes this undoes, newest first.
    pub fn revert(self, world: &mut World) {
        for restore in self.0.into_iter().rev() {
            restore(world);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Records what `$world.$field[$key]` holds, to put it back.
macro_rules! save {
    ($undo:expr, $world:expr, $field:ident, $key:expr) => {{
        let key = $key;
        let before = $world.$field.get(&key).cloned();
        $undo.0.push(Box::new(move |w: &mut World| match before {
            Some(v) => {
                w.$field.insert(key, v);
            }
            None => {
                w.$field.remove(&key);
            }
        }));
    }};
}

/// Records whether the set `$world.$field` holds `$key`, to put it back.
macro_rules! save_member {
    ($undo:expr, $world:expr, $field:ident, $key:expr) => {{
        let key = $key;
        let had = $world.$field.contains(&key);
        $undo.0.push(Box::new(move |w: &mut World| {
            if had {
                w.$field.insert(key);
            } else {
                w.$field.remove(&key);
            }
        }));
    }};
}

impl World {
    /// Applies a change and adds to `undo` what puts the world back as it was: a write is checked
    /// against the world with the writes before it that are not yet committed applied this way,
    /// and reverted, so that readers only ever see committed writes.
    pub fn apply_undoable(&mut self, change: &Change, undo: &mut Undo) {
        match change {
            Change::Business(b) => {
                save!(undo, self, kinds, b.id);
                save!(undo, self, businesses, b.id);
            }
            Change::Person(p) => {
                save!(undo, self, kinds, p.id);
                save!(undo, self, holders, p.id);
                save!(undo, self, persons, p.id);
            }
            Change::App(a) => {
                save!(undo, self, kinds, a.id);
                save!(undo, self, apps, a.id);
            }
            Change::SystemUser(s) => {
                save_member!(undo, self, system_users_by_business, (s.business, s.id));
                save!(undo, self, holders, s.id);
                save!(undo, self, system_users, s.id);
            }
            Change::Token(t) => {
                save_member!(undo, self, tokens_by_system_user, (t.system_user, t.id));
                save!(undo, self, token_by_hash, t.hash);
                save!(undo, self, tokens, t.id);
            }
            Change::Waba(w) => {
                save!(undo, self, kinds, w.id);
                save_member!(undo, self, wabas_by_owner, (w.owner, w.id));
                save!(undo, self, wabas, w.id);
            }
            Change::Share(s) => {
                save_member!(undo, self, shared_with, (s.partner, s.waba));
                save!(undo, self, shares, (s.waba, s.partner));
            }
            Change::Unshare { waba, partner } => {
                save_member!(undo, self, shared_with, (*partner, *waba));
                save!(undo, self, shares, (*waba, *partner));
                let users: Vec<GraphId> = self
                    .grants
                    .get(waba)
                    .map(|g| g.of(*partner).iter().map(|grant| grant.user).collect())
                    .unwrap_or_default();
                for user in users {
                    save!(undo, self, holders, user);
                }
                save!(undo, self, grants, *waba);
            }
            Change::Assign(a) => {
                save!(undo, self, holders, a.user);
                save!(undo, self, grants, a.waba);
            }
            Change::Unassign { waba, user } => {
                save!(undo, self, holders, *user);
                save!(undo, self, grants, *waba);
            }
            Change::PhoneNumber(p) => {
                save!(undo, self, kinds, p.id);
                save_member!(undo, self, phone_numbers_by_waba, (p.waba, p.id));
                save!(undo, self, phone_numbers, p.id);
            }
            Change::Template(t) => {
                save!(undo, self, kinds, t.id);
                save_member!(undo, self, templates_by_waba, (t.waba, t.id));
                save!(undo, self, templates, t.id);
            }
            Change::DeleteTemplate { id } => {
                save!(undo, self, kinds, *id);
                if let Some(t) = self.templates.get(id) {
                    save_member!(undo, self, templates_by_waba, (t.waba, t.id));
                }
                save!(undo, self, templates, *id);
            }
            Change::CreditLine(c) => {
                save!(undo, self, kinds, c.id);
                save!(undo, self, credit_lines, c.id);
            }
            Change::Solution(x) => {
                save!(undo, self, kinds, x.id);
                save!(undo, self, solutions, x.id);
            }
            Change::OnboardToSolution(x) => save!(undo, self, solution_wabas, (x.waba, x.solution)),
            Change::Allocation(x) => {
                save!(undo, self, kinds, x.id);
                save!(undo, self, allocations, x.id);
            }
            Change::Subscribe(x) => save!(undo, self, subscribed_apps, (x.waba, x.app)),
            Change::Unsubscribe { waba, app } => save!(undo, self, subscribed_apps, (*waba, *app)),
            Change::AppSubscribe(x) => save!(undo, self, app_subscriptions, (x.app, x.object.clone())),
            Change::AppUnsubscribe { app, object } => save!(undo, self, app_subscriptions, (*app, object.clone())),
            Change::Message(_) | Change::Event(_) => return,
            Change::TokensUsed { uses } => {
                for (id, _) in uses {
                    save!(undo, self, tokens, *id);
                }
            }
        }
        self.apply(change);
    }

    pub fn apply(&mut self, change: &Change) {
        // Messages and events are stored, not indexed: no need to copy one.
        if !matches!(change, Change::Message(_) | Change::Event(_)) {
            self.apply_owned(change.clone())
        }
    }

    /// Applies a change the caller no longer needs (as when loading), without copying it.
    pub fn apply_owned(&mut self, change: Change) {
        match change {
            Change::Business(b) => {
                self.kinds.insert(b.id, Kind::Business);
                self.businesses.insert(b.id, *b);
            }
            Change::Person(p) => {
                self.kinds.insert(p.id, Kind::Person);
                self.holders.entry(p.id).or_insert_with(|| Holder::of(p.business));
                self.persons.insert(p.id, *p);
            }
            Change::App(a) => {
                self.kinds.insert(a.id, Kind::App);
                self.apps.insert(a.id, *a);
            }
            Change::SystemUser(s) => {
                self.system_users_by_business.insert((s.business, s.id));
                self.holders.entry(s.id).or_insert_with(|| Holder::of(s.business));
                self.system_users.insert(s.id, *s);
            }
            Change::Token(t) => {
                self.tokens_by_system_user.insert((t.system_user, t.id));
                self.token_by_hash.insert(t.hash, t.id);
                self.tokens.insert(t.id, *t);
            }
            Change::Waba(w) => {
                self.kinds.insert(w.id, Kind::Waba);
                self.wabas_by_owner.insert((w.owner, w.id));
                self.wabas.insert(w.id, *w);
            }
            Change::Share(s) => {
                self.shared_with.insert((s.partner, s.waba));
                self.shares.insert((s.waba, s.partner), s);
            }
            Change::Unshare { waba, partner } => {
                self.shared_with.remove(&(partner, waba));
                self.shares.remove(&(waba, partner));
                if let Some(grants) = self.grants.get_mut(&waba) {
                    for grant in grants.remove_business(partner) {
                        if let Some(holder) = self.holders.get_mut(&grant.user) {
                            holder.wabas.remove(&waba);
                        }
                    }
                    if grants.0.is_empty() {
                        self.grants.remove(&waba);
                    }
                }
            }
            Change::Assign(a) => {
                // Users are loaded before their assignments; one of an unknown user has no holder.
                let Some(holder) = self.holders.get_mut(&a.user) else { return };
                let grant = Grant { user: a.user, tasks: a.tasks, assigned_time: a.assigned_time };
                self.grants.entry(a.waba).or_default().insert(holder.business, grant);
                holder.wabas.insert(a.waba);
            }
            Change::Unassign { waba, user } => {
                let Some(holder) = self.holders.get_mut(&user) else { return };
                holder.wabas.remove(&waba);
                let Some(grants) = self.grants.get_mut(&waba) else { return };
                grants.remove(holder.business, user);
                if grants.0.is_empty() {
                    self.grants.remove(&waba);
                }
            }
            Change::PhoneNumber(p) => {
                self.kinds.insert(p.id, Kind::PhoneNumber);
                self.phone_numbers_by_waba.insert((p.waba, p.id));
                self.phone_numbers.insert(p.id, *p);
            }
            Change::Template(t) => {
                self.kinds.insert(t.id, Kind::Template);
                self.templates_by_waba.insert((t.waba, t.id));
                self.templates.insert(t.id, *t);
            }
            Change::DeleteTemplate { id } => {
                self.kinds.remove(&id);
                if let Some(t) = self.templates.remove(&id) {
                    self.templates_by_waba.remove(&(t.waba, t.id));
                }
            }
            Change::CreditLine(c) => {
                self.kinds.insert(c.id, Kind::CreditLine);
                self.credit_lines.insert(c.id, *c);
            }
            Change::Solution(x) => {
                self.kinds.insert(x.id, Kind::Solution);
                self.solutions.insert(x.id, *x);
            }
            Change::OnboardToSolution(x) => {
                self.solution_wabas.insert((x.waba, x.solution), x);
            }
            Change::Allocation(x) => {
                self.kinds.insert(x.id, Kind::AllocationConfig);
                self.allocations.insert(x.id, *x);
            }
            Change::Subscribe(x) => {
                self.subscribed_apps.insert((x.waba, x.app), *x);
            }
            Change::Unsubscribe { waba, app } => {
                self.subscribed_apps.remove(&(waba, app));
            }
            Change::AppSubscribe(x) => {
                self.app_subscriptions.insert((x.app, x.object.clone()), *x);
            }
            Change::AppUnsubscribe { app, object } => {
                self.app_subscriptions.remove(&(app, object));
            }
            Change::Message(_) | Change::Event(_) => {}
            Change::TokensUsed { uses } => {
                for (id, at) in uses {
                    if let Some(t) = self.tokens.get_mut(&id) {
                        t.last_used_at = Some(t.last_used_at.map_or(at, |prev| prev.max(at)));
                    }
                }
            }
        }
    }

    pub fn kind(&self, id: GraphId) -> Option<Kind> {
        self.kinds
            .get(&id)
            .copied()
            .or_else(|| self.system_users.contains_key(&id).then_some(Kind::SystemUser))
            .or_else(|| self.tokens.contains_key(&id).then_some(Kind::Token))
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty() && self.system_users.is_empty() && self.tokens.is_empty()
    }

    pub fn business(&self, id: GraphId) -> Option<&Business> {
        self.businesses.get(&id)
    }

    pub fn businesses(&self) -> impl Iterator<Item = &Business> {
        self.businesses.values()
    }

    pub fn person(&self, id: GraphId) -> Option<&Person> {
        self.persons.get(&id)
    }

    pub fn persons(&self) -> impl Iterator<Item = &Person> {
        self.persons.values()
    }

    pub fn person_by_email(&self, email: &str) -> Option<&Person> {
        self.persons.values().find(|p| p.email.eq_ignore_ascii_case(email))
    }

    pub fn app(&self, id: GraphId) -> Option<&App> {
        self.apps.get(&id)
    }

    pub fn apps(&self) -> impl Iterator<Item = &App> {
        self.apps.values()
    }

    pub fn system_user(&self, id: GraphId) -> Option<&SystemUser> {
        self.system_users.get(&id)
    }

    pub fn system_users_of(&self, business: GraphId) -> impl Iterator<Item = &SystemUser> {
        self.system_users_by_business
            .range((business, GraphId(0))..=(business, GraphId(u64::MAX)))
            .filter_map(|(_, id)| self.system_users.get(id))
    }

    pub fn token(&self, id: GraphId) -> Option<&Token> {
        self.tokens.get(&id)
    }

    pub fn token_by_hash(&self, hash: &[u8; 32]) -> Option<&Token> {
        self.token_by_hash.get(hash).and_then(|id| self.tokens.get(id))
    }

    pub fn tokens_of(&self, system_user: GraphId) -> impl Iterator<Item = &Token> {
        self.tokens_by_system_user
            .range((system_user, GraphId(0))..=(system_user, GraphId(u64::MAX)))
            .filter_map(|(_, id)| self.tokens.get(id))
    }

    pub fn waba(&self, id: GraphId) -> Option<&Waba> {
        self.wabas.get(&id)
    }

    pub fn wabas(&self) -> impl Iterator<Item = &Waba> {
        self.wabas.values()
    }

    pub fn owned_wabas(&self, business: GraphId) -> impl Iterator<Item = &Waba> {
        self.wabas_by_owner
            .range((business, GraphId(0))..=(business, GraphId(u64::MAX)))
            .filter_map(|(_, id)| self.wabas.get(id))
    }

    /// WABAs other businesses share with `business`, in id order.
    pub fn client_wabas(&self, business: GraphId) -> impl Iterator<Item = &Waba> {
        self.shared_with
            .range((business, GraphId(0))..=(business, GraphId(u64::MAX)))
            .filter_map(|(_, waba)| self.wabas.get(waba))
    }

    pub fn share(&self, waba: GraphId, partner: GraphId) -> Option<&Share> {
        self.shares.get(&(waba, partner))
    }

    pub fn shares_of(&self, waba: GraphId) -> impl Iterator<Item = &Share> {
        self.shares.range((waba, GraphId(0))..=(waba, GraphId(u64::MAX))).map(|(_, s)| s)
    }

    pub fn assignment(&self, waba: GraphId, user: GraphId) -> Option<Assignment> {
        let business = self.business_of_user(user)?;
        let grants = self.grants_on_for(waba, business);
        grants.binary_search_by_key(&user, |g| g.user).ok().map(|i| grants[i].on(waba))
    }

    /// The assignments on one WABA of the users of one business, in user-id order.
    pub fn grants_on_for(&self, waba: GraphId, business: GraphId) -> &[Grant] {
        self.grants.get(&waba).map_or(&[], |g| g.of(business))
    }

    /// The assignments on one WABA of the users of one business, in user-id order.
    pub fn assignments_on_for(&self, waba: GraphId, business: GraphId) -> impl Iterator<Item = Assignment> + '_ {
        self.grants_on_for(waba, business).iter().map(move |g| g.on(waba))
    }

    /// The business of a system user or person (it never changes).
    fn business_of_user(&self, user: GraphId) -> Option<GraphId> {
        self.holders.get(&user).map(|h| h.business)
    }

    /// The assignments of one user, in WABA-id order.
    pub fn assignments_of(&self, user: GraphId) -> impl Iterator<Item = Assignment> + '_ {
        self.holders
            .get(&user)
            .into_iter()
            .flat_map(|h| h.wabas.iter())
            .filter_map(move |waba| self.assignment(*waba, user))
    }

    pub fn phone_number(&self, id: GraphId) -> Option<&PhoneNumber> {
        self.phone_numbers.get(&id)
    }

    pub fn phone_numbers_of(&self, waba: GraphId) -> impl Iterator<Item = &PhoneNumber> {
        self.phone_numbers_by_waba
            .range((waba, GraphId(0))..=(waba, GraphId(u64::MAX)))
            .filter_map(|(_, id)| self.phone_numbers.get(id))
    }

    pub fn template(&self, id: GraphId) -> Option<&MessageTemplate> {
        self.templates.get(&id)
    }

    pub fn templates_of(&self, waba: GraphId) -> impl Iterator<Item = &MessageTemplate> {
        self.templates_by_waba
            .range((waba, GraphId(0))..=(waba, GraphId(u64::MAX)))
            .filter_map(|(_, id)| self.templates.get(id))
    }

    pub fn credit_line(&self, id: GraphId) -> Option<&CreditLine> {
        self.credit_lines.get(&id)
    }

    pub fn credit_lines_of(&self, business: GraphId) -> impl Iterator<Item = &CreditLine> {
        self.credit_lines.values().filter(move |c| c.business == business)
    }

    pub fn solution(&self, id: GraphId) -> Option<&Solution> {
        self.solutions.get(&id)
    }

    pub fn solutions(&self) -> impl Iterator<Item = &Solution> {
        self.solutions.values()
    }

    /// The solutions a WABA was onboarded onto, in id order.
    pub fn solutions_of(&self, waba: GraphId) -> impl Iterator<Item = &Solution> {
        self.solution_wabas
            .range((waba, GraphId(0))..=(waba, GraphId(u64::MAX)))
            .filter_map(|((_, s), _)| self.solutions.get(s))
    }

    /// The WABAs onboarded onto a solution, in id order.
    pub fn wabas_of_solution(&self, solution: GraphId) -> Vec<GraphId> {
        self.solution_wabas.keys().filter(|(_, s)| *s == solution).map(|(w, _)| *w).collect()
    }

    pub fn allocation(&self, id: GraphId) -> Option<&AllocationConfig> {
        self.allocations.get(&id)
    }

    pub fn allocations_of(&self, credit_line: GraphId) -> impl Iterator<Item = &AllocationConfig> {
        self.allocations.values().filter(move |a| a.credit_line == credit_line)
    }

    /// An app's webhook subscriptions, by object type.
    pub fn app_subscriptions_of(&self, app: GraphId) -> impl Iterator<Item = &AppSubscription> {
        self.app_subscriptions.iter().filter(move |((a, _), _)| *a == app).map(|(_, s)| s)
    }

    pub fn subscribed_apps_of(&self, waba: GraphId) -> impl Iterator<Item = &SubscribedApp> {
        self.subscribed_apps.range((waba, GraphId(0))..=(waba, GraphId(u64::MAX))).map(|(_, s)| s)
    }

    /// Templates awaiting the automatic review.
    pub fn templates_due(&self, now: Timestamp) -> impl Iterator<Item = &MessageTemplate> {
        self.templates.values().filter(move |t| t.status == "PENDING" && t.review_at.is_some_and(|at| at <= now))
    }

    /// The person or system user with this id.
    pub fn principal(&self, id: GraphId) -> Option<Principal> {
        if let Some(s) = self.system_users.get(&id) {
            return Some(Principal {
                id,
                business: s.business,
                role: s.role,
                kind: UserKind::SystemUser,
                finance: s.finance_permission,
            });
        }
        self.persons.get(&id).map(|p| Principal {
            id,
            business: p.business,
            role: p.role,
            kind: UserKind::Person,
            finance: p.finance_permission,
        })
    }

    /// The display name of a person or system user.
    pub fn user_name(&self, id: GraphId) -> Option<&str> {
        self.system_users.get(&id).map(|s| s.name.as_str()).or_else(|| self.persons.get(&id).map(|p| p.name.as_str()))
    }

    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        BTreeMap::from([
            ("businesses", self.businesses.len()),
            ("persons", self.persons.len()),
            ("apps", self.apps.len()),
            ("system_users", self.system_users.len()),
            ("tokens", self.tokens.len()),
            ("wabas", self.wabas.len()),
            ("shares", self.shares.len()),
            ("assignments", self.grants.values().map(WabaGrants::len).sum()),
            ("phone_numbers", self.phone_numbers.len()),
            ("templates", self.templates.len()),
            ("credit_lines", self.credit_lines.len()),
            ("solutions", self.solutions.len()),
            ("allocations", self.allocations.len()),
        ])
    }
}

/// A person or system user as assignments see it.
#[derive(Clone, Debug)]
struct Holder {
    business: GraphId,
    wabas: IdSet,
}

impl Holder {
    fn of(business: GraphId) -> Holder {
        Holder { business, wabas: IdSet::default() }
    }
}

/// One assignment as the world keeps it, under its WABA and the business of its user.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Grant {
    pub user: GraphId,
    pub tasks: TaskSet,
    pub assigned_time: Timestamp,
}

impl Grant {
    pub fn on(&self, waba: GraphId) -> Assignment {
        Assignment { waba, user: self.user, tasks: self.tasks, assigned_time: self.assigned_time }
    }
}

/// The assignments on one WABA: per business (in id order), its users' grants in user-id order.
/// A WABA has the users of a few businesses (its owner and its partners), so a lookup is two
/// binary searches and a business's list is one slice; 24 bytes a grant.
#[derive(Clone, Default, Debug)]
struct WabaGrants(Vec<(GraphId, Vec<Grant>)>);

impl WabaGrants {
    fn of(&self, business: GraphId) -> &[Grant] {
        match self.0.binary_search_by_key(&business, |(b, _)| *b) {
            Ok(i) => &self.0[i].1,
            Err(_) => &[],
        }
    }

    fn len(&self) -> usize {
        self.0.iter().map(|(_, grants)| grants.len()).sum()
    }

    /// Inserts or replaces the user's grant.
    fn insert(&mut self, business: GraphId, grant: Grant) {
        let i = match self.0.binary_search_by_key(&business, |(b, _)| *b) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (business, Vec::new()));
                i
            }
        };
        let grants = &mut self.0[i].1;
        // Loading the store appends: rows come in user order.
        if grants.last().is_none_or(|last| last.user < grant.user) {
            grants.push(grant);
            return;
        }
        match grants.binary_search_by_key(&grant.user, |g| g.user) {
            Ok(j) => grants[j] = grant,
            Err(j) => grants.insert(j, grant),
        }
    }

    /// Removes every grant of the business's users, and answers them.
    fn remove_business(&mut self, business: GraphId) -> Vec<Grant> {
        match self.0.binary_search_by_key(&business, |(b, _)| *b) {
            Ok(i) => self.0.remove(i).1,
            Err(_) => Vec::new(),
        }
    }

    fn remove(&mut self, business: GraphId, user: GraphId) {
        let Ok(i) = self.0.binary_search_by_key(&business, |(b, _)| *b) else { return };
        let grants = &mut self.0[i].1;
        if let Ok(j) = grants.binary_search_by_key(&user, |g| g.user) {
            grants.remove(j);
        }
        if grants.is_empty() {
            self.0.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system_user(id: u64, business: u64) -> Change {
        Change::SystemUser(Box::new(SystemUser {
            id: GraphId(id),
            business: GraphId(business),
            name: format!("su {id}"),
            role: Role::Employee,
            finance_permission: None,
            created_by: None,
            created_time: 0,
            apps: Default::default(),
        }))
    }

    fn assign(waba: u64, user: u64, bits: u16) -> Change {
        Change::Assign(Assignment {
            waba: GraphId(waba),
            user: GraphId(user),
            tasks: TaskSet::from_bits(bits),
            assigned_time: bits as i64,
        })
    }

    fn users_on(world: &World, waba: u64, business: u64) -> Vec<(u64, u16)> {
        world.assignments_on_for(GraphId(waba), GraphId(business)).map(|a| (a.user.0, a.tasks.bits())).collect()
    }

    #[test]
    fn changes_stay_small() {
        // Ten million assignments stream through the load as changes.
        assert_eq!(std::mem::size_of::<Change>(), 40);
    }

    #[test]
    fn grants_are_found_listed_replaced_and_removed_in_any_order() {
        let mut world = World::default();
        for (user, business) in [(11, 1), (12, 1), (13, 1), (21, 2)] {
            world.apply(&system_user(user, business));
        }
        // Out of order, a replacement, and an assignment of an unknown user (ignored).
        for change in [assign(100, 13, 1), assign(100, 11, 2), assign(100, 21, 4), assign(100, 12, 8)] {
            world.apply(&change);
        }
        world.apply(&assign(100, 11, 3));
        world.apply(&assign(200, 11, 16));
        world.apply(&assign(100, 99, 1));
        assert_eq!(users_on(&world, 100, 1), [(11, 3), (12, 8), (13, 1)]);
        assert_eq!(users_on(&world, 100, 2), [(21, 4)]);
        assert_eq!(world.assignment(GraphId(100), GraphId(11)).map(|a| a.assigned_time), Some(3));
        assert_eq!(world.assignments_of(GraphId(11)).map(|a| a.waba.0).collect::<Vec<_>>(), [100, 200]);
        assert_eq!(world.counts()["assignments"], 5);

        world.apply(&Change::Unassign { waba: GraphId(100), user: GraphId(12) });
        world.apply(&Change::Unassign { waba: GraphId(100), user: GraphId(12) });
        world.apply(&Change::Unassign { waba: GraphId(100), user: GraphId(21) });
        world.apply(&Change::Unassign { waba: GraphId(300), user: GraphId(11) });
        assert_eq!(users_on(&world, 100, 1), [(11, 3), (13, 1)]);
        assert!(users_on(&world, 100, 2).is_empty());
        assert_eq!(world.assignment(GraphId(100), GraphId(12)), None);
        assert_eq!(world.counts()["assignments"], 3);

        world.apply(&Change::Unassign { waba: GraphId(200), user: GraphId(11) });
        assert_eq!(world.assignments_of(GraphId(11)).map(|a| a.waba.0).collect::<Vec<_>>(), [100]);
        assert!(world.assignments_of(GraphId(21)).next().is_none());
    }

    /// What a check can see of the world, for comparing two states.
    fn seen(world: &World) -> String {
        let users: Vec<_> = [11, 12, 13, 21, 31].iter().map(|id| world.system_user(GraphId(*id)).cloned()).collect();
        let grants: Vec<_> =
            [(100, 1), (100, 2), (200, 1), (200, 2)].iter().map(|(w, b)| users_on(world, *w, *b)).collect();
        let held: Vec<Vec<u64>> = [11, 12, 13, 21, 31]
            .iter()
            .map(|u| world.assignments_of(GraphId(*u)).map(|a| a.waba.0).collect())
            .collect();
        let mut counts: Vec<_> = world.counts().into_iter().collect();
        counts.sort();
        format!("{users:?} {grants:?} {held:?} {counts:?} {:?}", world.kind(GraphId(31)))
    }

    #[test]
    fn changes_applied_undoably_are_reverted_to_exactly_the_world_before() {
        let mut world = World::default();
        for (user, business) in [(11, 1), (12, 1), (13, 1), (21, 2)] {
            world.apply(&system_user(user, business));
        }
        for change in [assign(100, 11, 1), assign(100, 21, 4), assign(200, 12, 8)] {
            world.apply(&change);
        }
        let before = seen(&world);
        let mut undo = Undo::default();
        for change in [
            system_user(31, 2),
            assign(100, 31, 2),
            assign(100, 11, 3),
            assign(200, 13, 16),
            Change::Unassign { waba: GraphId(200), user: GraphId(12) },
            Change::Unshare { waba: GraphId(100), partner: GraphId(2) },
            system_user(11, 1),
        ] {
            world.apply_undoable(&change, &mut undo);
        }
        assert_ne!(seen(&world), before, "the changes showed while applied");
        assert!(!undo.is_empty());
        undo.revert(&mut world);
        assert_eq!(seen(&world), before);
    }
}

//! The whole state of Business Manager, held in memory. Every authorization is answered from
//! here; the store only ever receives the same [`Change`]s that [`World::apply`] takes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::entity::*;
use crate::{FinancePermission, GraphId, Role};

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
/// one transaction, then applied to the in-memory world.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Business(Business),
    Person(Person),
    App(App),
    SystemUser(SystemUser),
    Token(Token),
    Waba(Waba),
    Share(Share),
    Assign(Assignment),
    Unassign {
        waba: GraphId,
        user: GraphId,
    },
    PhoneNumber(PhoneNumber),
    Template(MessageTemplate),
    DeleteTemplate {
        id: GraphId,
    },
    CreditLine(CreditLine),
    Solution(Solution),
    OnboardToSolution(SolutionWaba),
    Allocation(AllocationConfig),
    Subscribe(SubscribedApp),
    Unsubscribe {
        waba: GraphId,
        app: GraphId,
    },
    /// A sent message: stored, not indexed.
    Message(Message),
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
    kinds: HashMap<GraphId, Kind>,
    businesses: BTreeMap<GraphId, Business>,
    persons: BTreeMap<GraphId, Person>,
    apps: BTreeMap<GraphId, App>,
    system_users: BTreeMap<GraphId, SystemUser>,
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
    /// (waba, user) → assignment, ordered so a WABA's users are one range.
    assignments: BTreeMap<(GraphId, GraphId), Assignment>,
    /// (user, waba): each user's WABAs as one range.
    assignments_by_user: BTreeSet<(GraphId, GraphId)>,
    /// (waba, user's business, user): the users of one business on a WABA as one range.
    assignments_by_business: BTreeSet<(GraphId, GraphId, GraphId)>,
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
}

impl World {
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::Business(b) => {
                self.kinds.insert(b.id, Kind::Business);
                self.businesses.insert(b.id, b.clone());
            }
            Change::Person(p) => {
                self.kinds.insert(p.id, Kind::Person);
                self.persons.insert(p.id, p.clone());
            }
            Change::App(a) => {
                self.kinds.insert(a.id, Kind::App);
                self.apps.insert(a.id, a.clone());
            }
            Change::SystemUser(s) => {
                self.kinds.insert(s.id, Kind::SystemUser);
                self.system_users_by_business.insert((s.business, s.id));
                self.system_users.insert(s.id, s.clone());
            }
            Change::Token(t) => {
                self.kinds.insert(t.id, Kind::Token);
                self.tokens_by_system_user.insert((t.system_user, t.id));
                self.token_by_hash.insert(t.hash, t.id);
                self.tokens.insert(t.id, t.clone());
            }
            Change::Waba(w) => {
                self.kinds.insert(w.id, Kind::Waba);
                self.wabas_by_owner.insert((w.owner, w.id));
                self.wabas.insert(w.id, w.clone());
            }
            Change::Share(s) => {
                self.shared_with.insert((s.partner, s.waba));
                self.shares.insert((s.waba, s.partner), s.clone());
            }
            Change::Assign(a) => {
                self.assignments_by_user.insert((a.user, a.waba));
                if let Some(business) = self.business_of_user(a.user) {
                    self.assignments_by_business.insert((a.waba, business, a.user));
                }
                self.assignments.insert((a.waba, a.user), a.clone());
            }
            Change::Unassign { waba, user } => {
                self.assignments_by_user.remove(&(*user, *waba));
                if let Some(business) = self.business_of_user(*user) {
                    self.assignments_by_business.remove(&(*waba, business, *user));
                }
                self.assignments.remove(&(*waba, *user));
            }
            Change::PhoneNumber(p) => {
                self.kinds.insert(p.id, Kind::PhoneNumber);
                self.phone_numbers_by_waba.insert((p.waba, p.id));
                self.phone_numbers.insert(p.id, p.clone());
            }
            Change::Template(t) => {
                self.kinds.insert(t.id, Kind::Template);
                self.templates_by_waba.insert((t.waba, t.id));
                self.templates.insert(t.id, t.clone());
            }
            Change::DeleteTemplate { id } => {
                self.kinds.remove(id);
                if let Some(t) = self.templates.remove(id) {
                    self.templates_by_waba.remove(&(t.waba, t.id));
                }
            }
            Change::CreditLine(c) => {
                self.kinds.insert(c.id, Kind::CreditLine);
                self.credit_lines.insert(c.id, c.clone());
            }
            Change::Solution(x) => {
                self.kinds.insert(x.id, Kind::Solution);
                self.solutions.insert(x.id, x.clone());
            }
            Change::OnboardToSolution(x) => {
                self.solution_wabas.insert((x.waba, x.solution), x.clone());
            }
            Change::Allocation(x) => {
                self.kinds.insert(x.id, Kind::AllocationConfig);
                self.allocations.insert(x.id, x.clone());
            }
            Change::Subscribe(x) => {
                self.subscribed_apps.insert((x.waba, x.app), x.clone());
            }
            Change::Unsubscribe { waba, app } => {
                self.subscribed_apps.remove(&(*waba, *app));
            }
            Change::Message(_) => {}
            Change::TokensUsed { uses } => {
                for (id, at) in uses {
                    if let Some(t) = self.tokens.get_mut(id) {
                        t.last_used_at = Some(t.last_used_at.map_or(*at, |prev| prev.max(*at)));
                    }
                }
            }
        }
    }

    pub fn kind(&self, id: GraphId) -> Option<Kind> {
        self.kinds.get(&id).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
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

    pub fn assignment(&self, waba: GraphId, user: GraphId) -> Option<&Assignment> {
        self.assignments.get(&(waba, user))
    }

    /// The assignments on one WABA of the users of one business, in user-id order.
    pub fn assignments_on_for(&self, waba: GraphId, business: GraphId) -> impl Iterator<Item = &Assignment> {
        self.assignments_by_business
            .range((waba, business, GraphId(0))..=(waba, business, GraphId(u64::MAX)))
            .filter_map(move |(_, _, user)| self.assignments.get(&(waba, *user)))
    }

    /// The business of a system user or person (it never changes).
    fn business_of_user(&self, user: GraphId) -> Option<GraphId> {
        self.system_users.get(&user).map(|s| s.business).or_else(|| self.persons.get(&user).map(|p| p.business))
    }

    /// The assignments of one user, in WABA-id order.
    pub fn assignments_of(&self, user: GraphId) -> impl Iterator<Item = &Assignment> {
        self.assignments_by_user
            .range((user, GraphId(0))..=(user, GraphId(u64::MAX)))
            .filter_map(|(u, w)| self.assignments.get(&(*w, *u)))
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

    pub fn allocation(&self, id: GraphId) -> Option<&AllocationConfig> {
        self.allocations.get(&id)
    }

    pub fn allocations_of(&self, credit_line: GraphId) -> impl Iterator<Item = &AllocationConfig> {
        self.allocations.values().filter(move |a| a.credit_line == credit_line)
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
            ("assignments", self.assignments.len()),
            ("phone_numbers", self.phone_numbers.len()),
            ("templates", self.templates.len()),
            ("credit_lines", self.credit_lines.len()),
            ("solutions", self.solutions.len()),
            ("allocations", self.allocations.len()),
        ])
    }
}

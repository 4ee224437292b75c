//! Property tests of the access rules: whatever sequence of grants, shares (and their
//! downgrades) and unassignments a world goes through, no user exercises a task beyond the cap of
//! its business's route to the WABA, and a user whose tasks were taken away has no access left.
//! The expected answers come from a shadow model kept by the test, not from the world's indexes.

use std::collections::BTreeMap;

use proptest::prelude::*;
use wabagate_model::rules::{self, Caller, DEVELOP_IMPLIES, Operation};
use wabagate_model::{
    Assignment, Business, Change, GraphId, Role, Share, ShareLevel, SystemUser, TaskSet, Verb, Waba, World,
};

const OWNER: u64 = 1;
const PARTNERS: [u64; 2] = [2, 3];
const WABAS: [u64; 2] = [100, 200];
/// (system user, business, role)
const USERS: [(u64, u64, Role); 6] = [
    (11, 1, Role::Admin),
    (12, 1, Role::Employee),
    (13, 1, Role::Employee),
    (21, 2, Role::Admin),
    (22, 2, Role::Employee),
    (31, 3, Role::Employee),
];

#[derive(Clone, Debug)]
enum Op {
    /// Asks for these tasks; applied only if the rules allow the grant, as the service does.
    Grant {
        waba: u64,
        user: u64,
        tasks: u16,
    },
    Unassign {
        waba: u64,
        user: u64,
    },
    /// Shares (or re-shares at another level: a downgrade narrows the cap at once).
    Share {
        waba: u64,
        partner: u64,
        full: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let waba = prop::sample::select(WABAS.to_vec());
    let user = prop::sample::select(USERS.iter().map(|u| u.0).collect::<Vec<_>>());
    prop_oneof![
        4 => (waba.clone(), user.clone(), 1..TaskSet::ALL.bits() + 1)
            .prop_map(|(waba, user, tasks)| Op::Grant { waba, user, tasks }),
        2 => (waba.clone(), user).prop_map(|(waba, user)| Op::Unassign { waba, user }),
        1 => (waba, prop::sample::select(PARTNERS.to_vec()), any::<bool>())
            .prop_map(|(waba, partner, full)| Op::Share { waba, partner, full }),
    ]
}

/// What the test itself believes: current shares and assignments.
#[derive(Default)]
struct Shadow {
    /// (waba, partner) → shared with FULL access
    shares: BTreeMap<(u64, u64), bool>,
    /// (waba, user) → tasks as assigned
    assigned: BTreeMap<(u64, u64), TaskSet>,
}

impl Shadow {
    /// The most a user of `business` may exercise on `waba`: everything for the owner, the
    /// share's level for a partner, nothing otherwise.
    fn cap(&self, business: u64, waba: u64) -> Option<TaskSet> {
        if business == OWNER {
            return Some(TaskSet::ALL);
        }
        self.shares.get(&(waba, business)).map(|full| if *full { TaskSet::ALL } else { DEVELOP_IMPLIES })
    }
}

fn world() -> World {
    let mut world = World::default();
    for id in [OWNER, PARTNERS[0], PARTNERS[1]] {
        world.apply(&Change::Business(Box::new(Business {
            id: GraphId(id),
            name: format!("Business {id}"),
            timezone_id: 1,
            verification_status: "verified".into(),
            created_time: 0,
            system_user_policy_accepted_at: None,
        })));
    }
    for id in WABAS {
        world.apply(&Change::Waba(Box::new(Waba {
            id: GraphId(id),
            owner: GraphId(OWNER),
            name: format!("WABA {id}"),
            currency: "USD".into(),
            timezone_id: "1".into(),
            message_template_namespace: "ns".into(),
            account_review_status: "APPROVED".into(),
            created_time: 0,
            primary_funding_id: None,
        })));
    }
    for (id, business, role) in USERS {
        world.apply(&Change::SystemUser(Box::new(SystemUser {
            id: GraphId(id),
            business: GraphId(business),
            name: format!("su {id}"),
            role,
            finance_permission: None,
            created_by: None,
            created_time: 0,
            apps: Default::default(),
        })));
    }
    world
}

fn apply(world: &mut World, shadow: &mut Shadow, op: &Op) -> Result<(), TestCaseError> {
    match *op {
        Op::Grant { waba, user, tasks } => {
            let business = USERS.iter().find(|u| u.0 == user).map(|u| u.1).unwrap_or_default();
            let tasks = TaskSet::from_bits(tasks);
            let allowed = rules::check_grant(world, GraphId(business), GraphId(waba), tasks).is_ok();
            // A grant is allowed exactly when every task lies within the cap.
            prop_assert_eq!(allowed, shadow.cap(business, waba).is_some_and(|c| tasks.is_subset_of(c)));
            if allowed {
                let assignment = Assignment { waba: GraphId(waba), user: GraphId(user), tasks, assigned_time: 0 };
                world.apply(&Change::Assign(assignment));
                shadow.assigned.insert((waba, user), tasks);
            }
        }
        Op::Unassign { waba, user } => {
            world.apply(&Change::Unassign { waba: GraphId(waba), user: GraphId(user) });
            shadow.assigned.remove(&(waba, user));
        }
        Op::Share { waba, partner, full } => {
            let level = if full { ShareLevel::Full } else { ShareLevel::Standard };
            let share = Share { waba: GraphId(waba), partner: GraphId(partner), level, created_time: 0 };
            world.apply(&Change::Share(share));
            shadow.shares.insert((waba, partner), full);
        }
    }
    Ok(())
}

/// Every user on every WABA holds exactly what the shadow says, never beyond the cap, and sees
/// nothing of a WABA it holds nothing on.
fn check(world: &World, shadow: &Shadow) -> Result<(), TestCaseError> {
    for (user, business, role) in USERS {
        let principal = world.principal(GraphId(user)).expect("a system user");
        let caller = Caller { principal, scopes: None };
        for waba in WABAS {
            let effective = rules::effective_tasks(world, &principal, GraphId(waba));
            let cap = shadow.cap(business, waba).unwrap_or(TaskSet::EMPTY);
            prop_assert!(effective.is_subset_of(cap), "user {} on {}: {} beyond {}", user, waba, effective, cap);
            let granted = match shadow.assigned.get(&(waba, user)) {
                Some(t) => t.expand(),
                None if role == Role::Admin => TaskSet::ALL,
                None => TaskSet::EMPTY,
            };
            prop_assert_eq!(effective, granted.intersect(cap), "user {} on {}", user, waba);
            let read = rules::authorize_waba(world, &caller, Verb::Get, Operation::ReadWaba, GraphId(waba));
            if effective.is_empty() {
                prop_assert_eq!(read.map(|_| ()).map_err(|e| (e.code, e.subcode)), Err((100, Some(33))));
            } else {
                prop_assert!(read.is_ok(), "user {} on {}", user, waba);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_sequence_of_changes_exceeds_a_cap_or_leaves_lost_access(ops in prop::collection::vec(op(), 1..60)) {
        let mut world = world();
        let mut shadow = Shadow::default();
        for op in &ops {
            apply(&mut world, &mut shadow, op)?;
            check(&world, &shadow)?;
        }
    }
}

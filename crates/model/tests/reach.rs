//! Reach asked of a change about to be written: whatever the world and the pending change (a
//! share made, changed or ended; a solution's status changed), `routes_after` answers exactly
//! what `routes` answers once the change is applied, so the subscriptions a write ends are those
//! whose apps no longer reach the WABA afterwards.

use proptest::prelude::*;
use wabagate_model::rules::{self, Pending};
use wabagate_model::{
    App, Business, Change, GraphId, Secret, Share, ShareLevel, Solution, SolutionWaba, Task, TaskSet, Waba, World,
};

const OWNER: u64 = 1;
const PARTNER: u64 = 2;
const OTHER: u64 = 3;
const WABA: u64 = 100;
const SOLUTION: u64 = 500;
/// (app, business)
const APPS: [(u64, u64); 3] = [(41, OWNER), (42, PARTNER), (43, OTHER)];
const STATUSES: [&str; 4] = ["INITIATED", "ACTIVE", "REJECTED", "DEACTIVATED"];

fn level(i: u8) -> Option<ShareLevel> {
    [None, Some(ShareLevel::Standard), Some(ShareLevel::Full)][i as usize % 3]
}

/// The owner's WABA, shared with the partner at `share`, and onboarded onto a solution between
/// the partner's app and the other business's app in `status`.
fn world(share: Option<ShareLevel>, status: &str, partner_messaging: bool) -> (World, Solution) {
    let mut world = World::default();
    for id in [OWNER, PARTNER, OTHER] {
        world.apply(&Change::Business(Box::new(Business {
            id: GraphId(id),
            name: format!("Business {id}"),
            timezone_id: 1,
            verification_status: "verified".into(),
            created_time: 0,
            system_user_policy_accepted_at: None,
        })));
    }
    for (id, business) in APPS {
        world.apply(&Change::App(Box::new(App {
            id: GraphId(id),
            business: GraphId(business),
            name: format!("App {id}"),
            secret: Secret::new("s"),
            require_appsecret_proof: false,
            created_time: 0,
        })));
    }
    world.apply(&Change::Waba(Box::new(Waba {
        id: GraphId(WABA),
        owner: GraphId(OWNER),
        name: "WABA".into(),
        currency: "USD".into(),
        timezone_id: "1".into(),
        message_template_namespace: "ns".into(),
        account_review_status: "APPROVED".into(),
        created_time: 0,
        primary_funding_id: None,
    })));
    if let Some(level) = share {
        world.apply(&Change::Share(Share { waba: GraphId(WABA), partner: GraphId(PARTNER), level, created_time: 0 }));
    }
    let messaging = TaskSet::of(&[Task::Manage, Task::Messaging]);
    let develop = TaskSet::of(&[Task::Develop]);
    let solution = Solution {
        id: GraphId(SOLUTION),
        name: "Solution".into(),
        owner_app: GraphId(43),
        partner_app: GraphId(42),
        owner_permissions: if partner_messaging { develop } else { messaging },
        partner_permissions: if partner_messaging { messaging } else { develop },
        status: status.into(),
        status_for_pending_request: "NONE".into(),
        deactivation_requested_by: None,
        created_time: 0,
    };
    world.apply(&Change::Solution(Box::new(solution.clone())));
    world.apply(&Change::OnboardToSolution(SolutionWaba {
        solution: GraphId(SOLUTION),
        waba: GraphId(WABA),
        created_time: 0,
    }));
    (world, solution)
}

proptest! {
    #[test]
    fn reach_after_a_pending_change_is_reach_once_it_is_applied(
        share in 0u8..3,
        status in 0usize..4,
        partner_messaging in any::<bool>(),
        change_share in any::<bool>(),
        new_share in 0u8..3,
        new_status in 0usize..4,
    ) {
        let (before, solution) = world(level(share), STATUSES[status], partner_messaging);
        let mut next = solution.clone();
        next.status = STATUSES[new_status].into();
        let pending = if change_share {
            Pending::Share { waba: GraphId(WABA), partner: GraphId(PARTNER), level: level(new_share) }
        } else {
            Pending::Solution(&next)
        };
        let (mut after, _) = world(level(share), STATUSES[status], partner_messaging);
        match pending {
            Pending::Share { level: Some(level), .. } => after.apply(&Change::Share(Share {
                waba: GraphId(WABA),
                partner: GraphId(PARTNER),
                level,
                created_time: 0,
            })),
            Pending::Share { level: None, .. } => {
                after.apply(&Change::Unshare { waba: GraphId(WABA), partner: GraphId(PARTNER) })
            }
            _ => after.apply(&Change::Solution(Box::new(next.clone()))),
        }
        for business in [OWNER, PARTNER, OTHER] {
            prop_assert_eq!(
                rules::routes_after(&before, GraphId(business), GraphId(WABA), &pending),
                rules::routes(&after, GraphId(business), GraphId(WABA))
            );
        }
        for (app, business) in APPS {
            let reach = rules::webhook_reach(&before, GraphId(app), GraphId(WABA), &pending).is_ok();
            prop_assert_eq!(reach, rules::webhook_reach(&after, GraphId(app), GraphId(WABA), &Pending::Nothing).is_ok());
            // Every route today holds DEVELOP: reach for webhooks is reaching the WABA at all.
            prop_assert_eq!(reach, !rules::routes(&after, GraphId(business), GraphId(WABA)).is_empty());
        }
    }
}

#[test]
fn a_partner_that_reaches_a_waba_another_way_keeps_its_reach_when_one_route_ends() {
    let (world, solution) = world(Some(ShareLevel::Full), "ACTIVE", false);
    let partner_app = GraphId(42);
    let unshared = Pending::Share { waba: GraphId(WABA), partner: GraphId(PARTNER), level: None };
    assert!(rules::webhook_reach(&world, partner_app, GraphId(WABA), &unshared).is_ok());
    let mut deactivated = solution.clone();
    deactivated.status = "DEACTIVATED".into();
    assert!(rules::webhook_reach(&world, partner_app, GraphId(WABA), &Pending::Solution(&deactivated)).is_ok());
    // With the share gone first, deactivating the solution ends the reach, and says why.
    let (world, _) = self::world(None, "ACTIVE", false);
    let why = rules::webhook_reach(&world, partner_app, GraphId(WABA), &Pending::Solution(&deactivated)).unwrap_err();
    assert_eq!(why, format!("business {PARTNER} no longer reaches WABA {WABA}"));
    // The owner's app always reaches its WABA; an unknown app reaches nothing.
    assert!(rules::webhook_reach(&world, GraphId(41), GraphId(WABA), &unshared).is_ok());
    assert!(rules::webhook_reach(&world, GraphId(99), GraphId(WABA), &Pending::Nothing).is_err());
}

//! Multi-Partner Solutions: created by the owner app's business, accepted or rejected by the
//! partner app's business, deactivated by agreement of both sides.

use model::rules::{self, Operation};
use model::{GraphError, GraphId, Solution, Task, TaskSet, Verb};
use serde_json::json;

use crate::webhooks::events;
use crate::{Acting, Service};

/// What one side of a solution asks of it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SolutionAction {
    Accept,
    Reject,
    SendDeactivationRequest,
    AcceptDeactivationRequest,
    RejectDeactivationRequest,
}

impl SolutionAction {
    pub fn parse(edge: &str) -> Option<SolutionAction> {
        Some(match edge {
            "accept" => SolutionAction::Accept,
            "reject" => SolutionAction::Reject,
            "send_deactivation_request" => SolutionAction::SendDeactivationRequest,
            "accept_deactivation_request" => SolutionAction::AcceptDeactivationRequest,
            "reject_deactivation_request" => SolutionAction::RejectDeactivationRequest,
            _ => return None,
        })
    }

    fn audit_name(self) -> &'static str {
        match self {
            SolutionAction::Accept => "solution.accept",
            SolutionAction::Reject => "solution.reject",
            SolutionAction::SendDeactivationRequest => "solution.request_deactivation",
            SolutionAction::AcceptDeactivationRequest => "solution.deactivate",
            SolutionAction::RejectDeactivationRequest => "solution.keep_active",
        }
    }
}

/// The new solution's request.
pub struct NewSolution {
    pub owner_app: GraphId,
    pub name: String,
    pub partner_app: GraphId,
    pub owner_permissions: TaskSet,
    pub partner_permissions: TaskSet,
}

pub const SOLUTION_NAME_CHARS: std::ops::RangeInclusive<usize> = 2..=75;

fn solution_json(s: &Solution) -> serde_json::Value {
    json!({"status": s.status, "status_for_pending_request": s.status_for_pending_request})
}

impl Service {
    /// `POST /{app}/whatsapp_business_solution`.
    pub async fn create_solution(&self, acting: &Acting, req: NewSolution) -> Result<GraphId, GraphError> {
        let name = req.name.trim().to_string();
        if !SOLUTION_NAME_CHARS.contains(&name.chars().count()) {
            return Err(GraphError::invalid_param("Param solution_name must be 2 to 75 characters long"));
        }
        if req.owner_permissions.contains(Task::Messaging) == req.partner_permissions.contains(Task::Messaging) {
            return Err(GraphError::invalid_param(
                "Exactly one of owner_permissions and partner_permissions must include MESSAGING",
            ));
        }
        self.write(|tx| {
            let world = tx.world();
            let app = world.app(req.owner_app).ok_or_else(|| GraphError::unknown_object(Verb::Post, req.owner_app))?;
            let access = rules::authorize_business(
                world,
                &acting.caller,
                Verb::Post,
                Operation::ManageSolutions,
                app.business,
                app.id,
                None,
            )?;
            if req.partner_app == app.id || world.app(req.partner_app).is_none() {
                return Err(GraphError::invalid_param("Param partner_app_id must be the id of another app"));
            }
            let solution = Solution {
                id: tx.new_id(),
                name,
                owner_app: app.id,
                partner_app: req.partner_app,
                owner_permissions: req.owner_permissions,
                partner_permissions: req.partner_permissions,
                status: "INITIATED".into(),
                status_for_pending_request: "PENDING_ACTIVATION".into(),
                deactivation_requested_by: None,
                created_time: tx.now(),
            };
            tx.audit(
                acting,
                app.business,
                "solution.create",
                solution.id,
                "solution",
                None,
                Some(solution_json(&solution)),
            );
            let id = solution.id;
            notify_parties(tx, &solution, "partner_solutions", events::solution(&solution, true));
            tx.put_solution(&access, solution)?;
            Ok(id)
        })
        .await
    }

    /// The businesses of a solution's owner and partner apps.
    pub fn solution_sides(world: &model::World, s: &Solution) -> (Option<GraphId>, Option<GraphId>) {
        (world.app(s.owner_app).map(|a| a.business), world.app(s.partner_app).map(|a| a.business))
    }

    /// `POST /{solution}/accept` and the other state changes.
    pub async fn solution_action(
        &self,
        acting: &Acting,
        solution: GraphId,
        action: SolutionAction,
    ) -> Result<(), GraphError> {
        self.write(|tx| {
            let world = tx.world();
            let s = world.solution(solution).ok_or_else(|| GraphError::unknown_object(Verb::Post, solution))?;
            let (owner, partner) = Self::solution_sides(world, s);
            let business = acting.principal().business;
            let (is_owner, is_partner) = (owner == Some(business), partner == Some(business));
            if !is_owner && !is_partner {
                return Err(GraphError::unknown_object(Verb::Post, solution));
            }
            let access = rules::authorize_business(
                world,
                &acting.caller,
                Verb::Post,
                Operation::ManageSolutions,
                business,
                solution,
                None,
            )?;
            let mut next = s.clone();
            let pending = s.status_for_pending_request.as_str();
            match action {
                SolutionAction::Accept | SolutionAction::Reject => {
                    if !is_partner {
                        return Err(GraphError::permission(Some(
                            "only the partner app's business can accept or reject a solution",
                        )));
                    }
                    if s.status != "INITIATED" {
                        return Err(GraphError::invalid_param(format!(
                            "Solution {solution} is {}: only a solution pending activation can be accepted or rejected",
                            s.status
                        )));
                    }
                    next.status = if action == SolutionAction::Accept { "ACTIVE" } else { "REJECTED" }.into();
                    next.status_for_pending_request = "NONE".into();
                }
                SolutionAction::SendDeactivationRequest => {
                    if s.status != "ACTIVE" || pending != "NONE" {
                        return Err(GraphError::invalid_param(format!(
                            "Solution {solution} is {} ({pending}): only an active solution can be asked to deactivate",
                            s.status
                        )));
                    }
                    next.status_for_pending_request = "PENDING_DEACTIVATION".into();
                    next.deactivation_requested_by = Some(if is_owner { s.owner_app } else { s.partner_app });
                }
                SolutionAction::AcceptDeactivationRequest | SolutionAction::RejectDeactivationRequest => {
                    if pending != "PENDING_DEACTIVATION" {
                        return Err(GraphError::invalid_param(format!(
                            "Solution {solution} has no deactivation request pending"
                        )));
                    }
                    let requester_is_owner = s.deactivation_requested_by == Some(s.owner_app);
                    let answers_other_side = if requester_is_owner { is_partner } else { is_owner };
                    if !answers_other_side {
                        return Err(GraphError::permission(Some(
                            "a deactivation request is answered by the other side of the solution",
                        )));
                    }
                    if action == SolutionAction::AcceptDeactivationRequest {
                        next.status = "DEACTIVATED".into();
                    }
                    next.status_for_pending_request = "NONE".into();
                    next.deactivation_requested_by = None;
                }
            }
            tx.audit(
                acting,
                business,
                action.audit_name(),
                solution,
                "solution",
                Some(solution_json(s)),
                Some(solution_json(&next)),
            );
            notify_parties(tx, &next, "partner_solutions", events::solution(&next, false));
            // A deactivated (or rejected) solution no longer carries its sides to its WABAs: the
            // subscriptions of apps that reached a WABA only through it end in this write.
            for waba in tx.world().wabas_of_solution(solution) {
                tx.end_lost_subscriptions(acting, waba, &rules::Pending::Solution(&next));
            }
            if action == SolutionAction::Accept {
                // The WABAs onboarded onto the solution are now shared with both its partners.
                let (owner, partner) = Self::solution_sides(tx.world(), &next);
                let partners: Vec<GraphId> = owner.into_iter().chain(partner).collect();
                for waba in tx.world().wabas_of_solution(solution) {
                    let Some(waba_owner) = tx.world().waba(waba).map(|w| w.owner) else { continue };
                    let value = events::partner("PARTNER_ADDED", waba, waba_owner, None, Some((&next, &partners)));
                    notify_parties(tx, &next, "account_update", value);
                    // Each side's app now works on the customer's WABA.
                    for app in [next.owner_app, next.partner_app] {
                        let Some(business) = tx.world().app(app).map(|a| a.business) else { continue };
                        let value = events::partner(
                            "PARTNER_APP_INSTALLED",
                            waba,
                            waba_owner,
                            Some(app),
                            Some((&next, &partners)),
                        );
                        tx.notify_app(app, business, "account_update", value);
                    }
                }
            }
            tx.put_solution(&access, next)
        })
        .await
    }
}

/// Queues an event for the solution's two apps, each with its own business as the entry.
fn notify_parties(tx: &mut crate::Tx<'_>, s: &Solution, field: &str, value: serde_json::Value) {
    for app in [s.owner_app, s.partner_app] {
        if let Some(business) = tx.world().app(app).map(|a| a.business) {
            tx.notify_app(app, business, field, value.clone());
        }
    }
}

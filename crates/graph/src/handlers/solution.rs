//! `/{solution}`: a Multi-Partner Solution, seen by either side, and its state changes.

use model::rules::{self, Operation};
use model::{GraphError, GraphId, Verb};
use service::Service;
use service::solutions::SolutionAction;

use super::{no_such_edge, success};
use crate::Answer;
use crate::{Ctx, render};

pub(super) const EDGES: &[&str] =
    &["accept", "reject", "send_deactivation_request", "accept_deactivation_request", "reject_deactivation_request"];

pub async fn handle(ctx: &Ctx<'_>, id: GraphId, edge: Option<&str>) -> Result<Answer, GraphError> {
    match (ctx.verb, edge) {
        (Verb::Get, None) => {
            let acting = ctx.acting()?;
            let world = ctx.service.world();
            let s = world.solution(id).expect("dispatched by kind");
            let (owner, partner) = Service::solution_sides(&world, s);
            let business = acting.principal().business;
            if owner != Some(business) && partner != Some(business) {
                return Err(GraphError::unknown_object(Verb::Get, id));
            }
            rules::authorize_business(&world, &acting.caller, Verb::Get, Operation::ReadSolutions, business, id, None)?;
            render::solution(&world, s).select(ctx.fields())?.answer()
        }
        (Verb::Post, Some(edge)) if SolutionAction::parse(edge).is_some() => {
            let acting = *ctx.acting()?;
            let action = SolutionAction::parse(edge).expect("checked");
            ctx.service.solution_action(&acting, id, action).await?;
            Ok(success())
        }
        (_, None) => Err(GraphError::unknown_object(ctx.verb, id)),
        (_, Some(edge)) => Err(no_such_edge(ctx, id, edge, "WhatsAppBusinessSolution", EDGES)),
    }
}

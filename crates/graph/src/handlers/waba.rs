//! `/{waba}` and its assigned_users edge.

use model::rules::{self, Operation};
use model::{GraphError, GraphId, Verb};
use serde_json::Value;

use super::{no_such_edge, success};
use crate::params::parse_tasks;
use crate::{Ctx, paging, render};

const EDGES: &[&str] = &["assigned_users"];

pub async fn handle(ctx: &mut Ctx<'_>, id: GraphId, edge: Option<&str>) -> Result<Value, GraphError> {
    match (ctx.verb, edge) {
        (Verb::Get, None) => {
            let acting = ctx.acting()?;
            let world = ctx.service.world();
            rules::authorize_waba(&world, &acting.caller, Verb::Get, Operation::ReadWaba, id)?;
            let w = world.waba(id).expect("authorized WABA exists");
            render::waba(&world, w, acting.principal().business, None, render::WABA_DEFAULTS).select(ctx.fields())
        }
        (_, None) => Err(GraphError::unknown_object(ctx.verb, id)),
        (Verb::Get, Some("assigned_users")) => assigned_users(ctx, id),
        (Verb::Post, Some("assigned_users")) => {
            let acting = *ctx.acting()?;
            let user = ctx.params.required_id("user")?;
            let tasks = ctx.params.list("tasks")?.ok_or_else(|| GraphError::missing_param("tasks"))?;
            let tasks = parse_tasks(&tasks)?;
            ctx.service.assign(&acting, id, user, tasks).await?;
            Ok(success())
        }
        (Verb::Delete, Some("assigned_users")) => {
            let acting = *ctx.acting()?;
            let user = ctx.params.required_id("user")?;
            ctx.service.unassign(&acting, id, user).await?;
            Ok(success())
        }
        (_, Some(edge)) => Err(no_such_edge(ctx, id, edge, "WhatsAppBusinessAccount", EDGES)),
    }
}

/// The users of `business` assigned to the WABA, with their tasks as assigned. A caller lists
/// its own business's users.
fn assigned_users(ctx: &Ctx<'_>, id: GraphId) -> Result<Value, GraphError> {
    let acting = ctx.acting()?;
    let world = ctx.service.world();
    let access = rules::authorize_waba(&world, &acting.caller, Verb::Get, Operation::ReadAssignedUsers, id)?;
    let business = ctx.params.required_id("business")?;
    if world.business(business).is_none() {
        return Err(GraphError::invalid_param(format!(
            "Param business must be the id of a business; {business} is not"
        )));
    }
    if business != acting.principal().business {
        return Err(GraphError::permission(Some(&format!(
            "the assigned users of business {business} can only be listed by that business"
        ))));
    }
    let items = world
        .assignments_on(access.waba())
        .filter(|a| world.principal(a.user).is_some_and(|p| p.business == business))
        .map(|a| render::assigned_user(&world, a).select(ctx.fields()).map(|v| (a.user.0, v)))
        .collect::<Result<Vec<_>, _>>()?;
    paging::page(items, &ctx.params, &ctx.links())
}

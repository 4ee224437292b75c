//! Lines of credit: `/{credit}`, its whatsapp_credit_sharing_and_attach edge, and `/{allocation-config}`.

use model::rules::{self, Operation};
use model::{GraphError, GraphId, Verb};
use serde_json::json;

use super::{no_such_edge, success};
use crate::Answer;
use crate::{Ctx, paging, render};

pub(super) const EDGES: &[&str] = &["whatsapp_credit_sharing_and_attach"];

/// The credit line's business must be the caller's; a member may read it.
fn read_access(ctx: &Ctx<'_>, business: GraphId, object: GraphId) -> Result<(), GraphError> {
    let acting = ctx.acting()?;
    let world = ctx.service.world();
    rules::authorize_business(&world, &acting.caller, Verb::Get, Operation::ReadCreditLines, business, object, None)?;
    Ok(())
}

pub async fn credit_line(ctx: &Ctx<'_>, id: GraphId, edge: Option<&str>) -> Result<Answer, GraphError> {
    match (ctx.verb, edge) {
        (Verb::Get, None) => {
            let business = ctx.service.world().credit_line(id).map(|c| c.business).expect("dispatched by kind");
            read_access(ctx, business, id)?;
            let world = ctx.service.world();
            render::credit_line(&world, world.credit_line(id).expect("exists")).select(ctx.fields())?.answer()
        }
        (Verb::Post, Some("whatsapp_credit_sharing_and_attach")) => {
            let acting = *ctx.acting()?;
            let waba = ctx.params.required_id("waba_id")?;
            let currency = ctx.params.required("waba_currency")?;
            let allocation = ctx.service.share_credit(&acting, id, waba, currency.trim()).await?;
            Ok(Answer::from(json!({"allocation_config_id": allocation.id, "waba_id": allocation.waba})))
        }
        (_, None) => Err(GraphError::unknown_object(ctx.verb, id)),
        (_, Some(edge)) => Err(no_such_edge(ctx, id, edge, "ExtendedCredit", EDGES)),
    }
}

pub async fn allocation(ctx: &Ctx<'_>, id: GraphId, edge: Option<&str>) -> Result<Answer, GraphError> {
    match (ctx.verb, edge) {
        (Verb::Get, None) => {
            let business = {
                let world = ctx.service.world();
                let a = world.allocation(id).expect("dispatched by kind");
                world.credit_line(a.credit_line).map(|c| c.business)
            };
            read_access(ctx, business.ok_or_else(|| GraphError::unknown_object(Verb::Get, id))?, id)?;
            let world = ctx.service.world();
            render::allocation(&world, world.allocation(id).expect("exists")).select(ctx.fields())?.answer()
        }
        (Verb::Delete, None) => {
            let acting = *ctx.acting()?;
            ctx.service.revoke_credit(&acting, id).await?;
            Ok(success())
        }
        (_, None) => Err(GraphError::unknown_object(ctx.verb, id)),
        (_, Some(edge)) => Err(no_such_edge(ctx, id, edge, "ExtendedCreditAllocationConfig", &[])),
    }
}

/// `GET /{business}/extendedcredits`.
pub fn list(ctx: &Ctx<'_>, business: GraphId) -> Result<Answer, GraphError> {
    read_access(ctx, business, business)?;
    let world = ctx.service.world();
    let items = world.credit_lines_of(business).map(|c| (c.id.0, c)).collect();
    paging::page(items, &ctx.params, &ctx.links(), |c| render::credit_line(&world, c).select(ctx.fields()))?.answer()
}

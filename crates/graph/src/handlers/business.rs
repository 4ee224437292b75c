//! `/{business}` and its edges: system_users, owned and client WABAs.

use std::borrow::Cow;

use model::rules::{self, Operation};
use model::{GraphError, GraphId, ROLE_PARAMS, Verb};
use serde_json::json;

use super::{no_such_edge, success};
use crate::Answer;
use crate::{Ctx, paging, render};

pub(super) const EDGES: &[&str] =
    &["system_users", "owned_whatsapp_business_accounts", "client_whatsapp_business_accounts", "extendedcredits"];

pub async fn handle(ctx: &mut Ctx<'_>, id: GraphId, edge: Option<&str>) -> Result<Answer, GraphError> {
    match (ctx.verb, edge) {
        (Verb::Get, None) => {
            let acting = ctx.acting()?;
            let world = ctx.service.world();
            rules::authorize_business(&world, &acting.caller, Verb::Get, Operation::ReadBusiness, id, id, None)?;
            render::business(world.business(id).expect("authorized business exists")).select(ctx.fields())?.answer()
        }
        (Verb::Get, Some("system_users")) => list_system_users(ctx, id),
        (Verb::Post, Some("system_users")) => create_or_rename(ctx, id).await,
        (Verb::Get, Some("owned_whatsapp_business_accounts")) => list_wabas(ctx, id, true),
        (Verb::Get, Some("client_whatsapp_business_accounts")) => list_wabas(ctx, id, false),
        (Verb::Get, Some("extendedcredits")) => super::credit::list(ctx, id),
        (_, None) => Err(GraphError::unknown_object(ctx.verb, id)),
        (_, Some(edge)) => Err(no_such_edge(ctx, id, edge, "Business", EDGES)),
    }
}

fn list_system_users(ctx: &Ctx<'_>, id: GraphId) -> Result<Answer, GraphError> {
    let acting = ctx.acting()?;
    let world = ctx.service.world();
    let access =
        rules::authorize_business(&world, &acting.caller, Verb::Get, Operation::ListSystemUsers, id, id, None)?;
    let items = world.system_users_of(access.business()).map(|su| (su.id.0, su)).collect();
    paging::page(items, &ctx.params, &ctx.links(), |su| {
        render::system_user(&world, su, render::SYSTEM_USER_LIST_DEFAULTS).select(ctx.fields())
    })?
    .answer()
}

/// Meta takes fifteen role names on create; each becomes ADMIN or EMPLOYEE.
fn parse_role(value: Option<String>) -> Result<(model::Role, Option<model::FinancePermission>), GraphError> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else { return Ok((model::Role::Employee, None)) };
    ROLE_PARAMS
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(value.trim()))
        .map(|(_, role, finance)| (*role, *finance))
        .ok_or_else(|| {
            let names: Vec<&str> = ROLE_PARAMS.iter().map(|(n, _, _)| *n).collect();
            GraphError::invalid_param(format!("Param role must be one of {{{}}}", names.join(", ")))
        })
}

async fn create_or_rename(ctx: &Ctx<'_>, business: GraphId) -> Result<Answer, GraphError> {
    let acting = *ctx.acting()?;
    if let Some(system_user) = ctx.params.id("system_user_id")? {
        let name = ctx.params.required("name")?;
        ctx.service.rename_system_user(&acting, business, system_user, &name).await?;
        return Ok(success());
    }
    let name = ctx.params.required("name")?;
    let (role, finance) = parse_role(ctx.params.text("role").map(Cow::into_owned))?;
    let id = ctx.service.create_system_user(&acting, business, &name, role, finance).await?;
    Ok(Answer::from(json!({"id": id})))
}

/// Owned or client WABAs, narrowed to those the caller holds a task on.
fn list_wabas(ctx: &Ctx<'_>, id: GraphId, owned: bool) -> Result<Answer, GraphError> {
    let acting = ctx.acting()?;
    let world = ctx.service.world();
    let access = rules::authorize_business(&world, &acting.caller, Verb::Get, Operation::ListWabas, id, id, None)?;
    let business = access.business();
    let wabas: Vec<_> =
        if owned { world.owned_wabas(business).collect() } else { world.client_wabas(business).collect() };
    let items = wabas
        .into_iter()
        .filter(|w| !rules::effective_tasks(&world, acting.principal(), w.id).is_empty())
        .map(|w| (w.id.0, w))
        .collect();
    paging::page(items, &ctx.params, &ctx.links(), |w| {
        render::waba(&world, w, &acting.caller, None, render::WABA_DEFAULTS).select(ctx.fields())
    })?
    .answer()
}

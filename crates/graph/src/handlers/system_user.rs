//! `/{system-user}` and its edges: applications, access_tokens, assigned WABAs.

use std::borrow::Cow;

use model::rules::{self, Operation};
use model::{GraphError, GraphId, ScopeSet, Verb};
use serde_json::json;
use service::{MintProof, MintRequest};

use super::{no_such_edge, success};
use crate::Answer;
use crate::params::parse_scopes;
use crate::{Ctx, paging, render};

pub(super) const EDGES: &[&str] = &["applications", "access_tokens", "assigned_whatsapp_business_accounts"];

pub async fn handle(ctx: &mut Ctx<'_>, id: GraphId, edge: Option<&str>) -> Result<Answer, GraphError> {
    match (ctx.verb, edge) {
        (Verb::Get, None) => {
            let acting = ctx.acting()?;
            let world = ctx.service.world();
            let su = world.system_user(id).expect("dispatched by kind");
            // A system user may always read itself (`/me` needs no scope).
            if acting.principal().id != id {
                rules::authorize_business(
                    &world,
                    &acting.caller,
                    Verb::Get,
                    Operation::ReadSystemUser,
                    su.business,
                    id,
                    None,
                )?;
            }
            render::system_user(&world, su, render::SYSTEM_USER_DEFAULTS).select(ctx.fields())?.answer()
        }
        // System users cannot be deleted, as at Meta: the node has no DELETE.
        (_, None) => Err(GraphError::unknown_object(ctx.verb, id)),
        (Verb::Post, Some("applications")) => {
            let acting = *ctx.acting()?;
            let app = ctx.params.required_id("business_app")?;
            ctx.service.install_app(&acting, id, app).await?;
            Ok(success())
        }
        (Verb::Post, Some("access_tokens")) => mint(ctx, id).await,
        (Verb::Delete, Some("access_tokens")) => {
            let acting = *ctx.acting()?;
            ctx.service.revoke_all_tokens(&acting, id).await?;
            Ok(success())
        }
        (Verb::Get, Some("assigned_whatsapp_business_accounts")) => assigned_wabas(ctx, id),
        (_, Some(edge)) => Err(no_such_edge(ctx, id, edge, "SystemUser", EDGES)),
    }
}

async fn mint(ctx: &Ctx<'_>, id: GraphId) -> Result<Answer, GraphError> {
    let acting = *ctx.acting()?;
    let app = ctx.params.required_id("business_app")?;
    let scopes = match ctx.params.list("scope")? {
        Some(items) => parse_scopes(&items)?,
        None => ScopeSet::EMPTY,
    };
    let req = MintRequest {
        system_user: id,
        app,
        scopes,
        expires_in_60_days: ctx.params.bool("set_token_expires_in_60_days")?.unwrap_or(false),
        proof: MintProof::Api {
            proof: ctx.params.text("appsecret_proof").map(Cow::into_owned),
            caller_token: ctx.raw_token().unwrap_or_default().to_string(),
        },
    };
    let token = ctx.service.mint_token(&acting, req).await?;
    Ok(Answer::from(json!({"access_token": token})))
}

/// The WABAs a system user is assigned, with its tasks on each, narrowed to what the caller sees.
fn assigned_wabas(ctx: &Ctx<'_>, id: GraphId) -> Result<Answer, GraphError> {
    let acting = ctx.acting()?;
    let world = ctx.service.world();
    let su = world.system_user(id).expect("dispatched by kind");
    if acting.principal().id != id {
        rules::authorize_business(&world, &acting.caller, Verb::Get, Operation::ReadSystemUser, su.business, id, None)?;
    }
    let items = world
        .assignments_of(id)
        .filter(|a| {
            acting.principal().id == id || !rules::effective_tasks(&world, acting.principal(), a.waba).is_empty()
        })
        .filter_map(|a| world.waba(a.waba).map(|w| (a, w)))
        .map(|(a, w)| (w.id.0, (a, w)))
        .collect();
    paging::page(items, &ctx.params, &ctx.links(), |(a, w)| {
        render::waba(&world, w, &acting.caller, Some(json!(a.tasks)), render::ASSIGNED_WABA_DEFAULTS)
            .select(ctx.fields())
    })?
    .answer()
}

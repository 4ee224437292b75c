//! `/{app}` and its Multi-Partner Solution edges.

use model::rules::{self, Operation};
use model::{GraphError, GraphId, Verb};
use serde_json::json;
use service::solutions::NewSolution;

use super::{no_such_edge, success};
use crate::Answer;
use crate::params::parse_tasks;
use crate::{Ctx, paging, render};

pub(super) const EDGES: &[&str] = &["whatsapp_business_solution", "whatsapp_business_solutions", "subscriptions"];

/// An app: visible to the people and system users of the business that owns it, and to itself.
pub async fn handle(ctx: &Ctx<'_>, id: GraphId, edge: Option<&str>) -> Result<Answer, GraphError> {
    {
        let world = ctx.service.world();
        let a = world.app(id).ok_or_else(|| GraphError::unknown_object(ctx.verb, id))?;
        let visible = match ctx.auth()? {
            service::Authenticated::App { app } => *app == id,
            service::Authenticated::User { acting, .. } => acting.principal().business == a.business,
        };
        if !visible {
            return Err(GraphError::unknown_object(ctx.verb, id));
        }
        if let (Verb::Get, None) = (ctx.verb, edge) {
            return render::app(&world, a).select(ctx.fields())?.answer();
        }
    }
    match (ctx.verb, edge) {
        (Verb::Post, Some("whatsapp_business_solution")) => create_solution(ctx, id).await,
        (Verb::Get, Some("whatsapp_business_solutions")) => list_solutions(ctx, id),
        (_, Some("subscriptions")) => subscriptions(ctx, id).await,
        (_, None) => Err(GraphError::unknown_object(ctx.verb, id)),
        (_, Some(edge)) => Err(no_such_edge(ctx, id, edge, "Application", EDGES)),
    }
}

async fn create_solution(ctx: &Ctx<'_>, app: GraphId) -> Result<Answer, GraphError> {
    let acting = *ctx.acting()?;
    let list = |name: &str| -> Result<_, GraphError> {
        let items = ctx.params.list(name)?.ok_or_else(|| GraphError::missing_param(name))?;
        parse_tasks(&items).map_err(|_| GraphError::invalid_param(format!("Param {name} must be a list of WABA tasks")))
    };
    let req = NewSolution {
        owner_app: app,
        name: ctx.params.required("solution_name")?,
        partner_app: ctx.params.required_id("partner_app_id")?,
        owner_permissions: list("owner_permissions")?,
        partner_permissions: list("partner_permissions")?,
    };
    let id = ctx.service.create_solution(&acting, req).await?;
    Ok(Answer::from(json!({"solution_id": id})))
}

/// The solutions the app owns (`role=OWNER`) or is the partner of (`role=PARTNER`); both without a role.
fn list_solutions(ctx: &Ctx<'_>, app: GraphId) -> Result<Answer, GraphError> {
    let acting = ctx.acting()?;
    let world = ctx.service.world();
    let business = world.app(app).map(|a| a.business).expect("dispatched by kind");
    rules::authorize_business(&world, &acting.caller, Verb::Get, Operation::ReadSolutions, business, app, None)?;
    let role = ctx.params.text("role").map(|r| r.trim().to_ascii_uppercase());
    let (owner, partner) = match role.as_deref() {
        None | Some("") => (true, true),
        Some("OWNER") => (true, false),
        Some("PARTNER") => (false, true),
        Some(_) => return Err(GraphError::invalid_param("Param role must be one of {OWNER, PARTNER}")),
    };
    let items = world
        .solutions()
        .filter(|s| (owner && s.owner_app == app) || (partner && s.partner_app == app))
        .map(|s| (s.id.0, s))
        .collect();
    paging::page(items, &ctx.params, &ctx.links(), |s| render::solution(&world, s).select(ctx.fields()))?.answer()
}

/// `/{app}/subscriptions`: the app's webhook subscriptions, managed with its app token.
async fn subscriptions(ctx: &Ctx<'_>, app: GraphId) -> Result<Answer, GraphError> {
    if !matches!(ctx.auth()?, service::Authenticated::App { app: a } if *a == app) {
        return Err(GraphError::app_token_required());
    }
    let fields = ctx.params.list("fields")?;
    match ctx.verb {
        Verb::Get => {
            let world = ctx.service.world();
            let data: Vec<_> = world
                .app_subscriptions_of(app)
                .map(|s| {
                    let fields: Vec<_> = s.fields.iter().map(|f| json!({"name": f, "version": "v23.0"})).collect();
                    json!({"object": s.object, "callback_url": s.callback_url, "active": true, "fields": fields})
                })
                .collect();
            Ok(Answer::from(json!({ "data": data })))
        }
        Verb::Post => {
            let object = ctx.params.required("object")?;
            let callback_url = ctx.params.required("callback_url")?;
            let verify_token = ctx.params.required("verify_token")?;
            let fields = fields.filter(|f| !f.is_empty()).ok_or_else(|| GraphError::missing_param("fields"))?;
            ctx.service.subscribe_webhooks(ctx.auth()?, app, &object, &callback_url, &verify_token, fields).await?;
            Ok(success())
        }
        Verb::Delete => {
            let object = ctx.params.text("object").filter(|o| !o.is_empty());
            ctx.service.unsubscribe_webhooks(ctx.auth()?, app, object.as_deref(), fields).await?;
            Ok(success())
        }
    }
}

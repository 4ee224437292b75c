//! `/{waba}` and its edges: assigned_users, phone_numbers, message_templates, subscribed_apps,
//! solutions.

use std::borrow::Cow;

use model::rules::{self, Operation};
use model::{GraphError, GraphId, Verb};
use serde_json::{Value, json};
use service::whatsapp::{NewTemplate, TemplateSelector};

use super::{no_such_edge, success};
use crate::Answer;
use crate::params::parse_tasks;
use crate::{Ctx, paging, render};

pub(super) const EDGES: &[&str] =
    &["assigned_users", "phone_numbers", "message_templates", "subscribed_apps", "solutions"];

pub async fn handle(ctx: &mut Ctx<'_>, id: GraphId, edge: Option<&str>) -> Result<Answer, GraphError> {
    match (ctx.verb, edge) {
        (Verb::Get, None) => read(ctx, id),
        (Verb::Post, None) => {
            let acting = *ctx.acting()?;
            ctx.service.update_waba(&acting, id, ctx.params.text("name").map(Cow::into_owned)).await?;
            Ok(success())
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
        (Verb::Get, Some("phone_numbers")) => phone_numbers(ctx, id),
        (Verb::Get, Some("message_templates")) => templates(ctx, id),
        (Verb::Post, Some("message_templates")) => create_template(ctx, id).await,
        (Verb::Delete, Some("message_templates")) => delete_templates(ctx, id).await,
        (Verb::Get, Some("subscribed_apps")) => subscribed_apps(ctx, id),
        (Verb::Post, Some("subscribed_apps")) => {
            let (acting, app) = caller_app(ctx)?;
            let uri = ctx.params.text("override_callback_uri").filter(|u| !u.is_empty()).map(Cow::into_owned);
            let verify = ctx.params.text("verify_token").map(Cow::into_owned);
            ctx.service.subscribe_app(&acting, id, app, uri, verify).await?;
            Ok(success())
        }
        (Verb::Delete, Some("subscribed_apps")) => {
            let (acting, app) = caller_app(ctx)?;
            let other = ctx.params.id("app_id")?;
            ctx.service.unsubscribe_app(&acting, id, app, other).await?;
            Ok(success())
        }
        (Verb::Get, Some("solutions")) => solutions(ctx, id),
        (_, Some(edge)) => Err(no_such_edge(ctx, id, edge, "WhatsAppBusinessAccount", EDGES)),
    }
}

/// The WABA node. Analytics fields need VIEW_COST or VIEW_INSIGHTS besides access to the WABA.
fn read(ctx: &Ctx<'_>, id: GraphId) -> Result<Answer, GraphError> {
    let acting = ctx.acting()?;
    let world = ctx.service.world();
    rules::authorize_waba(&world, &acting.caller, Verb::Get, Operation::ReadWaba, id)?;
    for f in ctx.fields().unwrap_or_default() {
        rules::authorize_waba_field(&world, &acting.caller, Verb::Get, id, &f.name)?;
    }
    let w = world.waba(id).expect("authorized WABA exists");
    render::waba(&world, w, &acting.caller, None, render::WABA_DEFAULTS).select(ctx.fields())?.answer()
}

/// The app of the caller's token: subscriptions are made by the app that calls.
fn caller_app(ctx: &Ctx<'_>) -> Result<(service::Acting, GraphId), GraphError> {
    match ctx.auth()? {
        service::Authenticated::User { acting, token } => Ok((*acting, token.app)),
        service::Authenticated::App { .. } => {
            Err(GraphError::permission(Some("this call needs a system user access token, not an app access token")))
        }
    }
}

/// The users of `business` assigned to the WABA, with their tasks as assigned. A caller lists
/// its own business's users.
fn assigned_users(ctx: &Ctx<'_>, id: GraphId) -> Result<Answer, GraphError> {
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
    let waba = access.waba();
    paging::page_by(
        world.grants_on_for(waba, business),
        |g| g.user.0,
        &ctx.params,
        &ctx.links(),
        |g| render::assigned_user(&world, &g.on(waba)).select(ctx.fields()),
    )?
    .answer()
}

fn phone_numbers(ctx: &Ctx<'_>, id: GraphId) -> Result<Answer, GraphError> {
    let acting = ctx.acting()?;
    let world = ctx.service.world();
    let access = rules::authorize_waba(&world, &acting.caller, Verb::Get, Operation::ReadPhoneNumbers, id)?;
    let items = world.phone_numbers_of(access.waba()).map(|p| (p.id.0, p)).collect();
    paging::page(items, &ctx.params, &ctx.links(), |p| render::phone_number(p).select(ctx.fields()))?.answer()
}

/// A list filter given as one value or a list (`status=APPROVED` or `status=["APPROVED"]`).
fn filter(ctx: &Ctx<'_>, name: &str) -> Result<Option<Vec<String>>, GraphError> {
    Ok(ctx.params.list(name)?.map(|items| items.into_iter().map(|i| i.to_ascii_uppercase()).collect()))
}

/// Templates, filtered by name (substring), status, category and language, with the summary
/// counters clients ask for.
fn templates(ctx: &Ctx<'_>, id: GraphId) -> Result<Answer, GraphError> {
    let acting = ctx.acting()?;
    let world = ctx.service.world();
    let access = rules::authorize_waba(&world, &acting.caller, Verb::Get, Operation::ReadTemplates, id)?;
    let name = ctx.params.text("name").filter(|n| !n.is_empty()).map(Cow::into_owned);
    let status = filter(ctx, "status")?;
    let category = filter(ctx, "category")?;
    let language = ctx.params.list("language")?;
    let all: Vec<_> = world.templates_of(access.waba()).collect();
    let items = all
        .iter()
        .filter(|t| name.as_ref().is_none_or(|n| t.name.contains(&**n)))
        .filter(|t| status.as_ref().is_none_or(|s| s.contains(&t.status)))
        .filter(|t| category.as_ref().is_none_or(|c| c.contains(&t.category)))
        .filter(|t| language.as_ref().is_none_or(|l| l.contains(&t.language)))
        .map(|t| (t.id.0, *t))
        .collect();
    let mut page = paging::page(items, &ctx.params, &ctx.links(), |t| render::template(t).select(ctx.fields()))?;
    // Asked for any summary, the template edge gives all its counters (pywa needs all four).
    if ctx.params.text("summary").is_some_and(|s| !s.trim().is_empty()) {
        page.summary = Some(json!({
            "total_count": all.len(),
            "message_template_count": all.len(),
            "message_template_limit": model::template::MAX_TEMPLATES_PER_WABA,
            "are_translations_complete": true,
        }));
    }
    page.answer()
}

/// `components` as a JSON value: clients send a real array (JSON bodies) or its JSON text (forms).
pub fn components(ctx: &Ctx<'_>) -> Result<Option<Value>, GraphError> {
    match ctx.params.json("components") {
        Some(Ok(v)) => Ok(Some(v)),
        Some(Err(_)) => Err(GraphError::template_invalid("Param components must be a JSON list of components")),
        None => Ok(None),
    }
}

async fn create_template(ctx: &Ctx<'_>, id: GraphId) -> Result<Answer, GraphError> {
    let acting = *ctx.acting()?;
    let t = NewTemplate {
        name: ctx.params.required("name")?,
        language: ctx.params.required("language")?,
        category: ctx.params.required("category")?,
        components: components(ctx)?.ok_or_else(|| GraphError::missing_param("components"))?,
        parameter_format: ctx.params.text("parameter_format").map(Cow::into_owned),
    };
    let created = ctx.service.create_template(&acting, id, t).await?;
    Ok(Answer::from(json!({"id": created.id, "status": created.status, "category": created.category})))
}

async fn delete_templates(ctx: &Ctx<'_>, id: GraphId) -> Result<Answer, GraphError> {
    let acting = *ctx.acting()?;
    let name = ctx.params.text("name").filter(|n| !n.is_empty()).map(Cow::into_owned);
    let selector = if let Some(hsm) = ctx.params.id("hsm_id")? {
        TemplateSelector::Id(hsm, name)
    } else if let Some(ids) = ctx.params.list("hsm_ids")? {
        let ids = ids
            .iter()
            .map(|i| GraphId::parse(i).ok_or_else(|| GraphError::invalid_param("Param hsm_ids must be a list of ids")))
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            return Err(GraphError::invalid_param("Param hsm_ids must not be empty"));
        }
        TemplateSelector::Ids(ids)
    } else {
        TemplateSelector::Name(name.ok_or_else(|| GraphError::missing_param("name"))?)
    };
    ctx.service.delete_templates(&acting, id, selector).await?;
    Ok(success())
}

fn subscribed_apps(ctx: &Ctx<'_>, id: GraphId) -> Result<Answer, GraphError> {
    let acting = ctx.acting()?;
    let world = ctx.service.world();
    let access = rules::authorize_waba(&world, &acting.caller, Verb::Get, Operation::ReadSubscribedApps, id)?;
    let items = world.subscribed_apps_of(access.waba()).map(|s| (s.app.0, s)).collect();
    paging::page(items, &ctx.params, &ctx.links(), |s| render::subscribed_app(&world, s).select(ctx.fields()))?.answer()
}

fn solutions(ctx: &Ctx<'_>, id: GraphId) -> Result<Answer, GraphError> {
    let acting = ctx.acting()?;
    let world = ctx.service.world();
    let access = rules::authorize_waba(&world, &acting.caller, Verb::Get, Operation::ReadWaba, id)?;
    let items = world.solutions_of(access.waba()).map(|s| (s.id.0, s)).collect();
    paging::page(items, &ctx.params, &ctx.links(), |s| render::solution(&world, s).select(ctx.fields()))?.answer()
}

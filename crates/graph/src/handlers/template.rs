//! `/{template}`: one message template; `POST` edits it and sends it back to review.

use std::borrow::Cow;

use model::rules::Operation;
use model::{GraphError, GraphId, Verb};
use service::Service;

use super::{no_such_edge, success};
use crate::Answer;
use crate::{Ctx, render};

pub async fn handle(ctx: &Ctx<'_>, id: GraphId, edge: Option<&str>) -> Result<Answer, GraphError> {
    match (ctx.verb, edge) {
        (Verb::Get, None) => {
            let acting = ctx.acting()?;
            let world = ctx.service.world();
            let (t, _) = Service::template_access(&world, acting, Verb::Get, Operation::ReadTemplates, id)?;
            render::template(&t).select(ctx.fields())?.answer()
        }
        (Verb::Post, None) => {
            let acting = *ctx.acting()?;
            let components = super::waba::components(ctx)?;
            ctx.service
                .edit_template(&acting, id, components, ctx.params.text("category").map(Cow::into_owned))
                .await?;
            Ok(success())
        }
        (_, None) => Err(GraphError::unknown_object(ctx.verb, id)),
        (_, Some(edge)) => Err(no_such_edge(ctx, id, edge, "WhatsAppMessageTemplate", &[])),
    }
}

/// `POST /_wabagate/templates/{id}/review` with `status` APPROVED or REJECTED (and a `reason`):
/// the manual review. Not a Graph endpoint.
pub async fn review(ctx: &Ctx<'_>, id: &str) -> Result<Answer, GraphError> {
    if ctx.verb != Verb::Post {
        return Err(GraphError::unsupported(ctx.verb, id));
    }
    let acting = *ctx.acting()?;
    let id = GraphId::parse(id).ok_or_else(|| GraphError::unknown_alias(id))?;
    let approve = match ctx.params.required("status")?.to_ascii_uppercase().as_str() {
        "APPROVED" => true,
        "REJECTED" => false,
        other => {
            return Err(GraphError::invalid_param(format!(
                "Param status must be one of {{APPROVED, REJECTED}} - got \"{other}\"."
            )));
        }
    };
    ctx.service.review_template(&acting, id, approve, ctx.params.text("reason").map(Cow::into_owned)).await?;
    Ok(success())
}

//! `/{phone}`: a WhatsApp business phone number, its registration and verification, and messages.

use model::rules::Operation;
use model::{GraphError, GraphId, Verb};
use serde_json::json;
use service::Service;

use super::{no_such_edge, success};
use crate::Answer;
use crate::{Ctx, render};

pub(super) const EDGES: &[&str] = &["register", "deregister", "request_code", "verify_code", "messages"];

pub async fn handle(ctx: &Ctx<'_>, id: GraphId, edge: Option<&str>) -> Result<Answer, GraphError> {
    match (ctx.verb, edge) {
        (Verb::Get, None) => {
            let acting = ctx.acting()?;
            let world = ctx.service.world();
            let (p, _) = Service::phone_access(&world, acting, Verb::Get, Operation::ReadPhoneNumbers, id)?;
            let mut node = render::phone_number(&p);
            node.defaults = render::PHONE_NODE_DEFAULTS;
            node.select(ctx.fields())?.answer()
        }
        (_, None) => Err(GraphError::unknown_object(ctx.verb, id)),
        (Verb::Post, Some("register")) => {
            let acting = *ctx.acting()?;
            check_product(ctx)?;
            let pin = ctx.params.required("pin")?;
            ctx.service.register_phone(&acting, id, pin.trim()).await?;
            Ok(success())
        }
        (Verb::Post, Some("deregister")) => {
            let acting = *ctx.acting()?;
            ctx.service.deregister_phone(&acting, id).await?;
            Ok(success())
        }
        (Verb::Post, Some("request_code")) => {
            let acting = *ctx.acting()?;
            let method = ctx.params.required("code_method")?.trim().to_ascii_uppercase();
            ctx.params.required("language")?;
            ctx.service.request_code(&acting, id, &method).await?;
            Ok(success())
        }
        (Verb::Post, Some("verify_code")) => {
            let acting = *ctx.acting()?;
            let code = ctx.params.required("code")?;
            ctx.service.verify_code(&acting, id, &code).await?;
            Ok(success())
        }
        (Verb::Post, Some("messages")) => {
            let acting = *ctx.acting()?;
            let sent = ctx.service.send_message(&acting, id, ctx.params.as_json()).await?;
            let mut message = json!({"id": sent.id});
            if sent.is_template {
                message["message_status"] = json!("accepted");
            }
            Ok(Answer::from(json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": sent.input, "wa_id": sent.wa_id}],
                "messages": [message],
            })))
        }
        (_, Some(edge)) => Err(no_such_edge(ctx, id, edge, "WhatsAppBusinessPhoneNumber", EDGES)),
    }
}

/// `messaging_product`, where an endpoint takes it, must be `whatsapp`.
fn check_product(ctx: &Ctx<'_>) -> Result<(), GraphError> {
    match ctx.params.text("messaging_product") {
        None => Err(GraphError::missing_param("messaging_product")),
        Some(p) if p.eq_ignore_ascii_case("whatsapp") => Ok(()),
        Some(p) => Err(GraphError::invalid_param(format!(
            "Param messaging_product must be one of {{WHATSAPP}} - got \"{p}\"."
        ))),
    }
}

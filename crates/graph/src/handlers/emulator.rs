//! wabagate's own endpoints for what Meta does outside the Graph API: sharing a WABA with a
//! partner (Embedded Signup, Business Settings), a customer writing to a phone number, and the
//! log of webhook deliveries. They speak Graph's conventions all the same (docs/webhooks.md).

use model::{GraphError, GraphId, ShareLevel, Verb};
use serde_json::{Value, json};

use crate::handlers::success;
use crate::paging::{self, DEFAULT_LIMIT, MAX_LIMIT};
use crate::{Answer, Ctx};

fn id_of(s: &str) -> Result<GraphId, GraphError> {
    GraphId::parse(s).ok_or_else(|| GraphError::unknown_alias(s))
}

/// `POST /_wabagate/wabas/{waba}/partners` (`partner`, `level` FULL or STANDARD, and `app`, a
/// partner's app the customer grants permissions) shares the WABA; `DELETE` with `partner` ends
/// the share.
pub async fn partners(ctx: &Ctx<'_>, waba: &str) -> Result<Answer, GraphError> {
    let acting = *ctx.acting()?;
    let waba = id_of(waba)?;
    let partner = ctx.params.required_id("partner")?;
    match ctx.verb {
        Verb::Post => {
            let level = match ctx.params.text("level").map(|l| l.trim().to_ascii_uppercase()).as_deref() {
                None | Some("") | Some("FULL") => ShareLevel::Full,
                Some("STANDARD") => ShareLevel::Standard,
                Some(other) => {
                    return Err(GraphError::invalid_param(format!(
                        "Param level must be one of {{FULL, STANDARD}} - got \"{other}\"."
                    )));
                }
            };
            let app = ctx.params.id("app")?;
            ctx.service.share_waba(&acting, waba, partner, level, app).await?;
            Ok(success())
        }
        Verb::Delete => {
            ctx.service.unshare_waba(&acting, waba, partner).await?;
            Ok(success())
        }
        Verb::Get => Err(GraphError::unsupported(ctx.verb, "_wabagate/wabas/partners")),
    }
}

/// `POST /_wabagate/phone_numbers/{phone}/inbound` (`from`, `text`, optional `name`): a customer's
/// text message to the number, sent as a `messages` webhook. Answers the message id.
pub async fn inbound(ctx: &Ctx<'_>, phone: &str) -> Result<Answer, GraphError> {
    if ctx.verb != Verb::Post {
        return Err(GraphError::unsupported(ctx.verb, "_wabagate/phone_numbers/inbound"));
    }
    let acting = *ctx.acting()?;
    let phone = id_of(phone)?;
    let from = ctx.params.required("from")?;
    let text = ctx.params.required("text")?;
    let name = ctx.params.text("name");
    let id = ctx.service.simulate_inbound(&acting, phone, &from, name.as_deref(), &text).await?;
    Ok(Answer::from(json!({"messages": [{"id": id}]})))
}

/// Refuses any token but the app's own, as `/{app}/subscriptions` does.
fn app_itself(ctx: &Ctx<'_>, app: &str) -> Result<GraphId, GraphError> {
    let app = id_of(app)?;
    if !matches!(ctx.auth()?, service::Authenticated::App { app: a } if *a == app) {
        return Err(GraphError::app_token_required());
    }
    Ok(app)
}

/// A delivery as the log shows it, with the body it sent as JSON.
pub fn delivery_json(d: &model::WebhookDelivery) -> Value {
    json!({
        "id": d.id.to_string(),
        "field": d.event.field,
        "entry_id": d.event.entry.to_string(),
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "last_status_code": d.last_code,
        "last_error": d.last_error,
        "latency_ms": d.latency_ms,
        "callback_url": d.callback_url,
        "due_time": d.event.due_ms.div_euclid(1000),
        "finished_time": d.finished_ms.map(|f| f.div_euclid(1000)),
        "body": serde_json::from_str::<Value>(&d.event.body).unwrap_or(Value::Null),
    })
}

/// `GET /_wabagate/apps/{app}/webhook_deliveries`: the app's deliveries, newest first, with the
/// app token; paged with `limit` and `after`.
pub async fn deliveries(ctx: &Ctx<'_>, app: &str) -> Result<Answer, GraphError> {
    if ctx.verb != Verb::Get {
        return Err(GraphError::unsupported(ctx.verb, "_wabagate/apps/webhook_deliveries"));
    }
    let app = app_itself(ctx, app)?;
    let limit = match ctx.params.text("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| GraphError::invalid_param("Param limit must be an integer"))?
            .clamp(1, MAX_LIMIT),
    };
    let before = ctx.params.text("after").filter(|s| !s.is_empty()).map(|c| paging::decode_cursor(&c)).transpose()?;
    let mut found = ctx.service.deliveries(app, before, limit + 1).await?;
    let more = found.len() > limit;
    found.truncate(limit);
    let mut out = json!({"data": found.iter().map(delivery_json).collect::<Vec<_>>()});
    if let (Some(first), Some(last)) = (found.first(), found.last()) {
        let mut paging =
            json!({"cursors": {"before": paging::encode_cursor(first.id), "after": paging::encode_cursor(last.id)}});
        if more {
            paging["next"] = json!(paging::link(&ctx.params, &ctx.links(), "after", last.id));
        }
        out["paging"] = paging;
    }
    Ok(Answer::from(out))
}

/// `POST /_wabagate/apps/{app}/webhook_deliveries/{id}/redeliver`: sends a delivery's event again,
/// as a new delivery. Answers its id.
pub async fn redeliver(ctx: &Ctx<'_>, app: &str, id: &str) -> Result<Answer, GraphError> {
    if ctx.verb != Verb::Post {
        return Err(GraphError::unsupported(ctx.verb, "_wabagate/apps/webhook_deliveries/redeliver"));
    }
    let app = app_itself(ctx, app)?;
    let unknown = || GraphError::invalid_param(format!("Webhook delivery {id} does not exist"));
    let delivery: u64 = id.parse().map_err(|_| unknown())?;
    let new = ctx.service.redeliver(ctx.auth()?.app_caller(), app, delivery).await?.ok_or_else(unknown)?;
    Ok(Answer::from(json!({"success": true, "id": new.to_string()})))
}

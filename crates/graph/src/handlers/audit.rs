//! `GET /_wabagate/audit`: the audit log of access changes, for admins of the business. Not a
//! Graph endpoint (Meta has none); it speaks Graph's conventions all the same.

use model::rules::{self, Operation};
use model::{GraphError, Verb};
use serde_json::json;
use store::AuditQuery;

use crate::Answer;
use crate::Ctx;
use crate::paging::{self, DEFAULT_LIMIT, MAX_LIMIT};

pub async fn list(ctx: &Ctx<'_>) -> Result<Answer, GraphError> {
    if ctx.verb != Verb::Get {
        return Err(GraphError::unsupported(ctx.verb, "_wabagate/audit"));
    }
    let acting = ctx.acting()?;
    let business = ctx.params.id("business")?.unwrap_or(acting.principal().business);
    {
        let world = ctx.service.world();
        rules::authorize_business(
            &world,
            &acting.caller,
            Verb::Get,
            Operation::ReadAuditLog,
            business,
            business,
            None,
        )?;
    }
    let limit = match ctx.params.text("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| GraphError::invalid_param("Param limit must be an integer"))?
            .clamp(1, MAX_LIMIT),
    };
    let before = ctx.params.text("after").filter(|s| !s.is_empty()).map(|c| paging::decode_cursor(&c)).transpose()?;
    let query = AuditQuery {
        business: Some(business),
        actor: ctx.params.id("actor")?,
        target: ctx.params.id("target")?,
        before,
        limit: limit + 1,
    };
    let mut events = ctx.service.audit_log(query).await?;
    let more = events.len() > limit;
    events.truncate(limit);
    let mut out = json!({ "data": events });
    if let (Some(first), Some(last)) = (events.first(), events.last()) {
        let mut paging =
            json!({"cursors": {"before": paging::encode_cursor(first.id), "after": paging::encode_cursor(last.id)}});
        if more {
            paging["next"] = json!(paging::link(&ctx.params, &ctx.links(), "after", last.id));
        }
        out["paging"] = paging;
    }
    Ok(Answer::from(out))
}

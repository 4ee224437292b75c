//! `/debug_token`, `/oauth/access_token` (refresh) and `/oauth/revoke`.

use model::{GraphError, Token};
use serde_json::{Value, json};
use service::DebugTokenInput;

use super::success;
use crate::Ctx;

pub fn debug_token(ctx: &Ctx<'_>) -> Result<Value, GraphError> {
    let input = ctx.params.required("input_token")?;
    let viewer = ctx.auth()?;
    let data = match ctx.service.debug_token(viewer, &input)? {
        DebugTokenInput::Valid(token) => describe(ctx, &token, None),
        DebugTokenInput::Invalid(token, error) => describe(ctx, &token, Some(&error)),
        DebugTokenInput::Unknown(error) => json!({
            "error": {"code": error.code, "message": error.message, "subcode": error.subcode},
            "is_valid": false,
            "scopes": [],
        }),
    };
    Ok(json!({ "data": strip_nulls(data) }))
}

/// The debug_token data of a token this server issued (reference §1.6).
fn describe(ctx: &Ctx<'_>, token: &Token, error: Option<&GraphError>) -> Value {
    let world = ctx.service.world();
    let application = world.app(token.app).map(|a| a.name.clone());
    let scopes = token.scopes.names();
    let granular: Vec<Value> = scopes.iter().map(|s| json!({"scope": s})).collect();
    let mut data = json!({
        "app_id": token.app,
        "type": "SYSTEM_USER",
        "application": application,
        "data_access_expires_at": 0,
        "expires_at": token.expires_at.unwrap_or(0),
        "is_valid": error.is_none(),
        "issued_at": token.issued_at,
        "scopes": scopes,
        "granular_scopes": granular,
        "user_id": token.system_user,
    });
    if let Some(e) = error {
        data["error"] = json!({"code": e.code, "message": e.message, "subcode": e.subcode});
    }
    data
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect())
        }
        other => other,
    }
}

pub async fn exchange(ctx: &Ctx<'_>) -> Result<Value, GraphError> {
    let grant = ctx.params.required("grant_type")?;
    if grant != "fb_exchange_token" {
        return Err(GraphError::invalid_param(format!(
            "Param grant_type must be fb_exchange_token for system user tokens; {grant} is not supported"
        )));
    }
    let client_id = ctx.params.required("client_id")?;
    let client_secret = ctx.params.required("client_secret")?;
    let exchange = ctx.params.required("fb_exchange_token")?;
    let refreshed = ctx.service.refresh_token(&client_id, &client_secret, &exchange).await?;
    Ok(json!({"access_token": refreshed.access_token, "token_type": "bearer", "expires_in": refreshed.expires_in}))
}

pub async fn revoke(ctx: &Ctx<'_>) -> Result<Value, GraphError> {
    let client_id = ctx.params.required("client_id")?;
    let client_secret = ctx.params.required("client_secret")?;
    let revoke = ctx.params.required("revoke_token")?;
    ctx.service.revoke_token(ctx.auth()?, &client_id, &client_secret, &revoke).await?;
    Ok(success())
}

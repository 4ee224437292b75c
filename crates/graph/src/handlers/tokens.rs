//! `/debug_token`, `/oauth/access_token` (refresh) and `/oauth/revoke`.

use model::{GraphError, GraphId, Token, World};
use serde::Serialize;
use serde_json::json;
use service::DebugTokenInput;

use super::success;
use crate::Answer;
use crate::Ctx;

pub fn debug_token(ctx: &Ctx<'_>) -> Result<Answer, GraphError> {
    let input = ctx.params.required("input_token")?;
    let viewer = ctx.auth()?;
    let outcome = ctx.service.debug_token(viewer, &input)?;
    let world = ctx.service.world();
    let data = match &outcome {
        DebugTokenInput::Valid(token) => describe(&world, token, None),
        DebugTokenInput::Invalid(token, error) => describe(&world, token, Some(error)),
        DebugTokenInput::Unknown(error) => {
            DebugData { error: Some(DebugError::from(error)), is_valid: false, ..DebugData::default() }
        }
    };
    Answer::json(&DebugAnswer { data })
}

#[derive(Serialize)]
struct DebugAnswer<'a> {
    data: DebugData<'a>,
}

/// The debug_token data (reference §1.6), in Meta's order of keys; an unknown token has only
/// its error, `is_valid` and empty `scopes`.
#[derive(Serialize, Default)]
struct DebugData<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    app_id: Option<GraphId>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    application: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_access_expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    is_valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_at: Option<i64>,
    scopes: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    granular_scopes: Option<Vec<GranularScope>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<GraphId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<DebugError<'a>>,
}

#[derive(Serialize)]
struct GranularScope {
    scope: &'static str,
}

#[derive(Serialize)]
struct DebugError<'a> {
    code: u32,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subcode: Option<u32>,
}

impl<'a> From<&'a GraphError> for DebugError<'a> {
    fn from(e: &'a GraphError) -> Self {
        DebugError { code: e.code, message: &e.message, subcode: e.subcode }
    }
}

/// The debug_token data of a token this server issued.
fn describe<'a>(world: &'a World, token: &Token, error: Option<&'a GraphError>) -> DebugData<'a> {
    let scopes = token.scopes.names();
    DebugData {
        app_id: Some(token.app),
        kind: Some("SYSTEM_USER"),
        application: world.app(token.app).map(|a| a.name.as_str()),
        data_access_expires_at: Some(0),
        expires_at: Some(token.expires_at.unwrap_or(0)),
        is_valid: error.is_none(),
        issued_at: Some(token.issued_at),
        granular_scopes: Some(scopes.iter().map(|&scope| GranularScope { scope }).collect()),
        scopes,
        user_id: Some(token.system_user),
        error: error.map(DebugError::from),
    }
}

pub async fn exchange(ctx: &Ctx<'_>) -> Result<Answer, GraphError> {
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
    Ok(Answer::from(
        json!({"access_token": refreshed.access_token, "token_type": "bearer", "expires_in": refreshed.expires_in}),
    ))
}

pub async fn revoke(ctx: &Ctx<'_>) -> Result<Answer, GraphError> {
    let client_id = ctx.params.required("client_id")?;
    let client_secret = ctx.params.required("client_secret")?;
    let revoke = ctx.params.required("revoke_token")?;
    ctx.service.revoke_token(ctx.auth()?, &client_id, &client_secret, &revoke).await?;
    Ok(success())
}

//! wabagate's Graph API wire: one catch-all route that parses `/{version}/{node}/{edge}`,
//! gathers parameters from the query and the body, authenticates the token, dispatches to the
//! node's handler and renders the answer or Meta's error envelope.

mod error;
pub mod fields;
mod handlers;
pub mod paging;
pub mod params;
mod render;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, State};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::{GraphError, Verb};
use serde_json::Value;
use service::{Acting, Authenticated, Service};

pub use error::{ApiError, envelope};

use crate::fields::Field;
use crate::paging::Links;
use crate::params::Params;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

#[derive(Clone)]
pub struct GraphState {
    pub service: Arc<Service>,
}

/// The Graph API router. Every path goes to the one Graph handler.
pub fn router(service: Arc<Service>) -> Router {
    Router::new().fallback(graph).with_state(GraphState { service })
}

/// Everything a handler needs to know about one request.
pub struct Ctx<'a> {
    pub service: &'a Service,
    pub verb: Verb,
    pub params: Params,
    pub fields: Option<Vec<Field>>,
    base_url: String,
    path: String,
    raw_token: Option<String>,
    auth: Option<Authenticated>,
}

impl Ctx<'_> {
    /// The system user behind the token; app tokens cannot act as one.
    pub fn acting(&self) -> Result<&Acting, GraphError> {
        match &self.auth {
            Some(Authenticated::User { acting, .. }) => Ok(acting),
            Some(Authenticated::App { .. }) => {
                Err(GraphError::permission(Some("this call needs a system user access token, not an app access token")))
            }
            None => Err(GraphError::missing_token()),
        }
    }

    pub fn auth(&self) -> Result<&Authenticated, GraphError> {
        self.auth.as_ref().ok_or_else(GraphError::missing_token)
    }

    pub fn raw_token(&self) -> Option<&str> {
        self.raw_token.as_deref()
    }

    pub fn links(&self) -> Links<'_> {
        Links { base_url: &self.base_url, path: &self.path, token: self.raw_token.as_deref() }
    }

    pub fn fields(&self) -> Option<&[Field]> {
        self.fields.as_deref()
    }
}

fn verb(method: &Method) -> Option<Verb> {
    match *method {
        Method::GET | Method::HEAD => Some(Verb::Get),
        Method::POST => Some(Verb::Post),
        Method::DELETE => Some(Verb::Delete),
        _ => None,
    }
}

fn is_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else { return false };
    let Some((major, minor)) = rest.split_once('.') else { return false };
    !major.is_empty()
        && !minor.is_empty()
        && (major.len() + minor.len()) <= 8
        && major.bytes().all(|b| b.is_ascii_digit())
        && minor.bytes().all(|b| b.is_ascii_digit())
}

/// This server's address as the client reached it, for absolute paging links.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth")).then(|| token.trim().to_string())
}

async fn read_params(req: Request<Body>, verb: Verb) -> Result<Params, GraphError> {
    let mut params = Params::from_query(req.uri().query().unwrap_or(""));
    // Bodies of GET and DELETE are ignored, as Graph does (the Node SDK sends `{}` there).
    if verb != Verb::Post {
        return Ok(params);
    }
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(req, &())
            .await
            .map_err(|e| GraphError::invalid_param(format!("The multipart body cannot be read: {}", e.body_text())))?;
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| GraphError::invalid_param(format!("The multipart body cannot be read: {}", e.body_text())))?
        {
            let Some(name) = field.name().map(str::to_string) else { continue };
            let text = field.text().await.map_err(|e| GraphError::invalid_param(e.body_text()))?;
            params.add_text(name, text);
        }
        return Ok(params);
    }
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| GraphError::invalid_param(format!("The request body is larger than {MAX_BODY_BYTES} bytes")))?;
    if content_type.starts_with("application/json") {
        params.add_json(&body)?;
    } else {
        params.add_form(&body);
    }
    Ok(params)
}

async fn graph(State(state): State<GraphState>, req: Request<Body>) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let result = handle(&state, req).await;
    let response = match result {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(e) => {
            let api = ApiError::from(e);
            tracing::info!(
                method = %method, path = %path, status = api.error.status, code = api.error.code,
                subcode = ?api.error.subcode, fbtrace_id = %api.fbtrace_id,
                micros = started.elapsed().as_micros() as u64, "graph error"
            );
            return api.into_response();
        }
    };
    tracing::debug!(method = %method, path = %path, micros = started.elapsed().as_micros() as u64, "graph ok");
    response
}

async fn handle(state: &GraphState, req: Request<Body>) -> Result<Value, GraphError> {
    let verb = verb(req.method()).ok_or_else(|| GraphError::unsupported(Verb::Get, req.uri().path()))?;
    // What the headers tell is read before the request is consumed for its body.
    let (base, bearer_token) = (base_url(req.headers()), bearer(req.headers()));
    let path = req.uri().path().to_string();
    let segments: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
    let route: Vec<&str> = match segments.first() {
        Some(first) if is_version(first) => segments[1..].iter().map(String::as_str).collect(),
        _ => segments.iter().map(String::as_str).collect(),
    };
    let params = read_params(req, verb).await?;
    let fields = params.text("fields").filter(|f| !f.trim().is_empty()).map(|f| fields::parse(&f)).transpose()?;
    let raw_token = params.text("access_token").filter(|t| !t.is_empty()).or(bearer_token);
    let service = state.service.as_ref();
    let mut ctx = Ctx { service, verb, params, fields, base_url: base, path, raw_token, auth: None };

    let needs_token = !matches!(route.as_slice(), ["oauth", "access_token"]);
    if needs_token {
        let raw = ctx.raw_token.clone().ok_or_else(GraphError::missing_token)?;
        let proof = ctx.params.text("appsecret_proof");
        // Minting checks the proof against the minted-for app's secret instead.
        let defer_proof = verb == Verb::Post && route.last() == Some(&"access_tokens");
        ctx.auth = Some(service.authenticate(&raw, proof.as_deref(), defer_proof)?);
    }
    handlers::dispatch(&mut ctx, &route).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_versions() {
        for v in ["v23.0", "v1.0", "v25.12"] {
            assert!(is_version(v), "{v}");
        }
        for v in ["v23", "23.0", "v.1", "vx.0", "v1.0.0", "me"] {
            assert!(!is_version(v), "{v}");
        }
    }
}

//! wabagate's Graph API wire: one catch-all route that parses `/{version}/{node}/{edge}`,
//! gathers parameters from the query and the body, authenticates the token, dispatches to the
//! node's handler and renders the answer or Meta's error envelope.

mod error;
pub mod fields;
mod handlers;
mod limits;
pub mod paging;
pub mod params;
mod render;

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::{GraphError, Verb};
use serde_json::Value;
use service::limits::FaultEffect;
use service::{Acting, Authenticated, Service};

pub use error::{ApiError, envelope};

use crate::fields::Field;
use crate::paging::Links;
use crate::params::Params;

/// Largest request body accepted; a larger one is answered 413 (docs/operations.md, Limits).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// How long a request body may take to arrive once its headers have; a slower one is answered 408.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Clone)]
pub struct GraphState {
    pub service: Arc<Service>,
    limiter: Arc<limits::Limiter>,
    /// Where clients reach this server (`--public-url`): the base of every link it answers.
    public_url: Arc<str>,
}

/// The Graph API router. Every path goes to the one Graph handler; `public_url` (`http://HOST:PORT`
/// or `https://name`, no trailing slash) is the base of the `paging` links it answers, whatever
/// `Host` a request names.
pub fn router(service: Arc<Service>, public_url: &str) -> Router {
    let limiter = Arc::new(limits::Limiter::new(service.settings().rate_limits));
    let public_url = Arc::from(public_url.trim_end_matches('/'));
    Router::new().fallback(graph).with_state(GraphState { service, limiter, public_url })
}

/// Everything a handler needs to know about one request.
pub struct Ctx<'a> {
    pub service: &'a Service,
    pub verb: Verb,
    pub params: Params,
    pub fields: Option<Vec<Field>>,
    /// The configured public URL, the base of [`Ctx::links`].
    base_url: &'a str,
    path: String,
    raw_token: Option<String>,
    /// Whether the token came in the `Authorization` header, which is never copied into a URL.
    header_token: bool,
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

    /// Where a page's links point: the public URL and this request's path. A token the client sent
    /// as a parameter travels on in the links, as at Meta; one sent in the `Authorization` header
    /// stays there (clients that send it so send it again when they follow a link).
    pub fn links(&self) -> Links<'_> {
        let token = if self.header_token { None } else { self.raw_token.as_deref() };
        Links { base_url: self.base_url, path: &self.path, token }
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

pub fn is_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else { return false };
    let Some((major, minor)) = rest.split_once('.') else { return false };
    !major.is_empty()
        && !minor.is_empty()
        && (major.len() + minor.len()) <= 8
        && major.bytes().all(|b| b.is_ascii_digit())
        && minor.bytes().all(|b| b.is_ascii_digit())
}

/// The route label of a Graph path (version dropped, ids as `{id}`), or `None` when no handler
/// serves it: metrics and logs label requests with it, so labels stay few whatever is asked.
pub fn route_label(path: &str) -> Option<String> {
    let mut route: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if route.first().is_some_and(|first| is_version(first)) {
        route.remove(0);
    }
    handlers::route_label(&route)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth")).then(|| token.trim().to_string())
}

async fn read_params(req: Request<Body>, verb: Verb) -> Result<Params, GraphError> {
    let query = req.uri().query().unwrap_or("");
    params::check_utf8(query.as_bytes())?;
    let mut params = Params::from_query(query);
    // The body of a GET is ignored (the Node SDK sends `{}` there); POST and DELETE take their
    // parameters from the body too (Meta's OpenAPI file puts DELETE's `user` there).
    if verb == Verb::Get {
        return Ok(params);
    }
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(GraphError::body_too_large(MAX_BODY_BYTES));
    }
    tokio::time::timeout(BODY_TIMEOUT, read_body(req, &mut params))
        .await
        .map_err(|_| GraphError::body_timeout(BODY_TIMEOUT.as_secs()))??;
    Ok(params)
}

/// Adds the parameters of a POST or DELETE body: multipart, JSON or URL-encoded form.
async fn read_body(req: Request<Body>, params: &mut Params) -> Result<(), GraphError> {
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let unreadable = |e: axum::extract::multipart::MultipartError| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                GraphError::body_too_large(MAX_BODY_BYTES)
            } else {
                GraphError::invalid_param(format!("The multipart body cannot be read: {}", e.body_text()))
            }
        };
        let mut multipart = Multipart::from_request(req, &())
            .await
            .map_err(|e| GraphError::invalid_param(format!("The multipart body cannot be read: {}", e.body_text())))?;
        while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
            let Some(name) = field.name().map(str::to_string) else { continue };
            let text = field.text().await.map_err(unreadable)?;
            params.add_text(name, text);
        }
        return Ok(());
    }
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await.map_err(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if c.is::<http_body_util::LengthLimitError>() {
                return GraphError::body_too_large(MAX_BODY_BYTES);
            }
            cause = c.source();
        }
        GraphError::invalid_param(format!("The request body could not be read: {e}"))
    })?;
    if content_type.starts_with("application/json") {
        params.add_json(&body)
    } else {
        params::check_utf8(&body)?;
        params.add_form(&body);
        Ok(())
    }
}

/// What the Graph layer learned of a request, left in the response's extensions for the request
/// log and the metrics: who called, the trace id the client got, and the error code if any.
#[derive(Clone, Debug, Default)]
pub struct Handled {
    pub app: Option<model::GraphId>,
    pub system_user: Option<model::GraphId>,
    pub fbtrace_id: String,
    /// The Graph error code and subcode of an error answer.
    pub code: Option<u32>,
    pub subcode: Option<u32>,
}

async fn graph(State(state): State<GraphState>, req: Request<Body>) -> Response {
    // Every answer carries a trace id, as Meta's do; an error's envelope repeats it.
    let mut handled = Handled { fbtrace_id: error::new_fbtrace_id(), ..Default::default() };
    // Headers every answer carries, error or not (rate-limit usage).
    let mut headers = HeaderMap::new();
    let mut response = match handle(&state, req, &mut headers, &mut handled).await {
        Ok(answer) => {
            let mut response = answer.into_response(StatusCode::OK);
            if let Ok(v) = HeaderValue::try_from(handled.fbtrace_id.as_str()) {
                response.headers_mut().insert("x-fb-trace-id", v);
            }
            response
        }
        Err(e) => {
            (handled.code, handled.subcode) = (Some(e.code), e.subcode);
            ApiError { error: e, fbtrace_id: handled.fbtrace_id.clone() }.into_response()
        }
    };
    response.headers_mut().extend(headers);
    response.extensions_mut().insert(handled);
    response
}

/// A handler's answer, serialized: handlers serialize what they answer straight into the
/// response's bytes (a page, a node, a typed struct) instead of building a `serde_json::Value`
/// first, which costs a hashed map insertion per key.
pub struct Answer(Vec<u8>);

impl Answer {
    /// Serializes an answer. wabagate's answers are strings, numbers, lists and maps with
    /// string keys, which always serialize; a failure would be a bug, logged and answered as
    /// Graph's unexpected error (code 2).
    pub fn json(body: &impl serde::Serialize) -> Result<Self, GraphError> {
        let mut bytes = Vec::with_capacity(512);
        match serde_json::to_writer(&mut bytes, body) {
            Ok(()) => Ok(Answer(bytes)),
            Err(e) => {
                tracing::error!(error = %e, "an answer could not be serialized");
                Err(GraphError::transient())
            }
        }
    }

    fn into_response(self, status: StatusCode) -> Response {
        (status, [(header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

impl From<Value> for Answer {
    fn from(value: Value) -> Self {
        // A Value's keys are strings: serializing it cannot fail.
        Answer(serde_json::to_vec(&value).unwrap_or_default())
    }
}

async fn handle(
    state: &GraphState,
    req: Request<Body>,
    headers: &mut HeaderMap,
    handled: &mut Handled,
) -> Result<Answer, GraphError> {
    let verb = verb(req.method()).ok_or_else(|| GraphError::unsupported(Verb::Get, req.uri().path()))?;
    // What the headers tell is read before the request is consumed for its body.
    let bearer_token = bearer(req.headers());
    let uri = req.uri().clone();
    let path = uri.path();
    let mut route: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if route.first().is_some_and(|first| is_version(first)) {
        route.remove(0);
    }
    inject_faults(state.service.settings(), verb, &route).await?;
    let params = read_params(req, verb).await?;
    let fields = params.text("fields").filter(|f| !f.trim().is_empty()).map(|f| fields::parse(&f)).transpose()?;
    let param_token = params.text("access_token").filter(|t| !t.is_empty()).map(Cow::into_owned);
    let header_token = param_token.is_none() && bearer_token.is_some();
    let raw_token = param_token.or(bearer_token);
    let service = state.service.as_ref();
    let needs_token = !matches!(route.as_slice(), ["oauth", "access_token"]);
    let auth = match (&raw_token, needs_token) {
        (_, false) => None,
        (None, true) => return Err(GraphError::missing_token()),
        (Some(raw), true) => {
            // Minting checks the proof against the minted-for app's secret instead.
            let defer_proof = verb == Verb::Post && route.last() == Some(&"access_tokens");
            Some(service.authenticate(raw, params.text("appsecret_proof").as_deref(), defer_proof)?)
        }
    };
    match &auth {
        Some(Authenticated::User { acting, token }) => {
            (handled.app, handled.system_user) = (Some(token.app), Some(acting.principal().id));
        }
        Some(Authenticated::App { app }) => handled.app = Some(*app),
        None => {}
    }
    if let Some(auth) = auth.as_ref().filter(|_| state.limiter.is_on()) {
        let app = match auth {
            Authenticated::User { token, .. } => token.app,
            Authenticated::App { app } => *app,
        };
        let world = service.world();
        state.limiter.admit(&world, service.now(), app, verb, &route, headers)?;
    }
    let base_url = &state.public_url;
    let mut ctx =
        Ctx { service, verb, params, fields, base_url, path: path.to_string(), raw_token, header_token, auth };
    handlers::dispatch(&mut ctx, &route).await
}

/// The configured faults of a route: added latency, and errors at a rate (code 2, transient).
async fn inject_faults(settings: &service::Settings, verb: Verb, route: &[&str]) -> Result<(), GraphError> {
    for fault in settings.faults.iter().filter(|f| f.matches(verb, route)) {
        match fault.effect {
            FaultEffect::Latency(d) => tokio::time::sleep(d).await,
            FaultEffect::Error(rate) => {
                if rand::random::<f64>() < rate {
                    return Err(GraphError::transient());
                }
            }
        }
    }
    Ok(())
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

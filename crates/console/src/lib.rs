//! wabagate's web console: the Business Settings flow (system users, tokens, WhatsApp account
//! access) as server-rendered pages with plain HTML forms, plus the overview Meta's UI lacks.
//! Every change goes through the same service operations, and so the same rules, as the API.

// Page helpers return `Result<_, Response>`: the error is the page to show (a redirect to sign
// in, a refusal). Pages are rendered once per request, off any hot path, so a large `Err` costs
// nothing worth a wrapper type.
#![allow(clippy::result_large_err)]

mod pages;
mod session;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use model::rules::Caller;
use model::{GraphError, Principal, Role};
use service::{Acting, Service, Via};

use crate::session::{COOKIE, Session, Sessions, Throttle};
use crate::views::{Chrome, ErrorPage};

#[derive(Clone)]
pub struct ConsoleState {
    service: Arc<Service>,
    sessions: Arc<Sessions>,
    throttle: Arc<Throttle>,
    /// Permits to check a password (Argon2id, 19 MiB and tens of milliseconds each): about one
    /// per core, so a crowd of sign-ins cannot take the memory and the cores.
    hashing: Arc<tokio::sync::Semaphore>,
}

/// How many passwords are checked at once: one per core the process may use.
pub fn password_checks_at_once() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The console's routes, all under `/console`.
pub fn router(service: Arc<Service>) -> Router {
    let state = ConsoleState {
        service,
        sessions: Arc::new(Sessions::default()),
        throttle: Arc::new(Throttle::default()),
        hashing: Arc::new(tokio::sync::Semaphore::new(password_checks_at_once())),
    };
    Router::new()
        .route("/console", get(pages::home))
        .route("/console/", get(pages::home))
        .route("/console/sign-in", get(pages::sign_in_page).post(pages::sign_in))
        .route("/console/sign-out", post(pages::sign_out))
        .route("/console/system-users", get(pages::system_users).post(pages::create_system_user))
        .route("/console/system-users/policy", post(pages::accept_policy))
        .route("/console/system-users/{id}", get(pages::system_user))
        .route("/console/system-users/{id}/rename", post(pages::rename))
        .route("/console/system-users/{id}/apps", post(pages::install_app))
        .route("/console/system-users/{id}/token", get(pages::token_form).post(pages::generate_token))
        .route("/console/system-users/{id}/tokens/revoke", post(pages::revoke_tokens))
        .route("/console/whatsapp-accounts", get(pages::wabas))
        .route("/console/whatsapp-accounts/{id}", get(pages::waba))
        .route("/console/whatsapp-accounts/{id}/add-people", get(pages::add_people))
        .route("/console/whatsapp-accounts/{id}/people", post(pages::assign))
        .route("/console/whatsapp-accounts/{id}/people/{user}/remove", post(pages::unassign))
        .route("/console/access", get(pages::access))
        .route("/console/access.csv", get(pages::access_csv))
        .route("/console/activity", get(pages::activity))
        .route("/console/tokens", get(pages::tokens))
        .route("/console/webhooks", get(pages::webhooks))
        .route("/console/webhooks/{app}/deliveries/{id}/redeliver", post(pages::redeliver))
        .route(
            "/console/static/style.css",
            get(|| async { static_file("text/css", include_str!("../static/style.css")) }),
        )
        .route(
            "/console/static/app.js",
            get(|| async { static_file("text/javascript", include_str!("../static/app.js")) }),
        )
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

/// Headers every console response carries: no framing, no inline script, no sniffing.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    set(headers, "x-frame-options", "DENY");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "cache-control", "no-store");
    response
}

/// A signed-in person, with the session the request came with.
pub(crate) struct SignedIn {
    pub sid: String,
    pub session: Session,
    pub principal: Principal,
}

impl SignedIn {
    pub fn acting(&self) -> Acting {
        Acting { caller: Caller { principal: self.principal, scopes: None }, token: None, via: Via::Console }
    }

    pub fn is_admin(&self) -> bool {
        self.principal.role == Role::Admin
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

impl ConsoleState {
    /// The signed-in person, or a redirect to the sign-in page.
    pub(crate) fn signed_in(&self, headers: &HeaderMap) -> Result<SignedIn, Response> {
        let now = self.service.now();
        let found = cookie(headers, COOKIE).and_then(|sid| self.sessions.get(&sid, now).map(|s| (sid, s)));
        let Some((sid, session)) = found else { return Err(Redirect::to("/console/sign-in").into_response()) };
        let Some(principal) = self.service.world().principal(session.person) else {
            self.sessions.end(&sid);
            return Err(Redirect::to("/console/sign-in").into_response());
        };
        Ok(SignedIn { sid, session, principal })
    }

    pub(crate) fn chrome(&self, who: &SignedIn, active: &'static str) -> Chrome {
        let world = self.service.world();
        Chrome {
            business_name: world.business(who.principal.business).map(|b| b.name.clone()).unwrap_or_default(),
            person_name: world.user_name(who.principal.id).unwrap_or_default().to_string(),
            is_admin: who.is_admin(),
            csrf: who.session.csrf.clone(),
            active,
        }
    }
}

/// Renders a template, or an error page if it cannot be rendered.
pub(crate) fn render(template: impl askama::Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console page failed to render");
            error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "This page could not be shown.")
        }
    }
}

pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let page = ErrorPage { title: title.to_string(), message: message.to_string() };
    let html = askama::Template::render(&page).unwrap_or_else(|_| message.to_string());
    (status, Html(html)).into_response()
}

/// A refusal from the service, shown as a page with the Graph error's status and message.
pub(crate) fn graph_error_page(e: &GraphError) -> Response {
    let status = match (e.code, e.subcode) {
        (100, Some(33)) => StatusCode::NOT_FOUND,
        _ => StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
    };
    let title = match (e.code, e.subcode) {
        (100, Some(33)) => "Not found",
        (200, _) | (10, _) => "Not allowed",
        _ => "That did not work",
    };
    let message = e.extra.as_ref().and_then(|x| x.user_msg.clone()).unwrap_or_else(|| e.message.clone());
    error_page(status, title, &message)
}

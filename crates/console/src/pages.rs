//! The console's pages and form actions.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use model::rules::{self, Operation};
use model::{GraphId, Principal, Role, SCOPES, ScopeSet, Task, TaskSet, Token, UserKind, Verb, World};
use service::{MintProof, MintRequest};

use crate::session::{self, COOKIE};
use crate::views::*;
use crate::{ConsoleState, SignedIn, error_page, graph_error_page, render};

type FormData = Form<Vec<(String, String)>>;

/// The value of a page helper's `Ok`, or, from the handler, its `Err` page (a redirect to sign in,
/// a refusal).
macro_rules! or_page {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(page) => return page,
        }
    };
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn fields<'a>(form: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    form.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
}

fn path_id(raw: &str) -> Result<GraphId, Response> {
    GraphId::parse(raw).ok_or_else(|| error_page(StatusCode::NOT_FOUND, "Not found", "There is no such page."))
}

fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "Not found", "There is no such page, or you cannot see it.")
}

/// A signed-in person posting a form with the session's CSRF token.
fn posted(state: &ConsoleState, headers: &HeaderMap, form: &[(String, String)]) -> Result<SignedIn, Response> {
    let who = state.signed_in(headers)?;
    if !session::csrf_ok(&who.session, field(form, "csrf")) {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "This form's security token is missing or out of date. Reload the page and try again.",
        ));
    }
    Ok(who)
}

fn see_other(to: String) -> Response {
    Redirect::to(&to).into_response()
}

pub(crate) fn fmt_time(ts: Option<i64>) -> String {
    use time::macros::format_description;
    match ts.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()) {
        Some(t) => t.format(format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).unwrap_or_default(),
        None => "—".into(),
    }
}

fn role_label(role: Role) -> String {
    match role {
        Role::Admin => "Admin".into(),
        Role::Employee => "Employee".into(),
    }
}

fn kind_label(kind: UserKind) -> &'static str {
    match kind {
        UserKind::SystemUser => "System user",
        UserKind::Person => "Person",
    }
}

fn task_label(task: Task) -> &'static str {
    match task {
        Task::Manage => "Full control (MANAGE)",
        Task::Develop => "Develop (DEVELOP)",
        Task::ManageTemplates => "Manage templates (MANAGE_TEMPLATES)",
        Task::ViewTemplates => "View templates (VIEW_TEMPLATES)",
        Task::ManagePhone => "Manage phone numbers (MANAGE_PHONE)",
        Task::ManagePhoneAssets => "Manage phone assets (MANAGE_PHONE_ASSETS)",
        Task::ViewPhoneAssets => "View phone numbers (VIEW_PHONE_ASSETS)",
        Task::ManageExtensions => "Manage extensions (MANAGE_EXTENSIONS)",
        Task::ViewCost => "View cost (VIEW_COST)",
        Task::Messaging => "Messages (MESSAGING)",
        Task::ViewInsights => "View insights (VIEW_INSIGHTS)",
        Task::ManageUsers => "Manage users (MANAGE_USERS)",
        Task::ManageBilling => "Manage billing (MANAGE_BILLING)",
    }
}

fn tasks_text(tasks: TaskSet) -> String {
    if tasks.is_empty() {
        "—".into()
    } else if tasks.contains(Task::Manage) {
        "Full control".into()
    } else {
        tasks.names().join(", ")
    }
}

fn token_row(world: &World, t: &Token, now: i64) -> TokenRow {
    let status = if t.revoked_at.is_some() {
        "Revoked"
    } else if t.is_expired(now) {
        "Expired"
    } else {
        "Active"
    };
    TokenRow {
        system_user: world.user_name(t.system_user).unwrap_or_default().to_string(),
        system_user_id: t.system_user.to_string(),
        app: world.app(t.app).map(|a| a.name.clone()).unwrap_or_default(),
        scopes: if t.scopes.is_empty() { "—".into() } else { t.scopes.names().join(", ") },
        issued: fmt_time(Some(t.issued_at)),
        expires: t.expires_at.map(|e| fmt_time(Some(e))).unwrap_or_else(|| "Never".into()),
        last_used: fmt_time(t.last_used_at),
        status,
    }
}

fn user_row(world: &World, p: &Principal) -> UserRow {
    UserRow {
        id: p.id.to_string(),
        name: world.user_name(p.id).unwrap_or_default().to_string(),
        role: role_label(p.role),
    }
}

/// The WABAs the signed-in person's business reaches that the person holds a task on.
fn visible_wabas(world: &World, who: &Principal) -> Vec<GraphId> {
    world.wabas().filter(|w| !rules::effective_tasks(world, who, w.id).is_empty()).map(|w| w.id).collect()
}

/// Everyone of a business who can hold tasks: its system users, then its people.
fn business_users(world: &World, business: GraphId) -> Vec<Principal> {
    let mut users: Vec<Principal> = world.system_users_of(business).filter_map(|s| world.principal(s.id)).collect();
    users.extend(world.persons().filter(|p| p.business == business).filter_map(|p| world.principal(p.id)));
    users
}

pub async fn home(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    match state.signed_in(&headers) {
        Ok(_) => see_other("/console/system-users".into()),
        Err(r) => r,
    }
}

pub async fn sign_in_page(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    if state.signed_in(&headers).is_ok() {
        return see_other("/console/system-users".into());
    }
    sign_in_form(&headers, StatusCode::OK, None, String::new())
}

/// How long a sign-in waits for a permit to check its password before it is answered 503.
const HASHING_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// The sign-in form, with the sign-in CSRF token of the browser's cookie, or a new one (and the
/// cookie that carries it).
fn sign_in_form(headers: &HeaderMap, status: StatusCode, error: Option<String>, email: String) -> Response {
    let existing = crate::cookie(headers, session::SIGN_IN_COOKIE).filter(|c| !c.is_empty() && c.len() <= 64);
    let csrf = existing.clone().unwrap_or_else(session::new_sign_in_token);
    let mut response = (status, render(SignIn { error, email, csrf: csrf.clone() })).into_response();
    if existing.is_none() {
        let secure = if is_https(headers) { "; Secure" } else { "" };
        let cookie = format!("{}={csrf}; Path=/console; HttpOnly; SameSite=Strict{secure}", session::SIGN_IN_COOKIE);
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

fn with_retry_after(mut response: Response, seconds: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&seconds.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Signs a person in. In order: the form's CSRF token must be its cookie's (403); a locked-out
/// email or client address is refused without checking the password (429, `Retry-After`); the
/// password is checked only with a permit, waited for briefly (503, `Retry-After`, when the
/// server is busy checking others); a failure is counted against the email and the address.
pub async fn sign_in(
    State(state): State<ConsoleState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Form(form): FormData,
) -> Response {
    let email = field(&form, "email").unwrap_or_default().to_string();
    let password = field(&form, "password").unwrap_or_default();
    if !session::sign_in_token_ok(crate::cookie(&headers, session::SIGN_IN_COOKIE).as_deref(), field(&form, "csrf")) {
        let error = "This sign-in form's security token is missing or out of date. Sign in again.".to_string();
        let mut fresh = headers.clone();
        fresh.remove(header::COOKIE);
        return sign_in_form(&fresh, StatusCode::FORBIDDEN, Some(error), email);
    }
    let addr = peer.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |p| p.0.0.ip());
    let now = state.service.now();
    match state.throttle.locked_for(&email, addr, now) {
        Some(session::Locked::Email(wait)) => {
            let minutes = (wait + 59) / 60;
            let error = format!("Too many failed sign-ins for this email. Try again in {minutes} minutes.");
            let page = sign_in_form(&headers, StatusCode::TOO_MANY_REQUESTS, Some(error), email);
            return with_retry_after(page, wait);
        }
        Some(session::Locked::Address(wait)) => {
            let minutes = (wait + 59) / 60;
            let error = format!("Too many failed sign-ins from this address. Try again in {minutes} minutes.");
            let page = sign_in_form(&headers, StatusCode::TOO_MANY_REQUESTS, Some(error), email);
            return with_retry_after(page, wait);
        }
        None => {}
    }
    let Ok(Ok(_permit)) = tokio::time::timeout(HASHING_WAIT, state.hashing.clone().acquire_owned()).await else {
        let error = "The server is busy checking other sign-ins. Try again in a moment.".to_string();
        return with_retry_after(sign_in_form(&headers, StatusCode::SERVICE_UNAVAILABLE, Some(error), email), 1);
    };
    match state.service.sign_in(&email, password).await {
        Some(person) => {
            state.throttle.succeeded(&email, addr);
            let sid = state.sessions.start(person.id, now);
            // `Secure` when the browser came over HTTPS (as a proxy in front says): on plain
            // http://127.0.0.1 a browser would drop a Secure cookie.
            let secure = if is_https(&headers) { "; Secure" } else { "" };
            let cookie = format!(
                "{COOKIE}={sid}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                session::IDLE_SECS
            );
            let mut response = see_other("/console/system-users".into());
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        None => {
            state.throttle.failed(&email, addr, now);
            let error = "Incorrect email or password.".to_string();
            sign_in_form(&headers, StatusCode::UNAUTHORIZED, Some(error), email)
        }
    }
}

fn is_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"))
}

pub async fn sign_out(State(state): State<ConsoleState>, headers: HeaderMap, Form(form): FormData) -> Response {
    let who = or_page!(posted(&state, &headers, &form));
    state.sessions.end(&who.sid);
    let mut response = see_other("/console/sign-in".into());
    let expired = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

#[derive(serde::Deserialize)]
pub struct AddQuery {
    add: Option<String>,
}

pub async fn system_users(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Query(q): Query<AddQuery>,
) -> Response {
    let who = or_page!(state.signed_in(&headers));
    let page = {
        let world = state.service.world();
        let business = who.principal.business;
        let policy_accepted = world.business(business).is_some_and(|b| b.system_user_policy_accepted_at.is_some());
        let add = match (q.add.is_some() && who.is_admin(), policy_accepted) {
            (false, _) => AddPanel::Closed,
            (true, false) => AddPanel::Policy,
            (true, true) => AddPanel::Form,
        };
        let users = world
            .system_users_of(business)
            .filter_map(|s| world.principal(s.id))
            .map(|p| user_row(&world, &p))
            .collect();
        let people = world
            .persons()
            .filter(|p| p.business == business)
            .filter_map(|p| world.principal(p.id))
            .map(|p| user_row(&world, &p))
            .collect();
        SystemUsers { chrome: state.chrome(&who, "system-users"), users, people, add }
    };
    render(page)
}

pub async fn accept_policy(State(state): State<ConsoleState>, headers: HeaderMap, Form(form): FormData) -> Response {
    let who = or_page!(posted(&state, &headers, &form));
    match state.service.accept_system_user_policy(&who.acting(), who.principal.business).await {
        Ok(()) => see_other("/console/system-users?add=1".into()),
        Err(e) => graph_error_page(&e),
    }
}

pub async fn create_system_user(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): FormData,
) -> Response {
    let who = or_page!(posted(&state, &headers, &form));
    let accepted = state
        .service
        .world()
        .business(who.principal.business)
        .is_some_and(|b| b.system_user_policy_accepted_at.is_some());
    // Only an admin is sent to the policy; anyone else is refused by the create itself.
    if !accepted && who.is_admin() {
        return see_other("/console/system-users?add=1".into());
    }
    let role = if field(&form, "role") == Some("ADMIN") { Role::Admin } else { Role::Employee };
    let name = field(&form, "name").unwrap_or_default();
    match state.service.create_system_user(&who.acting(), who.principal.business, name, role, None).await {
        Ok(id) => see_other(format!("/console/system-users/{id}")),
        Err(e) => graph_error_page(&e),
    }
}

pub async fn system_user(State(state): State<ConsoleState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let who = or_page!(state.signed_in(&headers));
    let id = or_page!(path_id(&id));
    let page = {
        let world = state.service.world();
        let Some(su) = world.system_user(id).filter(|s| s.business == who.principal.business) else {
            return not_found();
        };
        let principal = world.principal(id).expect("a system user is a principal");
        let apps = su
            .apps
            .iter()
            .filter_map(|a| world.app(*a))
            .map(|a| AppRow { id: a.id.to_string(), name: a.name.clone() })
            .collect();
        let installable = world
            .apps()
            .filter(|a| a.business == su.business && !su.apps.contains(&a.id))
            .map(|a| AppRow { id: a.id.to_string(), name: a.name.clone() })
            .collect();
        let now = state.service.now();
        let mut tokens: Vec<&Token> = world.tokens_of(id).collect();
        tokens.sort_by_key(|t| std::cmp::Reverse(t.issued_at));
        let tokens = tokens.into_iter().map(|t| token_row(&world, t, now)).collect();
        let viewer = who.principal;
        let wabas = world
            .assignments_of(id)
            .filter(|a| who.is_admin() || !rules::effective_tasks(&world, &viewer, a.waba).is_empty())
            .filter_map(|a| {
                world.waba(a.waba).map(|w| WabaRow {
                    id: w.id.to_string(),
                    name: w.name.clone(),
                    detail: tasks_text(a.tasks),
                })
            })
            .collect();
        SystemUserPage {
            chrome: state.chrome(&who, "system-users"),
            su: user_row(&world, &principal),
            apps,
            installable,
            tokens,
            wabas,
        }
    };
    render(page)
}

pub async fn rename(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): FormData,
) -> Response {
    let who = or_page!(posted(&state, &headers, &form));
    let id = or_page!(path_id(&id));
    let name = field(&form, "name").unwrap_or_default();
    match state.service.rename_system_user(&who.acting(), who.principal.business, id, name).await {
        Ok(()) => see_other(format!("/console/system-users/{id}")),
        Err(e) => graph_error_page(&e),
    }
}

pub async fn install_app(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): FormData,
) -> Response {
    let who = or_page!(posted(&state, &headers, &form));
    let (id, app) = match (path_id(&id), field(&form, "app").and_then(GraphId::parse)) {
        (Ok(id), Some(app)) => (id, app),
        _ => return error_page(StatusCode::BAD_REQUEST, "That did not work", "Choose an app to install."),
    };
    match state.service.install_app(&who.acting(), id, app).await {
        Ok(()) => see_other(format!("/console/system-users/{id}")),
        Err(e) => graph_error_page(&e),
    }
}

pub async fn token_form(State(state): State<ConsoleState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let who = or_page!(state.signed_in(&headers));
    let id = or_page!(path_id(&id));
    if !who.is_admin() {
        return error_page(StatusCode::FORBIDDEN, "Not allowed", "Only an admin can generate tokens.");
    }
    let page = {
        let world = state.service.world();
        let Some(su) = world.system_user(id).filter(|s| s.business == who.principal.business) else {
            return not_found();
        };
        let principal = world.principal(id).expect("a system user is a principal");
        let apps = world
            .apps()
            .filter(|a| a.business == su.business)
            .map(|a| AppRow { id: a.id.to_string(), name: a.name.clone() })
            .collect();
        GenerateToken {
            chrome: state.chrome(&who, "system-users"),
            su: user_row(&world, &principal),
            apps,
            scopes: SCOPES.to_vec(),
        }
    };
    render(page)
}

pub async fn generate_token(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): FormData,
) -> Response {
    let who = or_page!(posted(&state, &headers, &form));
    let (id, app) = match (path_id(&id), field(&form, "app").and_then(GraphId::parse)) {
        (Ok(id), Some(app)) => (id, app),
        _ => return error_page(StatusCode::BAD_REQUEST, "That did not work", "Choose an app."),
    };
    let mut scopes = ScopeSet::EMPTY;
    for s in fields(&form, "scope") {
        match model::Scope::parse(s) {
            Some(scope) => scopes.insert(scope),
            None => return graph_error_page(&model::GraphError::invalid_scope()),
        }
    }
    let acting = who.acting();
    // Business Settings installs the chosen app on the system user as it generates the token.
    if let Err(e) = state.service.install_app(&acting, id, app).await {
        return graph_error_page(&e);
    }
    let expiring = field(&form, "expiration") == Some("60d");
    let req = MintRequest { system_user: id, app, scopes, expires_in_60_days: expiring, proof: MintProof::Console };
    match state.service.mint_token(&acting, req).await {
        Ok(token) => {
            let page = {
                let world = state.service.world();
                let principal = world.principal(id).expect("minted for a system user");
                TokenCreated {
                    chrome: state.chrome(&who, "system-users"),
                    su: user_row(&world, &principal),
                    token,
                    app: world.app(app).map(|a| a.name.clone()).unwrap_or_default(),
                    scopes: if scopes.is_empty() { "no permissions".into() } else { scopes.names().join(", ") },
                    expires: if expiring { "in 60 days".into() } else { "never".into() },
                }
            };
            render(page)
        }
        Err(e) => graph_error_page(&e),
    }
}

pub async fn revoke_tokens(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): FormData,
) -> Response {
    let who = or_page!(posted(&state, &headers, &form));
    let id = or_page!(path_id(&id));
    match state.service.revoke_all_tokens(&who.acting(), id).await {
        Ok(()) => see_other(format!("/console/system-users/{id}")),
        Err(e) => graph_error_page(&e),
    }
}

fn reach_text(world: &World, business: GraphId, waba: GraphId) -> String {
    let routes = rules::routes(world, business, waba);
    if routes.contains(&rules::Route::Owned) {
        return "Owned".into();
    }
    routes
        .iter()
        .map(|r| match r {
            rules::Route::Owned => "Owned".to_string(),
            rules::Route::Shared(level) => format!("Shared, {} access", level.as_str()),
            rules::Route::Solution { messaging, .. } => {
                format!("Multi-Partner Solution{}", if *messaging { ", with messaging" } else { ", without messaging" })
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub async fn wabas(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    let who = or_page!(state.signed_in(&headers));
    let page = {
        let world = state.service.world();
        let business = who.principal.business;
        let (mut owned, mut shared) = (Vec::new(), Vec::new());
        for id in visible_wabas(&world, &who.principal) {
            let w = world.waba(id).expect("listed");
            let row = WabaRow { id: id.to_string(), name: w.name.clone(), detail: reach_text(&world, business, id) };
            if w.owner == business { owned.push(row) } else { shared.push(row) }
        }
        Wabas { chrome: state.chrome(&who, "wabas"), owned, shared }
    };
    render(page)
}

/// A WABA the person holds a task on, with who of its business has access.
pub async fn waba(State(state): State<ConsoleState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let who = or_page!(state.signed_in(&headers));
    let id = or_page!(path_id(&id));
    let page = {
        let world = state.service.world();
        let caller = who.acting().caller;
        if rules::authorize_waba(&world, &caller, Verb::Get, Operation::ReadAssignedUsers, id).is_err() {
            return not_found();
        }
        let can_manage = rules::authorize_waba(&world, &caller, Verb::Post, Operation::ManageAssignedUsers, id).is_ok();
        let business = who.principal.business;
        let w = world.waba(id).expect("authorized");
        let people = world
            .assignments_on_for(id, business)
            .filter_map(|a| world.principal(a.user).map(|p| (a, p)))
            .map(|(a, p)| AccessEntry {
                user_id: p.id.to_string(),
                name: world.user_name(p.id).unwrap_or_default().to_string(),
                kind: kind_label(p.kind),
                tasks: tasks_text(a.tasks),
            })
            .collect();
        WabaPage {
            chrome: state.chrome(&who, "wabas"),
            waba: WabaRow { id: id.to_string(), name: w.name.clone(), detail: String::new() },
            reach: reach_text(&world, business, id),
            people,
            can_manage,
        }
    };
    render(page)
}

#[derive(serde::Deserialize)]
pub struct UserQuery {
    user: Option<String>,
}

pub async fn add_people(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<UserQuery>,
) -> Response {
    let who = or_page!(state.signed_in(&headers));
    let id = or_page!(path_id(&id));
    let page = {
        let world = state.service.world();
        let caller = who.acting().caller;
        if let Err(e) = rules::authorize_waba(&world, &caller, Verb::Post, Operation::ManageAssignedUsers, id) {
            return graph_error_page(&e);
        }
        let business = who.principal.business;
        let cap = rules::cap(&world, business, id).unwrap_or_default();
        let selected = q.user.as_deref().and_then(GraphId::parse);
        let current = selected.and_then(|u| world.assignment(id, u)).map(|a| a.tasks).unwrap_or_default();
        let users = business_users(&world, business)
            .iter()
            .map(|p| UserOption {
                id: p.id.to_string(),
                label: format!("{} ({})", world.user_name(p.id).unwrap_or_default(), kind_label(p.kind).to_lowercase()),
                selected: Some(p.id) == selected,
            })
            .collect();
        let tasks = Task::ALL
            .into_iter()
            .filter(|t| *t != Task::Manage && cap.contains(*t))
            .map(|t| TaskOption { code: t.as_str(), label: task_label(t), checked: current.contains(t) })
            .collect();
        let w = world.waba(id).expect("authorized");
        AddPeople {
            chrome: state.chrome(&who, "wabas"),
            waba: WabaRow { id: id.to_string(), name: w.name.clone(), detail: String::new() },
            users,
            full_allowed: cap.contains(Task::Manage),
            full_checked: cap.contains(Task::Manage) && (current.is_empty() || current.contains(Task::Manage)),
            tasks,
        }
    };
    render(page)
}

pub async fn assign(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): FormData,
) -> Response {
    let who = or_page!(posted(&state, &headers, &form));
    let (id, user) = match (path_id(&id), field(&form, "user").and_then(GraphId::parse)) {
        (Ok(id), Some(user)) => (id, user),
        _ => return error_page(StatusCode::BAD_REQUEST, "That did not work", "Choose a person or system user."),
    };
    let tasks = if field(&form, "access") == Some("full") {
        TaskSet::of(&[Task::Manage])
    } else {
        fields(&form, "task").into_iter().filter_map(Task::parse).collect()
    };
    if tasks.is_empty() {
        return error_page(
            StatusCode::BAD_REQUEST,
            "That did not work",
            "Choose Full control, or at least one task for partial access.",
        );
    }
    match state.service.assign(&who.acting(), id, user, tasks).await {
        Ok(()) => see_other(format!("/console/whatsapp-accounts/{id}")),
        Err(e) => graph_error_page(&e),
    }
}

pub async fn unassign(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path((id, user)): Path<(String, String)>,
    Form(form): FormData,
) -> Response {
    let who = or_page!(posted(&state, &headers, &form));
    let (id, user) = match (path_id(&id), path_id(&user)) {
        (Ok(id), Ok(user)) => (id, user),
        _ => return not_found(),
    };
    match state.service.unassign(&who.acting(), id, user).await {
        Ok(()) => see_other(format!("/console/whatsapp-accounts/{id}")),
        Err(e) => graph_error_page(&e),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct FilterQuery {
    #[serde(default)]
    filter: String,
}

/// The access matrix: every user of the business × every WABA the viewer sees, effective tasks.
fn matrix(world: &World, who: &SignedIn, filter: &str) -> (Vec<WabaRow>, Vec<(Principal, Vec<TaskSet>)>) {
    let needle = filter.trim().to_lowercase();
    let mut wabas: Vec<_> = visible_wabas(world, &who.principal).into_iter().filter_map(|id| world.waba(id)).collect();
    let users = business_users(world, who.principal.business);
    let waba_match = |w: &&model::Waba| w.name.to_lowercase().contains(&needle) || w.id.to_string() == needle;
    let filter_wabas = !needle.is_empty() && wabas.iter().any(waba_match);
    if filter_wabas {
        wabas.retain(waba_match);
    }
    let rows = users
        .into_iter()
        .filter(|p| {
            filter_wabas
                || needle.is_empty()
                || world.user_name(p.id).unwrap_or_default().to_lowercase().contains(&needle)
                || p.id.to_string() == needle
        })
        .map(|p| {
            let cells = wabas.iter().map(|w| rules::effective_tasks(world, &p, w.id)).collect();
            (p, cells)
        })
        .collect();
    let columns =
        wabas.iter().map(|w| WabaRow { id: w.id.to_string(), name: w.name.clone(), detail: String::new() }).collect();
    (columns, rows)
}

pub async fn access(State(state): State<ConsoleState>, headers: HeaderMap, Query(q): Query<FilterQuery>) -> Response {
    let who = or_page!(state.signed_in(&headers));
    let page = {
        let world = state.service.world();
        let (wabas, rows) = matrix(&world, &who, &q.filter);
        let rows = rows
            .into_iter()
            .map(|(p, cells)| MatrixRow {
                name: world.user_name(p.id).unwrap_or_default().to_string(),
                kind: kind_label(p.kind),
                cells: cells.into_iter().map(tasks_text).collect(),
            })
            .collect();
        Access { chrome: state.chrome(&who, "access"), filter: q.filter.clone(), wabas, rows }
    };
    render(page)
}

/// The access matrix as CSV, one row per user and WABA: the tasks as Graph names them.
pub async fn access_csv(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Query(q): Query<FilterQuery>,
) -> Response {
    let who = or_page!(state.signed_in(&headers));
    let mut out = csv::Writer::from_writer(Vec::new());
    {
        let world = state.service.world();
        let (wabas, rows) = matrix(&world, &who, &q.filter);
        let mut write = |record: [&str; 6]| {
            let _ = out.write_record(record.map(model::spreadsheet::cell).iter().map(|c| c.as_bytes()));
        };
        write(["user_id", "user_name", "user_type", "waba_id", "waba_name", "tasks"]);
        for (p, cells) in rows {
            for (w, tasks) in wabas.iter().zip(cells) {
                let user_type = p.kind.as_str();
                let name = world.user_name(p.id).unwrap_or_default();
                let tasks = tasks.names().join(" ");
                write([p.id.to_string().as_str(), name, user_type, &w.id, &w.name, &tasks]);
            }
        }
    }
    let body = out.into_inner().unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"access.csv\""),
        ],
        body,
    )
        .into_response()
}

#[derive(serde::Deserialize, Default)]
pub struct ActivityQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
}

pub async fn activity(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Query(q): Query<ActivityQuery>,
) -> Response {
    let who = or_page!(state.signed_in(&headers));
    let business = who.principal.business;
    {
        let world = state.service.world();
        let caller = who.acting().caller;
        if let Err(e) =
            rules::authorize_business(&world, &caller, Verb::Get, Operation::ReadAuditLog, business, business, None)
        {
            return graph_error_page(&e);
        }
    }
    let query = store::AuditQuery {
        business: Some(business),
        actor: GraphId::parse(q.actor.trim()),
        target: GraphId::parse(q.target.trim()),
        before: None,
        limit: 200,
    };
    let events = match state.service.audit_log(query).await {
        Ok(e) => e,
        Err(e) => return graph_error_page(&e),
    };
    let show = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let page = {
        let world = state.service.world();
        let events = events
            .iter()
            .map(|e| EventRow {
                time: fmt_time(Some(e.time)),
                actor: if e.actor.name.is_empty() { e.actor.user.to_string() } else { e.actor.name.clone() },
                via: e.actor.via.clone(),
                action: e.action.clone(),
                target: match world.user_name(e.target) {
                    Some(name) => format!("{name} ({})", e.target),
                    None => e.target.to_string(),
                },
                before: show(&e.before),
                after: show(&e.after),
            })
            .collect();
        Activity { chrome: state.chrome(&who, "activity"), actor: q.actor.clone(), target: q.target.clone(), events }
    };
    render(page)
}

pub async fn tokens(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    let who = or_page!(state.signed_in(&headers));
    let page = {
        let world = state.service.world();
        let now = state.service.now();
        let mut all: Vec<&Token> =
            world.system_users_of(who.principal.business).flat_map(|s| world.tokens_of(s.id)).collect();
        all.sort_by_key(|t| std::cmp::Reverse(t.issued_at));
        Tokens {
            chrome: state.chrome(&who, "tokens"),
            tokens: all.into_iter().map(|t| token_row(&world, t, now)).collect(),
        }
    };
    render(page)
}

#[derive(serde::Deserialize, Default)]
pub struct WebhooksQuery {
    #[serde(default)]
    app: String,
}

/// What a delivery's body is about, in a word: its `event`, its message status, or `message`.
fn delivery_event(body: &str) -> String {
    let body: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let value = &body["entry"][0]["changes"][0]["value"];
    if let Some(event) = value["event"].as_str() {
        return event.to_string();
    }
    if let Some(status) = value["statuses"][0]["status"].as_str() {
        return format!("status: {status}");
    }
    if value["messages"].is_array() { "inbound message".into() } else { String::new() }
}

/// Webhooks: the deliveries of one of the business's apps, newest first, with Redeliver.
pub async fn webhooks(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Query(q): Query<WebhooksQuery>,
) -> Response {
    let who = or_page!(state.signed_in(&headers));
    if !who.is_admin() {
        return error_page(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Webhook deliveries are shown to admins of the business.",
        );
    }
    let business = who.principal.business;
    let (apps, subscription) = {
        let world = state.service.world();
        let apps: Vec<(GraphId, String)> =
            world.apps().filter(|a| a.business == business).map(|a| (a.id, a.name.clone())).collect();
        let chosen =
            GraphId::parse(q.app.trim()).filter(|id| apps.iter().any(|(a, _)| a == id)).or(apps.first().map(|a| a.0));
        let subscription = chosen.and_then(|app| {
            world.app_subscriptions_of(app).find(|s| s.object == service::webhooks::WABA_OBJECT).cloned()
        });
        let tabs: Vec<AppTab> = apps
            .iter()
            .map(|(id, name)| AppTab { id: id.to_string(), name: name.clone(), current: Some(*id) == chosen })
            .collect();
        (tabs, subscription)
    };
    let app = apps.iter().find(|a| a.current).map(|a| AppTab { id: a.id.clone(), name: a.name.clone(), current: true });
    let deliveries = match app.as_ref().and_then(|a| GraphId::parse(&a.id)) {
        Some(id) => match state.service.deliveries(id, None, 100).await {
            Ok(d) => d,
            Err(e) => return graph_error_page(&e),
        },
        None => Vec::new(),
    };
    let rows = deliveries
        .iter()
        .map(|d| DeliveryRow {
            id: d.id.to_string(),
            time: fmt_time(Some(d.event.due_ms.div_euclid(1000))),
            field: d.event.field.clone(),
            event: delivery_event(&d.event.body),
            target: d.event.entry.to_string(),
            status: d.status.as_str().to_string(),
            code: d.last_code.map(|c| c.to_string()).unwrap_or_else(|| "—".into()),
            attempts: d.attempts,
            latency: d.latency_ms.map(|l| format!("{l} ms")).unwrap_or_else(|| "—".into()),
            error: d.last_error.clone().unwrap_or_default(),
            body: serde_json::from_str::<serde_json::Value>(&d.event.body)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| d.event.body.clone()),
        })
        .collect();
    render(Webhooks {
        chrome: state.chrome(&who, "webhooks"),
        apps,
        app,
        callback: subscription.as_ref().map(|s| s.callback_url.clone()).unwrap_or_default(),
        fields: subscription.map(|s| s.fields.join(", ")).unwrap_or_default(),
        deliveries: rows,
    })
}

/// Redeliver: the delivery's event is sent again, as a new delivery.
pub async fn redeliver(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Path((app, id)): Path<(String, String)>,
    Form(form): FormData,
) -> Response {
    let who = or_page!(posted(&state, &headers, &form));
    let app = or_page!(path_id(&app));
    let owned = state.service.world().app(app).is_some_and(|a| a.business == who.principal.business);
    let Ok(id) = id.parse::<u64>() else { return not_found() };
    if !owned || !who.is_admin() {
        return not_found();
    }
    let acting = who.acting();
    match state.service.redeliver(model::rules::AppCaller::User(&acting.caller), app, id).await {
        Ok(Some(_)) => see_other(format!("/console/webhooks?app={app}")),
        Ok(None) => not_found(),
        Err(e) => graph_error_page(&e),
    }
}

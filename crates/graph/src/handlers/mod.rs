//! Dispatch from `/{node}/{edge}` to the handler of the node's type.

mod app;
mod audit;
mod business;
mod credit;
pub mod emulator;
mod phone;
mod solution;
mod system_user;
mod template;
mod tokens;
mod waba;

use model::rules::{self, Operation};
use model::{GraphError, GraphId, Kind, Verb};
use serde_json::json;

use crate::Answer;
use crate::Ctx;
use crate::render;

pub fn success() -> Answer {
    Answer::from(json!({"success": true}))
}

pub async fn dispatch(ctx: &mut Ctx<'_>, route: &[&str]) -> Result<Answer, GraphError> {
    match route {
        ["debug_token"] => tokens::debug_token(ctx),
        ["oauth", "access_token"] => tokens::exchange(ctx).await,
        ["oauth", "revoke"] => tokens::revoke(ctx).await,
        ["_wabagate", "audit"] => audit::list(ctx).await,
        ["_wabagate", "templates", id, "review"] => template::review(ctx, id).await,
        ["_wabagate", "wabas", id, "partners"] => emulator::partners(ctx, id).await,
        ["_wabagate", "phone_numbers", id, "inbound"] => emulator::inbound(ctx, id).await,
        ["_wabagate", "apps", id, "webhook_deliveries"] => emulator::deliveries(ctx, id).await,
        ["_wabagate", "apps", app, "webhook_deliveries", id, "redeliver"] => emulator::redeliver(ctx, app, id).await,
        [node] => node_or_edge(ctx, node, None).await,
        [node, edge] => node_or_edge(ctx, node, Some(edge)).await,
        _ => Err(GraphError::unsupported(ctx.verb, &route.join("/"))),
    }
}

/// The edges some node type has: the only edge names a route label shows.
const KNOWN_EDGES: &[&[&str]] =
    &[app::EDGES, business::EDGES, credit::EDGES, phone::EDGES, solution::EDGES, system_user::EDGES, waba::EDGES];

/// The route of a request (its path, version dropped) as the dispatcher knows it, ids as `{id}`;
/// `None` for a path no handler serves. Route labels are therefore few whatever clients send
/// (they label metrics and log lines).
pub fn route_label(route: &[&str]) -> Option<String> {
    let id = |s: &str| GraphId::parse(s).is_some();
    let node = |s: &str| if s == "me" { Some("me") } else { id(s).then_some("{id}") };
    let known_edge = |e: &str| KNOWN_EDGES.iter().any(|edges| edges.contains(&e));
    let fixed = match route {
        ["debug_token"] => "/debug_token",
        ["oauth", "access_token"] => "/oauth/access_token",
        ["oauth", "revoke"] => "/oauth/revoke",
        ["_wabagate", "audit"] => "/_wabagate/audit",
        ["_wabagate", "templates", t, "review"] if id(t) => "/_wabagate/templates/{id}/review",
        ["_wabagate", "wabas", w, "partners"] if id(w) => "/_wabagate/wabas/{id}/partners",
        ["_wabagate", "phone_numbers", p, "inbound"] if id(p) => "/_wabagate/phone_numbers/{id}/inbound",
        ["_wabagate", "apps", a, "webhook_deliveries"] if id(a) => "/_wabagate/apps/{id}/webhook_deliveries",
        ["_wabagate", "apps", a, "webhook_deliveries", d, "redeliver"] if id(a) && id(d) => {
            "/_wabagate/apps/{id}/webhook_deliveries/{id}/redeliver"
        }
        [n] => return node(n).map(|n| format!("/{n}")),
        [n, edge] if known_edge(edge) => return node(n).map(|n| format!("/{n}/{edge}")),
        _ => return None,
    };
    Some(fixed.to_string())
}

async fn node_or_edge(ctx: &mut Ctx<'_>, node: &str, edge: Option<&str>) -> Result<Answer, GraphError> {
    let id = if node == "me" {
        ctx.acting()?.principal().id
    } else {
        GraphId::parse(node).ok_or_else(|| GraphError::unknown_alias(node))?
    };
    let kind = ctx.service.world().kind(id);
    match kind {
        Some(Kind::Business) => business::handle(ctx, id, edge).await,
        Some(Kind::SystemUser) => system_user::handle(ctx, id, edge).await,
        Some(Kind::Waba) => waba::handle(ctx, id, edge).await,
        Some(Kind::Person) => person(ctx, id, edge),
        Some(Kind::App) => app::handle(ctx, id, edge).await,
        Some(Kind::Solution) => solution::handle(ctx, id, edge).await,
        Some(Kind::PhoneNumber) => phone::handle(ctx, id, edge).await,
        Some(Kind::Template) => template::handle(ctx, id, edge).await,
        Some(Kind::CreditLine) => credit::credit_line(ctx, id, edge).await,
        Some(Kind::AllocationConfig) => credit::allocation(ctx, id, edge).await,
        _ => Err(GraphError::unsupported(ctx.verb, node)),
    }
}

/// Refuses an edge a node type does not have: an unknown name reads as a nonexisting field, a
/// known one with the wrong method as an unsupported request.
pub fn no_such_edge(ctx: &Ctx<'_>, id: GraphId, edge: &str, type_name: &str, edges: &[&str]) -> GraphError {
    if edges.contains(&edge) {
        GraphError::unknown_object(ctx.verb, id)
    } else {
        GraphError::nonexisting_field(edge, type_name)
    }
}

/// A person (business user): visible to the people and system users of its business.
fn person(ctx: &Ctx<'_>, id: GraphId, edge: Option<&str>) -> Result<Answer, GraphError> {
    let acting = ctx.acting()?;
    let world = ctx.service.world();
    let p = world.person(id).ok_or_else(|| GraphError::unknown_object(ctx.verb, id))?;
    rules::authorize_business(&world, &acting.caller, ctx.verb, Operation::ReadPerson, p.business, id, None)?;
    match (ctx.verb, edge) {
        (Verb::Get, None) => render::person(&world, p).select(ctx.fields())?.answer(),
        (_, None) => Err(GraphError::unknown_object(ctx.verb, id)),
        (_, Some(edge)) => Err(no_such_edge(ctx, id, edge, "BusinessUser", &[])),
    }
}

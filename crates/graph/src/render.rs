//! Nodes as Graph shows them: every field a node type has, with its default fields.

use model::rules::{self, Route};
use model::{App, Assignment, Business, GraphId, Person, SystemUser, Waba, World};
use serde_json::{Map, Value, json};
use service::clock::graph_datetime;

use crate::fields::Node;

fn map(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.to_string(), v)).collect()
}

fn id_name(world: &World, id: GraphId) -> Value {
    let name = world
        .user_name(id)
        .map(str::to_string)
        .or_else(|| world.business(id).map(|b| b.name.clone()))
        .or_else(|| world.app(id).map(|a| a.name.clone()));
    json!({"id": id, "name": name})
}

pub fn app_link(id: GraphId) -> String {
    format!("https://www.facebook.com/games/?app_id={id}")
}

pub const BUSINESS_DEFAULTS: &[&str] = &["id", "name"];

pub fn business(b: &Business) -> Node {
    Node {
        type_name: "Business",
        known: &[
            "id",
            "name",
            "created_time",
            "timezone_id",
            "verification_status",
            "two_factor_type",
            "link",
            "is_hidden",
            "vertical",
            "whatsapp_business_manager_messaging_limit",
        ],
        defaults: BUSINESS_DEFAULTS,
        values: map(vec![
            ("id", json!(b.id)),
            ("name", json!(b.name)),
            ("created_time", json!(graph_datetime(b.created_time))),
            ("timezone_id", json!(b.timezone_id)),
            ("verification_status", json!(b.verification_status)),
            ("two_factor_type", json!("none")),
            ("link", json!(format!("https://business.facebook.com/settings/?business_id={}", b.id))),
            ("is_hidden", json!(false)),
            ("vertical", json!("OTHER")),
            ("whatsapp_business_manager_messaging_limit", json!("TIER_2K")),
        ]),
    }
}

pub const SYSTEM_USER_DEFAULTS: &[&str] = &["id", "name"];
pub const SYSTEM_USER_LIST_DEFAULTS: &[&str] = &["id", "name", "role"];

pub fn system_user(world: &World, su: &SystemUser, defaults: &'static [&'static str]) -> Node {
    Node {
        type_name: "SystemUser",
        known: &["id", "name", "role", "created_by", "created_time", "finance_permission", "ip_permission", "business"],
        defaults,
        values: map(vec![
            ("id", json!(su.id)),
            ("name", json!(su.name)),
            ("role", json!(su.role.as_str())),
            ("created_by", su.created_by.map(|c| id_name(world, c)).unwrap_or(Value::Null)),
            ("created_time", json!(graph_datetime(su.created_time))),
            ("finance_permission", su.finance_permission.map(|f| json!(f.as_str())).unwrap_or(Value::Null)),
            ("business", id_name(world, su.business)),
        ]),
    }
}

pub fn person(world: &World, p: &Person) -> Node {
    let (first, last) = p.name.split_once(' ').unwrap_or((&p.name, ""));
    Node {
        type_name: "BusinessUser",
        known: &["id", "name", "email", "first_name", "last_name", "role", "business", "finance_permission"],
        defaults: &["id", "name"],
        values: map(vec![
            ("id", json!(p.id)),
            ("name", json!(p.name)),
            ("email", json!(p.email)),
            ("first_name", json!(first)),
            ("last_name", json!(last)),
            ("role", json!(p.role.as_str())),
            ("business", id_name(world, p.business)),
            ("finance_permission", p.finance_permission.map(|f| json!(f.as_str())).unwrap_or(Value::Null)),
        ]),
    }
}

pub fn app(world: &World, a: &App) -> Node {
    Node {
        type_name: "Application",
        known: &["id", "name", "link", "business", "owner_business", "category", "created_time"],
        defaults: &["id", "name", "link"],
        values: map(vec![
            ("id", json!(a.id)),
            ("name", json!(a.name)),
            ("link", json!(app_link(a.id))),
            ("business", id_name(world, a.business)),
            ("owner_business", id_name(world, a.business)),
            ("category", json!("Business")),
            ("created_time", json!(graph_datetime(a.created_time))),
        ]),
    }
}

pub const WABA_DEFAULTS: &[&str] = &["id", "name", "currency", "timezone_id", "message_template_namespace"];
pub const ASSIGNED_WABA_DEFAULTS: &[&str] = &["id", "name", "tasks"];

const WABA_FIELDS: &[&str] = &[
    "id",
    "name",
    "currency",
    "timezone_id",
    "message_template_namespace",
    "account_review_status",
    "business_verification_status",
    "country",
    "creation_time",
    "owner_business",
    "owner_business_info",
    "on_behalf_of_business_info",
    "ownership_type",
    "primary_funding_id",
    "purchase_order_number",
    "status",
    "is_enabled_for_insights",
    "is_shared_with_partners",
    "health_status",
    "whatsapp_business_manager_messaging_limit",
    "marketing_messages_lite_api_status",
    "template_auto_archival_enabled",
    "tasks",
];

/// A WABA as `viewer_business` sees it; `tasks` are shown when listed under a user.
pub fn waba(
    world: &World,
    w: &Waba,
    viewer_business: GraphId,
    tasks: Option<Value>,
    defaults: &'static [&'static str],
) -> Node {
    let owner = world.business(w.owner);
    let ownership = if w.owner == viewer_business { "SELF_OWNED" } else { "CLIENT_OWNED" };
    Node {
        type_name: "WhatsAppBusinessAccount",
        known: WABA_FIELDS,
        defaults,
        values: map(vec![
            ("id", json!(w.id)),
            ("name", json!(w.name)),
            ("currency", json!(w.currency)),
            ("timezone_id", json!(w.timezone_id)),
            ("message_template_namespace", json!(w.message_template_namespace)),
            ("account_review_status", json!(w.account_review_status)),
            ("business_verification_status", json!(owner.map(|b| b.verification_status.as_str()))),
            ("country", json!("US")),
            ("creation_time", json!(w.created_time)),
            ("owner_business", id_name(world, w.owner)),
            ("owner_business_info", id_name(world, w.owner)),
            ("ownership_type", json!(ownership)),
            ("primary_funding_id", w.primary_funding_id.map(|f| json!(f)).unwrap_or(Value::Null)),
            ("status", json!("ACTIVE")),
            ("is_enabled_for_insights", json!(true)),
            ("is_shared_with_partners", json!(world.shares_of(w.id).next().is_some())),
            (
                "health_status",
                json!({"can_send_message": "AVAILABLE", "entities": [{"entity_type": "WABA", "id": w.id, "can_send_message": "AVAILABLE"}]}),
            ),
            ("whatsapp_business_manager_messaging_limit", json!("TIER_2K")),
            ("marketing_messages_lite_api_status", json!("INELIGIBLE")),
            ("template_auto_archival_enabled", json!(false)),
            ("tasks", tasks.unwrap_or(Value::Null)),
        ]),
    }
}

/// One entry of `GET /{waba}/assigned_users`: the tasks as assigned, and those assignable.
pub fn assigned_user(world: &World, a: &Assignment) -> Node {
    let principal = world.principal(a.user);
    let permitted = principal.and_then(|p| rules::route(world, p.business, a.waba)).map(Route::cap).unwrap_or_default();
    Node {
        type_name: "AssignedUser",
        known: &["id", "name", "tasks", "permitted_tasks", "business", "user_type"],
        defaults: &["id", "name", "tasks"],
        values: map(vec![
            ("id", json!(a.user)),
            ("name", json!(world.user_name(a.user))),
            ("tasks", json!(a.tasks)),
            ("permitted_tasks", json!(permitted)),
            ("business", principal.map(|p| id_name(world, p.business)).unwrap_or(Value::Null)),
            ("user_type", principal.map(|p| json!(p.kind.as_str())).unwrap_or(Value::Null)),
        ]),
    }
}

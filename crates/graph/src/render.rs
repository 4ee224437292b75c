//! Nodes as Graph shows them: every field a node type has, with its default fields.

use model::rules;
use model::{App, Assignment, Business, GraphId, Person, SystemUser, Waba, World};
use serde_json::{Value, json};
use service::clock::graph_datetime;

use crate::fields::Node;

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

pub fn business<'a>(b: &'a Business) -> Node<'a> {
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
        value: Box::new(move |f: &str| match f {
            "id" => json!(b.id),
            "name" => json!(b.name),
            "created_time" => json!(graph_datetime(b.created_time)),
            "timezone_id" => json!(b.timezone_id),
            "verification_status" => json!(b.verification_status),
            "two_factor_type" => json!("none"),
            "link" => json!(format!("https://business.facebook.com/settings/?business_id={}", b.id)),
            "is_hidden" => json!(false),
            "vertical" => json!("OTHER"),
            "whatsapp_business_manager_messaging_limit" => json!("TIER_2K"),
            _ => Value::Null,
        }),
    }
}

pub const SYSTEM_USER_DEFAULTS: &[&str] = &["id", "name"];
pub const SYSTEM_USER_LIST_DEFAULTS: &[&str] = &["id", "name", "role"];

pub fn system_user<'a>(world: &'a World, su: &'a SystemUser, defaults: &'static [&'static str]) -> Node<'a> {
    Node {
        type_name: "SystemUser",
        known: &["id", "name", "role", "created_by", "created_time", "finance_permission", "ip_permission", "business"],
        defaults,
        value: Box::new(move |f: &str| match f {
            "id" => json!(su.id),
            "name" => json!(su.name),
            "role" => json!(su.role.as_str()),
            "created_by" => su.created_by.map(|c| id_name(world, c)).unwrap_or(Value::Null),
            "created_time" => json!(graph_datetime(su.created_time)),
            "finance_permission" => su.finance_permission.map(|f| json!(f.as_str())).unwrap_or(Value::Null),
            "business" => id_name(world, su.business),
            _ => Value::Null,
        }),
    }
}

pub fn person<'a>(world: &'a World, p: &'a Person) -> Node<'a> {
    let (first, last) = p.name.split_once(' ').unwrap_or((&p.name, ""));
    Node {
        type_name: "BusinessUser",
        known: &["id", "name", "email", "first_name", "last_name", "role", "business", "finance_permission"],
        defaults: &["id", "name"],
        value: Box::new(move |f: &str| match f {
            "id" => json!(p.id),
            "name" => json!(p.name),
            "email" => json!(p.email),
            "first_name" => json!(first),
            "last_name" => json!(last),
            "role" => json!(p.role.as_str()),
            "business" => id_name(world, p.business),
            "finance_permission" => p.finance_permission.map(|f| json!(f.as_str())).unwrap_or(Value::Null),
            _ => Value::Null,
        }),
    }
}

pub fn app<'a>(world: &'a World, a: &'a App) -> Node<'a> {
    Node {
        type_name: "Application",
        known: &["id", "name", "link", "business", "owner_business", "category", "created_time"],
        defaults: &["id", "name", "link"],
        value: Box::new(move |f: &str| match f {
            "id" => json!(a.id),
            "name" => json!(a.name),
            "link" => json!(app_link(a.id)),
            "business" => id_name(world, a.business),
            "owner_business" => id_name(world, a.business),
            "category" => json!("Business"),
            "created_time" => json!(graph_datetime(a.created_time)),
            _ => Value::Null,
        }),
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
    "analytics",
    "conversation_analytics",
    "pricing_analytics",
    "template_analytics",
];

/// A WABA as `viewer` sees it; `tasks` are shown when listed under a user. A field the viewer may
/// not read (`rules::WABA_FIELDS`: costs, insights) is left out, whichever list or node renders
/// the WABA; a read of the one WABA refuses such a field before rendering it.
pub fn waba<'a>(
    world: &'a World,
    w: &'a Waba,
    viewer: &'a rules::Caller,
    tasks: Option<Value>,
    defaults: &'static [&'static str],
) -> Node<'a> {
    let owner = world.business(w.owner);
    let ownership = if w.owner == viewer.principal.business { "SELF_OWNED" } else { "CLIENT_OWNED" };
    Node {
        type_name: "WhatsAppBusinessAccount",
        known: WABA_FIELDS,
        defaults,
        value: Box::new(move |f: &str| match f {
            _ if rules::authorize_waba_field(world, viewer, model::Verb::Get, w.id, f).is_err() => Value::Null,
            "id" => json!(w.id),
            "name" => json!(w.name),
            "currency" => json!(w.currency),
            "timezone_id" => json!(w.timezone_id),
            "message_template_namespace" => json!(w.message_template_namespace),
            "account_review_status" => json!(w.account_review_status),
            "business_verification_status" => json!(owner.map(|b| b.verification_status.as_str())),
            "country" => json!("US"),
            "creation_time" => json!(w.created_time),
            "owner_business" => id_name(world, w.owner),
            "owner_business_info" => id_name(world, w.owner),
            "ownership_type" => json!(ownership),
            "primary_funding_id" => w.primary_funding_id.map(|f| json!(f)).unwrap_or(Value::Null),
            "status" => json!("ACTIVE"),
            "is_enabled_for_insights" => json!(true),
            "is_shared_with_partners" => json!(world.shares_of(w.id).next().is_some()),
            "health_status" => {
                json!({"can_send_message": "AVAILABLE", "entities": [{"entity_type": "WABA", "id": w.id, "can_send_message": "AVAILABLE"}]})
            }
            "whatsapp_business_manager_messaging_limit" => json!("TIER_2K"),
            "marketing_messages_lite_api_status" => json!("INELIGIBLE"),
            "template_auto_archival_enabled" => json!(false),
            "tasks" => tasks.clone().unwrap_or(Value::Null),
            // wabagate delivers no messages: nothing to count; the shapes are Meta's.
            "analytics" => json!({"phone_numbers": [], "granularity": "DAY", "data_points": []}),
            "conversation_analytics" => json!({"data": [{"data_points": []}]}),
            "pricing_analytics" => json!({"data": [{"data_points": []}]}),
            "template_analytics" => json!({"data": [{"granularity": "DAILY", "data_points": []}]}),
            _ => Value::Null,
        }),
    }
}

/// One entry of `GET /{waba}/assigned_users`: the tasks as assigned, and those assignable.
pub fn assigned_user<'a>(world: &'a World, a: &'a Assignment) -> Node<'a> {
    let principal = world.principal(a.user);
    let permitted = principal.and_then(|p| rules::cap(world, p.business, a.waba)).unwrap_or_default();
    Node {
        type_name: "AssignedUser",
        known: &["id", "name", "tasks", "permitted_tasks", "business", "user_type"],
        defaults: &["id", "name", "tasks"],
        value: Box::new(move |f: &str| match f {
            "id" => json!(a.user),
            "name" => json!(world.user_name(a.user)),
            "tasks" => json!(a.tasks),
            "permitted_tasks" => json!(permitted),
            "business" => principal.map(|p| id_name(world, p.business)).unwrap_or(Value::Null),
            "user_type" => principal.map(|p| json!(p.kind.as_str())).unwrap_or(Value::Null),
            _ => Value::Null,
        }),
    }
}

fn app_ref(world: &World, id: GraphId) -> Value {
    json!({"id": id, "name": world.app(id).map(|a| a.name.clone()), "link": app_link(id)})
}

pub fn solution<'a>(world: &'a World, s: &'a model::Solution) -> Node<'a> {
    Node {
        type_name: "WhatsAppBusinessSolution",
        known: &["id", "name", "status", "status_for_pending_request", "owner_app", "owner_permissions", "partners"],
        defaults: &["id", "name", "status"],
        value: Box::new(move |f: &str| match f {
            "id" => json!(s.id),
            "name" => json!(s.name),
            "status" => json!(s.status),
            "status_for_pending_request" => json!(s.status_for_pending_request),
            "owner_app" => app_ref(world, s.owner_app),
            "owner_permissions" => json!(s.owner_permissions),
            "partners" => json!({"data": [{
                "id": s.partner_app,
                "partner_app": app_ref(world, s.partner_app),
                "partner_permissions": s.partner_permissions,
            }]}),
            _ => Value::Null,
        }),
    }
}

pub fn credit_line<'a>(world: &'a World, c: &'a model::CreditLine) -> Node<'a> {
    let owner = world.business(c.business);
    let allocated: Vec<&model::AllocationConfig> =
        world.allocations_of(c.id).filter(|a| a.request_status == "ACTIVE").collect();
    Node {
        type_name: "ExtendedCredit",
        known: &[
            "id",
            "legal_entity_name",
            "owner_business",
            "owner_business_name",
            "credit_type",
            "allocated_amount",
            "balance",
            "credit_available",
            "max_balance",
            "online_max_balance",
            "is_access_revoked",
            "is_automated_experience",
            "receiving_credit_allocation_config",
        ],
        defaults: &["id", "legal_entity_name"],
        value: Box::new(move |f: &str| match f {
            "id" => json!(c.id),
            "legal_entity_name" => json!(c.legal_entity_name),
            "owner_business" => id_name(world, c.business),
            "owner_business_name" => json!(owner.map(|b| b.name.clone())),
            "credit_type" => json!("CREDIT_LINE"),
            "allocated_amount" => json!({"amount": "0.00", "currency": c.currency, "offsetted_amount": "0"}),
            "balance" => json!({"amount": "0.00", "currency": c.currency, "offsetted_amount": "0"}),
            "credit_available" => json!({"amount": "0.00", "currency": c.currency, "offsetted_amount": "0"}),
            "max_balance" => json!({"amount": "0.00", "currency": c.currency, "offsetted_amount": "0"}),
            "online_max_balance" => json!({"amount": "0.00", "currency": c.currency, "offsetted_amount": "0"}),
            "is_access_revoked" => json!(false),
            "is_automated_experience" => json!(false),
            "receiving_credit_allocation_config" => {
                allocated.first().map(|a| json!({"id": a.id})).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        }),
    }
}

pub fn allocation<'a>(world: &'a World, a: &'a model::AllocationConfig) -> Node<'a> {
    let owning = world.credit_line(a.credit_line).map(|c| c.business);
    Node {
        type_name: "ExtendedCreditAllocationConfig",
        known: &[
            "id",
            "owning_business",
            "owning_credential",
            "receiving_business",
            "receiving_credential",
            "currency_amount",
            "liability_type",
            "partition_type",
            "send_bill_to",
            "request_status",
        ],
        defaults: &["id"],
        value: Box::new(move |f: &str| match f {
            "id" => json!(a.id),
            "owning_business" => owning.map(|b| id_name(world, b)).unwrap_or(Value::Null),
            "owning_credential" => json!({"id": a.credit_line}),
            "receiving_business" => id_name(world, a.receiving_business),
            "receiving_credential" => json!({"id": a.receiving_credential}),
            "currency_amount" => json!({"amount": "0.00", "currency": a.currency, "offsetted_amount": "0"}),
            "liability_type" => json!("Normal"),
            "partition_type" => json!("FIXED"),
            "send_bill_to" => json!("Advertiser"),
            "request_status" => json!(a.request_status),
            _ => Value::Null,
        }),
    }
}

/// Dial code and ISO country of a displayed number (`+1 555…` → ("1", "US")).
fn country(display: &str) -> (Option<String>, Option<&'static str>) {
    const CODES: [(&str, &str); 24] = [
        ("1", "US"),
        ("7", "RU"),
        ("20", "EG"),
        ("27", "ZA"),
        ("31", "NL"),
        ("33", "FR"),
        ("34", "ES"),
        ("39", "IT"),
        ("44", "GB"),
        ("49", "DE"),
        ("52", "MX"),
        ("54", "AR"),
        ("55", "BR"),
        ("57", "CO"),
        ("61", "AU"),
        ("62", "ID"),
        ("63", "PH"),
        ("65", "SG"),
        ("81", "JP"),
        ("90", "TR"),
        ("91", "IN"),
        ("234", "NG"),
        ("254", "KE"),
        ("971", "AE"),
    ];
    let digits: String = display.trim_start_matches('+').chars().take_while(|c| c.is_ascii_digit()).collect();
    let found = CODES.iter().filter(|(code, _)| digits.starts_with(code)).max_by_key(|(code, _)| code.len());
    match found {
        Some((code, iso)) => (Some(code.to_string()), Some(iso)),
        None => (None, None),
    }
}

pub const PHONE_DEFAULTS: &[&str] =
    &["verified_name", "code_verification_status", "display_phone_number", "quality_rating", "id"];
pub const PHONE_NODE_DEFAULTS: &[&str] = &["id", "display_phone_number", "verified_name", "quality_rating"];

pub fn phone_number<'a>(p: &'a model::PhoneNumber) -> Node<'a> {
    let (dial, iso) = country(&p.display_phone_number);
    let connected = p.status == "CONNECTED";
    Node {
        type_name: "WhatsAppBusinessPhoneNumber",
        known: &[
            "id",
            "verified_name",
            "display_phone_number",
            "conversational_automation",
            "status",
            "quality_rating",
            "quality_score",
            "webhook_configuration",
            "name_status",
            "new_name_status",
            "code_verification_status",
            "account_mode",
            "is_on_biz_app",
            "is_official_business_account",
            "is_pin_enabled",
            "is_preverified_number",
            "search_visibility",
            "platform_type",
            "throughput",
            "eligibility_for_api_business_global_search",
            "health_status",
            "certificate",
            "new_certificate",
            "last_onboarded_time",
            "country_code",
            "country_dial_code",
            "whatsapp_business_manager_messaging_limit",
            "messaging_limit_tier",
            "host_platform",
            "unified_cert_status",
        ],
        defaults: PHONE_DEFAULTS,
        value: Box::new(move |f: &str| match f {
            "id" => json!(p.id),
            "verified_name" => json!(p.verified_name),
            "display_phone_number" => json!(p.display_phone_number),
            "status" => json!(p.status),
            "quality_rating" => json!(p.quality_rating),
            "quality_score" => json!({"score": p.quality_rating}),
            "name_status" => json!("APPROVED"),
            "new_name_status" => json!("NONE"),
            "code_verification_status" => json!(p.code_verification_status),
            "account_mode" => json!("LIVE"),
            "is_on_biz_app" => json!(false),
            "is_official_business_account" => json!(false),
            "is_pin_enabled" => json!(p.pin_hash.is_some()),
            "is_preverified_number" => json!(false),
            "search_visibility" => json!("VISIBLE"),
            "platform_type" => json!(if connected { "CLOUD_API" } else { "NOT_APPLICABLE" }),
            "host_platform" => json!(if connected { "CLOUD_API" } else { "NOT_APPLICABLE" }),
            "throughput" => json!({"level": "STANDARD"}),
            "eligibility_for_api_business_global_search" => json!("NON_ELIGIBLE_UNDEFINED_COUNTRY"),
            "health_status" => json!({"can_send_message": if connected { "AVAILABLE" } else { "BLOCKED" },
                       "entities": [{"entity_type": "PHONE_NUMBER", "id": p.id,
                                     "can_send_message": if connected { "AVAILABLE" } else { "BLOCKED" }}]}),
            "last_onboarded_time" => p.last_onboarded_time.map(|t| json!(graph_datetime(t))).unwrap_or(Value::Null),
            "country_code" => json!(iso),
            "country_dial_code" => json!(dial),
            "whatsapp_business_manager_messaging_limit" => json!("TIER_2K"),
            "messaging_limit_tier" => json!("TIER_2K"),
            "unified_cert_status" => json!("APPROVED"),
            _ => Value::Null,
        }),
    }
}

pub const TEMPLATE_DEFAULTS: &[&str] =
    &["name", "parameter_format", "components", "language", "status", "category", "id"];

pub fn template<'a>(t: &'a model::MessageTemplate) -> Node<'a> {
    Node {
        type_name: "WhatsAppMessageTemplate",
        known: &[
            "id",
            "name",
            "language",
            "status",
            "category",
            "previous_category",
            "correct_category",
            "components",
            "parameter_format",
            "rejected_reason",
            "quality_score",
            "sub_category",
            "message_send_ttl_seconds",
            "library_template_name",
            "cta_url_link_tracking_opted_out",
            "degrees_of_freedom_spec",
        ],
        defaults: TEMPLATE_DEFAULTS,
        value: Box::new(move |f: &str| match f {
            "id" => json!(t.id),
            "name" => json!(t.name),
            "language" => json!(t.language),
            "status" => json!(t.status),
            "category" => json!(t.category),
            "previous_category" => t.previous_category.as_ref().map(|c| json!(c)).unwrap_or(Value::Null),
            "components" => t.components.clone(),
            "parameter_format" => json!(t.parameter_format),
            "rejected_reason" => json!(t.rejected_reason.as_deref().unwrap_or("NONE")),
            "quality_score" => json!({"score": "UNKNOWN", "date": t.created_time}),
            "cta_url_link_tracking_opted_out" => json!(false),
            _ => Value::Null,
        }),
    }
}

/// A subscribed app, as `GET /{waba}/subscribed_apps` lists it.
pub fn subscribed_app<'a>(world: &'a World, s: &'a model::SubscribedApp) -> Node<'a> {
    Node {
        type_name: "Application",
        known: &["whatsapp_business_api_data", "override_callback_uri"],
        defaults: &["whatsapp_business_api_data", "override_callback_uri"],
        value: Box::new(move |f: &str| match f {
            "whatsapp_business_api_data" => app_ref(world, s.app),
            "override_callback_uri" => s.override_callback_uri.as_ref().map(|u| json!(u)).unwrap_or(Value::Null),
            _ => Value::Null,
        }),
    }
}

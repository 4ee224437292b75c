//! The objects of Business Manager that wabagate keeps (DESIGN.md §2).

use serde::{Deserialize, Serialize};

use crate::{GraphId, IdSet, ScopeSet, Secret, TaskSet};

/// Unix seconds.
pub type Timestamp = i64;

/// The base role of a person or system user. Meta's create call takes fifteen role names;
/// reads only ever return these two.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Admin,
    Employee,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Employee => "EMPLOYEE",
        }
    }
}

/// A system user's or person's standing on the business's finances (credit lines).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum FinancePermission {
    Editor,
    Analyst,
}

impl FinancePermission {
    pub fn as_str(self) -> &'static str {
        match self {
            FinancePermission::Editor => "Editor",
            FinancePermission::Analyst => "Analyst",
        }
    }
}

/// The role names `POST /{business}/system_users` accepts, and what each becomes.
pub const ROLE_PARAMS: [(&str, Role, Option<FinancePermission>); 15] = [
    ("ADMIN", Role::Admin, None),
    ("ADS_RIGHTS_REVIEWER", Role::Employee, None),
    ("DEFAULT", Role::Employee, None),
    ("DEVELOPER", Role::Employee, None),
    ("EMPLOYEE", Role::Employee, None),
    ("FINANCE_ANALYST", Role::Employee, Some(FinancePermission::Analyst)),
    ("FINANCE_EDIT", Role::Employee, Some(FinancePermission::Editor)),
    ("FINANCE_EDITOR", Role::Employee, Some(FinancePermission::Editor)),
    ("FINANCE_VIEW", Role::Employee, Some(FinancePermission::Analyst)),
    ("MANAGE", Role::Employee, None),
    ("PARTNER_CENTER_ADMIN", Role::Employee, None),
    ("PARTNER_CENTER_ANALYST", Role::Employee, None),
    ("PARTNER_CENTER_EDUCATION", Role::Employee, None),
    ("PARTNER_CENTER_MARKETING", Role::Employee, None),
    ("PARTNER_CENTER_OPERATIONS", Role::Employee, None),
];

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Business {
    pub id: GraphId,
    pub name: String,
    pub timezone_id: u32,
    pub verification_status: String,
    pub created_time: Timestamp,
    /// When an admin accepted Meta's system-user policy in Business Settings (asked once per business).
    #[serde(default)]
    pub system_user_policy_accepted_at: Option<Timestamp>,
}

/// A human account of a business (a "business user"), who signs in to the console.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Person {
    pub id: GraphId,
    pub business: GraphId,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub finance_permission: Option<FinancePermission>,
    /// Argon2id PHC string.
    pub password_hash: Secret,
    pub created_time: Timestamp,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct App {
    pub id: GraphId,
    pub business: GraphId,
    pub name: String,
    pub secret: Secret,
    pub require_appsecret_proof: bool,
    pub created_time: Timestamp,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct SystemUser {
    pub id: GraphId,
    pub business: GraphId,
    pub name: String,
    pub role: Role,
    pub finance_permission: Option<FinancePermission>,
    /// The person or system user who created it; `None` for fixtures.
    pub created_by: Option<GraphId>,
    pub created_time: Timestamp,
    /// Apps installed on this system user.
    pub apps: IdSet,
}

/// A system-user access token. The token string itself is never kept: only its SHA-256.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Token {
    pub id: GraphId,
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    pub system_user: GraphId,
    pub app: GraphId,
    pub scopes: ScopeSet,
    pub issued_at: Timestamp,
    /// `None`: never expires (debug_token says 0).
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

impl Token {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Waba {
    pub id: GraphId,
    pub owner: GraphId,
    pub name: String,
    pub currency: String,
    pub timezone_id: String,
    pub message_template_namespace: String,
    pub account_review_status: String,
    pub created_time: Timestamp,
    /// The receiving credential of the attached credit line.
    pub primary_funding_id: Option<GraphId>,
}

/// How a WABA is shared with a partner business.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShareLevel {
    /// Admin permission ("Full control"): every task.
    Full,
    /// Standard permission: developer-level tasks.
    Standard,
}

impl ShareLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            ShareLevel::Full => "FULL",
            ShareLevel::Standard => "STANDARD",
        }
    }
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Share {
    pub waba: GraphId,
    pub partner: GraphId,
    pub level: ShareLevel,
    pub created_time: Timestamp,
}

/// The tasks a user (system user or person) was given on a WABA.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
pub struct Assignment {
    pub waba: GraphId,
    pub user: GraphId,
    pub tasks: TaskSet,
    pub assigned_time: Timestamp,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct PhoneNumber {
    pub id: GraphId,
    pub waba: GraphId,
    pub display_phone_number: String,
    pub verified_name: String,
    /// `CONNECTED` once registered for the Cloud API, `DISCONNECTED` after deregistering, or as declared.
    pub status: String,
    /// `VERIFIED`, `NOT_VERIFIED` or `EXPIRED`.
    pub code_verification_status: String,
    pub quality_rating: String,
    pub created_time: Timestamp,
    /// SHA-256 (hex) of the two-step verification PIN set by the first registration.
    #[serde(default)]
    pub pin_hash: Option<Secret>,
    /// The verification code last requested with request_code, until verified.
    #[serde(default)]
    pub pending_code: Option<String>,
    #[serde(default)]
    pub last_onboarded_time: Option<Timestamp>,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct MessageTemplate {
    pub id: GraphId,
    pub waba: GraphId,
    pub name: String,
    pub language: String,
    pub category: String,
    /// PENDING, APPROVED, REJECTED, PAUSED, DISABLED …
    pub status: String,
    /// `POSITIONAL` or `NAMED`.
    pub parameter_format: String,
    pub components: serde_json::Value,
    pub created_time: Timestamp,
    /// When a PENDING template is approved by the automatic review (`None`: manual review).
    #[serde(default)]
    pub review_at: Option<Timestamp>,
    #[serde(default)]
    pub rejected_reason: Option<String>,
    #[serde(default)]
    pub previous_category: Option<String>,
}

/// A message sent through the Cloud API. Kept in the store for the console; not part of the
/// in-memory index.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Message {
    /// `wamid.…`
    pub id: String,
    pub phone_number: GraphId,
    pub waba: GraphId,
    pub to: String,
    pub kind: String,
    pub body: serde_json::Value,
    pub sent_by: GraphId,
    pub created_time: Timestamp,
}

/// A webhook event for one app, queued in the same transaction as the change that caused it.
/// Stored, not indexed: the store's delivery queue sends it (docs/webhooks.md).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct WebhookEvent {
    pub app: GraphId,
    /// The id of the entry the event is about: a WABA, or a business for `partner_solutions`.
    /// One app's events about one entry are delivered in order.
    pub entry: GraphId,
    /// The WABA whose subscribed_apps override callback applies, if any.
    pub waba: Option<GraphId>,
    pub field: String,
    /// The exact JSON body sent, and signed.
    pub body: String,
    /// When the event happens, in Unix milliseconds: it is not sent before.
    pub due_ms: i64,
}

/// Where a queued webhook delivery stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeliveryStatus {
    /// Waiting to be sent, or to be sent again.
    Pending,
    /// The callback answered 2xx.
    Delivered,
    /// Given up after retrying for the configured time (or with no callback left to send to).
    Failed,
    /// Never sent: by the time it was due, the app no longer reached the WABA it is about, or
    /// was no longer subscribed to it (docs/webhooks.md). The delivery's error says which.
    Dropped,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dropped => "dropped",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            "dropped" => Some(DeliveryStatus::Dropped),
            _ => None,
        }
    }
}

/// A webhook delivery as the store keeps it: the event and what its attempts met.
#[derive(Clone, PartialEq, Debug)]
pub struct WebhookDelivery {
    /// The delivery's id, sent as `X-Wabagate-Delivery` so receivers can de-duplicate.
    pub id: u64,
    pub event: WebhookEvent,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    /// The HTTP status the last attempt got, if it got one.
    pub last_code: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// How long the last attempt took.
    pub latency_ms: Option<i64>,
    /// Where the last attempt went.
    pub callback_url: Option<String>,
    /// When it was delivered or given up.
    pub finished_ms: Option<i64>,
}

/// What one delivery attempt met, as the store records it.
#[derive(Clone, PartialEq, Debug)]
pub struct DeliveryAttempt {
    pub id: u64,
    pub status: DeliveryStatus,
    /// When to try again (pending only).
    pub next_attempt_ms: i64,
    pub code: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub callback_url: Option<String>,
    pub at_ms: i64,
}

/// An app subscribed to a WABA's webhooks.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct SubscribedApp {
    pub waba: GraphId,
    pub app: GraphId,
    pub override_callback_uri: Option<String>,
    pub verify_token: Option<String>,
    pub created_time: Timestamp,
}

/// An app's webhook subscription to one type of object (`POST /{app}/subscriptions`): where its
/// events go, the token the verification handshake carried, and the fields subscribed.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct AppSubscription {
    pub app: GraphId,
    /// `whatsapp_business_account`.
    pub object: String,
    pub callback_url: String,
    pub verify_token: Secret,
    pub fields: Vec<String>,
    pub created_time: Timestamp,
}

/// A Multi-Partner Solution: an owner app and a partner app sharing onboarded WABAs, each side
/// with its permissions; exactly one side holds MESSAGING.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Solution {
    pub id: GraphId,
    pub name: String,
    pub owner_app: GraphId,
    pub partner_app: GraphId,
    pub owner_permissions: TaskSet,
    pub partner_permissions: TaskSet,
    /// DRAFT, INITIATED, ACTIVE, REJECTED or DEACTIVATED.
    pub status: String,
    /// PENDING_ACTIVATION, PENDING_DEACTIVATION or NONE.
    pub status_for_pending_request: String,
    /// The app whose side asked for deactivation, while one is pending.
    pub deactivation_requested_by: Option<GraphId>,
    pub created_time: Timestamp,
}

/// A WABA onboarded onto a Multi-Partner Solution.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct SolutionWaba {
    pub solution: GraphId,
    pub waba: GraphId,
    pub created_time: Timestamp,
}

/// A partner's line of credit (ExtendedCredit).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct CreditLine {
    pub id: GraphId,
    pub business: GraphId,
    pub legal_entity_name: String,
    pub currency: String,
    pub created_time: Timestamp,
}

/// A credit line shared to a client business and attached to one of its WABAs
/// (ExtendedCreditAllocationConfig).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct AllocationConfig {
    pub id: GraphId,
    pub credit_line: GraphId,
    pub waba: GraphId,
    pub receiving_business: GraphId,
    /// The credential the WABA is funded by; the WABA's `primary_funding_id`.
    pub receiving_credential: GraphId,
    pub currency: String,
    /// ACTIVE, or DELETED once revoked.
    pub request_status: String,
    pub created_time: Timestamp,
}

/// Who did something: a system user through a token, or a person through the console.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Actor {
    pub user: GraphId,
    pub name: String,
    /// The token used, when the actor came through the API.
    pub token: Option<GraphId>,
    /// `api`, `console`, `cli` or `system` (fixtures and the demo world).
    pub via: String,
}

/// One change of access, as the audit log keeps it.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct AuditEvent {
    /// A sequence number the store assigns: later events have larger ids.
    #[serde(default)]
    pub id: u64,
    pub time: Timestamp,
    /// The business whose access changed; admins of that business can read the event.
    pub business: GraphId,
    pub actor: Actor,
    pub action: String,
    pub target: GraphId,
    pub target_type: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

mod hex32 {
    use std::fmt;

    use serde::de::{Error, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        let mut out = [0u8; 64];
        hex::encode_to_slice(v, &mut out).expect("64 digits for 32 bytes");
        s.serialize_str(std::str::from_utf8(&out).expect("hex digits are ASCII"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        d.deserialize_str(Hex)
    }

    struct Hex;

    impl Visitor<'_> for Hex {
        type Value = [u8; 32];

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a token hash: 64 hex digits")
        }

        fn visit_str<E: Error>(self, text: &str) -> Result<[u8; 32], E> {
            let mut out = [0u8; 32];
            hex::decode_to_slice(text, &mut out).map_err(|_| E::custom("a token hash is 64 hex digits"))?;
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Scope, Task};

    #[test]
    fn tokens_round_trip_through_json_and_bad_bodies_are_refused() {
        let token = Token {
            id: GraphId(7),
            hash: std::array::from_fn(|i| (i * 37) as u8),
            system_user: GraphId(8),
            app: GraphId(9),
            scopes: ScopeSet::of(&[Scope::BUSINESS_MANAGEMENT, Scope::WHATSAPP_BUSINESS_MESSAGING]),
            issued_at: 1,
            expires_at: None,
            revoked_at: Some(2),
            last_used_at: None,
        };
        let text = serde_json::to_string(&token).unwrap();
        assert!(text.contains(r#""hash":"00254a6f94b9de03"#), "{text}");
        assert_eq!(serde_json::from_str::<Token>(&text).unwrap(), token);
        let bad_scope = text.replace("business_management", "publish_actions");
        assert!(serde_json::from_str::<Token>(&bad_scope).unwrap_err().to_string().contains("unknown scope"));
        let bad_hash = text.replace("00254a6f", "zz254a6f");
        assert!(serde_json::from_str::<Token>(&bad_hash).is_err());
        let tasks: TaskSet = serde_json::from_str(r#"["MANAGE_TEMPLATES","DEVELOP"]"#).unwrap();
        assert_eq!(tasks, TaskSet::of(&[Task::ManageTemplates, Task::Develop]));
        assert!(serde_json::from_str::<TaskSet>(r#"["FULL_CONTROL"]"#).is_err());
    }
}

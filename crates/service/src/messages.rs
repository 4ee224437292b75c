//! The Cloud API message body, checked as Meta checks it before accepting a message.

use base64::Engine;
use model::template::{self, ParameterFormat};
use model::{GraphError, GraphId, World};
use rand::Rng;
use serde_json::Value;

/// Message types the Cloud API sends, each carried in the object of the same name.
const TYPES: [&str; 11] = [
    "audio",
    "contacts",
    "document",
    "image",
    "interactive",
    "location",
    "reaction",
    "sticker",
    "template",
    "text",
    "video",
];

pub const MAX_TEXT_CHARS: usize = 4096;
/// A media caption (Meta: 1,024 characters).
pub const MAX_CAPTION_CHARS: usize = 1024;
/// `biz_opaque_callback_data` (Meta: 512 characters).
pub const MAX_CALLBACK_DATA_CHARS: usize = 512;
/// The largest message body wabagate keeps, once normalised (its bound; Meta publishes none).
pub const MAX_STORED_BYTES: usize = 64 * 1024;

/// A message that passed the checks.
pub struct Outgoing {
    pub input: String,
    pub wa_id: String,
    pub kind: String,
    /// The message as stored: only the fields of a Cloud API message, each within Meta's limits.
    /// Credentials (`access_token`, `appsecret_proof`) and unknown keys are never part of it.
    pub stored: Value,
}

use model::shape::{self, Shape};

/// How often (on the server's clock) sent messages older than the retention are pruned.
pub const PRUNE_EVERY_SECS: i64 = 60;
/// How many messages one pruning transaction deletes.
pub const PRUNE_BATCH: usize = 1000;

impl crate::Service {
    /// Forgets the sent messages older than the retention (`--message-retention`), in batches,
    /// at most once a minute of the server's clock. Answers how many were forgotten.
    pub async fn prune_messages(&self) -> Result<u64, GraphError> {
        use std::sync::atomic::Ordering;
        let now = self.now();
        let last = self.messages_pruned_at.load(Ordering::Relaxed);
        if last != i64::MIN && now - last < PRUNE_EVERY_SECS && now >= last {
            return Ok(0);
        }
        self.messages_pruned_at.store(now, Ordering::Relaxed);
        let before = now - self.settings().message_retention.as_secs() as i64;
        let mut total = 0;
        loop {
            let n = self.read("pruning old messages", move |s| s.prune_messages(before, PRUNE_BATCH)).await?;
            total += n;
            if n < PRUNE_BATCH as u64 {
                break;
            }
        }
        if total > 0 {
            tracing::info!(pruned = total, "forgot messages older than the message retention");
        }
        Ok(total)
    }
}

// The shapes of what a message keeps (docs/whatsapp.md, "What a message keeps"). Limits are
// Meta's where it publishes them, wabagate's bounds elsewhere.
const ID: Shape = Shape::Text(256);
const MEDIA: Shape = Shape::Object(&[
    ("id", ID),
    ("link", Shape::Text(2048)),
    ("caption", Shape::Text(MAX_CAPTION_CHARS)),
    ("filename", Shape::Text(255)),
]);
const LOCATION: Shape = Shape::Object(&[
    ("latitude", Shape::Number),
    ("longitude", Shape::Number),
    ("name", Shape::Text(1000)),
    ("address", Shape::Text(1000)),
]);
const CONTACT: Shape = Shape::Object(&[
    (
        "addresses",
        Shape::List(
            10,
            &Shape::Object(&[
                ("street", Shape::Text(1000)),
                ("city", Shape::Text(256)),
                ("state", Shape::Text(256)),
                ("zip", Shape::Text(32)),
                ("country", Shape::Text(256)),
                ("country_code", Shape::Text(8)),
                ("type", Shape::Text(32)),
            ]),
        ),
    ),
    ("birthday", Shape::Text(32)),
    ("emails", Shape::List(10, &Shape::Object(&[("email", Shape::Text(320)), ("type", Shape::Text(32))]))),
    (
        "name",
        Shape::Object(&[
            ("formatted_name", Shape::Text(512)),
            ("first_name", Shape::Text(256)),
            ("last_name", Shape::Text(256)),
            ("middle_name", Shape::Text(256)),
            ("suffix", Shape::Text(64)),
            ("prefix", Shape::Text(64)),
        ]),
    ),
    (
        "org",
        Shape::Object(&[("company", Shape::Text(256)), ("department", Shape::Text(256)), ("title", Shape::Text(256))]),
    ),
    (
        "phones",
        Shape::List(
            10,
            &Shape::Object(&[("phone", Shape::Text(64)), ("type", Shape::Text(32)), ("wa_id", Shape::Text(32))]),
        ),
    ),
    ("urls", Shape::List(10, &Shape::Object(&[("url", Shape::Text(2048)), ("type", Shape::Text(32))]))),
]);
const INTERACTIVE_TEXT: Shape = Shape::Object(&[("text", Shape::Text(MAX_TEXT_CHARS))]);
const INTERACTIVE: Shape = Shape::Object(&[
    ("type", Shape::Text(32)),
    (
        "header",
        Shape::Object(&[
            ("type", Shape::Text(32)),
            ("text", Shape::Text(60)),
            ("image", MEDIA),
            ("video", MEDIA),
            ("document", MEDIA),
        ]),
    ),
    ("body", INTERACTIVE_TEXT),
    ("footer", Shape::Object(&[("text", Shape::Text(60))])),
    (
        "action",
        Shape::Object(&[
            ("button", Shape::Text(20)),
            (
                "buttons",
                Shape::List(
                    3,
                    &Shape::Object(&[
                        ("type", Shape::Text(32)),
                        ("reply", Shape::Object(&[("id", ID), ("title", Shape::Text(20))])),
                    ]),
                ),
            ),
            (
                "sections",
                Shape::List(
                    10,
                    &Shape::Object(&[
                        ("title", Shape::Text(24)),
                        (
                            "rows",
                            Shape::List(
                                10,
                                &Shape::Object(&[
                                    ("id", Shape::Text(200)),
                                    ("title", Shape::Text(24)),
                                    ("description", Shape::Text(72)),
                                ]),
                            ),
                        ),
                        ("product_items", Shape::List(30, &Shape::Object(&[("product_retailer_id", ID)]))),
                    ]),
                ),
            ),
            ("catalog_id", ID),
            ("product_retailer_id", ID),
            ("name", Shape::Text(64)),
            // Flows and call-to-action URLs carry free-form parameters.
            ("parameters", Shape::Json(8192)),
        ]),
    ),
]);
const TEMPLATE_PARAMETER: Shape = Shape::Object(&[
    ("type", Shape::Text(32)),
    ("parameter_name", Shape::Text(512)),
    ("text", Shape::Text(MAX_TEXT_CHARS)),
    ("payload", Shape::Text(1000)),
    ("coupon_code", Shape::Text(20)),
    (
        "currency",
        Shape::Object(&[
            ("fallback_value", Shape::Text(256)),
            ("code", Shape::Text(8)),
            ("amount_1000", Shape::Number),
        ]),
    ),
    ("date_time", Shape::Object(&[("fallback_value", Shape::Text(256))])),
    ("image", MEDIA),
    ("video", MEDIA),
    ("document", MEDIA),
    ("location", LOCATION),
    ("action", Shape::Json(8192)),
    ("limited_time_offer", Shape::Json(1024)),
]);
const TEMPLATE: Shape = Shape::Object(&[
    ("name", Shape::Text(template::MAX_NAME_CHARS)),
    ("namespace", Shape::Text(256)),
    ("language", Shape::Object(&[("code", Shape::Text(16)), ("policy", Shape::Text(16))])),
    (
        "components",
        Shape::List(
            20,
            &Shape::Object(&[
                ("type", Shape::Text(32)),
                ("sub_type", Shape::Text(32)),
                ("index", Shape::Number),
                ("parameters", Shape::List(100, &TEMPLATE_PARAMETER)),
            ]),
        ),
    ),
]);

/// The object a message of this type carries, as stored.
fn content_shape(kind: &str) -> &'static Shape {
    const TEXT: Shape = Shape::Object(&[("body", Shape::Text(MAX_TEXT_CHARS)), ("preview_url", Shape::Bool)]);
    const REACTION: Shape = Shape::Object(&[("message_id", ID), ("emoji", Shape::Text(16))]);
    const CONTACTS: Shape = Shape::List(257, &CONTACT);
    match kind {
        "text" => &TEXT,
        "location" => &LOCATION,
        "reaction" => &REACTION,
        "contacts" => &CONTACTS,
        "interactive" => &INTERACTIVE,
        "template" => &TEMPLATE,
        _ => &MEDIA,
    }
}

/// The message as stored: the Cloud API's top-level fields and the type's object, normalised.
fn stored(body: &Value, input: &str, kind: &str) -> Result<Value, GraphError> {
    let refuse: shape::Refuse = GraphError::message_invalid;
    let mut out = serde_json::Map::new();
    out.insert("messaging_product".into(), Value::from("whatsapp"));
    out.insert("recipient_type".into(), Value::from("individual"));
    out.insert("to".into(), Value::from(input));
    out.insert("type".into(), Value::from(kind));
    let content = body.get(kind).unwrap_or(&Value::Null);
    if let Some(c) = shape::normalize(content, content_shape(kind), kind, refuse)? {
        out.insert(kind.into(), c);
    }
    const CONTEXT: Shape = Shape::Object(&[("message_id", ID)]);
    const CALLBACK_DATA: Shape = Shape::Text(MAX_CALLBACK_DATA_CHARS);
    for (key, shape) in [("context", &CONTEXT), ("biz_opaque_callback_data", &CALLBACK_DATA)] {
        if let Some(v) = body.get(key).map(|v| shape::normalize(v, shape, key, refuse)).transpose()?.flatten() {
            out.insert(key.into(), v);
        }
    }
    let out = Value::Object(out);
    if serde_json::to_string(&out).map_or(usize::MAX, |s| s.len()) > MAX_STORED_BYTES {
        return Err(GraphError::message_invalid(format!("the message must be at most {MAX_STORED_BYTES} bytes")));
    }
    Ok(out)
}

/// A new message id: `wamid.` and base64, as Meta writes them.
pub fn new_wamid(wa_id: &str) -> String {
    let random: [u8; 9] = rand::rng().random();
    let mut raw = vec![0x1c, 0x18, wa_id.len() as u8];
    raw.extend_from_slice(wa_id.as_bytes());
    raw.extend_from_slice(&[0x15, 0x02, 0x00, 0x11, 0x18, 0x12]);
    raw.extend_from_slice(hex::encode_upper(random).as_bytes());
    raw.push(0x00);
    format!("wamid.{}", base64::engine::general_purpose::STANDARD.encode(raw))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

/// A recipient as the API takes it: a phone number with an optional `+`, spaces, dashes and
/// parentheses, 7 to 15 digits once those are removed.
pub fn recipient(to: &str) -> Option<String> {
    let digits: String = to.chars().filter(|c| !matches!(c, '+' | ' ' | '-' | '(' | ')')).collect();
    (digits.len() >= 7 && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

pub fn check(world: &World, waba: GraphId, body: &Value) -> Result<Outgoing, GraphError> {
    match str_at(body, &["messaging_product"]) {
        Some(p) if p.eq_ignore_ascii_case("whatsapp") => {}
        Some(other) => {
            return Err(GraphError::invalid_param(format!(
                "Param messaging_product must be one of {{WHATSAPP}} - got \"{other}\"."
            )));
        }
        None => return Err(GraphError::message_missing("messaging_product")),
    }
    if let Some(rt) = str_at(body, &["recipient_type"]).filter(|r| *r != "individual") {
        return Err(GraphError::message_invalid(format!("recipient_type must be 'individual', not '{rt}'")));
    }
    let input = str_at(body, &["to"]).ok_or_else(|| GraphError::message_missing("to"))?.to_string();
    let wa_id = recipient(&input)
        .ok_or_else(|| GraphError::message_invalid(format!("to: '{input}' is not a valid WhatsApp phone number")))?;
    let kind = str_at(body, &["type"]).unwrap_or("text").to_ascii_lowercase();
    if !TYPES.contains(&kind.as_str()) {
        let names: Vec<String> = TYPES.iter().map(|t| t.to_ascii_uppercase()).collect();
        return Err(GraphError::invalid_param(format!(
            "Param type must be one of {{{}}} - got \"{kind}\".",
            names.join(", ")
        )));
    }
    let Some(content) = body.get(&kind).filter(|c| c.is_object()) else {
        return Err(GraphError::message_missing(&kind));
    };
    match kind.as_str() {
        "text" => {
            let text = str_at(content, &["body"]).filter(|t| !t.trim().is_empty());
            let text = text.ok_or_else(|| GraphError::message_missing("text['body']"))?;
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(GraphError::invalid_param(format!(
                    "Param text['body'] must be at most {MAX_TEXT_CHARS} characters long."
                )));
            }
        }
        "template" => check_template(world, waba, content)?,
        _ => {}
    }
    let stored = stored(body, &input, &kind)?;
    Ok(Outgoing { input, wa_id, kind, stored })
}

/// A template message: the template must exist in that language on the WABA, be APPROVED, and
/// get exactly the parameters its header and body use.
fn check_template(world: &World, waba: GraphId, content: &Value) -> Result<(), GraphError> {
    let name = str_at(content, &["name"]).ok_or_else(|| GraphError::message_missing("template['name']"))?;
    let language = str_at(content, &["language", "code"])
        .ok_or_else(|| GraphError::message_missing("template['language']['code']"))?;
    let Some(t) = world.templates_of(waba).find(|t| t.name == name && t.language == language) else {
        return Err(GraphError::template_unusable(name, language));
    };
    match t.status.as_str() {
        "APPROVED" => {}
        "PAUSED" => return Err(GraphError::template_paused(name)),
        "DISABLED" => return Err(GraphError::template_disabled(name)),
        _ => return Err(GraphError::template_unusable(name, language)),
    }
    let format = ParameterFormat::parse(&t.parameter_format).unwrap_or(ParameterFormat::Positional);
    let expected = template::expected(&t.components, &t.category, format);
    let mut given_header = Vec::new();
    let mut given_body = Vec::new();
    if let Some(components) = content.get("components") {
        let Some(items) = components.as_array() else {
            return Err(GraphError::message_invalid("template.components must be a list"));
        };
        for c in items {
            // pywa writes "BODY", Meta's docs "body".
            let kind = str_at(c, &["type"]).unwrap_or_default().to_ascii_lowercase();
            let params = c.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
            match kind.as_str() {
                "header" => given_header = params,
                "body" => given_body = params,
                "button" | "carousel" | "limited_time_offer" | "order_status" => {}
                other => {
                    return Err(GraphError::message_invalid(format!(
                        "template.components: '{other}' is not a component type"
                    )));
                }
            }
        }
    }
    for (part, expected, given) in [("header", &expected.header, &given_header), ("body", &expected.body, &given_body)]
    {
        if expected.names.len() != given.len() {
            return Err(GraphError::template_param_mismatch(part, expected.names.len(), given.len()));
        }
        if format == ParameterFormat::Named {
            for p in given {
                let n = str_at(p, &["parameter_name"]).unwrap_or_default();
                if !expected.names.iter().any(|e| e == n) {
                    return Err(GraphError::template_param_format(format!(
                        "{part} parameter '{n}' is not a parameter of template {}",
                        t.name
                    )));
                }
            }
        }
        for p in given {
            let is_text = str_at(p, &["type"]).is_some_and(|t| t.eq_ignore_ascii_case("text"));
            if is_text && str_at(p, &["text"]).is_none_or(|s| s.trim().is_empty()) {
                return Err(GraphError::template_param_format(format!(
                    "a {part} text parameter needs a non-empty text"
                )));
            }
        }
    }
    Ok(())
}

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

/// A message that passed the checks.
pub struct Outgoing {
    pub input: String,
    pub wa_id: String,
    pub kind: String,
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
    Ok(Outgoing { input, wa_id, kind })
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

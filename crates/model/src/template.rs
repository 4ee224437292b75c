//! Message templates as Meta validates them: names, languages, categories, components and
//! their placeholders, and the parameters a template message must supply.

use serde_json::{Value, json};

use crate::GraphError;
use crate::shape::{self, Shape};

/// How placeholders are written: `{{1}}` (POSITIONAL) or `{{name}}` (NAMED).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ParameterFormat {
    Positional,
    Named,
}

impl ParameterFormat {
    pub fn parse(s: &str) -> Option<ParameterFormat> {
        match s.to_ascii_uppercase().as_str() {
            "POSITIONAL" => Some(ParameterFormat::Positional),
            "NAMED" => Some(ParameterFormat::Named),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ParameterFormat::Positional => "POSITIONAL",
            ParameterFormat::Named => "NAMED",
        }
    }
}

pub const CATEGORIES: [&str; 3] = ["AUTHENTICATION", "MARKETING", "UTILITY"];
pub const MAX_NAME_CHARS: usize = 512;
pub const MAX_BODY_CHARS: usize = 1024;
pub const MAX_HEADER_CHARS: usize = 60;
pub const MAX_FOOTER_CHARS: usize = 60;
pub const MAX_BUTTONS: usize = 10;
/// Templates one WABA may hold.
pub const MAX_TEMPLATES_PER_WABA: usize = 250;
const BUTTON_TYPES: [&str; 9] =
    ["QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP", "FLOW", "CATALOG", "MPM", "VOICE_CALL"];
/// A button's text (Meta: 25 characters).
pub const MAX_BUTTON_TEXT_CHARS: usize = 25;
/// A URL button's URL (Meta: 2,000 characters).
pub const MAX_BUTTON_URL_CHARS: usize = 2000;
/// A phone number button's number (Meta: 20 characters).
pub const MAX_BUTTON_PHONE_CHARS: usize = 20;
/// The largest components a template keeps, serialised (wabagate's bound; Meta publishes none):
/// 250 templates of a WABA hold at most 16 MiB in memory.
pub const MAX_STORED_COMPONENTS_BYTES: usize = 64 * 1024;
/// An example value (Meta publishes no limit; wabagate's bound).
const MAX_EXAMPLE_CHARS: usize = 1024;

const NAMED_EXAMPLE: Shape =
    Shape::Object(&[("param_name", Shape::Text(MAX_NAME_CHARS)), ("example", Shape::Text(MAX_EXAMPLE_CHARS))]);
const EXAMPLE: Shape = Shape::Object(&[
    ("header_text", Shape::List(1, &Shape::Text(MAX_EXAMPLE_CHARS))),
    ("header_handle", Shape::List(1, &Shape::Text(MAX_EXAMPLE_CHARS))),
    ("body_text", Shape::List(1, &Shape::List(100, &Shape::Text(MAX_EXAMPLE_CHARS)))),
    ("header_text_named_params", Shape::List(1, &NAMED_EXAMPLE)),
    ("body_text_named_params", Shape::List(100, &NAMED_EXAMPLE)),
]);
const SUPPORTED_APP: Shape = Shape::Object(&[("package_name", Shape::Text(256)), ("signature_hash", Shape::Text(64))]);
const BUTTON: Shape = Shape::Object(&[
    ("type", Shape::Text(32)),
    ("text", Shape::Text(MAX_BUTTON_TEXT_CHARS)),
    ("url", Shape::Text(MAX_BUTTON_URL_CHARS)),
    ("phone_number", Shape::Text(MAX_BUTTON_PHONE_CHARS)),
    // A list of URLs for URL buttons, a code for COPY_CODE ones.
    ("example", Shape::Json(MAX_BUTTON_URL_CHARS + 8)),
    ("otp_type", Shape::Text(32)),
    ("autofill_text", Shape::Text(MAX_BUTTON_TEXT_CHARS)),
    ("package_name", Shape::Text(256)),
    ("signature_hash", Shape::Text(64)),
    ("supported_apps", Shape::List(5, &SUPPORTED_APP)),
    ("zero_tap_terms_accepted", Shape::Bool),
    ("flow_id", Shape::Text(64)),
    ("flow_name", Shape::Text(256)),
    ("flow_json", Shape::Text(32 * 1024)),
    ("flow_action", Shape::Text(32)),
    ("navigate_screen", Shape::Text(256)),
    ("icon", Shape::Text(32)),
]);
/// What a component keeps: everything else sent is dropped. Texts are checked per component
/// type above; 1,024 (the body's limit) is the bound of any.
const COMPONENT: &[(&str, Shape)] = &[
    ("type", Shape::Text(16)),
    ("format", Shape::Text(16)),
    ("text", Shape::Text(MAX_BODY_CHARS)),
    ("example", EXAMPLE),
    ("buttons", Shape::List(MAX_BUTTONS, &BUTTON)),
    ("add_security_recommendation", Shape::Bool),
    ("code_expiration_minutes", Shape::Number),
];
const HEADER_FORMATS: [&str; 5] = ["TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION"];

/// The language codes Meta supports for templates (its current list with the older codes still
/// in use), in alphabetical order.
pub const LANGUAGES: [&str; 105] = [
    "af", "ar", "ar_AE", "ar_EG", "ar_LB", "ar_MA", "ar_QA", "ar_SA", "az", "be_BY", "bg", "bn", "bn_IN", "ca", "cs",
    "da", "de", "de_AT", "de_CH", "el", "en", "en_AE", "en_AU", "en_CA", "en_GB", "en_GH", "en_IE", "en_IN", "en_JM",
    "en_MY", "en_NZ", "en_QA", "en_SG", "en_UG", "en_US", "en_ZA", "es", "es_AR", "es_CL", "es_CO", "es_ES", "es_MX",
    "es_PE", "es_VE", "et", "fa", "fi", "fil", "fr", "fr_BE", "fr_CA", "fr_CH", "fr_CI", "fr_MA", "ga", "gu", "ha",
    "he", "hi", "hr", "hu", "id", "it", "ja", "ka", "kk", "kn", "ko", "ky_KG", "lo", "lt", "lv", "mk", "ml", "mr",
    "ms", "nb", "nl", "nl_BE", "pa", "pl", "prs_AF", "pt_BR", "pt_PT", "ro", "ru", "rw_RW", "sk", "sl", "sq", "sr",
    "sv", "sw", "ta", "te", "th", "tr", "uk", "ur", "uz", "vi", "zh_CN", "zh_HK", "zh_TW", "zu",
];

pub fn is_language(code: &str) -> bool {
    LANGUAGES.binary_search(&code).is_ok()
}

/// The placeholders of one text: positional numbers or names, in order of appearance.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Placeholders {
    pub names: Vec<String>,
}

/// Finds `{{…}}` in a text. Each must be a positive number (POSITIONAL) or a lowercase name
/// (NAMED), as the template's format says.
pub fn placeholders(text: &str, format: ParameterFormat, part: &str) -> Result<Placeholders, GraphError> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(GraphError::template_invalid(format!(
                "{part} has an unclosed variable: '{{{{' without '}}}}'"
            )));
        };
        let inner = after[..end].trim();
        let ok = match format {
            ParameterFormat::Positional => !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()),
            ParameterFormat::Named => {
                inner.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                    && inner.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            }
        };
        if !ok {
            return Err(GraphError::template_invalid(format!(
                "{part} has the variable {{{{{inner}}}}}, which is not a valid {} parameter",
                format.as_str()
            )));
        }
        if !names.contains(&inner.to_string()) {
            names.push(inner.to_string());
        }
        rest = &after[end + 2..];
    }
    if format == ParameterFormat::Positional {
        let mut numbers: Vec<usize> = names.iter().filter_map(|n| n.parse().ok()).collect();
        numbers.sort_unstable();
        if numbers.iter().enumerate().any(|(i, n)| *n != i + 1) {
            return Err(GraphError::template_invalid(format!(
                "{part}: variables must be numbered in sequence from {{{{1}}}}, without gaps"
            )));
        }
    }
    Ok(Placeholders { names })
}

/// What a template's text expects a message to fill in.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Expected {
    pub header: Placeholders,
    pub body: Placeholders,
}

fn text_of<'a>(c: &'a Value, key: &str) -> Option<&'a str> {
    c.get(key).and_then(Value::as_str)
}

fn check_examples(c: &Value, p: &Placeholders, format: ParameterFormat, part: &str) -> Result<(), GraphError> {
    if p.names.is_empty() {
        return Ok(());
    }
    let example = c.get("example");
    let ok = match (format, part) {
        (ParameterFormat::Positional, "BODY") => example
            .and_then(|e| e.get("body_text"))
            .and_then(Value::as_array)
            .and_then(|rows| rows.first())
            .and_then(Value::as_array)
            .is_some_and(|row| row.len() == p.names.len()),
        (ParameterFormat::Positional, _) => example
            .and_then(|e| e.get("header_text"))
            .and_then(Value::as_array)
            .is_some_and(|row| row.len() == p.names.len()),
        (ParameterFormat::Named, _) => {
            let key = if part == "BODY" { "body_text_named_params" } else { "header_text_named_params" };
            let given: Vec<&str> = example
                .and_then(|e| e.get(key))
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(|i| text_of(i, "param_name")).collect())
                .unwrap_or_default();
            p.names.iter().all(|n| given.contains(&n.as_str()))
        }
    };
    if ok { Ok(()) } else { Err(GraphError::template_missing_example(part)) }
}

/// Checks a template's components, normalising component types to uppercase; returns the
/// components to store and what messages must fill in.
pub fn check_components(
    components: &Value,
    category: &str,
    format: ParameterFormat,
) -> Result<(Value, Expected), GraphError> {
    let Some(items) = components.as_array() else {
        return Err(GraphError::template_invalid("Param components must be a list of components"));
    };
    let mut expected = Expected::default();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut out = Vec::new();
    for c in items {
        let Some(obj) = c.as_object() else {
            return Err(GraphError::template_invalid("Each component must be an object with a \"type\""));
        };
        let kind = text_of(c, "type").unwrap_or_default().to_ascii_uppercase();
        *seen.entry(kind.clone()).or_default() += 1;
        match kind.as_str() {
            "BODY" => match text_of(c, "text") {
                Some(text) => {
                    if text.trim().is_empty() || text.chars().count() > MAX_BODY_CHARS {
                        return Err(GraphError::template_invalid(format!(
                            "The BODY text must be 1 to {MAX_BODY_CHARS} characters"
                        )));
                    }
                    expected.body = placeholders(text, format, "BODY")?;
                    check_examples(c, &expected.body, format, "BODY")?;
                }
                // Authentication templates have a fixed body: "{{1}} is your verification code."
                None if category == "AUTHENTICATION" => {
                    expected.body = Placeholders { names: vec!["1".into()] };
                }
                None => return Err(GraphError::template_invalid("The BODY component needs a \"text\"")),
            },
            "HEADER" => {
                let fmt = text_of(c, "format").unwrap_or("TEXT").to_ascii_uppercase();
                if !HEADER_FORMATS.contains(&fmt.as_str()) {
                    return Err(GraphError::template_invalid(format!(
                        "The HEADER format must be one of {{{}}}",
                        HEADER_FORMATS.join(", ")
                    )));
                }
                if fmt == "TEXT" {
                    let text = text_of(c, "text").unwrap_or_default();
                    if text.trim().is_empty() || text.chars().count() > MAX_HEADER_CHARS {
                        return Err(GraphError::template_invalid(format!(
                            "A TEXT HEADER needs a text of 1 to {MAX_HEADER_CHARS} characters"
                        )));
                    }
                    expected.header = placeholders(text, format, "HEADER")?;
                    if expected.header.names.len() > 1 {
                        return Err(GraphError::template_invalid("A HEADER may use one variable at most"));
                    }
                    check_examples(c, &expected.header, format, "HEADER")?;
                }
            }
            "FOOTER" => {
                if let Some(text) = text_of(c, "text") {
                    if text.chars().count() > MAX_FOOTER_CHARS || text.contains("{{") {
                        return Err(GraphError::template_invalid(format!(
                            "The FOOTER text must be at most {MAX_FOOTER_CHARS} characters, without variables"
                        )));
                    }
                } else if category != "AUTHENTICATION" {
                    return Err(GraphError::template_invalid("The FOOTER component needs a \"text\""));
                }
            }
            "BUTTONS" => {
                let buttons = obj.get("buttons").and_then(Value::as_array);
                let Some(buttons) = buttons.filter(|b| !b.is_empty() && b.len() <= MAX_BUTTONS) else {
                    return Err(GraphError::template_invalid(format!(
                        "The BUTTONS component needs 1 to {MAX_BUTTONS} buttons"
                    )));
                };
                for b in buttons {
                    let t = text_of(b, "type").unwrap_or_default().to_ascii_uppercase();
                    if !BUTTON_TYPES.contains(&t.as_str()) {
                        return Err(GraphError::template_invalid(format!(
                            "A button type must be one of {{{}}}",
                            BUTTON_TYPES.join(", ")
                        )));
                    }
                }
            }
            other => {
                return Err(GraphError::template_invalid(format!(
                    "Component type '{other}' is not one of {{HEADER, BODY, FOOTER, BUTTONS}}"
                )));
            }
        }
        let mut normalised = Value::Object(shape::object(obj, COMPONENT, &kind, GraphError::template_invalid)?);
        normalised["type"] = json!(kind);
        if kind == "HEADER" {
            normalised["format"] = json!(text_of(c, "format").unwrap_or("TEXT").to_ascii_uppercase());
        }
        out.push(normalised);
    }
    if seen.get("BODY").copied().unwrap_or(0) != 1 {
        return Err(GraphError::template_invalid("A template needs exactly one BODY component"));
    }
    if let Some((kind, _)) = seen.iter().find(|(_, n)| **n > 1) {
        return Err(GraphError::template_invalid(format!("A template may have one {kind} component at most")));
    }
    let out = Value::Array(out);
    if serde_json::to_string(&out).map_or(usize::MAX, |s| s.len()) > MAX_STORED_COMPONENTS_BYTES {
        return Err(GraphError::template_invalid(format!(
            "The components must be at most {MAX_STORED_COMPONENTS_BYTES} bytes of JSON"
        )));
    }
    Ok((out, expected))
}

/// What a template's stored components expect (for sending).
pub fn expected(components: &Value, category: &str, format: ParameterFormat) -> Expected {
    check_components(components, category, format).map(|(_, e)| e).unwrap_or_default()
}

/// Checks a template name: lowercase letters, digits and underscores, at most 512 characters.
pub fn check_name(name: &str) -> Result<(), GraphError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(GraphError::template_invalid(format!(
            "Param name must be at most {MAX_NAME_CHARS} characters of lowercase letters, digits and underscores"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_placeholders_must_be_sequential() {
        let p = placeholders("Hi {{1}}, order {{2}} ({{1}})", ParameterFormat::Positional, "BODY").unwrap();
        assert_eq!(p.names, ["1", "2"]);
        assert!(placeholders("{{1}} and {{3}}", ParameterFormat::Positional, "BODY").is_err());
        assert!(placeholders("{{2}}", ParameterFormat::Positional, "BODY").is_err());
        assert!(placeholders("{{name}}", ParameterFormat::Positional, "BODY").is_err());
        assert!(placeholders("{{1", ParameterFormat::Positional, "BODY").is_err());
    }

    #[test]
    fn named_placeholders_are_lowercase_names() {
        let p = placeholders("Hi {{first_name}}, {{order_id}}", ParameterFormat::Named, "BODY").unwrap();
        assert_eq!(p.names, ["first_name", "order_id"]);
        assert!(placeholders("{{1}}", ParameterFormat::Named, "BODY").is_err());
        assert!(placeholders("{{Name}}", ParameterFormat::Named, "BODY").is_err());
    }

    #[test]
    fn components_need_one_body_with_examples() {
        let ok = json!([{"type": "body", "text": "Order {{1}} shipped", "example": {"body_text": [["123"]]}}]);
        let (stored, e) = check_components(&ok, "UTILITY", ParameterFormat::Positional).unwrap();
        assert_eq!(stored[0]["type"], "BODY");
        assert_eq!(e.body.names.len(), 1);
        let no_example = json!([{"type": "BODY", "text": "Order {{1}} shipped"}]);
        assert!(check_components(&no_example, "UTILITY", ParameterFormat::Positional).is_err());
        let two_bodies = json!([{"type": "BODY", "text": "a"}, {"type": "BODY", "text": "b"}]);
        assert!(check_components(&two_bodies, "UTILITY", ParameterFormat::Positional).is_err());
        assert!(
            check_components(&json!([{"type": "FOOTER", "text": "x"}]), "UTILITY", ParameterFormat::Positional)
                .is_err()
        );
        assert!(check_components(&json!("BODY"), "UTILITY", ParameterFormat::Positional).is_err());
    }

    #[test]
    fn stored_components_keep_only_known_keys_within_limits() {
        let c = json!([{"type": "body", "text": "Hi", "junk": "x".repeat(10_000),
                        "example": {"body_text": [["a"]], "more": 1}},
                       {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Yes", "color": "red"}]}]);
        let (stored, _) = check_components(&c, "UTILITY", ParameterFormat::Positional).unwrap();
        assert_eq!(
            stored,
            json!([{"type": "BODY", "text": "Hi", "example": {"body_text": [["a"]]}},
                   {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Yes"}]}])
        );
        let long = json!([{"type": "BODY", "text": "Hi"},
                          {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "y".repeat(26)}]}]);
        assert!(check_components(&long, "UTILITY", ParameterFormat::Positional).is_err());
        let flow = |size: usize| {
            let button = json!({"type": "FLOW", "text": "Go", "flow_json": "f".repeat(size)});
            json!([{"type": "BODY", "text": "Hi"}, {"type": "BUTTONS", "buttons": [button, button, button]}])
        };
        assert!(check_components(&flow(20_000), "UTILITY", ParameterFormat::Positional).is_ok());
        assert!(check_components(&flow(30_000), "UTILITY", ParameterFormat::Positional).is_err(), "over 64 KiB in all");
    }

    #[test]
    fn names_are_lowercase_snake_case() {
        assert!(check_name("order_update_2").is_ok());
        for bad in ["", "Order", "order update", "order-update", &"a".repeat(513)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn languages_include_the_common_codes() {
        for code in ["en", "en_US", "en_GB", "pt_BR", "es", "zh_CN", "id", "zu"] {
            assert!(is_language(code), "{code}");
        }
        assert!(!is_language("english"));
        assert!(LANGUAGES.windows(2).all(|w| w[0] < w[1]), "sorted, for binary search");
    }
}

//! Renders a [`GraphError`] as Meta's envelope:
//! `{"error":{"message","type","code","error_subcode"?,"is_transient"?,"fbtrace_id"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::GraphError;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Serialize;

/// A Graph error on its way out, with the trace id the client will see.
pub struct ApiError {
    pub error: GraphError,
    pub fbtrace_id: String,
}

pub fn new_fbtrace_id() -> String {
    let body: String = rand::rng().sample_iter(&Alphanumeric).take(22).map(char::from).collect();
    format!("A{body}")
}

impl From<GraphError> for ApiError {
    fn from(error: GraphError) -> Self {
        ApiError { error, fbtrace_id: new_fbtrace_id() }
    }
}

/// The body of an error, in Meta's order of keys, serialized straight to the response.
#[derive(Serialize)]
pub struct Envelope<'a> {
    error: EnvelopeBody<'a>,
}

#[derive(Serialize)]
struct EnvelopeBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    code: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_subcode: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    is_transient: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_user_title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_user_msg: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_data: Option<ErrorData<'a>>,
    fbtrace_id: &'a str,
}

#[derive(Serialize)]
struct ErrorData<'a> {
    messaging_product: &'static str,
    details: &'a str,
}

/// The body of an error.
pub fn envelope<'a>(e: &'a GraphError, fbtrace_id: &'a str) -> Envelope<'a> {
    let extra = e.extra.as_deref();
    Envelope {
        error: EnvelopeBody {
            message: &e.message,
            kind: e.kind,
            code: e.code,
            error_subcode: e.subcode,
            is_transient: e.is_transient,
            error_user_title: extra.and_then(|x| x.user_title.as_deref()),
            error_user_msg: extra.and_then(|x| x.user_msg.as_deref()),
            error_data: extra
                .and_then(|x| x.details.as_deref())
                .map(|details| ErrorData { messaging_product: "whatsapp", details }),
            fbtrace_id,
        },
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = match crate::Answer::json(&envelope(&self.error, &self.fbtrace_id)) {
            // `<` as `\u003C`, as Graph writes it in its errors: the same JSON, and a message that
            // quotes what a callback answered never carries markup as is.
            Ok(answer) => crate::Answer(hex_tags(answer.0)).into_response(status),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
        // Graph sends an OAuth challenge with its errors; some clients read it.
        let kind = if self.error.code == 190 || self.error.code == 104 { "invalid_token" } else { "invalid_request" };
        let mut challenge = String::with_capacity(40 + self.error.message.len());
        challenge.push_str("OAuth \"Facebook Platform\" \"");
        challenge.push_str(kind);
        challenge.push_str("\" \"");
        challenge.extend(self.error.message.chars().filter(|c| c.is_ascii() && *c != '"' && !c.is_control()));
        challenge.push('"');
        if let Ok(v) = HeaderValue::try_from(challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if let Ok(v) = HeaderValue::try_from(self.fbtrace_id) {
            response.headers_mut().insert("x-fb-trace-id", v);
        }
        response
    }
}

/// Writes each `<` of serialized JSON as `\u003C`. In JSON a `<` can only be inside a string,
/// where the escape means the same character.
fn hex_tags(json: Vec<u8>) -> Vec<u8> {
    if !json.contains(&b'<') {
        return json;
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    for b in json {
        if b == b'<' {
            out.extend_from_slice(b"\\u003C");
        } else {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod escape_tests {
    #[test]
    fn a_less_than_sign_is_written_as_its_unicode_escape_and_means_the_same() {
        let json = serde_json::to_vec(&serde_json::json!({"m": "received=\"<!DOCTYPE html><ht...\""})).unwrap();
        let escaped = super::hex_tags(json);
        assert_eq!(
            String::from_utf8(escaped.clone()).unwrap(),
            r#"{"m":"received=\"\u003C!DOCTYPE html>\u003Cht...\""}"#
        );
        let back: serde_json::Value = serde_json::from_slice(&escaped).unwrap();
        assert_eq!(back["m"], "received=\"<!DOCTYPE html><ht...\"");
    }
}

//! Renders a [`GraphError`] as Meta's envelope:
//! `{"error":{"message","type","code","error_subcode"?,"is_transient"?,"fbtrace_id"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::GraphError;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value, json};

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

/// The JSON body of an error.
pub fn envelope(e: &GraphError, fbtrace_id: &str) -> Value {
    let mut inner = Map::new();
    inner.insert("message".into(), json!(e.message));
    inner.insert("type".into(), json!(e.kind));
    inner.insert("code".into(), json!(e.code));
    if let Some(sub) = e.subcode {
        inner.insert("error_subcode".into(), json!(sub));
    }
    if e.is_transient {
        inner.insert("is_transient".into(), json!(true));
    }
    if let Some(extra) = &e.extra {
        if let Some(title) = &extra.user_title {
            inner.insert("error_user_title".into(), json!(title));
        }
        if let Some(msg) = &extra.user_msg {
            inner.insert("error_user_msg".into(), json!(msg));
        }
        if let Some(details) = &extra.details {
            inner.insert("error_data".into(), json!({"messaging_product": "whatsapp", "details": details}));
        }
    }
    inner.insert("fbtrace_id".into(), json!(fbtrace_id));
    json!({ "error": inner })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = envelope(&self.error, &self.fbtrace_id);
        let mut response = (status, axum::Json(body)).into_response();
        // Graph sends an OAuth challenge with its errors; some clients read it.
        let kind = if self.error.code == 190 || self.error.code == 104 { "invalid_token" } else { "invalid_request" };
        let message: String =
            self.error.message.chars().filter(|c| c.is_ascii() && *c != '"' && !c.is_control()).collect();
        if let Ok(v) = HeaderValue::from_str(&format!("OAuth \"Facebook Platform\" \"{kind}\" \"{message}\"")) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.fbtrace_id) {
            response.headers_mut().insert("x-fb-trace-id", v);
        }
        response
    }
}

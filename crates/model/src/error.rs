//! The one error type of wabagate, rendered as Meta's `{"error":{…}}` envelope by the wire layer.
//! Each Graph code has one constructor here; `docs/errors.md` lists them and a test keeps the two
//! in step.

use std::fmt;

use crate::{GraphId, Scope};

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GraphError {
    pub status: u16,
    pub code: u32,
    pub subcode: Option<u32>,
    pub kind: &'static str,
    pub message: String,
    pub is_transient: bool,
    /// What only some errors carry, boxed to keep `Result<_, GraphError>` small.
    pub extra: Option<Box<Extra>>,
}

/// The optional parts of an error.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Extra {
    /// WhatsApp errors carry `error_data: {messaging_product, details}`.
    pub details: Option<String>,
    pub user_title: Option<String>,
    pub user_msg: Option<String>,
}

pub const OAUTH: &str = "OAuthException";
pub const METHOD: &str = "GraphMethodException";

/// The HTTP verb as Meta names it in "Unsupported {verb} request".
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verb {
    Get,
    Post,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Delete => "delete",
        }
    }
}

impl GraphError {
    fn new(status: u16, code: u32, subcode: Option<u32>, kind: &'static str, message: String) -> Self {
        GraphError { status, code, subcode, kind, message, is_transient: false, extra: None }
    }

    /// A Cloud API error: `(#code) title`, with the details in `error_data`.
    fn whatsapp(status: u16, code: u32, title: &str, details: String) -> Self {
        let mut e = Self::new(status, code, None, OAUTH, format!("(#{code}) {title}"));
        e.extra = Some(Box::new(Extra { details: Some(details), ..Extra::default() }));
        e
    }

    /// A template-management error: code 100 with Meta's subcode and user-facing title and text.
    fn template(subcode: u32, title: &str, user_msg: String) -> Self {
        let mut e = Self::new(400, 100, Some(subcode), OAUTH, "Invalid parameter".into());
        e.extra = Some(Box::new(Extra { user_title: Some(title.into()), user_msg: Some(user_msg), details: None }));
        e
    }

    /// 104: no access token on a call that needs one.
    pub fn missing_token() -> Self {
        Self::new(400, 104, None, OAUTH, "An access token is required to request this resource.".into())
    }

    /// 190: a token that is not a token at all.
    pub fn token_unparseable() -> Self {
        Self::new(401, 190, None, OAUTH, "Invalid OAuth access token - Cannot parse access token".into())
    }

    /// 190/467: a well-formed token that this server never issued.
    pub fn token_invalid() -> Self {
        Self::new(
            401,
            190,
            Some(467),
            OAUTH,
            "Error validating access token: The session is invalid because the user logged out.".into(),
        )
    }

    /// 190/460: a token that was revoked (one token, or all of a system user's).
    pub fn token_revoked() -> Self {
        Self::new(
            401,
            190,
            Some(460),
            OAUTH,
            "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.".into(),
        )
    }

    /// 190/463: a 60-day token past its expiry. The dates are rendered as Meta does, in Pacific time.
    pub fn token_expired(expired_on: &str, now: &str) -> Self {
        Self::new(
            401,
            190,
            Some(463),
            OAUTH,
            format!("Error validating access token: Session has expired on {expired_on}. The current time is {now}."),
        )
    }

    /// 100: the token's app requires appsecret_proof and none was sent.
    pub fn proof_missing() -> Self {
        Self::new(400, 100, None, METHOD, "API calls from the server require an appsecret_proof argument".into())
    }

    /// 100: an appsecret_proof that is not HMAC-SHA256(app secret, token).
    pub fn proof_invalid() -> Self {
        Self::new(400, 100, None, METHOD, "Invalid appsecret_proof provided in the API argument".into())
    }

    /// 10 or 200: the token lacks the endpoint's scope. WhatsApp endpoints answer code 10, as the
    /// Cloud API does; Business Manager endpoints answer 200 naming the permission.
    pub fn missing_scope(any_of: &[Scope]) -> Self {
        let whatsapp = any_of.iter().all(|s| s.as_str().starts_with("whatsapp_"));
        if whatsapp {
            Self::new(403, 10, None, OAUTH, "(#10) Application does not have permission for this action".into())
        } else {
            let names: Vec<&str> = any_of.iter().map(|s| s.as_str()).collect();
            Self::new(
                403,
                200,
                None,
                OAUTH,
                format!("(#200) Requires {} permission to manage the object", names.join(" or ")),
            )
        }
    }

    /// 100/33: the object does not exist, the caller cannot see it, or it has no such operation.
    pub fn unsupported(verb: Verb, id: &str) -> Self {
        Self::new(
            400,
            100,
            Some(33),
            METHOD,
            format!(
                "Unsupported {} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
                verb.as_str()
            ),
        )
    }

    /// 803: a path segment that is not a numeric id nor a known node name.
    pub fn unknown_alias(alias: &str) -> Self {
        Self::new(404, 803, None, OAUTH, format!("(#803) Some of the aliases you requested do not exist: {alias}"))
    }

    /// 100: a field or edge the node type does not have.
    pub fn nonexisting_field(field: &str, node_type: &str) -> Self {
        Self::new(
            400,
            100,
            None,
            OAUTH,
            format!("(#100) Tried accessing nonexisting field ({field}) on node type ({node_type})"),
        )
    }

    /// 100: a required parameter is absent.
    pub fn missing_param(name: &str) -> Self {
        Self::new(400, 100, None, OAUTH, format!("(#100) The parameter {name} is required"))
    }

    /// 100: a parameter has a value the endpoint does not take.
    pub fn invalid_param(detail: impl fmt::Display) -> Self {
        Self::new(400, 100, None, OAUTH, format!("(#100) {detail}"))
    }

    /// 200: the caller can see the object but may not do this to it.
    pub fn permission(detail: Option<&str>) -> Self {
        let message = match detail {
            Some(d) => format!("(#200) Permissions error: {d}"),
            None => "(#200) Permissions error".into(),
        };
        Self::new(403, 200, None, OAUTH, message)
    }

    /// 100 with HTTP 413: a request body over the size limit (docs/operations.md, Limits).
    pub fn body_too_large(limit: usize) -> Self {
        Self::new(413, 100, None, OAUTH, format!("(#100) The request body is larger than {limit} bytes"))
    }

    /// 100 with HTTP 408: a request body that did not arrive within the time limit.
    pub fn body_timeout(seconds: u64) -> Self {
        Self::new(408, 100, None, OAUTH, format!("(#100) The request body did not arrive within {seconds} seconds"))
    }

    /// 4: the app's call budget is spent (a configured rate limit, docs/rate-limits.md).
    pub fn app_rate_limit() -> Self {
        let mut e = Self::new(400, 4, None, OAUTH, "(#4) Application request limit reached".into());
        e.is_transient = true;
        e
    }

    /// 80007: the app's call budget on a WABA is spent (a configured rate limit).
    pub fn waba_rate_limit() -> Self {
        Self::whatsapp(
            400,
            80007,
            "Rate limit issues",
            "The WhatsApp Business Account has reached its rate limit.".into(),
        )
    }

    /// 130429: a phone number's message throughput is spent (a configured rate limit).
    pub fn throughput_limit() -> Self {
        Self::whatsapp(400, 130429, "Rate limit hit", "Cloud API message throughput has been reached.".into())
    }

    /// 15: a call that only an app access token may make.
    pub fn app_token_required() -> Self {
        Self::new(400, 15, None, OAUTH, "(#15) This method must be called with an app access_token.".into())
    }

    /// 2200: the callback did not pass the webhook verification handshake.
    pub fn callback_verification_failed(detail: &str) -> Self {
        Self::new(400, 2200, None, OAUTH, format!("(#2200) callback verification failed: {detail}"))
    }

    /// 3962: a scope name that is not a permission a system-user token can carry.
    pub fn invalid_scope() -> Self {
        Self::new(400, 3962, None, OAUTH, "Provided permission is not valid. Check your spelling and syntax.".into())
    }

    /// 100: debug_token called with a token of another app than the inspected one.
    pub fn app_mismatch() -> Self {
        Self::new(400, 100, None, OAUTH, "(#100) The App_id in the input_token did not match the Viewing App".into())
    }

    /// 101: an oauth call names an app that does not exist.
    pub fn invalid_client_id() -> Self {
        Self::new(400, 101, None, OAUTH, "Error validating application. Invalid application ID.".into())
    }

    /// 1: an oauth call with the wrong app secret.
    pub fn invalid_client_secret() -> Self {
        Self::new(400, 1, None, OAUTH, "Error validating client secret.".into())
    }

    /// 110: a user id that names no system user or person.
    pub fn invalid_user(id: &str) -> Self {
        Self::new(400, 110, None, OAUTH, format!("(#110) Invalid user id: {id}"))
    }

    /// 2: the store could not complete the operation; nothing was changed, retry.
    pub fn transient() -> Self {
        let mut e =
            Self::new(503, 2, None, OAUTH, "An unexpected error has occurred. Please retry your request later.".into());
        e.is_transient = true;
        e
    }

    /// 100/33 for a node kind and an id, as rendered for reads of objects that are not there.
    pub fn unknown_object(verb: Verb, id: GraphId) -> Self {
        Self::unsupported(verb, &id.to_string())
    }

    /// 133005: register with a PIN other than the one the number's first registration set.
    pub fn pin_mismatch() -> Self {
        Self::new(400, 133005, None, OAUTH, "(#133005) Two step verification PIN Mismatch".into())
    }

    /// 136025: verify_code with a code other than the one sent.
    pub fn code_mismatch() -> Self {
        Self::new(
            400,
            136025,
            None,
            OAUTH,
            "(#136025) Code couldn't be verified, You have entered the wrong code".into(),
        )
    }

    /// 100: a template that Meta's validation would refuse (name, language, category, components).
    pub fn template_invalid(detail: impl fmt::Display) -> Self {
        let mut e = Self::new(400, 100, None, OAUTH, "Invalid parameter".into());
        e.extra = Some(Box::new(Extra {
            user_title: Some("Invalid message template".into()),
            user_msg: Some(detail.to_string()),
            details: None,
        }));
        e
    }

    /// 100/2388024: a template with this name and language exists on the WABA.
    pub fn template_exists(name: &str, language: &str) -> Self {
        Self::template(
            2388024,
            "Content in This Language Already Exists",
            format!(
                "There is already {language} content for this template ({name}). You can create a new template and try again."
            ),
        )
    }

    /// 100/2388043: a component uses variables without example values.
    pub fn template_missing_example(component: &str) -> Self {
        Self::template(
            2388043,
            "Message template \"components\" param is missing expected field(s)",
            format!("component of type {component} is missing expected field(s) (example)"),
        )
    }

    /// 100/2388019: the WABA holds as many templates as it may.
    pub fn template_limit() -> Self {
        Self::template(
            2388019,
            "Message template limit exceeded",
            format!(
                "This WhatsApp Business Account already has {} message templates.",
                crate::template::MAX_TEMPLATES_PER_WABA
            ),
        )
    }

    /// 100: no template by that name or id on the WABA.
    pub fn template_not_found(what: &str) -> Self {
        Self::new(400, 100, None, OAUTH, format!("(#100) Message template \"{what}\" not found"))
    }

    /// 133010: the phone number is not registered for the Cloud API.
    pub fn not_registered() -> Self {
        Self::whatsapp(400, 133010, "Account not registered", "The phone number is not registered on the WhatsApp Business Platform. Register it with POST /{phone-number-id}/register".into())
    }

    /// 131009: a message parameter has a value the API does not take.
    pub fn message_invalid(details: impl fmt::Display) -> Self {
        Self::whatsapp(400, 131009, "Parameter value is not valid", details.to_string())
    }

    /// 100: a message lacks a required parameter (`text['body']`, `to`, …).
    pub fn message_missing(param: &str) -> Self {
        Self::new(400, 100, None, OAUTH, format!("(#100) The parameter {param} is required."))
    }

    /// 132001: no APPROVED template by that name in that language.
    pub fn template_unusable(name: &str, language: &str) -> Self {
        Self::whatsapp(
            404,
            132001,
            "Template name does not exist in the translation",
            format!("template name ({name}) does not exist in {language}"),
        )
    }

    /// 132015: the template is paused for low quality.
    pub fn template_paused(name: &str) -> Self {
        Self::whatsapp(400, 132015, "Template is Paused", format!("Template {name} is paused due to low quality."))
    }

    /// 132016: the template is disabled.
    pub fn template_disabled(name: &str) -> Self {
        Self::whatsapp(400, 132016, "Template is Disabled", format!("Template {name} has been disabled."))
    }

    /// 132000: the message gives another number of parameters than the template uses.
    pub fn template_param_mismatch(part: &str, expected: usize, given: usize) -> Self {
        Self::whatsapp(
            400,
            132000,
            "Number of parameters does not match the expected number of params",
            format!(
                "{part}: number of localizable_params ({given}) does not match the expected number of params ({expected})"
            ),
        )
    }

    /// 132012: a parameter does not fit the template's format.
    pub fn template_param_format(details: impl fmt::Display) -> Self {
        Self::whatsapp(
            400,
            132012,
            "Parameter format does not match format in the created template",
            details.to_string(),
        )
    }

    /// One example of every constructor, for the error catalogue in `docs/errors.md`.
    pub fn catalogue() -> Vec<(&'static str, GraphError)> {
        vec![
            ("missing_token", Self::missing_token()),
            ("token_unparseable", Self::token_unparseable()),
            ("token_invalid", Self::token_invalid()),
            ("token_revoked", Self::token_revoked()),
            ("token_expired", Self::token_expired("{date}", "{now}")),
            ("proof_missing", Self::proof_missing()),
            ("proof_invalid", Self::proof_invalid()),
            ("missing_scope (WhatsApp)", Self::missing_scope(&[Scope::WHATSAPP_BUSINESS_MANAGEMENT])),
            ("missing_scope (Business)", Self::missing_scope(&[Scope::BUSINESS_MANAGEMENT])),
            ("unsupported", Self::unsupported(Verb::Get, "{id}")),
            ("unknown_alias", Self::unknown_alias("{alias}")),
            ("nonexisting_field", Self::nonexisting_field("{field}", "{type}")),
            ("missing_param", Self::missing_param("{name}")),
            ("invalid_param", Self::invalid_param("{detail}")),
            ("body_too_large", Self::body_too_large(2_097_152)),
            ("body_timeout", Self::body_timeout(30)),
            ("app_token_required", Self::app_token_required()),
            ("callback_verification_failed", Self::callback_verification_failed("{detail}")),
            ("app_rate_limit", Self::app_rate_limit()),
            ("waba_rate_limit", Self::waba_rate_limit()),
            ("throughput_limit", Self::throughput_limit()),
            ("permission", Self::permission(None)),
            ("invalid_scope", Self::invalid_scope()),
            ("app_mismatch", Self::app_mismatch()),
            ("invalid_client_id", Self::invalid_client_id()),
            ("invalid_client_secret", Self::invalid_client_secret()),
            ("invalid_user", Self::invalid_user("{id}")),
            ("transient", Self::transient()),
            ("pin_mismatch", Self::pin_mismatch()),
            ("template_invalid", Self::template_invalid("{detail}")),
            ("template_exists", Self::template_exists("{name}", "{language}")),
            ("template_limit", Self::template_limit()),
            ("template_not_found", Self::template_not_found("{name}")),
            ("not_registered", Self::not_registered()),
            ("message_invalid", Self::message_invalid("{details}")),
            ("message_missing", Self::message_missing("{param}")),
            ("template_missing_example", Self::template_missing_example("{component}")),
            ("template_unusable", Self::template_unusable("{name}", "{language}")),
            ("template_paused", Self::template_paused("{name}")),
            ("template_disabled", Self::template_disabled("{name}")),
            ("template_param_mismatch", Self::template_param_mismatch("{part}", 1, 2)),
            ("template_param_format", Self::template_param_format("{details}")),
            ("code_mismatch", Self::code_mismatch()),
        ]
    }
}

/// The error catalogue as a Markdown table, for `docs/errors.md`.
pub fn errors_markdown() -> String {
    let mut out = String::from("| constructor | code | subcode | type | HTTP | message |\n|---|---|---|---|---|---|\n");
    for (name, e) in GraphError::catalogue() {
        let subcode = e.subcode.map(|s| s.to_string()).unwrap_or_else(|| "—".into());
        let mut message = e.message.clone();
        let extra = e.extra.as_deref().cloned().unwrap_or_default();
        if let Some(title) = extra.user_title {
            message.push_str(&format!(" — error_user_title: {title}"));
        }
        if let Some(msg) = extra.user_msg {
            message.push_str(&format!(" — error_user_msg: {msg}"));
        }
        if let Some(details) = extra.details {
            message.push_str(&format!(" — error_data.details: {details}"));
        }
        out.push_str(&format!(
            "| `{name}` | {} | {subcode} | {} | {} | {} |\n",
            e.code,
            e.kind,
            e.status,
            message.replace('|', "\\|")
        ));
    }
    out
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {}", self.message, self.code)?;
        if let Some(s) = self.subcode {
            write!(f, ", subcode {s}")?;
        }
        write!(f, ")")
    }
}

impl std::error::Error for GraphError {}

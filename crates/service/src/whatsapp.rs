//! The WhatsApp assets behind a WABA: subscribed apps, phone numbers, message templates and
//! messages. Every write authorizes against the rules table first.

use model::rules::{self, Operation, WabaAccess};
use model::{GraphError, GraphId, PhoneNumber, SubscribedApp, Verb};

use crate::webhooks::events;
use crate::{Acting, Service};

const TEMPLATE_STATUS: &str = "message_template_status_update";

/// The verification code `request_code` "sends". wabagate sends no SMS; this fixed, documented
/// code is what `verify_code` accepts.
pub const VERIFICATION_CODE: &str = "123456";

/// Authorizes `op` on the WABA an asset (phone number, template) belongs to. An asset of a WABA
/// the caller cannot see does not exist for it: the refusal names the asset, not the WABA.
fn authorize_asset<'w>(
    world: &'w model::World,
    acting: &Acting,
    verb: Verb,
    op: Operation,
    waba: GraphId,
    asset: GraphId,
) -> Result<WabaAccess<'w>, GraphError> {
    rules::authorize_waba(world, &acting.caller, verb, op, waba)
        .map_err(|e| if e.code == 100 && e.subcode == Some(33) { GraphError::unknown_object(verb, asset) } else { e })
}

/// A WABA's subscribed app as the audit log shows it (without its verify token).
fn subscribed_app_json(s: &SubscribedApp) -> serde_json::Value {
    serde_json::json!({"app": s.app.to_string(), "override_callback_uri": s.override_callback_uri})
}

impl Service {
    /// The phone number a path names, and the caller's right to `op` on its WABA.
    pub fn phone_access<'w>(
        world: &'w model::World,
        acting: &Acting,
        verb: Verb,
        op: Operation,
        phone: GraphId,
    ) -> Result<(PhoneNumber, WabaAccess<'w>), GraphError> {
        let p = world.phone_number(phone).ok_or_else(|| GraphError::unknown_object(verb, phone))?;
        let access = authorize_asset(world, acting, verb, op, p.waba, phone)?;
        Ok((p.clone(), access))
    }

    /// `POST /{waba}/subscribed_apps`: subscribes the caller's app to the WABA's webhooks; an
    /// override callback must pass the verification handshake first, as the app's own does.
    pub async fn subscribe_app(
        &self,
        acting: &Acting,
        waba: GraphId,
        app: GraphId,
        override_callback_uri: Option<String>,
        verify_token: Option<String>,
    ) -> Result<(), GraphError> {
        if let Some(uri) = &override_callback_uri {
            if !(uri.starts_with("https://") || uri.starts_with("http://")) {
                return Err(GraphError::invalid_param("Param override_callback_uri must be a URL"));
            }
            if verify_token.as_deref().is_none_or(str::is_empty) {
                return Err(GraphError::missing_param("verify_token"));
            }
            // The handshake goes out only for a caller allowed to subscribe.
            rules::authorize_waba(&self.world(), &acting.caller, Verb::Post, Operation::ManageSubscribedApps, waba)?;
            let deny_private = self.settings.webhooks.deny_private;
            crate::webhooks::verify_callback(uri, verify_token.as_deref().unwrap_or_default(), deny_private).await?;
        }
        self.write(|tx| {
            let access =
                rules::authorize_waba(tx.world(), &acting.caller, Verb::Post, Operation::ManageSubscribedApps, waba)?;
            let before = tx.world().subscribed_apps_of(waba).find(|s| s.app == app).map(subscribed_app_json);
            let next = SubscribedApp { waba, app, override_callback_uri, verify_token, created_time: tx.now() };
            let after = subscribed_app_json(&next);
            if before.as_ref() != Some(&after) {
                tx.audit(acting, acting.principal().business, "subscribed_app.add", waba, "waba", before, Some(after));
            }
            tx.subscribe_app(&access, next)
        })
        .await
    }

    /// `DELETE /{waba}/subscribed_apps`: unsubscribes the caller's app, or with `app_id` another
    /// app (docs/webhooks.md). Removing another app's subscription is for users of the business
    /// that owns the WABA holding MANAGE there (an admin does by default); an app that is not
    /// subscribed has nothing to remove.
    pub async fn unsubscribe_app(
        &self,
        acting: &Acting,
        waba: GraphId,
        caller_app: GraphId,
        app: Option<GraphId>,
    ) -> Result<(), GraphError> {
        let app = app.unwrap_or(caller_app);
        self.write(|tx| {
            let world = tx.world();
            let mut access =
                rules::authorize_waba(world, &acting.caller, Verb::Delete, Operation::ManageSubscribedApps, waba)?;
            if app != caller_app {
                access =
                    rules::authorize_waba(world, &acting.caller, Verb::Delete, Operation::RemoveAppSubscriptions, waba)?;
                if world.waba(waba).is_none_or(|w| w.owner != acting.principal().business) {
                    return Err(GraphError::permission(Some(&format!(
                        "only the business that owns WhatsApp Business Account {waba} can remove another app's subscription"
                    ))));
                }
            }
            let Some(before) = world.subscribed_apps_of(waba).find(|s| s.app == app).map(subscribed_app_json) else {
                return Ok(());
            };
            let owner = world.waba(waba).map(|w| w.owner);
            let mut businesses = vec![acting.principal().business];
            // An app removed by the WABA's owner: its own business's log says so too.
            businesses.extend(world.app(app).map(|a| a.business).filter(|b| !businesses.contains(b)));
            businesses.extend(owner.filter(|b| !businesses.contains(b)));
            for business in businesses {
                tx.audit(acting, business, "subscribed_app.remove", waba, "waba", Some(before.clone()), None);
            }
            tx.unsubscribe_app(&access, app)
        })
        .await
    }

    /// `POST /{phone}/register`: registers the number for the Cloud API with a two-step PIN. The
    /// first registration sets the PIN; later ones must give the same PIN.
    pub async fn register_phone(&self, acting: &Acting, phone: GraphId, pin: &str) -> Result<(), GraphError> {
        if pin.len() != 6 || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(GraphError::invalid_param("Param pin must be a 6-digit number"));
        }
        // Argon2 is slow on purpose: the PIN is checked and hashed before the write, which only
        // re-checks that the stored hash is still the one checked against.
        for _ in 0..3 {
            let stored = {
                let world = self.world();
                Self::phone_access(&world, acting, Verb::Post, Operation::ManagePhone, phone)?.0.pin_hash
            };
            let (given, checked) = (pin.to_string(), stored.clone());
            let (matches, new_hash) = tokio::task::spawn_blocking(move || match &checked {
                Some(h) if !crate::secrets::verify_pin(&given, h.expose()) => (false, None),
                Some(h) if !crate::secrets::is_legacy_pin_hash(h.expose()) => (true, None),
                _ => (true, Some(crate::secrets::hash_pin(&given))),
            })
            .await
            .map_err(|_| GraphError::transient())?;
            let done = self
                .write(|tx| {
                    let (mut p, access) =
                        Self::phone_access(tx.world(), acting, Verb::Post, Operation::ManagePhone, phone)?;
                    if p.pin_hash != stored {
                        return Ok(false);
                    }
                    if !matches {
                        return Err(GraphError::pin_mismatch());
                    }
                    if let Some(h) = new_hash {
                        p.pin_hash = Some(h);
                    }
                    p.status = "CONNECTED".into();
                    p.last_onboarded_time = Some(tx.now());
                    tx.put_phone_number(&access, p)?;
                    Ok(true)
                })
                .await?;
            if done {
                return Ok(());
            }
        }
        Err(GraphError::transient())
    }

    /// `POST /{phone}/deregister`: the number stops working with the Cloud API until registered again.
    pub async fn deregister_phone(&self, acting: &Acting, phone: GraphId) -> Result<(), GraphError> {
        self.write(|tx| {
            let (mut p, access) = Self::phone_access(tx.world(), acting, Verb::Post, Operation::ManagePhone, phone)?;
            p.status = "DISCONNECTED".into();
            tx.put_phone_number(&access, p)
        })
        .await
    }

    /// `POST /{phone}/request_code`: "sends" [`VERIFICATION_CODE`] by SMS or voice.
    pub async fn request_code(&self, acting: &Acting, phone: GraphId, method: &str) -> Result<(), GraphError> {
        if method != "SMS" && method != "VOICE" {
            return Err(GraphError::invalid_param("Param code_method must be one of {SMS, VOICE}"));
        }
        self.write(|tx| {
            let (mut p, access) = Self::phone_access(tx.world(), acting, Verb::Post, Operation::ManagePhone, phone)?;
            p.pending_code = Some(VERIFICATION_CODE.to_string());
            if p.code_verification_status != "VERIFIED" {
                p.code_verification_status = "NOT_VERIFIED".into();
            }
            tx.put_phone_number(&access, p)
        })
        .await
    }

    /// `POST /{phone}/verify_code`: checks the code from request_code.
    pub async fn verify_code(&self, acting: &Acting, phone: GraphId, code: &str) -> Result<(), GraphError> {
        self.write(|tx| {
            let (mut p, access) = Self::phone_access(tx.world(), acting, Verb::Post, Operation::ManagePhone, phone)?;
            if p.pending_code.as_deref() != Some(code.trim()) {
                return Err(GraphError::code_mismatch());
            }
            p.pending_code = None;
            p.code_verification_status = "VERIFIED".into();
            tx.put_phone_number(&access, p)
        })
        .await
    }
}

/// A template to create: `POST /{waba}/message_templates`.
pub struct NewTemplate {
    pub name: String,
    pub language: String,
    pub category: String,
    pub components: serde_json::Value,
    pub parameter_format: Option<String>,
}

/// What `DELETE /{waba}/message_templates` names.
pub enum TemplateSelector {
    /// Every language of the name.
    Name(String),
    /// One template, by id (and name, if given, which must match).
    Id(GraphId, Option<String>),
    Ids(Vec<GraphId>),
}

/// An accepted message.
pub struct Sent {
    pub id: String,
    pub input: String,
    pub wa_id: String,
    pub is_template: bool,
}

fn check_category(category: &str) -> Result<String, GraphError> {
    let upper = category.trim().to_ascii_uppercase();
    if template::CATEGORIES.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(GraphError::template_invalid(format!(
            "Param category must be one of {{{}}}",
            template::CATEGORIES.join(", ")
        )))
    }
}

use model::template::{self, ParameterFormat};
use model::{Message, MessageTemplate};

impl Service {
    /// The status and review time a new or edited template starts with.
    fn review_start(&self, now: i64) -> (String, Option<i64>) {
        match self.settings().template_review {
            crate::TemplateReview::Immediate => ("APPROVED".into(), None),
            crate::TemplateReview::After(secs) => ("PENDING".into(), Some(now + secs)),
            crate::TemplateReview::Manual => ("PENDING".into(), None),
        }
    }

    /// `POST /{waba}/message_templates`.
    pub async fn create_template(
        &self,
        acting: &Acting,
        waba: GraphId,
        t: NewTemplate,
    ) -> Result<MessageTemplate, GraphError> {
        self.write(|tx| {
            let access =
                rules::authorize_waba(tx.world(), &acting.caller, Verb::Post, Operation::ManageTemplates, waba)?;
            template::check_name(&t.name)?;
            if !template::is_language(&t.language) {
                return Err(GraphError::template_invalid(format!(
                    "Param language: {} is not a language Meta supports for templates",
                    t.language
                )));
            }
            let category = check_category(&t.category)?;
            let format = match t.parameter_format.as_deref() {
                None | Some("") => ParameterFormat::Positional,
                Some(f) => ParameterFormat::parse(f).ok_or_else(|| {
                    GraphError::template_invalid("Param parameter_format must be one of {POSITIONAL, NAMED}")
                })?,
            };
            let (components, _) = template::check_components(&t.components, &category, format)?;
            let world = tx.world();
            if world.templates_of(waba).any(|x| x.name == t.name && x.language == t.language) {
                return Err(GraphError::template_exists(&t.name, &t.language));
            }
            if world.templates_of(waba).count() >= template::MAX_TEMPLATES_PER_WABA {
                return Err(GraphError::template_limit());
            }
            let (status, review_at) = self.review_start(tx.now());
            let created = MessageTemplate {
                id: tx.new_id(),
                waba,
                name: t.name,
                language: t.language,
                category,
                status,
                parameter_format: format.as_str().into(),
                components,
                created_time: tx.now(),
                review_at,
                rejected_reason: None,
                previous_category: None,
            };
            tx.put_template(&access, created.clone())?;
            if created.status == "APPROVED" {
                tx.notify_waba(waba, TEMPLATE_STATUS, events::template_status(&created));
            }
            Ok(created)
        })
        .await
    }

    /// The template a path names, and the caller's right to `op` on its WABA.
    pub fn template_access<'w>(
        world: &'w model::World,
        acting: &Acting,
        verb: Verb,
        op: Operation,
        id: GraphId,
    ) -> Result<(MessageTemplate, WabaAccess<'w>), GraphError> {
        let t = world.template(id).ok_or_else(|| GraphError::unknown_object(verb, id))?;
        let access = authorize_asset(world, acting, verb, op, t.waba, id)?;
        Ok((t.clone(), access))
    }

    /// `POST /{template}`: edits components or category; the template goes back to review.
    pub async fn edit_template(
        &self,
        acting: &Acting,
        id: GraphId,
        components: Option<serde_json::Value>,
        category: Option<String>,
    ) -> Result<(), GraphError> {
        if components.is_none() && category.is_none() {
            return Err(GraphError::missing_param("components"));
        }
        self.write(|tx| {
            let (mut t, access) =
                Self::template_access(tx.world(), acting, Verb::Post, Operation::ManageTemplates, id)?;
            if let Some(c) = category {
                let c = check_category(&c)?;
                if c != t.category {
                    t.previous_category = Some(std::mem::replace(&mut t.category, c));
                }
            }
            let format = ParameterFormat::parse(&t.parameter_format).unwrap_or(ParameterFormat::Positional);
            let components = components.unwrap_or_else(|| t.components.clone());
            t.components = template::check_components(&components, &t.category, format)?.0;
            let (status, review_at) = self.review_start(tx.now());
            t.status = status;
            t.review_at = review_at;
            t.rejected_reason = None;
            if t.status == "APPROVED" {
                tx.notify_waba(t.waba, TEMPLATE_STATUS, events::template_status(&t));
            }
            tx.put_template(&access, t)
        })
        .await
    }

    /// `DELETE /{waba}/message_templates`.
    pub async fn delete_templates(
        &self,
        acting: &Acting,
        waba: GraphId,
        selector: TemplateSelector,
    ) -> Result<(), GraphError> {
        self.write(|tx| {
            let access =
                rules::authorize_waba(tx.world(), &acting.caller, Verb::Delete, Operation::ManageTemplates, waba)?;
            let world = tx.world();
            let doomed: Vec<GraphId> = match &selector {
                TemplateSelector::Name(name) => {
                    world.templates_of(waba).filter(|t| &t.name == name).map(|t| t.id).collect()
                }
                TemplateSelector::Id(id, name) => world
                    .templates_of(waba)
                    .filter(|t| t.id == *id && name.as_ref().is_none_or(|n| *n == t.name))
                    .map(|t| t.id)
                    .collect(),
                TemplateSelector::Ids(ids) => {
                    let found: Vec<GraphId> =
                        world.templates_of(waba).filter(|t| ids.contains(&t.id)).map(|t| t.id).collect();
                    if found.len() != ids.len() { Vec::new() } else { found }
                }
            };
            if doomed.is_empty() {
                let what = match &selector {
                    TemplateSelector::Name(n) => n.clone(),
                    TemplateSelector::Id(id, _) => id.to_string(),
                    TemplateSelector::Ids(ids) => ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "),
                };
                return Err(GraphError::template_not_found(&what));
            }
            for id in doomed {
                tx.delete_template(&access, id)?;
            }
            Ok(())
        })
        .await
    }

    /// Approves or rejects a PENDING template by hand (manual review). Needs an admin of the
    /// business that owns the template's WABA, with whatsapp_business_management and MANAGE_TEMPLATES
    /// there (the rules table's ReviewTemplates).
    pub async fn review_template(
        &self,
        acting: &Acting,
        id: GraphId,
        approve: bool,
        reason: Option<String>,
    ) -> Result<(), GraphError> {
        self.write(|tx| {
            let world = tx.world();
            let (t, access) = Self::template_access(world, acting, Verb::Post, Operation::ReviewTemplates, id)?;
            let owner =
                world.waba(t.waba).map(|w| w.owner).ok_or_else(|| GraphError::unknown_object(Verb::Post, id))?;
            if acting.principal().business != owner {
                return Err(GraphError::permission(Some(
                    "templates are reviewed by an admin of the business that owns the WABA",
                )));
            }
            if t.status != "PENDING" {
                return Err(GraphError::invalid_param(format!("Template {id} is {}, not PENDING", t.status)));
            }
            let mut t = t.clone();
            t.status = if approve { "APPROVED" } else { "REJECTED" }.into();
            t.rejected_reason = (!approve).then(|| reason.unwrap_or_else(|| "INVALID_FORMAT".into()));
            t.review_at = None;
            tx.audit(
                acting,
                owner,
                "template.review",
                t.id,
                "template",
                Some(serde_json::json!({"name": t.name, "language": t.language, "status": "PENDING"})),
                Some(serde_json::json!({
                    "name": t.name, "language": t.language, "status": t.status, "rejected_reason": t.rejected_reason,
                })),
            );
            tx.notify_waba(t.waba, TEMPLATE_STATUS, events::template_status(&t));
            tx.put_template(&access, t)
        })
        .await
    }

    /// Approves the templates whose automatic review is due. Returns how many.
    pub async fn review_due_templates(&self) -> Result<usize, GraphError> {
        let now = self.now();
        if self.world().templates_due(now).next().is_none() {
            return Ok(0);
        }
        self.write(|tx| {
            let due: Vec<GraphId> = tx.world().templates_due(now).map(|t| t.id).collect();
            let mut n = 0;
            for id in due {
                if let Some(t) = tx.approve_due_template(id) {
                    tx.notify_waba(t.waba, TEMPLATE_STATUS, events::template_status(&t));
                    n += 1;
                }
            }
            Ok(n)
        })
        .await
    }

    /// Queues a sent message's statuses: `sent` now, `delivered` and `read` on the configured
    /// clock. A message read no later than it is delivered is read at once, with no `delivered`
    /// status, as Meta does.
    fn notify_statuses(&self, tx: &mut crate::Tx<'_>, phone: &PhoneNumber, m: &Message) {
        let w = &self.settings().webhooks;
        let now = tx.now_ms();
        let at = |d: std::time::Duration| now + d.as_millis() as i64;
        let read = w.read_after.map(at);
        let delivered = w.delivered_after.map(at).filter(|d| read.is_none_or(|r| *d < r));
        let owner = tx.world().waba(m.waba).map_or(m.waba, |w| w.owner);
        let user_id = events::bsuid(owner, &m.to);
        let status =
            |name: &str, due: i64, priced: bool| events::message_status(phone, m, &user_id, name, due / 1000, priced);
        tx.notify_waba_at(m.waba, "messages", status("sent", now, true), now);
        if let Some(due) = delivered {
            tx.notify_waba_at(m.waba, "messages", status("delivered", due, true), due);
        }
        if let Some(due) = read {
            tx.notify_waba_at(m.waba, "messages", status("read", due, delivered.is_none()), due);
        }
    }

    /// Simulates a customer's text message to a phone number: a `messages` webhook for the apps
    /// subscribed to its WABA (`POST /_wabagate/phone_numbers/{id}/inbound`). Needs the right to
    /// send from the number. Answers the message's id.
    pub async fn simulate_inbound(
        &self,
        acting: &Acting,
        phone: GraphId,
        from: &str,
        name: Option<&str>,
        text: &str,
    ) -> Result<String, GraphError> {
        let wa_id = crate::messages::recipient(from).ok_or_else(|| {
            GraphError::invalid_param(format!("Param from: '{from}' is not a valid WhatsApp phone number"))
        })?;
        if text.trim().is_empty() || text.chars().count() > crate::messages::MAX_TEXT_CHARS {
            return Err(GraphError::invalid_param(format!(
                "Param text must be 1 to {} characters long",
                crate::messages::MAX_TEXT_CHARS
            )));
        }
        let name = name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or("Customer");
        self.write(|tx| {
            let (p, _) = Self::phone_access(tx.world(), acting, Verb::Post, Operation::SendMessages, phone)?;
            let id = crate::messages::new_wamid(&wa_id);
            let owner = tx.world().waba(p.waba).map_or(p.waba, |w| w.owner);
            let user_id = events::bsuid(owner, &wa_id);
            let value = events::inbound_text(&p, &wa_id, &user_id, name, &id, text, tx.now());
            tx.notify_waba(p.waba, "messages", value);
            Ok(id)
        })
        .await
    }

    /// `POST /{phone}/messages`: checks and records a message; its statuses follow as webhooks.
    pub async fn send_message(
        &self,
        acting: &Acting,
        phone: GraphId,
        body: serde_json::Value,
    ) -> Result<Sent, GraphError> {
        self.write(|tx| {
            let (p, access) = Self::phone_access(tx.world(), acting, Verb::Post, Operation::SendMessages, phone)?;
            if p.status != "CONNECTED" {
                return Err(GraphError::not_registered());
            }
            let outgoing = crate::messages::check(tx.world(), p.waba, &body)?;
            let id = crate::messages::new_wamid(&outgoing.wa_id);
            let message = Message {
                id: id.clone(),
                phone_number: phone,
                waba: p.waba,
                to: outgoing.wa_id.clone(),
                kind: outgoing.kind.clone(),
                body: outgoing.stored,
                sent_by: acting.principal().id,
                created_time: tx.now(),
            };
            self.notify_statuses(tx, &p, &message);
            tx.record_message(&access, message)?;
            Ok(Sent { id, input: outgoing.input, wa_id: outgoing.wa_id, is_template: outgoing.kind == "template" })
        })
        .await
    }
}

impl Service {
    /// `POST /{waba}`: renames the WABA (the one setting wabagate keeps).
    pub async fn update_waba(&self, acting: &Acting, waba: GraphId, name: Option<String>) -> Result<(), GraphError> {
        let name = match name.map(|n| n.trim().to_string()) {
            Some(n) if n.is_empty() || n.chars().count() > 100 => {
                return Err(GraphError::invalid_param("Param name must be 1 to 100 characters"));
            }
            other => other,
        };
        self.write(|tx| {
            let access = rules::authorize_waba(tx.world(), &acting.caller, Verb::Post, Operation::UpdateWaba, waba)?;
            if let Some(name) = name {
                let mut w = tx.world().waba(waba).expect("authorized WABA exists").clone();
                if w.name != name {
                    let (before, after) = (serde_json::json!({"name": w.name}), serde_json::json!({"name": name}));
                    // In the caller's log, and in the owner's when a partner renames a client's WABA.
                    let mut businesses = vec![acting.principal().business];
                    businesses.extend(Some(w.owner).filter(|o| !businesses.contains(o)));
                    for business in businesses {
                        tx.audit(
                            acting,
                            business,
                            "waba.rename",
                            waba,
                            "waba",
                            Some(before.clone()),
                            Some(after.clone()),
                        );
                    }
                }
                w.name = name;
                tx.put_waba(&access, w)?;
            }
            Ok(())
        })
        .await
    }
}

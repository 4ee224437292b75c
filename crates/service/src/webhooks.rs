//! Apps' webhook subscriptions (`/{app}/subscriptions`), created only after Meta's verification
//! handshake: a GET to the callback with `hub.mode=subscribe`, `hub.verify_token` and
//! `hub.challenge`, which must answer 2xx with the challenge as its body.

use std::time::Duration;

use model::rules::{self, Operation, Pending};
use model::{AppSubscription, Change, GraphError, GraphId, Secret, SubscribedApp, Verb};
use rand::Rng;

use crate::{Acting, Authenticated, Service, Tx, outbound};

/// The one object type wabagate sends events for.
pub const WABA_OBJECT: &str = "whatsapp_business_account";

/// The fields of `whatsapp_business_account` an app can subscribe to, as Meta lists them.
pub const WABA_FIELDS: &[&str] = &[
    "account_alerts",
    "account_review_update",
    "account_update",
    "business_capability_update",
    "history",
    "message_echoes",
    "message_template_components_update",
    "message_template_quality_update",
    "message_template_status_update",
    "messages",
    "partner_solutions",
    "payment_configuration_update",
    "phone_number_name_update",
    "phone_number_quality_update",
    "security",
    "smb_app_state_sync",
    "smb_message_echoes",
    "template_category_update",
    "user_preferences",
];

/// How long the callback has to answer the verification request.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn check_object(object: &str) -> Result<(), GraphError> {
    if object == WABA_OBJECT {
        Ok(())
    } else {
        Err(GraphError::invalid_param(format!(
            "Param object must be {WABA_OBJECT}; wabagate sends no events for {object}"
        )))
    }
}

fn check_fields(fields: &[String]) -> Result<(), GraphError> {
    match fields.iter().find(|f| !WABA_FIELDS.contains(&f.as_str())) {
        Some(f) => Err(GraphError::invalid_param(format!(
            "Param fields must be fields of {WABA_OBJECT} ({}); {f} is not",
            WABA_FIELDS.join(", ")
        ))),
        None => Ok(()),
    }
}

/// How much of a wrong answer the 2200 error quotes, in characters, before an ellipsis: no more
/// than Meta quotes (its message shows `received="\u003C!DOCTYPE html>\u003Cht..."`, 18).
pub const QUOTED_CHARS: usize = 18;

/// What the 2200 error says it received: the answer's first [`QUOTED_CHARS`] characters and
/// `...` if there were more, or none of it when the callback is on a loopback, link-local or
/// private address, where it can only be an internal page.
fn received(body: &str, private: bool) -> String {
    if private {
        return "received=\"\" (the answer of a callback on a loopback, link-local or private address is not quoted)"
            .into();
    }
    let mut chars = body.chars();
    let quoted: String = chars.by_ref().take(QUOTED_CHARS).collect();
    let more = if chars.next().is_some() { "..." } else { "" };
    format!("received=\"{quoted}{more}\"")
}

/// Asks the callback to echo a challenge, as Meta does before it accepts a subscription. With
/// `deny_private`, a callback on a private address is refused (crate::outbound).
pub async fn verify_callback(callback_url: &str, verify_token: &str, deny_private: bool) -> Result<(), GraphError> {
    let url = reqwest::Url::parse(callback_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| GraphError::invalid_param("Param callback_url must be an http or https URL"))?;
    outbound::check_url(&url, deny_private).map_err(|r| GraphError::callback_verification_failed(&r.0))?;
    let challenge = rand::rng().random_range(100_000_000u64..10_000_000_000).to_string();
    let client = outbound::client(HANDSHAKE_TIMEOUT, deny_private)
        .map_err(|e| GraphError::callback_verification_failed(&e.to_string()))?;
    let query = [("hub.mode", "subscribe"), ("hub.challenge", challenge.as_str()), ("hub.verify_token", verify_token)];
    let response = client.get(url).query(&query).send().await.map_err(|e| {
        let why = outbound::refusal(&e).unwrap_or_else(|| "Couldn't connect to server".into());
        GraphError::callback_verification_failed(&why)
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(GraphError::callback_verification_failed(&format!("Received HTTP code: {}", status.as_u16())));
    }
    let private = response.remote_addr().is_none_or(|a| outbound::is_private(a.ip()));
    let body = response.text().await.unwrap_or_default();
    if body.trim() != challenge {
        return Err(GraphError::callback_verification_failed(&format!(
            "The URL couldn't be validated. Response does not match challenge, expected value=\"{challenge}\", {}",
            received(&body, private)
        )));
    }
    Ok(())
}

/// An app's subscription as the audit log shows it (without its verify token).
fn subscription_json(s: &AppSubscription) -> serde_json::Value {
    serde_json::json!({"object": s.object, "callback_url": s.callback_url, "fields": s.fields})
}

/// Audits a change an app made with its app token, in the log of the app's business.
fn audit_app(
    tx: &mut Tx<'_>,
    app: GraphId,
    action: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) {
    let Some(a) = tx.world().app(app) else { return };
    let actor = model::Actor { user: app, name: a.name.clone(), token: None, via: crate::Via::Api.as_str().into() };
    let business = a.business;
    tx.audit_by(actor, business, action, app, "app", before, after);
}

impl Service {
    /// `POST /{app}/subscriptions`: after the handshake, subscribes the app to `fields` of the
    /// object (added to those it has), at this callback and verify token. Only the app itself,
    /// calling with its app token, may (code 15 for anyone else).
    pub async fn subscribe_webhooks(
        &self,
        caller: &Authenticated,
        app: GraphId,
        object: &str,
        callback_url: &str,
        verify_token: &str,
        fields: Vec<String>,
    ) -> Result<(), GraphError> {
        let op = Operation::ManageWebhookSubscriptions;
        // The handshake goes out only for the app itself.
        rules::authorize_app(&self.world(), caller.app_caller(), Verb::Post, op, app)?;
        check_object(object)?;
        check_fields(&fields)?;
        if verify_token.is_empty() {
            return Err(GraphError::missing_param("verify_token"));
        }
        verify_callback(callback_url, verify_token, self.settings.webhooks.deny_private).await?;
        self.write(|tx| {
            let access = rules::authorize_app(tx.world(), caller.app_caller(), Verb::Post, op, app)?;
            let mut all: Vec<String> = tx
                .world()
                .app_subscriptions_of(app)
                .find(|s| s.object == object)
                .map(|s| s.fields.clone())
                .unwrap_or_default();
            for f in fields {
                if !all.contains(&f) {
                    all.push(f);
                }
            }
            all.sort();
            let before = tx.world().app_subscriptions_of(app).find(|s| s.object == object).map(subscription_json);
            let next = AppSubscription {
                app,
                object: object.to_string(),
                callback_url: callback_url.to_string(),
                verify_token: Secret::new(verify_token),
                fields: all,
                created_time: tx.now(),
            };
            audit_app(tx, app, "webhooks.subscribe", before, Some(subscription_json(&next)));
            tx.put_app_subscription(&access, next)
        })
        .await
    }

    /// `DELETE /{app}/subscriptions`: removes these fields of an object (all of them without
    /// `fields`), or every subscription of the app without `object`. Only the app itself, calling
    /// with its app token, may (code 15 for anyone else).
    pub async fn unsubscribe_webhooks(
        &self,
        caller: &Authenticated,
        app: GraphId,
        object: Option<&str>,
        fields: Option<Vec<String>>,
    ) -> Result<(), GraphError> {
        let op = Operation::ManageWebhookSubscriptions;
        rules::authorize_app(&self.world(), caller.app_caller(), Verb::Delete, op, app)?;
        if let Some(o) = object {
            check_object(o)?;
        }
        self.write(|tx| {
            let access = rules::authorize_app(tx.world(), caller.app_caller(), Verb::Delete, op, app)?;
            let subscriptions: Vec<AppSubscription> = tx
                .world()
                .app_subscriptions_of(app)
                .filter(|s| object.is_none_or(|o| s.object == o))
                .cloned()
                .collect();
            for s in subscriptions {
                let kept: Vec<String> = match &fields {
                    Some(removed) => s.fields.iter().filter(|f| !removed.contains(f)).cloned().collect(),
                    None => Vec::new(),
                };
                let before = Some(subscription_json(&s));
                if kept.is_empty() {
                    audit_app(tx, app, "webhooks.unsubscribe", before, None);
                    tx.remove_app_subscription(&access, s.object)?;
                } else {
                    let next = AppSubscription { fields: kept, ..s };
                    audit_app(tx, app, "webhooks.unsubscribe", before, Some(subscription_json(&next)));
                    tx.put_app_subscription(&access, next)?;
                }
            }
            Ok(())
        })
        .await
    }
}

/// How webhooks are delivered, and when sent messages are delivered and read
/// (docs/webhooks.md). The retry schedule is [`crate::deliveries::retry_delay`].
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// How long a delivery is retried before it is given up.
    pub retry_for: Duration,
    /// How long the callback has to answer a delivery.
    pub timeout: Duration,
    /// When a sent message's `delivered` status follows its `sent` one; `None` never.
    pub delivered_after: Option<Duration>,
    /// When a sent message's `read` status follows its `sent` one; `None` never.
    pub read_after: Option<Duration>,
    /// Refuse callbacks on loopback, link-local and private addresses (crate::outbound).
    pub deny_private: bool,
}

/// What a delivery's lease adds to the webhook timeout: time to look the callback up and record
/// the attempt in the store.
pub const LEASE_MARGIN: Duration = Duration::from_secs(30);

impl WebhookSettings {
    /// How long a delivery stays leased to the server sending it. An attempt is cut off at the
    /// webhook timeout, so the lease is the timeout plus [`LEASE_MARGIN`]: it never runs out while
    /// its attempt can still be under way. The one place the lease is decided (docs/webhooks.md).
    pub fn lease(&self) -> Duration {
        self.timeout.saturating_add(LEASE_MARGIN)
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retry_for: Duration::from_secs(7 * 24 * 3600),
            timeout: Duration::from_secs(10),
            delivered_after: Some(Duration::from_secs(1)),
            read_after: Some(Duration::from_secs(2)),
            deny_private: false,
        }
    }
}

/// A duration as the flags take it: `500ms`, `30s`, `10m`, `2h`, `7d`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("'{s}' is not a duration such as 500ms, 30s, 10m, 2h or 7d"))?;
    let ms = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => None,
    };
    ms.map(Duration::from_millis).ok_or_else(|| format!("'{s}' is not a duration such as 500ms, 30s, 10m, 2h or 7d"))
}

/// A delay that may be `never`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Delay(pub Option<Duration>);

impl Delay {
    /// `never`, or a duration ([`parse_duration`]).
    pub fn parse(s: &str) -> Result<Delay, String> {
        if s.trim() == "never" { Ok(Delay(None)) } else { parse_duration(s).map(|d| Delay(Some(d))) }
    }
}

/// A webhook body as Meta writes it: one entry, one change. Entries of `messages` carry no
/// `time` (their statuses and messages carry their own timestamps), as in Meta's examples.
pub fn envelope(entry: GraphId, time: i64, field: &str, value: &serde_json::Value) -> String {
    let changes = serde_json::json!([{"value": value, "field": field}]);
    let entry = if field == "messages" {
        serde_json::json!({"id": entry.to_string(), "changes": changes})
    } else {
        serde_json::json!({"id": entry.to_string(), "time": time, "changes": changes})
    };
    serde_json::json!({"object": WABA_OBJECT, "entry": [entry]}).to_string()
}

impl Tx<'_> {
    /// Whether the app's subscription to WABA events includes `field`.
    fn app_wants(&self, app: GraphId, field: &str) -> bool {
        self.world().app_subscriptions_of(app).any(|s| s.object == WABA_OBJECT && s.fields.iter().any(|f| f == field))
    }

    /// Queues a `field` event about a WABA for every app subscribed to the WABA
    /// (`/{waba}/subscribed_apps`) whose own subscription includes the field.
    pub(crate) fn notify_waba(&mut self, waba: GraphId, field: &str, value: serde_json::Value) {
        self.notify_waba_at(waba, field, value, self.now_ms());
    }

    /// [`Self::notify_waba`], for an event that happens at `due_ms` (a message read later).
    /// An app subscribed to the WABA whose business no longer reaches it gets nothing
    /// ([`rules::webhook_reach`]).
    pub(crate) fn notify_waba_at(&mut self, waba: GraphId, field: &str, value: serde_json::Value, due_ms: i64) {
        let apps: Vec<GraphId> = self.world().subscribed_apps_of(waba).map(|s| s.app).collect();
        for app in apps {
            if let Err(why) = rules::webhook_reach(self.world(), app, waba, &Pending::Nothing) {
                tracing::warn!(%app, %waba, field, why, "webhook event not queued: the app no longer reaches the WABA");
                continue;
            }
            if self.app_wants(app, field) {
                self.queue_event(app, waba, Some(waba), field, &value, due_ms);
            }
        }
    }

    /// Ends, in this write, the subscriptions to `waba` (`/{waba}/subscribed_apps`, override
    /// callbacks included) of the apps that will no longer reach it once `pending` is applied,
    /// each audited in the logs of the app's business and of the WABA's owner.
    pub(crate) fn end_lost_subscriptions(&mut self, acting: &Acting, waba: GraphId, pending: &Pending<'_>) {
        let world = self.world();
        let owner = world.waba(waba).map(|w| w.owner);
        let lost: Vec<(SubscribedApp, String)> = world
            .subscribed_apps_of(waba)
            .filter_map(|s| rules::webhook_reach(world, s.app, waba, pending).err().map(|why| (s.clone(), why)))
            .collect();
        for (s, why) in lost {
            let before = serde_json::json!({
                "app": s.app.to_string(),
                "override_callback_uri": s.override_callback_uri,
            });
            let after = serde_json::json!({"ended": why});
            let mut businesses: Vec<GraphId> = world.app(s.app).map(|a| a.business).into_iter().collect();
            businesses.extend(owner.filter(|o| !businesses.contains(o)));
            for business in businesses {
                self.audit(
                    acting,
                    business,
                    "subscribed_app.end",
                    waba,
                    "waba",
                    Some(before.clone()),
                    Some(after.clone()),
                );
            }
            self.change(Change::Unsubscribe { waba, app: s.app });
        }
    }

    /// Queues a `field` event for each of these businesses' apps whose subscription includes the
    /// field, with the business as the entry, whether or not the app is subscribed to a WABA:
    /// partner events reach a partner before it can subscribe to the WABA (docs/webhooks.md).
    pub(crate) fn notify_businesses(&mut self, businesses: &[GraphId], field: &str, value: serde_json::Value) {
        let mut seen = Vec::new();
        for &business in businesses {
            if seen.contains(&business) {
                continue;
            }
            seen.push(business);
            let apps: Vec<GraphId> = self.world().apps().filter(|a| a.business == business).map(|a| a.id).collect();
            for app in apps {
                if self.app_wants(app, field) {
                    self.queue_event(app, business, None, field, &value, self.now_ms());
                }
            }
        }
    }

    /// Queues a `field` event about `entry` for one app, if its subscription includes the field.
    pub(crate) fn notify_app(&mut self, app: GraphId, entry: GraphId, field: &str, value: serde_json::Value) {
        if self.app_wants(app, field) {
            self.queue_event(app, entry, None, field, &value, self.now_ms());
        }
    }

    fn queue_event(
        &mut self,
        app: GraphId,
        entry: GraphId,
        waba: Option<GraphId>,
        field: &str,
        value: &serde_json::Value,
        due_ms: i64,
    ) {
        let body = envelope(entry, due_ms.div_euclid(1000), field, value);
        self.change(Change::Event(Box::new(model::WebhookEvent {
            app,
            entry,
            waba,
            field: field.to_string(),
            body,
            due_ms,
        })));
    }
}

/// The `value`s of the events wabagate sends, as Meta writes them.
pub mod events {
    use model::{GraphId, Message, MessageTemplate, PhoneNumber, Solution};
    use serde_json::{Value, json};

    /// `message_template_status_update`: APPROVED (reason `NONE`) or REJECTED (with its reason).
    pub fn template_status(t: &MessageTemplate) -> Value {
        json!({
            "event": t.status,
            "message_template_id": t.id.0,
            "message_template_name": t.name,
            "message_template_language": t.language,
            "reason": t.rejected_reason.as_deref().unwrap_or("NONE"),
            "message_template_category": t.category,
        })
    }

    /// `account_update` for a WABA shared with a partner (`PARTNER_ADDED`) or no longer
    /// (`PARTNER_REMOVED`), or a partner's app the customer granted permissions
    /// (`PARTNER_APP_INSTALLED`, with `app`); through a solution, with its id and partners.
    pub fn partner(
        event: &str,
        waba: GraphId,
        owner: GraphId,
        app: Option<GraphId>,
        solution: Option<(&Solution, &[GraphId])>,
    ) -> Value {
        let mut info = json!({"waba_id": waba.to_string(), "owner_business_id": owner.to_string()});
        if let Some(app) = app {
            info["partner_app_id"] = json!(app.to_string());
        }
        if let Some((s, partners)) = solution {
            info["solution_id"] = json!(s.id.to_string());
            info["solution_partner_business_ids"] = json!(partners.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        }
        json!({"event": event, "waba_info": info})
    }

    /// `partner_solutions`: `SOLUTION_CREATED` for a new solution, else `SOLUTION_UPDATED`.
    pub fn solution(s: &Solution, created: bool) -> Value {
        let status = if s.status_for_pending_request == "PENDING_DEACTIVATION" {
            "PENDING_DEACTIVATION"
        } else {
            s.status.as_str()
        };
        json!({
            "event": if created { "SOLUTION_CREATED" } else { "SOLUTION_UPDATED" },
            "solution_id": s.id.to_string(),
            "solution_status": status,
        })
    }

    /// Calling codes and their countries, longest codes first where they share digits.
    const COUNTRIES: &[(&str, &str)] = &[
        ("234", "NG"),
        ("254", "KE"),
        ("971", "AE"),
        ("966", "SA"),
        ("351", "PT"),
        ("353", "IE"),
        ("1", "US"),
        ("7", "RU"),
        ("20", "EG"),
        ("27", "ZA"),
        ("31", "NL"),
        ("33", "FR"),
        ("34", "ES"),
        ("39", "IT"),
        ("41", "CH"),
        ("44", "GB"),
        ("49", "DE"),
        ("52", "MX"),
        ("54", "AR"),
        ("55", "BR"),
        ("57", "CO"),
        ("60", "MY"),
        ("61", "AU"),
        ("62", "ID"),
        ("63", "PH"),
        ("65", "SG"),
        ("81", "JP"),
        ("82", "KR"),
        ("86", "CN"),
        ("90", "TR"),
        ("91", "IN"),
        ("92", "PK"),
    ];

    /// The customer's business-scoped user id (`user_id`): the country of the number's calling
    /// code (`ZZ` if unknown), a dot, and 19 digits derived from the business and the number, so
    /// it is the same for one business every time and differs between businesses.
    pub fn bsuid(business: GraphId, wa_id: &str) -> String {
        use sha2::Digest;
        let country = COUNTRIES.iter().find(|(code, _)| wa_id.starts_with(code)).map_or("ZZ", |(_, c)| c);
        let digest = sha2::Sha256::digest(format!("{business}:{wa_id}").as_bytes());
        let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) % 9_000_000_000_000_000_000;
        format!("{country}.{}", n + 1_000_000_000_000_000_000)
    }

    fn metadata(phone: &PhoneNumber) -> Value {
        let digits: String = phone.display_phone_number.chars().filter(char::is_ascii_digit).collect();
        json!({"display_phone_number": digits, "phone_number_id": phone.id.to_string()})
    }

    /// `messages` with a status of a sent message: `sent`, `delivered` or `read`. The
    /// conversation and pricing come with `sent` and one of `delivered` and `read` (`priced`), as
    /// Meta sends them (v23.0).
    pub fn message_status(
        phone: &PhoneNumber,
        m: &Message,
        user_id: &str,
        status: &str,
        at: i64,
        priced: bool,
    ) -> Value {
        let category = if m.kind == "template" { "utility" } else { "service" };
        let mut entry = json!({
            "id": m.id,
            "status": status,
            "timestamp": at.to_string(),
            "recipient_id": m.to,
            "recipient_user_id": user_id,
        });
        if priced {
            let mut conversation = json!({"id": conversation_id(&m.id), "origin": {"type": category}});
            if status == "sent" {
                conversation["expiration_timestamp"] = json!((m.created_time + 24 * 3600).to_string());
            }
            entry["conversation"] = conversation;
            entry["pricing"] =
                json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": category});
        }
        json!({
            "messaging_product": "whatsapp",
            "metadata": metadata(phone),
            "contacts": [{"wa_id": m.to, "user_id": user_id}],
            "statuses": [entry],
        })
    }

    /// A conversation id derived from the message's: the same for all its statuses.
    fn conversation_id(wamid: &str) -> String {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(wamid.as_bytes())[..16])
    }

    /// `messages` with a text message from a customer.
    pub fn inbound_text(
        phone: &PhoneNumber,
        from: &str,
        user_id: &str,
        name: &str,
        id: &str,
        text: &str,
        at: i64,
    ) -> Value {
        json!({
            "messaging_product": "whatsapp",
            "metadata": metadata(phone),
            "contacts": [{"profile": {"name": name}, "wa_id": from, "user_id": user_id}],
            "messages": [{
                "from": from,
                "from_user_id": user_id,
                "id": id,
                "timestamp": at.to_string(),
                "type": "text",
                "text": {"body": text},
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_outlasts_the_webhook_timeout() {
        let lease = |secs| WebhookSettings { timeout: Duration::from_secs(secs), ..Default::default() }.lease();
        assert_eq!(lease(10), Duration::from_secs(40));
        assert_eq!(lease(120), Duration::from_secs(150));
        assert_eq!(WebhookSettings { timeout: Duration::MAX, ..Default::default() }.lease(), Duration::MAX);
    }

    #[test]
    fn a_wrong_answer_is_quoted_as_meta_quotes_it_and_not_at_all_from_a_private_address() {
        let page = "<!DOCTYPE html><html><head><title>Internal</title></head></html>";
        assert_eq!(received(page, false), "received=\"<!DOCTYPE html><ht...\"");
        assert_eq!(received("short", false), "received=\"short\"");
        assert_eq!(received("exactly eighteen!!", false), "received=\"exactly eighteen!!\"");
        // Characters, not bytes: a multi-byte answer is cut between characters.
        assert_eq!(received(&"é".repeat(40), false), format!("received=\"{}...\"", "é".repeat(18)));
        let private = received(page, true);
        assert!(!private.contains("DOCTYPE") && private.starts_with("received=\"\" ("), "{private}");
    }

    #[test]
    fn durations_read_as_the_flags_document_them() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("7 days").is_err() && parse_duration("").is_err() && parse_duration("-1s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert_eq!(Delay::parse("never"), Ok(Delay(None)));
        assert_eq!(Delay::parse("2s"), Ok(Delay(Some(Duration::from_secs(2)))));
    }

    #[test]
    fn business_scoped_user_ids_are_stable_per_business_and_name_the_country() {
        let a = events::bsuid(GraphId(1), "16505551234");
        assert_eq!(a, events::bsuid(GraphId(1), "16505551234"));
        assert_ne!(a, events::bsuid(GraphId(2), "16505551234"));
        assert!(a.starts_with("US.") && a.len() == 22, "{a}");
        assert!(events::bsuid(GraphId(1), "447700900123").starts_with("GB."));
        assert!(events::bsuid(GraphId(1), "2348031234567").starts_with("NG."));
        assert!(events::bsuid(GraphId(1), "3801234567").starts_with("ZZ."));
    }

    #[test]
    fn message_entries_carry_no_time_and_others_do() {
        let value = serde_json::json!({"event": "APPROVED"});
        let body: serde_json::Value =
            serde_json::from_str(&envelope(GraphId(7), 1_700_000_000, "account_update", &value)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "7", "time": 1_700_000_000,
                "changes": [{"value": {"event": "APPROVED"}, "field": "account_update"}]}]})
        );
        let body: serde_json::Value = serde_json::from_str(&envelope(GraphId(7), 1, "messages", &value)).unwrap();
        assert!(body["entry"][0].get("time").is_none());
    }
}

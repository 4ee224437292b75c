//! Apps' webhook subscriptions (`/{app}/subscriptions`), created only after Meta's verification
//! handshake: a GET to the callback with `hub.mode=subscribe`, `hub.verify_token` and
//! `hub.challenge`, which must answer 2xx with the challenge as its body.

use std::time::Duration;

use model::{AppSubscription, Change, GraphError, GraphId, Secret};
use rand::Rng;

use crate::Service;

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

/// Asks the callback to echo a challenge, as Meta does before it accepts a subscription.
pub async fn verify_callback(callback_url: &str, verify_token: &str) -> Result<(), GraphError> {
    let url = reqwest::Url::parse(callback_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| GraphError::invalid_param("Param callback_url must be an http or https URL"))?;
    let challenge = rand::rng().random_range(100_000_000u64..10_000_000_000).to_string();
    let client = reqwest::Client::builder()
        .timeout(HANDSHAKE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| GraphError::callback_verification_failed(&e.to_string()))?;
    let query = [("hub.mode", "subscribe"), ("hub.challenge", challenge.as_str()), ("hub.verify_token", verify_token)];
    let response = client
        .get(url)
        .query(&query)
        .send()
        .await
        .map_err(|_| GraphError::callback_verification_failed("Couldn't connect to server"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(GraphError::callback_verification_failed(&format!("Received HTTP code: {}", status.as_u16())));
    }
    let body = response.text().await.unwrap_or_default();
    if body.trim() != challenge {
        let received: String = body.chars().take(100).collect();
        return Err(GraphError::callback_verification_failed(&format!(
            "The URL couldn't be validated. Response does not match challenge, expected value=\"{challenge}\", received=\"{received}\""
        )));
    }
    Ok(())
}

impl Service {
    /// `POST /{app}/subscriptions`: after the handshake, subscribes the app to `fields` of the
    /// object (added to those it has), at this callback and verify token.
    pub async fn subscribe_webhooks(
        &self,
        app: GraphId,
        object: &str,
        callback_url: &str,
        verify_token: &str,
        fields: Vec<String>,
    ) -> Result<(), GraphError> {
        check_object(object)?;
        check_fields(&fields)?;
        if verify_token.is_empty() {
            return Err(GraphError::missing_param("verify_token"));
        }
        verify_callback(callback_url, verify_token).await?;
        self.write(|tx| {
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
            tx.change(Change::AppSubscribe(Box::new(AppSubscription {
                app,
                object: object.to_string(),
                callback_url: callback_url.to_string(),
                verify_token: Secret::new(verify_token),
                fields: all,
                created_time: tx.now(),
            })));
            Ok(())
        })
        .await
    }

    /// `DELETE /{app}/subscriptions`: removes these fields of an object (all of them without
    /// `fields`), or every subscription of the app without `object`.
    pub async fn unsubscribe_webhooks(
        &self,
        app: GraphId,
        object: Option<&str>,
        fields: Option<Vec<String>>,
    ) -> Result<(), GraphError> {
        if let Some(o) = object {
            check_object(o)?;
        }
        self.write(|tx| {
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
                if kept.is_empty() {
                    tx.change(Change::AppUnsubscribe { app, object: s.object });
                } else {
                    tx.change(Change::AppSubscribe(Box::new(AppSubscription { fields: kept, ..s })));
                }
            }
            Ok(())
        })
        .await
    }
}

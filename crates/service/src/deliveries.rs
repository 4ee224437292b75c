//! The webhook delivery queue. Events are queued in the store in the same transaction as the
//! change that caused them; this worker sends them: each app's events about one entry in order,
//! signed with the app secret, retried with exponential backoff until they are answered 2xx or
//! the retry time runs out. A delivery is leased while it is being sent, so a server that stops
//! mid-send leaves it to be sent again: delivery is at least once, and each delivery carries its
//! id (`X-Wabagate-Delivery`) for receivers to de-duplicate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use model::rules;
use model::{DeliveryAttempt, DeliveryStatus, GraphError, GraphId, WebhookDelivery};
use sha2::Sha256;
use tokio::task::JoinSet;

use crate::Service;
use crate::webhooks::WABA_OBJECT;

/// The most deliveries in flight at once.
const IN_FLIGHT: usize = 32;

/// How often a server on a shared store looks for deliveries other servers queued.
const SHARED_POLL: Duration = Duration::from_secs(1);

/// The longest the worker sleeps without looking at the queue (the test clock can jump).
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Finished deliveries are kept this long for the console, then forgotten.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The wait before the next attempt after `attempts` failed ones: 1 s, doubling each time, at
/// most 10 minutes. The one retry schedule (docs/webhooks.md).
pub fn retry_delay(attempts: u32) -> Duration {
    const FIRST: Duration = Duration::from_secs(1);
    const MOST: Duration = Duration::from_secs(600);
    FIRST.saturating_mul(1u32 << attempts.saturating_sub(1).min(20)).min(MOST)
}

/// The signature headers' values: `sha1=…` and `sha256=…`, HMACs of the raw body keyed with the
/// app secret.
pub fn signatures(secret: &str, body: &[u8]) -> (String, String) {
    let mut sha1 = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    sha1.update(body);
    let mut sha256 = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    sha256.update(body);
    (
        format!("sha1={}", hex::encode(sha1.finalize().into_bytes())),
        format!("sha256={}", hex::encode(sha256.finalize().into_bytes())),
    )
}

/// Where a delivery goes and how it is signed, looked up when it is sent: a callback fixed
/// meanwhile gets the retries.
struct Target {
    url: String,
    secret: String,
}

/// What sending met.
enum Sent {
    Answered(u16),
    Unanswered(String),
}

/// Why a delivery is not sent.
enum NoTarget {
    /// The app no longer reaches the WABA the event is about, or is no longer subscribed to it:
    /// the event is none of its business any more.
    Dropped(String),
    /// The app is gone or has no callback left.
    Nowhere(String),
}

impl Service {
    /// The callback of a delivery: the WABA's override for the app if it set one, else the app's
    /// subscription; why not, if the app is gone, no longer subscribed, or no longer reaches the
    /// WABA the event is about ([`rules::webhook_reach`], asked again at each attempt).
    fn target(&self, d: &WebhookDelivery) -> Result<Target, NoTarget> {
        let world = self.world();
        let app = world.app(d.event.app).ok_or_else(|| NoTarget::Nowhere("the app no longer exists".into()))?;
        let mut override_uri = None;
        if let Some(waba) = d.event.waba {
            rules::webhook_reach(&world, app.id, waba, &rules::Pending::Nothing)
                .map_err(|why| NoTarget::Dropped(format!("dropped: {why}")))?;
            let subscribed = world
                .subscribed_apps_of(waba)
                .find(|s| s.app == app.id)
                .ok_or_else(|| NoTarget::Dropped(format!("dropped: the app is no longer subscribed to WABA {waba}")))?;
            override_uri = subscribed.override_callback_uri.clone();
        }
        let url = match override_uri {
            Some(url) => url,
            None => world
                .app_subscriptions_of(app.id)
                .find(|s| s.object == WABA_OBJECT)
                .map(|s| s.callback_url.clone())
                .ok_or_else(|| NoTarget::Nowhere("the app has no webhook subscription".into()))?,
        };
        Ok(Target { url, secret: app.secret.expose().to_string() })
    }

    /// One attempt at a delivery, recorded in the store. Answers the delivery's id.
    async fn attempt(self: Arc<Self>, client: reqwest::Client, d: WebhookDelivery) -> u64 {
        let started = Instant::now();
        let target = self.target(&d);
        let deny_private = self.settings.webhooks.deny_private;
        let refused = target.as_ref().ok().and_then(|t| match reqwest::Url::parse(&t.url) {
            Ok(url) => crate::outbound::check_url(&url, deny_private).err().map(|r| r.0),
            Err(_) => Some(format!("{} is not a URL", t.url)),
        });
        let sent = match &target {
            Ok(_) if refused.is_some() => Sent::Unanswered(refused.unwrap_or_default()),
            Ok(t) => {
                let (sha1, sha256) = signatures(&t.secret, d.event.body.as_bytes());
                let request = client
                    .post(&t.url)
                    .header("Content-Type", "application/json")
                    .header("User-Agent", "facebookexternalua")
                    .header("X-Hub-Signature", sha1)
                    .header("X-Hub-Signature-256", sha256)
                    .header("X-Wabagate-Delivery", d.id.to_string())
                    .body(d.event.body.clone());
                match request.send().await {
                    Ok(response) => Sent::Answered(response.status().as_u16()),
                    Err(e) if crate::outbound::refusal(&e).is_some() => {
                        Sent::Unanswered(crate::outbound::refusal(&e).unwrap_or_default())
                    }
                    Err(e) if e.is_timeout() => Sent::Unanswered("timed out".into()),
                    Err(e) if e.is_connect() => Sent::Unanswered("could not connect".into()),
                    Err(e) => Sent::Unanswered(e.to_string()),
                }
            }
            Err(NoTarget::Dropped(why) | NoTarget::Nowhere(why)) => Sent::Unanswered(why.clone()),
        };
        let now = self.clock.now_ms();
        let latency_ms = started.elapsed().as_millis() as i64;
        let gave_up = now - d.event.due_ms >= self.settings.webhooks.retry_for.as_millis() as i64;
        let (status, code, error) = match sent {
            Sent::Answered(code) if (200..300).contains(&code) => (DeliveryStatus::Delivered, Some(code), None),
            Sent::Answered(code) => (
                if gave_up { DeliveryStatus::Failed } else { DeliveryStatus::Pending },
                Some(code),
                Some(format!("answered HTTP {code}")),
            ),
            // Not the app's business any more: never sent, never retried.
            Sent::Unanswered(why) if matches!(target, Err(NoTarget::Dropped(_))) => {
                (DeliveryStatus::Dropped, None, Some(why))
            }
            // No callback to send to: nothing to retry.
            Sent::Unanswered(why) if target.is_err() => (DeliveryStatus::Failed, None, Some(why)),
            Sent::Unanswered(why) => {
                (if gave_up { DeliveryStatus::Failed } else { DeliveryStatus::Pending }, None, Some(why))
            }
        };
        metrics::counter!("wabagate_webhook_attempts_total", "outcome" => match status {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Pending => "retried",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dropped => "dropped",
        })
        .increment(1);
        let attempts = d.attempts + 1;
        let next_attempt_ms = now + retry_delay(attempts).as_millis() as i64;
        match status {
            DeliveryStatus::Delivered => {
                tracing::debug!(delivery = d.id, app = %d.event.app, field = %d.event.field, latency_ms, "webhook delivered")
            }
            DeliveryStatus::Pending => tracing::info!(
                delivery = d.id, app = %d.event.app, attempts, error = error.as_deref().unwrap_or(""),
                "webhook delivery failed; it will be retried"
            ),
            DeliveryStatus::Failed => tracing::warn!(
                delivery = d.id, app = %d.event.app, attempts, error = error.as_deref().unwrap_or(""),
                "webhook delivery given up"
            ),
            DeliveryStatus::Dropped => tracing::info!(
                delivery = d.id, app = %d.event.app, error = error.as_deref().unwrap_or(""),
                "webhook delivery dropped"
            ),
        }
        let attempt = DeliveryAttempt {
            id: d.id,
            status,
            next_attempt_ms,
            code,
            error,
            latency_ms,
            callback_url: target.ok().map(|t| t.url),
            at_ms: now,
        };
        if let Err(e) = self.read("recording a webhook attempt", move |s| s.record_attempt(&attempt)).await {
            // The lease runs out and the delivery is sent again.
            tracing::warn!(delivery = d.id, error = %e, "could not record a webhook attempt");
        }
        d.id
    }

    /// Sends queued webhook deliveries until `stop` turns true.
    pub async fn run_deliveries(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let client = match crate::outbound::client(self.settings.webhooks.timeout, self.settings.webhooks.deny_private)
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the webhook client; no webhook will be sent");
                return;
            }
        };
        if let Err(e) = self.read("releasing webhook leases", |s| s.release_all_leases()).await {
            tracing::warn!(error = %e, "could not release webhook leases; they run out after the webhook timeout");
        }
        let mut in_flight = JoinSet::new();
        // The deliveries being sent, to hand back if the server stops in the middle.
        let mut sending = std::collections::HashSet::new();
        let mut last_prune = None::<Instant>;
        let lease_ms = self.settings.webhooks.lease().as_millis().min(i64::MAX as u128 / 2) as i64;
        loop {
            // Attempts that ended: their deliveries may be claimed (and sent) again.
            while let Some(done) = in_flight.try_join_next() {
                if let Ok(id) = done {
                    sending.remove(&id);
                }
            }
            let room = IN_FLIGHT - in_flight.len();
            let mut claimed_all = false;
            if room > 0 {
                let now = self.clock.now_ms();
                let until = now.saturating_add(lease_ms);
                let claimed = self.read("claiming webhook deliveries", move |s| s.claim_deliveries(now, until, room));
                if let Ok(batch) = claimed.await {
                    claimed_all = batch.len() == room;
                    // Each attempt asks whether the app still reaches the WABA; on a shared store
                    // memory first takes in what other servers committed (an unshare among it),
                    // so a replica behind the log does not send what it should drop. If the log
                    // cannot be read, the check runs on memory as it is.
                    if !batch.is_empty() && self.store.is_shared() && self.catch_up().await.is_err() {
                        tracing::warn!("cannot catch up with the change log before sending webhooks");
                    }
                    for d in batch {
                        // Still being sent here (the clock moved past its lease): the claim only
                        // renewed the lease; one attempt at a time.
                        if !sending.insert(d.id) {
                            continue;
                        }
                        in_flight.spawn(self.clone().attempt(client.clone(), d));
                    }
                }
            }
            if last_prune.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                last_prune = Some(Instant::now());
                let before = self.clock.now_ms() - RETENTION.as_millis() as i64;
                let _ = self.read("forgetting old webhook deliveries", move |s| s.prune_deliveries(before)).await;
            }
            let sleep = if claimed_all { Duration::ZERO } else { self.until_next_delivery().await };
            tokio::select! {
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Ok(id) = done {
                        sending.remove(&id);
                    }
                }
                _ = self.deliveries_queued.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = stop.changed() => break,
            }
        }
        // Attempts cut short are sent again: by this server when it starts again, or by another.
        in_flight.shutdown().await;
        if !sending.is_empty() {
            let ids: Vec<u64> = sending.into_iter().collect();
            if let Err(e) = self.read("handing back webhook deliveries", move |s| s.release_leases(&ids)).await {
                tracing::warn!(error = %e, "could not hand back the deliveries in flight; their leases run out after the webhook timeout");
            }
        }
    }

    /// How long the worker may sleep before a delivery falls due.
    async fn until_next_delivery(&self) -> Duration {
        let cap = if self.store.is_shared() { SHARED_POLL } else { MAX_SLEEP };
        match self.read("reading the webhook queue", |s| s.next_delivery_due()).await {
            Ok(Some(due)) => {
                let wait = (due - self.clock.now_ms()).max(10) as u64;
                Duration::from_millis(wait).min(cap)
            }
            _ => cap,
        }
    }

    /// An app's recent webhook deliveries, newest first.
    pub async fn deliveries(
        &self,
        app: GraphId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<WebhookDelivery>, GraphError> {
        self.read("reading webhook deliveries", move |s| s.deliveries(app, before, limit)).await
    }

    /// Queues an app's delivery again, as a new delivery sent at once, for the app itself or an
    /// admin of its business in the console (code 15 for anyone else). `None` if the app has no
    /// such delivery.
    pub async fn redeliver(
        &self,
        caller: rules::AppCaller<'_>,
        app: GraphId,
        id: u64,
    ) -> Result<Option<u64>, GraphError> {
        let op = rules::Operation::RedeliverWebhooks;
        rules::authorize_app(&self.world(), caller, model::Verb::Post, op, app)?;
        let now = self.clock.now_ms();
        let found = self.read("reading a webhook delivery", move |s| s.delivery(id)).await?;
        if found.is_none_or(|d| d.event.app != app) {
            return Ok(None);
        }
        let new = self.read("queueing a webhook again", move |s| s.redeliver(id, now)).await?;
        self.deliveries_queued.notify_one();
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_one_second_to_ten_minutes() {
        let delays: Vec<u64> = (1..=12).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(retry_delay(u32::MAX), Duration::from_secs(600));
    }

    #[test]
    fn signatures_are_hmacs_of_the_raw_body() {
        // Values from `printf '%s' '{"a":1}' | openssl dgst -sha256 -hmac secret` (and -sha1).
        let (sha1, sha256) = signatures("secret", br#"{"a":1}"#);
        assert_eq!(sha256, "sha256=aa9e2e3575f5d7098b6caccd790888c36d5fdb63342a73bada2d6a51747a8494");
        assert_eq!(sha1, "sha1=f8446672f033e4b2beafc5ca3a71eafcd2cafb6e");
    }
}

//! Lines of credit: a partner shares its credit line with a client and attaches it to the
//! client's WABA, which the WABA's `primary_funding_id` then names.

use model::rules::{self, Operation};
use model::{AllocationConfig, GraphError, GraphId, Verb};
use serde_json::json;

use crate::{Acting, Service};

/// The currencies `waba_currency` takes.
pub const CREDIT_CURRENCIES: [&str; 6] = ["AUD", "EUR", "GBP", "IDR", "INR", "USD"];

impl Service {
    /// `POST /{credit}/whatsapp_credit_sharing_and_attach`.
    pub async fn share_credit(
        &self,
        acting: &Acting,
        credit: GraphId,
        waba: GraphId,
        currency: &str,
    ) -> Result<AllocationConfig, GraphError> {
        if !CREDIT_CURRENCIES.contains(&currency) {
            return Err(GraphError::invalid_param(format!(
                "Param waba_currency must be one of {{{}}}",
                CREDIT_CURRENCIES.join(", ")
            )));
        }
        self.write(|tx| {
            let world = tx.world();
            let line = world.credit_line(credit).ok_or_else(|| GraphError::unknown_object(Verb::Post, credit))?;
            let line_access = rules::authorize_business(
                world,
                &acting.caller,
                Verb::Post,
                Operation::ManageCreditLines,
                line.business,
                credit,
                None,
            )?;
            let waba_access = rules::authorize_waba(world, &acting.caller, Verb::Post, Operation::ShareCredit, waba)?;
            let w = world.waba(waba).expect("authorized WABA exists");
            if w.primary_funding_id.is_some() {
                return Err(GraphError::invalid_param(format!(
                    "WhatsApp Business Account {waba} already has a line of credit attached; it cannot be changed"
                )));
            }
            let allocation = AllocationConfig {
                id: tx.new_id(),
                credit_line: credit,
                waba,
                receiving_business: w.owner,
                receiving_credential: tx.new_id(),
                currency: currency.to_string(),
                request_status: "ACTIVE".into(),
                created_time: tx.now(),
            };
            let mut funded = w.clone();
            funded.primary_funding_id = Some(allocation.receiving_credential);
            tx.audit(
                acting,
                line.business,
                "credit.share",
                allocation.id,
                "allocation_config",
                None,
                Some(json!({"credit_line": credit, "waba": waba, "currency": currency})),
            );
            tx.attach_credit(&line_access, &waba_access, funded, allocation.clone())?;
            Ok(allocation)
        })
        .await
    }

    /// `DELETE /{allocation-config}`: revokes the shared credit; the WABA is no longer funded by it.
    pub async fn revoke_credit(&self, acting: &Acting, allocation: GraphId) -> Result<(), GraphError> {
        self.write(|tx| {
            let world = tx.world();
            let a = world.allocation(allocation).ok_or_else(|| GraphError::unknown_object(Verb::Delete, allocation))?;
            let line =
                world.credit_line(a.credit_line).ok_or_else(|| GraphError::unknown_object(Verb::Delete, allocation))?;
            let access = rules::authorize_business(
                world,
                &acting.caller,
                Verb::Delete,
                Operation::ManageCreditLines,
                line.business,
                allocation,
                None,
            )?;
            if a.request_status == "DELETED" {
                return Ok(());
            }
            let mut revoked = a.clone();
            revoked.request_status = "DELETED".into();
            let unfunded =
                world.waba(a.waba).filter(|w| w.primary_funding_id == Some(a.receiving_credential)).map(|w| {
                    let mut unfunded = w.clone();
                    unfunded.primary_funding_id = None;
                    unfunded
                });
            tx.audit(
                acting,
                line.business,
                "credit.revoke",
                allocation,
                "allocation_config",
                Some(json!({"credit_line": a.credit_line, "waba": a.waba, "request_status": a.request_status})),
                Some(json!({"request_status": "DELETED"})),
            );
            tx.revoke_credit(&access, revoked, unfunded)
        })
        .await
    }
}

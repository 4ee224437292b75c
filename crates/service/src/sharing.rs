//! Sharing a WABA with a partner business, as Embedded Signup or Business Settings (WhatsApp
//! Accounts → Partners) does at Meta. Not a Graph endpoint: wabagate's own, for the admins of the
//! business that owns the WABA (docs/webhooks.md). Each share and unshare sends the partner's
//! apps an `account_update` (`PARTNER_ADDED`, `PARTNER_REMOVED`).

use model::{Change, GraphError, GraphId, Role, Share, ShareLevel, Verb};
use serde_json::json;

use crate::webhooks::events;
use crate::{Acting, Service, Tx};

/// Refuses anyone but an admin of the business that owns the WABA; a WABA the caller cannot
/// see does not exist for it.
fn owner_admin(tx: &Tx<'_>, acting: &Acting, verb: Verb, waba: GraphId) -> Result<GraphId, GraphError> {
    let owner = tx.world().waba(waba).map(|w| w.owner).ok_or_else(|| GraphError::unknown_object(verb, waba))?;
    if acting.principal().business != owner {
        return Err(GraphError::unknown_object(verb, waba));
    }
    if acting.principal().role != Role::Admin {
        return Err(GraphError::permission(Some("a WABA is shared by an admin of the business that owns it")));
    }
    Ok(owner)
}

impl Service {
    /// Shares a WABA with a partner business at a level; sharing it again changes the level.
    pub async fn share_waba(
        &self,
        acting: &Acting,
        waba: GraphId,
        partner: GraphId,
        level: ShareLevel,
    ) -> Result<(), GraphError> {
        self.write(|tx| {
            let owner = owner_admin(tx, acting, Verb::Post, waba)?;
            if tx.world().business(partner).is_none() || partner == owner {
                return Err(GraphError::invalid_param("Param partner must be the id of another business"));
            }
            let before = tx.world().share(waba, partner).map(|s| s.level);
            if before == Some(level) {
                return Ok(());
            }
            let share = Share { waba, partner, level, created_time: tx.now() };
            tx.audit(
                acting,
                owner,
                "waba.share",
                waba,
                "waba",
                before.map(|l| json!({"partner": partner.to_string(), "level": l.as_str()})),
                Some(json!({"partner": partner.to_string(), "level": level.as_str()})),
            );
            tx.change(Change::Share(share));
            if before.is_none() {
                tx.notify_businesses(&[partner], "account_update", events::partner("PARTNER_ADDED", waba, owner, None));
            }
            Ok(())
        })
        .await
    }

    /// Ends a share: the partner's users lose their tasks on the WABA.
    pub async fn unshare_waba(&self, acting: &Acting, waba: GraphId, partner: GraphId) -> Result<(), GraphError> {
        self.write(|tx| {
            let owner = owner_admin(tx, acting, Verb::Delete, waba)?;
            let Some(share) = tx.world().share(waba, partner) else {
                return Err(GraphError::invalid_param(format!("WABA {waba} is not shared with business {partner}")));
            };
            tx.audit(
                acting,
                owner,
                "waba.unshare",
                waba,
                "waba",
                Some(json!({"partner": partner.to_string(), "level": share.level.as_str()})),
                None,
            );
            tx.change(Change::Unshare { waba, partner });
            tx.notify_businesses(&[partner], "account_update", events::partner("PARTNER_REMOVED", waba, owner, None));
            Ok(())
        })
        .await
    }
}

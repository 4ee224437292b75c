//! Sharing a WABA with a partner business, as Embedded Signup or Business Settings (WhatsApp
//! Accounts → Partners) does at Meta. Not a Graph endpoint: wabagate's own, for the admins of the
//! business that owns the WABA (docs/webhooks.md). Each share and unshare sends the partner's
//! apps an `account_update` (`PARTNER_ADDED`, `PARTNER_REMOVED`).

use model::rules::{self, BusinessAccess, Operation, Pending};
use model::{GraphError, GraphId, Role, Scope, Share, ShareLevel, Verb};
use serde_json::json;

use crate::webhooks::events;
use crate::{Acting, Service, Tx};

/// Refuses anyone but an admin of the business that owns the WABA, with `business_management`
/// if a token; a WABA the caller cannot see does not exist for it. Answers the rules' proof for
/// the owner business ([`Operation::ShareWabas`]).
fn owner_admin<'w>(tx: &Tx<'w>, acting: &Acting, verb: Verb, waba: GraphId) -> Result<BusinessAccess<'w>, GraphError> {
    let owner = tx.world().waba(waba).map(|w| w.owner).ok_or_else(|| GraphError::unknown_object(verb, waba))?;
    if acting.principal().business != owner {
        return Err(GraphError::unknown_object(verb, waba));
    }
    if acting.principal().role != Role::Admin {
        return Err(GraphError::permission(Some("a WABA is shared by an admin of the business that owns it")));
    }
    if acting.caller.scopes.is_some_and(|s| !s.contains(Scope::BUSINESS_MANAGEMENT)) {
        return Err(GraphError::missing_scope(&[Scope::BUSINESS_MANAGEMENT]));
    }
    rules::authorize_business(tx.world(), &acting.caller, verb, Operation::ShareWabas, owner, waba, None)
}

impl Service {
    /// Shares a WABA with a partner business at a level; sharing it again changes the level.
    /// With `app`, one of the partner's apps, the customer also grants that app permissions on
    /// the WABA, as Embedded Signup does: `PARTNER_APP_INSTALLED` follows `PARTNER_ADDED`.
    pub async fn share_waba(
        &self,
        acting: &Acting,
        waba: GraphId,
        partner: GraphId,
        level: ShareLevel,
        app: Option<GraphId>,
    ) -> Result<(), GraphError> {
        self.write(|tx| {
            let access = owner_admin(tx, acting, Verb::Post, waba)?;
            let owner = access.business();
            if tx.world().business(partner).is_none() || partner == owner {
                return Err(GraphError::invalid_param("Param partner must be the id of another business"));
            }
            if app.is_some_and(|a| tx.world().app(a).is_none_or(|a| a.business != partner)) {
                return Err(GraphError::invalid_param("Param app must be the id of an app of the partner business"));
            }
            let before = tx.world().share(waba, partner).map(|s| s.level);
            if before != Some(level) {
                let as_json = |l: ShareLevel| json!({"partner": partner.to_string(), "level": l.as_str()});
                tx.audit(acting, owner, "waba.share", waba, "waba", before.map(as_json), Some(as_json(level)));
                let created_time = tx.world().share(waba, partner).map_or(tx.now(), |s| s.created_time);
                tx.end_lost_subscriptions(acting, waba, &Pending::Share { waba, partner, level: Some(level) });
                tx.share_waba(&access, Share { waba, partner, level, created_time })?;
            }
            if before.is_none() {
                let added = events::partner("PARTNER_ADDED", waba, owner, None, None);
                tx.notify_businesses(&[partner], "account_update", added);
            }
            if let Some(app) = app {
                let installed = events::partner("PARTNER_APP_INSTALLED", waba, owner, Some(app), None);
                tx.notify_app(app, partner, "account_update", installed);
            }
            Ok(())
        })
        .await
    }

    /// Ends a share: the partner's users lose their tasks on the WABA, and its apps'
    /// subscriptions to the WABA end unless the partner still reaches it another way.
    pub async fn unshare_waba(&self, acting: &Acting, waba: GraphId, partner: GraphId) -> Result<(), GraphError> {
        self.write(|tx| {
            let access = owner_admin(tx, acting, Verb::Delete, waba)?;
            let owner = access.business();
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
            // The partner's apps stop receiving the WABA's webhooks in the same write.
            tx.end_lost_subscriptions(acting, waba, &Pending::Share { waba, partner, level: None });
            tx.unshare_waba(&access, waba, partner)?;
            let removed = events::partner("PARTNER_REMOVED", waba, owner, None, None);
            tx.notify_businesses(&[partner], "account_update", removed);
            Ok(())
        })
        .await
    }
}

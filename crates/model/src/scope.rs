//! Permissions (scopes) a system-user token can carry.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The scopes a system-user token may be minted with: the list of Meta's install-apps doc
/// (reference §2.4) plus the two WhatsApp scopes Meta names beside it. Anything else is
/// refused with error 3962, as at Meta.
pub const SCOPES: [&str; 37] = [
    "ads_management",
    "ads_read",
    "attribution_read",
    "business_management",
    "catalog_management",
    "commerce_account_manage_orders",
    "commerce_account_read_orders",
    "commerce_account_read_settings",
    "instagram_basic",
    "instagram_branded_content_ads_brand",
    "instagram_branded_content_brand",
    "instagram_content_publish",
    "instagram_manage_comments",
    "instagram_manage_insights",
    "instagram_manage_messages",
    "instagram_shopping_tag_products",
    "leads_retrieval",
    "page_events",
    "pages_manage_ads",
    "pages_manage_cta",
    "pages_manage_engagement",
    "pages_manage_instant_articles",
    "pages_manage_metadata",
    "pages_manage_posts",
    "pages_messaging",
    "pages_read_engagement",
    "pages_read_user_content",
    "pages_show_list",
    "private_computation_access",
    "publish_video",
    "read_audience_network_insights",
    "read_insights",
    "read_page_mailboxes",
    "whatsapp_business_management",
    "whatsapp_business_messaging",
    "whatsapp_business_manage_events",
    "business_messaging",
];

/// One scope, as an index into [`SCOPES`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Scope(u8);

impl Scope {
    pub const BUSINESS_MANAGEMENT: Scope = Scope::named("business_management");
    pub const CATALOG_MANAGEMENT: Scope = Scope::named("catalog_management");
    pub const WHATSAPP_BUSINESS_MANAGEMENT: Scope = Scope::named("whatsapp_business_management");
    pub const WHATSAPP_BUSINESS_MESSAGING: Scope = Scope::named("whatsapp_business_messaging");

    const fn named(name: &str) -> Scope {
        let mut i = 0;
        while i < SCOPES.len() {
            if const_eq(SCOPES[i], name) {
                return Scope(i as u8);
            }
            i += 1;
        }
        panic!("not a scope")
    }

    pub fn parse(s: &str) -> Option<Scope> {
        SCOPES.iter().position(|n| *n == s).map(|i| Scope(i as u8))
    }

    pub fn as_str(self) -> &'static str {
        SCOPES[self.0 as usize]
    }

    pub fn all() -> impl Iterator<Item = Scope> {
        (0..SCOPES.len() as u8).map(Scope)
    }
}

const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes as a bit set; iteration follows [`SCOPES`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScopeSet(u64);

impl ScopeSet {
    pub const EMPTY: ScopeSet = ScopeSet(0);

    pub const fn of(scopes: &[Scope]) -> ScopeSet {
        let mut bits = 0u64;
        let mut i = 0;
        while i < scopes.len() {
            bits |= 1 << scopes[i].0;
            i += 1;
        }
        ScopeSet(bits)
    }

    pub fn bits(self) -> u64 {
        self.0
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & (1 << scope.0) != 0
    }

    pub fn intersects(self, other: ScopeSet) -> bool {
        self.0 & other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The scopes of `self` that `other` lacks.
    pub fn minus(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & !other.0)
    }

    pub fn insert(&mut self, scope: Scope) {
        self.0 |= 1 << scope.0;
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::all().filter(move |s| self.contains(*s))
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Scope::as_str).collect()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = ScopeSet::EMPTY;
        for s in iter {
            set.insert(s);
        }
        set
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Scope::as_str))
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut set = ScopeSet::EMPTY;
        crate::names::deserialize_names(d, "scope", Scope::parse, |s| set.insert(s))?;
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_constants_match_their_names() {
        assert_eq!(Scope::BUSINESS_MANAGEMENT.as_str(), "business_management");
        assert_eq!(Scope::WHATSAPP_BUSINESS_MESSAGING.as_str(), "whatsapp_business_messaging");
        assert_eq!(Scope::parse("publish_actions"), None);
    }
}

//! Fixture worlds shared by several tests.

use testkit::TestServer;

/// Three businesses: an owner of three WABAs, a partner it shares two with (FULL and STANDARD),
/// and an unrelated one. The partner has a second app that requires appsecret_proof.
pub const SHARED: &str = r#"
[[business]]
key = "owner"
name = "Owner Co"

[[business]]
key = "partner"
name = "Partner BSP"

[[business]]
key = "other"
name = "Other Co"

[[app]]
key = "owner_app"
business = "owner"
name = "Owner App"
secret = "owner-secret"

[[app]]
key = "partner_app"
business = "partner"
name = "Partner App"
secret = "partner-secret"

[[app]]
key = "strict_app"
business = "partner"
name = "Partner Strict App"
secret = "strict-secret"
require_appsecret_proof = true

[[app]]
key = "other_app"
business = "other"
name = "Other App"
secret = "other-secret"

[[system_user]]
key = "owner_admin"
business = "owner"
name = "Owner Admin"
role = "ADMIN"
apps = ["owner_app"]

[[system_user]]
key = "partner_admin"
business = "partner"
name = "Partner Admin"
role = "ADMIN"
apps = ["partner_app", "strict_app"]

[[system_user]]
key = "partner_dev"
business = "partner"
name = "Partner Dev"
apps = ["partner_app"]

[[system_user]]
key = "other_admin"
business = "other"
name = "Other Admin"
role = "ADMIN"
apps = ["other_app"]

[[token]]
key = "owner_admin"
system_user = "owner_admin"
app = "owner_app"
scopes = ["business_management", "whatsapp_business_management", "whatsapp_business_messaging"]

[[token]]
key = "partner_admin"
system_user = "partner_admin"
app = "partner_app"
scopes = ["business_management", "whatsapp_business_management", "whatsapp_business_messaging"]

[[token]]
key = "partner_admin_strict"
system_user = "partner_admin"
app = "strict_app"
scopes = ["business_management", "whatsapp_business_management"]

[[token]]
key = "partner_dev"
system_user = "partner_dev"
app = "partner_app"
scopes = ["business_management", "whatsapp_business_management"]

[[token]]
key = "other_admin"
system_user = "other_admin"
app = "other_app"
scopes = ["business_management", "whatsapp_business_management"]

[[waba]]
key = "full"
owner = "owner"
name = "Shared Full"

[[waba]]
key = "standard"
owner = "owner"
name = "Shared Standard"

[[waba]]
key = "private"
owner = "owner"
name = "Owner Only"

[[share]]
waba = "full"
partner = "partner"
level = "FULL"

[[share]]
waba = "standard"
partner = "partner"
level = "STANDARD"
"#;

pub async fn shared() -> TestServer {
    TestServer::with_fixtures(SHARED).await
}

pub fn id(ts: &TestServer, key: &str) -> String {
    ts.bootstrap["ids"][key].as_str().unwrap_or_else(|| panic!("no id for {key}")).to_string()
}

pub fn token(ts: &TestServer, key: &str) -> String {
    ts.bootstrap["tokens"][key].as_str().unwrap_or_else(|| panic!("no token for {key}")).to_string()
}

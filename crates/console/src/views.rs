//! What each page shows, as askama templates (`templates/`). Every value is escaped on output.

use askama::Template;

/// The frame around every signed-in page.
pub struct Chrome {
    pub business_name: String,
    pub person_name: String,
    pub is_admin: bool,
    pub csrf: String,
    pub active: &'static str,
}

pub struct UserRow {
    pub id: String,
    pub name: String,
    pub role: String,
}

pub struct AppRow {
    pub id: String,
    pub name: String,
}

pub struct TokenRow {
    pub system_user: String,
    pub system_user_id: String,
    pub app: String,
    pub scopes: String,
    pub issued: String,
    pub expires: String,
    pub last_used: String,
    pub status: &'static str,
}

pub struct WabaRow {
    pub id: String,
    pub name: String,
    pub detail: String,
}

pub struct AccessEntry {
    pub user_id: String,
    pub name: String,
    pub kind: &'static str,
    pub tasks: String,
}

pub struct TaskOption {
    pub code: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

pub struct UserOption {
    pub id: String,
    pub label: String,
    pub selected: bool,
}

pub struct MatrixRow {
    pub name: String,
    pub kind: &'static str,
    pub cells: Vec<String>,
}

pub struct EventRow {
    pub time: String,
    pub actor: String,
    pub via: String,
    pub action: String,
    pub target: String,
    pub before: String,
    pub after: String,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignIn {
    pub error: Option<String>,
    pub email: String,
    /// The form's CSRF token, the same as the sign-in cookie's.
    pub csrf: String,
}

/// What the Add panel of the System Users page shows.
#[derive(PartialEq, Eq)]
pub enum AddPanel {
    Closed,
    Policy,
    Form,
}

#[derive(Template)]
#[template(path = "system_users.html")]
pub struct SystemUsers {
    pub chrome: Chrome,
    pub users: Vec<UserRow>,
    pub people: Vec<UserRow>,
    pub add: AddPanel,
}

#[derive(Template)]
#[template(path = "system_user.html")]
pub struct SystemUserPage {
    pub chrome: Chrome,
    pub su: UserRow,
    pub apps: Vec<AppRow>,
    pub installable: Vec<AppRow>,
    pub tokens: Vec<TokenRow>,
    pub wabas: Vec<WabaRow>,
}

#[derive(Template)]
#[template(path = "generate_token.html")]
pub struct GenerateToken {
    pub chrome: Chrome,
    pub su: UserRow,
    pub apps: Vec<AppRow>,
    pub scopes: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "token_created.html")]
pub struct TokenCreated {
    pub chrome: Chrome,
    pub su: UserRow,
    pub token: String,
    pub app: String,
    pub scopes: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "wabas.html")]
pub struct Wabas {
    pub chrome: Chrome,
    pub owned: Vec<WabaRow>,
    pub shared: Vec<WabaRow>,
}

#[derive(Template)]
#[template(path = "waba.html")]
pub struct WabaPage {
    pub chrome: Chrome,
    pub waba: WabaRow,
    pub reach: String,
    pub people: Vec<AccessEntry>,
    pub can_manage: bool,
}

#[derive(Template)]
#[template(path = "add_people.html")]
pub struct AddPeople {
    pub chrome: Chrome,
    pub waba: WabaRow,
    pub users: Vec<UserOption>,
    pub full_allowed: bool,
    pub full_checked: bool,
    pub tasks: Vec<TaskOption>,
}

#[derive(Template)]
#[template(path = "access.html")]
pub struct Access {
    pub chrome: Chrome,
    pub filter: String,
    pub wabas: Vec<WabaRow>,
    pub rows: Vec<MatrixRow>,
}

#[derive(Template)]
#[template(path = "activity.html")]
pub struct Activity {
    pub chrome: Chrome,
    pub actor: String,
    pub target: String,
    pub events: Vec<EventRow>,
}

#[derive(Template)]
#[template(path = "tokens.html")]
pub struct Tokens {
    pub chrome: Chrome,
    pub tokens: Vec<TokenRow>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
}

pub struct AppTab {
    pub id: String,
    pub name: String,
    pub current: bool,
}

pub struct DeliveryRow {
    pub id: String,
    pub time: String,
    pub field: String,
    /// The event or status the body carries, if it names one.
    pub event: String,
    pub target: String,
    pub status: String,
    pub code: String,
    pub attempts: u32,
    pub latency: String,
    pub error: String,
    pub body: String,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
pub struct Webhooks {
    pub chrome: Chrome,
    pub apps: Vec<AppTab>,
    /// The app shown, if the business has any.
    pub app: Option<AppTab>,
    pub callback: String,
    pub fields: String,
    pub deliveries: Vec<DeliveryRow>,
}

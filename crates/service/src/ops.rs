//! Authentication and every write wabagate performs. Each write authorizes against the world
//! through `model::rules` first; the change it builds needs the access proof that check returns.

use model::rules::{self, AppCaller, BusinessAccess, Caller, Operation, WabaAccess};
use model::{FinancePermission, GraphError, GraphId, Role, ScopeSet, SystemUser, TaskSet, Token, Verb};
use serde_json::json;

use crate::clock::pacific_time;
use crate::secrets;
use crate::{Acting, Service, Via};

/// A token's lifetime when `set_token_expires_in_60_days` is true, and after a refresh.
pub const SIXTY_DAYS: i64 = 60 * 24 * 3600;

/// Longest system-user name accepted (Meta's limit is not documented; this is ours).
pub const MAX_NAME_CHARS: usize = 100;

/// Who a valid token speaks for.
#[derive(Clone, Debug)]
pub enum Authenticated {
    /// A system user's token.
    User { acting: Acting, token: Token },
    /// An app token, `{app-id}|{app-secret}`.
    App { app: GraphId },
}

impl Authenticated {
    /// Who acts on an app's own objects, as the rules see it: an app token is the app itself.
    pub fn app_caller(&self) -> AppCaller<'_> {
        match self {
            Authenticated::App { app } => AppCaller::App(*app),
            Authenticated::User { acting, .. } => AppCaller::User(&acting.caller),
        }
    }
}

/// What `POST /{system-user}/access_tokens` asks for.
#[derive(Clone, Debug)]
pub struct MintRequest {
    pub system_user: GraphId,
    pub app: GraphId,
    pub scopes: ScopeSet,
    pub expires_in_60_days: bool,
    pub proof: MintProof,
}

/// What vouches for a mint request.
#[derive(Clone, Debug)]
pub enum MintProof {
    /// An API call: the `appsecret_proof` sent (HMAC of the caller's token, keyed with the minted-for
    /// app's secret) and the caller's token.
    Api { proof: Option<String>, caller_token: String },
    /// A person signed in to the console with their password.
    Console,
}

/// A refreshed token and the seconds it has left.
pub struct Refreshed {
    pub access_token: String,
    pub expires_in: i64,
}

/// What debug_token learns of an input token.
pub enum DebugTokenInput {
    Valid(Token),
    /// A token this server issued that no longer works, with the error using it would give.
    Invalid(Token, GraphError),
    /// Not a token of this server.
    Unknown(GraphError),
}

fn parse_name(name: &str) -> Result<String, GraphError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(GraphError::invalid_param(format!(
            "Param name must be a non-empty string of at most {MAX_NAME_CHARS} characters without control characters"
        )));
    }
    Ok(name.to_string())
}

/// What a token minted with another token may be (docs/security.md, Minting): never more than
/// the token that mints it. Its scopes are within the caller's; a caller that expires mints only
/// tokens that expire; and a caller whose app requires `appsecret_proof` mints only for its own
/// app, since the one proof the call carries is checked against the minted-for app's secret.
fn check_mint_narrows(
    world: &model::World,
    caller: &Token,
    app: &model::App,
    req: &MintRequest,
) -> Result<(), GraphError> {
    let beyond = req.scopes.minus(caller.scopes);
    if !beyond.is_empty() {
        return Err(GraphError::permission(Some(&format!(
            "a token can mint only scopes it holds itself, and this one does not hold {}",
            beyond.names().join(", ")
        ))));
    }
    if caller.expires_at.is_some() && !req.expires_in_60_days {
        return Err(GraphError::permission(Some(
            "a token that expires can mint only tokens that expire: set set_token_expires_in_60_days=true",
        )));
    }
    let caller_app = world.app(caller.app);
    if caller.app != app.id && caller_app.is_some_and(|a| a.require_appsecret_proof) {
        return Err(GraphError::permission(Some(&format!(
            "the app {} of this token requires appsecret_proof, so the token mints only for that app, not for {}",
            caller.app, app.id
        ))));
    }
    Ok(())
}

fn user_json(su: &SystemUser) -> serde_json::Value {
    json!({"id": su.id, "name": su.name, "role": su.role.as_str()})
}

impl Service {
    /// Checks a token (DESIGN.md §3, steps 1 and 2) and notes its use.
    ///
    /// `proof` is the `appsecret_proof` sent with the call; with `defer_proof` the caller checks
    /// it against another app's secret (token minting does).
    pub fn authenticate(&self, raw: &str, proof: Option<&str>, defer_proof: bool) -> Result<Authenticated, GraphError> {
        let world = self.world();
        if let Some((app_id, secret)) = raw.split_once('|') {
            let app = GraphId::parse(app_id).and_then(|id| world.app(id)).ok_or_else(GraphError::token_unparseable)?;
            if !secrets::secrets_equal(secret, app.secret.expose()) {
                return Err(GraphError::token_unparseable());
            }
            return Ok(Authenticated::App { app: app.id });
        }
        let token = self.check_token(&world, raw)?;
        let app = world.app(token.app).ok_or_else(GraphError::token_invalid)?;
        if !defer_proof {
            match proof {
                Some(p) if !secrets::proof_matches(app.secret.expose(), raw, p) => {
                    return Err(GraphError::proof_invalid());
                }
                None if app.require_appsecret_proof => return Err(GraphError::proof_missing()),
                _ => {}
            }
        }
        let principal = world.principal(token.system_user).ok_or_else(GraphError::token_invalid)?;
        self.note_use(token);
        let acting =
            Acting { caller: Caller { principal, scopes: Some(token.scopes) }, token: Some(token.id), via: Via::Api };
        Ok(Authenticated::User { acting, token: token.clone() })
    }

    /// The token a raw string names, if it still works.
    fn check_token<'w>(&self, world: &'w model::World, raw: &str) -> Result<&'w Token, GraphError> {
        let token = self.find_token(world, raw)?;
        self.token_state(token)?;
        Ok(token)
    }

    fn find_token<'w>(&self, world: &'w model::World, raw: &str) -> Result<&'w Token, GraphError> {
        if !secrets::is_token_shaped(raw) {
            return Err(GraphError::token_unparseable());
        }
        let hash = secrets::token_hash(raw);
        match world.token_by_hash(&hash) {
            Some(t) if secrets::hashes_equal(&t.hash, &hash) => Ok(t),
            _ => Err(GraphError::token_invalid()),
        }
    }

    /// The error using this token would give, if any.
    fn token_state(&self, token: &Token) -> Result<(), GraphError> {
        let now = self.now();
        if token.revoked_at.is_some() {
            return Err(GraphError::token_revoked());
        }
        if let Some(at) = token.expires_at.filter(|_| token.is_expired(now)) {
            return Err(GraphError::token_expired(&pacific_time(at), &pacific_time(now)));
        }
        Ok(())
    }

    /// `POST /{business}/system_users` with `name` and `role`.
    pub async fn create_system_user(
        &self,
        acting: &Acting,
        business: GraphId,
        name: &str,
        role: Role,
        finance_permission: Option<FinancePermission>,
    ) -> Result<GraphId, GraphError> {
        let name = parse_name(name)?;
        self.write(|tx| {
            let access = rules::authorize_business(
                tx.world(),
                &acting.caller,
                Verb::Post,
                Operation::ManageSystemUsers,
                business,
                business,
                None,
            )?;
            let su = SystemUser {
                id: tx.new_id(),
                business: access.business(),
                name,
                role,
                finance_permission,
                created_by: Some(acting.principal().id),
                created_time: tx.now(),
                apps: Default::default(),
            };
            tx.audit(acting, business, "system_user.create", su.id, "system_user", None, Some(user_json(&su)));
            let id = su.id;
            tx.put_system_user(&access, su)?;
            Ok(id)
        })
        .await
    }

    /// `POST /{business}/system_users` with `system_user_id` and `name`.
    pub async fn rename_system_user(
        &self,
        acting: &Acting,
        business: GraphId,
        system_user: GraphId,
        name: &str,
    ) -> Result<(), GraphError> {
        let name = parse_name(name)?;
        self.write(|tx| {
            let access = rules::authorize_business(
                tx.world(),
                &acting.caller,
                Verb::Post,
                Operation::ManageSystemUsers,
                business,
                business,
                None,
            )?;
            let su = match tx.world().system_user(system_user) {
                Some(su) if su.business == business => su,
                _ => return Err(GraphError::invalid_user(&system_user.to_string())),
            };
            let mut renamed = su.clone();
            renamed.name = name;
            tx.audit(
                acting,
                business,
                "system_user.rename",
                su.id,
                "system_user",
                Some(user_json(su)),
                Some(user_json(&renamed)),
            );
            tx.put_system_user(&access, renamed)
        })
        .await
    }

    /// The system user a path names, and the caller's right to act on it.
    fn system_user_access<'w>(
        world: &'w model::World,
        acting: &Acting,
        verb: Verb,
        op: Operation,
        system_user: GraphId,
    ) -> Result<(&'w SystemUser, BusinessAccess<'w>), GraphError> {
        let su = world.system_user(system_user).ok_or_else(|| GraphError::unknown_object(verb, system_user))?;
        let access =
            rules::authorize_business(world, &acting.caller, verb, op, su.business, system_user, Some(system_user))?;
        Ok((su, access))
    }

    /// `POST /{system-user}/applications` with `business_app`. Installing twice is not an error.
    pub async fn install_app(&self, acting: &Acting, system_user: GraphId, app: GraphId) -> Result<(), GraphError> {
        self.write(|tx| {
            let (su, access) =
                Self::system_user_access(tx.world(), acting, Verb::Post, Operation::InstallApp, system_user)?;
            match tx.world().app(app) {
                Some(a) if a.business == access.business() => {}
                _ => {
                    return Err(GraphError::invalid_param(format!(
                        "Param business_app must be the id of an app owned by business {}; {app} is not",
                        access.business()
                    )));
                }
            }
            if su.apps.contains(&app) {
                return Ok(());
            }
            let mut updated = su.clone();
            updated.apps.insert(app);
            tx.audit(acting, su.business, "app.install", su.id, "system_user", None, Some(json!({"app": app})));
            tx.put_system_user(&access, updated)
        })
        .await
    }

    /// `POST /{system-user}/access_tokens`: a new token, shown once.
    pub async fn mint_token(&self, acting: &Acting, req: MintRequest) -> Result<String, GraphError> {
        self.write(|tx| {
            let (su, access) =
                Self::system_user_access(tx.world(), acting, Verb::Post, Operation::ManageTokens, req.system_user)?;
            let app = match tx.world().app(req.app) {
                Some(a) if a.business == access.business() => a,
                _ => {
                    return Err(GraphError::invalid_param(format!(
                        "Param business_app must be the id of an app owned by business {}; {} is not",
                        access.business(),
                        req.app
                    )));
                }
            };
            match (&req.proof, acting.via) {
                (MintProof::Api { proof: None, .. }, _) => return Err(GraphError::proof_missing()),
                (MintProof::Api { proof: Some(p), caller_token }, _) => {
                    if !secrets::proof_matches(app.secret.expose(), caller_token, p) {
                        return Err(GraphError::proof_invalid());
                    }
                }
                (MintProof::Console, Via::Console) => {}
                (MintProof::Console, _) => return Err(GraphError::proof_missing()),
            }
            if !su.apps.contains(&app.id) {
                return Err(GraphError::invalid_param(format!(
                    "The app {} is not installed on system user {}: install it first with POST /{}/applications",
                    app.id, su.id, su.id
                )));
            }
            if let Some(caller) = acting.token.and_then(|t| tx.world().token(t)) {
                check_mint_narrows(tx.world(), caller, app, &req)?;
            }
            let (raw, token) =
                Self::new_token(tx, acting, su, app.id, req.scopes, req.expires_in_60_days, "token.mint");
            tx.put_token(&access, token)?;
            Ok(raw)
        })
        .await
    }

    /// A new token (not yet stored: the caller stores it with its proof), audited, and the raw
    /// string shown once.
    fn new_token(
        tx: &mut crate::Tx<'_>,
        acting: &Acting,
        su: &SystemUser,
        app: GraphId,
        scopes: ScopeSet,
        expiring: bool,
        action: &str,
    ) -> (String, Token) {
        let raw = secrets::new_token();
        let token = Token {
            id: tx.new_id(),
            hash: secrets::token_hash(&raw),
            system_user: su.id,
            app,
            scopes,
            issued_at: tx.now(),
            expires_at: expiring.then(|| tx.now() + SIXTY_DAYS),
            revoked_at: None,
            last_used_at: None,
        };
        tx.audit(
            acting,
            su.business,
            action,
            su.id,
            "system_user",
            None,
            Some(json!({"token": token.id, "app": app, "scopes": scopes, "expires_at": token.expires_at.unwrap_or(0)})),
        );
        (raw, token)
    }

    /// `DELETE /{system-user}/access_tokens`: revokes every token of the system user.
    pub async fn revoke_all_tokens(&self, acting: &Acting, system_user: GraphId) -> Result<(), GraphError> {
        self.write(|tx| {
            let (su, access) =
                Self::system_user_access(tx.world(), acting, Verb::Delete, Operation::ManageTokens, system_user)?;
            let mut revoked: Vec<Token> =
                tx.world().tokens_of(su.id).filter(|t| t.revoked_at.is_none()).cloned().collect();
            revoked.sort_by_key(|t| t.id);
            if revoked.is_empty() {
                return Ok(());
            }
            let ids: Vec<GraphId> = revoked.iter().map(|t| t.id).collect();
            tx.audit(acting, su.business, "token.revoke_all", su.id, "system_user", Some(json!({"tokens": ids})), None);
            let now = tx.now();
            for mut t in revoked {
                t.revoked_at = Some(now);
                tx.put_token(&access, t)?;
            }
            Ok(())
        })
        .await
    }

    /// Checks `client_id` and `client_secret` of an oauth call.
    fn check_client(&self, world: &model::World, client_id: &str, client_secret: &str) -> Result<GraphId, GraphError> {
        let app = GraphId::parse(client_id).and_then(|id| world.app(id)).ok_or_else(GraphError::invalid_client_id)?;
        if !secrets::secrets_equal(client_secret, app.secret.expose()) {
            return Err(GraphError::invalid_client_secret());
        }
        Ok(app.id)
    }

    /// `GET /oauth/revoke`: revokes one token. The client app, the caller's token's app and the
    /// revoked token's app must all be the same.
    pub async fn revoke_token(
        &self,
        caller: &Authenticated,
        client_id: &str,
        client_secret: &str,
        revoke: &str,
    ) -> Result<(), GraphError> {
        self.write(|tx| {
            let app = self.check_client(tx.world(), client_id, client_secret)?;
            let target = self.find_token(tx.world(), revoke)?.clone();
            let (acting, caller_app) = match caller {
                Authenticated::User { acting, token } => (*acting, token.app),
                Authenticated::App { app } => (Self::system_acting(tx.world(), &target)?, *app),
            };
            if target.app != app || caller_app != app {
                return Err(GraphError::invalid_param(
                    "client_id, the app of revoke_token and the app of access_token must be the same app",
                ));
            }
            let access = rules::authorize_app(
                tx.world(),
                AppCaller::App(app),
                Verb::Get,
                Operation::ExchangeTokens,
                target.app,
            )?;
            if target.revoked_at.is_some() {
                return Ok(());
            }
            let su = tx.world().system_user(target.system_user).ok_or_else(GraphError::token_invalid)?;
            tx.audit(
                &acting,
                su.business,
                "token.revoke",
                su.id,
                "system_user",
                Some(json!({"token": target.id})),
                None,
            );
            let mut revoked = target;
            revoked.revoked_at = Some(tx.now());
            tx.exchange_token(&access, revoked)
        })
        .await
    }

    /// The actor recorded when an app itself (an app token) acts on a system user's token.
    fn system_acting(world: &model::World, token: &Token) -> Result<Acting, GraphError> {
        let principal = world.principal(token.system_user).ok_or_else(GraphError::token_invalid)?;
        Ok(Acting { caller: Caller { principal, scopes: None }, token: None, via: Via::Api })
    }

    /// `GET /oauth/access_token?grant_type=fb_exchange_token`: a new 60-day token for an
    /// expiring one; the old token keeps working until its own expiry.
    pub async fn refresh_token(
        &self,
        client_id: &str,
        client_secret: &str,
        exchange: &str,
    ) -> Result<Refreshed, GraphError> {
        self.write(|tx| {
            let app = self.check_client(tx.world(), client_id, client_secret)?;
            let old = self.check_token(tx.world(), exchange)?.clone();
            if old.app != app {
                return Err(GraphError::invalid_param("fb_exchange_token was issued for another app than client_id"));
            }
            if old.expires_at.is_none() {
                return Err(GraphError::invalid_param(
                    "fb_exchange_token never expires: only 60-day tokens can be refreshed",
                ));
            }
            let access =
                rules::authorize_app(tx.world(), AppCaller::App(app), Verb::Get, Operation::ExchangeTokens, old.app)?;
            let su = tx.world().system_user(old.system_user).ok_or_else(GraphError::token_invalid)?;
            let mut acting = Self::system_acting(tx.world(), &old)?;
            acting.token = Some(old.id);
            let (raw, token) = Self::new_token(tx, &acting, su, old.app, old.scopes, true, "token.refresh");
            tx.exchange_token(&access, token)?;
            Ok(Refreshed { access_token: raw, expires_in: SIXTY_DAYS })
        })
        .await
    }

    /// `GET /debug_token`: what the viewer may learn of `input`. The viewer is an app token or
    /// a token of the same app as `input`.
    pub fn debug_token(&self, viewer: &Authenticated, input: &str) -> Result<DebugTokenInput, GraphError> {
        let world = self.world();
        let viewing_app = match viewer {
            Authenticated::App { app } => *app,
            Authenticated::User { token, .. } => token.app,
        };
        let token = match self.find_token(&world, input) {
            Ok(t) => t.clone(),
            Err(e) => return Ok(DebugTokenInput::Unknown(e)),
        };
        if token.app != viewing_app {
            return Err(GraphError::app_mismatch());
        }
        Ok(match self.token_state(&token) {
            Ok(()) => DebugTokenInput::Valid(token),
            Err(e) => DebugTokenInput::Invalid(token, e),
        })
    }

    /// `POST /{waba}/assigned_users`: gives `user` exactly `tasks` on the WABA (a re-post
    /// replaces the set).
    pub async fn assign(
        &self,
        acting: &Acting,
        waba: GraphId,
        user: GraphId,
        tasks: TaskSet,
    ) -> Result<(), GraphError> {
        if tasks.is_empty() {
            return Err(GraphError::invalid_param("Param tasks must be a non-empty list of tasks"));
        }
        self.write(|tx| {
            let access =
                rules::authorize_waba(tx.world(), &acting.caller, Verb::Post, Operation::ManageAssignedUsers, waba)?;
            let assignee = Self::assignee(tx.world(), acting, &access, user)?;
            rules::check_grant(tx.world(), assignee.business, waba, tasks)?;
            let before = tx.world().assignment(waba, user);
            if before.as_ref().is_some_and(|a| a.tasks == tasks) {
                return Ok(());
            }
            let action = if before.is_some() { "assignment.change" } else { "assignment.add" };
            tx.audit(
                acting,
                assignee.business,
                action,
                user,
                assignee.kind.as_str(),
                before.map(|a| json!({"waba": waba, "tasks": a.tasks})),
                Some(json!({"waba": waba, "tasks": tasks})),
            );
            tx.assign(&access, user, tasks)
        })
        .await
    }

    /// `DELETE /{waba}/assigned_users`: removes all of `user`'s tasks on the WABA. Removing a
    /// user who holds none is not an error.
    pub async fn unassign(&self, acting: &Acting, waba: GraphId, user: GraphId) -> Result<(), GraphError> {
        self.write(|tx| {
            let access =
                rules::authorize_waba(tx.world(), &acting.caller, Verb::Delete, Operation::ManageAssignedUsers, waba)?;
            let assignee = Self::assignee(tx.world(), acting, &access, user)?;
            let Some(before) = tx.world().assignment(waba, user) else { return Ok(()) };
            tx.audit(
                acting,
                assignee.business,
                "assignment.remove",
                user,
                assignee.kind.as_str(),
                Some(json!({"waba": waba, "tasks": before.tasks})),
                None,
            );
            tx.unassign(&access, user)
        })
        .await
    }

    /// The user an assignment names: a system user or person of the caller's own business.
    fn assignee(
        world: &model::World,
        acting: &Acting,
        access: &WabaAccess<'_>,
        user: GraphId,
    ) -> Result<model::Principal, GraphError> {
        let assignee = world.principal(user).ok_or_else(|| GraphError::invalid_user(&user.to_string()))?;
        if assignee.business != acting.principal().business {
            return Err(GraphError::invalid_param(format!(
                "User {user} does not belong to business {}: a business assigns its own people and system users on WhatsApp Business Account {}",
                acting.principal().business,
                access.waba()
            )));
        }
        Ok(assignee)
    }
}

impl Service {
    /// A person signing in to the console: the person, if the password is theirs. Hashing is slow
    /// by design, so it runs off the async threads.
    pub async fn sign_in(&self, email: &str, password: &str) -> Option<model::Principal> {
        let found = self.world().person_by_email(email.trim()).map(|p| (p.id, p.password_hash.clone()));
        let (id, hash) = match found {
            Some(f) => f,
            // Spend the same time on unknown emails, so they cannot be told apart.
            None => (GraphId(0), model::Secret::new(secrets::DUMMY_PASSWORD_HASH)),
        };
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || secrets::verify_password(&password, hash.expose()))
            .await
            .unwrap_or(false);
        if ok { self.world().principal(id) } else { None }
    }

    /// Accepts the system-user policy Business Settings asks an admin to accept, once per business.
    pub async fn accept_system_user_policy(&self, acting: &Acting, business: GraphId) -> Result<(), GraphError> {
        self.write(|tx| {
            let access = rules::authorize_business(
                tx.world(),
                &acting.caller,
                Verb::Post,
                Operation::ManageSystemUsers,
                business,
                business,
                None,
            )?;
            let mut b = tx.world().business(business).expect("authorized business exists").clone();
            if b.system_user_policy_accepted_at.is_some() {
                return Ok(());
            }
            b.system_user_policy_accepted_at = Some(tx.now());
            tx.put_business(&access, b)
        })
        .await
    }
}

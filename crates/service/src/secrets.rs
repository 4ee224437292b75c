//! Tokens, app secrets, appsecret_proof and passwords.
//!
//! A token is `EAA` followed by 64 characters drawn uniformly from [A-Za-z0-9] (381 bits of
//! randomness). It is shown once; only its SHA-256 is kept, and hashes are compared in constant
//! time.

use hmac::{Hmac, Mac};
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const TOKEN_PREFIX: &str = "EAA";
const TOKEN_BODY_LEN: usize = 64;

/// A new access token.
pub fn new_token() -> String {
    let body: String = rand::rng().sample_iter(&Alphanumeric).take(TOKEN_BODY_LEN).map(char::from).collect();
    format!("{TOKEN_PREFIX}{body}")
}

/// Whether a string has the shape of a token this server could have issued.
pub fn is_token_shaped(raw: &str) -> bool {
    raw.len() == TOKEN_PREFIX.len() + TOKEN_BODY_LEN
        && raw.starts_with(TOKEN_PREFIX)
        && raw.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub fn token_hash(raw: &str) -> [u8; 32] {
    Sha256::digest(raw.as_bytes()).into()
}

pub fn hashes_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// A new app secret: 32 lowercase hex digits, like Meta's.
pub fn new_app_secret() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

/// A password for the demo world's person.
pub fn new_password() -> String {
    rand::rng().sample_iter(&Alphanumeric).take(20).map(char::from).collect()
}

/// `hex(HMAC-SHA256(key = app secret, message = token))`.
pub fn appsecret_proof(app_secret: &str, token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a proof in constant time. Upper- or lowercase hex are both accepted.
pub fn proof_matches(app_secret: &str, token: &str, proof: &str) -> bool {
    let Ok(given) = hex::decode(proof) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(token.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// Whether two secrets are equal, in constant time.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// An Argon2id PHC string for a password.
pub fn hash_password(password: &str) -> model::Secret {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes make a valid salt");
    let hash = argon2::Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 hashes any password");
    model::Secret::new(hash.to_string())
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A two-step verification PIN's hash: Argon2id with a random salt, as for passwords.
pub fn hash_pin(pin: &str) -> model::Secret {
    hash_password(pin)
}

/// Whether a stored PIN hash is the unsalted SHA-256 hex of the PIN that earlier versions kept;
/// it is still accepted, and replaced by an Argon2id hash at the next successful registration.
pub fn is_legacy_pin_hash(stored: &str) -> bool {
    !stored.starts_with("$argon2")
}

/// Checks a PIN against its stored hash (Argon2id, or the legacy SHA-256 hex), in constant time.
pub fn verify_pin(pin: &str, stored: &str) -> bool {
    if is_legacy_pin_hash(stored) {
        secrets_equal(&hex::encode(Sha256::digest(pin.as_bytes())), &stored.to_ascii_lowercase())
    } else {
        verify_password(pin, stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_hash_salted_and_legacy_sha256_hashes_still_verify() {
        let (a, b) = (hash_pin("123456"), hash_pin("123456"));
        assert_ne!(a, b, "salted");
        assert!(a.expose().starts_with("$argon2id$"));
        assert!(verify_pin("123456", a.expose()));
        assert!(!verify_pin("654321", a.expose()));
        let legacy = hex::encode(Sha256::digest(b"123456"));
        assert!(is_legacy_pin_hash(&legacy));
        assert!(verify_pin("123456", &legacy));
        assert!(!verify_pin("123457", &legacy));
    }

    #[test]
    fn tokens_are_prefixed_random_and_shaped() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("EAA"));
        assert!(is_token_shaped(&a));
        assert!(!is_token_shaped("EAAshort"));
        assert!(!is_token_shaped(&a.replace('A', "-")));
    }

    #[test]
    fn proofs_are_hmac_sha256_hex() {
        // HMAC-SHA256(key="secret", "token"), computed independently.
        let p = appsecret_proof("secret", "token");
        assert_eq!(p.len(), 64);
        assert!(proof_matches("secret", "token", &p));
        assert!(proof_matches("secret", "token", &p.to_uppercase()));
        assert!(!proof_matches("other", "token", &p));
        assert!(!proof_matches("secret", "token", "zz"));
    }

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let h = hash_password("correct horse");
        assert!(h.expose().starts_with("$argon2id$"));
        assert!(verify_password("correct horse", h.expose()));
        assert!(!verify_password("wrong", h.expose()));
    }
}

/// An Argon2id hash of a random password, verified against when an email is unknown so that a
/// failed sign-in takes as long either way.
pub const DUMMY_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3Vh0yrfIv1t1aT0JB1bE8l8Jm2CtVQx7wYmTnE1xv6Y";

#[cfg(test)]
mod dummy_hash_tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_a_real_argon2id_hash_that_matches_nothing_sent() {
        use argon2::password_hash::PasswordHash;
        let parsed = PasswordHash::new(DUMMY_PASSWORD_HASH);
        assert!(parsed.is_ok(), "not a PHC string; a fresh one: {}", hash_password("unused").expose());
        assert!(!verify_password("", DUMMY_PASSWORD_HASH));
    }
}

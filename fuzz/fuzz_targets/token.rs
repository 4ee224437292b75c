//! Access tokens as clients send them: the shape check, the hash that finds a token, the app
//! token split and the appsecret_proof comparison.
#![no_main]

use libfuzzer_sys::fuzz_target;
use service::secrets;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    if secrets::is_token_shaped(raw) {
        let hash = secrets::token_hash(raw);
        assert!(secrets::hashes_equal(&hash, &secrets::token_hash(raw)));
    }
    if let Some((app, secret)) = raw.split_once('|') {
        let _ = secrets::secrets_equal(app, secret);
    }
    let mid = raw.char_indices().map(|(i, _)| i).nth(raw.chars().count() / 2).unwrap_or(raw.len());
    let (token, proof) = raw.split_at(mid);
    let _ = secrets::proof_matches("app-secret", token, proof);
});

//! The parameters of a request, from a query string, a form body or a JSON body (the first byte
//! picks which), read the ways the handlers read them: texts, lists in every encoding, tasks,
//! scopes, ids, JSON values, `fields`, and a page with `limit`, `after` and `before`.
#![no_main]

use graph::paging::{self, Links};
use graph::params::{Params, check_utf8, parse_scopes, parse_tasks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else { return };
    let params = match kind % 3 {
        0 => {
            let Ok(query) = std::str::from_utf8(body) else { return };
            if check_utf8(body).is_err() {
                return;
            }
            Params::from_query(query)
        }
        1 => {
            let _ = check_utf8(body);
            let mut p = Params::from_query("");
            p.add_form(body);
            p
        }
        _ => {
            let mut p = Params::from_query("");
            if p.add_json(body).is_err() {
                return;
            }
            p
        }
    };
    for name in ["tasks", "scope", "status", "language", "hsm_ids", "user", "name"] {
        let _ = params.text(name);
        let _ = params.id(name);
        let _ = params.json(name);
        if let Ok(Some(items)) = params.list(name) {
            let _ = parse_tasks(&items);
            let _ = parse_scopes(&items);
        }
    }
    if let Some(fields) = params.text("fields") {
        let _ = graph::fields::parse(&fields);
    }
    let items: Vec<(u64, u64)> = (1..=30).map(|i| (i * 7, i)).collect();
    let links = Links { base_url: "http://127.0.0.1:8787", path: "/v23.0/1/things", token: Some("EAA") };
    if let Ok(page) = paging::page(items, &params, &links, |v| Ok(*v)) {
        assert!(page.data.len() <= paging::MAX_LIMIT);
    }
});

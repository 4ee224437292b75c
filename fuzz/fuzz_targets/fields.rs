//! `fields=` selections with nesting and modifiers: parsed or refused with code 100, never a panic
//! or a stack overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = graph::fields::parse(text) {
        assert_eq!(e.code, 100);
    }
});

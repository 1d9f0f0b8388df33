//! Persisted state from IndexedDB: restore, and a restored engine keeps working.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/sequence.rs"]
#[allow(dead_code)]
mod sequence;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        sequence::restore(text);
    }
});

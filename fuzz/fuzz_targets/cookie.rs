//! The cross-site marker cookie.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = lockstep::engine::parse_marker(text);
    }
});

//! Page messages: the decoder, then the engine's handling of whatever decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/sequence.rs"]
#[allow(dead_code)]
mod sequence;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = lockstep::protocol::decode(text);
        sequence::message(text);
    }
});

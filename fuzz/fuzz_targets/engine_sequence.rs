//! The engine driven by arbitrary bytes read as a sequence of events.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/sequence.rs"]
#[allow(dead_code)]
mod sequence;

fuzz_target!(|data: &[u8]| sequence::run(data));

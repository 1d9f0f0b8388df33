//! `lockstep.config.json`: any text is an error or a config, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep::config::Config;
use lockstep::origin::parse_origin;

fuzz_target!(|data: &[u8]| {
    if let (Ok(text), Ok(origin)) = (core::str::from_utf8(data), parse_origin("https://app.example.test")) {
        let _ = Config::parse(text, &origin);
    }
});

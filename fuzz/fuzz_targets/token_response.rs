//! Token endpoint and refresh responses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep::config::TokenFields;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        let fields = TokenFields { access_token: "access_token".into(), refresh_token: "refresh_token".into(), expires_in: "expires_in".into(), user: Some("user".into()) };
        if let Ok((tokens, page)) = lockstep::token::take_tokens(text, &fields) {
            // Custody: the page body never carries the tokens taken out.
            assert!(!page.contains(&format!("\"{}\"", tokens.access_token)) || text.matches(&tokens.access_token).count() > 1);
        }
    }
});

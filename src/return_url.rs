//! Where a tab must go: to the login page with its own return URL when the session
//! ended, and back to that return URL after a login.
//!
//! A return URL comes from the address bar, so it is attacker-controlled: it is followed
//! only when it is same-origin and inside the worker's scope (no open redirect).

use crate::config::Config;
use crate::encode::{skip_leading, split_at_byte};
use crate::origin::{parse_url, resolve, Url};

/// The login page URL for a tab at `client_url`, carrying its return URL (path, query and
/// fragment: a hash-routed app's route is in the fragment); `None` when the tab is already
/// on the login page or not in scope.
pub fn login_redirect(config: &Config, scope: &str, client_url: &str) -> Option<String> {
    let client = in_scope(config, scope, client_url)?;
    if is_login_page(config, &client) {
        return None;
    }
    let mut target = config.login_url.href();
    if client_url.len() > MAX_RETURN_SOURCE_BYTES {
        // Up to three times longer once encoded, in every message to the tab, in wasm memory
        // that never shrinks: such a tab goes to the login page without its place.
        return Some(target);
    }
    // Written in one string: encoding the path, then the query, encodes their concatenation.
    target.push(if config.login_url.query.is_empty() { '?' } else { '&' });
    target.push_str(&config.return_param);
    target.push('=');
    crate::encode::push_percent_encoded(&mut target, &client.path, true);
    crate::encode::push_percent_encoded(&mut target, &client.query, true);
    crate::encode::push_percent_encoded(&mut target, &client.fragment, true);
    Some(target)
}

/// The longest URL a tab's return URL is written for (as the URLs tabs report themselves).
pub const MAX_RETURN_SOURCE_BYTES: usize = 2048;

/// The return URL a tab on the login page goes back to after a login; `None` when the tab
/// is not on the login page, has no return parameter, or its value is not a same-origin,
/// in-scope URL.
pub fn return_target(config: &Config, scope: &str, client_url: &str) -> Option<String> {
    let client = in_scope(config, scope, client_url)?;
    if !is_login_page(config, &client) {
        return None;
    }
    let raw = query_param(&client.query, &config.return_param)?;
    let value = decode_component(raw)?;
    if crate::encode::any_byte(&value, |b| b < 0x20 || b == 0x7f || b == b'\\') {
        return None;
    }
    let target = resolve(&config.origin, &value).ok()?;
    if target.origin != config.origin || target.has_userinfo || !target.path.starts_with(scope) || is_login_page(config, &target) {
        return None;
    }
    let mut href = target.href();
    href.push_str(&target.fragment);
    Some(href)
}

fn in_scope(config: &Config, scope: &str, client_url: &str) -> Option<Url> {
    let client = parse_url(client_url).ok()?;
    (client.origin == config.origin && client.path.starts_with(scope)).then_some(client)
}

fn is_login_page(config: &Config, url: &Url) -> bool {
    url.path == config.login_url.path
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = Some(skip_leading(query, b'?'));
    while let Some(r) = rest {
        let (pair, next) = match split_at_byte(r, b'&', false) {
            Some((pair, next)) => (pair, Some(next)),
            None => (r, None),
        };
        let (k, v) = split_at_byte(pair, b'=', false).unwrap_or((pair, ""));
        if k == name {
            return Some(v);
        }
        rest = next;
    }
    None
}

/// `s` percent-decoded (`+` is a space), when the result is UTF-8.
fn decode_component(s: &str) -> Option<String> {
    utf8_string(s.as_bytes(), percent_byte)
}

/// The byte at `i` of a percent-encoded component, decoded, and the index after it.
fn percent_byte(bytes: &[u8], i: usize) -> Option<(u8, usize)> {
    match *bytes.get(i)? {
        b'+' => Some((b' ', i + 1)),
        b'%' => {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (*hex.first()? as char).to_digit(16)?;
            let lo = (*hex.get(1)? as char).to_digit(16)?;
            Some(((hi * 16 + lo) as u8, i + 3))
        }
        b => Some((b, i + 1)),
    }
}

/// Reads the byte at an index of a source, and says where the next one starts.
type ByteReader = fn(&[u8], usize) -> Option<(u8, usize)>;

/// The bytes `next` reads from `src` as a `String` when they are UTF-8, as
/// `String::from_utf8` decides it. Decoded by hand, one byte at a time: `str::from_utf8`
/// and a byte buffer would ship for this one use.
fn utf8_string(src: &[u8], next: ByteReader) -> Option<String> {
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        let (b, after) = next(src, i)?;
        i = after;
        // The sequence length, and the smallest code point it may hold (no overlong forms).
        let (len, min, mut code) = match b {
            0x00..=0x7f => (1, 0, u32::from(b)),
            0xc0..=0xdf => (2, 0x80, u32::from(b & 0x1f)),
            0xe0..=0xef => (3, 0x800, u32::from(b & 0x0f)),
            0xf0..=0xf7 => (4, 0x10000, u32::from(b & 0x07)),
            _ => return None,
        };
        let mut k = 1;
        while k < len {
            let (c, after) = next(src, i)?;
            i = after;
            if c & 0xc0 != 0x80 {
                return None;
            }
            code = code << 6 | u32::from(c & 0x3f);
            k += 1;
        }
        if code < min {
            return None;
        }
        // Surrogates and code points above U+10FFFF are refused here.
        out.push(char::from_u32(code)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::parse_origin;

    fn config() -> Config {
        let o = parse_origin("https://app.example.test").unwrap();
        Config::parse(r#"{"loginUrl":"/login","apis":[{"origin":"https://api.example.test"}]}"#, &o).unwrap()
    }

    #[test]
    fn utf8_is_decoded_as_std_decides() {
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for a in 0..=255u8 {
            cases.push(vec![a]);
            for b in [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff] {
                cases.push(vec![a, b]);
                for c in [0x41, 0x80, 0x9f, 0xa0, 0xbf, 0xc0] {
                    cases.push(vec![a, b, c]);
                    for d in [0x41, 0x80, 0xbf, 0xc0] {
                        cases.push(vec![a, b, c, d]);
                    }
                }
            }
        }
        for bytes in cases {
            assert_eq!(utf8_string(&bytes, |b, i| Some((*b.get(i)?, i + 1))), String::from_utf8(bytes.clone()).ok(), "{bytes:x?}");
        }
    }

    #[test]
    fn percent_decoding_matches_decode_then_from_utf8() {
        fn reference(s: &str) -> Option<String> {
            let b = s.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    b'+' => out.push(b' '),
                    b'%' => {
                        out.push(u8::from_str_radix(s.get(i + 1..i + 3).filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))?, 16).ok()?);
                        i += 2;
                    }
                    c => out.push(c),
                }
                i += 1;
            }
            String::from_utf8(out).ok()
        }
        let pieces = ["%", "%C3", "%A9", "%c3%a9", "%E2%82%AC", "%F0%9F%98%80", "%ED%A0%80", "%C0%80", "%FF", "%8", "%zz", "+", "a", "é", "%2F", "%0"];
        let mut x: u64 = 0x2545f4914f6cdd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let s: String = (0..(x % 6)).map(|k| pieces[((x >> (8 * k + 4)) % pieces.len() as u64) as usize]).collect();
            assert_eq!(decode_component(&s), reference(&s), "{s:?}");
        }
    }

    #[test]
    fn login_redirect_carries_the_tabs_own_url() {
        let c = config();
        assert_eq!(
            login_redirect(&c, "/", "https://app.example.test/app1/orders?id=7&x=a%20b#frag").as_deref(),
            Some("https://app.example.test/login?returnTo=/app1/orders%3Fid%3D7%26x%3Da%2520b%23frag")
        );
        assert_eq!(login_redirect(&c, "/", "https://app.example.test/login?returnTo=/x"), None);
        assert_eq!(login_redirect(&c, "/app2/", "https://app.example.test/app1/"), None);
        assert_eq!(login_redirect(&c, "/", "https://evil.test/app1/"), None);
        let long = format!("https://app.example.test/app1/?q={}", "x".repeat(MAX_RETURN_SOURCE_BYTES));
        assert_eq!(login_redirect(&c, "/", &long).as_deref(), Some("https://app.example.test/login"), "too long to carry");
    }

    #[test]
    fn return_round_trips() {
        let c = config();
        let login = login_redirect(&c, "/", "https://app.example.test/app1/orders?id=7&x=a%20b").unwrap();
        assert_eq!(return_target(&c, "/", &login).as_deref(), Some("https://app.example.test/app1/orders?id=7&x=a%20b"));
    }

    #[test]
    fn a_hash_route_survives_the_round_trip() {
        let c = config();
        for url in ["https://app.example.test/app1/#/orders/42?tab=2", "https://app.example.test/app1/?v=1#", "https://app.example.test/app1/#a#b"] {
            let login = login_redirect(&c, "/", url).unwrap();
            assert!(!login.contains('#'), "the route is inside the return parameter, not the login page's own fragment: {login}");
            assert_eq!(return_target(&c, "/", &login).as_deref(), Some(url));
        }
        // The login page's own fragment is not part of its return parameter.
        assert_eq!(
            return_target(&c, "/", "https://app.example.test/login?returnTo=%2Fapp1%2F#%2Fevil").as_deref(),
            Some("https://app.example.test/app1/")
        );
    }

    #[test]
    fn open_redirects_are_refused() {
        let c = config();
        for evil in [
            "https://evil.test/",
            "https%3A%2F%2Fevil.test%2F",
            "//evil.test/x",
            "%2F%2Fevil.test",
            "/%2F/evil.test".replace("/%2F/", "%2F%2F").as_str(),
            "/\\evil.test",
            "%2F%5Cevil.test",
            "javascript:alert(1)",
            "javascript%3Aalert(1)",
            "https://app.example.test@evil.test/",
            "https://app.example.test.evil.test/",
            "http://app.example.test/x",
            "https://app.example.test:444/x",
            "/login?returnTo=https://evil.test",
            "%0d%0a/x",
            "%zz",
            "%23//evil.test",
            "#//evil.test",
            "x",
        ] {
            let url = format!("https://app.example.test/login?returnTo={evil}");
            assert_eq!(return_target(&c, "/", &url), None, "{evil} must be refused");
        }
    }

    #[test]
    fn out_of_scope_returns_are_refused() {
        let c = config();
        assert_eq!(return_target(&c, "/app1/", "https://app.example.test/login?returnTo=/app1/x"), None, "login page itself out of scope");
        assert_eq!(return_target(&c, "/", "https://app.example.test/login?returnTo=/app1/x").as_deref(), Some("https://app.example.test/app1/x"));
        assert_eq!(return_target(&c, "/", "https://app.example.test/app1/?returnTo=/app2/"), None, "only from the login page");
        assert_eq!(return_target(&c, "/", "https://app.example.test/login"), None);
    }
}

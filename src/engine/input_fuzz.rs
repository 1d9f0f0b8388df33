//! The CI-sized fuzz, on stable Rust: every decoder of outside input, and the engine
//! driven by bytes read as events, over a few thousand seeded pseudo-random and mutated
//! inputs. The libFuzzer targets in `fuzz/` (docs/FUZZING.md) run the same code for longer.

use crate::config::{Config, TokenFields};
use crate::origin::parse_origin;

mod lockstep {
    pub use crate::{config, engine, origin, protocol};
}

mod sequence {
    use super::lockstep;
    include!("../../fuzz/src/sequence.rs");
}

/// xorshift64*: small, seeded, good enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// A sample with a few mutations: flipped bytes, JSON-significant characters put in,
    /// spans cut out or repeated.
    fn mutate(&mut self, sample: &str) -> Vec<u8> {
        const SPICE: &[&[u8]] = &[b"\"", b"{", b"}", b"[", b"]", b",", b":", b"\\", b"\\u0000", b"\\ud800", b"-1", b"1e999", b"null", b"true", b"18446744073709551616", b"\xff", b"\xc3", b"\xe2\x80\xae", b"%00", b"@", b"\r\n"];
        let mut v = sample.as_bytes().to_vec();
        for _ in 0..1 + self.below(4) {
            let at = self.below(v.len() + 1);
            match self.below(5) {
                0 if !v.is_empty() => {
                    let i = at.min(v.len() - 1);
                    v[i] ^= 1 << self.below(8);
                }
                1 => {
                    let s = SPICE[self.below(SPICE.len())];
                    v.splice(at..at, s.iter().copied());
                }
                2 => v.truncate(at),
                3 => {
                    let end = (at + self.below(16)).min(v.len());
                    v.drain(at..end);
                }
                _ => {
                    let end = (at + self.below(32)).min(v.len());
                    let span = v[at..end].to_vec();
                    v.splice(at..at, span);
                }
            }
        }
        v
    }
    /// Random bytes, a mutated sample, or a sample as is.
    fn input(&mut self, samples: &[&str]) -> Vec<u8> {
        let sample = samples[self.below(samples.len())];
        match self.below(8) {
            0 => self.bytes(300),
            1 => sample.as_bytes().to_vec(),
            _ => self.mutate(sample),
        }
    }
}

const ROUNDS: usize = 3_000;

fn each_input(seed: u64, samples: &[&str], mut f: impl FnMut(&str)) {
    let mut rng = Rng(seed);
    for _ in 0..ROUNDS {
        let bytes = rng.input(samples);
        f(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn config_decoder_never_panics() {
    let origin = parse_origin("https://app.example.test").unwrap();
    let full = sequence::CONFIG.replace("TOKEN_STORAGE", "memory");
    let samples = [full.as_str(), r#"{"loginUrl":"/login","apis":[{"origin":"http://localhost:8080"}]}"#];
    let mut ok = 0;
    each_input(1, &samples, |text| ok += usize::from(Config::parse(text, &origin).is_ok()));
    assert!(ok > 0, "the samples themselves parse");
}

#[test]
fn message_decoder_never_panics_and_refusals_change_nothing() {
    let samples = [r#"{"v":1,"type":"hello","url":"https://app.example.test/x"}"#, r#"{"v":1,"type":"logout"}"#, r#"{"type":"activity","v":1}"#];
    each_input(2, &samples, sequence::message);
}

#[test]
fn token_response_decoder_never_panics() {
    let fields = TokenFields { access_token: "access_token".into(), refresh_token: "refresh_token".into(), expires_in: "expires_in".into(), user: Some("user".into()) };
    let samples = [r#"{"access_token":"AT1","refresh_token":"RT1","expires_in":300,"token_type":"Bearer","user":{"name":"ada","roles":["a",1,null]}}"#, r#"{"access_token":"a","expires_in":"60"}"#];
    each_input(3, &samples, |text| {
        if let Ok((tokens, page)) = crate::token::take_tokens(text, &fields) {
            assert!(!page.contains(r#""access_token""#) && !page.contains(r#""refresh_token""#), "{page}");
            assert!(!tokens.access_token.is_empty());
        }
    });
}

#[test]
fn cookie_decoder_never_panics() {
    each_input(4, &["live.0123456789abcdef", "ended.0123456789ABCDEF0123456789abcdef"], |text| {
        if let Ok(m) = crate::engine::parse_marker(text) {
            let id = match &m {
                crate::engine::Marker::Live(id) | crate::engine::Marker::Ended(id) => id,
            };
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{text}");
        }
    });
}

#[test]
fn persisted_state_decoder_never_panics() {
    let mut e = sequence::engine(true);
    e.handle_token_response(1_700_000_000_000, 0, 200, r#"{"access_token":"AT1","refresh_token":"RT1","expires_in":300,"user":{"name":"ada"}}"#);
    let live = e.persisted();
    e.handle_message(1_700_000_000_001, "t", "https://app.example.test/", r#"{"v":1,"type":"logout"}"#);
    let ended = e.persisted();
    each_input(5, &[&live, &ended], sequence::restore);
}

#[test]
fn engine_driven_by_arbitrary_events_never_panics() {
    let mut rng = Rng(6);
    for _ in 0..1_000 {
        let bytes = rng.bytes(400);
        sequence::run(&bytes);
    }
}

use super::*;

fn p(s: &str) -> Result<Value<'_>, InputError> {
    parse(Input::Message, s).map_err(|e| *e)
}

fn round(s: &str) -> String {
    let mut out = String::new();
    push_value(&mut out, &p(s).unwrap());
    out
}

#[test]
fn parses_and_writes_back() {
    assert_eq!(round(r#" {"a": [1, -2.5e3, true, false, null], "b": {"c": "d"}} "#), r#"{"a":[1,-2.5e3,true,false,null],"b":{"c":"d"}}"#);
    assert_eq!(round(r#""\u00e9\ud83d\ude00\n\"\\\/""#), "\"é😀\\n\\\"\\\\/\"");
    assert_eq!(round(r#""plain é""#), "\"plain é\"");
    assert_eq!(round("[]"), "[]");
    assert_eq!(round("{}"), "{}");
}

#[test]
fn refuses_malformed_text() {
    for bad in [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "'a'", "01x", "-", "1.", "1e", "tru", "nul", "\"abc",
        "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\ud800\\u0041\"", "\"a\nb\"", "[1] [2]", "NaN", "Infinity", "+1",
    ] {
        assert!(p(bad).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn bounds_depth_without_overflowing_the_stack() {
    let deep = "[".repeat(100_000);
    let e = p(&deep).unwrap_err();
    assert!(e.message.contains("nested too deeply"), "{e}");
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(p(&ok).is_ok());
}

#[test]
fn objects_hand_out_fields_with_paths() {
    let v = p(r#"{"a":"x","n":7,"b":true,"z":null,"big":18446744073709551616,"neg":-1,"f":1.5}"#).unwrap();
    let mut o = Object::new(Input::Config, "idle", &v).unwrap();
    assert_eq!(o.string("a").unwrap(), Some("x"));
    assert_eq!(o.uint("n", 10).unwrap(), Some(7));
    assert_eq!(o.uint("n", 5).unwrap_err().field, "idle.n");
    assert_eq!(o.boolean("b").unwrap(), Some(true));
    assert_eq!(o.string("z").unwrap(), None);
    assert_eq!(o.uint("big", u64::MAX).unwrap_err().field, "idle.big");
    assert_eq!(o.uint("neg", u64::MAX).unwrap_err().field, "idle.neg");
    assert_eq!(o.uint("f", u64::MAX).unwrap_err().field, "idle.f");
    assert_eq!(o.require("missing").unwrap_err().field, "idle.missing");
    o.finish().unwrap();
    let v = p(r#"{"a":1,"extra":2}"#).unwrap();
    let mut o = Object::new(Input::Config, "", &v).unwrap();
    assert_eq!(o.string("a").unwrap_err().message, "expected a string");
    assert_eq!(o.finish().unwrap_err().field, "extra");
    let v = p(r#"{"a":1,"a":2}"#).unwrap();
    assert_eq!(Object::new(Input::Config, "", &v).unwrap().get("a").unwrap_err().message, "duplicate field");
}

#[test]
fn writer_escapes_everything_it_must() {
    let s = ObjectWriter::new().string("k\"", Some("a\u{1}b\u{2028}")).uint("n", Some(u64::MAX)).uint("m", None).boolean("t", true).raw("r", Some("[1]")).finish();
    assert_eq!(s, "{\"k\\\"\":\"a\\u0001b\\u2028\",\"n\":18446744073709551615,\"m\":null,\"t\":true,\"r\":[1]}");
    assert_eq!(round(&s), s);
}

#[test]
fn random_bytes_never_panic() {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let alphabet = b"{}[]\",:\\u0123456789abcdefe.-+ tnrl\xc3\xa9";
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 40) as usize;
        let bytes: Vec<u8> = (0..len).map(|i| alphabet[((x >> (i % 56)) as usize + i * 7) % alphabet.len()]).collect();
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = p(s);
        }
    }
}

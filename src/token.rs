//! Token endpoint responses: the tokens are taken out, the rest goes on to the page.
//!
//! A response is untrusted input: it must be a JSON object whose token fields are
//! header-safe strings of bounded size; anything else is an error and changes nothing.

use crate::config::TokenFields;
use crate::encode::{all_bytes, parse_u64, split_at_byte};
use crate::error::{Input, InputError, Refused};
use crate::json::{self, Object, Value};

/// The largest token response accepted, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// The longest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The longest lifetime believed: ten years.
pub const MAX_EXPIRES_IN_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// What a successful token response carried.
#[derive(Clone, Debug)]
pub struct Tokens {
    /// The access token.
    pub access_token: String,
    /// The refresh token, when the server sent one (rotation).
    pub refresh_token: Option<String>,
    /// The lifetime in milliseconds, when the server said.
    pub expires_in_ms: Option<u64>,
    /// The user info, as JSON text.
    pub user: Option<String>,
}

/// Takes the tokens out of `body`. Returns them and the body the page may see: the same
/// object without the access and refresh token fields.
pub fn take_tokens(body: &str, fields: &TokenFields) -> Result<(Tokens, String), InputError> {
    read(body, fields).map_err(|e| *e)
}

fn read(body: &str, fields: &TokenFields) -> Result<(Tokens, String), Refused> {
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(err("", "larger than 256 KiB"));
    }
    let doc = json::parse(Input::TokenResponse, body)?;
    let mut o = Object::new(Input::TokenResponse, "", &doc)?;
    let access_token = token(o.get(&fields.access_token)?.ok_or_else(|| err(&fields.access_token, "missing"))?, &fields.access_token)?;
    let refresh_token = match o.get(&fields.refresh_token)? {
        None => None,
        Some(v) => Some(token(v, &fields.refresh_token)?),
    };
    // The page still sees these two; they are read, not taken.
    let mut expires_in_ms = None;
    let mut user = None;
    // Written as it is read (as `push_value` writes an object), not cloned into a new tree:
    // the clone was half a kilobyte of the shipped wasm.
    let mut page_body = String::from("{");
    let mut next = 0;
    while let Some((i, name, value)) = o.untaken(next) {
        next = i + 1;
        if name == fields.expires_in && !matches!(value, Value::Null) {
            expires_in_ms = Some(expires_in(value, &fields.expires_in)?);
        }
        if fields.user.as_deref() == Some(name) && !matches!(value, Value::Null) {
            let mut raw = String::new();
            json::push_value(&mut raw, value);
            user = Some(raw);
        }
        if page_body.len() > 1 {
            page_body.push(',');
        }
        json::push_string(&mut page_body, name);
        page_body.push(':');
        json::push_value(&mut page_body, value);
    }
    page_body.push('}');
    Ok((Tokens { access_token, refresh_token, expires_in_ms, user }, page_body))
}

fn err(field: &str, message: &str) -> Refused {
    InputError::boxed(Input::TokenResponse, field.to_string(), message)
}

fn token(v: &Value<'_>, field: &str) -> Result<String, Refused> {
    let Value::String(s) = v else { return Err(err(field, "expected a string")) };
    if s.is_empty() || s.len() > MAX_TOKEN_BYTES {
        return Err(err(field, "expected a non-empty string of at most 16 KiB"));
    }
    // It goes into an Authorization header: visible ASCII only.
    if !all_bytes(s, |b| (0x21..0x7f).contains(&b)) {
        return Err(err(field, "expected visible ASCII characters only"));
    }
    Ok(s.to_string())
}

fn expires_in(v: &Value<'_>, field: &str) -> Result<u64, Refused> {
    // Some servers send the number as a string; fractions are cut.
    let text = match v {
        Value::Number(n) => *n,
        Value::String(s) => s.as_ref(),
        _ => return Err(err(field, "expected a number of seconds")),
    };
    let whole = split_at_byte(text, b'.', false).map_or(text, |(w, frac)| if all_bytes(frac, |b| b.is_ascii_digit()) { w } else { "x" });
    match parse_u64(whole) {
        Some(seconds) if seconds <= MAX_EXPIRES_IN_SECONDS => Ok(seconds * 1000),
        Some(_) => Err(err(field, "expected at most ten years of seconds")),
        None => Err(err(field, "expected a number of seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> TokenFields {
        TokenFields { access_token: "access_token".into(), refresh_token: "refresh_token".into(), expires_in: "expires_in".into(), user: Some("user".into()) }
    }

    #[test]
    fn takes_tokens_and_keeps_the_rest() {
        let (t, page) = take_tokens(r#"{"access_token":"AT1","refresh_token":"RT1","expires_in":300,"token_type":"Bearer","user":{"name":"ada"}}"#, &fields()).unwrap();
        assert_eq!(t.access_token, "AT1");
        assert_eq!(t.refresh_token.as_deref(), Some("RT1"));
        assert_eq!(t.expires_in_ms, Some(300_000));
        assert_eq!(t.user.unwrap(), r#"{"name":"ada"}"#);
        assert!(!page.contains("AT1") && !page.contains("RT1"), "{page}");
        assert!(page.contains(r#""token_type":"Bearer""#) && page.contains("ada"));
    }

    #[test]
    fn expiry_may_be_a_string_or_absent() {
        let (t, _) = take_tokens(r#"{"access_token":"a","expires_in":"60"}"#, &fields()).unwrap();
        assert_eq!(t.expires_in_ms, Some(60_000));
        let (t, _) = take_tokens(r#"{"access_token":"a"}"#, &fields()).unwrap();
        assert_eq!((t.expires_in_ms, t.refresh_token), (None, None));
    }

    #[test]
    fn malformed_responses_name_the_field() {
        let f = fields();
        let field = |b: &str| take_tokens(b, &f).unwrap_err().field;
        assert_eq!(field(r#"{"refresh_token":"r"}"#), "access_token");
        assert_eq!(field(r#"{"access_token":7}"#), "access_token");
        assert_eq!(field(r#"{"access_token":""}"#), "access_token");
        assert_eq!(field(r#"{"access_token":"a b"}"#), "access_token");
        assert_eq!(field(r#"{"access_token":"a\r\nX-Evil: 1"}"#), "access_token");
        assert_eq!(field(r#"{"access_token":"a","refresh_token":{}}"#), "refresh_token");
        assert_eq!(field(r#"{"access_token":"a","expires_in":-1}"#), "expires_in");
        assert_eq!(field(r#"{"access_token":"a","expires_in":1e300}"#), "expires_in");
        assert_eq!(field(r#"{"access_token":"a","expires_in":99999999999999999999999}"#), "expires_in");
        assert_eq!(field(&format!(r#"{{"access_token":"{}"}}"#, "a".repeat(MAX_TOKEN_BYTES + 1))), "access_token");
        for junk in ["", "[]", "null", "{", "\"a\"", &"[".repeat(100_000)] {
            assert!(take_tokens(junk, &f).is_err());
        }
    }
}

//! The demo OAuth 2.0 authorization server: `/oauth/authorize` (auto-approves `ada`) and
//! `/oauth/token` (authorization code with PKCE S256, and refresh-token rotation).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::Method;
use serde_json::json;

use crate::random;
use crate::reply::{self, Resp};
use crate::request::Req;
use crate::sessions::{Issued, RefreshError};
use crate::state::Shared;

/// The one registered client, a public SPA client.
pub const CLIENT_ID: &str = "spa";
/// The user `/oauth/authorize` approves without asking.
const AUTO_USER: &str = "ada";
const CODE_LIFETIME_MS: u64 = 60_000;

/// A pending authorization code.
#[derive(Debug, Clone)]
pub struct AuthCode {
    pub redirect_uri: String,
    pub challenge: String,
    pub user: String,
    pub expires_at_ms: u64,
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Z a-z 0-9 - . _ ~]`.
pub fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL(SHA256(verifier)) == challenge`.
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    if !valid_verifier(verifier) {
        return false;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let expected = URL_SAFE_NO_PAD.encode(digest.as_ref());
    // Compare without an early exit.
    expected.len() == challenge.len()
        && expected.bytes().zip(challenge.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// A redirect URI on this very origin: `https://<host>:<port>/…`, no fragment.
pub fn same_origin_redirect(uri: &str, host: &str, port: u16) -> bool {
    let prefix = format!("https://{host}:{port}/");
    uri.len() >= prefix.len()
        && uri.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(&prefix))
        && !uri.contains('#')
        && !uri.chars().any(|c| c.is_ascii_control() || c == ' ')
}

/// `GET /oauth/authorize`.
pub fn authorize(shared: &Shared, req: &Req) -> Resp {
    if req.method != Method::GET {
        return reply::method_not_allowed();
    }
    let q = req.query_params();
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let redirect_uri = get("redirect_uri");
    // Bad client or redirect URI: tell the user agent, never redirect (RFC 6749 §4.1.2.1).
    if !same_origin_redirect(redirect_uri, &req.host, shared.setup.ports.app) {
        return reply::error(400, "invalid_redirect_uri");
    }
    if get("client_id") != CLIENT_ID {
        return reply::error(400, "invalid_client");
    }
    let state = q.get("state");
    let error = if get("response_type") != "code" {
        Some("unsupported_response_type")
    } else if get("code_challenge_method") != "S256" || get("code_challenge").len() != 43 {
        Some("invalid_request")
    } else {
        None
    };
    let mut params = form_urlencoded::Serializer::new(String::new());
    if let Some(error) = error {
        params.append_pair("error", error);
    } else {
        let code = match random::token("code_") {
            Ok(code) => code,
            Err(_) => return reply::error(500, "server_error"),
        };
        let now = shared.now_ms();
        let mut st = shared.lock();
        st.codes.retain(|_, c| c.expires_at_ms > now);
        st.codes.insert(
            code.clone(),
            AuthCode {
                redirect_uri: redirect_uri.to_string(),
                challenge: get("code_challenge").to_string(),
                user: AUTO_USER.to_string(),
                expires_at_ms: now + CODE_LIFETIME_MS,
            },
        );
        params.append_pair("code", &code);
    }
    if let Some(state) = state {
        params.append_pair("state", state);
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    reply::redirect(&format!("{redirect_uri}{sep}{}", params.finish()))
}

/// `POST /oauth/token`.
pub async fn token(shared: &Shared, req: &Req) -> Resp {
    if req.method != Method::POST {
        return reply::method_not_allowed();
    }
    let form = req.form();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let resp = match get("grant_type") {
        "authorization_code" => code_grant(shared, get("code"), get("code_verifier"), get("client_id"), get("redirect_uri")),
        "refresh_token" => {
            // Without `refresh_token` in the body, the HttpOnly cookie speaks (a worker that
            // lost its memory-held tokens).
            let (refresh_token, by_cookie) = match get("refresh_token") {
                "" => (req.cookie(reply::REFRESH_COOKIE).unwrap_or(""), true),
                body => (body, false),
            };
            refresh_grant(shared, refresh_token, form.get("client_id").map(String::as_str), by_cookie).await
        }
        "" => reply::error(400, "invalid_request"),
        _ => reply::error(400, "unsupported_grant_type"),
    };
    reply::no_store(resp)
}

fn code_grant(shared: &Shared, code: &str, verifier: &str, client_id: &str, redirect_uri: &str) -> Resp {
    let now = shared.now_ms();
    let mut st = shared.lock();
    st.counters.token += 1;
    if client_id != CLIENT_ID {
        return reply::error(401, "invalid_client");
    }
    // Codes are single-use: taken out whatever the outcome.
    let Some(pending) = st.codes.remove(code) else {
        return reply::error(400, "invalid_grant");
    };
    if pending.expires_at_ms <= now
        || pending.redirect_uri != redirect_uri
        || !pkce_s256_matches(verifier, &pending.challenge)
    {
        return reply::error(400, "invalid_grant");
    }
    let Ok(tokens) = random::token_pair() else {
        return reply::error(500, "server_error");
    };
    let lifetime = st.settings.expires_in;
    let issued = st.sessions.login(&pending.user, tokens, now, lifetime);
    st.remember(&issued.access_token, &issued.refresh_token);
    reply::refresh_cookie(reply::json(200, &oauth_body(&issued)), Some(&issued.refresh_token))
}

async fn refresh_grant(shared: &Shared, refresh_token: &str, client_id: Option<&str>, by_cookie: bool) -> Resp {
    let (delay, forced) = {
        let mut st = shared.lock();
        st.counters.refresh += 1;
        if by_cookie && !refresh_token.is_empty() {
            st.counters.refresh_by_cookie += 1;
        }
        (st.settings.refresh_delay_ms, st.settings.refresh_status)
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if let Some(status) = forced {
        let code = if matches!(status, 400 | 401) { "invalid_grant" } else { "server_error" };
        return reply::error(status, code);
    }
    if client_id.is_some_and(|c| c != CLIENT_ID) {
        return reply::error(401, "invalid_client");
    }
    if refresh_token.is_empty() {
        return reply::error(400, "invalid_request");
    }
    let Ok(tokens) = random::token_pair() else {
        return reply::error(500, "server_error");
    };
    let now = shared.now_ms();
    let mut st = shared.lock();
    let lifetime = st.settings.expires_in;
    match st.sessions.refresh(refresh_token, tokens, now, lifetime) {
        Ok(issued) => {
            st.remember(&issued.access_token, &issued.refresh_token);
            // Rotation applies to the cookie too.
            reply::refresh_cookie(reply::json(200, &oauth_body(&issued)), Some(&issued.refresh_token))
        }
        Err(e) => {
            if e == RefreshError::Reused {
                st.counters.refresh_reuse += 1;
            }
            reply::error(400, "invalid_grant")
        }
    }
}

fn oauth_body(issued: &Issued) -> serde_json::Value {
    json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn pkce_rfc_vector() {
        assert!(pkce_s256_matches(VERIFIER, CHALLENGE));
        assert!(!pkce_s256_matches(VERIFIER, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
        assert!(!pkce_s256_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", CHALLENGE));
        // Plain (verifier == challenge) is not accepted.
        assert!(!pkce_s256_matches(CHALLENGE, CHALLENGE));
    }

    #[test]
    fn verifier_syntax() {
        assert!(!valid_verifier("short"));
        assert!(!valid_verifier(&"a".repeat(129)));
        assert!(valid_verifier(&"a".repeat(128)));
        assert!(!valid_verifier(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn redirect_must_stay_on_origin() {
        let ok = |u: &str| same_origin_redirect(u, "localhost", 8443);
        assert!(ok("https://localhost:8443/login/callback?x=1"));
        assert!(ok("https://localhost:8443/"));
        assert!(!ok("https://localhost:8443"));
        assert!(!ok("https://localhost:8443@evil.test/"));
        assert!(!ok("https://localhost:84430/"));
        assert!(!ok("https://localhost.evil.test:8443/"));
        assert!(!ok("http://localhost:8443/"));
        assert!(!ok("https://localhost:8444/"));
        assert!(!ok("https://localhost:8443/#frag"));
        assert!(!ok("//evil.test/"));
    }
}

//! One incoming request, read whole (bodies are small here) and checked once, so routes
//! work on plain data and never on anything that can fail later.

use std::collections::HashMap;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, AUTHORIZATION, HOST};
use hyper::{Method, Request};

use crate::reply::{self, Resp};

/// Largest body we read; more gets `413`.
const MAX_BODY: usize = 1 << 20;

#[derive(Debug)]
pub struct Req {
    pub method: Method,
    /// The path as sent (still percent-encoded), without the query.
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Host name from the URI authority (HTTP/2) or the Host header, without the port.
    pub host: String,
}

impl Req {
    /// Reads the request; a malformed one gets its error response instead.
    pub async fn read(req: Request<Incoming>) -> Result<Req, Resp> {
        let (parts, body) = req.into_parts();
        let authority = parts
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| parts.headers.get(HOST).and_then(|h| h.to_str().ok()).map(str::to_string))
            .ok_or_else(|| reply::error(400, "missing_host"))?;
        let host = host_of(&authority).ok_or_else(|| reply::error(400, "bad_host"))?;
        // A declared length over the limit is refused before reading anything.
        if hyper::body::Body::size_hint(&body).lower() > MAX_BODY as u64 {
            return Err(reply::error(413, "body_too_large"));
        }
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(reply::error(413, "body_too_large"))
            }
            Err(_) => return Err(reply::error(400, "bad_body")),
        };
        Ok(Req {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            headers: parts.headers,
            body,
            host,
        })
    }

    /// A header as text, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The token of `Authorization: Bearer <token>`.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.headers.get(AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }

    /// The value of cookie `name` (HTTP/2 may split `Cookie` into several headers).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(hyper::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty())
    }

    /// Query parameters (first occurrence wins).
    pub fn query_params(&self) -> HashMap<String, String> {
        pairs(self.query.as_bytes())
    }

    /// `application/x-www-form-urlencoded` body parameters (first occurrence wins).
    pub fn form(&self) -> HashMap<String, String> {
        pairs(&self.body)
    }
}

fn pairs(input: &[u8]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (k, v) in form_urlencoded::parse(input) {
        map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    map
}

/// `example.test:8443` → `example.test`, `[::1]:8443` → `[::1]`. Refuses anything that is
/// not a plain host name or IP literal: the host is pasted into URLs and JSON.
pub fn host_of(authority: &str) -> Option<String> {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        let ok = !inside.is_empty() && inside.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        return (ok && port_ok).then(|| format!("[{inside}]"));
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) if is_port(port) => h,
            Some(_) => return None,
            None => authority,
        }
    };
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    ok.then(|| host.to_ascii_lowercase())
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn hosts() {
        assert_eq!(host_of("localhost:8443").as_deref(), Some("localhost"));
        assert_eq!(host_of("App1.Example.Test").as_deref(), Some("app1.example.test"));
        assert_eq!(host_of("[::1]:8443").as_deref(), Some("[::1]"));
        assert_eq!(host_of("127.0.0.1:1").as_deref(), Some("127.0.0.1"));
        for bad in ["", ":8443", "a\"b:1", "a:b", "[::1", "[zz]:1", "a b", "[::1]x"] {
            assert_eq!(host_of(bad), None, "{bad:?}");
        }
    }
}

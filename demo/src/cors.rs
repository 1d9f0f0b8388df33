//! CORS for the API and "other" origins: which page origins may call them.

use crate::reply::{self, Resp};

/// True for `http(s)://` origins on localhost, 127.0.0.1, [::1], example.test or any
/// `*.example.test` — exact host match, so look-alikes such as
/// `api.example.test.evil.test` or `evilexample.test` are refused.
pub fn origin_allowed(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")) else {
        return false;
    };
    if rest.contains(['/', '@', '?', '#']) {
        return false;
    }
    let Some(host) = crate::request::host_of(rest) else {
        return false;
    };
    matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]" | "example.test")
        || host.strip_suffix(".example.test").is_some_and(|sub| sub.split('.').all(|label| !label.is_empty()))
}

/// Adds the CORS headers when the request's `Origin` is allowed.
pub fn decorate(mut resp: Resp, origin: Option<&str>) -> Resp {
    reply::set(&mut resp, "vary", "Origin");
    if let Some(origin) = origin.filter(|o| origin_allowed(o)) {
        reply::set(&mut resp, "access-control-allow-origin", origin);
        reply::set(&mut resp, "access-control-allow-credentials", "true");
        reply::set(&mut resp, "access-control-expose-headers", "content-type, www-authenticate");
    }
    resp
}

/// Answer to an `OPTIONS` preflight: `204` with the allowances (only for allowed origins).
pub fn preflight(origin: Option<&str>) -> Resp {
    let mut resp = reply::empty(204);
    if origin.is_some_and(origin_allowed) {
        reply::set(&mut resp, "access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
        reply::set(&mut resp, "access-control-allow-headers", "authorization, content-type");
        reply::set(&mut resp, "access-control-max-age", "600");
    }
    decorate(resp, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_origins() {
        for ok in [
            "https://localhost:8443",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "https://[::1]:8443",
            "https://app1.example.test:8443",
            "https://APP2.example.test",
            "https://example.test",
        ] {
            assert!(origin_allowed(ok), "{ok}");
        }
    }

    #[test]
    fn refused_origins() {
        for bad in [
            "null",
            "",
            "https://api.example.test.evil.test",
            "https://evilexample.test",
            "https://.example.test",
            "https://a..example.test",
            "https://localhost.evil.test",
            "https://evil.test",
            "https://localhost@evil.test",
            "https://evil.test/.example.test",
            "ftp://localhost",
            "https://127.0.0.2",
            "https://localhost:8443/",
        ] {
            assert!(!origin_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn preflight_only_allows_known_origins() {
        let ok = preflight(Some("https://localhost:8443"));
        assert_eq!(ok.status().as_u16(), 204);
        assert_eq!(ok.headers().get("access-control-allow-origin").map(|v| v.as_bytes()), Some(&b"https://localhost:8443"[..]));
        assert!(ok.headers().get("access-control-allow-headers").is_some());
        let bad = preflight(Some("https://evil.test"));
        assert!(bad.headers().get("access-control-allow-origin").is_none());
    }
}

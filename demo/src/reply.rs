//! Building responses. Nothing here can panic: bad status codes become 500 and header
//! values that are not valid are dropped (callers that pass outside data check first).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};

pub type Resp = Response<Full<Bytes>>;

/// A response with a status and a body.
pub fn with_body(status: u16, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    set(&mut resp, CONTENT_TYPE.as_str(), content_type);
    resp
}

pub fn json(status: u16, value: &serde_json::Value) -> Resp {
    with_body(status, "application/json", value.to_string())
}

/// `{"error": code}`.
pub fn error(status: u16, code: &str) -> Resp {
    json(status, &serde_json::json!({ "error": code }))
}

pub fn empty(status: u16) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp
}

pub fn not_found() -> Resp {
    error(404, "not_found")
}

pub fn method_not_allowed() -> Resp {
    error(405, "method_not_allowed")
}

/// `302` to `location`; `400` if it cannot be a header value.
pub fn redirect(location: &str) -> Resp {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut resp = empty(302);
            resp.headers_mut().insert(hyper::header::LOCATION, value);
            resp
        }
        Err(_) => error(400, "bad_redirect"),
    }
}

/// Sets (replaces) a header; invalid names or values are skipped.
pub fn set(resp: &mut Resp, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
        resp.headers_mut().insert(name, value);
    }
}

/// Dev-server caching: always revalidate, so rebuilt files show up at once.
pub fn no_cache(mut resp: Resp) -> Resp {
    resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Token responses must never be cached (RFC 6749 §5.1).
pub fn no_store(mut resp: Resp) -> Resp {
    resp.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().insert("pragma", HeaderValue::from_static("no-cache"));
    resp
}

/// The HttpOnly refresh cookie, sent only to `/oauth/*` (where the refresh grant lives).
pub const REFRESH_COOKIE: &str = "lockstep_demo_rt";

/// Sets the refresh cookie to `refresh_token` (`None`: deletes it).
pub fn refresh_cookie(mut resp: Resp, refresh_token: Option<&str>) -> Resp {
    let value = match refresh_token {
        Some(rt) => format!("{REFRESH_COOKIE}={rt}; Path=/oauth; Max-Age=2592000; HttpOnly; Secure; SameSite=Strict"),
        None => format!("{REFRESH_COOKIE}=; Path=/oauth; Max-Age=0; HttpOnly; Secure; SameSite=Strict"),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(hyper::header::SET_COOKIE, v);
    }
    resp
}

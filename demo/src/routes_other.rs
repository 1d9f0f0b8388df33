//! The "elsewhere" origin: answers anything, and counts whether a bearer token leaked here.

use hyper::Method;
use serde_json::json;

use crate::cors;
use crate::reply::{self, Resp};
use crate::request::Req;
use crate::state::Shared;

pub fn handle(shared: &Shared, req: &Req) -> Resp {
    let bearer = req.headers.contains_key(hyper::header::AUTHORIZATION);
    {
        let mut st = shared.lock();
        st.counters.other_total += 1;
        if bearer {
            st.counters.other_with_bearer += 1;
        }
    }
    let origin = req.header("origin");
    if req.method == Method::OPTIONS {
        return cors::preflight(origin);
    }
    let body = json!({ "origin": "other", "method": req.method.as_str(), "path": req.path, "bearer": bearer });
    let mut resp = cors::decorate(reply::json(200, &body), origin);
    if origin == Some("null") {
        // After a cross-origin redirect (the API's `/v1/redirect-out`) the browser sends
        // `Origin: null`; this public landing page accepts it, so the page can read it.
        reply::set(&mut resp, "access-control-allow-origin", "null");
    }
    resp
}

//! The API origin: `/v1/*` behind a bearer token, with CORS for the demo's page origins.

use hyper::Method;
use serde_json::json;

use crate::reply::{self, Resp};
use crate::request::Req;
use crate::state::Shared;
use crate::{cors, lockstep_config};

pub fn handle(shared: &Shared, req: &Req) -> Resp {
    let origin = req.header("origin");
    if req.method == Method::OPTIONS {
        return cors::preflight(origin);
    }
    cors::decorate(route(shared, req), origin)
}

fn route(shared: &Shared, req: &Req) -> Resp {
    let Some(endpoint) = req.path.strip_prefix("/v1/") else {
        return reply::not_found();
    };
    let user = {
        let now = shared.now_ms();
        let mut st = shared.lock();
        if st.revoked_all {
            st.counters.api_after_revoke += 1;
        }
        let user = req.bearer().and_then(|token| st.sessions.user_for(token, now)).map(str::to_string);
        if user.is_none() {
            st.counters.api401 += 1;
        }
        user
    };
    let Some(user) = user else {
        let mut resp = reply::error(401, "unauthorized");
        reply::set(&mut resp, "www-authenticate", "Bearer realm=\"lockstep-demo\"");
        return resp;
    };
    match (&req.method, endpoint) {
        (&Method::GET, "me") => reply::json(200, &json!({ "user": { "name": user } })),
        (&Method::GET, "items") => reply::json(
            200,
            &json!({ "items": [
                { "id": 1, "name": "Analytical Engine" },
                { "id": 2, "name": "Difference Engine" },
                { "id": 3, "name": "Bombe" }
            ], "user": { "name": user } }),
        ),
        (&Method::POST, "echo") => {
            let content_type = req.header("content-type").unwrap_or("application/octet-stream");
            reply::with_body(200, content_type, req.body.clone())
        }
        (&Method::GET, "redirect-out") => {
            let target = lockstep_config::other_origin(&req.host, &shared.setup.ports);
            reply::redirect(&format!("{target}/landing"))
        }
        (_, "me" | "items" | "echo" | "redirect-out") => reply::method_not_allowed(),
        _ => reply::not_found(),
    }
}

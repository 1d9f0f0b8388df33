//! The API origin: `/v1/*` behind a bearer token, with CORS for the demo's page origins.

use hyper::Method;
use serde_json::json;

use crate::reply::{self, Resp};
use crate::request::Req;
use crate::state::Shared;
use crate::{cors, lockstep_config};

pub async fn handle(shared: &Shared, req: &Req) -> Resp {
    let origin = req.header("origin");
    if req.method == Method::OPTIONS {
        return cors::preflight(origin);
    }
    cors::decorate(route(shared, req).await, origin)
}

struct Parked<'a>(&'a Shared);

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.counters.parked401 = st.counters.parked401.saturating_sub(1);
    }
}

/// What to do with a request that gets a 401.
enum Unauthorized {
    Now,
    /// `hold401`: wait for `release-401` (or for the server to drop the waker).
    Held(tokio::sync::oneshot::Receiver<()>),
}

async fn route(shared: &Shared, req: &Req) -> Resp {
    let Some(endpoint) = req.path.strip_prefix("/v1/") else {
        return reply::not_found();
    };
    let (user, unauthorized) = {
        let now = shared.now_ms();
        let mut st = shared.lock();
        if st.revoked_all {
            st.counters.api_after_revoke += 1;
            if st.first_401_sent {
                st.counters.api_after_first401 += 1;
            }
        }
        if st.sessions.last_live() == Some(true) {
            match req.bearer().map(|t| st.sessions.check(t, now)) {
                None => st.counters.live_no_bearer += 1,
                Some(crate::sessions::TokenCheck::Stale) => st.counters.live_stale_bearer += 1,
                Some(_) => {}
            }
        }
        let user = req.bearer().and_then(|token| st.sessions.user_for(token, now)).map(str::to_string);
        if let Some(id) = req.query_params().get("id") {
            // Processed (authorized) arrivals per id; refused ones (401) only counted.
            if user.is_some() {
                *st.request_ids.entry(id.clone()).or_default() += 1;
            } else {
                st.refused_ids += 1;
            }
        }
        let mut unauthorized = Unauthorized::Now;
        if user.is_none() {
            st.counters.api401 += 1;
            if st.settings.hold401 {
                let (waker, wait) = tokio::sync::oneshot::channel();
                st.parked.push_back(waker);
                st.counters.parked401 += 1;
                unauthorized = Unauthorized::Held(wait);
            } else if st.revoked_all && !st.first_401_sent {
                // Marked before the answer leaves: a request arriving later is counted.
                st.first_401_sent = true;
                st.counters.first401_at = Some(crate::state::unix_ms());
            }
        }
        (user, unauthorized)
    };
    if let Unauthorized::Held(wait) = unauthorized {
        // Counted down even when the client goes away while held (the future is dropped).
        let _parked = Parked(shared);
        let _ = wait.await;
    }
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

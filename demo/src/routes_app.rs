//! The app origin: pages, Lockstep's `dist/`, the config, the custom login/logout API and
//! the OAuth endpoints.

use hyper::Method;
use serde::Deserialize;
use serde_json::json;

use crate::reply::{self, Resp};
use crate::request::Req;
use crate::state::Shared;
use crate::{lockstep_config, oauth, random, static_files};

/// Demo users: name → password.
const USERS: &[(&str, &str)] = &[("ada", "lovelace"), ("alan", "turing")];

/// Directories whose every sub-path serves their `index.html` (SPA style).
const PAGES: &[&str] = &["app1", "app2", "login", "plain"];

pub async fn handle(shared: &Shared, req: &Req) -> Resp {
    match req.path.as_str() {
        "/api/login" => login(shared, req),
        "/api/logout" => logout(shared, req),
        "/oauth/authorize" => oauth::authorize(shared, req),
        "/oauth/token" => oauth::token(shared, req).await,
        "/lockstep.config.json" => config(shared, req),
        _ => files(shared, req).await,
    }
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// `POST /api/login` with JSON (or form) `{"username","password"}`.
fn login(shared: &Shared, req: &Req) -> Resp {
    if req.method != Method::POST {
        return reply::method_not_allowed();
    }
    shared.lock().counters.login += 1;
    if shared.lock().settings.require_worker_header && req.header("lockstep-worker") != Some("1") {
        // Not through the worker: the tokens in the answer would reach page script.
        shared.lock().counters.login_without_worker += 1;
        return reply::error(403, "not_through_worker");
    }
    let credentials = serde_json::from_slice::<Credentials>(&req.body).ok().or_else(|| {
        let form = req.form();
        Some(Credentials { username: form.get("username")?.clone(), password: form.get("password")?.clone() })
    });
    let Some(c) = credentials else {
        return reply::error(400, "invalid_request");
    };
    if !USERS.iter().any(|(u, p)| *u == c.username && *p == c.password) {
        return reply::error(401, "invalid_credentials");
    }
    if let Some(bad) = shared.lock().settings.login_response {
        // A broken token server (test hook): a 200 whose body is not a valid token response.
        return reply::no_store(reply::with_body(200, "application/json", bad.body()));
    }
    let Ok(tokens) = random::token_pair() else {
        return reply::error(500, "server_error");
    };
    let now = shared.now_ms();
    let mut st = shared.lock();
    let lifetime = st.settings.expires_in;
    let issued = st.sessions.login(&c.username, tokens, now, lifetime);
    st.remember(&issued.access_token, &issued.refresh_token);
    st.counters.last_login_at = Some(crate::state::unix_ms_fine());
    let resp = reply::json(
        200,
        &json!({
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
            "expires_in": issued.expires_in,
            "token_type": "Bearer",
            "user": { "name": issued.user },
        }),
    );
    reply::no_store(reply::refresh_cookie(resp, Some(&issued.refresh_token)))
}

/// `/api/logout` (any method, bearer optional): revokes that session, `204`.
fn logout(shared: &Shared, req: &Req) -> Resp {
    let mut st = shared.lock();
    st.counters.logout += 1;
    if req.bearer().is_none() {
        st.counters.logout_without_bearer += 1;
    }
    if let Some(status) = st.settings.logout_status {
        // A forced failure leaves the session alone.
        return if (200..300).contains(&status) { reply::empty(status) } else { reply::error(status, "server_error") };
    }
    if let Some(token) = req.bearer() {
        st.sessions.logout(token);
    }
    // The refresh cookie is scoped to /oauth and not sent here; it is revoked with the
    // session anyway, and cleared.
    reply::refresh_cookie(reply::empty(204), None)
}

fn config(shared: &Shared, req: &Req) -> Resp {
    if !matches!(req.method, Method::GET | Method::HEAD) {
        return reply::method_not_allowed();
    }
    let body = {
        let st = shared.lock();
        lockstep_config::render(st.config_override.as_deref(), &req.host, &shared.setup.ports)
    };
    reply::no_cache(reply::with_body(200, "application/json", body))
}

async fn files(shared: &Shared, req: &Req) -> Resp {
    if !matches!(req.method, Method::GET | Method::HEAD) {
        return reply::method_not_allowed();
    }
    let setup = &shared.setup;
    let path = req.path.as_str();
    // `/lockstep-sw.js` → `dist/lockstep-sw.js`, `/lockstep/x` → `dist/x`.
    let in_dist = if path == "/lockstep-sw.js" {
        Some(path)
    } else {
        path.strip_prefix("/lockstep").filter(|rest| rest.starts_with('/'))
    };
    if let Some(rest) = in_dist {
        return match static_files::serve(&setup.dist, rest).await {
            Some(resp) => resp,
            None => reply::json(
                404,
                &json!({ "error": "not_found",
                         "hint": format!("{} has no {rest}: build Lockstep first (scripts/build.sh)", setup.dist.display()) }),
            ),
        };
    }
    if let Some(resp) = static_files::serve(&setup.static_dir, path).await {
        return resp;
    }
    // Any path below a page directory serves that page.
    let page = PAGES.iter().find(|p| {
        path.strip_prefix('/').and_then(|r| r.strip_prefix(**p)).is_some_and(|r| r.is_empty() || r.starts_with('/'))
    });
    if let Some(page) = page {
        if let Some(resp) = static_files::serve(&setup.static_dir, &format!("/{page}/index.html")).await {
            return resp;
        }
    }
    reply::not_found()
}

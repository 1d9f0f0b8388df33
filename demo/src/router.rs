//! Every request comes through here: read it, count it, hand it to its origin's routes,
//! log one line.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use http_body_util::Full;
use hyper::body::Body;
use hyper::header::{HeaderValue, CONTENT_LENGTH};
use hyper::{Method, Request};

use crate::reply::Resp;
use crate::request::Req;
use crate::state::{Role, Shared};
use crate::{routes_api, routes_app, routes_other, test_hooks};

pub async fn handle(shared: Arc<Shared>, role: Role, request: Request<Incoming>) -> Resp {
    let started = Instant::now();
    let method = request.method().clone();
    let raw_path = request.uri().path().to_string();
    let (resp, host, bearer) = match Req::read(request).await {
        Ok(req) => {
            let resp = route(&shared, role, &req).await;
            (resp, req.host.clone(), req.bearer().is_some())
        }
        Err(resp) => (resp, "?".to_string(), false),
    };
    let resp = if method == Method::HEAD { without_body(resp) } else { resp };
    if !shared.setup.quiet {
        let port = shared.setup.ports.of(role);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        eprintln!(
            "{:<5} {:<7} {host}:{port} {raw_path} {} bearer={} {ms:.1}ms",
            role.name(),
            method.as_str(),
            resp.status().as_u16(),
            if bearer { "yes" } else { "no" },
        );
    }
    resp
}

/// HEAD: same headers, declared length, no body (hyper's h2 would send the body).
fn without_body(resp: Resp) -> Resp {
    let (mut parts, body) = resp.into_parts();
    if let Some(len) = body.size_hint().exact() {
        parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    Resp::from_parts(parts, Full::default())
}

async fn route(shared: &Shared, role: Role, req: &Req) -> Resp {
    let is_hook = req.path.starts_with("/__test/");
    if is_hook && shared.setup.test_hooks {
        // Not counted: reading the counters must not change them.
        return test_hooks::handle(shared, req);
    }
    count(shared, role, req);
    match role {
        Role::App => routes_app::handle(shared, req).await,
        Role::Api => routes_api::handle(shared, req).await,
        Role::Other => routes_other::handle(shared, req),
    }
}

fn count(shared: &Shared, role: Role, req: &Req) {
    let port = shared.setup.ports.of(role);
    let mut st = shared.lock();
    *st.counters.requests.entry(format!("{port} {} {}", req.method, req.path)).or_default() += 1;
    if req.bearer().is_some() {
        *st.counters.bearer.entry(format!("{port} {}", req.path)).or_default() += 1;
    }
    if let Some(value) = req.header("authorization") {
        st.authorization.insert(format!("{port} {}", req.path), value.to_string());
    }
}

//! Fetch events the engine claimed: API calls (bearer, wait, block, replay), token
//! endpoints (tokens taken out), the logout endpoint, and the diagnostics route.

use std::cell::Cell;

use js_sys::{ArrayBuffer, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{AbortController, Headers, Request, RequestInit, RequestMode, Response, ResponseInit};

use super::{js, run_effects, waiters, with_engine};
use crate::engine::{Admission, Route, TokenVerdict, Verdict, REFRESH_WAIT_MS};

/// Answers a request the bootstrap handed over.
pub async fn handle(request: Request) -> Result<Response, JsValue> {
    let url = request.url();
    let route = with_engine(|e| e.route(&url, &request.method())).unwrap_or(Route::Other);
    let response = match route {
        Route::Other => network(&request).await,
        Route::State => state_response(),
        Route::Api => api(&request, false).await,
        Route::Logout => api(&request, true).await,
        Route::Token(i) => token(&request, i).await,
    };
    run_effects();
    response
}

async fn network(request: &Request) -> Result<Response, JsValue> {
    js::wait(js::scope()?.fetch_with_request(request)).await?.dyn_into().map_err(JsValue::from)
}

fn json_response(status: u16, body: &str, blocked: bool) -> Result<Response, JsValue> {
    // A plain record: the Response builds its Headers from it.
    let headers = js_sys::Object::new();
    js::set(&headers, "content-type", &JsValue::from_str("application/json"));
    js::set(&headers, "cache-control", &JsValue::from_str("no-store"));
    if blocked {
        js::set(&headers, "lockstep-blocked", &JsValue::from_str("1"));
    }
    let init: ResponseInit = js::object();
    js::set(&init, "status", &JsValue::from(status));
    js::set(&init, "headers", &headers);
    Response::new_with_opt_str_and_init(Some(body), &init)
}

fn state_response() -> Result<Response, JsValue> {
    let mut body = with_engine(|e| e.state_message(js::now(), "")).unwrap_or_default();
    // Diagnostics for the load test: the size of the wasm memory.
    if body.ends_with('}') {
        body.pop();
        body.push_str(",\"memoryBytes\":");
        body.push_str(&crate::encode::u64_text(js::memory_bytes()));
        body.push('}');
    }
    json_response(200, &body, false)
}

fn blocked() -> Result<Response, JsValue> {
    json_response(401, r#"{"error":"lockstep_blocked","message":"the session has ended; log in again"}"#, true)
}

thread_local! {
    /// API requests waiting for their response headers that the end of their session cancels.
    static CANCELLABLE: Cell<Vec<(u32, AbortController)>> = const { Cell::new(Vec::new()) };
    static NEXT_ID: Cell<u32> = const { Cell::new(0) };
}

/// `Effect::CancelRequests`: aborts every cancellable API request still waiting for its
/// response headers; each is then answered as blocked.
pub fn cancel_all() {
    for (_, c) in CANCELLABLE.take() {
        c.abort();
    }
}

/// Sends `request` with `init`; with `cancels`, cancellable by [`cancel_all`] until its
/// response headers arrive. `Ok(None)`: it was cancelled.
async fn send(request: &Request, init: &RequestInit, cancels: bool) -> Result<Option<Response>, JsValue> {
    let mut cancel = None;
    if cancels {
        let controller = AbortController::new()?;
        // Still follows the page's own abort, where the browser can combine signals.
        let both = js_sys::Array::of2(&request.signal(), &controller.signal());
        let signal = js::call(&js::get(&js_sys::global(), "AbortSignal"), "any", &both).map_or_else(|_| controller.signal(), JsCast::unchecked_into);
        js::set(init, "signal", &signal);
        let id = NEXT_ID.with(|n| n.replace(n.get().wrapping_add(1)));
        super::cell_update(&CANCELLABLE, |l| l.push((id, controller.clone())));
        cancel = Some((id, controller));
    }
    let result = network(&Request::new_with_request_and_init(request, init)?).await;
    if let Some((id, controller)) = cancel {
        super::cell_update(&CANCELLABLE, |l| l.retain(|(i, _)| *i != id));
        if result.is_err() && controller.signal().aborted() {
            return Ok(None);
        }
    }
    result.map(Some)
}

/// A copy of `request` with the bearer, and the body read once so it can be replayed.
fn with_bearer(request: &Request, body: &Option<ArrayBuffer>, token: &str) -> Result<RequestInit, JsValue> {
    let headers = Headers::new_with_headers(&request.headers())?;
    let mut bearer = String::with_capacity(token.len() + 7);
    bearer.push_str("Bearer ");
    bearer.push_str(token);
    headers.set("authorization", &bearer)?;
    let init: RequestInit = js::object();
    js::set(&init, "headers", &headers);
    if let Some(b) = body {
        js::set(&init, "body", b);
    }
    Ok(init)
}

/// Waits until a refresh settles, at most [`REFRESH_WAIT_MS`]; false when the wait ran out.
async fn refresh_settled() -> bool {
    // One promise for both: the waiters resolve it with `true`, the timer with `false`; the
    // first call wins (a race of two promises, without the second promise).
    let settled = Promise::new(&mut |resolve, _| {
        if let Ok(s) = js::scope() {
            let _ = s.set_timeout_with_callback_and_timeout_and_arguments_1(&resolve, REFRESH_WAIT_MS.min(i32::MAX as u64) as i32, &JsValue::FALSE);
        }
        waiters::push(resolve);
    });
    js::wait(settled).await.map(|v| v.is_truthy()).unwrap_or(false)
}

async fn api(request: &Request, is_logout: bool) -> Result<Response, JsValue> {
    let navigate = request.mode() == RequestMode::Navigate;
    let has_authorization = request.headers().has("authorization").unwrap_or(false);
    let method = request.method();
    let cancels = !is_logout && with_engine(|e| e.cancels_on_end(&method)).unwrap_or(false);
    let body = if method == "GET" || method == "HEAD" { None } else { Some(js::wait(request.clone()?.array_buffer()?).await?.dyn_into::<ArrayBuffer>()?) };
    let mut replayed = false;
    let mut replay_with: Option<(String, u64)> = None;
    // One wait and one pass-through send for every path that needs them: each await is a
    // state machine of its own. `late`: the response a timed-out wait delivers (none: 504).
    let mut wait = false;
    let mut late: Option<Response> = None;
    loop {
        if wait {
            wait = false;
            run_effects();
            if !refresh_settled().await {
                return match late {
                    Some(r) => Ok(r),
                    None => json_response(504, r#"{"error":"lockstep_refresh_timeout","message":"the token refresh did not finish in time"}"#, false),
                };
            }
            late = None;
        }
        let (token, generation) = match replay_with.take() {
            Some(t) => t,
            None => match with_engine(|e| e.admit(js::now(), navigate, has_authorization)).unwrap_or(Admission::PassThrough) {
                Admission::PassThrough => break,
                Admission::Block if is_logout => break,
                Admission::Block => return blocked(),
                Admission::Wait => {
                    wait = true;
                    continue;
                }
                Admission::Attach { token, generation } => (token, generation),
            },
        };
        let init = with_bearer(request, &body, &token)?;
        let Some(response) = send(request, &init, cancels).await? else { return blocked() };
        let status = response.status();
        if is_logout {
            if status < 500 {
                with_engine(|e| e.handle_logout_observed(js::now()));
            }
            return Ok(response);
        }
        match with_engine(|e| e.handle_api_response(js::now(), generation, status, replayed)).unwrap_or(Verdict::Deliver) {
            Verdict::Deliver => return Ok(response),
            Verdict::Replay { token, generation } => {
                replayed = true;
                replay_with = Some((token, generation));
            }
            Verdict::WaitThenReplay => {
                replayed = true;
                wait = true;
                late = Some(response);
            }
        }
    }
    network(request).await
}

async fn token(request: &Request, index: usize) -> Result<Response, JsValue> {
    // One send for both cases: each await of `network` is a state machine of its own.
    let marked = if with_engine(|e| e.marks_token_request(index)).unwrap_or(false) {
        let headers = Headers::new_with_headers(&request.headers())?;
        headers.set(crate::engine::WORKER_HEADER, "1")?;
        let init: RequestInit = js::object();
        js::set(&init, "headers", &headers);
        Some(Request::new_with_request_and_init(request, &init)?)
    } else {
        None
    };
    let response = network(marked.as_ref().unwrap_or(request)).await?;
    let status = response.status();
    if !(200..300).contains(&status) {
        return Ok(response);
    }
    let Some(text) = js::bounded_string(&js::wait(response.clone()?.text()?).await?, crate::token::MAX_RESPONSE_BYTES) else {
        // Refused before the copy into wasm memory (which never shrinks); the state is kept.
        return bad_token_response(&crate::error::InputError::new(crate::error::Input::TokenResponse, "", "larger than 256 KiB").text());
    };
    with_engine(|e| e.seed_marker(js::random8()));
    // Adopt a marker another app wrote since the last cookie event (none in some browsers).
    super::recheck_marker().await;
    match with_engine(|e| e.handle_token_response(js::now(), index, status, &text)).unwrap_or(TokenVerdict::PassThrough) {
        TokenVerdict::PassThrough => Ok(response),
        TokenVerdict::Replace(body) => json_response(status, &body, false),
        TokenVerdict::Refuse(e) => bad_token_response(&e.text()),
    }
}

/// 502 for a token response the worker refused.
fn bad_token_response(message: &str) -> Result<Response, JsValue> {
    let body = crate::json::ObjectWriter::new().string("error", Some("lockstep_bad_token_response")).string("message", Some(message)).finish();
    json_response(502, &body, false)
}

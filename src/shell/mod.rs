//! The wasm shell: service-worker events in, engine calls, effects out. No decisions live
//! here; every `if` about the session is in the engine.

mod clients;
mod config_cache;
mod cookies;
mod fetch;
mod handover;
mod js;
mod store;
mod waiters;

/// What the wasm-bindgen-test suites in `tests/` drive inside a real service worker; not API.
#[doc(hidden)]
pub mod testing {
    pub use super::clients::broadcast;
    pub use super::config_cache::load as load_config;
    pub use super::handover::{export_session, import_session};
    pub use super::start;
    pub use super::store::{load, save};

    /// Drops the engine, as a stopped worker does; the next `start` loads it again.
    pub fn unload() {
        super::ENGINE.with(|cell| *cell.borrow_mut() = None);
    }
}

use std::cell::{Cell, RefCell};

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use web_sys::{MessagePort, Request, Response};

use crate::config::Config;
use crate::engine::{Effect, Engine, Route};
use crate::origin::parse_url;
use crate::protocol::{encode_error, ErrorCode};

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    static LOAD_ERROR: Cell<Option<String>> = const { Cell::new(None) };
    static BACKGROUND: Cell<Vec<Promise>> = const { Cell::new(Vec::new()) };
    static DRAINING: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Runs `f` on the engine, if loaded. Never holds the borrow across an await.
pub(crate) fn with_engine<T>(f: impl FnOnce(&mut Engine) -> T) -> Option<T> {
    ENGINE.with(|cell| cell.try_borrow_mut().ok().and_then(|mut e| e.as_mut().map(f)))
}

/// Runs `f` on the value of a thread-local `Cell` (taken out and put back): no borrow flag,
/// so no panic path, unlike a `RefCell`. `f` must not touch the same cell.
pub(crate) fn cell_update<T: Default, R>(key: &'static std::thread::LocalKey<Cell<T>>, f: impl FnOnce(&mut T) -> R) -> R {
    key.with(|c| {
        let mut v = c.take();
        let r = f(&mut v);
        c.set(v);
        r
    })
}

fn debug_on() -> bool {
    with_engine(|e| e.config().debug).unwrap_or(false)
}

/// Loads config and persisted state. Called at the top level of every worker start (and
/// again, with `fresh`, at install). Effects wait for the first event once active.
///
/// `config` and `state`: the cached config text and the persisted state (a string, or null
/// for none) when the bootstrap already read them while the wasm loaded; `undefined` makes
/// the shell read them itself.
#[wasm_bindgen]
pub fn start(config_url: String, fresh: bool, config: JsValue, state: JsValue) -> Promise {
    promise(Box::pin(async move {
        if !fresh && with_engine(|_| ()).is_some() {
            return Ok(JsValue::UNDEFINED);
        }
        let result = load(&config_url, fresh, config.as_string(), (!state.is_undefined()).then(|| state.as_string())).await;
        LOAD_ERROR.set(result.as_ref().err().and_then(|v| v.as_string()));
        result.map(|()| JsValue::UNDEFINED)
    }))
}

/// A job for the JS side: every async export and background task goes through this one
/// `future_to_promise` instance. An `async fn` export instantiates it once per future type,
/// each with that future's state machine inlined (34 KB of the wasm, half of it duplicated,
/// by `twiggy monos`); boxed, they share one copy.
type Job = core::pin::Pin<Box<dyn core::future::Future<Output = Result<JsValue, JsValue>>>>;

fn promise(job: Job) -> Promise {
    wasm_bindgen_futures::future_to_promise(job)
}

async fn load(config_url: &str, fresh: bool, config: Option<String>, state: Option<Option<String>>) -> Result<(), JsValue> {
    let scope = js::scope()?;
    let here = parse_url(&scope.location().href()).map_err(|e| JsValue::from_str(e.message()))?;
    let config_url = crate::origin::resolve(&here.origin, config_url).map_err(|_| JsValue::from_str("lockstep: ?config= must be a path on the worker's origin"))?;
    if config_url.origin != here.origin {
        return Err(JsValue::from_str("lockstep: ?config= must be a path on the worker's origin"));
    }
    let text = match config {
        Some(text) if !fresh => text,
        _ => config_cache::load(&config_url.href(), fresh).await?,
    };
    let config = Config::parse(&text, &here.origin).map_err(|e| JsValue::from_str(&e.text()))?;
    let scope_path = parse_url(&scope.registration().scope()).map(|u| u.path).unwrap_or_else(|_| "/".into());
    let mut engine = Engine::new(config, &scope_path);
    let persisted = match state {
        Some(state) => state,
        None => store::load().await.unwrap_or(None),
    };
    if let Err(e) = engine.restore(js::now(), persisted.as_deref()) {
        js::debug(true, &e.text());
    }
    engine.seed_marker(js::random8());
    // Never borrowed here (no `with_engine` is running): the store cannot fail.
    ENGINE.with(|cell| cell.try_borrow_mut().map(|mut e| *e = Some(engine)).ok());
    if let Some(name) = marker_cookie() {
        sync_cookie(&name).await;
    }
    Ok(())
}

/// The cross-site marker cookie's name, when the config has one and the engine is loaded.
fn marker_cookie() -> Option<String> {
    with_engine(|e| e.config().cross_site.as_ref().map(|cs| cs.cookie_name.clone())).flatten()
}

async fn sync_cookie(name: &str) {
    if let Ok(value) = cookies::read(name).await {
        if let Some(Err(e)) = with_engine(|e| e.handle_cookie(js::now(), value.as_deref())) {
            js::debug(true, &e.text());
        }
    }
}

/// Activation: subscribe to the marker cookie and run what the restore queued.
#[wasm_bindgen]
pub fn activate() -> Promise {
    promise(Box::pin(async {
        if let Some(name) = marker_cookie() {
            let _ = cookies::subscribe(&name, &js::scope()?.registration().scope()).await;
        }
        run_effects();
        Ok(JsValue::UNDEFINED)
    }))
}

/// Sync: must the worker see navigations (for the cross-site cookie check)? Otherwise the
/// bootstrap routes them past the worker.
#[wasm_bindgen]
pub fn watches_navigations() -> bool {
    with_engine(|e| e.config().cross_site.is_some()).unwrap_or(true)
}

/// Sync: does the worker answer this request? Called for every non-navigation fetch.
#[wasm_bindgen]
pub fn wants(url: &str, method: &str) -> bool {
    with_engine(|e| e.route(url, method) != Route::Other).unwrap_or(false)
}

/// A fetch event the bootstrap handed over (after `wants` said yes).
#[wasm_bindgen]
pub fn handle_fetch(request: Request) -> Promise {
    promise(Box::pin(async move { fetch::handle(request).await.map(JsValue::from) }))
}

/// A navigation passed by (never held): with a cross-site marker, re-check the cookie.
#[wasm_bindgen]
pub fn saw_navigation() -> Promise {
    promise(recheck_job())
}

/// Re-reads the marker, then runs the effects: one future type for every caller.
fn recheck_job() -> Job {
    Box::pin(async {
        recheck_marker().await;
        run_effects();
        Ok(JsValue::UNDEFINED)
    })
}

/// With a cross-site marker, re-reads the cookie into the engine. Browsers without cookie
/// subscriptions rely on this: tabs message the worker when they are seen again.
pub(crate) async fn recheck_marker() {
    if let Some(name) = marker_cookie() {
        if cookies::supported() {
            sync_cookie(&name).await;
        }
    }
}

/// The marker cookie changed.
#[wasm_bindgen]
pub fn handle_cookie_change() -> Promise {
    saw_navigation()
}

/// A page message: `data` as the page sent it, from the client `client_id` at `client_url`,
/// with the reply port. The reply is posted first, then the effects run.
#[wasm_bindgen]
pub fn handle_message(data: JsValue, client_id: String, client_url: String, port: Option<MessagePort>) -> Result<(), JsValue> {
    // Bounded before the copy into wasm memory: a page may post megabytes.
    let text = if data.is_string() { data } else { js_sys::JSON::stringify(&data).map(JsValue::from).unwrap_or(JsValue::UNDEFINED) };
    let max = crate::protocol::MAX_MESSAGE_BYTES;
    let too_large = || encode_error(ErrorCode::BadMessage, &crate::error::InputError::new(crate::error::Input::Message, "", "larger than 4096 bytes").text());
    let json = js::bounded_string(&text, max).or_else(|| (!text.is_string()).then(String::new));
    let reply = match json.map(|json| with_engine(|e| e.handle_message(js::now(), &client_id, &client_url, &json))) {
        None => Some(too_large()),
        Some(r) => r,
    };
    let reply = match reply {
        Some(r) => r,
        None => {
            let why = load_error().unwrap_or_else(|| "the worker has not loaded".into());
            // A byte search: `str::contains(&str)` drags in core's panicking char stepping and its
            // Unicode tables (≈ 5 KB of the wasm).
            let code = if why.as_bytes().windows(6).any(|w| w == b"config") { ErrorCode::BadConfig } else { ErrorCode::NotReady };
            encode_error(code, &why)
        }
    };
    js::debug(debug_on(), &reply);
    if let Some(p) = port {
        p.post_message(&JsValue::from_str(&reply))?;
    }
    run_effects();
    // Without cookie events (other browsers) a tab's message is the cue to re-read the marker.
    if with_engine(|e| e.config().cross_site.is_some()).unwrap_or(false) {
        background(recheck_job());
    }
    Ok(())
}

/// The worker's load error for the bootstrap to report, if any.
#[wasm_bindgen]
pub fn load_error() -> Option<String> {
    cell_update(&LOAD_ERROR, |e| e.clone())
}

/// Resolves when the background work started by earlier events (effects, refresh and
/// logout calls, and whatever they start in turn) is done: the bootstrap passes it to
/// `waitUntil`, so the browser does not stop the worker in the middle.
#[wasm_bindgen]
pub fn settled() -> Promise {
    promise(Box::pin(async {
        loop {
            let list = BACKGROUND.take();
            if list.is_empty() {
                return Ok(JsValue::UNDEFINED);
            }
            let _ = js::wait(Promise::all_settled(&list.into_iter().collect::<js_sys::Array>())).await;
        }
    }))
}

fn background(job: Job) {
    let p = promise(job);
    cell_update(&BACKGROUND, |b| b.push(p));
}

/// Runs queued engine effects in order, in the background (the bootstrap's `waitUntil`
/// covers it through [`settled`]). One drainer at a time, so effects never reorder.
pub(crate) fn run_effects() {
    if !with_engine(|e| e.has_effects()).unwrap_or(false) || DRAINING.with(|d| d.replace(true)) {
        return;
    }
    background(Box::pin(async {
        drain().await;
        Ok(JsValue::UNDEFINED)
    }));
}

async fn drain() {
    loop {
        let Some(effect) = with_engine(|e| e.poll_effect()).flatten() else {
            // No await between the empty poll and this: nothing can be queued in between.
            DRAINING.with(|d| d.set(false));
            return;
        };
        match effect {
            Effect::Broadcast => {
                let _ = clients::broadcast().await;
            }
            Effect::Persist => {
                // Written in the background: tabs hear the news without waiting on the disk,
                // and `settled` keeps the worker alive until the write is done.
                if let Some(json) = with_engine(|e| e.persisted()) {
                    background(Box::pin(async move {
                        store::save(&json).await?;
                        Ok(JsValue::UNDEFINED)
                    }));
                }
            }
            Effect::RefreshSettled => waiters::wake_all(),
            Effect::CancelRequests => fetch::cancel_all(),
            Effect::Refresh { url, body, content_type, epoch } => background(Box::pin(async move {
                let outcome = post(&url, "POST", Some(&body), Some(content_type), None).await;
                match outcome {
                    Ok((status, text)) => with_engine(|e| e.handle_refresh_response(js::now(), epoch, status, &text)),
                    Err(_) => with_engine(|e| e.handle_refresh_error(js::now(), epoch)),
                };
                run_effects();
                Ok(JsValue::UNDEFINED)
            })),
            Effect::Logout { url, method, token, epoch } => background(Box::pin(async move {
                let delivered = matches!(post(&url, &method, None, None, token.as_deref()).await, Ok((s, _)) if s < 500);
                with_engine(|e| e.handle_logout_result(js::now(), epoch, delivered));
                run_effects();
                Ok(JsValue::UNDEFINED)
            })),
            Effect::SetCookie { name, domain, value } => {
                let _ = cookies::write(&name, &domain, &value).await;
            }
        }
    }
}

/// A request the worker makes itself (refresh, logout), with cookies.
async fn post(url: &str, method: &str, body: Option<&str>, content_type: Option<&str>, bearer: Option<&str>) -> Result<(u16, String), JsValue> {
    use wasm_bindgen::JsCast;
    // A plain record: fetch builds the Headers (and rejects a bad value, as `Headers.set` threw).
    let headers = js_sys::Object::new();
    if let Some(ct) = content_type {
        js::set(&headers, "content-type", &JsValue::from_str(ct));
    }
    if let Some(t) = bearer {
        js::set(&headers, "authorization", &JsValue::from_str(&(String::from("Bearer ") + t)));
    }
    let init: web_sys::RequestInit = js::object();
    js::set(&init, "method", &JsValue::from_str(method));
    js::set(&init, "headers", &headers);
    js::set(&init, "credentials", &JsValue::from_str("include"));
    if let Some(b) = body {
        js::set(&init, "body", &JsValue::from_str(b));
    }
    let resp: Response = js::wait(js::scope()?.fetch_with_str_and_init(url, &init)).await?.dyn_into()?;
    // An oversized answer is not copied into wasm memory; "" fails to parse like any bad body.
    let text = js::bounded_string(&js::wait(resp.text()?).await?, crate::token::MAX_RESPONSE_BYTES).unwrap_or_default();
    Ok((resp.status(), text))
}

// dlmalloc is 7 KB of the shipped wasm; the worker makes few, small allocations, and a
// service worker is single-threaded.
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    // SAFETY: a service worker's wasm instance runs on one thread only.
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

//! The wasm shell: the bootstrap's calls in, engine calls, the engine's answers out as
//! strings ([`crate::bridge`]). No decisions live here, and no IO: the bootstrap
//! (`sw/lockstep-sw.js`) does the fetches, IndexedDB, cookies and client
//! messages, and passes the clock in. Every export is synchronous, so the module carries no
//! async runtime and no web-sys bindings: with the IO in Rust futures the wasm was 103 KB raw
//! (46.7 KB gzip), with it in the bootstrap 66 KB (30.7 KB), for 1.8 KB more gzip of script.
//!
//! Times cross as `f64` milliseconds (`Date.now()`), epochs and generations as `f64`
//! (below 2^53); conversions saturate, never panic.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;

use crate::bridge;
use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Input, InputError};
use crate::origin::parse_url;
use crate::protocol::{encode_error, ErrorCode};

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// Runs `f` on the engine, if loaded (never re-entered: no export calls another).
fn with_engine<T>(f: impl FnOnce(&mut Engine) -> T) -> Option<T> {
    ENGINE.with(|cell| cell.try_borrow_mut().ok().and_then(|mut e| e.as_mut().map(f)))
}

fn ms(now: f64) -> u64 {
    now as u64
}

fn seed(a: u32, b: u32) -> [u8; 8] {
    let mut s = [0u8; 8];
    s[..4].copy_from_slice(&a.to_le_bytes());
    s[4..].copy_from_slice(&b.to_le_bytes());
    s
}

/// Loads the engine from the config text and the persisted state (`None`: nothing stored).
/// `here`: the worker's URL; `scope`: its registration's scope. `seed_a`, `seed_b`: 64
/// random bits for the cross-site marker. Throws the config error, naming the field; returns
/// a warning to log when the persisted state was refused (the session then starts fresh).
#[wasm_bindgen]
pub fn start(here: &str, scope: &str, config: &str, state: Option<String>, now: f64, seed_a: u32, seed_b: u32) -> Result<Option<String>, String> {
    let here = parse_url(here).map_err(|e| String::from(e.message()))?;
    let config = Config::parse(config, &here.origin).map_err(|e| e.text())?;
    let scope_path = parse_url(scope).map(|u| u.path).unwrap_or_else(|_| "/".into());
    let mut engine = Engine::new(config, &scope_path);
    let warning = engine.restore(ms(now), state.as_deref()).err().map(|e| e.text());
    engine.seed_marker(seed(seed_a, seed_b));
    ENGINE.with(|cell| cell.try_borrow_mut().map(|mut e| *e = Some(engine)).ok());
    Ok(warning)
}

/// Whether `debug` is on in the config.
#[wasm_bindgen]
pub fn debug() -> bool {
    with_engine(|e| e.config().debug).unwrap_or(false)
}

/// The cross-site marker cookie's name, when the config has one.
#[wasm_bindgen]
pub fn marker_cookie() -> Option<String> {
    with_engine(|e| e.config().cross_site.as_ref().map(|cs| cs.cookie_name.clone())).flatten()
}

/// The marker cookie's current value (`None`: no cookie). Returns the error to log for a
/// malformed value, which changes nothing.
#[wasm_bindgen]
pub fn cookie(now: f64, value: Option<String>) -> Option<String> {
    with_engine(|e| e.handle_cookie(ms(now), value.as_deref()).err().map(|e| e.text())).flatten()
}

/// New randomness for the next cross-site marker (before a login).
#[wasm_bindgen]
pub fn seed_marker(seed_a: u32, seed_b: u32) {
    with_engine(|e| e.seed_marker(seed(seed_a, seed_b)));
}

/// Must the worker see navigations (for the cross-site cookie check)? Otherwise the
/// bootstrap routes them past the worker.
#[wasm_bindgen]
pub fn watches_navigations() -> bool {
    with_engine(|e| e.config().cross_site.is_some()).unwrap_or(true)
}

/// What a request is to Lockstep ([`bridge::route`]); 0 until loaded.
#[wasm_bindgen]
pub fn route(url: &str, method: &str) -> u32 {
    with_engine(|e| bridge::route(e.route(url, method))).unwrap_or(0)
}

/// Whether an API request with this method is cancelled when its session ends.
#[wasm_bindgen]
pub fn cancels(method: &str) -> bool {
    with_engine(|e| e.cancels_on_end(method)).unwrap_or(false)
}

/// The body of the diagnostics route: the state, and the size of the wasm memory.
#[wasm_bindgen]
pub fn state_body(now: f64) -> String {
    let mut body = with_engine(|e| e.state_message(ms(now), "")).unwrap_or_default();
    if body.ends_with('}') {
        body.pop();
        body.push_str(",\"memoryBytes\":");
        crate::encode::push_u64(&mut body, core::arch::wasm32::memory_size(0) as u64 * 65_536);
        body.push('}');
    }
    body
}

/// Admits an API request, or with `logout` the app's own logout call: what to do with it
/// ([`bridge::admission`]).
#[wasm_bindgen]
pub fn admit(now: f64, navigate: bool, has_authorization: bool, logout: bool) -> String {
    let decide = |e: &mut crate::engine::Engine| if logout { e.admit_logout(ms(now), has_authorization) } else { e.admit(ms(now), navigate, has_authorization) };
    bridge::admission(&with_engine(decide).unwrap_or(crate::engine::Admission::PassThrough))
}

/// An API response to a request sent with the token of `generation` ([`bridge::verdict`]).
#[wasm_bindgen]
pub fn api_response(now: f64, generation: f64, status: u16, replayed: bool) -> String {
    bridge::verdict(&with_engine(|e| e.handle_api_response(ms(now), generation as u64, status, replayed)).unwrap_or(crate::engine::Verdict::Deliver))
}

/// The app's own logout call was answered with `status`; the session ends if it got through.
#[wasm_bindgen]
pub fn logout_observed(now: f64, status: u16) {
    if Engine::logout_delivered(Some(status)) {
        with_engine(|e| e.handle_logout_observed(ms(now)));
    }
}

/// The header (`lockstep-worker: 1`) the request to token endpoint `index` carries, if any.
#[wasm_bindgen]
pub fn token_header(index: u32) -> Option<String> {
    with_engine(|e| e.marks_token_request(index as usize)).unwrap_or(false).then(|| crate::engine::WORKER_HEADER.into())
}

/// Whether the bootstrap reads a token endpoint's answer with `status` and hands it over.
#[wasm_bindgen]
pub fn reads_token_body(status: u16) -> bool {
    Engine::reads_token_body(status)
}

/// The longest page message the bootstrap copies in (UTF-16 units, [`crate::protocol::MAX_MESSAGE_BYTES`]).
#[wasm_bindgen]
pub fn max_message() -> u32 {
    crate::protocol::MAX_MESSAGE_BYTES as u32
}

/// The longest token or refresh answer the bootstrap copies in ([`crate::token::MAX_RESPONSE_BYTES`]).
#[wasm_bindgen]
pub fn max_response() -> u32 {
    crate::token::MAX_RESPONSE_BYTES as u32
}

/// A token endpoint's 2xx answer ([`bridge::token_verdict`]); `text` is `None` when it was
/// larger than [`crate::token::MAX_RESPONSE_BYTES`] (refused, not copied in).
#[wasm_bindgen]
pub fn token_response(now: f64, index: u32, status: u16, text: Option<String>) -> String {
    let Some(text) = text else {
        let e = InputError::new(Input::TokenResponse, "", "larger than 256 KiB");
        return bridge::token_verdict(&crate::engine::TokenVerdict::Refuse(e));
    };
    bridge::token_verdict(&with_engine(|e| e.handle_token_response(ms(now), index as usize, status, &text)).unwrap_or(crate::engine::TokenVerdict::PassThrough))
}

/// The next effect to run ([`bridge::effect`]), or `None`.
#[wasm_bindgen]
pub fn poll() -> Option<String> {
    with_engine(|e| e.poll_effect().map(|effect| bridge::effect(&effect, || e.persisted()))).flatten()
}

/// The refresh of `epoch` was answered.
#[wasm_bindgen]
pub fn refresh_response(now: f64, epoch: f64, status: u16, text: Option<String>) {
    // An oversized answer is not copied in; "" fails to parse like any bad body.
    with_engine(|e| e.handle_refresh_response(ms(now), epoch as u64, status, text.as_deref().unwrap_or("")));
}

/// The refresh of `epoch` failed on the network.
#[wasm_bindgen]
pub fn refresh_error(now: f64, epoch: f64) {
    with_engine(|e| e.handle_refresh_error(ms(now), epoch as u64));
}

/// The logout call of `epoch` was answered with `status` (`None`: it failed on the network).
#[wasm_bindgen]
pub fn logout_result(now: f64, epoch: f64, status: Option<u16>) {
    with_engine(|e| e.handle_logout_result(ms(now), epoch as u64, Engine::logout_delivered(status)));
}

/// The state message for the tab `id` at `url` (the browser's; `""`: the BroadcastChannel's).
#[wasm_bindgen]
pub fn state_message(now: f64, url: &str, id: &str) -> String {
    with_engine(|e| e.state_message(ms(now), e.tab_url(id, url))).unwrap_or_default()
}

/// Where the worker must navigate the tab `id` at `url`: only tabs that do not run the
/// client, which navigates by itself.
#[wasm_bindgen]
pub fn follow(url: &str, id: &str) -> Option<String> {
    with_engine(|e| e.follow_target(e.tab_url(id, url)).filter(|_| !e.navigates_itself(id))).flatten()
}

/// A page message (its JSON text; `None` when it was over 4096 UTF-16 units and was not
/// copied in) from the tab `client_id` at `client_url`. Returns the reply.
#[wasm_bindgen]
pub fn handle_message(now: f64, text: Option<String>, client_id: &str, client_url: &str) -> String {
    let Some(text) = text else {
        return encode_error(ErrorCode::BadMessage, &InputError::new(Input::Message, "", "larger than 4096 bytes").text());
    };
    with_engine(|e| e.handle_message(ms(now), client_id, client_url, &text)).unwrap_or_else(|| encode_error(ErrorCode::NotReady, "the worker has not loaded"))
}

/// The session with its tokens, for the next version of this worker (hand-over between
/// versions: with `tokenStorage: "memory"` the tokens live only in the running worker).
#[wasm_bindgen]
pub fn export_session() -> Option<String> {
    with_engine(|e| e.handover())
}

/// Takes over the session the previous version exported. Bad input throws and changes
/// nothing; the queued effects run at activation.
#[wasm_bindgen]
pub fn import_session(now: f64, json: &str) -> Result<(), String> {
    match with_engine(|e| e.take_handover(ms(now), json)) {
        Some(r) => r.map_err(|e| e.text()),
        None => Err("lockstep: the worker has not loaded".into()),
    }
}

// dlmalloc is 7 KB of the shipped wasm; the worker makes few, small allocations, and a
// service worker is single-threaded.
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    // SAFETY: a service worker's wasm instance runs on one thread only.
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

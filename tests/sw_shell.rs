//! The wasm exports the bootstrap calls, inside a real service worker: the session's whole
//! cycle as the bootstrap drives it (every answer parsed by the browser's own `JSON.parse`),
//! the restart and hand-over paths, and hostile input across the boundary. A panic here
//! would be a wasm trap that kills the worker: each test also checks the module still
//! answers afterwards. The IO around these calls (fetch, IndexedDB, Cache Storage, cookies,
//! client messages) is the bootstrap's and is tested in e2e/.
#![cfg(target_arch = "wasm32")]

use js_sys::{Reflect, JSON};
use lockstep::shell;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_service_worker);

const HERE: &str = "https://app.example.test/lockstep-sw.js?config=/lockstep.config.json";
const SCOPE: &str = "https://app.example.test/";
const CONFIG: &str = r#"{"loginUrl":"/login","apis":[{"origin":"https://api.example.test"}],
  "tokenEndpoints":[{"url":"/api/login","format":"json","user":"user"}],
  "refresh":{"url":"/api/refresh","format":"json"},"logout":{"url":"/api/logout"},"tokenStorage":"indexeddb"}"#;
const T0: f64 = 1_700_000_000_000.0;
const LOGIN: &str = r#"{"access_token":"AT1","refresh_token":"RT1","expires_in":300,"user":{"name":"ada"}}"#;

/// `text` parsed by the browser, then `obj[key]`.
fn field(text: &str, key: &str) -> JsValue {
    let v = JSON::parse(text).unwrap_or_else(|_| panic!("not JSON for the bootstrap: {text}"));
    Reflect::get(&v, &JsValue::from_str(key)).unwrap()
}

fn does(text: &str) -> String {
    field(text, "do").as_string().unwrap_or_default()
}

/// The session status in a state message.
fn status(message: &str) -> Option<String> {
    Reflect::get(&field(message, "state"), &JsValue::from_str("status")).ok()?.as_string()
}

fn start(state: Option<&str>) -> Option<String> {
    shell::start(HERE, SCOPE, CONFIG, state.map(String::from), T0, 1, 2).expect("the config loads")
}

/// Every effect queued now, as the bootstrap's `drain` reads them.
fn effects() -> Vec<String> {
    core::iter::from_fn(shell::poll).collect()
}

fn log_in(now: f64) {
    assert_eq!(shell::route("https://app.example.test/api/login", "POST"), 4, "token endpoint 0");
    assert_eq!(does(&shell::token_response(now, 0, 200, Some(LOGIN.into()))), "replace");
}

#[wasm_bindgen_test]
fn a_session_runs_its_whole_cycle_through_the_exports() {
    assert_eq!(start(None), None);
    assert_eq!(shell::route("https://app.example.test/app.js", "GET"), 0);
    assert_eq!(does(&shell::admit(T0, false, false, false)), "pass", "nobody logged in yet");

    // Login: the page gets the body without tokens; the state's disk write starts, then the
    // tabs hear it.
    let verdict = shell::token_response(T0, 0, 200, Some(LOGIN.into()));
    let body = field(&verdict, "body").as_string().unwrap();
    assert!(!body.contains("AT1") && !body.contains("RT1"), "{body}");
    let queued = effects();
    assert_eq!(queued.iter().map(|e| does(e)).take(2).collect::<Vec<_>>(), ["persist", "broadcast"], "{queued:?}");
    let persist = queued.iter().find(|e| does(e) == "persist").expect("persisted");
    assert!(field(persist, "state").as_string().unwrap().contains("\"loggedIn\":true"));
    let message = shell::state_message(T0, "https://app.example.test/orders", "tab-1");
    assert_eq!(status(&message).as_deref(), Some("logged-in"), "{message}");

    // An API call gets the bearer; its 401 starts one refresh, which the request waits for.
    assert_eq!(shell::route("https://api.example.test/v1/orders", "GET"), 1);
    let admitted = shell::admit(T0 + 1.0, false, false, false);
    assert_eq!((does(&admitted), field(&admitted, "token").as_string()), ("attach".into(), Some("AT1".into())));
    let generation = field(&admitted, "generation").as_f64().unwrap();
    assert_eq!(does(&shell::api_response(T0 + 2.0, generation, 401, false)), "wait");
    let refresh = effects().into_iter().find(|e| does(e) == "refresh").expect("one refresh");
    assert_eq!(field(&refresh, "url").as_string().as_deref(), Some("https://app.example.test/api/refresh"));
    shell::refresh_response(T0 + 3.0, field(&refresh, "epoch").as_f64().unwrap(), 200, Some(r#"{"access_token":"AT2","expires_in":300}"#.into()));
    assert!(effects().iter().any(|e| does(e) == "settled"), "waiting requests wake");
    assert_eq!(field(&shell::admit(T0 + 4.0, false, false, false), "token").as_string().as_deref(), Some("AT2"));

    // The app's logout: every tab is told first, safe requests in flight are cancelled, one
    // logout call goes out; afterwards the API is blocked locally.
    assert_eq!(shell::route("https://app.example.test/api/logout", "POST"), 2);
    let reply = shell::handle_message(T0 + 5.0, Some(r#"{"v":1,"type":"logout"}"#.into()), "tab-1", "https://app.example.test/orders");
    assert_eq!(status(&reply).as_deref(), Some("logged-out"), "{reply}");
    let ended: Vec<String> = effects().iter().map(|e| does(e)).collect();
    let at = |name: &str| ended.iter().position(|d| d == name).unwrap_or_else(|| panic!("no {name}: {ended:?}"));
    assert!(at("broadcast") < at("cancel") && at("broadcast") < at("logout"), "{ended:?}");
    assert_eq!(ended.iter().filter(|d| *d == "logout").count(), 1, "{ended:?}");
    assert_eq!(does(&shell::admit(T0 + 6.0, false, false, false)), "block");
    assert_eq!(does(&shell::admit(T0 + 6.0, false, false, true)), "block", "the app's own logout call: this end had its one");
    assert!(shell::cancels("GET") && !shell::cancels("POST"));
    // A tab without the client is sent to the login page, with where it was.
    let target = shell::follow("https://app.example.test/orders?id=7", "tab-2").expect("navigated");
    assert!(target.starts_with("https://app.example.test/login?"), "{target}");
    assert_eq!(shell::follow("https://app.example.test/orders", "tab-1"), None, "the client navigates itself");

    // The diagnostics route's body is JSON with the memory size.
    assert!(field(&shell::state_body(T0), "memoryBytes").as_f64().unwrap() > 0.0);
}

#[wasm_bindgen_test]
fn a_restarted_worker_restores_the_persisted_session_and_survives_a_corrupt_one() {
    start(None);
    log_in(T0);
    let saved = effects().into_iter().find(|e| does(e) == "persist").map(|e| field(&e, "state").as_string().unwrap()).unwrap();
    // A restart: a new engine from the same config and what IndexedDB held.
    assert_eq!(start(Some(&saved)), None);
    assert_eq!(field(&shell::admit(T0 + 1.0, false, false, false), "token").as_string().as_deref(), Some("AT1"), "indexeddb storage keeps the token");

    // Corrupt state is reported, not fatal: the worker starts fresh at epoch 0.
    let warning = start(Some("{not json")).expect("a warning to log");
    assert!(warning.contains("persisted"), "{warning}");
    assert!(shell::export_session().unwrap().contains("\"epoch\":0"));
}

#[wasm_bindgen_test]
fn a_bad_config_is_refused_with_an_error_naming_the_field() {
    let err = shell::start(HERE, SCOPE, r#"{"loginUrl":"/login"}"#, None, T0, 0, 0).expect_err("apis is required");
    assert!(err.contains("lockstep.config.json") && err.contains("apis"), "{err}");
    let err = shell::start(HERE, SCOPE, r#"{"loginUrl":"/login","apis":[{"origin":"http://api.example.test"}]}"#, None, T0, 0, 0).expect_err("http API");
    assert!(err.contains("apis[0].origin"), "{err}");
    assert!(shell::start("not a url", SCOPE, CONFIG, None, T0, 0, 0).is_err());
}

#[wasm_bindgen_test]
fn a_new_version_takes_the_session_over_and_refuses_bad_or_older_ones() {
    start(Some(r#"{"v":1,"epoch":3,"generation":3,"loggedIn":false,"reason":"logout"}"#));
    let from_old = r#"{"v":1,"epoch":9,"generation":9,"loggedIn":true,"user":{"name":"ada"},"accessToken":"at_handed","refreshToken":"rt_handed"}"#;
    shell::import_session(T0, from_old).expect("a newer hand-over is taken");
    let state = shell::export_session().unwrap();
    assert!(state.contains("\"epoch\":9") && state.contains("at_handed") && state.contains("rt_handed"), "{state}");
    shell::import_session(T0, r#"{"v":1,"epoch":4,"generation":4,"loggedIn":false}"#).expect("an older one is ignored");
    for junk in ["", "{", "[]", r#"{"v":2,"epoch":99,"generation":99,"loggedIn":false}"#, r#"{"v":1,"epoch":99}"#] {
        assert!(shell::import_session(T0, junk).is_err(), "{junk:?} must be refused");
    }
    assert_eq!(shell::export_session().unwrap(), state);
}

#[wasm_bindgen_test]
fn what_the_bootstrap_needs_to_know_comes_from_the_engine() {
    start(None);
    // The same-origin token endpoint carries the worker's header; only 2xx answers are read.
    assert_eq!(shell::token_header(0).as_deref(), Some("lockstep-worker"));
    assert!(shell::reads_token_body(200) && shell::reads_token_body(299));
    assert!(!shell::reads_token_body(199) && !shell::reads_token_body(302) && !shell::reads_token_body(401));
    assert_eq!((shell::max_message(), shell::max_response()), (4096, 256 * 1024));
}

#[wasm_bindgen_test]
fn garbage_in_the_cross_site_cookie_is_an_error_naming_it_and_changes_nothing() {
    let config = CONFIG.replace(r#""tokenStorage""#, r#""crossSite":{"cookieName":"lockstep_session","cookieDomain":"example.test"},"tokenStorage""#);
    shell::start(HERE, SCOPE, &config, None, T0, 1, 2).expect("the config loads");
    assert_eq!(shell::marker_cookie().as_deref(), Some("lockstep_session"));
    log_in(T0);
    effects();
    let before = shell::export_session().unwrap();
    for junk in ["", "garbage", "live.", "live.zz", "\u{0}\u{ffff}", &"x".repeat(10_000)] {
        let error = shell::cookie(T0, Some(junk.into())).unwrap_or_else(|| panic!("{junk:?} must be refused"));
        assert!(error.contains("cookie"), "{junk:?}: {error}");
        assert_eq!(shell::export_session().unwrap(), before, "{junk:?} changed the session");
    }
}

#[wasm_bindgen_test]
fn hostile_input_across_the_boundary_gets_clear_errors_and_never_traps() {
    start(None);
    log_in(T0);
    effects();
    // Page messages: oversized (not copied in), malformed, wrong types, deep nesting.
    let reply = shell::handle_message(T0, None, "tab", "https://app.example.test/");
    assert_eq!((field(&reply, "code").as_string(), field(&reply, "message").as_string().map(|m| m.contains("4096"))), (Some("bad-message".into()), Some(true)));
    for bad in ["", "{", "[]", "null", r#"{"v":99,"type":"logout"}"#, r#"{"v":1,"type":"hello","url":7}"#, &"[".repeat(4000), "\u{0}\u{ffff}"] {
        let reply = shell::handle_message(T0, Some(bad.into()), "tab", "https://app.example.test/");
        assert_eq!(field(&reply, "code").as_string().as_deref(), Some("bad-message"), "{bad:?}: {reply}");
    }
    // Token responses: oversized, malformed, wrong field types: a 502 body naming the problem.
    for bad in [None, Some("{"), Some(r#"{"access_token":7}"#), Some(r#"{"refresh_token":"x"}"#)] {
        let verdict = shell::token_response(T0, 0, 200, bad.map(String::from));
        assert_eq!(does(&verdict), "refuse", "{bad:?}");
        let body = field(&verdict, "body").as_string().unwrap();
        assert_eq!(field(&body, "error").as_string().as_deref(), Some("lockstep_bad_token_response"));
        assert!(field(&body, "message").as_string().unwrap().contains("token response"), "{body}");
    }
    // Out-of-range numbers from JS: indexes, statuses, times, epochs, generations.
    for x in [f64::NAN, f64::INFINITY, -1.0, 1e300, -0.0] {
        shell::refresh_response(x, x, 200, Some("junk".into()));
        shell::refresh_error(x, x);
        shell::logout_result(x, x, Some(200));
        shell::logout_result(x, x, None);
        let _ = shell::api_response(T0, x, 401, true);
    }
    assert_eq!(does(&shell::token_response(T0, u32::MAX, 200, Some(LOGIN.into()))), "pass", "no such endpoint");
    assert_eq!(shell::token_header(u32::MAX), None);
    // Routes.
    for url in ["", "::", "https://", "https://api.example.test:99999/", &"a".repeat(100_000)] {
        assert_eq!(shell::route(url, "GET"), 0, "{url:?}");
    }
    // Still alive.
    assert!(shell::export_session().is_some());
    assert_eq!(field(&shell::state_body(T0), "v").as_f64(), Some(1.0));
}

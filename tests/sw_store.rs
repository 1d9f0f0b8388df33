//! The IndexedDB store and the restart path, inside a real service worker: what one worker
//! wrote, the next one (a fresh engine loaded again) reads; corrupt state never crashes it;
//! a new worker version takes the session over from the old one.
#![cfg(target_arch = "wasm32")]

use lockstep::__shell as shell;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Response, ServiceWorkerGlobalScope};

wasm_bindgen_test_configure!(run_in_service_worker);

const CONFIG_URL: &str = "/__lockstep-test/store.config.json";
const CONFIG: &str = r#"{"loginUrl":"/login","apis":[{"origin":"https://api.example.test"}]}"#;

fn scope() -> ServiceWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// Puts the config where a worker keeps it (Cache Storage `lockstep-config`).
async fn cache_config(url: &str, text: &str) {
    let caches = scope().caches().unwrap();
    let cache: web_sys::Cache = JsFuture::from(caches.open("lockstep-config")).await.unwrap().unchecked_into();
    let full = format!("{}{}", scope().location().origin(), url);
    JsFuture::from(cache.put_with_str(&full, &Response::new_with_opt_str(Some(text)).unwrap())).await.unwrap();
}

/// A worker restart: the engine is dropped and loaded again from cache and IndexedDB.
async fn restart() {
    shell::unload();
    wasm_bindgen_futures::JsFuture::from(shell::start(CONFIG_URL.into(), false, JsValue::UNDEFINED, JsValue::UNDEFINED)).await.expect("the worker loads");
}

fn exported() -> String {
    shell::export_session().expect("the engine is loaded")
}

#[wasm_bindgen_test]
async fn store_round_trips_across_reopened_connections() {
    // Each call opens and closes the database, as separate worker starts do.
    shell::save("{\"first\":1}").await.expect("save");
    assert_eq!(shell::load().await.expect("load").as_deref(), Some("{\"first\":1}"));
    shell::save("{\"second\":2}").await.expect("save overwrites");
    assert_eq!(shell::load().await.expect("load").as_deref(), Some("{\"second\":2}"));
}

#[wasm_bindgen_test]
async fn a_restarted_worker_restores_the_persisted_session() {
    cache_config(CONFIG_URL, CONFIG).await;
    shell::save(r#"{"v":1,"epoch":7,"generation":7,"loggedIn":false,"reason":"logout"}"#).await.unwrap();
    restart().await;
    let state = exported();
    assert!(state.contains("\"epoch\":7"), "{state}");
    assert!(state.contains("\"reason\":\"logout\""), "{state}");

    // Corrupt state is reported, not fatal: the worker starts fresh at epoch 0.
    shell::save("{not json").await.unwrap();
    restart().await;
    let state = exported();
    assert!(state.contains("\"epoch\":0"), "{state}");
    assert!(state.contains("\"loggedIn\":false"), "{state}");
}

#[wasm_bindgen_test]
async fn a_start_uses_what_the_bootstrap_read_ahead() {
    // The bootstrap reads config and state while the wasm loads: the shell takes them as
    // they are, and reads nothing itself (here the store holds something else).
    shell::save(r#"{"v":1,"epoch":2,"generation":2,"loggedIn":false}"#).await.unwrap();
    shell::unload();
    let state = JsValue::from_str(r#"{"v":1,"epoch":11,"generation":11,"loggedIn":false,"reason":"idle"}"#);
    let config = JsValue::from_str(CONFIG);
    JsFuture::from(shell::start("/__lockstep-test/not-cached.json".into(), false, config.clone(), state)).await.expect("loads from what it was given");
    let got = exported();
    assert!(got.contains("\"epoch\":11") && got.contains("\"reason\":\"idle\""), "{got}");
    // null: read ahead, and nothing persisted: a fresh engine, not the store's epoch 2.
    shell::unload();
    JsFuture::from(shell::start("/__lockstep-test/not-cached.json".into(), false, config, JsValue::NULL)).await.expect("loads");
    assert!(exported().contains("\"epoch\":0"), "{}", exported());
}

#[wasm_bindgen_test]
async fn a_new_version_takes_the_session_over_and_refuses_bad_or_older_ones() {
    cache_config(CONFIG_URL, CONFIG).await;
    shell::save(r#"{"v":1,"epoch":3,"generation":3,"loggedIn":false,"reason":"logout"}"#).await.unwrap();
    restart().await;
    let from_old = r#"{"v":1,"epoch":9,"generation":9,"loggedIn":true,"user":{"name":"ada"},"accessToken":"at_handed","refreshToken":"rt_handed"}"#;
    shell::import_session(from_old).expect("a newer hand-over is taken");
    let state = exported();
    assert!(state.contains("\"epoch\":9") && state.contains("at_handed") && state.contains("rt_handed"), "{state}");

    // Older than what we know: ignored. Junk: an error, and nothing changes.
    shell::import_session(r#"{"v":1,"epoch":4,"generation":4,"loggedIn":false}"#).expect("an older one is ignored");
    for junk in ["", "{", "[]", r#"{"v":2,"epoch":99,"generation":99,"loggedIn":false}"#, r#"{"v":1,"epoch":99}"#] {
        assert!(shell::import_session(junk).is_err(), "{junk:?} must be refused");
    }
    assert_eq!(exported(), state);
}

//! The config cache inside a real service worker: a cached config is read without the
//! network, a fetched one is stored, a failed refetch keeps the cached one, and a bad config
//! stops the worker's load with an error naming the field.
#![cfg(target_arch = "wasm32")]

use lockstep::__shell as shell;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Cache, Response, ServiceWorkerGlobalScope};

wasm_bindgen_test_configure!(run_in_service_worker);

fn scope() -> ServiceWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn absolute(path: &str) -> String {
    format!("{}{}", scope().location().origin(), path)
}

async fn cache() -> Cache {
    JsFuture::from(scope().caches().unwrap().open("lockstep-config")).await.unwrap().unchecked_into()
}

async fn put(path: &str, text: &str) {
    JsFuture::from(cache().await.put_with_str(&absolute(path), &Response::new_with_opt_str(Some(text)).unwrap())).await.unwrap();
}

async fn cached_text(url: &str) -> Option<String> {
    let hit = JsFuture::from(cache().await.match_with_str(url)).await.ok()?.dyn_into::<Response>().ok()?;
    JsFuture::from(hit.text().ok()?).await.ok()?.as_string()
}

#[wasm_bindgen_test]
async fn a_cached_config_is_read_without_the_network() {
    // Nothing is served at this path: only the cache can answer.
    put("/__lockstep-test/cached.json", "{\"cached\":true}").await;
    let text = shell::load_config(&absolute("/__lockstep-test/cached.json"), false).await.expect("cache hit");
    assert_eq!(text, "{\"cached\":true}");
}

#[wasm_bindgen_test]
async fn a_fetched_config_is_stored_in_cache_storage() {
    // The runner serves this worker's own script: a real file to fetch.
    let url = scope().location().href();
    let text = shell::load_config(&url, true).await.expect("fetched from the runner's server");
    assert!(!text.is_empty());
    assert_eq!(cached_text(&url).await.as_deref(), Some(text.as_str()), "kept in Cache Storage");
    assert_eq!(shell::load_config(&url, false).await.unwrap(), text, "then read back from the cache");
}

#[wasm_bindgen_test]
async fn a_failed_refetch_is_an_error_and_keeps_the_cached_config() {
    let path = "/__lockstep-test/missing.json";
    put(path, "{\"old\":true}").await;
    let err = shell::load_config(&absolute(path), true).await.expect_err("404 is an error");
    let message = err.as_string().unwrap_or_default();
    assert!(message.contains("HTTP 404"), "{message}");
    assert_eq!(cached_text(&absolute(path)).await.as_deref(), Some("{\"old\":true}"));
    // Not cached and not served: an error too.
    assert!(shell::load_config(&absolute("/__lockstep-test/nowhere.json"), false).await.is_err());
}

#[wasm_bindgen_test]
async fn a_bad_config_stops_the_load_with_an_error_naming_the_field() {
    put("/__lockstep-test/bad.json", r#"{"loginUrl":"/login"}"#).await;
    shell::unload();
    let err = wasm_bindgen_futures::JsFuture::from(shell::start("/__lockstep-test/bad.json".into(), false, JsValue::UNDEFINED, JsValue::UNDEFINED)).await.expect_err("apis is required");
    let message = err.as_string().unwrap_or_default();
    assert!(message.contains("apis"), "{message}");
    assert!(shell::export_session().is_none(), "no engine runs a bad config");
}

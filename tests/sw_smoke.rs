//! Smoke test for the wasm-bindgen-test tier: the suites in `tests/` run inside a real
//! service worker in headless Chromium (`scripts/test.sh`), so the shell is tested where it
//! will live. If this file fails, the test tier itself is broken, not Lockstep.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Cache, Response, ServiceWorkerGlobalScope};

wasm_bindgen_test_configure!(run_in_service_worker);

fn scope() -> ServiceWorkerGlobalScope {
    js_sys::global()
        .dyn_into::<ServiceWorkerGlobalScope>()
        .expect("the test runs in a ServiceWorkerGlobalScope")
}

#[wasm_bindgen_test]
fn runs_in_a_service_worker_global_scope() {
    let global = js_sys::global();
    assert!(
        global.is_instance_of::<ServiceWorkerGlobalScope>(),
        "global is {:?}, not a ServiceWorkerGlobalScope",
        global.constructor().name()
    );
    // The scope's registration exists: this is a registered worker, not a plain Worker.
    assert!(!scope().registration().scope().is_empty());
}

#[wasm_bindgen_test]
async fn cache_storage_round_trips_a_response() {
    const NAME: &str = "lockstep-sw-smoke";
    let caches = scope().caches().expect("Cache Storage is available");
    let cache: Cache = JsFuture::from(caches.open(NAME))
        .await
        .expect("caches.open resolves")
        .unchecked_into();

    let response = Response::new_with_opt_str(Some("{\"ok\":true}")).expect("Response::new");
    JsFuture::from(cache.put_with_str("/__lockstep/smoke", &response))
        .await
        .expect("cache.put resolves");

    let found = JsFuture::from(cache.match_with_str("/__lockstep/smoke"))
        .await
        .expect("cache.match resolves");
    let found: Response = found.dyn_into().expect("cache.match found the stored response");
    let body = JsFuture::from(found.text().expect("Response::text"))
        .await
        .expect("body reads");
    assert_eq!(body.as_string().as_deref(), Some("{\"ok\":true}"));

    let deleted = JsFuture::from(caches.delete(NAME)).await.expect("caches.delete resolves");
    assert_eq!(deleted.as_bool(), Some(true));
}

//! IndexedDB: one record, the engine's persisted state, in database `lockstep`.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{IdbDatabase, IdbRequest, IdbTransactionMode};

use super::js;

const DB: &str = "lockstep";
const STORE: &str = "state";
const KEY: &str = "session";

fn request_promise(req: &IdbRequest) -> Promise {
    Promise::new(&mut |resolve, reject| {
        on(req, "onsuccess", Some((resolve, true)));
        on(req, "onerror", Some((reject, false)));
    })
}

/// Sets `req[event]` to a one-shot handler: with `settle` = (f, ok), calls `f` with the
/// request's result (`ok`) or the failure; without, the upgrade that creates the store.
/// One closure type for all three, so one copy of wasm-bindgen's closure glue.
fn on(req: &IdbRequest, event: &str, settle: Option<(js_sys::Function, bool)>) {
    let r = req.clone();
    let handler = Closure::once_into_js(move || match settle {
        Some((f, ok)) => {
            let v = if ok { r.result().unwrap_or(JsValue::UNDEFINED) } else { JsValue::from_str("lockstep: IndexedDB request failed") };
            let _ = f.call1(&JsValue::NULL, &v);
        }
        None => {
            if let Ok(db) = r.result().and_then(|r| r.dyn_into::<IdbDatabase>().map_err(JsValue::from)) {
                if !db.object_store_names().contains(STORE) {
                    let _ = db.create_object_store(STORE);
                }
            }
        }
    });
    js::set(req, event, &handler);
}

async fn open() -> Result<IdbDatabase, JsValue> {
    let factory = js::scope()?.indexed_db()?.ok_or_else(|| JsValue::from_str("lockstep: no IndexedDB"))?;
    let req = factory.open_with_u32(DB, 1)?;
    on(&req, "onupgradeneeded", None);
    let db = js::wait(request_promise(&req)).await?;
    db.dyn_into::<IdbDatabase>().map_err(JsValue::from)
}

/// Reads the record (`json`: None), or writes `json` to it; one future for both.
async fn request(json: Option<&str>) -> Result<JsValue, JsValue> {
    // A connection per request, closed at once: a connection held open by the worker kept
    // Chromium from tearing down a browser context (found by e2e/cross-site.test.mjs).
    let db = open().await?;
    let key = JsValue::from_str(KEY);
    let req = match json {
        None => db.transaction_with_str(STORE)?.object_store(STORE)?.get(&key)?,
        Some(json) => db.transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)?.object_store(STORE)?.put_with_key(&JsValue::from_str(json), &key)?,
    };
    let done = js::wait(request_promise(&req)).await;
    db.close();
    done
}

/// Reads the persisted state, if any.
pub async fn load() -> Result<Option<String>, JsValue> {
    Ok(request(None).await?.as_string())
}

/// Writes the persisted state.
pub async fn save(json: &str) -> Result<(), JsValue> {
    request(Some(json)).await.map(|_| ())
}

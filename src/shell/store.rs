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
    let req = req.clone();
    Promise::new(&mut |resolve, reject| {
        let r = req.clone();
        let ok = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::NULL, &r.result().unwrap_or(JsValue::UNDEFINED));
        });
        let fail = Closure::once_into_js(move || {
            let _ = reject.call1(&JsValue::NULL, &JsValue::from_str("lockstep: IndexedDB request failed"));
        });
        req.set_onsuccess(Some(ok.unchecked_ref()));
        req.set_onerror(Some(fail.unchecked_ref()));
    })
}

thread_local! {
    // One connection for the worker's life: opening IndexedDB costs more than a write.
    static CONNECTION: std::cell::RefCell<Option<IdbDatabase>> = const { std::cell::RefCell::new(None) };
}

async fn connection() -> Result<IdbDatabase, JsValue> {
    if let Some(db) = CONNECTION.with(|c| c.borrow().clone()) {
        return Ok(db);
    }
    let db = open().await?;
    // Another version of the worker may need to upgrade the database (let it), and the
    // browser may close the connection (site data cleared): reopen next time.
    let forget = || {
        Closure::once_into_js(|| {
            CONNECTION.with(|c| {
                if let Some(db) = c.borrow_mut().take() {
                    db.close();
                }
            })
        })
    };
    db.set_onversionchange(Some(forget().unchecked_ref()));
    db.set_onclose(Some(forget().unchecked_ref()));
    CONNECTION.with(|c| *c.borrow_mut() = Some(db.clone()));
    Ok(db)
}

async fn open() -> Result<IdbDatabase, JsValue> {
    let factory = js::scope()?.indexed_db()?.ok_or_else(|| JsValue::from_str("lockstep: no IndexedDB"))?;
    let req = factory.open_with_u32(DB, 1)?;
    let upgrade = Closure::once_into_js({
        let req = req.clone();
        move || {
            if let Ok(db) = req.result().and_then(|r| r.dyn_into::<IdbDatabase>().map_err(JsValue::from)) {
                if !db.object_store_names().contains(STORE) {
                    let _ = db.create_object_store(STORE);
                }
            }
        }
    });
    req.set_onupgradeneeded(Some(upgrade.unchecked_ref()));
    let db = js::wait(request_promise(&req)).await?;
    db.dyn_into::<IdbDatabase>().map_err(JsValue::from)
}

/// Reads the persisted state, if any.
pub async fn load() -> Result<Option<String>, JsValue> {
    let db = connection().await?;
    let tx = db.transaction_with_str(STORE)?;
    let value = js::wait(request_promise(&tx.object_store(STORE)?.get(&JsValue::from_str(KEY))?)).await?;
    Ok(value.as_string())
}

/// Writes the persisted state. Transactions on one store apply in the order they were
/// created, so saves started one after another land in that order.
pub async fn save(json: &str) -> Result<(), JsValue> {
    let db = connection().await?;
    let tx = db.transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)?;
    js::wait(request_promise(&tx.object_store(STORE)?.put_with_key(&JsValue::from_str(json), &JsValue::from_str(KEY))?)).await?;
    Ok(())
}

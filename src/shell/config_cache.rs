//! The config file: fetched from the worker's own origin and kept in Cache Storage, so a
//! restarted worker does not need the network to know its config.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Cache, Response};

use super::js;

const CACHE: &str = "lockstep-config";

async fn cache() -> Result<Cache, JsValue> {
    js::wait(js::scope()?.caches()?.open(CACHE)).await?.dyn_into::<Cache>().map_err(JsValue::from)
}

/// The config text: from the cache unless `fresh`, else (or when absent) from the network,
/// then cached.
pub async fn load(url: &str, fresh: bool) -> Result<String, JsValue> {
    let cache = cache().await?;
    if !fresh {
        let hit = js::wait(cache.match_with_str(url)).await?;
        if let Ok(resp) = hit.dyn_into::<Response>() {
            return text(&resp).await;
        }
    }
    let init: web_sys::RequestInit = js::object();
    js::set(&init, "cache", &JsValue::from_str("no-store"));
    let resp: Response = js::wait(js::scope()?.fetch_with_str_and_init(url, &init)).await?.dyn_into()?;
    if !resp.ok() {
        let mut m = String::from("lockstep.config.json: HTTP ");
        m.push_str(&crate::encode::u64_text(resp.status().into()));
        m.push_str(" from ");
        m.push_str(url);
        return Err(JsValue::from_str(&m));
    }
    let body = text(&resp.clone()?).await?;
    js::wait(cache.put_with_str(url, &resp)).await?;
    Ok(body)
}

async fn text(resp: &Response) -> Result<String, JsValue> {
    js::wait(resp.text()?).await?.as_string().ok_or_else(|| JsValue::from_str("lockstep: config is not text"))
}

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
    let hit = if fresh { None } else { js::wait(cache.match_with_str(url)).await?.dyn_into::<Response>().ok() };
    // One text read for both sources; `fetched` is the network answer still to be cached.
    let (resp, fetched) = match hit {
        Some(resp) => (resp, None),
        None => {
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
            (resp.clone()?, Some(resp))
        }
    };
    let body = text(&resp).await?;
    if let Some(resp) = fetched {
        js::wait(cache.put_with_str(url, &resp)).await?;
    }
    Ok(body)
}

async fn text(resp: &Response) -> Result<String, JsValue> {
    js::wait(resp.text()?).await?.as_string().ok_or_else(|| JsValue::from_str("lockstep: config is not text"))
}

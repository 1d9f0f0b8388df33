//! The few globals the shell needs, bound once; clock, randomness and error conversion.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::ServiceWorkerGlobalScope;

/// The worker's global scope. Fails (not panics) when run elsewhere.
pub fn scope() -> Result<ServiceWorkerGlobalScope, JsValue> {
    js_sys::global().dyn_into::<ServiceWorkerGlobalScope>().map_err(|_| JsValue::from_str("lockstep: not running in a service worker"))
}

/// Wall-clock milliseconds: the engine's only notion of time.
pub fn now() -> u64 {
    js_sys::Date::now() as u64
}

/// Eight random bytes from the platform CSPRNG (zeros if it is missing).
pub fn random8() -> [u8; 8] {
    let mut buf = [0u8; 8];
    if let Ok(s) = scope() {
        if let Ok(c) = s.crypto() {
            let _ = c.get_random_values_with_u8_array(&mut buf);
        }
    }
    buf
}

/// Awaits a JS promise.
pub async fn wait(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

/// Reads `obj[key]`.
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    reflect_get(obj, key).unwrap_or(JsValue::UNDEFINED)
}

#[wasm_bindgen]
extern "C" {
    /// `Reflect.set(obj, key, value)`: one import for every property the shell sets (each
    /// web-sys dictionary setter is an import and a function of the glue of its own).
    #[wasm_bindgen(js_namespace = Reflect, js_name = set)]
    fn reflect_set(obj: &JsValue, key: &str, value: &JsValue) -> bool;
    /// `Reflect.get(obj, key)`, with the key passed as a string (no JsValue made for it).
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = get)]
    fn reflect_get(obj: &JsValue, key: &str) -> Result<JsValue, JsValue>;
}

/// Sets `obj[key] = value` (`obj` is an object the shell made or got from the platform).
pub fn set(obj: &JsValue, key: &str, value: &JsValue) {
    reflect_set(obj, key, value);
}

/// A new plain object, viewed as the web-sys dictionary `T` the shell fills with [`set`].
pub fn object<T: JsCast>() -> T {
    js_sys::Object::new().unchecked_into()
}

/// Calls `obj[key](arg)` and returns the result.
pub fn call(obj: &JsValue, key: &str, arg: &JsValue) -> Result<JsValue, JsValue> {
    let f: js_sys::Function = get(obj, key).dyn_into().map_err(|_| JsValue::from_str("lockstep: missing method"))?;
    f.call1(obj, arg)
}

/// Logs when the config's `debug` flag is on.
pub fn debug(on: bool, msg: &str) {
    if on {
        web_sys::console::debug_1(&JsValue::from_str(msg));
    }
}

/// `v` as a Rust string if it is a JS string of at most `max` UTF-16 units, else `None`:
/// an oversized string is refused before it is copied into the wasm memory, which never
/// shrinks (a UTF-16 unit is at least one UTF-8 byte, so `max` units bound nothing below
/// `max` bytes).
pub fn bounded_string(v: &JsValue, max: usize) -> Option<String> {
    let s: &js_sys::JsString = v.dyn_ref()?;
    if s.length() as usize > max {
        return None;
    }
    s.as_string()
}

/// Bytes of the wasm linear memory (diagnostics: it only grows).
pub fn memory_bytes() -> u64 {
    let memory = wasm_bindgen::memory();
    let buffer = get(&memory, "buffer");
    get(&buffer, "byteLength").as_f64().unwrap_or(0.0) as u64
}

//! The Cookie Store API, for the cross-site session marker. Bound by name (it is not in
//! every browser's worker scope); a missing API reads as "no cookie support".

use wasm_bindgen::prelude::*;

use super::js;

fn store() -> Option<JsValue> {
    let s = js::get(&js::scope().ok()?.into(), "cookieStore");
    (!s.is_undefined()).then_some(s)
}

/// True when this browser has the Cookie Store API in workers.
pub fn supported() -> bool {
    store().is_some()
}

/// Reads the cookie's value.
pub async fn read(name: &str) -> Result<Option<String>, JsValue> {
    let got = call(name, None).await?;
    if got.is_null() || got.is_undefined() {
        return Ok(None);
    }
    Ok(js::get(&got, "value").as_string())
}

/// Writes the cookie on `domain`, secure, for 30 days.
pub async fn write(name: &str, domain: &str, value: &str) -> Result<(), JsValue> {
    call(name, Some((domain, value))).await.map(|_| ())
}

/// `cookieStore.get(name)`, or with `set` = (domain, value) `cookieStore.set(…)`: one future
/// for both. Without the API: `undefined`.
async fn call(name: &str, set: Option<(&str, &str)>) -> Result<JsValue, JsValue> {
    let Some(s) = store() else { return Ok(JsValue::UNDEFINED) };
    let (method, arg) = match set {
        None => ("get", JsValue::from_str(name)),
        Some((domain, value)) => {
            let opts = js_sys::Object::new();
            for (k, v) in [("name", JsValue::from_str(name)), ("value", JsValue::from_str(value)), ("domain", JsValue::from_str(domain)), ("path", JsValue::from_str("/")), ("sameSite", JsValue::from_str("lax")), ("expires", JsValue::from_f64(js_sys::Date::now() + 30.0 * 86_400_000.0))] {
                js::set(&opts, k, &v);
            }
            ("set", opts.into())
        }
    };
    js::wait(js::call(&s, method, &arg)?.into()).await
}

/// Subscribes this registration to changes of the cookie (`cookiechange` events).
pub async fn subscribe(name: &str, url: &str) -> Result<(), JsValue> {
    let reg = js::get(&js::scope()?.into(), "registration");
    let cookies = js::get(&reg, "cookies");
    if cookies.is_undefined() {
        return Ok(());
    }
    let sub = js_sys::Object::new();
    js::set(&sub, "name", &JsValue::from_str(name));
    js::set(&sub, "url", &JsValue::from_str(url));
    let list = js_sys::Array::of1(&sub);
    js::wait(js::call(&cookies, "subscribe", &list)?.into()).await?;
    Ok(())
}

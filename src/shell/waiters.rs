//! Requests waiting for a refresh to settle: resolvers woken by `Effect::RefreshSettled`.

use std::cell::Cell;

use js_sys::Function;
use wasm_bindgen::JsValue;

thread_local! {
    static WAITERS: Cell<Vec<Function>> = const { Cell::new(Vec::new()) };
}

/// Parks a resolver until the next settle.
pub fn push(resolve: Function) {
    super::cell_update(&WAITERS, |w| w.push(resolve));
}

/// Wakes every parked request.
pub fn wake_all() {
    let list = WAITERS.take();
    for f in list {
        let _ = f.call1(&JsValue::NULL, &JsValue::TRUE);
    }
}

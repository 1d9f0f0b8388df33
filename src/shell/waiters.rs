//! Requests waiting for a refresh to settle: resolvers woken by `Effect::RefreshSettled`.

use std::cell::RefCell;

use js_sys::Function;
use wasm_bindgen::JsValue;

thread_local! {
    static WAITERS: RefCell<Vec<Function>> = const { RefCell::new(Vec::new()) };
}

/// Parks a resolver until the next settle.
pub fn push(resolve: Function) {
    WAITERS.with(|w| w.borrow_mut().push(resolve));
}

/// Wakes every parked request.
pub fn wake_all() {
    let list = WAITERS.with(|w| core::mem::take(&mut *w.borrow_mut()));
    for f in list {
        let _ = f.call1(&JsValue::NULL, &JsValue::TRUE);
    }
}

//! Hand-over between worker versions: with `tokenStorage: "memory"` the tokens live only in
//! the running worker, so a new version asks the old one for the session at install (the
//! bootstrap carries it over a MessageChannel between the two workers; no page sees it).

use wasm_bindgen::prelude::*;

use super::{js, with_engine};

/// The session with its tokens, for the next version of this worker; `None` before the
/// engine has loaded.
#[wasm_bindgen]
pub fn export_session() -> Option<String> {
    with_engine(|e| e.handover())
}

/// Takes over the session the previous version exported. Bad input is an error and changes
/// nothing; the queued effects run at activation.
#[wasm_bindgen]
pub fn import_session(json: &str) -> Result<(), JsValue> {
    match with_engine(|e| e.take_handover(js::now(), json)) {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(JsValue::from_str(&e.text())),
        None => Err(JsValue::from_str("lockstep: the worker has not loaded")),
    }
}

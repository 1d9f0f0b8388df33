//! Window clients: the state goes to every tab of the scope (controlled or not) with
//! `client.postMessage`, which no other tab can forge, and on the BroadcastChannel.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, Client, ClientQueryOptions, WindowClient};

use super::{js, with_engine};

/// Sends each tab its state message; navigates the tabs that do not run the client.
pub async fn broadcast() -> Result<(), JsValue> {
    let opts: ClientQueryOptions = js::object();
    js::set(&opts, "includeUncontrolled", &JsValue::TRUE);
    js::set(&opts, "type", &JsValue::from_str("window"));
    let list = js::wait(js::scope()?.clients().match_all_with_options(&opts)).await?;
    let now = js::now();
    let mut to_navigate = Vec::new();
    for c in js_sys::Array::from(&list).iter() {
        let Ok(client) = c.dyn_into::<Client>() else { continue };
        let url = client.url();
        let Some((message, target)) = with_engine(|e| {
            let target = e.follow_target(&url).filter(|_| !e.navigates_itself(&client.id()));
            (e.state_message(now, &url), target)
        }) else {
            continue;
        };
        let _ = client.post_message(&JsValue::from_str(&message));
        if let Some(t) = target {
            to_navigate.push((client, t));
        }
    }
    if let Some(message) = with_engine(|e| e.state_message(now, "")) {
        if let Ok(channel) = BroadcastChannel::new("lockstep") {
            let _ = channel.post_message(&JsValue::from_str(&message));
            channel.close();
        }
    }
    // Tabs without the client library: the worker navigates them (controlled ones only).
    for (client, target) in to_navigate {
        if let Ok(w) = client.dyn_into::<WindowClient>() {
            if let Ok(p) = w.navigate(&target) {
                let _ = js::wait(p).await;
            }
        }
    }
    Ok(())
}

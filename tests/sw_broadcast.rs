//! BroadcastChannel inside a real service worker: a post on one channel object reaches
//! another, and the shell's broadcast sends the engine's state message on "lockstep".
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use lockstep::__shell as shell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{BroadcastChannel, MessageEvent, Response, ServiceWorkerGlobalScope};

wasm_bindgen_test_configure!(run_in_service_worker);

fn scope() -> ServiceWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// A listener on its own channel object that resolves with the first message's data.
struct Listener {
    channel: BroadcastChannel,
    received: js_sys::Promise,
    _on_message: Rc<RefCell<Option<Closure<dyn FnMut(MessageEvent)>>>>,
}

fn listen(name: &str) -> Listener {
    let channel = BroadcastChannel::new(name).unwrap();
    let slot: Rc<RefCell<Option<Closure<dyn FnMut(MessageEvent)>>>> = Rc::default();
    let received = js_sys::Promise::new(&mut |resolve, _| {
        let c = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let _ = resolve.call1(&JsValue::NULL, &e.data());
        });
        channel.set_onmessage(Some(c.as_ref().unchecked_ref()));
        *slot.borrow_mut() = Some(c);
    });
    Listener { channel, received, _on_message: slot }
}

/// Resolves with the message, or fails the test after `ms`.
async fn within(p: &js_sys::Promise, ms: i32) -> JsValue {
    let timeout = js_sys::Promise::new(&mut |_, reject| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&reject, ms);
    });
    let race = js_sys::Promise::race(&js_sys::Array::of2(p, &timeout));
    JsFuture::from(race).await.expect("a message arrived in time")
}

#[wasm_bindgen_test]
async fn a_post_on_one_channel_object_reaches_another() {
    let listener = listen("lockstep-test");
    let sender = BroadcastChannel::new("lockstep-test").unwrap();
    sender.post_message(&JsValue::from_str("{\"v\":1}")).unwrap();
    let data = within(&listener.received, 3000).await;
    assert_eq!(data.as_string().as_deref(), Some("{\"v\":1}"));
    sender.close();
    listener.channel.close();
}

#[wasm_bindgen_test]
async fn the_shell_broadcasts_the_state_message_on_lockstep() {
    const URL: &str = "/__lockstep-test/broadcast.config.json";
    let caches = scope().caches().unwrap();
    let cache: web_sys::Cache = JsFuture::from(caches.open("lockstep-config")).await.unwrap().unchecked_into();
    let full = format!("{}{}", scope().location().origin(), URL);
    let config = r#"{"loginUrl":"/login","apis":[{"origin":"https://api.example.test"}],"idle":{"timeoutSeconds":60,"warningSeconds":10}}"#;
    JsFuture::from(cache.put_with_str(&full, &Response::new_with_opt_str(Some(config)).unwrap())).await.unwrap();
    shell::unload();
    wasm_bindgen_futures::JsFuture::from(shell::start(URL.into(), false, JsValue::UNDEFINED, JsValue::UNDEFINED)).await.expect("the worker loads");

    let listener = listen("lockstep");
    shell::broadcast().await.expect("broadcast");
    let data = within(&listener.received, 3000).await.as_string().expect("the state is JSON text");
    listener.channel.close();
    for part in ["\"v\":1", "\"type\":\"state\"", "\"status\":\"logged-out\"", "\"wakeAt\":", "\"idle\":{\"timeoutMs\":60000,\"warningMs\":10000}"] {
        assert!(data.contains(part), "{part} in {data}");
    }
    assert!(!data.contains("Token"), "no token field on the channel: {data}");
}

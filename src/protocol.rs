//! The messages between pages and the worker (see docs/PROTOCOL.md).
//!
//! Pages can only ask: no message claims a state. Decoding is strict (version, shape,
//! size) and returns an error naming the field; it never panics.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{Input, InputError};

/// The protocol version every message carries as `v`.
pub const VERSION: u32 = 1;
/// The largest page message accepted, in bytes of JSON.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// A request from a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientMessage {
    /// A tab started at `url`.
    Hello {
        /// The tab's `location.href`.
        url: String,
    },
    /// Asks for the current state.
    GetState,
    /// User activity in the tab.
    Activity,
    /// A tab's timer passed a deadline the worker announced.
    Tick,
    /// The user asked to log out.
    Logout,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
enum Wire {
    Hello { v: u32, url: String },
    GetState { v: u32 },
    Activity { v: u32 },
    Tick { v: u32 },
    Logout { v: u32 },
}

/// Decodes a page message from its JSON text.
pub fn decode(json: &str) -> Result<ClientMessage, InputError> {
    if json.len() > MAX_MESSAGE_BYTES {
        return Err(InputError::new(Input::Message, "", "larger than 4096 bytes"));
    }
    let wire: Wire = InputError::decode(Input::Message, json)?;
    let (v, msg) = match wire {
        Wire::Hello { v, url } => (v, ClientMessage::Hello { url }),
        Wire::GetState { v } => (v, ClientMessage::GetState),
        Wire::Activity { v } => (v, ClientMessage::Activity),
        Wire::Tick { v } => (v, ClientMessage::Tick),
        Wire::Logout { v } => (v, ClientMessage::Logout),
    };
    if v != VERSION {
        return Err(InputError::new(Input::Message, "v", "expected protocol version 1"));
    }
    Ok(msg)
}

/// The session as every tab sees it: never a token.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateView<'a> {
    /// `"logged-in"` or `"logged-out"`.
    pub status: &'static str,
    /// User info from the token response, as the server sent it.
    pub user: Option<&'a RawValue>,
    /// When the access token expires (worker clock, ms).
    pub expires_at: Option<u64>,
    /// When the session ends without activity (worker clock, ms).
    pub idle_deadline: Option<u64>,
    /// The session epoch.
    pub epoch: u64,
    /// Why the session ended, if it did.
    pub reason: Option<&'static str>,
    /// Always `"worker"` here; the client says `"broadcast-only"` without a worker.
    pub mode: &'static str,
}

/// The idle settings tabs need for their timers.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdleView {
    /// The idle timeout.
    pub timeout_ms: u64,
    /// The warning period before the deadline.
    pub warning_ms: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StateMessage<'a> {
    v: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    now: u64,
    state: &'a StateView<'a>,
    idle: Option<IdleView>,
    wake_at: Option<u64>,
    navigate: Option<&'a str>,
    debug: bool,
}

/// Encodes a `state` message for a tab.
pub fn encode_state(now: u64, state: &StateView<'_>, idle: Option<IdleView>, wake_at: Option<u64>, navigate: Option<&str>, debug: bool) -> String {
    let msg = StateMessage { v: VERSION, kind: "state", now, state, idle, wake_at, navigate, debug };
    serde_json::to_string(&msg).unwrap_or_default()
}

/// Error codes sent to pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The page's message was refused.
    BadMessage,
    /// The worker's config is missing or invalid.
    BadConfig,
    /// The worker could not load.
    NotReady,
}

impl ErrorCode {
    fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad-message",
            ErrorCode::BadConfig => "bad-config",
            ErrorCode::NotReady => "not-ready",
        }
    }
}

/// Encodes an `error` message.
pub fn encode_error(code: ErrorCode, message: &str) -> String {
    #[derive(Serialize)]
    struct ErrorMessage<'a> {
        v: u32,
        #[serde(rename = "type")]
        kind: &'static str,
        code: &'static str,
        message: &'a str,
    }
    serde_json::to_string(&ErrorMessage { v: VERSION, kind: "error", code: code.as_str(), message }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_request() {
        assert_eq!(decode(r#"{"v":1,"type":"hello","url":"https://a.test/x"}"#).unwrap(), ClientMessage::Hello { url: "https://a.test/x".into() });
        assert_eq!(decode(r#"{"type":"get-state","v":1}"#).unwrap(), ClientMessage::GetState);
        assert_eq!(decode(r#"{"v":1,"type":"activity"}"#).unwrap(), ClientMessage::Activity);
        assert_eq!(decode(r#"{"v":1,"type":"tick"}"#).unwrap(), ClientMessage::Tick);
        assert_eq!(decode(r#"{"v":1,"type":"logout"}"#).unwrap(), ClientMessage::Logout);
    }

    #[test]
    fn refuses_forgeries_and_wrong_shapes() {
        for bad in [
            r#"{"v":1,"type":"state","state":{"status":"logged-in"}}"#,
            r#"{"v":1,"type":"login","user":"mallory"}"#,
            r#"{"v":2,"type":"logout"}"#,
            r#"{"type":"logout"}"#,
            r#"{"v":"1","type":"logout"}"#,
            r#"{"v":1,"type":"logout","epoch":99}"#,
            r#"{"v":1,"type":"hello"}"#,
            r#"{"v":1,"type":"hello","url":5}"#,
            r#"{"v":1}"#,
            "[]",
            "null",
            "",
        ] {
            assert!(decode(bad).is_err(), "{bad} must be refused");
        }
        let big = format!(r#"{{"v":1,"type":"hello","url":"{}"}}"#, "a".repeat(5000));
        assert_eq!(decode(&big).unwrap_err().message, "larger than 4096 bytes");
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(decode(r#"{"v":2,"type":"logout"}"#).unwrap_err().field, "v");
        let e = decode(r#"{"v":1,"type":"logout","epoch":9}"#).unwrap_err();
        assert!(e.message.contains("epoch"), "{e}");
    }

    #[test]
    fn state_message_shape() {
        let user = RawValue::from_string(r#"{"name":"ada"}"#.into()).unwrap();
        let view = StateView { status: "logged-in", user: Some(&user), expires_at: Some(5), idle_deadline: None, epoch: 3, reason: None, mode: "worker" };
        let s = encode_state(1, &view, None, Some(5), Some("https://a.test/x"), false);
        assert_eq!(
            s,
            r#"{"v":1,"type":"state","now":1,"state":{"status":"logged-in","user":{"name":"ada"},"expiresAt":5,"idleDeadline":null,"epoch":3,"reason":null,"mode":"worker"},"idle":null,"wakeAt":5,"navigate":"https://a.test/x","debug":false}"#
        );
        assert_eq!(encode_error(ErrorCode::BadMessage, "x\"y"), r#"{"v":1,"type":"error","code":"bad-message","message":"x\"y"}"#);
    }
}

//! The messages between pages and the worker (see docs/PROTOCOL.md).
//!
//! Pages can only ask: no message claims a state. Decoding is strict (version, shape,
//! size) and returns an error naming the field; it never panics.

use crate::error::{Input, InputError, Refused};
use crate::json::{self, Object, ObjectWriter, Value};

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

/// Decodes a page message from its JSON text.
pub fn decode(json: &str) -> Result<ClientMessage, InputError> {
    read(json).map_err(|e| *e)
}

fn read(json: &str) -> Result<ClientMessage, Refused> {
    if json.len() > MAX_MESSAGE_BYTES {
        return Err(InputError::boxed(Input::Message, String::new(), "larger than 4096 bytes"));
    }
    let doc = json::parse(Input::Message, json)?;
    let mut o = Object::new(Input::Message, "", &doc)?;
    match o.require("v")? {
        Value::Number("1") => {}
        _ => return Err(o.error("v", "expected protocol version 1")),
    }
    let msg = match o.string("type")? {
        Some("hello") => ClientMessage::Hello { url: o.string("url")?.ok_or_else(|| o.error("url", "missing"))?.to_string() },
        Some("get-state") => ClientMessage::GetState,
        Some("activity") => ClientMessage::Activity,
        Some("tick") => ClientMessage::Tick,
        Some("logout") => ClientMessage::Logout,
        Some(_) => return Err(o.error("type", "unknown message type (expected hello, get-state, activity, tick or logout)")),
        None => return Err(o.error("type", "missing")),
    };
    o.finish()?;
    Ok(msg)
}

/// The session as every tab sees it: never a token.
#[derive(Clone, Debug)]
pub struct StateView<'a> {
    /// `"logged-in"` or `"logged-out"`.
    pub status: &'static str,
    /// User info from the token response, as the server sent it.
    pub user: Option<&'a str>,
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
#[derive(Clone, Copy, Debug)]
pub struct IdleView {
    /// The idle timeout.
    pub timeout_ms: u64,
    /// The warning period before the deadline.
    pub warning_ms: u64,
}

impl StateView<'_> {
    /// The state as a JSON object.
    pub fn to_json(&self) -> String {
        ObjectWriter::new()
            .string("status", Some(self.status))
            .raw("user", self.user)
            .uint("expiresAt", self.expires_at)
            .uint("idleDeadline", self.idle_deadline)
            .uint("epoch", Some(self.epoch))
            .string("reason", self.reason)
            .string("mode", Some(self.mode))
            .finish()
    }
}

/// Encodes a `state` message for a tab.
pub fn encode_state(now: u64, state: &StateView<'_>, idle: Option<IdleView>, wake_at: Option<u64>, navigate: Option<&str>, debug: bool) -> String {
    let idle = idle.map(|i| ObjectWriter::new().uint("timeoutMs", Some(i.timeout_ms)).uint("warningMs", Some(i.warning_ms)).finish());
    ObjectWriter::new()
        .uint("v", Some(u64::from(VERSION)))
        .string("type", Some("state"))
        .uint("now", Some(now))
        .raw("state", Some(&state.to_json()))
        .raw("idle", idle.as_deref())
        .uint("wakeAt", wake_at)
        .string("navigate", navigate)
        .boolean("debug", debug)
        .finish()
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
    ObjectWriter::new().uint("v", Some(u64::from(VERSION))).string("type", Some("error")).string("code", Some(code.as_str())).string("message", Some(message)).finish()
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
        assert_eq!((e.field.as_str(), e.message.as_str()), ("epoch", "unknown field"));
    }

    #[test]
    fn state_message_shape() {
        let view = StateView { status: "logged-in", user: Some(r#"{"name":"ada"}"#), expires_at: Some(5), idle_deadline: None, epoch: 3, reason: None, mode: "worker" };
        let s = encode_state(1, &view, None, Some(5), Some("https://a.test/x"), false);
        assert_eq!(
            s,
            r#"{"v":1,"type":"state","now":1,"state":{"status":"logged-in","user":{"name":"ada"},"expiresAt":5,"idleDeadline":null,"epoch":3,"reason":null,"mode":"worker"},"idle":null,"wakeAt":5,"navigate":"https://a.test/x","debug":false}"#
        );
        assert_eq!(encode_error(ErrorCode::BadMessage, "x\"y"), r#"{"v":1,"type":"error","code":"bad-message","message":"x\"y"}"#);
    }
}

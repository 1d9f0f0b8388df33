//! One error type for everything that comes from outside the worker.

use core::fmt;

/// Which kind of outside input was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// `lockstep.config.json`
    Config,
    /// A message from a page.
    Message,
    /// A token endpoint's or the refresh endpoint's response.
    TokenResponse,
    /// The cross-site session cookie.
    Cookie,
    /// The state persisted in IndexedDB.
    Persisted,
}

/// Refused input: what it was, which field, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// Which input.
    pub input: Input,
    /// The field's path, such as `apis[0].origin`; empty for the whole document.
    pub field: String,
    /// What was wrong, or expected.
    pub message: String,
}

impl InputError {
    /// An error about `field` of `input`.
    pub fn new(input: Input, field: impl Into<String>, message: impl Into<String>) -> Self {
        InputError { input, field: field.into(), message: message.into() }
    }

    /// An error about `field` of `input`, boxed as the decoders pass it up. Not generic (one
    /// copy in the wasm rather than one per argument type): the field is a path the caller
    /// built, the message a fixed text.
    pub fn boxed(input: Input, field: String, message: &str) -> Refused {
        Box::new(InputError { input, field, message: message.to_string() })
    }
}

/// An [`InputError`] behind a pointer, as the decoders pass it up through their many `?`:
/// in the wasm each `?` copies the error, and a pointer is one word where the error is seven.
/// The public decoders unbox it once.
pub type Refused = Box<InputError>;

impl InputError {
    /// The readable message, as [`Display`](fmt::Display) writes it. The shipped code calls
    /// this rather than `to_string()`, which would bring the formatting machinery along.
    pub fn text(&self) -> String {
        let mut s = String::from(match self.input {
            Input::Config => "lockstep.config.json",
            Input::Message => "message",
            Input::TokenResponse => "token response",
            Input::Cookie => "session cookie",
            Input::Persisted => "persisted state",
        });
        if !self.field.is_empty() {
            s.push_str(": field `");
            s.push_str(&self.field);
            s.push('`');
        }
        s.push_str(": ");
        s.push_str(&self.message);
        s
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

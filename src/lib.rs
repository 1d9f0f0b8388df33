//! Lockstep keeps the login session of every tab of a web app in lockstep.
//!
//! ```text
//!  page / network / cookie events ──▶ bootstrap (JS) ──▶ shell (wasm exports) ──▶ Engine::handle_*(now_ms, …)
//!                                         ▲    IO                                    │
//!                                         └──── {"do": …} (bridge) ◀── Effect (poll) ┘
//! ```
//!
//! The [`engine`] decides everything and never touches the browser: it takes events with
//! the wall-clock time as an argument and hands back effects (broadcast, persist, refresh,
//! call logout, set the cross-site cookie) and verdicts on requests. The wasm-only `shell`
//! exposes it as synchronous exports; [`bridge`] encodes what they answer as small JSON
//! objects, which the service-worker bootstrap (`sw/lockstep-sw.js`) carries out with the
//! browser's APIs. No async runtime and no web-sys in the shipped module.
#![warn(missing_docs)]

pub mod bridge;
pub mod config;
pub mod error;
pub mod json;
pub mod encode;
pub mod engine;
pub mod origin;
pub mod protocol;
pub mod return_url;
pub mod token;

/// The wasm exports the bootstrap calls (public for the wasm-bindgen-test suites in `tests/`).
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod shell;


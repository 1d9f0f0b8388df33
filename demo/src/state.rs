//! The state the three listeners share: sessions, authorization codes, counters, test
//! settings and the config override. One `Mutex`; never held across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use serde::Serialize;

use crate::oauth::AuthCode;
use crate::sessions::Sessions;

/// Which origin a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    App,
    Api,
    Other,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::App => "app",
            Role::Api => "api",
            Role::Other => "other",
        }
    }
}

/// The ports actually bound (they differ from the options when 0 was asked for).
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub app: u16,
    pub api: u16,
    pub other: u16,
}

impl Ports {
    pub fn of(&self, role: Role) -> u16 {
        match role {
            Role::App => self.app,
            Role::Api => self.api,
            Role::Other => self.other,
        }
    }
}

/// Read-only facts fixed at start.
pub struct Setup {
    pub ports: Ports,
    pub dist: PathBuf,
    pub static_dir: PathBuf,
    pub test_hooks: bool,
    pub quiet: bool,
}

/// What every request handler gets.
pub struct Shared {
    pub setup: Setup,
    started: Instant,
    state: Mutex<State>,
}

impl Shared {
    pub fn new(setup: Setup) -> Self {
        Shared { setup, started: Instant::now(), state: Mutex::new(State::default()) }
    }

    /// Milliseconds since start: the clock of sessions and codes.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Locks the state. A poisoned lock (a panic elsewhere) still yields the data: this is
    /// a test server and the counters are still worth reading.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Default)]
pub struct State {
    pub sessions: Sessions,
    pub codes: HashMap<String, AuthCode>,
    pub counters: Counters,
    pub settings: Settings,
    /// Set by `PUT /__test/lockstep-config`, cleared by `POST /__test/reset`.
    pub config_override: Option<String>,
    /// True once `revoke-all` ran: `/v1` requests then count in `apiAfterRevoke`.
    pub revoked_all: bool,
}

/// `GET /__test/counters`.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub requests: BTreeMap<String, u64>,
    pub bearer: BTreeMap<String, u64>,
    pub api_after_revoke: u64,
    pub login: u64,
    pub token: u64,
    pub refresh: u64,
    pub refresh_reuse: u64,
    pub logout: u64,
    pub api401: u64,
    pub other_with_bearer: u64,
    pub other_total: u64,
}

/// `POST /__test/settings`; back to defaults on `POST /__test/reset`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Lifetime of new access tokens, seconds.
    pub expires_in: u64,
    /// Delay before answering a refresh grant.
    pub refresh_delay_ms: u64,
    /// Forced status for refresh grants (`None`: behave normally).
    pub refresh_status: Option<u16>,
    /// Forced status for `/api/logout`.
    pub logout_status: Option<u16>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { expires_in: 300, refresh_delay_ms: 0, refresh_status: None, logout_status: None }
    }
}

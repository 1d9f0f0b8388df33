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
    /// True once the API sent its first 401 after the last `revoke-all`.
    pub first_401_sent: bool,
    /// 401 answers held back while `hold401` is on, oldest first; `release-401` sends them.
    pub parked: std::collections::VecDeque<tokio::sync::oneshot::Sender<()>>,
    /// The last `Authorization` header value seen per `"<port> <path>"` (`GET /__test/authorization`).
    pub authorization: BTreeMap<String, String>,
    /// Every token pair issued since start or the last reset, oldest first (`last-tokens`).
    pub issued: Vec<(String, String)>,
    /// Authorized arrivals per `id` query parameter of `/v1` requests
    /// (`GET /__test/request-ids`), cleared by reset.
    pub request_ids: BTreeMap<String, u64>,
    /// Arrivals with an `id` that were refused (401), cleared by reset.
    pub refused_ids: u64,
}

/// Wall-clock time since the Unix epoch (zero for a clock set before it).
fn since_epoch() -> std::time::Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
}

/// Wall-clock milliseconds since the Unix epoch (for timestamps tests compare with theirs).
pub fn unix_ms() -> u64 {
    u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX)
}

/// `unix_ms` to the microsecond, as a page's `performance.timeOrigin + performance.now()`.
pub fn unix_ms_fine() -> f64 {
    since_epoch().as_secs_f64() * 1000.0
}

/// The most token pairs `issued` remembers (oldest dropped first).
pub const MAX_ISSUED: usize = 1000;

impl State {
    /// Remembers an issued pair for `GET /__test/last-tokens`.
    pub fn remember(&mut self, access: &str, refresh: &str) {
        if self.issued.len() >= MAX_ISSUED {
            self.issued.remove(0);
        }
        self.issued.push((access.to_string(), refresh.to_string()));
    }
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
    /// `/v1` requests (not preflights) that arrived after the first 401 following the last
    /// `revoke-all` was sent (with `hold401`: released). See docs/DEMO-SERVER.md.
    #[serde(rename = "apiAfterFirst401")]
    pub api_after_first401: u64,
    /// 401 answers held right now (`hold401`).
    #[serde(rename = "parked401")]
    pub parked401: u64,
    /// Unix time (ms) the first 401 after the last `revoke-all` was sent.
    #[serde(rename = "first401At")]
    pub first401_at: Option<u64>,
    /// Refresh grants answered from the refresh cookie (no `refresh_token` in the body).
    pub refresh_by_cookie: u64,
    /// `/v1` requests with no bearer that arrived while the last session was live.
    pub live_no_bearer: u64,
    /// `/v1` requests whose bearer was stale (unknown, expired by time, or of a revoked
    /// session) that arrived while the last session was live. Tokens expired by
    /// `expire-access` are not counted: no client can know before the 401.
    pub live_stale_bearer: u64,
    /// `/api/logout` calls that carried no bearer (they cannot revoke any session).
    pub logout_without_bearer: u64,
    /// `/api/login` requests refused for want of the `lockstep-worker` header.
    pub login_without_worker: u64,
    /// Unix time (ms, to the microsecond) the last successful `/api/login` answer was made:
    /// where bench/propagation.mjs times "login seen by all tabs" from.
    pub last_login_at: Option<f64>,
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
    /// A malformed success body for `/api/login` (`None`: the real one).
    pub login_response: Option<LoginResponse>,
    /// Hold every API 401 until `POST /__test/release-401`.
    #[serde(rename = "hold401")]
    pub hold401: bool,
    /// Refuse `/api/login` requests without the `lockstep-worker` header (403): the
    /// server-side defence SECURITY.md recommends against token answers reaching page script.
    pub require_worker_header: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { expires_in: 300, refresh_delay_ms: 0, refresh_status: None, logout_status: None, login_response: None, hold401: false, require_worker_header: false }
    }
}

/// Malformed `200` bodies `/api/login` can answer with (setting `loginResponse`).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum LoginResponse {
    /// Not JSON: a truncated object.
    BadJson,
    /// JSON, but an array.
    NotObject,
    /// No `access_token`.
    MissingAccessToken,
    /// `access_token` is a number.
    NumberAccessToken,
    /// `access_token` carries CR LF and a header.
    HeaderInjection,
    /// A 64 KiB `access_token`.
    HugeAccessToken,
    /// `expires_in` is 1e300.
    HugeExpiresIn,
    /// A 300 KiB body.
    HugeBody,
    /// A 10 MiB body (valid JSON, real-looking fields).
    #[serde(rename = "huge-10mb")]
    Huge10mb,
}

impl LoginResponse {
    pub const ALL: [(&'static str, LoginResponse); 9] = [
        ("bad-json", LoginResponse::BadJson),
        ("not-object", LoginResponse::NotObject),
        ("missing-access-token", LoginResponse::MissingAccessToken),
        ("number-access-token", LoginResponse::NumberAccessToken),
        ("header-injection", LoginResponse::HeaderInjection),
        ("huge-access-token", LoginResponse::HugeAccessToken),
        ("huge-expires-in", LoginResponse::HugeExpiresIn),
        ("huge-body", LoginResponse::HugeBody),
        ("huge-10mb", LoginResponse::Huge10mb),
    ];

    /// The body to send (tokens in it are never issued, so they cannot work anywhere).
    pub fn body(self) -> String {
        let user = r#""user":{"name":"ada"},"token_type":"Bearer""#;
        match self {
            LoginResponse::BadJson => r#"{"access_token":"at_bad","refresh_token":"rt_bad","expires_in":3"#.to_string(),
            LoginResponse::NotObject => r#"["at_bad","rt_bad"]"#.to_string(),
            LoginResponse::MissingAccessToken => format!(r#"{{"refresh_token":"rt_bad","expires_in":300,{user}}}"#),
            LoginResponse::NumberAccessToken => format!(r#"{{"access_token":12345,"refresh_token":"rt_bad","expires_in":300,{user}}}"#),
            LoginResponse::HeaderInjection => {
                format!(r#"{{"access_token":"at_bad\r\nX-Evil: 1","refresh_token":"rt_bad","expires_in":300,{user}}}"#)
            }
            LoginResponse::HugeAccessToken => {
                format!(r#"{{"access_token":"at_{}","refresh_token":"rt_bad","expires_in":300,{user}}}"#, "A".repeat(64 * 1024))
            }
            LoginResponse::HugeExpiresIn => format!(r#"{{"access_token":"at_bad","refresh_token":"rt_bad","expires_in":1e300,{user}}}"#),
            LoginResponse::HugeBody => {
                format!(r#"{{"access_token":"at_bad","refresh_token":"rt_bad","expires_in":300,{user},"pad":"{}"}}"#, "x".repeat(300 * 1024))
            }
            LoginResponse::Huge10mb => {
                format!(r#"{{"access_token":"at_bad","refresh_token":"rt_bad","expires_in":300,{user},"pad":"{}"}}"#, "x".repeat(10 * 1024 * 1024))
            }
        }
    }
}

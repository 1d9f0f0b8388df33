//! The session engine: every decision of Lockstep, with no I/O.
//!
//! Calling order, for the shell and the tests alike:
//!
//! 1. [`Engine::new`] with the validated config and the worker's scope path, then
//!    [`Engine::restore`] with whatever was persisted (before any other event).
//! 2. For each browser event, one `handle_*` / [`Engine::admit`] call with the current wall
//!    clock in milliseconds. Every call first checks the absolute deadlines (idle end,
//!    proactive refresh, a refresh that hangs, logout retry), so nothing depends on a timer
//!    firing inside the worker.
//! 3. After each call, drain [`Engine::poll_effect`] and run the effects in order.
//! 4. [`Engine::next_deadline`] is announced to the tabs (`wakeAt`): they hold the timers.

mod cross_site;
mod persist;
mod requests;

use crate::config::Config;
use crate::error::InputError;
use crate::protocol::{self, ClientMessage, ErrorCode, IdleView, StateView};
use crate::origin::parse_url;
use crate::return_url;

pub use cross_site::{parse_marker, Marker};
pub use persist::Persisted;
pub use requests::{Admission, Route, TokenVerdict, Verdict, WORKER_HEADER};

/// How long a request may wait for a refresh before it gets an error.
pub const REFRESH_WAIT_MS: u64 = 10_000;
/// How long a refresh may take before it is given up as failed.
pub const REFRESH_TIMEOUT_MS: u64 = 15_000;
/// While a refresh is in flight, a token this close to its expiry is not sent any more:
/// requests wait for the new one (the server's clock started before the worker's did).
pub const EXPIRY_SKEW_MS: u64 = 2_000;
/// The first logout retry delay; it doubles up to [`LOGOUT_RETRY_MAX_MS`].
pub const LOGOUT_RETRY_MS: u64 = 1_000;
/// While a logout call is out, how often the tabs wake the worker to look at it (a worker
/// stopped in the middle sends it again; a live one leaves it alone).
pub const LOGOUT_WAKE_MS: u64 = 5_000;
/// The longest logout retry delay.
pub const LOGOUT_RETRY_MAX_MS: u64 = 60_000;
const MAX_GREETED: usize = 256;
/// Client ids are UUIDs in browsers; anything longer is not kept.
const MAX_CLIENT_ID_BYTES: usize = 128;
/// The longest URL a tab's `hello` may move it to (longer ones are not kept).
const MAX_TAB_URL_BYTES: usize = crate::return_url::MAX_RETURN_SOURCE_BYTES;
/// Ends of session whose logout call is still owed; beyond this the oldest is dropped.
const MAX_PENDING_LOGOUTS: usize = 16;

/// Why the session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A user logged out.
    Logout,
    /// No activity in any tab until the idle deadline.
    Idle,
    /// The API answered 401 and a refresh could not cure it.
    Unauthorized,
    /// The refresh endpoint refused or failed.
    RefreshFailed,
    /// The access token expired (or was lost) with no way to refresh it.
    Expired,
    /// Another app of the site ended the session (cross-site cookie).
    Elsewhere,
}

impl Reason {
    /// The reason named `s`, as [`Reason::as_str`] writes it.
    pub fn parse(s: &str) -> Option<Reason> {
        Some(match s {
            "logout" => Reason::Logout,
            "idle" => Reason::Idle,
            "unauthorized" => Reason::Unauthorized,
            "refresh-failed" => Reason::RefreshFailed,
            "expired" => Reason::Expired,
            "elsewhere" => Reason::Elsewhere,
            _ => return None,
        })
    }

    /// The name tabs see in `state.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Logout => "logout",
            Reason::Idle => "idle",
            Reason::Unauthorized => "unauthorized",
            Reason::RefreshFailed => "refresh-failed",
            Reason::Expired => "expired",
            Reason::Elsewhere => "elsewhere",
        }
    }
}

/// Something the shell must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Send the state to every window client (with its own `navigate`) and on the
    /// BroadcastChannel.
    Broadcast,
    /// Write [`Engine::persisted`] to IndexedDB.
    Persist,
    /// POST a refresh request; report with `handle_refresh_response` / `handle_refresh_error`.
    Refresh {
        /// The refresh endpoint.
        url: String,
        /// The request body.
        body: String,
        /// Its content type.
        content_type: &'static str,
        /// The epoch this refresh belongs to: hand it back with the answer, so that a slow
        /// answer for an earlier session is never taken for the current one's.
        epoch: u64,
    },
    /// Call the logout endpoint; report with `handle_logout_result`.
    Logout {
        /// The logout endpoint.
        url: String,
        /// Its method.
        method: String,
        /// The bearer of the session that ended, if still known.
        token: Option<String>,
        /// The epoch this call belongs to.
        epoch: u64,
    },
    /// Write the cross-site session cookie.
    SetCookie {
        /// The cookie's name.
        name: String,
        /// Its parent domain.
        domain: String,
        /// The marker.
        value: String,
    },
    /// A refresh settled (or the session ended): requests waiting on it admit again.
    RefreshSettled,
    /// The session ended: cancel the API requests of the ended session that are still in
    /// flight and that [`Engine::cancels_on_end`] allows, and answer them as blocked. Those
    /// still queued in the browser never reach the API with the dead token.
    CancelRequests,
}

#[derive(Clone, Debug)]
pub(crate) struct Login {
    user: Option<String>,
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_at: Option<u64>,
}

#[derive(Clone, Debug)]
pub(crate) enum Session {
    LoggedOut { reason: Option<Reason> },
    LoggedIn(Box<Login>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingLogout {
    epoch: u64,
    token: Option<String>,
    retry_at: u64,
    attempts: u32,
    in_flight: bool,
    /// While `in_flight`: when the tabs wake the worker to look at the call again (not
    /// persisted). A worker stopped in the middle of the call forgets it was sent; without
    /// this tick, tabs idle on the login page would never wake it to send it again.
    wake_at: u64,
}

/// The session engine. See the module docs for the calling order.
pub struct Engine {
    config: Config,
    scope: String,
    epoch: u64,
    session: Session,
    generation: u64,
    idle_deadline: Option<u64>,
    refresh_since: Option<u64>,
    refresh_epoch: u64,
    /// The token generation the API answered 401 to (not persisted: a restart starts over).
    refused_generation: Option<u64>,
    pending_logouts: Vec<PendingLogout>,
    marker: Option<String>,
    next_marker: Option<String>,
    seen_marker: Option<cross_site::Marker>,
    /// Oldest first. Vecs, not VecDeques: a few entries, and one collection type less in the wasm.
    greeted: Vec<String>,
    /// The URL a tab last said it was at (`hello`), where it differs from the one the browser
    /// gives (a `Client`'s URL is the one its page was loaded at: `pushState` does not change
    /// it). Oldest first; not persisted: the client says it again to a restarted worker.
    moved: Vec<(String, String)>,
    effects: Vec<Effect>,
}

impl Engine {
    /// A fresh engine, logged out at epoch 0, for a worker whose scope path is `scope`.
    pub fn new(config: Config, scope: &str) -> Engine {
        Engine {
            config,
            scope: if scope.starts_with('/') { scope.to_string() } else { "/".to_string() },
            epoch: 0,
            session: Session::LoggedOut { reason: None },
            generation: 0,
            idle_deadline: None,
            refresh_since: None,
            refresh_epoch: 0,
            refused_generation: None,
            pending_logouts: Vec::new(),
            marker: None,
            next_marker: None,
            seen_marker: None,
            greeted: Vec::new(),
            moved: Vec::new(),
            effects: Vec::new(),
        }
    }

    /// The config this engine runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The next effect to run, in order.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        if self.effects.is_empty() {
            return None;
        }
        Some(self.effects.remove(0))
    }

    /// Queues `effect` (one call site each, not an inlined queue push).
    #[inline(never)]
    fn emit(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    /// True when effects wait in the queue.
    pub fn has_effects(&self) -> bool {
        !self.effects.is_empty()
    }

    /// The session epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// True while logged in.
    pub fn is_logged_in(&self) -> bool {
        matches!(self.session, Session::LoggedIn(_))
    }

    /// The earliest absolute time at which the engine must be woken (with any event).
    pub fn next_deadline(&self) -> Option<u64> {
        let mut next: Option<u64> = None;
        let mut take = |t: Option<u64>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if let Session::LoggedIn(login) = &self.session {
            take(self.idle_deadline);
            match self.refresh_since {
                Some(since) => take(Some(since.saturating_add(REFRESH_TIMEOUT_MS))),
                None => take(self.refresh_due_at(login)),
            }
        }
        for p in &self.pending_logouts {
            take(Some(if p.in_flight { p.wake_at } else { p.retry_at }));
        }
        next
    }

    /// The session as tabs see it.
    pub fn view(&self) -> StateView<'_> {
        let (status, user, expires_at, reason) = match &self.session {
            Session::LoggedIn(l) => ("logged-in", l.user.as_deref(), l.expires_at, None),
            Session::LoggedOut { reason } => ("logged-out", None, None, reason.map(Reason::as_str)),
        };
        StateView { status, user, expires_at, idle_deadline: self.idle_deadline.filter(|_| status == "logged-in"), epoch: self.epoch, reason, mode: "worker" }
    }

    /// The `state` message for a tab at `client_url`, with where it must go now.
    pub fn state_message(&self, now: u64, client_url: &str) -> String {
        let navigate = self.follow_target(client_url);
        let idle = self.config.idle.map(|i| IdleView { timeout_ms: i.timeout_ms, warning_ms: i.warning_ms });
        protocol::encode_state(now, &self.view(), idle, self.next_deadline(), navigate.as_deref(), self.config.debug)
    }

    /// Where a tab at `client_url` must go now, if anywhere: the login page after an end of
    /// session, or back to its validated return URL after a login.
    pub fn follow_target(&self, client_url: &str) -> Option<String> {
        match &self.session {
            Session::LoggedOut { reason: Some(_) } => return_url::login_redirect(&self.config, &self.scope, client_url),
            Session::LoggedOut { reason: None } => None,
            Session::LoggedIn(_) => return_url::return_target(&self.config, &self.scope, client_url),
        }
    }

    /// The URL the tab `client_id` is at: the one it said in its last `hello` when that
    /// differs from `client_url`, the browser's (a page can move only within its origin:
    /// `pushState`); otherwise `client_url`.
    pub fn tab_url<'a>(&'a self, client_id: &str, client_url: &'a str) -> &'a str {
        self.moved.iter().find(|(id, _)| id == client_id).map_or(client_url, |(_, url)| url.as_str())
    }

    fn tab_said(&mut self, client_id: &str, client_url: &str, url: &str) {
        if let Some(i) = self.moved.iter().position(|(id, _)| id == client_id) {
            self.moved.remove(i);
        }
        if url == client_url || client_id.len() > MAX_CLIENT_ID_BYTES || url.len() > MAX_TAB_URL_BYTES || !same_origin(url, client_url) {
            return;
        }
        if self.moved.len() >= MAX_GREETED {
            self.moved.remove(0);
        }
        self.moved.push((client_id.to_string(), url.to_string()));
    }

    /// True when the tab with this id runs the Lockstep client, which navigates by itself;
    /// other tabs must be navigated by the worker.
    pub fn navigates_itself(&self, client_id: &str) -> bool {
        self.greeted.iter().any(|c| c == client_id)
    }

    /// A page message (its JSON text) from the tab `client_id` at `client_url`. Returns the
    /// reply for that tab. A bad message gets an error reply and changes nothing.
    pub fn handle_message(&mut self, now: u64, client_id: &str, client_url: &str, json: &str) -> String {
        let message = match protocol::decode(json) {
            Ok(m) => m,
            Err(e) => return protocol::encode_error(ErrorCode::BadMessage, &e.text()),
        };
        self.check_deadlines(now);
        // Only the client library speaks this protocol: whatever it sent, the tab navigates
        // itself (after its subscribers ran). Persisted, so a restarted worker does not take
        // the tab for one without the client and navigate it before its subscribers ran.
        if !self.navigates_itself(client_id) && client_id.len() <= MAX_CLIENT_ID_BYTES {
            if self.greeted.len() >= MAX_GREETED {
                self.greeted.remove(0);
            }
            self.greeted.push(client_id.to_string());
            self.emit(Effect::Persist);
        }
        match &message {
            ClientMessage::Hello { url } => self.tab_said(client_id, client_url, url),
            ClientMessage::Activity => self.activity(now),
            ClientMessage::Logout => self.end_session(now, Reason::Logout, true),
            ClientMessage::GetState | ClientMessage::Tick => {}
        }
        // Where the tab goes is decided from its URL: the browser's, or the one it said in a
        // `hello` if that is in the same origin (where `pushState` can take a page anyway).
        // A return URL is checked against the origin and scope either way (return_url.rs).
        self.state_message(now, self.tab_url(client_id, client_url))
    }

    /// Only the clock moved (a tab's timer, any other event).
    pub fn handle_tick(&mut self, now: u64) {
        self.check_deadlines(now);
    }

    fn activity(&mut self, now: u64) {
        if let (Session::LoggedIn(_), Some(idle)) = (&self.session, self.config.idle) {
            let deadline = now.saturating_add(idle.timeout_ms);
            if self.idle_deadline != Some(deadline) {
                self.idle_deadline = Some(deadline);
                self.emit(Effect::Persist);
                self.emit(Effect::Broadcast);
            }
        }
    }

    /// Checks every absolute deadline against `now`.
    fn check_deadlines(&mut self, now: u64) {
        if let Session::LoggedIn(login) = &self.session {
            if self.idle_deadline.is_some_and(|d| now >= d) {
                return self.end_session(now, Reason::Idle, true);
            }
            let expired = login.expires_at.is_some_and(|e| now >= e) || login.access_token.is_none();
            match self.refresh_since {
                Some(since) if now >= since.saturating_add(REFRESH_TIMEOUT_MS) => {
                    return self.end_session(now, Reason::RefreshFailed, true);
                }
                Some(_) => {}
                None => {
                    if self.refresh_due_at(login).is_some_and(|t| now >= t) || expired && self.config.refresh.is_some() {
                        self.start_refresh(now);
                    } else if expired {
                        return self.end_session(now, Reason::Expired, true);
                    }
                }
            }
        }
        self.retry_logout(now);
    }

    /// Ends the session once: bumps the epoch, forgets the tokens, blocks the APIs, tells
    /// every tab, and calls the logout endpoint (once) unless `call_logout` is false.
    fn end_session(&mut self, now: u64, reason: Reason, call_logout: bool) {
        // Check first: replacing a logged-out session would rewrite its reason (or turn
        // "never logged in" into "ended") with no epoch bump, persist or broadcast.
        if !self.is_logged_in() {
            return;
        }
        let Session::LoggedIn(login) = core::mem::replace(&mut self.session, Session::LoggedOut { reason: Some(reason) }) else {
            return;
        };
        self.epoch += 1;
        self.generation += 1;
        self.idle_deadline = None;
        self.refresh_since = None;
        // The disk write first, started, not awaited: the news then goes to the tabs at once,
        // and a worker killed right after them (a crash; e2e/faults.test.mjs with CDP) comes
        // back with what they were told, bar the write's own 1–3 ms. Written after the
        // broadcast, which waits for `clients.matchAll`, it started 10–15 ms later.
        self.emit(Effect::Persist);
        self.emit(Effect::Broadcast);
        self.emit(Effect::CancelRequests);
        self.emit(Effect::RefreshSettled);
        if call_logout && reason != Reason::Elsewhere {
            if self.config.logout.is_some() {
                // An earlier end's call may still be owed (server down): it is kept, not replaced.
                if self.pending_logouts.len() >= MAX_PENDING_LOGOUTS {
                    self.pending_logouts.remove(0);
                }
                self.pending_logouts.push(PendingLogout { epoch: self.epoch, token: login.access_token, retry_at: now, attempts: 0, in_flight: false, wake_at: 0 });
                self.retry_logout(now);
            }
        }
        if reason != Reason::Elsewhere {
            self.mark_cross_site_ended();
        }
    }

    fn retry_logout(&mut self, now: u64) {
        let Some(logout) = &self.config.logout else { return };
        for p in &mut self.pending_logouts {
            if p.in_flight {
                if now >= p.wake_at {
                    p.wake_at = now.saturating_add(LOGOUT_WAKE_MS); // still out: look again later
                }
            } else if now >= p.retry_at {
                p.in_flight = true;
                p.wake_at = now.saturating_add(LOGOUT_WAKE_MS);
                p.attempts = p.attempts.saturating_add(1);
                self.effects.push(Effect::Logout { url: logout.url.href(), method: logout.method.clone(), token: p.token.clone(), epoch: p.epoch });
            }
        }
    }

    /// Whether a logout call (the worker's own, or the app's) reached the server: it answered
    /// with a status below 500. `None`: it failed on the network.
    pub fn logout_delivered(status: Option<u16>) -> bool {
        matches!(status, Some(s) if s < 500)
    }

    /// The logout call of `epoch` finished: `delivered` when the server answered
    /// ([`Engine::logout_delivered`]); otherwise it is retried with backoff, never lost.
    pub fn handle_logout_result(&mut self, now: u64, epoch: u64, delivered: bool) {
        if let Some(i) = self.pending_logouts.iter().position(|p| p.epoch == epoch) {
            if delivered {
                self.pending_logouts.remove(i);
                self.emit(Effect::Persist);
            } else if let Some(p) = self.pending_logouts.get_mut(i) {
                p.in_flight = false;
                let backoff = LOGOUT_RETRY_MS.saturating_mul(1u64 << p.attempts.min(16)).min(LOGOUT_RETRY_MAX_MS);
                p.retry_at = now.saturating_add(backoff);
                self.emit(Effect::Persist);
                // The tabs hold the timers: tell them the retry time (`wakeAt`), or the retry
                // waits for some unrelated event (found by e2e/faults.test.mjs).
                self.emit(Effect::Broadcast);
            }
        }
        self.check_deadlines(now);
    }

    /// The logout call in flight when the worker stopped never reported: it is sent again.
    fn forget_in_flight_logout(&mut self) {
        for p in &mut self.pending_logouts {
            p.in_flight = false;
        }
    }

    /// Logs in with fresh tokens: a new epoch, a new idle deadline, everyone told.
    fn log_in(&mut self, now: u64, tokens: crate::token::Tokens) {
        self.epoch += 1;
        self.generation += 1;
        let expires_at = tokens.expires_in_ms.map(|ms| now.saturating_add(ms));
        self.session = Session::LoggedIn(Box::new(Login { user: tokens.user, access_token: Some(tokens.access_token), refresh_token: tokens.refresh_token, expires_at }));
        self.idle_deadline = self.config.idle.map(|i| now.saturating_add(i.timeout_ms));
        self.refresh_since = None;
        // As at an end: the disk write started, the tabs told, then the sibling apps' cookie.
        self.emit(Effect::Persist);
        self.emit(Effect::Broadcast);
        self.emit(Effect::RefreshSettled);
        self.mark_cross_site_live();
    }

    fn refresh_due_at(&self, login: &Login) -> Option<u64> {
        let refresh = self.config.refresh.as_ref()?;
        let expires_at = login.expires_at?;
        Some(expires_at.saturating_sub(refresh.before_expiry_ms))
    }

    /// Restores persisted state (JSON from IndexedDB) after a worker start. Corrupt state is
    /// an error and leaves the fresh engine as it is.
    pub fn restore(&mut self, now: u64, json: Option<&str>) -> Result<(), InputError> {
        if let Some(json) = json {
            let persisted = Persisted::decode(json)?;
            self.apply_persisted(persisted);
            self.forget_in_flight_logout();
        }
        self.check_deadlines(now);
        Ok(())
    }
}

/// Whether `url` is an absolute URL in the origin of `base` (`origin::parse_url`: scheme,
/// host and port; so not `https://app.test@evil.test/`). Both are checked again where a URL
/// is used (return_url.rs).
fn same_origin(url: &str, base: &str) -> bool {
    matches!((parse_url(url), parse_url(base)), (Ok(a), Ok(b)) if a.origin == b.origin && !a.has_userinfo)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod world;
#[cfg(test)]
mod input_fuzz;

#[cfg(test)]
mod reason_names {
    use super::Reason;

    #[test]
    fn parse_reads_what_as_str_writes() {
        for r in [Reason::Logout, Reason::Idle, Reason::Unauthorized, Reason::RefreshFailed, Reason::Expired, Reason::Elsewhere] {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        assert_eq!(Reason::parse("Logout"), None);
        assert_eq!(Reason::parse(""), None);
    }
}

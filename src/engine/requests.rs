//! Requests: which are ours, which get the bearer, what a 401 means, and the tokens
//! that token endpoints and the refresh endpoint hand out.

use super::{Effect, Engine, Login, Reason, Session};
use crate::config::TokenFormat;
use crate::error::InputError;
use crate::origin::parse_url;
use crate::token::take_tokens;

/// The header the worker adds to a same-origin token endpoint request, so the server can
/// tell it came through the worker: a request without it reached the network some other
/// way (a worker killed mid-request, which Chromium answers by sending the page's request
/// itself; a form navigation), and its answer would hand the tokens to page script. A token
/// endpoint may refuse such requests (SECURITY.md, "token endpoints reached without the
/// worker").
pub const WORKER_HEADER: &str = "lockstep-worker";

/// What a request is to Lockstep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Not ours: the bootstrap lets it go to the network untouched.
    Other,
    /// A configured API.
    Api,
    /// The token endpoint with this index.
    Token(usize),
    /// The logout endpoint, called by the app itself.
    Logout,
    /// The worker's diagnostics route `{scope}__lockstep/state`.
    State,
}

/// What to do with a request to a configured API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Send it as it is (the app set its own Authorization header, or nobody ever logged in).
    PassThrough,
    /// Send it with `Authorization: Bearer <token>`; report the response with `generation`.
    Attach {
        /// The access token.
        token: String,
        /// The token generation, to tell stale 401s from fresh ones.
        generation: u64,
    },
    /// A refresh is in flight: wait for [`Effect::RefreshSettled`] (at most
    /// [`super::REFRESH_WAIT_MS`]) and admit again.
    Wait,
    /// The session has ended: answer a local `401` with `lockstep-blocked: 1`.
    Block,
}

/// What to do with an API response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Give it to the page.
    Deliver,
    /// Send the request again, once, with this newer token.
    Replay {
        /// The newer access token.
        token: String,
        /// Its generation.
        generation: u64,
    },
    /// Wait for the refresh just started (or in flight), then admit and send it once more.
    WaitThenReplay,
}

/// What to give the page for a token endpoint's response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenVerdict {
    /// Not a success: pass the response on unchanged.
    PassThrough,
    /// Logged in: give the page this body (the tokens taken out).
    Replace(String),
    /// A success status with a body that is not a valid token response: the login fails
    /// with this error and the previous state is kept.
    Refuse(InputError),
}

impl Engine {
    /// True when an API request with this method, still in flight when its session ends, is
    /// cancelled ([`Effect::CancelRequests`]) and answered as blocked: only safe methods. A
    /// POST may already have been acted on by the server, so it runs to its answer.
    pub fn cancels_on_end(&self, method: &str) -> bool {
        matches!(method, "GET" | "HEAD" | "OPTIONS")
    }

    /// Classifies a request by URL and method. Pure; cheap enough for every fetch event.
    pub fn route(&self, url: &str, method: &str) -> Route {
        let Ok(u) = parse_url(url) else { return Route::Other };
        if u.has_userinfo {
            return Route::Other;
        }
        if u.origin == self.config.origin && u.path.strip_prefix(self.scope.as_str()) == Some("__lockstep/state") {
            return Route::State;
        }
        if let Some(i) = self.config.token_endpoints.iter().position(|ep| ep.url.origin == u.origin && ep.url.path == u.path) {
            return if method.eq_ignore_ascii_case("POST") { Route::Token(i) } else { Route::Other };
        }
        if let Some(l) = &self.config.logout {
            if l.url.origin == u.origin && l.url.path == u.path && l.method.eq_ignore_ascii_case(method) {
                return Route::Logout;
            }
        }
        if self.config.apis.iter().any(|api| api.origin == u.origin && u.path.starts_with(api.path_prefix.as_str())) {
            return Route::Api;
        }
        Route::Other
    }

    /// Whether the request to token endpoint `index` goes out with [`WORKER_HEADER`]. Only a
    /// same-origin endpoint gets it: a custom header makes a cross-origin request need a CORS
    /// preflight, which an identity provider may not allow.
    pub fn marks_token_request(&self, index: usize) -> bool {
        self.config.token_endpoints.get(index).is_some_and(|ep| ep.url.origin == self.config.origin)
    }

    /// Decides what happens to a request to a configured API (or the logout endpoint).
    pub fn admit(&mut self, now: u64, navigate: bool, has_authorization: bool) -> Admission {
        self.check_deadlines(now);
        if navigate {
            return Admission::PassThrough;
        }
        let Session::LoggedIn(login) = &self.session else {
            return match self.session {
                Session::LoggedOut { reason: Some(_) } => Admission::Block,
                _ => Admission::PassThrough,
            };
        };
        if has_authorization {
            return Admission::PassThrough;
        }
        // While a refresh runs, a token the server already refused must not go out again:
        // that is where storms come from.
        // Nor one about to expire: the server counted its lifetime from before the worker
        // saw it, so near the end it may already refuse it (a slow refresh, found by
        // e2e/faults.test.mjs). Waiting for the new token is bounded by REFRESH_WAIT_MS.
        if self.refresh_since.is_some() && (!token_usable(login, now.saturating_add(super::EXPIRY_SKEW_MS)) || self.refused_generation == Some(self.generation)) {
            return Admission::Wait;
        }
        match &login.access_token {
            Some(token) if token_usable(login, now) => Admission::Attach { token: token.clone(), generation: self.generation },
            // check_deadlines started a refresh, or ended the session.
            _ if self.refresh_since.is_some() => Admission::Wait,
            _ => Admission::Block,
        }
    }

    /// Decides what happens to the app's own call to the logout endpoint: as [`Self::admit`],
    /// but after an end of session that made no logout call of its own (another app of the
    /// site ended it: [`Reason::Elsewhere`]) the call goes out, unchanged, so the app can still
    /// end its own server session. After any other end it is blocked: that end has its one
    /// logout call (invariant 6).
    pub fn admit_logout(&mut self, now: u64, has_authorization: bool) -> Admission {
        match self.admit(now, false, has_authorization) {
            Admission::Block if matches!(self.session, Session::LoggedOut { reason: Some(Reason::Elsewhere) }) => Admission::PassThrough,
            other => other,
        }
    }

    /// An API answered `status` to a request sent with token `generation`; `replayed` when
    /// this was already the one replay.
    pub fn handle_api_response(&mut self, now: u64, generation: u64, status: u16, replayed: bool) -> Verdict {
        self.check_deadlines(now);
        if status != 401 {
            return Verdict::Deliver;
        }
        let Session::LoggedIn(login) = &self.session else { return Verdict::Deliver };
        if replayed {
            // A 401 that a fresh token cannot cure.
            self.end_session(now, Reason::Unauthorized, true);
            return Verdict::Deliver;
        }
        if generation < self.generation {
            if let Some(token) = login.access_token.clone().filter(|_| token_usable(login, now)) {
                return Verdict::Replay { token, generation: self.generation };
            }
        }
        self.refused_generation = Some(self.generation);
        if self.refresh_since.is_some() {
            return Verdict::WaitThenReplay;
        }
        if self.config.refresh.is_some() {
            self.start_refresh(now);
            return Verdict::WaitThenReplay;
        }
        self.end_session(now, Reason::Unauthorized, true);
        Verdict::Deliver
    }

    /// The app called the logout endpoint itself and the server answered: the session ends
    /// everywhere, without a second logout call.
    pub fn handle_logout_observed(&mut self, now: u64) {
        self.check_deadlines(now);
        self.end_session(now, Reason::Logout, false);
    }

    /// Whether a token endpoint's answer with `status` is read at all (a success); any other
    /// goes to the page unchanged.
    pub fn reads_token_body(status: u16) -> bool {
        (200..300).contains(&status)
    }

    /// Token endpoint `index` answered `status` with `body`.
    pub fn handle_token_response(&mut self, now: u64, index: usize, status: u16, body: &str) -> TokenVerdict {
        self.check_deadlines(now);
        if !Self::reads_token_body(status) {
            return TokenVerdict::PassThrough;
        }
        let Some(endpoint) = self.config.token_endpoints.get(index) else { return TokenVerdict::PassThrough };
        match take_tokens(body, &endpoint.fields) {
            Ok((tokens, page_body)) => {
                self.log_in(now, tokens);
                TokenVerdict::Replace(page_body)
            }
            Err(e) => TokenVerdict::Refuse(e),
        }
    }

    /// Starts the one refresh, unless one is in flight.
    pub(super) fn start_refresh(&mut self, now: u64) {
        let (Some(refresh), Session::LoggedIn(login)) = (&self.config.refresh, &self.session) else { return };
        if self.refresh_since.is_some() {
            return;
        }
        let (body, content_type) = match refresh.endpoint.format {
            TokenFormat::Oauth2 => {
                let mut body = String::from("grant_type=refresh_token");
                if let Some(rt) = &login.refresh_token {
                    body.push_str("&refresh_token=");
                    crate::encode::push_percent_encoded(&mut body, rt, false);
                }
                if let Some(id) = &refresh.client_id {
                    body.push_str("&client_id=");
                    crate::encode::push_percent_encoded(&mut body, id, false);
                }
                (body, "application/x-www-form-urlencoded")
            }
            TokenFormat::Json => {
                let body = match &login.refresh_token {
                    Some(rt) => crate::json::ObjectWriter::new().string(&refresh.endpoint.fields.refresh_token, Some(rt)).finish(),
                    None => String::from("{}"),
                };
                (body, "application/json")
            }
        };
        self.refresh_since = Some(now);
        self.refresh_epoch = self.epoch;
        self.effects.push(Effect::Persist);
        self.effects.push(Effect::Refresh { url: refresh.endpoint.url.href(), body, content_type, epoch: self.epoch });
    }

    /// The refresh endpoint answered the [`Effect::Refresh`] of `epoch`. Success rotates the
    /// tokens atomically; any failure ends the session for everyone. An answer for an
    /// older epoch (a slow refresh of a session that has since ended) is ignored.
    pub fn handle_refresh_response(&mut self, now: u64, epoch: u64, status: u16, body: &str) {
        if self.refresh_since.is_none() || epoch != self.refresh_epoch || self.refresh_epoch != self.epoch {
            return self.check_deadlines(now);
        }
        // The server started the new token's lifetime when it answered, which may be long
        // before this worker got to the answer (a busy worker, found by e2e/load.test.mjs):
        // count it from when the refresh was sent, never later.
        let sent = self.refresh_since.take().unwrap_or(now).min(now);
        let parsed = match &self.config.refresh {
            Some(r) if (200..300).contains(&status) => take_tokens(body, &r.endpoint.fields).ok(),
            _ => None,
        };
        match (parsed, &mut self.session) {
            (Some((tokens, _)), Session::LoggedIn(login)) => {
                self.generation += 1;
                login.access_token = Some(tokens.access_token);
                if tokens.refresh_token.is_some() {
                    login.refresh_token = tokens.refresh_token;
                }
                login.expires_at = tokens.expires_in_ms.map(|ms| sent.saturating_add(ms));
                if tokens.user.is_some() {
                    login.user = tokens.user;
                }
                self.emit(Effect::Persist);
                self.emit(Effect::Broadcast);
                self.emit(Effect::RefreshSettled);
            }
            _ => self.end_session(now, Reason::RefreshFailed, true),
        }
        self.check_deadlines(now);
    }

    /// The refresh request of `epoch` failed on the network.
    pub fn handle_refresh_error(&mut self, now: u64, epoch: u64) {
        self.handle_refresh_response(now, epoch, 0, "");
    }
}

fn token_usable(login: &Login, now: u64) -> bool {
    login.access_token.is_some() && login.expires_at.map_or(true, |e| now < e)
}

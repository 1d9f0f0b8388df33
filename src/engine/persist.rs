//! The state that survives a stopped worker, versioned.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{Engine, Login, PendingLogout, Reason, Session};
use crate::config::TokenStorage;
use crate::error::{Input, InputError};

const PERSIST_VERSION: u32 = 1;

/// What is written to IndexedDB after every change. Tokens only with
/// `tokenStorage: "indexeddb"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persisted {
    v: u32,
    epoch: u64,
    generation: u64,
    logged_in: bool,
    reason: Option<Reason>,
    user: Option<Box<RawValue>>,
    expires_at: Option<u64>,
    idle_deadline: Option<u64>,
    access_token: Option<String>,
    refresh_token: Option<String>,
    refresh_since: Option<u64>,
    pending_logouts: Vec<PendingLogout>,
    marker: Option<String>,
}

impl Persisted {
    pub(super) fn decode(json: &str) -> Result<Persisted, InputError> {
        let p: Persisted = InputError::decode(Input::Persisted, json)?;
        if p.v != PERSIST_VERSION {
            return Err(InputError::new(Input::Persisted, "v", "expected version 1"));
        }
        Ok(p)
    }
}

impl Engine {
    /// The state to persist, as JSON.
    pub fn persisted(&self) -> String {
        let keep_tokens = self.config.token_storage == TokenStorage::Indexeddb;
        let (logged_in, reason, user, expires_at, access_token, refresh_token) = match &self.session {
            Session::LoggedIn(l) => (
                true,
                None,
                l.user.clone(),
                l.expires_at,
                l.access_token.clone().filter(|_| keep_tokens),
                l.refresh_token.clone().filter(|_| keep_tokens),
            ),
            Session::LoggedOut { reason } => (false, *reason, None, None, None, None),
        };
        let mut pending_logouts = self.pending_logouts.clone();
        for p in &mut pending_logouts {
            if !keep_tokens {
                p.token = None;
            }
        }
        let p = Persisted {
            v: PERSIST_VERSION,
            epoch: self.epoch,
            generation: self.generation,
            logged_in,
            reason,
            user,
            expires_at,
            idle_deadline: self.idle_deadline,
            access_token,
            refresh_token,
            refresh_since: self.refresh_since,
            pending_logouts,
            marker: self.marker.clone(),
        };
        serde_json::to_string(&p).unwrap_or_default()
    }

    pub(super) fn apply_persisted(&mut self, p: Persisted) {
        // The epoch never goes back, even if an older state was written last.
        self.epoch = self.epoch.max(p.epoch);
        self.generation = self.generation.max(p.generation);
        self.session = if p.logged_in {
            Session::LoggedIn(Box::new(Login { user: p.user, access_token: p.access_token, refresh_token: p.refresh_token, expires_at: p.expires_at }))
        } else {
            Session::LoggedOut { reason: p.reason }
        };
        self.idle_deadline = p.idle_deadline;
        // A refresh that was in flight when the worker stopped never answered us: it is
        // over. check_deadlines starts a new one if the token is gone or due. (With
        // rotation the server may have spent that refresh token; then the new refresh is
        // refused and the session ends the coordinated way: never half logged in.)
        self.refresh_since = None;
        self.refresh_epoch = self.epoch;
        self.pending_logouts = p.pending_logouts;
        self.marker = p.marker;
    }
}

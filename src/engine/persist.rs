//! The state that survives a stopped worker, versioned.

use super::{Engine, Login, PendingLogout, Reason, Session};
use crate::config::TokenStorage;
use crate::error::{Input, InputError};
use crate::json::{self, Object, ObjectWriter, Value};

const PERSIST_VERSION: u64 = 1;

/// What is written to IndexedDB after every change. Tokens only with
/// `tokenStorage: "indexeddb"`.
#[derive(Clone, Debug)]
pub struct Persisted {
    epoch: u64,
    generation: u64,
    logged_in: bool,
    reason: Option<Reason>,
    user: Option<String>,
    expires_at: Option<u64>,
    idle_deadline: Option<u64>,
    access_token: Option<String>,
    refresh_token: Option<String>,
    refresh_since: Option<u64>,
    pending_logouts: Vec<PendingLogout>,
    marker: Option<String>,
    /// Ids of the tabs that run the client (they navigate themselves).
    clients: Vec<String>,
}

impl Persisted {
    pub(super) fn decode(text: &str) -> Result<Persisted, InputError> {
        let doc = json::parse(Input::Persisted, text)?;
        let mut o = Object::new(Input::Persisted, "", &doc)?;
        if o.uint("v", u64::MAX)? != Some(PERSIST_VERSION) {
            return Err(o.error("v", "expected version 1"));
        }
        let reason = match o.string("reason")? {
            None => None,
            Some(r) => Some(Reason::parse(r).ok_or_else(|| o.error("reason", "unknown reason"))?),
        };
        let user = o.get("user")?.map(|v| {
            let mut raw = String::new();
            json::push_value(&mut raw, v);
            raw
        });
        let mut pending_logouts = Vec::new();
        if let Some(v) = o.get("pendingLogouts")? {
            let Value::Array(items) = v else { return Err(o.error("pendingLogouts", "expected an array")) };
            for item in items {
                let mut l = Object::new(Input::Persisted, "pendingLogouts[]", item)?;
                let need = |l: &mut Object<'_, '_>, k: &str| -> Result<u64, InputError> { l.uint(k, u64::MAX)?.ok_or_else(|| l.error(k, "missing")) };
                let epoch = need(&mut l, "epoch")?;
                let retry_at = need(&mut l, "retryAt")?;
                let attempts = l.uint("attempts", u64::from(u32::MAX))?.unwrap_or(0) as u32;
                let token = l.string("token")?.map(str::to_string);
                l.finish()?;
                pending_logouts.push(PendingLogout { epoch, token, retry_at, attempts, in_flight: false });
            }
        }
        let mut clients = Vec::new();
        if let Some(v) = o.get("clients")? {
            let Value::Array(items) = v else { return Err(o.error("clients", "expected an array")) };
            if items.len() > super::MAX_GREETED {
                return Err(o.error("clients", "more than 256 entries"));
            }
            for item in items {
                match item {
                    Value::String(id) if id.len() <= super::MAX_CLIENT_ID_BYTES => clients.push(id.to_string()),
                    _ => return Err(o.error("clients", "expected client ids (strings of at most 128 bytes)")),
                }
            }
        }
        let p = Persisted {
            epoch: o.uint("epoch", u64::MAX)?.ok_or_else(|| o.error("epoch", "missing"))?,
            generation: o.uint("generation", u64::MAX)?.ok_or_else(|| o.error("generation", "missing"))?,
            logged_in: o.boolean("loggedIn")?.ok_or_else(|| o.error("loggedIn", "missing"))?,
            reason,
            user,
            expires_at: o.uint("expiresAt", u64::MAX)?,
            idle_deadline: o.uint("idleDeadline", u64::MAX)?,
            access_token: o.string("accessToken")?.map(str::to_string),
            refresh_token: o.string("refreshToken")?.map(str::to_string),
            refresh_since: o.uint("refreshSince", u64::MAX)?,
            pending_logouts,
            marker: o.string("marker")?.map(str::to_string),
            clients,
        };
        o.finish()?;
        Ok(p)
    }

    fn encode(&self) -> String {
        let mut logouts = String::from("[");
        for (i, l) in self.pending_logouts.iter().enumerate() {
            if i > 0 {
                logouts.push(',');
            }
            logouts.push_str(&ObjectWriter::new().uint("epoch", Some(l.epoch)).string("token", l.token.as_deref()).uint("retryAt", Some(l.retry_at)).uint("attempts", Some(u64::from(l.attempts))).finish());
        }
        logouts.push(']');
        let mut clients = String::from("[");
        for (i, id) in self.clients.iter().enumerate() {
            if i > 0 {
                clients.push(',');
            }
            json::push_string(&mut clients, id);
        }
        clients.push(']');
        ObjectWriter::new()
            .uint("v", Some(PERSIST_VERSION))
            .uint("epoch", Some(self.epoch))
            .uint("generation", Some(self.generation))
            .boolean("loggedIn", self.logged_in)
            .string("reason", self.reason.map(Reason::as_str))
            .raw("user", self.user.as_deref())
            .uint("expiresAt", self.expires_at)
            .uint("idleDeadline", self.idle_deadline)
            .string("accessToken", self.access_token.as_deref())
            .string("refreshToken", self.refresh_token.as_deref())
            .uint("refreshSince", self.refresh_since)
            .raw("pendingLogouts", Some(&logouts))
            .string("marker", self.marker.as_deref())
            .raw("clients", Some(&clients))
            .finish()
    }
}

impl Engine {
    /// The state to persist, as JSON.
    pub fn persisted(&self) -> String {
        self.snapshot(self.config.token_storage == TokenStorage::Indexeddb)
    }

    /// The whole state, tokens included whatever `tokenStorage` says, for the next version
    /// of this worker only (see [`Engine::take_handover`]); never written to storage.
    pub fn handover(&self) -> String {
        self.snapshot(true)
    }

    /// A new worker version, at install, takes over the state its predecessor handed over
    /// (with `tokenStorage: "memory"` the tokens live nowhere else). It replaces what
    /// [`Engine::restore`] read and the effects that queued; a hand-over older than what
    /// this engine knows is ignored. Bad input is an error and changes nothing.
    pub fn take_handover(&mut self, now: u64, json: &str) -> Result<(), InputError> {
        let p = Persisted::decode(json)?;
        if p.epoch < self.epoch {
            return Ok(());
        }
        self.effects.clear();
        self.apply_persisted(p);
        self.forget_in_flight_logout();
        self.check_deadlines(now);
        self.effects.push_back(super::Effect::Persist);
        Ok(())
    }

    fn snapshot(&self, keep_tokens: bool) -> String {
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
            clients: self.greeted.iter().cloned().collect(),
        };
        p.encode()
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
        for id in p.clients {
            if !self.navigates_itself(&id) {
                self.greeted.push_back(id);
            }
        }
        while self.greeted.len() > super::MAX_GREETED {
            self.greeted.pop_front();
        }
    }
}

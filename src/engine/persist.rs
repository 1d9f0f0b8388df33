//! The state that survives a stopped worker, versioned.

use super::{Engine, Login, PendingLogout, Reason, Session};
use crate::config::TokenStorage;
use crate::error::{Input, InputError, Refused};
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
        // Filled in place: an error then drops one value, not each field read so far.
        let mut p = Persisted {
            epoch: 0,
            generation: 0,
            logged_in: false,
            reason: None,
            user: None,
            expires_at: None,
            idle_deadline: None,
            access_token: None,
            refresh_token: None,
            refresh_since: None,
            pending_logouts: Vec::new(),
            marker: None,
            clients: Vec::new(),
        };
        match p.read(text) {
            Ok(()) => Ok(p),
            Err(e) => Err(*e),
        }
    }

    fn read(&mut self, text: &str) -> Result<(), Refused> {
        let doc = json::parse(Input::Persisted, text)?;
        let mut o = Object::new(Input::Persisted, "", &doc)?;
        if o.uint("v", u64::MAX)? != Some(PERSIST_VERSION) {
            return Err(o.error("v", "expected version 1"));
        }
        if let Some(r) = o.string("reason")? {
            self.reason = Some(Reason::parse(r).ok_or_else(|| o.error("reason", "unknown reason"))?);
        }
        if let Some(v) = o.get("user")? {
            let mut raw = String::new();
            json::push_value(&mut raw, v);
            self.user = Some(raw);
        }
        for item in o.array("pendingLogouts", false)? {
            let mut l = Object::new(Input::Persisted, "pendingLogouts[]", item)?;
            let epoch = l.required_uint("epoch", u64::MAX)?;
            let retry_at = l.required_uint("retryAt", u64::MAX)?;
            let attempts = l.uint("attempts", u64::from(u32::MAX))?.unwrap_or(0) as u32;
            let token = l.owned_string("token")?;
            l.finish()?;
            self.pending_logouts.push(PendingLogout { epoch, token, retry_at, attempts, in_flight: false, wake_at: 0 });
        }
        let clients = o.array("clients", false)?;
        if clients.len() > super::MAX_GREETED {
            return Err(o.error("clients", "more than 256 entries"));
        }
        for item in clients {
            match item {
                Value::String(id) if id.len() <= super::MAX_CLIENT_ID_BYTES => self.clients.push(id.to_string()),
                _ => return Err(o.error("clients", "expected client ids (strings of at most 128 bytes)")),
            }
        }
        self.epoch = o.required_uint("epoch", u64::MAX)?;
        self.generation = o.required_uint("generation", u64::MAX)?;
        self.logged_in = o.boolean("loggedIn")?.ok_or_else(|| o.error("loggedIn", "missing"))?;
        self.expires_at = o.uint("expiresAt", u64::MAX)?;
        self.idle_deadline = o.uint("idleDeadline", u64::MAX)?;
        self.access_token = o.owned_string("accessToken")?;
        self.refresh_token = o.owned_string("refreshToken")?;
        self.refresh_since = o.uint("refreshSince", u64::MAX)?;
        self.marker = o.owned_string("marker")?;
        o.finish()
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
        self.emit(super::Effect::Persist);
        Ok(())
    }

    /// Written straight from the engine's state (no copy of it first).
    fn snapshot(&self, keep_tokens: bool) -> String {
        let (login, reason) = match &self.session {
            Session::LoggedIn(l) => (Some(&**l), None),
            Session::LoggedOut { reason } => (None, *reason),
        };
        let tokens = login.filter(|_| keep_tokens);
        let mut logouts = String::from("[");
        for l in &self.pending_logouts {
            if logouts.len() > 1 {
                logouts.push(',');
            }
            let token = l.token.as_deref().filter(|_| keep_tokens);
            logouts.push_str(&ObjectWriter::new().uint("epoch", Some(l.epoch)).string("token", token).uint("retryAt", Some(l.retry_at)).uint("attempts", Some(u64::from(l.attempts))).finish());
        }
        logouts.push(']');
        let mut clients = String::from("[");
        for id in &self.greeted {
            if clients.len() > 1 {
                clients.push(',');
            }
            json::push_string(&mut clients, id);
        }
        clients.push(']');
        ObjectWriter::new()
            .uint("v", Some(PERSIST_VERSION))
            .uint("epoch", Some(self.epoch))
            .uint("generation", Some(self.generation))
            .boolean("loggedIn", login.is_some())
            .string("reason", reason.map(Reason::as_str))
            .raw("user", login.and_then(|l| l.user.as_deref()))
            .uint("expiresAt", login.and_then(|l| l.expires_at))
            .uint("idleDeadline", self.idle_deadline)
            .string("accessToken", tokens.and_then(|l| l.access_token.as_deref()))
            .string("refreshToken", tokens.and_then(|l| l.refresh_token.as_deref()))
            .uint("refreshSince", self.refresh_since)
            .raw("pendingLogouts", Some(&logouts))
            .string("marker", self.marker.as_deref())
            .raw("clients", Some(&clients))
            .finish()
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
                self.greeted.push(id);
            }
        }
        // One by one: `remove` ships anyway (handle_message); `drain` would bring its own code.
        while self.greeted.len() > super::MAX_GREETED {
            self.greeted.remove(0);
        }
    }
}

//! The engine harness (quinn-proto's `Pair`, for a service worker): a simulated clock, N
//! tabs, a worker that can be stopped and restarted at any point, and a fake auth server
//! with rotating refresh tokens. [`World::drive`] runs effects until quiet; after every
//! step [`World`] checks the invariants of SPEC.md ("What must always hold"). Property
//! tests run random sequences of steps through it.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::origin::{parse_origin, parse_url};

const APP: &str = "https://app.example.test";
const LOGIN_URL: &str = "https://app.example.test/api/login";
const LOGOUT_URL: &str = "https://app.example.test/api/logout";
/// Access token lifetime the server hands out, in seconds.
const LIFETIME_S: u64 = 300;
/// Every token the server issues starts with this, so a leak is one substring search.
const TOKEN_MARK: &str = "tok_";

/// URLs requests go to, and whether they are the configured API (decided here, by hand,
/// independently of `route()`).
const REQUEST_URLS: [(&str, bool); 10] = [
    ("https://api.example.test/v1/orders", true),
    ("https://api.example.test/v1/users?id=7", true),
    ("https://API.EXAMPLE.TEST:443/v1/x", true),
    ("https://api.example.test.evil.test/v1/orders", false),
    ("https://api.example.test@evil.test/v1/orders", false),
    ("https://api.example.test:8443/v1/orders", false),
    ("http://api.example.test/v1/orders", false),
    ("https://api.example.test/v1x", false),
    ("https://app.example.test/v1/orders", false),
    ("https://cdn.example.test/app.js", false),
];

/// Where tabs can be: app pages, the login page with good and hostile return URLs.
const TAB_URLS: [&str; 9] = [
    "https://app.example.test/app1/",
    "https://app.example.test/app2/orders?id=7",
    "https://app.example.test/login",
    "https://app.example.test/login?returnTo=%2Fapp1%2Fsettings",
    "https://app.example.test/login?returnTo=https://evil.test/",
    "https://app.example.test/login?returnTo=//evil.test/x",
    "https://app.example.test/login?returnTo=%2Flogin%3FreturnTo%3D%2F%2Fevil.test",
    "https://app.example.test/login?returnTo=%23%2F%2Fevil.test",
    "https://app.example.test/app1/#/orders/42?tab=2",
];

const HOSTILE_MESSAGES: [&str; 6] = [
    r#"{"v":1,"type":"state","state":{"status":"logged-in","epoch":999}}"#,
    r#"{"v":1,"type":"login","user":"mallory"}"#,
    r#"{"v":0,"type":"logout"}"#,
    r#"{"v":1,"type":"activity","epoch":999}"#,
    "\u{0}\u{ffff}",
    "[1,2,3]",
];

/// What varies between worlds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Setup {
    /// `tokenStorage: "indexeddb"` (else memory).
    pub indexeddb: bool,
    /// A refresh endpoint is configured.
    pub refresh: bool,
    /// Number of tabs.
    pub tabs: usize,
}

impl Setup {
    fn config(&self) -> Config {
        let mut c = serde_json::json!({
            "loginUrl": "/login",
            "apis": [{ "origin": "https://api.example.test", "pathPrefix": "/v1/" }],
            "tokenEndpoints": [{ "url": "/api/login", "format": "json", "user": "user" }],
            "refresh": { "url": "https://auth.example.test/oauth/token", "format": "oauth2", "clientId": "spa", "beforeExpirySeconds": 60 },
            "logout": { "url": "/api/logout", "method": "POST" },
            "idle": { "timeoutSeconds": 900, "warningSeconds": 60 },
            "crossSite": { "cookieName": "lockstep_session", "cookieDomain": "example.test" },
            "tokenStorage": if self.indexeddb { "indexeddb" } else { "memory" },
        });
        if !self.refresh {
            c.as_object_mut().map(|o| o.remove("refresh"));
        }
        Config::parse(&c.to_string(), &parse_origin(APP).unwrap()).unwrap()
    }
}

/// How the refresh endpoint answers the next refresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefreshMode {
    /// It rotates and answers at once.
    Ok,
    /// 500, without touching the tokens.
    ServerError,
    /// The request never reached the server.
    NetworkError,
    /// The server rotated, but the answer was lost on the way back.
    AnswerLost,
    /// The request hangs on the network until [`Step::DeliverSlow`] (or a restart kills it).
    Slow,
}

/// A token family: one login and the refreshes that descend from it.
struct Family {
    revoked: bool,
    current_rt: String,
}

/// The fake auth server: issues tokens, rotates refresh tokens, revokes the whole family
/// when a rotated-out refresh token is reused, and counts what reaches it.
pub(crate) struct AuthServer {
    families: Vec<Family>,
    /// Access token → (family, expiry).
    access: BTreeMap<String, (usize, u64)>,
    /// Refresh token → family, for every refresh token ever issued.
    refresh: BTreeMap<String, usize>,
    /// The HttpOnly refresh cookie: the newest refresh token of the latest login's family.
    cookie: Option<String>,
    serial: u64,
    /// The logout endpoint answers.
    pub up: bool,
    pub refresh_calls: u32,
    pub api_calls: u32,
    /// Logout calls made by the worker, per epoch.
    pub logout_calls: BTreeMap<u64, u32>,
    pub reuse_detected: u32,
}

impl AuthServer {
    fn new() -> AuthServer {
        AuthServer { families: Vec::new(), access: BTreeMap::new(), refresh: BTreeMap::new(), cookie: None, serial: 0, up: true, refresh_calls: 0, api_calls: 0, logout_calls: BTreeMap::new(), reuse_detected: 0 }
    }

    fn issue(&mut self, family: usize, now: u64) -> (String, String) {
        self.serial += 1;
        let at = format!("{TOKEN_MARK}a{family}x{}", self.serial);
        let rt = format!("{TOKEN_MARK}r{family}x{}", self.serial);
        self.access.insert(at.clone(), (family, now + LIFETIME_S * 1000));
        self.refresh.insert(rt.clone(), family);
        if let Some(f) = self.families.get_mut(family) {
            f.current_rt = rt.clone();
        }
        if family + 1 == self.families.len() {
            self.cookie = Some(rt.clone());
        }
        (at, rt)
    }

    /// A successful login: (response body, family, access token, refresh token).
    fn login(&mut self, now: u64) -> (String, usize, String, String) {
        self.families.push(Family { revoked: false, current_rt: String::new() });
        let family = self.families.len() - 1;
        let (at, rt) = self.issue(family, now);
        let body = serde_json::json!({ "access_token": at, "refresh_token": rt, "expires_in": LIFETIME_S, "user": { "name": "ada" } });
        (body.to_string(), family, at, rt)
    }

    /// The refresh grant; `cookie` is the refresh cookie the browser attached when it sent
    /// the request. Returns the status and body.
    fn refresh_grant(&mut self, now: u64, body: &str, cookie: Option<String>) -> (u16, String) {
        self.refresh_calls += 1;
        let sent = form_value(body, "refresh_token");
        let Some(rt) = sent.or(cookie) else { return (400, r#"{"error":"invalid_grant"}"#.into()) };
        let Some(&family) = self.refresh.get(&rt) else { return (400, r#"{"error":"invalid_grant"}"#.into()) };
        let Some(f) = self.families.get_mut(family) else { return (400, "{}".into()) };
        if f.revoked {
            return (400, r#"{"error":"invalid_grant"}"#.into());
        }
        if f.current_rt != rt {
            // Reuse of a rotated-out token: someone stole it. The whole family dies.
            f.revoked = true;
            self.reuse_detected += 1;
            return (400, r#"{"error":"invalid_grant"}"#.into());
        }
        let (at, rt) = self.issue(family, now);
        (200, serde_json::json!({ "access_token": at, "refresh_token": rt, "expires_in": LIFETIME_S, "token_type": "Bearer" }).to_string())
    }

    fn api(&mut self, now: u64, token: Option<&str>) -> u16 {
        self.api_calls += 1;
        match token.and_then(|t| self.access.get(t)) {
            Some(&(family, expires)) if now < expires && self.families.get(family).is_some_and(|f| !f.revoked) => 200,
            _ => 401,
        }
    }

    fn logout(&mut self, token: Option<&str>) {
        if let Some(&(family, _)) = token.and_then(|t| self.access.get(t)) {
            if let Some(f) = self.families.get_mut(family) {
                f.revoked = true;
            }
        }
    }

    fn revoke_all(&mut self) {
        for f in &mut self.families {
            f.revoked = true;
        }
    }
}

fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=').map(str::to_string))
}

/// A browser tab.
#[derive(Clone, Debug)]
pub(crate) struct Tab {
    pub id: String,
    pub url: String,
}

/// A request held until the next [`Effect::RefreshSettled`].
struct Waiting {
    since: u64,
    replay: bool,
}

/// A cookie change made by another app of the site (or by the user).
#[derive(Clone, Copy, Debug)]
pub(crate) enum CookieChange {
    OtherAppEnded,
    OtherAppLive,
    Garbage,
    Deleted,
}

/// How a tab calls an API URL.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Request {
    Fetch,
    Navigate,
    AppAuthorization,
}

/// One thing that happens in the world.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    Activity(usize),
    /// The tab's timer fires at the announced `wakeAt` and it sends `tick`.
    Timer(usize),
    Logout(usize),
    /// A tab posts to the login endpoint (which tab does not matter to the worker).
    Login(#[allow(dead_code)] usize),
    Api(usize, usize, Request),
    /// The tab goes to another URL (or a new tab opens there) and says hello.
    Open(usize, usize),
    /// The app calls the logout endpoint itself.
    AppLogout(#[allow(dead_code)] usize),
    Hostile(usize, usize),
    Revoke,
    Refresh(RefreshMode),
    DeliverSlow,
    LogoutServerUp(bool),
    /// The browser stops the worker; `warm` when an event reached it at this time first.
    Restart { warm: bool },
    Clock(u64),
    Cookie(CookieChange),
}

/// The world: clock, tabs, worker, server, cookie jar and the invariant bookkeeping.
pub(crate) struct World {
    pub setup: Setup,
    pub now: u64,
    config: Config,
    pub engine: Engine,
    pub store: Option<String>,
    pub cookie: Option<String>,
    pub tabs: Vec<Tab>,
    pub server: AuthServer,
    pub refresh_mode: RefreshMode,
    /// Refreshes hanging on the network: epoch, body, and the cookie sent with it.
    slow: Vec<(u64, String, Option<String>)>,
    waiting: Vec<Waiting>,
    settled: bool,
    seed: u64,
    // What the world knows of the current login, to check the engine against.
    epoch: u64,
    ended: bool,
    access: Option<String>,
    refresh_token: Option<String>,
    refresh_token_lost: bool,
    /// Ends of session that owe one logout call, by epoch.
    owed_logouts: BTreeSet<u64>,
    pub ends: u32,
}

impl World {
    pub fn new(setup: Setup) -> World {
        let config = setup.config();
        let now = 1_700_000_000_000;
        let mut engine = Engine::new(config.clone(), "/");
        engine.restore(now, None).unwrap();
        let tabs = (0..setup.tabs.max(1)).map(|i| Tab { id: format!("tab-{i}"), url: TAB_URLS[i % 2].to_string() }).collect();
        World {
            setup,
            now,
            config,
            engine,
            store: None,
            cookie: None,
            tabs,
            server: AuthServer::new(),
            refresh_mode: RefreshMode::Ok,
            slow: Vec::new(),
            waiting: Vec::new(),
            settled: false,
            seed: 0,
            epoch: 0,
            ended: false,
            access: None,
            refresh_token: None,
            refresh_token_lost: false,
            owed_logouts: BTreeSet::new(),
            ends: 0,
        }
    }

    fn tab(&self, i: usize) -> Tab {
        self.tabs[i % self.tabs.len()].clone()
    }

    /// Runs one step, drives the world until quiet, and checks the invariants.
    pub fn step(&mut self, step: &Step) {
        match *step {
            Step::Activity(t) => self.message(t, r#"{"v":1,"type":"activity"}"#),
            Step::Timer(t) => {
                if let Some(at) = self.engine.next_deadline() {
                    self.now = self.now.max(at);
                }
                self.message(t, r#"{"v":1,"type":"tick"}"#);
            }
            Step::Logout(t) => self.message(t, r#"{"v":1,"type":"logout"}"#),
            Step::Login(_) => self.login(),
            Step::Api(t, u, kind) => self.request(t, u, kind),
            Step::Open(t, u) => {
                let i = t % self.tabs.len();
                self.tabs[i].url = TAB_URLS[u % TAB_URLS.len()].to_string();
                let hello = serde_json::json!({ "v": 1, "type": "hello", "url": self.tabs[i].url }).to_string();
                self.message(t, &hello);
            }
            Step::AppLogout(_) => {
                self.catch_up();
                assert_eq!(self.engine.route(LOGOUT_URL, "POST"), Route::Logout);
                self.engine.handle_logout_observed(self.now);
                self.note(false, true);
            }
            Step::Hostile(t, m) => self.hostile(t, HOSTILE_MESSAGES[m % HOSTILE_MESSAGES.len()]),
            Step::Revoke => self.server.revoke_all(),
            Step::Refresh(mode) => self.refresh_mode = mode,
            Step::DeliverSlow => self.deliver_slow(),
            Step::LogoutServerUp(up) => self.server.up = up,
            Step::Restart { warm } => self.restart(warm),
            Step::Clock(ms) => self.now = self.now.saturating_add(ms),
            Step::Cookie(change) => self.cookie_change(change),
        }
        self.drive();
        self.check();
    }

    /// Runs effects until nothing is left to do, like the shell inside `waitUntil`.
    pub fn drive(&mut self) {
        for _ in 0..10_000 {
            let mut busy = false;
            while let Some(effect) = self.engine.poll_effect() {
                busy = true;
                self.run(effect);
            }
            if core::mem::take(&mut self.settled) {
                busy = true;
                self.readmit();
            }
            if !busy {
                return;
            }
        }
        panic!("the world never went quiet");
    }

    fn run(&mut self, effect: Effect) {
        match effect {
            Effect::Broadcast => {
                for i in 0..self.tabs.len() {
                    let url = self.tabs[i].url.clone();
                    let msg = self.engine.state_message(self.now, &url);
                    if let Some(to) = self.receive_state(&msg) {
                        self.tabs[i].url = to;
                    }
                }
            }
            Effect::Persist => {
                let p = self.engine.persisted();
                if !self.setup.indexeddb {
                    assert!(!p.contains(TOKEN_MARK), "(1) a token was persisted with memory storage: {p}");
                }
                self.store = Some(p);
            }
            Effect::Refresh { url, body, content_type, epoch } => {
                assert_eq!(url, "https://auth.example.test/oauth/token");
                assert_eq!(content_type, "application/x-www-form-urlencoded");
                assert!(!self.slow.iter().any(|(e, _, _)| *e == epoch), "(4) a second refresh for epoch {epoch} while one is in flight");
                assert!(epoch <= self.epoch);
                // A refresh queued just before an end in the same event is still sent; its
                // answer is ignored. Only the current session's refresh is checked here.
                if epoch == self.epoch {
                    match form_value(&body, "refresh_token") {
                        Some(rt) => assert_eq!(Some(&rt), self.refresh_token.as_ref(), "(4) refresh with a refresh token that is not the newest"),
                        None => assert!(self.refresh_token_lost, "(4) refresh without the refresh token the engine holds"),
                    }
                }
                let cookie = self.server.cookie.clone();
                match self.refresh_mode {
                    RefreshMode::Ok => {
                        let (status, answer) = self.server.refresh_grant(self.now, &body, cookie);
                        self.refresh_answer(epoch, status, &answer);
                    }
                    RefreshMode::ServerError => self.refresh_answer(epoch, 500, "oops"),
                    RefreshMode::NetworkError => {
                        self.engine.handle_refresh_error(self.now, epoch);
                        self.note(false, false);
                    }
                    RefreshMode::AnswerLost => {
                        self.server.refresh_grant(self.now, &body, cookie);
                        self.engine.handle_refresh_error(self.now, epoch);
                        self.note(false, false);
                    }
                    RefreshMode::Slow => self.slow.push((epoch, body, cookie)),
                }
            }
            Effect::Logout { url, method, token, epoch } => {
                assert_eq!((url.as_str(), method.as_str()), (LOGOUT_URL, "POST"));
                assert!(self.owed_logouts.contains(&epoch), "(6) a logout call for epoch {epoch}, which owes none ({:?})", self.owed_logouts);
                if self.server.up {
                    let calls = self.server.logout_calls.entry(epoch).or_insert(0);
                    *calls += 1;
                    assert_eq!(*calls, 1, "(6) a second logout call for the end at epoch {epoch}");
                    self.server.logout(token.as_deref());
                }
                self.engine.handle_logout_result(self.now, epoch, self.server.up);
                self.note(false, false);
            }
            Effect::SetCookie { name, domain, value } => {
                assert_eq!((name.as_str(), domain.as_str()), ("lockstep_session", "example.test"));
                assert!(parse_marker(&value).is_ok(), "the engine wrote a marker it cannot read: {value}");
                self.cookie = Some(value);
            }
            Effect::RefreshSettled => self.settled = true,
            // The world answers each API call at once: nothing is in flight to cancel.
            Effect::CancelRequests => {}
        }
    }

    /// A tab receives a `state` message; returns where it must go.
    fn receive_state(&self, msg: &str) -> Option<String> {
        assert!(!msg.contains(TOKEN_MARK), "(1) a token reached a tab: {msg}");
        let v: serde_json::Value = serde_json::from_str(msg).expect("state messages are JSON");
        assert_eq!(v["type"], "state");
        assert!(v["state"]["epoch"].as_u64().is_some_and(|e| e == self.engine.epoch()));
        let to = v["navigate"].as_str()?;
        let u = parse_url(to).unwrap_or_else(|_| panic!("(10) navigate to an unparsable URL {to}"));
        assert!(u.origin == self.config.origin && !u.has_userinfo && u.path.starts_with('/'), "(10) navigate off-origin: {to}");
        assert!(!to.contains("evil"), "(10) navigate towards a hostile return URL: {to}");
        Some(to.to_string())
    }

    fn message(&mut self, t: usize, json: &str) {
        let tab = self.tab(t);
        let reply = self.engine.handle_message(self.now, &tab.id, &tab.url, json);
        self.note(false, false);
        if let Some(to) = self.receive_state(&reply) {
            let i = t % self.tabs.len();
            self.tabs[i].url = to;
        }
    }

    fn hostile(&mut self, t: usize, json: &str) {
        let tab = self.tab(t);
        let before = (self.engine.persisted(), self.engine.state_message(self.now, &tab.url), self.engine.next_deadline());
        let reply = self.engine.handle_message(self.now, &tab.id, &tab.url, json);
        assert!(reply.contains(r#""type":"error""#), "(11) {json} was accepted: {reply}");
        let after = (self.engine.persisted(), self.engine.state_message(self.now, &tab.url), self.engine.next_deadline());
        assert_eq!(before, after, "(11) {json} changed the state");
        assert!(self.engine.poll_effect().is_none(), "(11) {json} caused an effect");
    }

    fn login(&mut self) {
        assert_eq!(self.engine.route(LOGIN_URL, "POST"), Route::Token(0));
        self.seed += 1;
        self.engine.seed_marker(self.seed.to_be_bytes());
        let (body, _, at, rt) = self.server.login(self.now);
        match self.engine.handle_token_response(self.now, 0, 200, &body) {
            TokenVerdict::Replace(page) => assert!(!page.contains(TOKEN_MARK), "(1) the page saw a token: {page}"),
            v => panic!("a valid login was refused: {v:?}"),
        }
        self.note(true, false);
        self.access = Some(at);
        self.refresh_token = Some(rt);
        self.refresh_token_lost = false;
    }

    fn refresh_answer(&mut self, epoch: u64, status: u16, body: &str) {
        self.engine.handle_refresh_response(self.now, epoch, status, body);
        if status == 200 && epoch == self.epoch {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            self.access = v["access_token"].as_str().map(str::to_string);
            self.refresh_token = v["refresh_token"].as_str().map(str::to_string);
            self.refresh_token_lost = false;
        }
        self.note(false, false);
    }

    fn deliver_slow(&mut self) {
        if self.slow.is_empty() {
            return;
        }
        let (epoch, body, cookie) = self.slow.remove(0);
        let (status, answer) = self.server.refresh_grant(self.now, &body, cookie);
        self.refresh_answer(epoch, status, &answer);
    }

    fn request(&mut self, t: usize, u: usize, kind: Request) {
        let _ = t;
        let (url, is_api) = REQUEST_URLS[u % REQUEST_URLS.len()];
        let route = self.engine.route(url, "GET");
        assert_eq!(route == Route::Api, is_api, "(2) {url} routed as {route:?}");
        if !is_api {
            return; // the bootstrap never calls respondWith: no token, no engine
        }
        match kind {
            Request::Navigate => {
                assert_eq!(self.engine.admit(self.now, true, false), Admission::PassThrough, "(2) a navigation was held or given a bearer");
                self.note(false, false);
            }
            Request::AppAuthorization => {
                let a = self.engine.admit(self.now, false, true);
                self.note(false, false);
                match a {
                    Admission::PassThrough => {
                        self.reach_server(None);
                    }
                    Admission::Block => assert!(self.ended, "(5) blocked while the session lives"),
                    other => panic!("(2) the app's own Authorization was replaced: {other:?}"),
                }
            }
            Request::Fetch => self.fetch(false),
        }
    }

    fn fetch(&mut self, replay: bool) {
        let admission = self.engine.admit(self.now, false, false);
        self.note(false, false);
        match admission {
            Admission::PassThrough => {
                assert_eq!(self.epoch, 0, "(2) a logged-in API request went out without the bearer");
                self.reach_server(None);
            }
            Admission::Attach { token, generation } => self.send(token, generation, replay),
            Admission::Wait => self.waiting.push(Waiting { since: self.now, replay }),
            Admission::Block => assert!(self.ended, "(5) blocked while the session lives"),
        }
    }

    fn reach_server(&mut self, token: Option<&str>) -> u16 {
        assert!(!self.ended, "(5) a request reached the API after the end of session at epoch {}", self.epoch);
        self.server.api(self.now, token)
    }

    fn send(&mut self, token: String, generation: u64, replayed: bool) {
        assert_eq!(Some(&token), self.access.as_ref(), "(2)(4) a bearer other than the current session's newest access token");
        let status = self.reach_server(Some(&token));
        let verdict = self.engine.handle_api_response(self.now, generation, status, replayed);
        self.note(false, false);
        match verdict {
            Verdict::Deliver => {}
            Verdict::Replay { token, generation } => {
                assert!(!replayed, "a request was replayed twice");
                self.send(token, generation, true);
            }
            Verdict::WaitThenReplay => {
                assert!(!replayed, "a replay was to be replayed again");
                self.waiting.push(Waiting { since: self.now, replay: true });
            }
        }
    }

    fn readmit(&mut self) {
        for w in core::mem::take(&mut self.waiting) {
            if self.now.saturating_sub(w.since) > REFRESH_WAIT_MS {
                continue; // the page got its error
            }
            self.fetch(w.replay);
        }
    }

    fn restart(&mut self, warm: bool) {
        if warm {
            self.engine.handle_tick(self.now);
            self.note(false, false);
            self.drive();
        }
        let before = (self.engine.is_logged_in(), self.engine.epoch(), self.engine.view().idle_deadline, self.engine.view().reason);
        // Whatever was in flight dies with the worker.
        self.slow.clear();
        self.waiting.clear();
        self.settled = false;
        let mut engine = Engine::new(self.config.clone(), "/");
        engine.restore(self.now, self.store.as_deref()).expect("(9) the worker's own persisted state restores");
        self.engine = engine;
        if !self.setup.indexeddb {
            self.refresh_token_lost = true;
            self.access = None;
        }
        self.note(false, false);
        let after = (self.engine.is_logged_in(), self.engine.epoch(), self.engine.view().idle_deadline, self.engine.view().reason);
        let lost_tokens_ended = before.0 && !self.setup.indexeddb && !self.setup.refresh && after == (false, before.1 + 1, None, Some("expired"));
        if warm && !lost_tokens_ended {
            assert_eq!(after, before, "(8) the restart lost state");
        }
        assert!(after.1 >= before.1, "(3)(8) the epoch went back across a restart");
        // The shell reads the cookie at start.
        if let Some(c) = self.cookie.clone() {
            self.engine.handle_cookie(self.now, Some(&c)).expect("our cookie parses");
            self.note(false, false);
        }
    }

    fn cookie_change(&mut self, change: CookieChange) {
        self.catch_up();
        self.seed += 1;
        let random = format!("{:016x}", self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let value = match change {
            CookieChange::OtherAppEnded => match self.cookie.as_deref().and_then(|c| c.strip_prefix("live.")) {
                Some(id) => Some(format!("ended.{id}")),
                None => Some(format!("ended.{random}")),
            },
            CookieChange::OtherAppLive => Some(format!("live.{random}")),
            CookieChange::Deleted => None,
            CookieChange::Garbage => {
                let before = (self.engine.persisted(), self.engine.state_message(self.now, APP));
                assert!(self.engine.handle_cookie(self.now, Some("live.not-hex; evil=1")).is_err(), "(9) a garbage cookie was accepted");
                assert_eq!(before, (self.engine.persisted(), self.engine.state_message(self.now, APP)), "(9) a garbage cookie changed the state");
                return;
            }
        };
        self.cookie = value.clone();
        self.engine.handle_cookie(self.now, value.as_deref()).expect("a well-formed marker");
        self.note(false, true);
    }

    /// Lets the engine see the time first, so that an end by a passed deadline is told
    /// apart from the end the next call causes.
    fn catch_up(&mut self) {
        self.engine.handle_tick(self.now);
        self.note(false, false);
        self.drive();
    }

    /// Accounts for the epoch after every engine call: each bump is a login or an end.
    fn note(&mut self, login: bool, no_logout_owed: bool) {
        let epoch = self.engine.epoch();
        assert!(epoch >= self.epoch, "(3) the epoch went back from {} to {epoch}", self.epoch);
        let mut bumps = epoch - self.epoch;
        if login {
            assert!(bumps >= 1, "(3) a login without an epoch bump");
            bumps -= 1;
        }
        assert!(bumps <= 1, "(3) the epoch jumped by {bumps} in one event");
        if bumps == 1 {
            // An end of session: at `self.epoch + 1`. Before a login it came from a deadline.
            let end = self.epoch + 1;
            self.ends += 1;
            let elsewhere = !login && self.engine.view().reason == Some("elsewhere");
            if !(elsewhere || no_logout_owed && !login) {
                self.owed_logouts.insert(end);
            }
            self.access = None;
        }
        if login {
            self.ended = false;
        } else if bumps == 1 {
            self.ended = true;
            self.waiting.clear();
        }
        self.epoch = epoch;
    }

    /// The invariants that hold between any two steps.
    fn check(&mut self) {
        assert_eq!(self.engine.epoch(), self.epoch);
        assert_eq!(self.server.reuse_detected, 0, "(4) a rotated-out refresh token was used");
        assert_eq!(self.ended, !self.engine.is_logged_in() && self.epoch > 0, "the world and the engine disagree on the session");
        for (epoch, calls) in &self.server.logout_calls {
            assert!(*calls <= 1 && self.owed_logouts.contains(epoch), "(6) logout calls {:?} for ends {:?}", self.server.logout_calls, self.owed_logouts);
        }
        // (7) Everyone followed: no tab is anywhere the engine would still send it.
        for tab in &self.tabs {
            assert_eq!(self.engine.follow_target(&tab.url), None, "(7) {} was left at {}", tab.id, tab.url);
        }
    }

    /// The server comes back and time passes: every end that owes a logout call has
    /// delivered exactly one.
    pub fn settle(&mut self) {
        self.server.up = true;
        self.refresh_mode = RefreshMode::Ok;
        while !self.slow.is_empty() {
            self.deliver_slow();
            self.drive();
        }
        for _ in 0..8 {
            self.now += LOGOUT_RETRY_MAX_MS;
            self.engine.handle_tick(self.now);
            self.note(false, false);
            self.drive();
            self.check();
        }
        let delivered: BTreeSet<u64> = self.server.logout_calls.keys().copied().collect();
        assert_eq!(delivered, self.owed_logouts, "(6) every end of session delivers its logout call once");
    }
}

// ---- Scenarios ----------------------------------------------------------------------

fn world(tabs: usize) -> World {
    World::new(Setup { indexeddb: false, refresh: true, tabs })
}

#[test]
fn a_401_storm_from_twenty_tabs_reaches_the_api_once_and_logs_out_once() {
    let mut w = world(20);
    w.step(&Step::Login(0));
    w.step(&Step::Revoke);
    let before = w.server.api_calls;
    for round in 0..10 {
        for t in 0..20 {
            w.step(&Step::Api(t, round % 3, Request::Fetch));
        }
    }
    assert_eq!(w.server.api_calls - before, 1, "only the first 401 reached the API");
    assert_eq!(w.server.refresh_calls, 1, "one refresh tried to cure it");
    assert_eq!(w.engine.view().reason, Some("refresh-failed"));
    assert!(w.tabs.iter().all(|t| t.url.starts_with("https://app.example.test/login?returnTo=")), "every tab at the login page");
    w.settle();
    assert_eq!(w.server.logout_calls.len(), 1);
}

#[test]
fn a_login_in_one_tab_returns_every_waiting_tab_to_its_page() {
    let mut w = world(3);
    w.step(&Step::Open(0, 3));
    w.step(&Step::Open(1, 4));
    w.step(&Step::Login(2));
    assert_eq!(w.tabs[0].url, "https://app.example.test/app1/settings");
    assert_eq!(w.tabs[1].url, "https://app.example.test/login?returnTo=https://evil.test/", "no open redirect");
    w.step(&Step::Logout(2));
    assert_eq!(w.tabs[0].url, "https://app.example.test/login?returnTo=/app1/settings");
    w.settle();
}

#[test]
fn a_sleeping_laptop_wakes_logged_out_and_logs_out_once() {
    let mut w = World::new(Setup { indexeddb: true, refresh: true, tabs: 4 });
    w.step(&Step::Login(0));
    w.step(&Step::LogoutServerUp(false));
    w.step(&Step::Clock(3 * 86_400_000));
    w.step(&Step::Restart { warm: false });
    assert_eq!(w.engine.view().reason, Some("idle"));
    w.step(&Step::Api(1, 0, Request::Fetch));
    w.settle();
    assert_eq!(w.server.logout_calls.values().sum::<u32>(), 1);
}

#[test]
fn refreshes_rotate_across_restarts_without_reuse() {
    let mut w = World::new(Setup { indexeddb: true, refresh: true, tabs: 2 });
    w.step(&Step::Login(0));
    for _ in 0..6 {
        w.step(&Step::Clock(250_000));
        w.step(&Step::Activity(1));
        w.step(&Step::Api(0, 0, Request::Fetch));
        w.step(&Step::Restart { warm: true });
    }
    assert!(w.engine.is_logged_in());
    assert!(w.server.refresh_calls >= 5, "{}", w.server.refresh_calls);
    w.settle();
}

#[test]
fn many_401s_during_a_slow_refresh_start_no_second_refresh() {
    let mut w = World::new(Setup { indexeddb: true, refresh: true, tabs: 5 });
    w.step(&Step::Login(0));
    w.step(&Step::Refresh(RefreshMode::Slow));
    w.step(&Step::Revoke);
    for t in 0..5 {
        w.step(&Step::Api(t, 0, Request::Fetch));
    }
    assert_eq!(w.slow.len(), 1, "one refresh hangs on the network");
    w.step(&Step::DeliverSlow);
    assert_eq!(w.engine.view().reason, Some("refresh-failed"));
    w.settle();
}

#[test]
fn a_slow_refresh_of_an_ended_session_never_feeds_the_next_one() {
    let mut w = World::new(Setup { indexeddb: true, refresh: true, tabs: 2 });
    w.step(&Step::Login(0));
    w.step(&Step::Refresh(RefreshMode::Slow));
    w.step(&Step::Clock(250_000));
    w.step(&Step::Activity(0)); // the proactive refresh of the first session hangs
    w.step(&Step::LogoutServerUp(false)); // so the first family stays valid at the server
    w.step(&Step::Logout(1));
    w.step(&Step::Login(1));
    w.step(&Step::Clock(250_000));
    w.step(&Step::Activity(0)); // the second session's refresh hangs too
    w.step(&Step::DeliverSlow); // the first session's answer (a valid rotation) arrives now
    w.step(&Step::Api(0, 0, Request::Fetch));
    w.step(&Step::DeliverSlow);
    w.step(&Step::Api(1, 1, Request::Fetch));
    assert!(w.engine.is_logged_in());
    w.settle();
}

// ---- Properties ---------------------------------------------------------------------

fn step_strategy() -> impl Strategy<Value = Step> {
    let tab = 0..6usize;
    prop_oneof![
        4 => tab.clone().prop_map(Step::Activity),
        2 => tab.clone().prop_map(Step::Timer),
        2 => tab.clone().prop_map(Step::Logout),
        4 => tab.clone().prop_map(Step::Login),
        8 => (tab.clone(), 0..REQUEST_URLS.len(), prop_oneof![6 => Just(Request::Fetch), 1 => Just(Request::Navigate), 1 => Just(Request::AppAuthorization)])
            .prop_map(|(t, u, k)| Step::Api(t, u, k)),
        2 => (tab.clone(), 0..TAB_URLS.len()).prop_map(|(t, u)| Step::Open(t, u)),
        1 => tab.clone().prop_map(Step::AppLogout),
        1 => (tab, 0..HOSTILE_MESSAGES.len()).prop_map(|(t, m)| Step::Hostile(t, m)),
        2 => Just(Step::Revoke),
        4 => prop_oneof![
            3 => Just(RefreshMode::Ok),
            1 => Just(RefreshMode::ServerError),
            1 => Just(RefreshMode::NetworkError),
            1 => Just(RefreshMode::AnswerLost),
            4 => Just(RefreshMode::Slow)
        ]
        .prop_map(Step::Refresh),
        2 => Just(Step::DeliverSlow),
        2 => any::<bool>().prop_map(Step::LogoutServerUp),
        3 => any::<bool>().prop_map(|warm| Step::Restart { warm }),
        5 => prop_oneof![0..5_000u64, 10_000..120_000u64, 3_600_000..259_200_000u64].prop_map(Step::Clock),
        2 => prop_oneof![
            Just(CookieChange::OtherAppEnded),
            Just(CookieChange::OtherAppLive),
            Just(CookieChange::Garbage),
            Just(CookieChange::Deleted)
        ]
        .prop_map(Step::Cookie),
    ]
}

fn setup_strategy() -> impl Strategy<Value = Setup> {
    (any::<bool>(), prop::bool::weighted(0.8), 1..6usize).prop_map(|(indexeddb, refresh, tabs)| Setup { indexeddb, refresh, tabs })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every invariant of SPEC.md the engine owns holds after every step of any sequence.
    #[test]
    fn the_invariants_hold_whatever_happens(setup in setup_strategy(), steps in prop::collection::vec(step_strategy(), 1..60)) {
        let mut w = World::new(setup);
        for step in &steps {
            w.step(step);
        }
        w.settle();
    }
}

// Arbitrary bytes read as engine events. Shared, with `include!`, by the fuzz targets
// (where `lockstep` is the crate) and by the stable-Rust smoke test in
// `src/engine/input_fuzz.rs` (where `lockstep` is a local alias of `crate`), so it
// uses only the public API. Checks: nothing panics, the epoch never goes back (also
// across restarts), the engine's own persisted state always restores, a refused page
// message changes nothing.

use lockstep::config::Config;
use lockstep::engine::{Effect, Engine};
use lockstep::origin::parse_origin;

/// The spec's example config (refresh, logout, idle and cross-site all on).
pub const CONFIG: &str = r#"{
  "loginUrl": "/login",
  "apis": [{ "origin": "https://api.example.test", "pathPrefix": "/v1/" }],
  "tokenEndpoints": [{ "url": "/api/login", "format": "json", "user": "user" }],
  "refresh": { "url": "https://auth.example.test/oauth/token", "format": "oauth2", "clientId": "spa", "beforeExpirySeconds": 60 },
  "logout": { "url": "/api/logout", "method": "POST" },
  "idle": { "timeoutSeconds": 900, "warningSeconds": 60 },
  "crossSite": { "cookieName": "lockstep_session", "cookieDomain": "example.test" },
  "tokenStorage": "TOKEN_STORAGE"
}"#;

const T0: u64 = 1_700_000_000_000;
const URLS: [&str; 4] = ["https://app.example.test/app1/", "https://app.example.test/login?returnTo=%2Fapp2%2F", "https://evil.test/", "x"];
const MESSAGES: [&str; 7] = [
    r#"{"v":1,"type":"hello","url":"https://app.example.test/app1/"}"#,
    r#"{"v":1,"type":"get-state"}"#,
    r#"{"v":1,"type":"activity"}"#,
    r#"{"v":1,"type":"tick"}"#,
    r#"{"v":1,"type":"logout"}"#,
    r#"{"v":1,"type":"state","state":{"status":"logged-in"}}"#,
    r#"{"v":2,"type":"logout"}"#,
];
const STATUSES: [u16; 6] = [200, 204, 401, 403, 500, 0];

/// The example config, with memory and with IndexedDB token storage (parsed once).
fn configs() -> &'static [Config; 2] {
    static CONFIGS: std::sync::OnceLock<[Config; 2]> = std::sync::OnceLock::new();
    CONFIGS.get_or_init(|| {
        let origin = parse_origin("https://app.example.test").expect("a valid origin");
        ["memory", "indexeddb"].map(|storage| Config::parse(&CONFIG.replace("TOKEN_STORAGE", storage), &origin).expect("the example config parses"))
    })
}

/// A fresh engine on the example config.
pub fn engine(indexeddb: bool) -> Engine {
    let mut e = Engine::new(configs()[usize::from(indexeddb)].clone(), "/");
    e.restore(T0, None).expect("nothing to restore");
    e
}

struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from(self.byte()?) << 8 | u16::from(self.byte()?))
    }
    fn pick<T: Copy>(&mut self, from: &[T]) -> Option<T> {
        let i = usize::from(self.byte()?) % from.len();
        from.get(i).copied()
    }
    /// Up to 255 bytes of text (lossy UTF-8).
    fn text(&mut self) -> Option<String> {
        let n = usize::from(self.byte()?).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Some(String::from_utf8_lossy(head).into_owned())
    }
}

struct Run {
    e: Engine,
    now: u64,
    epoch: u64,
    refresh_epoch: u64,
    logout_epochs: Vec<u64>,
    serial: u64,
}

impl Run {
    fn drain(&mut self) {
        while let Some(effect) = self.e.poll_effect() {
            match effect {
                Effect::Refresh { epoch, .. } => self.refresh_epoch = epoch,
                Effect::Logout { epoch, .. } => self.logout_epochs.push(epoch),
                _ => {}
            }
        }
        assert!(self.e.epoch() >= self.epoch, "the epoch went back");
        self.epoch = self.e.epoch();
    }

    fn token_body(&mut self) -> String {
        self.serial += 1;
        format!(r#"{{"access_token":"at{0}","refresh_token":"rt{0}","expires_in":300,"user":{{"n":{0}}}}}"#, self.serial)
    }

    fn op(&mut self, b: &mut Bytes<'_>) -> Option<()> {
        match b.byte()? % 16 {
            0 => self.now = self.now.saturating_add(u64::from(b.u16()?) * 16),
            1 => self.now = self.now.saturating_add(u64::from(b.byte()?) * 3_600_000),
            2 => {
                let url = b.pick(&URLS)?;
                let msg = b.pick(&MESSAGES)?;
                self.e.handle_message(self.now, "tab", url, msg);
            }
            3 => self.e.handle_tick(self.now),
            4 => {
                let flags = b.byte()?;
                self.e.admit(self.now, flags & 1 == 1, flags & 2 == 2);
            }
            5 => {
                let generation = u64::from(b.byte()? % 8);
                let status = b.pick(&STATUSES)?;
                let replayed = b.byte()? & 1 == 1;
                self.e.handle_api_response(self.now, generation, status, replayed);
            }
            6 => {
                let body = self.token_body();
                self.e.handle_token_response(self.now, 0, 200, &body);
            }
            7 => {
                let status = b.pick(&STATUSES)?;
                let index = usize::from(b.byte()? % 3);
                let body = b.text()?;
                self.e.handle_token_response(self.now, index, status, &body);
            }
            8 => {
                let body = self.token_body();
                self.e.handle_refresh_response(self.now, self.refresh_epoch, 200, &body);
            }
            9 => {
                let status = b.pick(&STATUSES)?;
                let stale = b.byte()? & 1;
                let body = b.text()?;
                self.e.handle_refresh_response(self.now, self.refresh_epoch.saturating_sub(u64::from(stale)), status, &body);
            }
            10 => self.e.handle_refresh_error(self.now, self.refresh_epoch),
            11 => {
                let epoch = match self.logout_epochs.len() {
                    0 => u64::from(b.byte()?),
                    n => self.logout_epochs.get(usize::from(b.byte()?) % n).copied().unwrap_or(0),
                };
                let delivered = b.byte()? & 1 == 1;
                self.e.handle_logout_result(self.now, epoch, delivered);
            }
            12 => {
                let value = match b.byte()? % 4 {
                    0 => None,
                    1 => Some(format!("live.{:016x}", b.u16()?)),
                    2 => Some(format!("ended.{:016x}", b.u16()?)),
                    _ => Some(b.text()?),
                };
                let before = self.e.persisted();
                self.e.handle_tick(self.now);
                self.drain();
                let ticked = self.e.persisted();
                if self.e.handle_cookie(self.now, value.as_deref()).is_err() {
                    assert_eq!(self.e.persisted(), ticked, "a refused cookie changed the state");
                }
                let _ = before;
            }
            13 => {
                let saved = self.e.persisted();
                let mut fresh = Engine::new(self.e.config().clone(), "/");
                fresh.restore(self.now, Some(&saved)).expect("the engine's own persisted state restores");
                self.e = fresh;
            }
            14 => {
                let mut seed = [0u8; 8];
                seed[..2].copy_from_slice(&b.u16()?.to_be_bytes());
                self.e.seed_marker(seed);
            }
            _ => self.e.handle_logout_observed(self.now),
        }
        self.drain();
        let _ = self.e.state_message(self.now, URLS[0]);
        let _ = self.e.next_deadline();
        Some(())
    }
}

/// Drives an engine with `data` read as events.
pub fn run(data: &[u8]) {
    let mut b = Bytes { data };
    let Some(first) = b.byte() else { return };
    let mut run = Run { e: engine(first & 1 == 1), now: T0, epoch: 0, refresh_epoch: 0, logout_epochs: Vec::new(), serial: 0 };
    while run.op(&mut b).is_some() {}
}

/// A page message to a logged-in engine: refused messages change nothing.
pub fn message(text: &str) {
    let mut e = engine(false);
    e.handle_token_response(T0, 0, 200, r#"{"access_token":"at","refresh_token":"rt","expires_in":300}"#);
    while e.poll_effect().is_some() {}
    let before = (e.persisted(), e.state_message(T0, URLS[0]));
    let reply = e.handle_message(T0 + 1, "tab", URLS[0], text);
    if lockstep::protocol::decode(text).is_err() {
        assert!(reply.contains(r#""type":"error""#), "a refused message got {reply}");
        assert_eq!(before, (e.persisted(), e.state_message(T0, URLS[0])), "a refused message changed the state");
        assert!(e.poll_effect().is_none(), "a refused message caused an effect");
    }
}

/// Persisted state: corrupt text is an error and leaves a fresh engine; accepted text
/// gives an engine that works and persists something that restores again.
pub fn restore(text: &str) {
    for indexeddb in [false, true] {
        let mut e = Engine::new(configs()[usize::from(indexeddb)].clone(), "/");
        match e.restore(T0, Some(text)) {
            Err(_) => {
                assert_eq!((e.epoch(), e.is_logged_in()), (0, false), "a refused state was applied");
                assert!(e.poll_effect().is_none());
            }
            Ok(()) => {
                while e.poll_effect().is_some() {}
                let epoch = e.epoch();
                e.admit(T0, false, false);
                e.handle_tick(T0 + 1);
                let _ = e.state_message(T0 + 1, URLS[1]);
                let saved = e.persisted();
                let mut again = Engine::new(e.config().clone(), "/");
                again.restore(T0 + 1, Some(&saved)).expect("the engine's own persisted state restores");
                assert!(again.epoch() >= epoch, "the epoch went back across a restore");
            }
        }
    }
}

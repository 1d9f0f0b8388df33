//! One test per engine rule, named for the rule. Each is written so that breaking the rule
//! makes it fail; scenario and property tests over many tabs live in `world.rs`.

use serde_json::{json, Value};

use super::*;
use crate::origin::parse_origin;

const APP: &str = "https://app.example.test";
const API: &str = "https://api.example.test/v1/orders";
const REFRESH_URL: &str = "https://auth.example.test/oauth/token";
const LOGIN_BODY: &str = r#"{"access_token":"AT1","refresh_token":"RT1","expires_in":300,"user":{"name":"ada"}}"#;
const T0: u64 = 1_700_000_000_000;
const IDLE_MS: u64 = 900_000;

/// The spec's example config; `edit` changes it before parsing.
fn config_with(edit: impl FnOnce(&mut Value)) -> Config {
    let mut v = json!({
        "loginUrl": "/login",
        "returnParam": "returnTo",
        "apis": [{ "origin": "https://api.example.test", "pathPrefix": "/v1/" }],
        "tokenEndpoints": [
            { "url": "/api/login", "format": "json", "user": "user" },
            { "url": "https://auth.example.test/oauth/token", "format": "oauth2" }
        ],
        "refresh": { "url": REFRESH_URL, "format": "oauth2", "clientId": "spa", "beforeExpirySeconds": 60 },
        "logout": { "url": "/api/logout", "method": "POST" },
        "idle": { "timeoutSeconds": 900, "warningSeconds": 60 },
        "crossSite": { "cookieName": "lockstep_session", "cookieDomain": "example.test" },
        "tokenStorage": "memory"
    });
    edit(&mut v);
    Config::parse(&v.to_string(), &parse_origin(APP).unwrap()).unwrap()
}

fn engine_with(edit: impl FnOnce(&mut Value)) -> Engine {
    let mut e = Engine::new(config_with(edit), "/");
    e.restore(T0, None).unwrap();
    e.seed_marker([1, 2, 3, 4, 5, 6, 7, 8]);
    e
}

fn engine() -> Engine {
    engine_with(|_| {})
}

fn drain(e: &mut Engine) -> Vec<Effect> {
    core::iter::from_fn(|| e.poll_effect()).collect()
}

fn refreshes(effects: &[Effect]) -> Vec<&Effect> {
    effects.iter().filter(|f| matches!(f, Effect::Refresh { .. })).collect()
}

fn logouts(effects: &[Effect]) -> Vec<&Effect> {
    effects.iter().filter(|f| matches!(f, Effect::Logout { .. })).collect()
}

fn refresh_epoch(effects: &[Effect]) -> u64 {
    effects.iter().find_map(|f| if let Effect::Refresh { epoch, .. } = f { Some(*epoch) } else { None }).expect("a refresh")
}

fn log_in(e: &mut Engine, now: u64, body: &str) {
    assert!(matches!(e.handle_token_response(now, 0, 200, body), TokenVerdict::Replace(_)));
    drain(e);
}

fn logged_in() -> Engine {
    let mut e = engine();
    log_in(&mut e, T0, LOGIN_BODY);
    e
}

fn msg(kind: &str) -> String {
    json!({ "v": 1, "type": kind }).to_string()
}

fn send(e: &mut Engine, now: u64, kind: &str) -> Value {
    serde_json::from_str(&e.handle_message(now, "tab-1", &format!("{APP}/app1/"), &msg(kind))).unwrap()
}

fn state(e: &Engine, now: u64, url: &str) -> Value {
    serde_json::from_str(&e.state_message(now, url)).unwrap()
}

fn reason(e: &Engine) -> Option<&'static str> {
    e.view().reason
}

fn restart(old: &Engine, now: u64) -> Engine {
    let mut e = Engine::new(old.config().clone(), "/");
    e.restore(now, Some(&old.persisted())).unwrap();
    e
}

fn attach(e: &mut Engine, now: u64) -> (String, u64) {
    match e.admit(now, false, false) {
        Admission::Attach { token, generation } => (token, generation),
        other => panic!("expected Attach, got {other:?}"),
    }
}

// ---- 3. One epoch -------------------------------------------------------------------

#[test]
fn epoch_bumps_on_login_and_on_every_end() {
    let mut e = engine();
    assert_eq!(e.epoch(), 0);
    let mut expected = 0;
    let ends: [(&str, &dyn Fn(&mut Engine, u64)); 5] = [
        ("logout", &|e, now| drop(send(e, now, "logout"))),
        ("idle", &|e, now| e.handle_tick(now + IDLE_MS)),
        ("refresh-failed", &|e, now| {
            e.handle_api_response(now, e.generation, 401, false);
            let epoch = refresh_epoch(&drain(e));
            e.handle_refresh_response(now, epoch, 400, "{}");
        }),
        ("unauthorized", &|e, now| drop(e.handle_api_response(now, e.generation, 401, true))),
        ("elsewhere", &|e, now| e.handle_cookie(now, None).unwrap()),
    ];
    for (i, (name, end)) in ends.iter().enumerate() {
        let now = T0 + i as u64 * 10 * IDLE_MS;
        log_in(&mut e, now, LOGIN_BODY);
        expected += 1;
        assert_eq!(e.epoch(), expected, "login before {name}");
        end(&mut e, now);
        expected += 1;
        assert_eq!((e.epoch(), reason(&e)), (expected, Some(*name)), "end by {name}");
        // An end is one end: more end events do not bump again.
        send(&mut e, now, "logout");
        e.handle_api_response(now, 0, 401, true);
        assert_eq!(e.epoch(), expected, "a second end after {name}");
    }
    // Expired: no refresh configured and the token's lifetime passed.
    let mut e = engine_with(|c| drop(c.as_object_mut().unwrap().remove("refresh")));
    log_in(&mut e, T0, LOGIN_BODY);
    e.handle_tick(T0 + 300_000);
    assert_eq!((e.epoch(), reason(&e)), (2, Some("expired")));
}

#[test]
fn every_end_starts_its_disk_write_then_tells_the_tabs_and_cancels_the_safe_requests_in_flight() {
    for (name, end) in [("logout", 0), ("unauthorized", 1), ("idle", 2)] {
        let mut e = logged_in();
        drain(&mut e);
        match end {
            0 => drop(send(&mut e, T0, "logout")),
            1 => drop(e.handle_api_response(T0, e.generation, 401, true)),
            _ => e.handle_tick(T0 + IDLE_MS),
        }
        let effects = drain(&mut e);
        // The disk write is started just before the news (the shell does not wait for it).
        let first = effects.iter().position(|f| *f == Effect::Broadcast).expect("a broadcast");
        assert_eq!(effects[first - 1..first + 3], [Effect::Persist, Effect::Broadcast, Effect::CancelRequests, Effect::RefreshSettled], "{name}: {effects:?}");
        assert_eq!(effects.iter().filter(|f| **f == Effect::CancelRequests).count(), 1, "{name}");
        assert_eq!(logouts(&effects).len(), 1, "{name}: the logout call still goes, after");
    }
    // A login too, and it cancels nothing.
    let mut e = engine();
    assert!(matches!(e.handle_token_response(T0, 0, 200, LOGIN_BODY), TokenVerdict::Replace(_)));
    let effects = drain(&mut e);
    assert_eq!(effects[..2], [Effect::Persist, Effect::Broadcast], "{effects:?}");
    assert!(!effects.contains(&Effect::CancelRequests));
    let e = logged_in();
    for m in ["GET", "HEAD", "OPTIONS"] {
        assert!(e.cancels_on_end(m), "{m}");
    }
    // The server may already have acted on these: they run to their answer.
    for m in ["POST", "PUT", "PATCH", "DELETE", "get", "CONNECT"] {
        assert!(!e.cancels_on_end(m), "{m}");
    }
}

#[test]
fn epoch_never_goes_back_across_restore() {
    let mut e = logged_in();
    send(&mut e, T0, "logout");
    log_in(&mut e, T0 + 1, LOGIN_BODY);
    assert_eq!(e.epoch(), 3);
    let stale = e.persisted();
    send(&mut e, T0 + 2, "logout");
    let r = restart(&e, T0 + 3);
    assert_eq!(r.epoch(), 4, "a restarted worker keeps the epoch");
    // An older snapshot written last (a lost write) must not take the epoch back.
    let mut r = restart(&e, T0 + 3);
    r.restore(T0 + 3, Some(&stale)).unwrap();
    assert!(r.epoch() >= 4, "epoch went back to {}", r.epoch());
    let mut r = restart(&e, T0 + 3);
    log_in(&mut r, T0 + 4, LOGIN_BODY);
    assert_eq!(r.epoch(), 5, "the next login after a restart bumps from the persisted epoch");
}

// ---- 1. Token custody ---------------------------------------------------------------

fn assert_no_tokens(what: &str, text: &str) {
    for t in ["AT1", "RT1", "AT2", "RT2"] {
        assert!(!text.contains(t), "{t} leaked into {what}: {text}");
    }
}

#[test]
fn tokens_never_leave_the_worker_with_memory_storage() {
    let mut e = engine();
    let TokenVerdict::Replace(page) = e.handle_token_response(T0, 0, 200, LOGIN_BODY) else { panic!("login refused") };
    assert_no_tokens("the page's login response", &page);
    assert!(page.contains("ada"), "{page}");
    assert_no_tokens("view()", &e.view().to_json());
    assert_no_tokens("state_message()", &e.state_message(T0, &format!("{APP}/x")));
    assert_no_tokens("persisted()", &e.persisted());
    // After a rotation, and with a logout pending (it carries the bearer).
    e.handle_api_response(T0, e.generation, 401, false);
    let epoch = refresh_epoch(&drain(&mut e));
    e.handle_refresh_response(T0, epoch, 200, r#"{"access_token":"AT2","refresh_token":"RT2","expires_in":300}"#);
    send(&mut e, T0, "logout");
    assert!(e.pending_logouts.iter().any(|p| p.token.as_deref() == Some("AT2")), "the logout call carries the bearer");
    assert_no_tokens("persisted() with a pending logout", &e.persisted());
}

#[test]
fn tokens_are_persisted_only_with_indexeddb_storage() {
    let mut e = engine_with(|c| c["tokenStorage"] = "indexeddb".into());
    log_in(&mut e, T0, LOGIN_BODY);
    let p = e.persisted();
    assert!(p.contains("AT1") && p.contains("RT1"), "{p}");
    assert_no_tokens("state_message()", &e.state_message(T0, &format!("{APP}/x")));
    let mut r = restart(&e, T0 + 1);
    assert!(refreshes(&drain(&mut r)).is_empty(), "no refresh needed with stored tokens");
    assert_eq!(attach(&mut r, T0 + 1).0, "AT1");
}

#[test]
fn a_restart_with_memory_storage_refreshes_or_ends_never_half_logged_in() {
    let e = logged_in();
    let mut r = restart(&e, T0 + 1);
    assert!(r.is_logged_in());
    assert_eq!(refreshes(&drain(&mut r)).len(), 1, "the token is gone: refresh (through the HttpOnly cookie)");
    assert_eq!(r.admit(T0 + 1, false, false), Admission::Wait);
    let mut e = engine_with(|c| drop(c.as_object_mut().unwrap().remove("refresh")));
    log_in(&mut e, T0, LOGIN_BODY);
    let mut r = restart(&e, T0 + 1);
    assert_eq!(reason(&r), Some("expired"));
    assert_eq!(r.admit(T0 + 1, false, false), Admission::Block);
}

// ---- 2. Exact attachment ------------------------------------------------------------

#[test]
fn only_the_exact_api_origin_and_prefix_is_routed_as_api() {
    let e = logged_in();
    for (url, route) in [
        (API, Route::Api),
        ("https://api.example.test/v1/", Route::Api),
        ("https://API.example.test:443/v1/x?q=1", Route::Api),
        ("https://api.example.test.evil.test/v1/orders", Route::Other),
        ("https://api.example.test@evil.test/v1/", Route::Other),
        ("https://user:pw@api.example.test/v1/", Route::Other),
        ("https://api.example.test:8443/v1/orders", Route::Other),
        ("http://api.example.test/v1/orders", Route::Other),
        ("https://api.example.test/v1x", Route::Other),
        ("https://api.example.test/v1", Route::Other),
        ("https://api.example.test/v2/orders", Route::Other),
        ("https://evil.test/v1/orders", Route::Other),
        ("https://xapi.example.test/v1/", Route::Other),
        ("https://api.example.test\\@evil.test/v1/", Route::Other),
        ("//api.example.test/v1/", Route::Other),
        ("not a url", Route::Other),
        ("https://app.example.test/__lockstep/state", Route::State),
    ] {
        assert_eq!(e.route(url, "GET"), route, "{url}");
    }
    assert_eq!(e.route("https://app.example.test/api/logout", "POST"), Route::Logout);
    assert_eq!(e.route("https://app.example.test/api/login", "POST"), Route::Token(0));
    assert_eq!(e.route("https://app.example.test/api/login", "GET"), Route::Other);
}

#[test]
fn only_same_origin_token_requests_carry_the_worker_header() {
    let e = engine();
    assert!(e.marks_token_request(0), "/api/login is on the app's origin");
    assert!(!e.marks_token_request(1), "a cross-origin identity provider would need a preflight for it");
    assert!(!e.marks_token_request(2), "no such endpoint");
}

#[test]
fn the_bearer_goes_only_on_api_fetches_the_app_did_not_authorize() {
    let mut e = logged_in();
    assert_eq!(attach(&mut e, T0).0, "AT1");
    assert_eq!(e.admit(T0, true, false), Admission::PassThrough, "navigations never carry the bearer");
    assert_eq!(e.admit(T0, false, true), Admission::PassThrough, "the app's own Authorization is left alone");
    let mut fresh = engine();
    assert_eq!(fresh.admit(T0, false, false), Admission::PassThrough, "never logged in: nothing to attach");
}

// ---- 4. One refresh -----------------------------------------------------------------

#[test]
fn one_refresh_in_flight_whatever_the_number_of_admits_and_401s() {
    // The token expires (10 s) before the refresh may be given up (15 s).
    let mut e = engine_with(|c| c["refresh"]["beforeExpirySeconds"] = 5.into());
    log_in(&mut e, T0, r#"{"access_token":"AT1","refresh_token":"RT1","expires_in":10}"#);
    let g = e.generation;
    let mut effects = Vec::new();
    for tab in 0..20u64 {
        assert_eq!(e.handle_api_response(T0 + tab, g, 401, false), Verdict::WaitThenReplay);
        assert_eq!(e.admit(T0 + tab, false, false), Admission::Wait, "the server refused AT1: nothing goes out with it");
        send(&mut e, T0 + tab, "tick");
        effects.extend(drain(&mut e));
    }
    // The token expires with the refresh still out: requests wait, no second refresh.
    for now in [T0 + 10_000, T0 + 14_999] {
        assert_eq!(e.admit(now, false, false), Admission::Wait);
        e.handle_tick(now);
        effects.extend(drain(&mut e));
    }
    assert_eq!(refreshes(&effects).len(), 1, "{effects:?}");
}

#[test]
fn a_proactive_refresh_does_not_hold_requests_but_a_401_does() {
    let mut e = engine_with(|c| c["refresh"]["beforeExpirySeconds"] = 60.into());
    log_in(&mut e, T0, r#"{"access_token":"AT1","refresh_token":"RT1","expires_in":300}"#);
    let g = e.generation;
    let due = T0 + 240_000; // 60 s before expiry: the refresh starts, the token is still good
    assert_eq!(e.admit(due, false, false), Admission::Attach { token: "AT1".into(), generation: g });
    assert_eq!(refreshes(&drain(&mut e)).len(), 1);
    assert_eq!(e.handle_api_response(due + 1, g, 401, false), Verdict::WaitThenReplay);
    assert_eq!(e.admit(due + 2, false, false), Admission::Wait, "refused token held back during the refresh");
    let epoch = e.epoch();
    e.handle_refresh_response(due + 3, epoch, 200, r#"{"access_token":"AT2","refresh_token":"RT2","expires_in":300}"#);
    assert_eq!(attach(&mut e, due + 4).0, "AT2");
}

#[test]
fn waiting_requests_attach_the_new_token_after_the_refresh_settles() {
    let mut e = logged_in();
    let now = T0 + 300_000; // expired: requests must wait
    assert_eq!(e.admit(now, false, false), Admission::Wait);
    assert_eq!(e.admit(now, false, false), Admission::Wait);
    let epoch = refresh_epoch(&drain(&mut e));
    e.handle_refresh_response(now + 5, epoch, 200, r#"{"access_token":"AT2","refresh_token":"RT2","expires_in":300}"#);
    assert!(drain(&mut e).contains(&Effect::RefreshSettled));
    assert_eq!(attach(&mut e, now + 5).0, "AT2");
}

#[test]
fn rotation_replaces_the_refresh_token_in_the_next_refresh_body() {
    let mut e = logged_in();
    let first = drain_refresh_body(&mut e, T0 + 240_000);
    assert!(first.contains("refresh_token=RT1") && first.contains("client_id=spa"), "{first}");
    let epoch = e.epoch();
    e.handle_refresh_response(T0 + 240_001, epoch, 200, r#"{"access_token":"AT2","refresh_token":"RT2","expires_in":300}"#);
    let second = drain_refresh_body(&mut e, T0 + 240_001 + 240_000);
    assert!(second.contains("refresh_token=RT2") && !second.contains("RT1"), "{second}");
    // A server that does not rotate: the refresh token stays.
    e.handle_refresh_response(T0 + 480_002, epoch, 200, r#"{"access_token":"AT3","expires_in":300}"#);
    let third = drain_refresh_body(&mut e, T0 + 480_002 + 240_000);
    assert!(third.contains("refresh_token=RT2"), "{third}");
}

fn drain_refresh_body(e: &mut Engine, now: u64) -> String {
    e.handle_tick(now);
    let effects = drain(e);
    match refreshes(&effects).as_slice() {
        [Effect::Refresh { body, url, .. }] => {
            assert_eq!(url, REFRESH_URL);
            body.clone()
        }
        other => panic!("expected one refresh at {now}, got {other:?}"),
    }
}

#[test]
fn a_refresh_answer_from_an_earlier_session_is_ignored() {
    let mut e = logged_in();
    e.handle_api_response(T0, e.generation, 401, false);
    let old = refresh_epoch(&drain(&mut e));
    send(&mut e, T0 + 1, "logout");
    log_in(&mut e, T0 + 2, r#"{"access_token":"BOB1","refresh_token":"BOBR1","expires_in":300}"#);
    e.handle_api_response(T0 + 3, e.generation, 401, false);
    let new = refresh_epoch(&drain(&mut e));
    // The slow answer of the first session's refresh arrives now.
    e.handle_refresh_response(T0 + 4, old, 200, r#"{"access_token":"ADA2","refresh_token":"ADAR2","expires_in":300}"#);
    // Not taken: BOB1 was refused and BOB's own refresh still runs, so requests wait for it.
    assert_eq!(e.admit(T0 + 4, false, false), Admission::Wait);
    e.handle_refresh_error(T0 + 5, old);
    assert!(e.is_logged_in(), "an old session's failed refresh must not end this one");
    e.handle_refresh_response(T0 + 6, new, 200, r#"{"access_token":"BOB2","refresh_token":"BOBR2","expires_in":300}"#);
    assert_eq!(attach(&mut e, T0 + 6).0, "BOB2");
}

#[test]
fn a_refresh_that_hangs_ends_the_session() {
    let mut e = logged_in();
    e.handle_api_response(T0, e.generation, 401, false);
    drain(&mut e);
    e.handle_tick(T0 + REFRESH_TIMEOUT_MS);
    assert_eq!(reason(&e), Some("refresh-failed"));
}

// ---- The 401 decision ---------------------------------------------------------------

#[test]
fn a_401_for_an_older_token_replays_with_the_newer_one() {
    let mut e = logged_in();
    let (_, old) = attach(&mut e, T0);
    e.handle_api_response(T0, old, 401, false);
    let epoch = refresh_epoch(&drain(&mut e));
    e.handle_refresh_response(T0, epoch, 200, r#"{"access_token":"AT2","refresh_token":"RT2","expires_in":300}"#);
    drain(&mut e);
    // Another tab's request went out with AT1 before the refresh and now gets its 401.
    match e.handle_api_response(T0 + 1, old, 401, false) {
        Verdict::Replay { token, generation } => assert_eq!((token.as_str(), generation), ("AT2", e.generation)),
        v => panic!("expected a replay, got {v:?}"),
    }
    assert!(refreshes(&drain(&mut e)).is_empty(), "a stale 401 needs no refresh");
}

#[test]
fn a_fresh_401_starts_a_refresh_and_waits_to_replay() {
    let mut e = logged_in();
    let (_, g) = attach(&mut e, T0);
    assert_eq!(e.handle_api_response(T0, g, 401, false), Verdict::WaitThenReplay);
    assert_eq!(refreshes(&drain(&mut e)).len(), 1);
    assert_eq!(e.handle_api_response(T0, g, 200, false), Verdict::Deliver, "other statuses go to the page");
}

#[test]
fn a_401_on_the_replay_ends_the_session() {
    let mut e = logged_in();
    let (_, g) = attach(&mut e, T0);
    assert_eq!(e.handle_api_response(T0, g, 401, true), Verdict::Deliver);
    assert_eq!(reason(&e), Some("unauthorized"));
}

#[test]
fn a_401_without_refresh_configured_ends_the_session() {
    let mut e = engine_with(|c| drop(c.as_object_mut().unwrap().remove("refresh")));
    log_in(&mut e, T0, LOGIN_BODY);
    let (_, g) = attach(&mut e, T0);
    assert_eq!(e.handle_api_response(T0, g, 401, false), Verdict::Deliver);
    assert_eq!(reason(&e), Some("unauthorized"));
}

// ---- 5. No storm --------------------------------------------------------------------

#[test]
fn after_an_end_every_api_request_is_blocked_until_the_next_login() {
    let mut e = logged_in();
    let (_, g) = attach(&mut e, T0);
    e.handle_api_response(T0, g, 401, true);
    for i in 0..50 {
        assert_eq!(e.admit(T0 + i, false, false), Admission::Block, "request {i}");
        assert_eq!(e.admit(T0 + i, false, true), Admission::Block, "even with the app's own Authorization");
        assert_eq!(e.handle_api_response(T0 + i, g, 401, false), Verdict::Deliver);
    }
    assert!(refreshes(&drain(&mut e)).is_empty(), "no refresh after the end");
    let r = &mut restart(&e, T0 + 100);
    assert_eq!(r.admit(T0 + 100, false, false), Admission::Block, "also after a restart");
    log_in(r, T0 + 101, LOGIN_BODY);
    assert!(matches!(r.admit(T0 + 101, false, false), Admission::Attach { .. }));
}

// ---- 6. One logout ------------------------------------------------------------------

#[test]
fn exactly_one_logout_call_per_end_of_session() {
    let mut e = logged_in();
    let g = e.generation;
    let mut effects = Vec::new();
    for tab in 0..12 {
        let url = format!("{APP}/app{tab}/");
        e.handle_message(T0 + tab, &format!("tab-{tab}"), &url, &msg("logout"));
        e.handle_api_response(T0 + tab, g, 401, true);
        e.handle_api_response(T0 + tab, g, 401, false);
        e.handle_tick(T0 + tab);
        e.admit(T0 + tab, false, false);
        effects.extend(drain(&mut e));
    }
    let calls = logouts(&effects);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let Effect::Logout { url, method, token, epoch } = calls[0] else { unreachable!() };
    assert_eq!((url.as_str(), method.as_str(), token.as_deref(), *epoch), ("https://app.example.test/api/logout", "POST", Some("AT1"), 2));
    e.handle_logout_result(T0 + 20, 2, true);
    for t in [T0 + 30, T0 + 10 * LOGOUT_RETRY_MAX_MS] {
        e.handle_tick(t);
        assert!(logouts(&drain(&mut e)).is_empty(), "no call after delivery");
    }
    assert_eq!(e.next_deadline(), None);
}

#[test]
fn an_undelivered_logout_is_retried_with_backoff() {
    let mut e = logged_in();
    send(&mut e, T0, "logout");
    assert_eq!(logouts(&drain(&mut e)).len(), 1);
    let mut now = T0;
    let mut last_delay = 0;
    for attempt in 0..10 {
        e.handle_logout_result(now, 2, false);
        let retry_at = e.next_deadline().expect("a retry is scheduled");
        let delay = retry_at - now;
        assert!(delay >= last_delay && delay <= LOGOUT_RETRY_MAX_MS && delay >= LOGOUT_RETRY_MS, "attempt {attempt}: delay {delay}");
        e.handle_tick(retry_at - 1);
        assert!(logouts(&drain(&mut e)).is_empty(), "attempt {attempt}: retried before its time");
        e.handle_tick(retry_at);
        e.handle_tick(retry_at);
        assert_eq!(logouts(&drain(&mut e)).len(), 1, "attempt {attempt}: one retry at its time");
        last_delay = delay;
        now = retry_at;
    }
    assert_eq!(last_delay, LOGOUT_RETRY_MAX_MS, "the backoff grows to its cap");
    e.handle_logout_result(now, 2, true);
    assert_eq!(e.next_deadline(), None);
}

#[test]
fn a_pending_logout_is_sent_again_after_a_restart() {
    let mut e = logged_in();
    send(&mut e, T0, "logout");
    assert_eq!(logouts(&drain(&mut e)).len(), 1);
    // The worker stopped with the call in flight: it never reported.
    let mut r = restart(&e, T0 + 1);
    let calls = drain(&mut r);
    assert!(matches!(logouts(&calls).as_slice(), [Effect::Logout { epoch: 2, token: None, .. }]), "{calls:?}");
    r.handle_logout_result(T0 + 2, 2, true);
    let mut r = restart(&r, T0 + 3);
    assert!(logouts(&drain(&mut r)).is_empty(), "delivered: not sent again");
}

#[test]
fn tabs_wake_a_worker_stopped_in_the_middle_of_its_logout_call() {
    // Found by e2e/faults.test.mjs under load: the worker stopped after the call went out and
    // before its answer, the tabs (idle on /login) had no `wakeAt`, and nothing woke the
    // worker to send it again.
    let mut e = logged_in();
    send(&mut e, T0, "logout");
    assert_eq!(logouts(&drain(&mut e)).len(), 1);
    let wake = state(&e, T0, &format!("{APP}/login"))["wakeAt"].as_u64().expect("a wakeAt while the call is out");
    assert_eq!(wake, T0 + LOGOUT_WAKE_MS);
    // A live worker whose call is merely slow: the tick sends nothing, and moves the look on.
    assert_eq!(send(&mut e, wake, "tick")["type"], "state");
    assert!(logouts(&drain(&mut e)).is_empty(), "no second call while the first is out");
    assert_eq!(e.next_deadline(), Some(wake + LOGOUT_WAKE_MS));
    // A worker that was stopped: the tab's tick starts it, and it sends the call again.
    let mut r = restart(&e, wake);
    send(&mut r, wake, "tick");
    let calls = drain(&mut r);
    assert_eq!(logouts(&calls).len(), 1, "{calls:?}");
    r.handle_logout_result(wake + 5, 2, true);
    assert_eq!(r.next_deadline(), None, "delivered: nothing to wake for");
}

#[test]
fn a_logout_pending_from_an_earlier_end_is_not_lost_by_the_next_end() {
    let mut e = logged_in();
    send(&mut e, T0, "logout");
    drain(&mut e);
    e.handle_logout_result(T0, 2, false);
    log_in(&mut e, T0 + 1, LOGIN_BODY);
    send(&mut e, T0 + 2, "logout");
    let mut delivered = Vec::new();
    let mut now = T0 + 2;
    for _ in 0..10 {
        for f in drain(&mut e) {
            if let Effect::Logout { epoch, .. } = f {
                delivered.push(epoch);
                e.handle_logout_result(now, epoch, true);
            }
        }
        now += LOGOUT_RETRY_MAX_MS;
        e.handle_tick(now);
    }
    delivered.sort_unstable();
    assert_eq!(delivered, [2, 4], "each end of session calls logout once");
}

#[test]
fn an_app_logout_the_worker_saw_ends_the_session_without_a_second_call() {
    let mut e = logged_in();
    assert_eq!(e.route("https://app.example.test/api/logout", "POST"), Route::Logout);
    e.handle_logout_observed(T0);
    assert_eq!(reason(&e), Some("logout"));
    assert!(logouts(&drain(&mut e)).is_empty());
    assert_eq!(e.admit_logout(T0 + 1, false), Admission::Block, "a second call of the app's own is answered locally");
}

#[test]
fn the_apps_own_logout_call_is_blocked_after_an_end_that_had_its_call() {
    let mut e = logged_in();
    assert!(matches!(e.admit_logout(T0, false), Admission::Attach { .. }), "logged in: it goes out with the bearer");
    e.handle_message(T0 + 1, "tab-1", &format!("{APP}/app1/"), &msg("logout"));
    assert_eq!(logouts(&drain(&mut e)).len(), 1);
    assert_eq!(e.admit_logout(T0 + 2, false), Admission::Block);
    assert_eq!(e.admit_logout(T0 + 2, true), Admission::Block, "even with the app's own Authorization");
    assert_eq!(engine().admit_logout(T0, false), Admission::PassThrough, "never logged in: nothing to protect");
}

// ---- Idle ---------------------------------------------------------------------------

#[test]
fn activity_in_any_tab_moves_the_idle_deadline() {
    let mut e = logged_in();
    assert_eq!(e.view().idle_deadline, Some(T0 + IDLE_MS));
    let later = T0 + IDLE_MS - 1;
    let reply = serde_json::from_str::<Value>(&e.handle_message(later, "tab-7", &format!("{APP}/app2/"), &msg("activity"))).unwrap();
    assert_eq!(reply["state"]["idleDeadline"], later + IDLE_MS);
    assert!(drain(&mut e).contains(&Effect::Broadcast), "every tab learns the new deadline");
    e.handle_tick(T0 + IDLE_MS + 10);
    assert!(e.is_logged_in(), "activity kept the session alive");
    assert_eq!(e.view().idle_deadline, Some(later + IDLE_MS));
}

#[test]
fn a_passed_idle_deadline_ends_the_session_on_the_next_event_of_any_kind() {
    let events: [(&str, &dyn Fn(&mut Engine, u64)); 5] = [
        ("tick", &|e, now| e.handle_tick(now)),
        ("admit", &|e, now| assert_eq!(e.admit(now, false, false), Admission::Block)),
        ("tick message", &|e, now| drop(send(e, now, "tick"))),
        ("activity message", &|e, now| drop(send(e, now, "activity"))),
        ("api response", &|e, now| drop(e.handle_api_response(now, 1, 200, false))),
    ];
    for (name, event) in events {
        let mut e = engine_with(|c| drop(c.as_object_mut().unwrap().remove("refresh")));
        log_in(&mut e, T0, r#"{"access_token":"AT1"}"#);
        e.handle_tick(T0 + IDLE_MS - 1);
        assert!(e.is_logged_in());
        // A sleeping laptop: no event for a day.
        event(&mut e, T0 + IDLE_MS + 86_400_000);
        assert_eq!(reason(&e), Some("idle"), "{name}");
        assert_eq!(logouts(&drain(&mut e)).len(), 1, "{name}");
    }
}

#[test]
fn state_message_carries_the_idle_settings_and_deadline_for_the_warning() {
    let e = logged_in();
    let s = state(&e, T0, &format!("{APP}/app1/"));
    assert_eq!(s["idle"], json!({ "timeoutMs": IDLE_MS, "warningMs": 60_000 }));
    assert_eq!(s["state"]["idleDeadline"], T0 + IDLE_MS);
    assert_eq!(s["now"], T0);
    assert_eq!(s["wakeAt"], e.next_deadline().unwrap());
    assert!(s["wakeAt"].as_u64().unwrap() <= T0 + IDLE_MS);
    let e = engine_with(|c| drop(c.as_object_mut().unwrap().remove("idle")));
    assert_eq!(state(&e, T0, APP)["idle"], Value::Null);
}

// ---- 7, 10. Where tabs go -----------------------------------------------------------

#[test]
fn tabs_on_the_login_page_return_to_their_own_url_after_a_login() {
    let mut e = engine();
    let waiting = format!("{APP}/login?returnTo=%2Fapp1%2Forders%3Fid%3D7");
    assert_eq!(state(&e, T0, &waiting)["navigate"], Value::Null, "nothing to return to before a login");
    log_in(&mut e, T0, LOGIN_BODY);
    assert_eq!(state(&e, T0, &waiting)["navigate"], "https://app.example.test/app1/orders?id=7");
    assert_eq!(state(&e, T0, &format!("{APP}/app2/"))["navigate"], Value::Null, "tabs elsewhere stay");
    for evil in ["https://evil.test/", "//evil.test/x", "https://app.example.test@evil.test/", "javascript:alert(1)"] {
        let url = format!("{APP}/login?returnTo={evil}");
        assert_eq!(state(&e, T0, &url)["navigate"], Value::Null, "{evil}");
    }
}

#[test]
fn after_an_end_tabs_go_to_the_login_page_with_their_own_return_url() {
    let mut e = logged_in();
    send(&mut e, T0, "logout");
    assert_eq!(state(&e, T0, &format!("{APP}/app1/orders?id=7"))["navigate"], "https://app.example.test/login?returnTo=/app1/orders%3Fid%3D7");
    assert_eq!(state(&e, T0, &format!("{APP}/app2/"))["navigate"], "https://app.example.test/login?returnTo=/app2/");
    assert_eq!(state(&e, T0, &format!("{APP}/login?returnTo=/app2/"))["navigate"], Value::Null, "already there");
    assert_eq!(state(&e, T0, "https://evil.test/app1/")["navigate"], Value::Null);
}

// ---- 11. Only the worker speaks for the session -------------------------------------

#[test]
fn hostile_messages_get_an_error_and_change_nothing() {
    let mut e = logged_in();
    let before = (e.persisted(), e.state_message(T0, APP));
    let big = format!(r#"{{"v":1,"type":"hello","url":"{}"}}"#, "a".repeat(5000));
    for bad in [
        r#"{"v":1,"type":"state","state":{"status":"logged-out","epoch":99}}"#,
        r#"{"v":1,"type":"login"}"#,
        r#"{"v":2,"type":"logout"}"#,
        r#"{"v":1,"type":"logout","epoch":99}"#,
        r#"{"type":"activity"}"#,
        "garbage",
        big.as_str(),
    ] {
        // Even with the idle deadline passed: a refused message is not an event.
        let reply: Value = serde_json::from_str(&e.handle_message(T0 + IDLE_MS, "tab-1", APP, bad)).unwrap();
        assert_eq!((reply["type"].as_str(), reply["code"].as_str()), (Some("error"), Some("bad-message")), "{bad}");
        assert_eq!((e.persisted(), e.state_message(T0, APP)), before, "{bad} changed the state");
        assert!(drain(&mut e).is_empty(), "{bad} caused effects");
    }
}

// ---- Cross-site marker --------------------------------------------------------------

fn set_cookies(effects: &[Effect]) -> Vec<String> {
    effects.iter().filter_map(|f| if let Effect::SetCookie { value, .. } = f { Some(value.clone()) } else { None }).collect()
}

#[test]
fn a_garbage_cookie_is_an_error_and_changes_nothing() {
    let mut e = logged_in();
    let before = e.persisted();
    for junk in ["", "live", "ended.xyz", "live.0102030405060708.x", "dead.0102030405060708"] {
        assert!(e.handle_cookie(T0, Some(junk)).is_err(), "{junk}");
        assert!(e.is_logged_in(), "{junk}");
        assert_eq!(e.persisted(), before, "{junk}");
        assert!(drain(&mut e).is_empty(), "{junk}");
    }
}

#[test]
fn an_ended_marker_ends_the_session_here_as_elsewhere_without_a_logout_call() {
    let mut e = engine();
    e.handle_token_response(T0, 0, 200, LOGIN_BODY);
    assert_eq!(set_cookies(&drain(&mut e)), ["live.0102030405060708"]);
    e.handle_cookie(T0 + 1, Some("live.0102030405060708")).unwrap();
    assert!(e.is_logged_in(), "our own live marker");
    e.handle_cookie(T0 + 2, Some("ended.0102030405060708")).unwrap();
    assert_eq!(reason(&e), Some("elsewhere"));
    let effects = drain(&mut e);
    assert!(logouts(&effects).is_empty(), "the app that ended it called logout: {effects:?}");
    assert!(set_cookies(&effects).is_empty(), "the marker is already ended");
    assert!(effects.contains(&Effect::Broadcast));
    assert_eq!(e.admit(T0 + 3, false, false), Admission::Block);
    assert_eq!(e.admit_logout(T0 + 3, false), Admission::PassThrough, "no logout call was made here: the app's own may go");
}

#[test]
fn a_live_marker_of_another_app_is_adopted_at_login() {
    let mut e = engine();
    e.handle_cookie(T0, Some("live.00000000000000aa")).unwrap();
    assert!(!e.is_logged_in(), "a marker never logs in by itself");
    e.handle_token_response(T0 + 1, 0, 200, LOGIN_BODY);
    assert_eq!(set_cookies(&drain(&mut e)), ["live.00000000000000aa"], "adopted, not overwritten");
    e.handle_cookie(T0 + 2, Some("live.00000000000000aa")).unwrap();
    assert!(e.is_logged_in());
    send(&mut e, T0 + 3, "logout");
    assert_eq!(set_cookies(&drain(&mut e)), ["ended.00000000000000aa"], "our end ends it for every app");
}

#[test]
fn a_restart_seeing_a_different_live_marker_ends_the_old_session() {
    let mut e = engine_with(|c| c["tokenStorage"] = "indexeddb".into());
    log_in(&mut e, T0, LOGIN_BODY);
    let mut r = restart(&e, T0 + 1);
    r.handle_cookie(T0 + 1, Some("live.0102030405060708")).unwrap();
    assert!(r.is_logged_in(), "the marker we wrote");
    let mut r = restart(&e, T0 + 1);
    r.handle_cookie(T0 + 1, Some("live.ffffffffffffffff")).unwrap();
    assert_eq!(reason(&r), Some("elsewhere"), "someone else's session now");
    assert!(logouts(&drain(&mut r)).is_empty());
}

// ---- 8, 9. Restore ------------------------------------------------------------------

#[test]
fn a_restart_keeps_status_epoch_and_idle_deadline() {
    let mut e = engine_with(|c| c["tokenStorage"] = "indexeddb".into());
    log_in(&mut e, T0, LOGIN_BODY);
    send(&mut e, T0 + 5_000, "activity");
    let r = restart(&e, T0 + 6_000);
    assert_eq!(r.view().to_json(), e.view().to_json());
    assert_eq!(r.next_deadline(), e.next_deadline());
}

#[test]
fn corrupt_persisted_state_is_an_error_and_leaves_a_fresh_engine() {
    let good = logged_in().persisted();
    let corrupt = [good.replace(r#""v":1"#, r#""v":2"#), good.replace(r#""epoch":1"#, r#""epoch":-1"#), good[..good.len() / 2].to_string(), good.replace('}', "")];
    for bad in ["", "{", "null", "[]", r#"{"v":1}"#].into_iter().chain(corrupt.iter().map(String::as_str)) {
        let mut e = Engine::new(config_with(|_| {}), "/");
        let err = e.restore(T0, Some(bad)).unwrap_err();
        assert_eq!(err.input, crate::error::Input::Persisted, "{bad}");
        assert_eq!((e.epoch(), e.is_logged_in(), reason(&e)), (0, false, None), "{bad}");
        assert!(drain(&mut e).is_empty(), "{bad}");
    }
}

// ---- Cross-site marker: spent ids and restarts (e2e/cross-site.test.mjs) -------------

#[test]
fn a_login_after_an_elsewhere_end_writes_a_fresh_marker_never_the_spent_one() {
    let mut e = logged_in();
    e.handle_cookie(T0 + 1, Some("ended.0102030405060708")).unwrap();
    assert_eq!(reason(&e), Some("elsewhere"));
    drain(&mut e);
    // The shell seeds before every token response.
    e.seed_marker([9; 8]);
    e.handle_token_response(T0 + 2, 0, 200, LOGIN_BODY);
    assert_eq!(set_cookies(&drain(&mut e)), ["live.0909090909090909"], "an app still holding the spent id must not see it live again");
}

#[test]
fn a_restart_that_finds_the_session_ended_elsewhere_sends_no_refresh() {
    let e = logged_in();
    // Memory storage: the restarted engine has no token and queues a refresh at once.
    let mut r = restart(&e, T0 + 1);
    r.handle_cookie(T0 + 1, Some("ended.0102030405060708")).unwrap();
    let effects = drain(&mut r);
    assert_eq!(reason(&r), Some("elsewhere"));
    assert!(refreshes(&effects).is_empty(), "a refresh for the ended session went out: {effects:?}");
    assert!(logouts(&effects).is_empty());
    assert_eq!(r.admit(T0 + 2, false, false), Admission::Block);
}

#[test]
fn an_end_event_while_logged_out_changes_nothing() {
    let mut e = engine();
    send(&mut e, T0, "logout");
    e.handle_cookie(T0, None).unwrap();
    assert_eq!((e.epoch(), reason(&e)), (0, None), "never logged in stays never logged in");
    assert_eq!(e.admit(T0, false, false), Admission::PassThrough);
    assert_eq!(state(&e, T0, &format!("{APP}/app1/"))["navigate"], Value::Null);
    let mut e = logged_in();
    e.handle_tick(T0 + IDLE_MS);
    send(&mut e, T0 + IDLE_MS, "get-state"); // the tab is known before its logout
    let before = e.persisted();
    drain(&mut e);
    send(&mut e, T0 + IDLE_MS, "logout");
    e.handle_api_response(T0 + IDLE_MS, 0, 401, true);
    assert_eq!((e.epoch(), reason(&e)), (2, Some("idle")), "the reason of an end is not rewritten");
    assert_eq!(e.persisted(), before);
    assert!(drain(&mut e).is_empty());
}

#[test]
fn during_a_slow_refresh_a_token_about_to_expire_is_not_sent() {
    // Found by e2e/faults.test.mjs: a refresh held by the server past the token's expiry let
    // requests go out with a token the server had already expired (its clock started when it
    // issued the token, before the worker saw the answer): 401s while the session was live.
    let mut e = engine_with(|c| c["refresh"]["beforeExpirySeconds"] = 4.into());
    log_in(&mut e, T0, r#"{"access_token":"AT1","refresh_token":"RT1","expires_in":7}"#);
    let g = e.generation;
    // The refresh is due at +3 s and starts; the token still has 4 s: requests go on with it.
    assert_eq!(e.admit(T0 + 3_000, false, false), Admission::Attach { token: "AT1".into(), generation: g });
    assert_eq!(refreshes(&drain(&mut e)).len(), 1);
    assert_eq!(e.admit(T0 + 7_000 - EXPIRY_SKEW_MS - 1, false, false), Admission::Attach { token: "AT1".into(), generation: g });
    // Within EXPIRY_SKEW_MS of the expiry, with the refresh still out: wait for the new token.
    assert_eq!(e.admit(T0 + 7_000 - EXPIRY_SKEW_MS, false, false), Admission::Wait);
    assert_eq!(e.admit(T0 + 6_900, false, false), Admission::Wait);
    let epoch = e.epoch();
    e.handle_refresh_response(T0 + 6_950, epoch, 200, r#"{"access_token":"AT2","refresh_token":"RT2","expires_in":7}"#);
    assert!(drain(&mut e).contains(&Effect::RefreshSettled));
    assert_eq!(attach(&mut e, T0 + 6_960).0, "AT2");
    // Without a refresh in flight nothing changes: a token is used until its expiry.
    let mut e = engine_with(|c| c["refresh"] = Value::Null);
    log_in(&mut e, T0, r#"{"access_token":"AT1","expires_in":7}"#);
    assert!(matches!(e.admit(T0 + 6_999, false, false), Admission::Attach { .. }));
}

#[test]
fn a_failed_logout_call_tells_the_tabs_when_it_is_retried() {
    // Found by e2e/faults.test.mjs: the state the tabs got while the call was in flight had
    // no `wakeAt`, and the failure was only persisted, so no tab ticked at the retry time and
    // the call waited for an unrelated event (with every tab idle on /login: forever).
    let mut e = logged_in();
    send(&mut e, T0, "logout");
    drain(&mut e);
    assert_eq!(state(&e, T0, &format!("{APP}/login"))["wakeAt"], json!(T0 + LOGOUT_WAKE_MS), "in flight: a look at it later");
    e.handle_logout_result(T0 + 10, 2, false);
    let effects = drain(&mut e);
    assert!(effects.contains(&Effect::Broadcast), "{effects:?}");
    let retry_at = e.next_deadline().expect("a retry is scheduled");
    assert_eq!(state(&e, T0 + 10, &format!("{APP}/login"))["wakeAt"], json!(retry_at));
    // The tab's tick at wakeAt sends the call again.
    assert_eq!(send(&mut e, retry_at, "tick")["type"], "state");
    assert_eq!(logouts(&drain(&mut e)).len(), 1);
    // Delivered: nothing more to announce or wake for.
    e.handle_logout_result(retry_at + 5, 2, true);
    assert!(!drain(&mut e).contains(&Effect::Broadcast));
    assert_eq!(e.next_deadline(), None);
}

#[test]
fn a_refreshed_token_expires_counting_from_when_the_refresh_was_sent() {
    // Found by e2e/load.test.mjs: with 50 busy tabs the worker got to a refresh answer seconds
    // after the server issued the token; counting its lifetime from then made the worker send
    // it after the server had expired it (401s, replays).
    let mut e = engine_with(|c| c["refresh"]["beforeExpirySeconds"] = 4.into());
    log_in(&mut e, T0, r#"{"access_token":"AT1","refresh_token":"RT1","expires_in":7}"#);
    assert!(matches!(e.admit(T0 + 3_000, false, false), Admission::Attach { .. }));
    let epoch = refresh_epoch(&drain(&mut e));
    // The answer is handled 3 s after the refresh went out.
    e.handle_refresh_response(T0 + 6_000, epoch, 200, r#"{"access_token":"AT2","refresh_token":"RT2","expires_in":7}"#);
    drain(&mut e);
    assert_eq!(e.view().expires_at, Some(T0 + 3_000 + 7_000));
    assert_eq!(attach(&mut e, T0 + 6_001).0, "AT2");
}

#[test]
fn a_restarted_worker_still_knows_which_tabs_navigate_themselves() {
    let mut e = logged_in();
    e.handle_message(T0, "tab-a", &format!("{APP}/orders"), &json!({ "v": 1, "type": "hello", "url": "/orders" }).to_string());
    e.handle_message(T0, "tab-b", &format!("{APP}/reports"), &msg("activity"));
    assert!(e.navigates_itself("tab-a") && e.navigates_itself("tab-b"), "any message says the tab runs the client");
    assert!(drain(&mut e).contains(&Effect::Persist), "a newly seen client is persisted");
    let restarted = restart(&e, T0 + 1);
    assert!(restarted.navigates_itself("tab-a"), "otherwise the worker would navigate it before its subscribers ran");
    assert!(restarted.navigates_itself("tab-b"));
    assert!(!restarted.navigates_itself("tab-c"), "a tab never heard from is navigated by the worker");
    let long = "x".repeat(129);
    let mut e2 = engine();
    e2.handle_message(T0, &long, APP, &msg("get-state"));
    assert!(!e2.navigates_itself(&long), "an oversized id is not kept");
    let bad = e.persisted().replace(r#""clients":["#, r#""clients":[1,"#);
    let err = restart_from(&bad).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("clients"), "a client id must be a string: {err}");
}

fn restart_from(json: &str) -> Result<Engine, crate::error::InputError> {
    let mut e = Engine::new(config_with(|_| {}), "/");
    e.restore(T0, Some(json)).map(|_| e)
}

#[test]
fn a_logout_call_is_delivered_when_the_server_answered_below_500() {
    assert!(Engine::logout_delivered(Some(200)) && Engine::logout_delivered(Some(401)) && Engine::logout_delivered(Some(499)));
    assert!(!Engine::logout_delivered(Some(500)) && !Engine::logout_delivered(Some(503)) && !Engine::logout_delivered(None));
}

#[test]
fn a_tab_that_moved_within_its_page_leaves_from_where_it_said_it_is() {
    let mut e = logged_in();
    let loaded = format!("{APP}/app1/orders?id=7");
    let hello = |url: &str| json!({ "v": 1, "type": "hello", "url": url }).to_string();
    // After a pushState the browser still gives the URL the page was loaded at.
    let moved = format!("{APP}/app1/orders?id=8");
    let reply: Value = serde_json::from_str(&e.handle_message(T0, "tab-a", &loaded, &hello(&moved))).unwrap();
    assert_eq!(reply["navigate"], Value::Null);
    assert_eq!(e.tab_url("tab-a", &loaded), moved);
    assert_eq!(e.tab_url("tab-b", &loaded), loaded, "only the tab that said so");
    send(&mut e, T0, "logout");
    drain(&mut e);
    assert_eq!(state(&e, T0, e.tab_url("tab-a", &loaded))["navigate"], "https://app.example.test/login?returnTo=/app1/orders%3Fid%3D8");
    // Another origin (look-alikes included), a relative or broken URL, one over 2048 bytes: not kept.
    let long = format!("{APP}/{}", "a".repeat(3000));
    let bads = ["https://evil.test/app1/x", "https://app.example.test@evil.test/x", "https://app.example.test.evil.test/x", "https://app.example.test:444/x", "http://app.example.test/x", "/app1/x", "not a url", "", long.as_str()];
    for bad in bads {
        let reply: Value = serde_json::from_str(&e.handle_message(T0, "tab-c", &loaded, &hello(bad))).unwrap();
        assert_eq!(reply["type"], "state", "{bad}");
        assert_eq!(e.tab_url("tab-c", &loaded), loaded, "{bad}");
    }
    // A tab that says it is back where it was loaded is forgotten; the list is bounded.
    e.handle_message(T0, "tab-a", &loaded, &hello(&loaded));
    assert_eq!(e.tab_url("tab-a", &loaded), loaded);
    for i in 0..300 {
        e.handle_message(T0, &format!("t{i}"), &loaded, &hello(&format!("{APP}/app1/{i}")));
    }
    assert_eq!(e.moved.len(), MAX_GREETED);
    assert_eq!(e.tab_url("t299", &loaded), format!("{APP}/app1/299"));
    assert_eq!(e.tab_url("t0", &loaded), loaded, "the oldest went first");
}

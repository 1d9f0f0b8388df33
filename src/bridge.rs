//! What crosses from the engine to the bootstrap: effects and verdicts as small JSON
//! objects, `{"do": …}`, which the bootstrap (`sw/lockstep-sw.js`) acts on with the
//! browser's APIs. Pure and host-tested; the wasm shell only calls these.
//!
//! | `do` | from | the bootstrap |
//! | --- | --- | --- |
//! | `pass` | admission, token verdict | sends the request unchanged / gives the response as it is |
//! | `attach` | admission, API verdict | sends it with `Authorization: Bearer <token>`, reports the answer with `generation` |
//! | `wait` | admission, API verdict | waits up to `ms` for `settled`, then asks again (a verdict's 401 is the answer if the wait runs out) |
//! | `block` | admission | answers a local 401 with `lockstep-blocked: 1` |
//! | `deliver` | API verdict | gives the page the response |
//! | `replace` | token verdict | answers `body` (the tokens taken out) with the response's status |
//! | `refuse` | token verdict | answers 502 with `body` |
//! | `broadcast`, `persist`, `refresh`, `logout`, `cookie`, `settled`, `cancel` | effects | see [`effect`] |

use crate::engine::{Admission, Effect, TokenVerdict, Verdict, REFRESH_WAIT_MS};
use crate::json::ObjectWriter;

fn step(name: &str) -> ObjectWriter {
    ObjectWriter::new().string("do", Some(name))
}

fn attach(token: &str, generation: u64) -> String {
    step("attach").string("token", Some(token)).uint("generation", Some(generation)).finish()
}

fn wait() -> String {
    step("wait").uint("ms", Some(REFRESH_WAIT_MS)).finish()
}

/// The engine's [`Admission`] of an API request.
pub fn admission(a: &Admission) -> String {
    match a {
        Admission::PassThrough => step("pass").finish(),
        Admission::Attach { token, generation } => attach(token, *generation),
        Admission::Wait => wait(),
        Admission::Block => step("block").finish(),
    }
}

/// The engine's [`Verdict`] on an API response. A replay is an `attach` with the newer token.
pub fn verdict(v: &Verdict) -> String {
    match v {
        Verdict::Deliver => step("deliver").finish(),
        Verdict::Replay { token, generation } => attach(token, *generation),
        Verdict::WaitThenReplay => wait(),
    }
}

/// The engine's [`TokenVerdict`] on a token endpoint's success response.
pub fn token_verdict(v: &TokenVerdict) -> String {
    match v {
        TokenVerdict::PassThrough => step("pass").finish(),
        TokenVerdict::Replace(body) => step("replace").string("body", Some(body)).finish(),
        TokenVerdict::Refuse(e) => step("refuse").string("body", Some(&token_error(&e.text()))).finish(),
    }
}

/// The body of the 502 a refused token response gets.
pub fn token_error(message: &str) -> String {
    ObjectWriter::new().string("error", Some("lockstep_bad_token_response")).string("message", Some(message)).finish()
}

/// An [`Effect`]. `persisted` is the state to write for `persist` ([`crate::engine::Engine::persisted`]).
///
/// - `broadcast`: the state to every window client and the BroadcastChannel, and
///   `navigate` for the tabs without the client;
/// - `persist` `{state}`: write it to IndexedDB;
/// - `refresh` `{url, body, type, epoch}`: POST it, report the answer with the epoch;
/// - `logout` `{url, method, token, epoch}`: call it (bearer when `token`), report delivery;
/// - `cookie` `{name, domain, value}`: write the cross-site marker;
/// - `settled`: wake the requests waiting on a refresh;
/// - `cancel`: abort the cancellable API requests in flight.
pub fn effect(e: &Effect, persisted: impl FnOnce() -> String) -> String {
    match e {
        Effect::Broadcast => step("broadcast").finish(),
        Effect::Persist => step("persist").string("state", Some(&persisted())).finish(),
        Effect::Refresh { url, body, content_type, epoch } => {
            step("refresh").string("url", Some(url)).string("body", Some(body)).string("type", Some(content_type)).uint("epoch", Some(*epoch)).finish()
        }
        Effect::Logout { url, method, token, epoch } => {
            step("logout").string("url", Some(url)).string("method", Some(method)).string("token", token.as_deref()).uint("epoch", Some(*epoch)).finish()
        }
        Effect::SetCookie { name, domain, value } => step("cookie").string("name", Some(name)).string("domain", Some(domain)).string("value", Some(value)).finish(),
        Effect::RefreshSettled => step("settled").finish(),
        Effect::CancelRequests => step("cancel").finish(),
    }
}

/// A route as a number for the bootstrap: 0 not ours, 1 API, 2 the logout endpoint, 3 the
/// diagnostics route, 4 + i the token endpoint `i`.
pub fn route(r: crate::engine::Route) -> u32 {
    use crate::engine::Route;
    match r {
        Route::Other => 0,
        Route::Api => 1,
        Route::Logout => 2,
        Route::State => 3,
        Route::Token(i) => 4u32.saturating_add(u32::try_from(i).unwrap_or(u32::MAX - 4)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Route;
    use crate::error::{Input, InputError};

    fn parsed(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON: {s}: {e}"))
    }

    #[test]
    fn admissions_and_verdicts_name_what_to_do() {
        assert_eq!(parsed(&admission(&Admission::PassThrough))["do"], "pass");
        assert_eq!(parsed(&admission(&Admission::Block))["do"], "block");
        let w = parsed(&admission(&Admission::Wait));
        assert_eq!((w["do"].as_str(), w["ms"].as_u64()), (Some("wait"), Some(REFRESH_WAIT_MS)));
        let a = parsed(&admission(&Admission::Attach { token: "t\"\\\u{1}".into(), generation: 7 }));
        assert_eq!((a["do"].as_str(), a["token"].as_str(), a["generation"].as_u64()), (Some("attach"), Some("t\"\\\u{1}"), Some(7)));
        assert_eq!(parsed(&verdict(&Verdict::Deliver))["do"], "deliver");
        assert_eq!(parsed(&verdict(&Verdict::WaitThenReplay))["do"], "wait");
        let r = parsed(&verdict(&Verdict::Replay { token: "n".into(), generation: 9 }));
        assert_eq!((r["do"].as_str(), r["token"].as_str(), r["generation"].as_u64()), (Some("attach"), Some("n"), Some(9)));
    }

    #[test]
    fn a_refused_token_response_becomes_a_502_body_naming_the_error() {
        assert_eq!(parsed(&token_verdict(&TokenVerdict::PassThrough))["do"], "pass");
        let r = parsed(&token_verdict(&TokenVerdict::Replace("{\"user\":\"a\"}".into())));
        assert_eq!((r["do"].as_str(), r["body"].as_str()), (Some("replace"), Some("{\"user\":\"a\"}")));
        let e = InputError::new(Input::TokenResponse, "access_token", "must be a string");
        let f = parsed(&token_verdict(&TokenVerdict::Refuse(e.clone())));
        assert_eq!(f["do"], "refuse");
        let body = parsed(f["body"].as_str().unwrap());
        assert_eq!((body["error"].as_str(), body["message"].as_str()), (Some("lockstep_bad_token_response"), Some(e.text().as_str())));
    }

    #[test]
    fn effects_carry_everything_the_bootstrap_needs() {
        let r = parsed(&effect(&Effect::Refresh { url: "https://a.test/t".into(), body: "x=1".into(), content_type: "application/x-www-form-urlencoded", epoch: 3 }, String::new));
        assert_eq!((r["do"].as_str(), r["url"].as_str(), r["body"].as_str(), r["type"].as_str(), r["epoch"].as_u64()), (Some("refresh"), Some("https://a.test/t"), Some("x=1"), Some("application/x-www-form-urlencoded"), Some(3)));
        let l = parsed(&effect(&Effect::Logout { url: "https://a.test/o".into(), method: "POST".into(), token: None, epoch: 4 }, String::new));
        assert_eq!((l["do"].as_str(), l["method"].as_str(), l["token"].is_null(), l["epoch"].as_u64()), (Some("logout"), Some("POST"), true, Some(4)));
        let p = parsed(&effect(&Effect::Persist, || "{\"v\":1}".into()));
        assert_eq!((p["do"].as_str(), p["state"].as_str()), (Some("persist"), Some("{\"v\":1}")));
        let c = parsed(&effect(&Effect::SetCookie { name: "n".into(), domain: "example.test".into(), value: "v".into() }, String::new));
        assert_eq!((c["do"].as_str(), c["name"].as_str(), c["domain"].as_str(), c["value"].as_str()), (Some("cookie"), Some("n"), Some("example.test"), Some("v")));
        for (e, name) in [(Effect::Broadcast, "broadcast"), (Effect::RefreshSettled, "settled"), (Effect::CancelRequests, "cancel")] {
            assert_eq!(parsed(&effect(&e, || unreachable!("only persist reads the state")))["do"], name);
        }
    }

    #[test]
    fn routes_are_numbered_and_a_huge_token_index_does_not_wrap() {
        assert_eq!([Route::Other, Route::Api, Route::Logout, Route::State, Route::Token(0), Route::Token(2)].map(route), [0, 1, 2, 3, 4, 6]);
        assert_eq!(route(Route::Token(usize::MAX)), u32::MAX);
    }
}

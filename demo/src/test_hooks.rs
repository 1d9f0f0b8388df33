//! `/__test/*` (only with `--test-hooks`): counters, reset, revoke-all, settings and the
//! config override, for e2e tests and benchmarks.

use hyper::Method;
use serde_json::{json, Value};

use crate::cors;
use crate::reply::{self, Resp};
use crate::request::Req;
use crate::state::{Counters, LoginResponse, Settings, Shared};

pub fn handle(shared: &Shared, req: &Req) -> Resp {
    let origin = req.header("origin");
    if req.method == Method::OPTIONS {
        return cors::preflight(origin);
    }
    cors::decorate(reply::no_store(route(shared, req)), origin)
}

fn route(shared: &Shared, req: &Req) -> Resp {
    let endpoint = req.path.strip_prefix("/__test/").unwrap_or("");
    let mut st = shared.lock();
    match (&req.method, endpoint) {
        (&Method::GET, "counters") => match serde_json::to_value(&st.counters) {
            Ok(mut value) => {
                // Whether the most recent login's session is live (null before any login).
                if let Value::Object(fields) = &mut value {
                    fields.insert("lastSessionLive".into(), json!(st.sessions.last_live()));
                }
                reply::json(200, &value)
            }
            Err(_) => reply::error(500, "server_error"),
        },
        (&Method::GET, "request-ids") => {
            let total: u64 = st.request_ids.values().sum();
            let duplicates: Vec<(&String, &u64)> = st.request_ids.iter().filter(|(_, n)| **n > 1).take(100).collect();
            reply::json(200, &json!({ "total": total, "distinct": st.request_ids.len(), "duplicates": duplicates, "refused": st.refused_ids, "counts": st.request_ids }))
        }
        (&Method::POST, "reset") => {
            let parked = st.counters.parked401;
            st.counters = Counters { parked401: parked, ..Counters::default() };
            st.settings = Settings::default();
            st.config_override = None;
            st.authorization.clear();
            st.request_ids.clear();
            st.refused_ids = 0;
            release(&mut st, usize::MAX, false);
            reply::empty(204)
        }
        (&Method::POST, "revoke-all") => {
            st.sessions.revoke_all();
            st.revoked_all = true;
            st.first_401_sent = false;
            st.counters.api_after_revoke = 0;
            st.counters.api_after_first401 = 0;
            st.counters.first401_at = None;
            reply::empty(204)
        }
        (&Method::POST, "expire-access") => {
            st.sessions.expire_access();
            reply::empty(204)
        }
        (&Method::POST, "release-401") => {
            let n = req.query_params().get("n").and_then(|n| n.parse::<usize>().ok()).unwrap_or(usize::MAX);
            let released = release(&mut st, n, true);
            reply::json(200, &json!({ "released": released }))
        }
        (&Method::GET, "authorization") => match serde_json::to_value(&st.authorization) {
            Ok(value) => reply::json(200, &value),
            Err(_) => reply::error(500, "server_error"),
        },
        (&Method::GET, "last-tokens") => {
            let last = st.issued.last().cloned();
            let all: Vec<&str> = st.issued.iter().flat_map(|(a, r)| [a.as_str(), r.as_str()]).collect();
            reply::json(
                200,
                &json!({
                    "access_token": last.as_ref().map(|(a, _)| a),
                    "refresh_token": last.as_ref().map(|(_, r)| r),
                    "all": all,
                }),
            )
        }
        (&Method::GET, "settings") => settings_body(&st.settings),
        (&Method::POST, "settings") => match patch_settings(&st.settings, &req.body) {
            Ok(settings) => {
                st.settings = settings;
                settings_body(&st.settings)
            }
            Err(message) => reply::json(400, &json!({ "error": "bad_settings", "message": message })),
        },
        (&Method::PUT, "lockstep-config") => match std::str::from_utf8(&req.body) {
            Ok(text) => {
                st.config_override = Some(text.to_string());
                reply::empty(204)
            }
            Err(_) => reply::error(400, "config_not_utf8"),
        },
        (&Method::DELETE, "lockstep-config") => {
            st.config_override = None;
            reply::empty(204)
        }
        (_, "counters" | "reset" | "revoke-all" | "settings" | "lockstep-config" | "expire-access" | "release-401" | "last-tokens" | "authorization" | "request-ids") => {
            reply::method_not_allowed()
        }
        _ => reply::not_found(),
    }
}

/// Sends up to `n` held 401s, oldest first. The first one sent after a `revoke-all` is "the
/// first 401": marked before it leaves, so every request that arrives later is counted.
fn release(st: &mut crate::state::State, n: usize, mark: bool) -> usize {
    let mut released = 0;
    while released < n {
        let Some(waker) = st.parked.pop_front() else { break };
        if mark && st.revoked_all && !st.first_401_sent {
            st.first_401_sent = true;
            st.counters.first401_at = Some(crate::state::unix_ms());
        }
        // A request whose client went away is gone already; it still counts as released.
        let _ = waker.send(());
        released += 1;
    }
    released
}

fn settings_body(settings: &Settings) -> Resp {
    match serde_json::to_value(settings) {
        Ok(value) => reply::json(200, &value),
        Err(_) => reply::error(500, "server_error"),
    }
}

/// Applies a settings patch: only the fields present change; `null` clears a forced
/// status. All-or-nothing: any bad field refuses the whole patch, naming the field.
pub fn patch_settings(current: &Settings, body: &[u8]) -> Result<Settings, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(fields) = value else {
        return Err("expected a JSON object".into());
    };
    let mut next = current.clone();
    for (key, value) in &fields {
        match key.as_str() {
            "expiresIn" => next.expires_in = whole(key, value, 0, 86_400 * 365)?,
            "refreshDelayMs" => next.refresh_delay_ms = whole(key, value, 0, 120_000)?,
            "refreshStatus" => next.refresh_status = status(key, value)?,
            "logoutStatus" => next.logout_status = status(key, value)?,
            "loginResponse" => {
                next.login_response = match value {
                    Value::Null => None,
                    Value::String(name) => Some(
                        LoginResponse::ALL
                            .iter()
                            .find(|(n, _)| n == name)
                            .map(|(_, v)| *v)
                            .ok_or_else(|| format!("field `{key}`: unknown malformation `{name}`"))?,
                    ),
                    _ => return Err(format!("field `{key}`: expected null or a string")),
                }
            }
            "hold401" => next.hold401 = value.as_bool().ok_or_else(|| format!("field `{key}`: expected a boolean"))?,
            "requireWorkerHeader" => {
                next.require_worker_header = value.as_bool().ok_or_else(|| format!("field `{key}`: expected a boolean"))?
            }
            _ => return Err(format!("unknown field `{key}`")),
        }
    }
    Ok(next)
}

fn whole(key: &str, value: &Value, min: u64, max: u64) -> Result<u64, String> {
    value
        .as_u64()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("field `{key}`: expected an integer in {min}..={max}"))
}

fn status(key: &str, value: &Value) -> Result<Option<u16>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let n = whole(key, value, 100, 599).map_err(|_| format!("field `{key}`: expected null or a status 100..=599"))?;
    u16::try_from(n).map(Some).map_err(|_| format!("field `{key}`: out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_changes_only_given_fields() {
        let base = Settings::default();
        let next = patch_settings(&base, br#"{"refreshStatus":500,"refreshDelayMs":250}"#);
        let expected = Settings { refresh_status: Some(500), refresh_delay_ms: 250, ..Settings::default() };
        assert_eq!(next, Ok(expected.clone()));
        let cleared = patch_settings(&expected, br#"{"refreshStatus":null,"expiresIn":5}"#);
        assert_eq!(cleared, Ok(Settings { expires_in: 5, refresh_delay_ms: 250, ..Settings::default() }));
        let bad = patch_settings(&base, br#"{"loginResponse":"huge-body","hold401":true,"requireWorkerHeader":true}"#);
        let expected = Settings { login_response: Some(LoginResponse::HugeBody), hold401: true, require_worker_header: true, ..Settings::default() };
        assert_eq!(bad, Ok(expected));
    }

    #[test]
    fn bad_patches_name_the_field() {
        let base = Settings::default();
        let err = |body: &[u8]| patch_settings(&base, body).err().unwrap_or_default();
        assert!(err(br#"{"expiresIn":-1}"#).contains("expiresIn"));
        assert!(err(br#"{"logoutStatus":42}"#).contains("logoutStatus"));
        assert!(err(br#"{"nope":1}"#).contains("nope"));
        assert!(err(br#"{"loginResponse":"nope"}"#).contains("loginResponse"));
        assert!(err(br#"{"hold401":1}"#).contains("hold401"));
        assert!(err(br#"{"requireWorkerHeader":"yes"}"#).contains("requireWorkerHeader"));
        assert!(err(b"[1]").contains("object"));
        assert!(err(b"{").contains("JSON"));
    }
}

//! `/__test/*` (only with `--test-hooks`): counters, reset, revoke-all, settings and the
//! config override, for e2e tests and benchmarks.

use hyper::Method;
use serde_json::{json, Value};

use crate::cors;
use crate::reply::{self, Resp};
use crate::request::Req;
use crate::state::{Counters, Settings, Shared};

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
            Ok(value) => reply::json(200, &value),
            Err(_) => reply::error(500, "server_error"),
        },
        (&Method::POST, "reset") => {
            st.counters = Counters::default();
            st.settings = Settings::default();
            st.config_override = None;
            reply::empty(204)
        }
        (&Method::POST, "revoke-all") => {
            st.sessions.revoke_all();
            st.revoked_all = true;
            st.counters.api_after_revoke = 0;
            reply::empty(204)
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
        (_, "counters" | "reset" | "revoke-all" | "settings" | "lockstep-config") => reply::method_not_allowed(),
        _ => reply::not_found(),
    }
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
    }

    #[test]
    fn bad_patches_name_the_field() {
        let base = Settings::default();
        let err = |body: &[u8]| patch_settings(&base, body).err().unwrap_or_default();
        assert!(err(br#"{"expiresIn":-1}"#).contains("expiresIn"));
        assert!(err(br#"{"logoutStatus":42}"#).contains("logoutStatus"));
        assert!(err(br#"{"nope":1}"#).contains("nope"));
        assert!(err(b"[1]").contains("object"));
        assert!(err(b"{").contains("JSON"));
    }
}

//! `/lockstep.config.json`: the demo's own config, or the one a test PUT.

use serde_json::json;

use crate::state::Ports;

/// The API origin as seen from a page on `host`.
pub fn api_origin(host: &str, ports: &Ports) -> String {
    format!("https://{host}:{}", ports.api)
}

/// The "elsewhere" origin as seen from a page on `host`.
pub fn other_origin(host: &str, ports: &Ports) -> String {
    format!("https://{host}:{}", ports.other)
}

/// The default config for a page on `host`.
pub fn default_config(host: &str, ports: &Ports) -> serde_json::Value {
    json!({
        "loginUrl": "/login",
        "returnParam": "returnTo",
        "apis": [{ "origin": api_origin(host, ports), "pathPrefix": "/v1/" }],
        "tokenEndpoints": [
            { "url": "/api/login", "format": "json",
              "accessToken": "access_token", "refreshToken": "refresh_token",
              "expiresIn": "expires_in", "user": "user" },
            { "url": "/oauth/token", "format": "oauth2" }
        ],
        "refresh": { "url": "/oauth/token", "format": "oauth2", "clientId": "spa",
                     "beforeExpirySeconds": 60 },
        "logout": { "url": "/api/logout", "method": "POST" },
        "idle": { "timeoutSeconds": 900, "warningSeconds": 60 }
    })
}

/// The body to serve: a PUT config verbatim except for the `{{API_ORIGIN}}` and
/// `{{OTHER_ORIGIN}}` placeholders, else the default.
pub fn render(override_text: Option<&str>, host: &str, ports: &Ports) -> String {
    match override_text {
        Some(text) => text
            .replace("{{API_ORIGIN}}", &api_origin(host, ports))
            .replace("{{OTHER_ORIGIN}}", &other_origin(host, ports)),
        None => default_config(host, ports).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: Ports = Ports { app: 1, api: 2, other: 3 };

    #[test]
    fn default_uses_request_host() {
        let cfg = default_config("app1.example.test", &PORTS);
        assert_eq!(cfg["apis"][0]["origin"], "https://app1.example.test:2");
        assert_eq!(cfg["refresh"]["clientId"], "spa");
    }

    #[test]
    fn override_is_verbatim_with_placeholders() {
        let text = r#"{"loginUrl":"/login","apis":[{"origin":"{{API_ORIGIN}}"},{"origin":"{{OTHER_ORIGIN}}"}], "x":1}"#;
        let out = render(Some(text), "localhost", &PORTS);
        assert_eq!(out, r#"{"loginUrl":"/login","apis":[{"origin":"https://localhost:2"},{"origin":"https://localhost:3"}], "x":1}"#);
        assert_eq!(render(Some("not json"), "localhost", &PORTS), "not json");
    }
}

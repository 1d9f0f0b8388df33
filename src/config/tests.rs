use super::*;
use crate::origin::parse_origin;

fn origin() -> Origin {
    parse_origin("https://app.example.test").unwrap()
}

fn parse(json: &str) -> Result<Config, ConfigError> {
    Config::parse(json, &origin())
}

const FULL: &str = r#"{
  "loginUrl": "/login",
  "returnParam": "returnTo",
  "apis": [{ "origin": "https://api.example.test", "pathPrefix": "/v1/" }],
  "tokenEndpoints": [
    { "url": "/api/login", "format": "json",
      "accessToken": "access_token", "refreshToken": "refresh_token",
      "expiresIn": "expires_in", "user": "user" },
    { "url": "https://auth.example.test/oauth/token", "format": "oauth2" }
  ],
  "refresh": { "url": "https://auth.example.test/oauth/token", "format": "oauth2",
               "clientId": "spa", "beforeExpirySeconds": 60 },
  "logout": { "url": "/api/logout", "method": "POST" },
  "idle": { "timeoutSeconds": 900, "warningSeconds": 60 },
  "crossSite": { "cookieName": "lockstep_session", "cookieDomain": "example.test" },
  "tokenStorage": "memory",
  "debug": false
}"#;

#[test]
fn the_spec_example_parses() {
    let c = parse(FULL).unwrap();
    assert_eq!(c.login_url.href(), "https://app.example.test/login");
    assert_eq!(c.apis[0].origin.to_string(), "https://api.example.test");
    assert_eq!(c.token_endpoints[0].url.href(), "https://app.example.test/api/login");
    assert_eq!(c.token_endpoints[0].fields.user.as_deref(), Some("user"));
    assert_eq!(c.refresh.as_ref().unwrap().before_expiry_ms, 60_000);
    assert_eq!(c.idle, Some(Idle { timeout_ms: 900_000, warning_ms: 60_000 }));
    assert_eq!(c.cross_site.unwrap().cookie_domain, "example.test");
}

#[test]
fn only_login_url_and_apis_are_required() {
    let c = parse(r#"{"loginUrl":"/login","apis":[{"origin":"http://localhost:8080"}]}"#).unwrap();
    assert_eq!(c.return_param, "returnTo");
    assert_eq!(c.apis[0].path_prefix, "/");
    assert_eq!(c.token_storage, TokenStorage::Memory);
    assert!(c.refresh.is_none() && c.logout.is_none() && c.idle.is_none());
}

fn field_of(json: &str) -> String {
    parse(json).unwrap_err().field
}

#[test]
fn errors_name_the_field() {
    assert_eq!(field_of(r#"{"loginUrl":"/login","apis":[],"bogus":1}"#), "bogus");
    assert_eq!(field_of(r#"{"apis":[{"origin":"https://a.test"}]}"#), "loginUrl");
    assert_eq!(field_of(r#"{"loginUrl":"/login","apis":[]}"#), "apis");
    assert_eq!(field_of(r#"{"loginUrl":"/login","apis":[{"origin":"http://api.example.test"}]}"#), "apis[0].origin");
    assert_eq!(field_of(r#"{"loginUrl":"/login","apis":[{"origin":"https://a.test","pathPrefix":"v1"}]}"#), "apis[0].pathPrefix");
    assert_eq!(field_of(r#"{"loginUrl":"/login","apis":[{"origin":"https://a.test","extra":1}]}"#), "apis[0].extra");
    assert_eq!(field_of(r#"{"loginUrl":"https://evil.test/login","apis":[{"origin":"https://a.test"}]}"#), "loginUrl");
    assert_eq!(field_of(r#"{"loginUrl":"//evil.test/login","apis":[{"origin":"https://a.test"}]}"#), "loginUrl");
    assert_eq!(field_of(r#"{"loginUrl":"/l","apis":[{"origin":"https://a.test"}],"idle":{"timeoutSeconds":"x"}}"#), "idle.timeoutSeconds");
    assert_eq!(field_of(r#"{"loginUrl":"/l","apis":[{"origin":"https://a.test"}],"idle":{"timeoutSeconds":10,"warningSeconds":10}}"#), "idle.warningSeconds");
    assert_eq!(field_of(r#"{"loginUrl":"/l","apis":[{"origin":"https://a.test"}],"tokenStorage":"localStorage"}"#), "tokenStorage");
    assert_eq!(field_of(r#"{"loginUrl":"/l","apis":[{"origin":"https://a.test"}],"crossSite":{"cookieName":"s","cookieDomain":"other.test"}}"#), "crossSite.cookieDomain");
    assert_eq!(field_of(r#"{"loginUrl":"/l","apis":[{"origin":"https://a.test"}],"logout":{"url":"/x","method":"PUT"}}"#), "logout.method");
    assert_eq!(field_of(r#"{"loginUrl":"/l","apis":[{"origin":"https://a.test"}],"tokenEndpoints":[{"url":"/t","format":"xml"}]}"#), "tokenEndpoints[0].format");
}

#[test]
fn messages_say_what_is_expected() {
    let e = parse(r#"{"loginUrl":"/login","apis":[{"origin":"http://api.example.test"}]}"#).unwrap_err();
    assert!(e.to_string().contains("apis[0].origin") && e.to_string().contains("https"), "{e}");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for junk in ["", "null", "[]", "{", "\"x\"", "{\"loginUrl\":1e999}", &"[".repeat(10_000), &"x".repeat(70_000)] {
        assert!(parse(junk).is_err());
    }
}

//! `lockstep.config.json`: parsed, validated and resolved against the worker's origin.
//!
//! The config decides which origins receive tokens, so it is strict: unknown fields and
//! bad values are refused with an error naming the field. It is only ever read from the
//! worker's own origin, never from a page message.

use serde::Deserialize;

use crate::error::{Input, InputError};
use crate::origin::{parse_origin, resolve, Origin, Url};

/// A config error names the field and what was expected there.
pub type ConfigError = InputError;

fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    InputError::new(Input::Config, field, message)
}

/// Where tokens are kept between worker starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenStorage {
    /// Only in the worker's memory (default): page script can never read them.
    #[default]
    Memory,
    /// In IndexedDB: survives worker stops, but same-origin script can read it.
    Indexeddb,
}

/// The shape of a token endpoint's response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenFormat {
    /// A JSON object with configurable field names.
    Json,
    /// An RFC 6749 token response.
    Oauth2,
}

/// Field names of a token response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFields {
    /// The access token's field.
    pub access_token: String,
    /// The refresh token's field.
    pub refresh_token: String,
    /// The lifetime in seconds.
    pub expires_in: String,
    /// The user info to show in `state.user`, if any.
    pub user: Option<String>,
}

/// A configured token endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenEndpoint {
    /// Its absolute URL (query ignored when matching).
    pub url: Url,
    /// Its response format.
    pub format: TokenFormat,
    /// Its response's field names.
    pub fields: TokenFields,
}

/// A configured API: bearer tokens go to exactly this origin and path prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Api {
    /// The origin, matched exactly.
    pub origin: Origin,
    /// The path prefix, starting with `/`.
    pub path_prefix: String,
}

/// How to refresh the access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refresh {
    /// The token endpoint to call.
    pub endpoint: TokenEndpoint,
    /// `client_id` sent with the OAuth 2 refresh grant.
    pub client_id: Option<String>,
    /// Refresh this long before the access token expires.
    pub before_expiry_ms: u64,
}

/// The logout endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logout {
    /// Its absolute URL.
    pub url: Url,
    /// `GET`, `POST` or `DELETE`.
    pub method: String,
}

/// The shared idle timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Idle {
    /// Inactivity after which the session ends.
    pub timeout_ms: u64,
    /// How long before the end the tabs warn.
    pub warning_ms: u64,
}

/// The cross-site session marker cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrossSite {
    /// The cookie's name.
    pub cookie_name: String,
    /// The parent domain it is set on.
    pub cookie_domain: String,
}

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The worker's own origin.
    pub origin: Origin,
    /// The login page.
    pub login_url: Url,
    /// The query parameter carrying the return URL.
    pub return_param: String,
    /// The APIs that receive the bearer.
    pub apis: Vec<Api>,
    /// Responses the worker takes tokens from.
    pub token_endpoints: Vec<TokenEndpoint>,
    /// How to refresh, if at all.
    pub refresh: Option<Refresh>,
    /// The logout endpoint, if any.
    pub logout: Option<Logout>,
    /// The idle timeout, if any.
    pub idle: Option<Idle>,
    /// The cross-site marker cookie, if any.
    pub cross_site: Option<CrossSite>,
    /// Where tokens live.
    pub token_storage: TokenStorage,
    /// Debug logging in the worker and the client.
    pub debug: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    login_url: String,
    return_param: Option<String>,
    apis: Vec<RawApi>,
    #[serde(default)]
    token_endpoints: Vec<RawEndpoint>,
    refresh: Option<RawRefresh>,
    logout: Option<RawLogout>,
    idle: Option<RawIdle>,
    cross_site: Option<RawCrossSite>,
    #[serde(default)]
    token_storage: TokenStorage,
    #[serde(default)]
    debug: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawApi {
    origin: String,
    path_prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawEndpoint {
    url: String,
    format: TokenFormat,
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<String>,
    user: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRefresh {
    url: String,
    format: TokenFormat,
    client_id: Option<String>,
    before_expiry_seconds: Option<u32>,
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawLogout {
    url: String,
    method: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawIdle {
    timeout_seconds: u32,
    warning_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCrossSite {
    cookie_name: String,
    cookie_domain: String,
}

/// The largest config accepted, in bytes.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

impl Config {
    /// Parses and validates `json` for a worker running on `origin`.
    pub fn parse(json: &str, origin: &Origin) -> Result<Config, ConfigError> {
        if json.len() > MAX_CONFIG_BYTES {
            return Err(err("", "larger than 64 KiB"));
        }
        let raw: RawConfig = InputError::decode(Input::Config, json)?;
        raw.validate(origin)
    }
}

impl RawConfig {
    fn validate(self, origin: &Origin) -> Result<Config, ConfigError> {
        let login_url = same_origin_path(origin, &self.login_url, "loginUrl")?;
        let return_param = self.return_param.unwrap_or_else(|| "returnTo".into());
        if !is_token_name(&return_param) {
            return Err(err("returnParam", "expected letters, digits, `-` or `_`"));
        }
        if self.apis.is_empty() {
            return Err(err("apis", "expected at least one API"));
        }
        let mut apis = Vec::with_capacity(self.apis.len());
        for (i, api) in self.apis.into_iter().enumerate() {
            let at = |f: &str| format!("apis[{i}].{f}");
            let o = parse_origin(&api.origin).map_err(|e| err(at("origin"), e.to_string()))?;
            check_scheme(&o).map_err(|m| err(at("origin"), m))?;
            let path_prefix = api.path_prefix.unwrap_or_else(|| "/".into());
            if !path_prefix.starts_with('/') || path_prefix.contains(['?', '#', '\\']) {
                return Err(err(at("pathPrefix"), "expected a path starting with `/`"));
            }
            apis.push(Api { origin: o, path_prefix });
        }
        let mut token_endpoints = Vec::new();
        for (i, ep) in self.token_endpoints.into_iter().enumerate() {
            let field = format!("tokenEndpoints[{i}]");
            token_endpoints.push(endpoint(origin, &field, &ep.url, ep.format, fields_of(ep.access_token, ep.refresh_token, ep.expires_in, ep.user))?);
        }
        let refresh = match self.refresh {
            None => None,
            Some(r) => Some(Refresh {
                endpoint: endpoint(origin, "refresh", &r.url, r.format, fields_of(r.access_token, r.refresh_token, r.expires_in, None))?,
                client_id: r.client_id,
                before_expiry_ms: u64::from(r.before_expiry_seconds.unwrap_or(60)) * 1000,
            }),
        };
        let logout = match self.logout {
            None => None,
            Some(l) => {
                let url = resolve(origin, &l.url).map_err(|e| err("logout.url", e.to_string()))?;
                check_scheme(&url.origin).map_err(|m| err("logout.url", m))?;
                let method = l.method.unwrap_or_else(|| "POST".into()).to_ascii_uppercase();
                if !matches!(method.as_str(), "GET" | "POST" | "DELETE") {
                    return Err(err("logout.method", "expected GET, POST or DELETE"));
                }
                Some(Logout { url, method })
            }
        };
        let idle = match self.idle {
            None => None,
            Some(i) => {
                if i.timeout_seconds == 0 {
                    return Err(err("idle.timeoutSeconds", "expected a number of seconds above 0"));
                }
                let warning = i.warning_seconds.unwrap_or(60.min(i.timeout_seconds / 2));
                if warning >= i.timeout_seconds {
                    return Err(err("idle.warningSeconds", "expected fewer seconds than idle.timeoutSeconds"));
                }
                Some(Idle { timeout_ms: u64::from(i.timeout_seconds) * 1000, warning_ms: u64::from(warning) * 1000 })
            }
        };
        let cross_site = match self.cross_site {
            None => None,
            Some(c) => {
                if !is_token_name(&c.cookie_name) {
                    return Err(err("crossSite.cookieName", "expected letters, digits, `-` or `_`"));
                }
                let domain = c.cookie_domain.trim_start_matches('.').to_ascii_lowercase();
                let host = &origin.host;
                let covers = host == &domain || host.ends_with(&format!(".{domain}"));
                if domain.is_empty() || !domain.contains('.') && domain != "localhost" || !covers {
                    return Err(err("crossSite.cookieDomain", format!("expected a parent domain of `{host}`")));
                }
                Some(CrossSite { cookie_name: c.cookie_name, cookie_domain: domain })
            }
        };
        Ok(Config {
            origin: origin.clone(),
            login_url,
            return_param,
            apis,
            token_endpoints,
            refresh,
            logout,
            idle,
            cross_site,
            token_storage: self.token_storage,
            debug: self.debug,
        })
    }
}

fn fields_of(access: Option<String>, refresh: Option<String>, expires: Option<String>, user: Option<String>) -> TokenFields {
    TokenFields {
        access_token: access.unwrap_or_else(|| "access_token".into()),
        refresh_token: refresh.unwrap_or_else(|| "refresh_token".into()),
        expires_in: expires.unwrap_or_else(|| "expires_in".into()),
        user,
    }
}

fn endpoint(origin: &Origin, field: &str, url: &str, format: TokenFormat, fields: TokenFields) -> Result<TokenEndpoint, ConfigError> {
    let u = resolve(origin, url).map_err(|e| err(format!("{field}.url"), e.to_string()))?;
    check_scheme(&u.origin).map_err(|m| err(format!("{field}.url"), m))?;
    let fields = match format {
        // RFC 6749 names are fixed.
        TokenFormat::Oauth2 => fields_of(None, None, None, fields.user),
        TokenFormat::Json => fields,
    };
    Ok(TokenEndpoint { url: u, format, fields })
}

fn same_origin_path(origin: &Origin, value: &str, field: &str) -> Result<Url, ConfigError> {
    let url = resolve(origin, value).map_err(|e| err(field, e.to_string()))?;
    if &url.origin != origin {
        return Err(err(field, "expected a path on the worker's own origin"));
    }
    Ok(url)
}

fn check_scheme(o: &Origin) -> Result<(), &'static str> {
    match o.scheme {
        crate::origin::Scheme::Https => Ok(()),
        crate::origin::Scheme::Http if o.is_loopback() => Ok(()),
        crate::origin::Scheme::Http => Err("expected https: (http: only on localhost, 127.0.0.1 or [::1])"),
    }
}

fn is_token_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests;

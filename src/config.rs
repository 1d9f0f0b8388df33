//! `lockstep.config.json`: parsed, validated and resolved against the worker's origin.
//!
//! The config decides which origins receive tokens, so it is strict: unknown fields and
//! bad values are refused with an error naming the field. It is only ever read from the
//! worker's own origin, never from a page message.

use crate::encode::{all_bytes, any_byte};
use crate::error::{Input, InputError, Refused};
use crate::json::{self, Object};
use crate::origin::{parse_origin, resolve, Origin, Url};

/// A config error names the field and what was expected there.
pub type ConfigError = InputError;

fn err(field: &str, message: &str) -> Refused {
    InputError::boxed(Input::Config, field.to_string(), message)
}

/// Where tokens are kept between worker starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TokenStorage {
    /// Only in the worker's memory (default): page script can never read them.
    #[default]
    Memory,
    /// In IndexedDB: survives worker stops, but same-origin script can read it.
    Indexeddb,
}

/// The shape of a token endpoint's response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The largest config accepted, in bytes.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

impl Config {
    /// Parses and validates `json` for a worker running on `origin`.
    pub fn parse(json: &str, origin: &Origin) -> Result<Config, ConfigError> {
        // Filled in place: an error then drops one value, not each field read so far.
        let mut c = Config {
            origin: origin.clone(),
            login_url: Url { origin: origin.clone(), has_userinfo: false, path: String::new(), query: String::new(), fragment: String::new() },
            return_param: String::new(),
            apis: Vec::new(),
            token_endpoints: Vec::new(),
            refresh: None,
            logout: None,
            idle: None,
            cross_site: None,
            token_storage: TokenStorage::Memory,
            debug: false,
        };
        match read(&mut c, origin, json) {
            Ok(()) => Ok(c),
            Err(e) => Err(*e),
        }
    }
}

fn read(c: &mut Config, origin: &Origin, json: &str) -> Result<(), Refused> {
    if json.len() > MAX_CONFIG_BYTES {
        return Err(err("", "larger than 64 KiB"));
    }
    let doc = json::parse(Input::Config, json)?;
    let mut o = Object::new(Input::Config, "", &doc)?;
    o.only(&["loginUrl", "returnParam", "apis", "tokenEndpoints", "refresh", "logout", "idle", "crossSite", "tokenStorage", "debug"])?;
    c.login_url = same_origin_path(origin, o.required_string("loginUrl")?, "loginUrl")?;
    let return_param = o.string("returnParam")?.unwrap_or("returnTo");
    if !is_token_name(return_param) {
        return Err(err("returnParam", "expected letters, digits, `-` or `_`"));
    }
    c.return_param = return_param.to_string();
    for (i, v) in o.array("apis", true)?.iter().enumerate() {
        let mut a = Object::item(Input::Config, "apis", i, v)?;
        let api_origin = a.required_string("origin")?;
        let api_origin = parse_origin(api_origin).map_err(|e| e.message()).and_then(|u| check_scheme(&u).map(|_| u)).map_err(|m| a.error("origin", m))?;
        let path_prefix = a.string("pathPrefix")?.unwrap_or("/");
        if !path_prefix.starts_with('/') || any_byte(path_prefix, |b| matches!(b, b'?' | b'#' | b'\\')) {
            return Err(a.error("pathPrefix", "expected a path starting with `/`"));
        }
        a.finish()?;
        c.apis.push(Api { origin: api_origin, path_prefix: path_prefix.to_string() });
    }
    if c.apis.is_empty() {
        return Err(err("apis", "expected at least one API"));
    }
    for (i, v) in o.array("tokenEndpoints", false)?.iter().enumerate() {
        let mut e = Object::item(Input::Config, "tokenEndpoints", i, v)?;
        let ep = endpoint(origin, &mut e, false)?;
        e.finish()?;
        c.token_endpoints.push(ep);
    }
    if let Some(mut r) = o.object("refresh")? {
        let endpoint = endpoint(origin, &mut r, true)?;
        let client_id = r.owned_string("clientId")?;
        let before = r.uint("beforeExpirySeconds", 86_400)?.unwrap_or(60);
        r.finish()?;
        c.refresh = Some(Refresh { endpoint, client_id, before_expiry_ms: before * 1000 });
    }
    if let Some(mut l) = o.object("logout")? {
        let url = url_field(origin, &mut l, "url")?;
        let method = l.string("method")?.unwrap_or("POST").to_ascii_uppercase();
        if !matches!(method.as_str(), "GET" | "POST" | "DELETE") {
            return Err(l.error("method", "expected GET, POST or DELETE"));
        }
        l.finish()?;
        c.logout = Some(Logout { url, method });
    }
    if let Some(mut i) = o.object("idle")? {
        let timeout = i.required_uint("timeoutSeconds", 31 * 86_400)?;
        if timeout == 0 {
            return Err(i.error("timeoutSeconds", "expected a number of seconds above 0"));
        }
        let warning = i.uint("warningSeconds", 31 * 86_400)?.unwrap_or(60.min(timeout / 2));
        if warning >= timeout {
            return Err(i.error("warningSeconds", "expected fewer seconds than idle.timeoutSeconds"));
        }
        i.finish()?;
        c.idle = Some(Idle { timeout_ms: timeout * 1000, warning_ms: warning * 1000 });
    }
    if let Some(mut x) = o.object("crossSite")? {
        let name = x.required_string("cookieName")?;
        if !is_token_name(name) {
            return Err(x.error("cookieName", "expected letters, digits, `-` or `_`"));
        }
        let domain = crate::encode::skip_leading(x.required_string("cookieDomain")?, b'.').to_ascii_lowercase();
        let host = &origin.host;
        let covers = host == &domain || host.strip_suffix(domain.as_str()).is_some_and(|h| h.ends_with('.'));
        if domain.is_empty() || !any_byte(&domain, |b| b == b'.') && domain != "localhost" || !covers {
            let mut m = String::from("expected a parent domain of `");
            m.push_str(host);
            m.push('`');
            return Err(x.error("cookieDomain", &m));
        }
        x.finish()?;
        c.cross_site = Some(CrossSite { cookie_name: name.to_string(), cookie_domain: domain });
    }
    c.token_storage = match o.string("tokenStorage")? {
        None | Some("memory") => TokenStorage::Memory,
        Some("indexeddb") => TokenStorage::Indexeddb,
        Some(_) => return Err(err("tokenStorage", "expected \"memory\" or \"indexeddb\"")),
    };
    c.debug = o.boolean("debug")?.unwrap_or(false);
    o.finish()
}

/// A required URL field: absolute, or a path on `origin`; https (or loopback http).
fn url_field(origin: &Origin, o: &mut Object<'_, '_>, name: &str) -> Result<Url, Refused> {
    let text = o.required_string(name)?;
    resolve(origin, text).map_err(|e| e.message()).and_then(|u| check_scheme(&u.origin).map(|_| u)).map_err(|m| o.error(name, m))
}

fn endpoint(origin: &Origin, o: &mut Object<'_, '_>, is_refresh: bool) -> Result<TokenEndpoint, Refused> {
    let url = url_field(origin, o, "url")?;
    let format = match o.string("format")? {
        Some("json") => TokenFormat::Json,
        Some("oauth2") => TokenFormat::Oauth2,
        _ => return Err(o.error("format", "expected \"json\" or \"oauth2\"")),
    };
    let access_token = field_name(o, format, "accessToken", "access_token")?;
    let refresh_token = field_name(o, format, "refreshToken", "refresh_token")?;
    let expires_in = field_name(o, format, "expiresIn", "expires_in")?;
    let user = if is_refresh { None } else { o.owned_string("user")? };
    Ok(TokenEndpoint { url, format, fields: TokenFields { access_token, refresh_token, expires_in, user } })
}

/// A token response's field name: any with format `json`, only the RFC's with `oauth2`.
fn field_name(o: &mut Object<'_, '_>, format: TokenFormat, key: &str, default: &str) -> Result<String, Refused> {
    let v = o.string(key)?.unwrap_or(default);
    if format == TokenFormat::Oauth2 && v != default {
        return Err(o.error(key, "fixed by RFC 6749 for format \"oauth2\""));
    }
    Ok(v.to_string())
}

fn same_origin_path(origin: &Origin, value: &str, field: &str) -> Result<Url, Refused> {
    let url = resolve(origin, value).map_err(|e| err(field, e.message()))?;
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
    !s.is_empty() && s.len() <= 64 && all_bytes(s, |b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests;

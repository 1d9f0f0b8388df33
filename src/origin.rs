//! Origins and absolute URLs, parsed strictly and small.
//!
//! The `url` crate carries IDNA tables far larger than the whole worker, and the browser
//! already hands us serialised URLs (`Request.url`, `Client.url`), so a strict parser of
//! `scheme://[userinfo@]host[:port][path][?query][#fragment]` is enough. Anything it does
//! not understand is an error, and an error never gets a token.

use core::fmt;

use crate::encode::{all_bytes, any_byte, find_byte, parse_u64, split_at_byte};

/// A URL scheme Lockstep will talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `https:`
    Https,
    /// `http:` (only allowed for loopback hosts in configured origins)
    Http,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Https => 443,
            Scheme::Http => 80,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// A web origin: scheme, lower-cased host and explicit port. Compared exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The scheme.
    pub scheme: Scheme,
    /// The host, lower-cased; IPv6 literals keep their brackets.
    pub host: String,
    /// The port, with the scheme's default filled in.
    pub port: u16,
}

impl Origin {
    /// True for localhost, 127.0.0.1 and [::1]: the hosts where plain http is allowed.
    pub fn is_loopback(&self) -> bool {
        matches!(self.host.as_str(), "localhost" | "127.0.0.1" | "[::1]")
    }
}

impl Origin {
    /// The serialised origin, as [`Display`](fmt::Display) writes it (without the
    /// formatting machinery, for the shipped code).
    pub fn text(&self) -> String {
        let mut s = String::from(self.scheme.as_str());
        s.push_str("://");
        s.push_str(&self.host);
        if self.port != self.scheme.default_port() {
            s.push(':');
            crate::encode::push_u64(&mut s, u64::from(self.port));
        }
        s
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// An absolute URL split into the parts Lockstep decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Scheme, host and port.
    pub origin: Origin,
    /// True when the authority carried `user:pass@`.
    pub has_userinfo: bool,
    /// The path, starting with `/`.
    pub path: String,
    /// The query including its `?`, or empty.
    pub query: String,
    /// The fragment including its `#`, or empty: never sent to a server, but a hash-routed
    /// app's route, so part of a return URL.
    pub fragment: String,
}

impl Url {
    /// The path and query, as used to build a same-origin URL.
    pub fn path_and_query(&self) -> String {
        let mut s = String::with_capacity(self.path.len() + self.query.len());
        s.push_str(&self.path);
        s.push_str(&self.query);
        s
    }

    /// The URL serialised again, without fragment.
    pub fn href(&self) -> String {
        let mut s = self.origin.text();
        s.push_str(&self.path);
        s.push_str(&self.query);
        s
    }
}

/// Why a URL was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Not `http:` or `https:`.
    Scheme,
    /// Empty or malformed host.
    Host,
    /// Port not a number in 1..=65535.
    Port,
    /// Characters a serialised URL never contains (spaces, backslashes, controls).
    Character,
}

impl UrlError {
    /// What was expected, in words.
    pub fn message(&self) -> &'static str {
        match self {
            UrlError::Scheme => "expected an https: (or loopback http:) URL",
            UrlError::Host => "expected a valid host",
            UrlError::Port => "expected a port from 1 to 65535",
            UrlError::Character => "contains a character not allowed in a URL",
        }
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Parses an absolute `http(s)` URL.
pub fn parse_url(input: &str) -> Result<Url, UrlError> {
    if any_byte(input, |b| b <= b' ' || b == b'\\' || b == 0x7f) {
        return Err(UrlError::Character);
    }
    let (scheme, rest) = if let Some(r) = strip_prefix_ci(input, "https://") {
        (Scheme::Https, r)
    } else if let Some(r) = strip_prefix_ci(input, "http://") {
        (Scheme::Http, r)
    } else {
        return Err(UrlError::Scheme);
    };
    // `get` and byte splits instead of slicing: no panic paths in the shipped wasm.
    let end = find_byte(rest, |b| matches!(b, b'/' | b'?' | b'#'), true).unwrap_or(rest.len());
    let (authority, tail) = (rest.get(..end).unwrap_or(""), rest.get(end..).unwrap_or(""));
    let (has_userinfo, hostport) = match split_at_byte(authority, b'@', true) {
        Some((_, host)) => (true, host),
        None => (false, authority),
    };
    let (host, port) = split_host_port(hostport)?;
    let port = match port {
        None => scheme.default_port(),
        Some(p) => parse_port(p)?,
    };
    let (tail, fragment) = split_marked(tail, b'#');
    let (path, query) = split_marked(tail, b'?');
    let path = if path.is_empty() { "/" } else { path };
    Ok(Url {
        origin: Origin { scheme, host, port },
        has_userinfo,
        path: path.to_string(),
        query,
        fragment,
    })
}

/// `s` split at the first `mark`: what comes before it, and the rest starting with the mark
/// (empty when there is none).
fn split_marked(s: &str, mark: u8) -> (&str, String) {
    match split_at_byte(s, mark, false) {
        Some((before, after)) => {
            let mut rest = String::with_capacity(after.len() + 1);
            rest.push(mark as char);
            rest.push_str(after);
            (before, rest)
        }
        None => (s, String::new()),
    }
}

/// Parses a configured origin: an absolute URL with nothing after the authority
/// (a single trailing `/` is tolerated), no userinfo.
pub fn parse_origin(input: &str) -> Result<Origin, UrlError> {
    let url = parse_url(input)?;
    let slashes = input.bytes().rev().take_while(|&b| b == b'/').count();
    if url.has_userinfo || slashes > 1 || url.path != "/" || !url.query.is_empty() || any_byte(input, |b| b == b'#') {
        return Err(UrlError::Host);
    }
    Ok(url.origin)
}

/// Resolves `input` against `base`: absolute URLs are parsed, absolute paths (`/x`) are
/// taken on `base`'s origin. Scheme-relative (`//x`) and relative paths are refused.
pub fn resolve(base: &Origin, input: &str) -> Result<Url, UrlError> {
    if input.starts_with('/') && !input.starts_with("//") {
        let mut s = base.text();
        s.push_str(input);
        parse_url(&s)
    } else {
        parse_url(input)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

fn split_host_port(hostport: &str) -> Result<(String, Option<&str>), UrlError> {
    let (host, port): (String, Option<&str>) = if hostport.starts_with('[') {
        let (inner, rest) = split_at_byte(hostport, b']', false).ok_or(UrlError::Host)?;
        let mut host = String::from(inner);
        host.push(']');
        match rest.as_bytes().first() {
            Some(b':') => (host, rest.get(1..)),
            None => (host, None),
            Some(_) => return Err(UrlError::Host),
        }
    } else {
        match split_at_byte(hostport, b':', true) {
            Some((h, p)) => (h.into(), Some(p)),
            None => (hostport.into(), None),
        }
    };
    let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'[' | b']' | b':');
    if host.is_empty() || host.len() > 253 || !all_bytes(&host, valid) || host.starts_with('.') {
        return Err(UrlError::Host);
    }
    Ok((host.to_ascii_lowercase(), port))
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || p.len() > 5 || !all_bytes(p, |b| b.is_ascii_digit()) {
        return Err(UrlError::Port);
    }
    match parse_u64(p) {
        Some(n @ 1..=65535) => Ok(n as u16),
        _ => Err(UrlError::Port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(s: &str) -> Origin {
        parse_origin(s).unwrap()
    }

    #[test]
    fn origins_normalise_case_and_default_ports() {
        assert_eq!(o("HTTPS://API.Example.TEST:443"), o("https://api.example.test"));
        assert_eq!(o("https://api.example.test/"), o("https://api.example.test"));
        assert_eq!(o("http://localhost:80").to_string(), "http://localhost");
        assert_eq!(o("https://localhost:8444").to_string(), "https://localhost:8444");
        assert_eq!(o("http://[::1]:3000").host, "[::1]");
    }

    #[test]
    fn origins_refuse_paths_userinfo_and_junk() {
        for bad in [
            "https://api.example.test/v1",
            "https://user@api.example.test",
            "ftp://api.example.test",
            "https://",
            "https://api.example.test:0",
            "https://api.example.test:99999",
            "https://api.example.test:12a",
            "https://a b.test",
            "https://api.example.test\\@evil.test",
            "//api.example.test",
            "https://api.example.test?x",
            "https://api.example.test#x",
            "https://api.example.test//",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn urls_split_userinfo_from_the_real_host() {
        let u = parse_url("https://api.example.test@evil.test/v1/x?y=1#f").unwrap();
        assert_eq!(u.origin.host, "evil.test");
        assert!(u.has_userinfo);
        assert_eq!(u.path, "/v1/x");
        assert_eq!(u.query, "?y=1");
        let u = parse_url("https://api.example.test.evil.test/v1/").unwrap();
        assert_eq!(u.origin.host, "api.example.test.evil.test");
        let u = parse_url("https://h.test").unwrap();
        assert_eq!(u.path, "/");
    }

    #[test]
    fn resolve_takes_paths_on_the_base_origin_only() {
        let base = o("https://app.example.test");
        assert_eq!(resolve(&base, "/api/login").unwrap().href(), "https://app.example.test/api/login");
        assert_eq!(resolve(&base, "//evil.test/x").unwrap_err(), UrlError::Scheme);
        assert_eq!(resolve(&base, "x").unwrap_err(), UrlError::Scheme);
        assert_eq!(
            resolve(&base, "https://auth.example.test/oauth/token").unwrap().origin.host,
            "auth.example.test"
        );
    }
}

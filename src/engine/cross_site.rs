//! The cross-site session marker: one cookie on the parent domain that stands for the
//! user's session across every app of the site. It holds an opaque id, never a token:
//! `live.<id>` while a session lives, `ended.<id>` once any app ended it.

use super::{Effect, Engine, Reason, Session};
use crate::error::{Input, InputError};

/// A parsed marker cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A live session with this id.
    Live(String),
    /// The session with this id ended.
    Ended(String),
}

/// Parses a marker cookie value. Garbage is an error (and must change nothing).
pub fn parse_marker(value: &str) -> Result<Marker, InputError> {
    let bad = || InputError::new(Input::Cookie, "value", "expected `live.<id>` or `ended.<id>` with a 16-32 character hex id");
    let (kind, id) = crate::encode::split_at_byte(value, b'.', false).ok_or_else(bad)?;
    if !(16..=32).contains(&id.len()) || !crate::encode::all_bytes(id, |b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    match kind {
        "live" => Ok(Marker::Live(id.to_string())),
        "ended" => Ok(Marker::Ended(id.to_string())),
        _ => Err(bad()),
    }
}

impl Engine {
    /// Hands the engine random bytes for the next marker id (randomness is an input).
    pub fn seed_marker(&mut self, random: [u8; 8]) {
        if self.marker.is_none() {
            let mut id = String::with_capacity(16);
            for b in random {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                id.push(HEX[(b >> 4) as usize] as char);
                id.push(HEX[(b & 15) as usize] as char);
            }
            self.next_marker = Some(id);
        }
    }

    /// The marker cookie's current value (`None` when absent) as the worker read it: at
    /// start, on navigations and on `cookiechange`. A mismatch ends the local session
    /// without a second logout call; a live marker seen while logged out is only adopted
    /// at the next login. Garbage is an error and changes nothing.
    pub fn handle_cookie(&mut self, now: u64, value: Option<&str>) -> Result<(), InputError> {
        self.check_deadlines(now);
        if self.config.cross_site.is_none() {
            return Ok(());
        }
        let seen = value.map(parse_marker).transpose()?;
        self.seen_marker = seen.clone();
        if let Session::LoggedIn(_) = self.session {
            let ours = self.marker.as_deref();
            let still_live = matches!((&seen, ours), (Some(Marker::Live(id)), Some(m)) if id == m);
            if !still_live {
                self.end_session(now, Reason::Elsewhere, false);
                // That id is spent: a later login here writes a fresh one, so an app that
                // missed the end (stopped, no cookie events) never takes it for its own again.
                self.marker = None;
                // A refresh the deadline check queued a moment ago (a restart without tokens)
                // belongs to the session that just ended: it must not go out.
                let epoch = self.epoch;
                // (Removed one by one: `remove` ships anyway for poll_effect, `retain` would not.)
                while let Some(i) = self.effects.iter().position(|f| matches!(f, Effect::Refresh { epoch: e, .. } if *e != epoch)) {
                    self.effects.remove(i);
                }
            }
        }
        Ok(())
    }

    /// At login: adopt a live marker another app wrote, or write a new one.
    pub(super) fn mark_cross_site_live(&mut self) {
        let Some(cs) = &self.config.cross_site else { return };
        let id = match &self.seen_marker {
            Some(Marker::Live(id)) => id.clone(),
            _ => match self.next_marker.take().or_else(|| self.marker.take()) {
                Some(id) => id,
                None => return,
            },
        };
        let value = String::from("live.") + &id;
        self.seen_marker = Some(Marker::Live(id.clone()));
        self.marker = Some(id);
        self.emit(Effect::SetCookie { name: cs.cookie_name.clone(), domain: cs.cookie_domain.clone(), value });
    }

    /// At an end of session here: every app must follow.
    pub(super) fn mark_cross_site_ended(&mut self) {
        let Some(cs) = &self.config.cross_site else { return };
        let Some(id) = self.marker.take() else { return };
        self.seen_marker = Some(Marker::Ended(id.clone()));
        self.emit(Effect::SetCookie { name: cs.cookie_name.clone(), domain: cs.cookie_domain.clone(), value: String::from("ended.") + &id });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_parse_strictly() {
        assert_eq!(parse_marker("live.0123456789abcdef").unwrap(), Marker::Live("0123456789abcdef".into()));
        assert_eq!(parse_marker("ended.0123456789ABCDEF").unwrap(), Marker::Ended("0123456789ABCDEF".into()));
        for junk in ["", "live", "live.", "live.xyz", "dead.0123456789abcdef", "live.0123456789abcdeg", "live.0123456789abcdef.x", &"a".repeat(10_000)] {
            assert_eq!(parse_marker(junk).unwrap_err().input, Input::Cookie, "{junk}");
        }
    }
}

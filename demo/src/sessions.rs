//! Sessions and their tokens. A login starts a session holding one refresh-token family;
//! refresh tokens rotate, and presenting a rotated one again is taken as theft: the whole
//! family (the session) is revoked. Pure data with `now_ms` passed in; tokens are minted by
//! the caller so tests can choose them.

use std::collections::HashMap;

/// Tokens handed out by a login or a refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub user: String,
}

/// Fresh random tokens for one grant.
#[derive(Debug, Clone)]
pub struct NewTokens {
    pub access: String,
    pub refresh: String,
}

/// Why a refresh grant was refused (all are `invalid_grant` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshError {
    /// Never issued by us.
    Unknown,
    /// Already rotated: reuse detected, the family is now revoked.
    Reused,
    /// The session was logged out or revoked.
    Revoked,
}

#[derive(Debug)]
struct Session {
    user: String,
    revoked: bool,
}

#[derive(Debug)]
struct Access {
    session: u64,
    expires_at_ms: u64,
    /// Expired by `expire-access` (a test hook), not by time.
    forced: bool,
}

/// What a presented access token is (for the fault-run counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// Live: issued, unexpired, session not revoked.
    Live,
    /// Expired by `expire-access`: the client cannot know before the 401.
    Forced,
    /// Unknown, expired by time, or of a revoked session.
    Stale,
}

#[derive(Debug)]
struct Refresh {
    session: u64,
    rotated: bool,
}

#[derive(Debug, Default)]
pub struct Sessions {
    next_id: u64,
    sessions: HashMap<u64, Session>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
}

impl Sessions {
    /// Starts a session for `user`.
    pub fn login(&mut self, user: &str, tokens: NewTokens, now_ms: u64, lifetime_s: u64) -> Issued {
        self.next_id += 1;
        let id = self.next_id;
        self.sessions.insert(id, Session { user: user.to_string(), revoked: false });
        self.issue(id, user.to_string(), tokens, now_ms, lifetime_s)
    }

    /// Rotates `refresh_token`: the old one is spent, a new pair is issued.
    pub fn refresh(
        &mut self,
        refresh_token: &str,
        tokens: NewTokens,
        now_ms: u64,
        lifetime_s: u64,
    ) -> Result<Issued, RefreshError> {
        let entry = self.refresh.get_mut(refresh_token).ok_or(RefreshError::Unknown)?;
        let id = entry.session;
        if entry.rotated {
            self.revoke_session(id);
            return Err(RefreshError::Reused);
        }
        let user = match self.sessions.get(&id) {
            Some(s) if !s.revoked => s.user.clone(),
            _ => return Err(RefreshError::Revoked),
        };
        entry.rotated = true;
        Ok(self.issue(id, user, tokens, now_ms, lifetime_s))
    }

    /// The user behind a live access token (issued, unexpired, session not revoked).
    pub fn user_for(&self, access_token: &str, now_ms: u64) -> Option<&str> {
        let access = self.access.get(access_token)?;
        if now_ms >= access.expires_at_ms {
            return None;
        }
        self.sessions.get(&access.session).filter(|s| !s.revoked).map(|s| s.user.as_str())
    }

    /// Whether the most recent session (the last login) is still live; `None` before any.
    pub fn last_live(&self) -> Option<bool> {
        self.sessions.get(&self.next_id).map(|s| !s.revoked)
    }

    /// Classifies an access token presented to the API.
    pub fn check(&self, access_token: &str, now_ms: u64) -> TokenCheck {
        if self.user_for(access_token, now_ms).is_some() {
            return TokenCheck::Live;
        }
        match self.access.get(access_token) {
            Some(a) if a.forced && self.sessions.get(&a.session).is_some_and(|s| !s.revoked) => TokenCheck::Forced,
            _ => TokenCheck::Stale,
        }
    }

    /// Logout: revokes the session an access token belongs to, expired or not.
    /// Returns whether the token was known.
    pub fn logout(&mut self, access_token: &str) -> bool {
        match self.access.get(access_token).map(|a| a.session) {
            Some(id) => {
                self.revoke_session(id);
                true
            }
            None => false,
        }
    }

    /// Every issued token stops working.
    pub fn revoke_all(&mut self) {
        for session in self.sessions.values_mut() {
            session.revoked = true;
        }
    }

    /// Every access token issued so far stops working; refresh tokens and sessions stay
    /// (a refresh then cures the 401).
    pub fn expire_access(&mut self) {
        for access in self.access.values_mut() {
            access.expires_at_ms = 0;
            access.forced = true;
        }
    }

    /// Number of sessions not revoked.
    #[cfg(test)]
    pub fn live(&self) -> usize {
        self.sessions.values().filter(|s| !s.revoked).count()
    }

    fn revoke_session(&mut self, id: u64) {
        if let Some(session) = self.sessions.get_mut(&id) {
            session.revoked = true;
        }
    }

    fn issue(&mut self, id: u64, user: String, tokens: NewTokens, now_ms: u64, lifetime_s: u64) -> Issued {
        let expires_at_ms = now_ms.saturating_add(lifetime_s.saturating_mul(1000));
        self.access.insert(tokens.access.clone(), Access { session: id, expires_at_ms, forced: false });
        self.refresh.insert(tokens.refresh.clone(), Refresh { session: id, rotated: false });
        Issued { access_token: tokens.access, refresh_token: tokens.refresh, expires_in: lifetime_s, user }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(n: u32) -> NewTokens {
        NewTokens { access: format!("at{n}"), refresh: format!("rt{n}") }
    }

    #[test]
    fn access_token_lives_until_expiry() {
        let mut s = Sessions::default();
        s.login("ada", tokens(1), 1_000, 300);
        assert_eq!(s.user_for("at1", 1_000), Some("ada"));
        assert_eq!(s.user_for("at1", 300_999), Some("ada"));
        assert_eq!(s.user_for("at1", 301_000), None);
        assert_eq!(s.user_for("nope", 1_000), None);
    }

    #[test]
    fn refresh_rotates_and_reuse_revokes_the_family() {
        let mut s = Sessions::default();
        s.login("ada", tokens(1), 0, 300);
        let second = s.refresh("rt1", tokens(2), 10, 300);
        assert_eq!(second.map(|i| i.refresh_token), Ok("rt2".to_string()));
        assert_eq!(s.user_for("at2", 10), Some("ada"));
        // The spent token comes back: theft assumed, family revoked.
        assert_eq!(s.refresh("rt1", tokens(3), 20, 300), Err(RefreshError::Reused));
        assert_eq!(s.user_for("at2", 20), None);
        assert_eq!(s.user_for("at1", 20), None);
        // Even the newest refresh token of the family is dead now.
        assert_eq!(s.refresh("rt2", tokens(4), 30, 300), Err(RefreshError::Revoked));
        assert_eq!(s.refresh("unknown", tokens(5), 30, 300), Err(RefreshError::Unknown));
    }

    #[test]
    fn reuse_leaves_other_sessions_alone() {
        let mut s = Sessions::default();
        s.login("ada", tokens(1), 0, 300);
        s.login("alan", tokens(2), 0, 300);
        assert!(s.refresh("rt1", tokens(3), 0, 300).is_ok());
        assert_eq!(s.refresh("rt1", tokens(4), 0, 300), Err(RefreshError::Reused));
        assert_eq!(s.user_for("at2", 0), Some("alan"));
        assert_eq!(s.live(), 1);
    }

    #[test]
    fn logout_and_revoke_all() {
        let mut s = Sessions::default();
        s.login("ada", tokens(1), 0, 300);
        s.login("alan", tokens(2), 0, 300);
        assert!(s.logout("at1"));
        assert!(!s.logout("unknown"));
        assert_eq!(s.user_for("at1", 0), None);
        assert_eq!(s.refresh("rt1", tokens(3), 0, 300), Err(RefreshError::Revoked));
        assert_eq!(s.user_for("at2", 0), Some("alan"));
        s.revoke_all();
        assert_eq!(s.user_for("at2", 0), None);
        assert_eq!(s.live(), 0);
    }

    #[test]
    fn expire_access_keeps_refresh_working() {
        let mut s = Sessions::default();
        s.login("ada", tokens(1), 0, 300);
        s.expire_access();
        assert_eq!(s.user_for("at1", 0), None);
        assert!(s.refresh("rt1", tokens(2), 0, 300).is_ok());
        assert_eq!(s.user_for("at2", 0), Some("ada"));
    }

    #[test]
    fn last_live_and_token_checks() {
        let mut s = Sessions::default();
        assert_eq!(s.last_live(), None);
        s.login("ada", tokens(1), 0, 10);
        assert_eq!(s.last_live(), Some(true));
        assert_eq!(s.check("at1", 0), TokenCheck::Live);
        assert_eq!(s.check("at1", 10_000), TokenCheck::Stale, "expired by time");
        assert_eq!(s.check("nope", 0), TokenCheck::Stale);
        s.expire_access();
        assert_eq!(s.check("at1", 0), TokenCheck::Forced);
        assert!(s.logout("at1"));
        assert_eq!(s.last_live(), Some(false));
        assert_eq!(s.check("at1", 0), TokenCheck::Stale, "revoked");
        s.login("ada", tokens(2), 0, 10);
        assert_eq!(s.last_live(), Some(true));
    }
}

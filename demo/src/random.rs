//! Opaque random tokens and codes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

use crate::sessions::NewTokens;

/// The system random source failed (it practically never does; the request gets a 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomError;

/// `prefix` + 32 random bytes, base64url: e.g. `at_Zk1…`.
pub fn token(prefix: &str) -> Result<String, RandomError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| RandomError)?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// A fresh access + refresh token pair.
pub fn token_pair() -> Result<NewTokens, RandomError> {
    Ok(NewTokens { access: token("at_")?, refresh: token("rt_")? })
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_distinct_and_url_safe() {
        let a = super::token("at_").unwrap_or_default();
        let b = super::token("at_").unwrap_or_default();
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}

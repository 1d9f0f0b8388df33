//! Text encoders shared by the engine, written out so the shipped wasm carries no
//! formatting machinery.

/// Decimal text of `n` without the formatting machinery.
pub fn u64_text(n: u64) -> String {
    let mut s = String::new();
    push_u64(&mut s, n);
    s
}

/// Appends the decimal text of `n`.
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut len = 0;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    out.push_str(buf.get(buf.len() - len..).and_then(|d| core::str::from_utf8(d).ok()).unwrap_or(""));
}

/// Appends `s` percent-encoded: unreserved characters stay, and `/` too when `keep_slash`.
pub fn push_percent_encoded(out: &mut String, s: &str, keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || keep_slash && b == b'/' {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_exact() {
        for n in [0u64, 1, 9, 10, 443, 8443, 65535, u64::MAX] {
            assert_eq!(u64_text(n), n.to_string());
        }
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        let mut out = String::new();
        push_percent_encoded(&mut out, "/a b?c=d&é~", true);
        assert_eq!(out, "/a%20b%3Fc%3Dd%26%C3%A9~");
        out.clear();
        push_percent_encoded(&mut out, "r/t+=", false);
        assert_eq!(out, "r%2Ft%2B%3D");
    }
}

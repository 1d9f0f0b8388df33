//! Text written and read by hand, shared by the engine, so the shipped wasm carries no
//! formatting machinery and no generic pattern searchers.

/// Decimal text of `n` without the formatting machinery.
pub fn u64_text(n: u64) -> String {
    let mut s = String::new();
    push_u64(&mut s, n);
    s
}

/// Appends the decimal text of `n` (digit by digit: no `str::from_utf8` on a buffer).
pub fn push_u64(out: &mut String, n: u64) {
    if n >= 10 {
        push_u64(out, n / 10);
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// `s` around its first `byte` (its last with `last`), as `split_once` / `rsplit_once` with
/// an ASCII `char` would split it.
pub fn split_at_byte(s: &str, byte: u8, last: bool) -> Option<(&str, &str)> {
    let mut at = None;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if b == byte {
            at = Some(i);
            if !last {
                break;
            }
        }
    }
    let (head, tail) = s.split_at_checked(at?)?;
    Some((head, tail.get(1..)?))
}

/// `s` as a decimal `u64`, as `str::parse::<u64>` reads it (digits, one optional leading `+`).
pub fn parse_u64(s: &str) -> Option<u64> {
    let digits = match s.as_bytes().first() {
        Some(b'+') => s.get(1..)?,
        _ => s,
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// The index of the first byte of `s` whose `pred` is `is`. The one loop behind every
/// byte-class check of the shipped code: each `bytes().all(closure)` is a copy of its own.
#[inline(never)]
pub fn find_byte(s: &str, pred: fn(u8) -> bool, is: bool) -> Option<usize> {
    // An index loop: `position` here was twice the size.
    let mut i = 0;
    while let Some(&b) = s.as_bytes().get(i) {
        if pred(b) == is {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// `s.bytes().all(pred)`, through [`find_byte`].
pub fn all_bytes(s: &str, pred: fn(u8) -> bool) -> bool {
    find_byte(s, pred, false).is_none()
}

/// `s.bytes().any(pred)`, through [`find_byte`].
pub fn any_byte(s: &str, pred: fn(u8) -> bool) -> bool {
    find_byte(s, pred, true).is_some()
}

/// The bytes of `s` after those at its start equal to `byte`.
pub fn skip_leading(s: &str, byte: u8) -> &str {
    s.get(s.bytes().take_while(|&b| b == byte).count()..).unwrap_or("")
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
    fn numbers_read_as_str_parse_reads_them() {
        for s in ["0", "7", "+7", "007", "18446744073709551615", "18446744073709551616", "", "+", "-1", "-0", "++1", "1.5", "1e3", " 1", "1 ", "\u{661}"] {
            assert_eq!(parse_u64(s), s.parse::<u64>().ok(), "{s:?}");
        }
    }

    #[test]
    fn splits_as_split_once_does() {
        for s in ["", "a", ".", "a.b", ".a", "a.", "a.b.c", "é.ü.ö"] {
            assert_eq!(split_at_byte(s, b'.', false), s.split_once('.'), "{s:?}");
            assert_eq!(split_at_byte(s, b'.', true), s.rsplit_once('.'), "{s:?}");
        }
        assert_eq!(skip_leading("..a.", b'.'), "a.");
        assert_eq!(skip_leading("..", b'.'), "");
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

//! A small JSON reader and writer, made for Lockstep's few flat documents.
//!
//! serde_json with derives cost more than the whole engine in the shipped wasm, and its
//! errors do not say which field was wrong. This reader builds a borrowed tree (numbers
//! stay text, so no float code ships), bounds depth and size, and [`Object`] hands out
//! fields by name with errors that carry the field's path. It never panics.

use std::borrow::Cow;

use crate::encode::push_u64;
use crate::error::{Input, InputError, Refused};

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 32;

/// A parsed JSON value borrowing from its text.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as its text.
    Number(&'a str),
    /// A string, unescaped.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Value<'a>>),
    /// An object, fields in order.
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

/// Parses `text` as one JSON value. Errors name the byte offset.
pub fn parse<'a>(input: Input, text: &'a str) -> Result<Value<'a>, Refused> {
    let mut p = Parser { s: text.as_bytes(), text, i: 0 };
    let v = p.value(0).map_err(|what| p.error(input, what))?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.error(input, "trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, input: Input, what: &str) -> Refused {
        let mut m = String::from("invalid JSON: ");
        m.push_str(what);
        m.push_str(" at byte ");
        push_u64(&mut m, self.i as u64);
        InputError::boxed(input, String::new(), &m)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> Result<(), &'static str> {
        if self.s.get(self.i..self.i + lit.len()) == Some(lit.as_bytes()) {
            self.i += lit.len();
            Ok(())
        } else {
            Err("unexpected token")
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, &'static str> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply");
        }
        self.ws();
        match self.s.get(self.i) {
            None => Err("unexpected end"),
            Some(b'n') => self.eat("null").map(|_| Value::Null),
            Some(b't') => self.eat("true").map(|_| Value::Bool(true)),
            Some(b'f') => self.eat("false").map(|_| Value::Bool(false)),
            Some(b'"') => self.string().map(Value::String),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err("expected `,` or `]`"),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Value::Object(fields));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err("expected a field name");
                    }
                    let key = self.string()?;
                    self.ws();
                    self.eat(":").map_err(|_| "expected `:`")?;
                    let v = self.value(depth + 1)?;
                    fields.push((key, v));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Object(fields));
                        }
                        _ => return Err("expected `,` or `}`"),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(_) => Err("unexpected character"),
        }
    }

    fn number(&mut self) -> Result<&'a str, &'static str> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let from = p.i;
            while let Some(b'0'..=b'9') = p.s.get(p.i) {
                p.i += 1;
            }
            p.i > from
        };
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        if !digits(self) {
            return Err("bad number");
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return Err("bad number");
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.s.get(self.i) {
                self.i += 1;
            }
            if !digits(self) {
                return Err("bad number");
            }
        }
        self.text.get(start..self.i).ok_or("bad number")
    }

    fn string(&mut self) -> Result<Cow<'a, str>, &'static str> {
        self.i += 1; // the opening quote
        // Runs without escapes are copied whole; the text stays borrowed when there is no escape.
        let mut run = self.i;
        let mut out: Option<String> = None;
        loop {
            match self.s.get(self.i) {
                None => return Err("unterminated string"),
                Some(b'"') => {
                    let tail = self.text.get(run..self.i).ok_or("bad string")?;
                    self.i += 1;
                    return Ok(match out {
                        None => Cow::Borrowed(tail),
                        Some(mut s) => {
                            s.push_str(tail);
                            Cow::Owned(s)
                        }
                    });
                }
                Some(b'\\') => {
                    let s = out.get_or_insert_with(String::new);
                    s.push_str(self.text.get(run..self.i).ok_or("bad string")?);
                    self.i += 1;
                    let c = match self.s.get(self.i) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                self.eat("\\").map_err(|_| "lone surrogate")?;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err("lone surrogate");
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            // hex4 left i on the last hex digit's successor; step back one
                            // so the shared `i += 1` below lands right.
                            self.i -= 1;
                            char::from_u32(code).ok_or("lone surrogate")?
                        }
                        _ => return Err("bad escape"),
                    };
                    s.push(c);
                    self.i += 1;
                    run = self.i;
                }
                Some(0..=0x1f) => return Err("control character in string"),
                Some(_) => self.i += 1,
            }
        }
    }

    /// Reads `XXXX` after a `\u` whose `u` is at `i`; leaves `i` after the digits.
    fn hex4(&mut self) -> Result<u32, &'static str> {
        if self.s.get(self.i) != Some(&b'u') {
            return Err("bad escape");
        }
        let digits = self.s.get(self.i + 1..self.i + 5).ok_or("bad escape")?;
        let mut n = 0u32;
        for &d in digits {
            n = n * 16 + (d as char).to_digit(16).ok_or("bad escape")?;
        }
        self.i += 5;
        Ok(n)
    }
}

/// The fields of an object, taken by name, with the object's path for errors. Fields not
/// taken are refused by [`Object::finish`].
pub struct Object<'v, 'a> {
    input: Input,
    path: String,
    fields: &'v [(Cow<'a, str>, Value<'a>)],
    /// Which fields were taken, by index (a flag vector, not a copy of the fields: smaller).
    taken: Vec<bool>,
}

impl<'v, 'a> Object<'v, 'a> {
    /// Views `value` as an object at `path` (empty for the document).
    pub fn new(input: Input, path: &str, value: &'v Value<'a>) -> Result<Self, Refused> {
        Self::at(input, path.to_string(), value)
    }

    fn at(input: Input, path: String, value: &'v Value<'a>) -> Result<Self, Refused> {
        match value {
            Value::Object(fields) => Ok(Object { input, path, fields, taken: vec![false; fields.len()] }),
            _ => Err(InputError::boxed(input, path, "expected an object")),
        }
    }

    /// Views item `i` of the array at `path` as an object at `path[i]`.
    pub fn item(input: Input, path: &str, i: usize, value: &'v Value<'a>) -> Result<Self, Refused> {
        let mut at = String::from(path);
        at.push('[');
        push_u64(&mut at, i as u64);
        at.push(']');
        Self::at(input, at, value)
    }

    /// The object field `name` viewed as an [`Object`], if present.
    pub fn object(&mut self, name: &str) -> Result<Option<Object<'v, 'a>>, Refused> {
        match self.get(name)? {
            None => Ok(None),
            Some(v) => Self::at(self.input, self.path_of(name), v).map(Some),
        }
    }

    /// The items of the array field `name`; absent is empty unless `required`.
    pub fn array(&mut self, name: &str, required: bool) -> Result<&'v [Value<'a>], Refused> {
        match self.get(name)? {
            None if !required => Ok(&[]),
            None => Err(self.error(name, "missing")),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(self.error(name, "expected an array")),
        }
    }

    /// The path of `name` inside this object.
    pub fn path_of(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// An error about field `name`.
    pub fn error(&self, name: &str, message: &str) -> Refused {
        InputError::boxed(self.input, self.path_of(name), message)
    }

    /// The field `name` (a `null` reads as absent). A duplicate name is an error.
    pub fn get(&mut self, name: &str) -> Result<Option<&'v Value<'a>>, Refused> {
        let mut found = None;
        let mut i = 0;
        while let (Some((k, v)), Some(taken)) = (self.fields.get(i), self.taken.get_mut(i)) {
            if k == name {
                if found.is_some() {
                    return Err(InputError::boxed(self.input, join(&self.path, name), "duplicate field"));
                }
                *taken = true;
                found = Some(v);
            }
            i += 1;
        }
        Ok(found.filter(|v| !matches!(v, Value::Null)))
    }

    /// A required field.
    pub fn require(&mut self, name: &str) -> Result<&'v Value<'a>, Refused> {
        self.get(name)?.ok_or_else(|| self.error(name, "missing"))
    }

    /// An optional string field.
    pub fn string(&mut self, name: &str) -> Result<Option<&'v str>, Refused> {
        match self.get(name)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_ref())),
            Some(_) => Err(self.error(name, "expected a string")),
        }
    }

    /// A required string field.
    pub fn required_string(&mut self, name: &str) -> Result<&'v str, Refused> {
        self.string(name)?.ok_or_else(|| self.error(name, "missing"))
    }

    /// An optional string field, copied.
    pub fn owned_string(&mut self, name: &str) -> Result<Option<String>, Refused> {
        Ok(self.string(name)?.map(str::to_string))
    }

    /// A required whole number in `0..=max`.
    pub fn required_uint(&mut self, name: &str, max: u64) -> Result<u64, Refused> {
        self.uint(name, max)?.ok_or_else(|| self.error(name, "missing"))
    }

    /// An optional whole number in `0..=max`.
    pub fn uint(&mut self, name: &str, max: u64) -> Result<Option<u64>, Refused> {
        match self.get(name)? {
            None => Ok(None),
            Some(Value::Number(n)) => match crate::encode::parse_u64(n) {
                Some(v) if v <= max => Ok(Some(v)),
                _ => Err(self.error(name, "expected a whole number in range")),
            },
            Some(_) => Err(self.error(name, "expected a number")),
        }
    }

    /// An optional boolean.
    pub fn boolean(&mut self, name: &str) -> Result<Option<bool>, Refused> {
        match self.get(name)? {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.error(name, "expected true or false")),
        }
    }

    /// Refuses, before anything else is read, a field whose name is not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), Refused> {
        match self.fields.iter().find(|f| !known.contains(&f.0.as_ref())) {
            None => Ok(()),
            Some(f) => Err(InputError::boxed(self.input, join(&self.path, &f.0), "unknown field")),
        }
    }

    /// Refuses fields that were not taken.
    pub fn finish(self) -> Result<(), Refused> {
        match self.untaken(0) {
            None => Ok(()),
            Some((_, name, _)) => Err(InputError::boxed(self.input, join(&self.path, name), "unknown field")),
        }
    }

    /// The first field not taken yet from index `from` on: its index, name and value. A loop
    /// over this is the fields not taken, in order (smaller in the wasm than an iterator).
    pub fn untaken(&self, mut from: usize) -> Option<(usize, &'v str, &'v Value<'a>)> {
        while let (Some((k, v)), Some(taken)) = (self.fields.get(from), self.taken.get(from)) {
            if !taken {
                return Some((from, k, v));
            }
            from += 1;
        }
        None
    }
}

fn join(path: &str, name: &str) -> String {
    let mut p = String::with_capacity(path.len() + name.len() + 1);
    p.push_str(path);
    if !path.is_empty() {
        p.push('.');
    }
    p.push_str(name);
    p
}

/// Appends `s` as a JSON string literal.
pub fn push_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let n = c as u32;
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((n >> shift) & 15) as usize] as char);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `value` as JSON text.
pub fn push_value(out: &mut String, value: &Value<'_>) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(n),
        Value::String(s) => push_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_value(out, v);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_string(out, k);
                out.push(':');
                push_value(out, v);
            }
            out.push('}');
        }
    }
}

/// Builds a JSON object field by field.
pub struct ObjectWriter {
    out: String,
    first: bool,
}

impl ObjectWriter {
    /// Starts `{`.
    pub fn new() -> Self {
        ObjectWriter { out: String::from("{"), first: true }
    }

    fn key(&mut self, k: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_string(&mut self.out, k);
        self.out.push(':');
        &mut self.out
    }

    /// A string field (`null` when `None`).
    pub fn string(mut self, k: &str, v: Option<&str>) -> Self {
        let out = self.key(k);
        match v {
            Some(s) => push_string(out, s),
            None => out.push_str("null"),
        }
        self
    }

    /// A number field (`null` when `None`).
    pub fn uint(mut self, k: &str, v: Option<u64>) -> Self {
        let out = self.key(k);
        match v {
            Some(n) => push_u64(out, n),
            None => out.push_str("null"),
        }
        self
    }

    /// A boolean field.
    pub fn boolean(mut self, k: &str, v: bool) -> Self {
        self.key(k).push_str(if v { "true" } else { "false" });
        self
    }

    /// A field whose value is already JSON text (`null` when `None`).
    pub fn raw(mut self, k: &str, v: Option<&str>) -> Self {
        self.key(k).push_str(v.unwrap_or("null"));
        self
    }

    /// Ends `}`.
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

impl Default for ObjectWriter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;

// A plain byte-at-a-time casing scan with the same rules as the fast one (and as the scan before it): the oracle
// the fast scan is checked against in `decode_fuzz`, for the same edits and the same errors at the same offsets.

use bytes::Bytes;

use super::{Items, Key, Malformed, NULL, Normalized, finish, lookup, null_value};
use crate::spec_tables::ENVELOPE_KEYS;

pub(crate) fn normalize(body: &Bytes, items: Items) -> Result<Normalized, Malformed> {
    let mut scan = Scan { input: body, pos: 0, out: None, copied: 0, enveloped: false };
    scan.run(items)?;
    Ok(Normalized { bytes: finish(body, scan.out, scan.copied), enveloped: scan.enveloped })
}

struct Scan<'a> {
    input: &'a [u8],
    pos: usize,
    out: Option<Vec<u8>>,
    copied: usize,
    enveloped: bool,
}

impl Scan<'_> {
    fn fail(&self, reason: &'static str) -> Result<(), Malformed> {
        Err(Malformed { offset: self.pos, reason })
    }

    fn edit(&mut self, start: usize, end: usize, with: &[u8]) {
        let out = self.out.get_or_insert_with(Vec::new);
        out.extend_from_slice(&self.input[self.copied..start]);
        out.extend_from_slice(with);
        self.copied = end;
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.input.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Moves past the string starting at `pos`; returns its contents' range and whether it has escapes.
    fn string(&mut self) -> Result<(usize, usize, bool), Malformed> {
        let start = self.pos + 1;
        let mut escaped = false;
        let mut i = start;
        loop {
            match self.input.get(i) {
                None => {
                    self.pos = self.input.len();
                    self.fail("unterminated string")?;
                }
                Some(b'\\') => {
                    escaped = true;
                    i += 2;
                }
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok((start, i, escaped));
                }
                Some(_) => i += 1,
            }
        }
    }

    fn run(&mut self, items: Items) -> Result<(), Malformed> {
        let mut stack: Vec<u8> = Vec::new(); // the open brackets
        let mut expect_key = false;
        let mut pending_comma: Option<usize> = None;
        // The last byte that started a token (or was one): a comma right after `[`, `{` or `,` separates nothing.
        let mut previous: Option<u8> = None;

        self.skip_whitespace();
        if !matches!(self.input.get(self.pos), Some(b'{' | b'[')) {
            return self.fail(if self.pos == self.input.len() { "empty body" } else { "not a JSON object or array" });
        }
        loop {
            self.skip_whitespace();
            let Some(&byte) = self.input.get(self.pos) else {
                return self.fail("unexpected end of body");
            };
            if let Some(comma) = pending_comma.take()
                && matches!(byte, b'}' | b']')
            {
                self.edit(comma, comma + 1, b"");
            }
            let after = previous.replace(byte);
            match byte {
                b'{' | b'[' => {
                    if stack.len() == super::MAX_DEPTH {
                        return self.fail("nested too deeply");
                    }
                    stack.push(byte);
                    expect_key = byte == b'{';
                    self.pos += 1;
                }
                b'}' | b']' => {
                    let opening = if byte == b'}' { b'{' } else { b'[' };
                    if stack.pop() != Some(opening) {
                        return self.fail("mismatched bracket");
                    }
                    self.pos += 1;
                    expect_key = false;
                    if stack.is_empty() {
                        self.skip_whitespace();
                        if self.pos != self.input.len() {
                            return self.fail("data after the JSON value");
                        }
                        return Ok(());
                    }
                }
                b',' => {
                    pending_comma = (!matches!(after, Some(b'[' | b'{' | b','))).then_some(self.pos);
                    expect_key = stack.last() == Some(&b'{');
                    self.pos += 1;
                }
                b'"' => {
                    let (start, end, escaped) = self.string()?;
                    if expect_key {
                        expect_key = false;
                        let objects = stack.iter().filter(|&&b| b == b'{').count();
                        let normalized = objects == 1 || (objects == 2 && items == Items::Typed);
                        if normalized && let Key::Known { spec, exact, list } = key(&self.input[start..end], escaped) {
                            if stack.len() == 1 && ENVELOPE_KEYS.contains(&spec) {
                                self.enveloped = true;
                            }
                            if !exact {
                                self.edit(start, end, spec.as_bytes());
                            }
                            if list && let Some(null) = null_value(self.input, self.pos) {
                                self.edit(null, null + NULL.len(), b"[]");
                                self.pos = null + NULL.len();
                            }
                        }
                    }
                }
                b':' => self.pos += 1,
                _ => {
                    while let Some(b) = self.input.get(self.pos) {
                        if matches!(b, b',' | b'}' | b']' | b':' | b'"' | b'{' | b'[' | b' ' | b'\t' | b'\n' | b'\r') {
                            break;
                        }
                        self.pos += 1;
                    }
                }
            }
        }
    }
}

/// How the key written as `raw` (between its quotes) compares with the spec's names, its escapes read by `unescape`
/// rather than by serde_json as the fast scan reads them, so the property tests compare two readings.
fn key(raw: &[u8], escaped: bool) -> Key {
    if !escaped {
        return lookup(raw);
    }
    match unescape(raw).map(|key| lookup(key.as_bytes())) {
        Some(Key::Known { spec, list, .. }) => Key::Known { spec, exact: false, list },
        _ => Key::Unknown,
    }
}

/// A JSON string's contents with its escapes read (RFC 8259), or `None` where a decoder must refuse it: a bad
/// escape, a lone surrogate, a raw control character, invalid UTF-8.
fn unescape(raw: &[u8]) -> Option<String> {
    fn unit(chars: &mut std::str::Chars<'_>) -> Option<u32> {
        let hex: String = chars.by_ref().take(4).collect();
        (hex.len() == 4 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| u32::from_str_radix(&hex, 16).ok())?
    }
    let mut out = String::new();
    let mut chars = std::str::from_utf8(raw).ok()?.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' => match chars.next()? {
                '"' => '"',
                '\\' => '\\',
                '/' => '/',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'u' => match unit(&mut chars)? {
                    high @ 0xD800..=0xDBFF => {
                        let (backslash, u) = (chars.next()?, chars.next()?);
                        let low = unit(&mut chars).filter(|low| (0xDC00..=0xDFFF).contains(low))?;
                        if (backslash, u) != ('\\', 'u') {
                            return None;
                        }
                        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                    }
                    code => char::from_u32(code)?,
                },
                _ => return None,
            },
            c if u32::from(c) < 0x20 => return None,
            c => c,
        });
    }
    Some(out)
}

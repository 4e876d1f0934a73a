// Rewrites response JSON to the spec's property names before the generated types decode it: the service sends
// camelCase, Microsoft's docs show PascalCase (even with stray spaces), and generated serde code is case-sensitive.
// Hand-written because it must be one pass over the bytes with no tree built: serde offers no key-mapping hook
// that the generated decoder would use, and parsing to a `Value` first would double the decoding cost.

use bytes::Bytes;

use crate::spec_tables::RESPONSE_KEYS_BY_LEN;

/// Where and why a body is not JSON that could decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub(crate) offset: usize,
    pub(crate) reason: &'static str,
}

/// Which object keys are property names (and so get normalized): the envelope's, and its items' unless the items
/// are query-result rows keyed by column names, which are data and stay as sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Items {
    Typed,
    Rows,
}

/// Returns `body` with every known response key spelled as the spec spells it and trailing commas (which the
/// docs' samples have) removed. Unknown keys are left as they are. Returns the same buffer, uncopied, when
/// nothing needs to change. Checks structure only (brackets, strings, one top-level object or array); values are
/// left to the decoder.
pub(crate) fn normalize(body: &Bytes, items: Items) -> Result<Bytes, Malformed> {
    let mut scan = Scan { input: body, pos: 0, out: None, copied: 0 };
    scan.run(items)?;
    Ok(match scan.out {
        None => body.clone(),
        Some(mut out) => {
            out.extend_from_slice(&body[scan.copied..]);
            Bytes::from(out)
        }
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

/// The open containers, one bit each (set: object), so the scan allocates nothing.
#[derive(Default)]
struct Stack {
    bits: u128,
    depth: usize,
}

impl Stack {
    /// False when the body is nested deeper than `MAX_DEPTH`.
    fn push(&mut self, container: Container) -> bool {
        if self.depth == MAX_DEPTH {
            return false;
        }
        let bit = 1u128 << self.depth;
        self.bits = if container == Container::Object { self.bits | bit } else { self.bits & !bit };
        self.depth += 1;
        true
    }

    fn pop(&mut self) -> Option<Container> {
        let last = self.last()?;
        self.depth -= 1;
        Some(last)
    }

    fn last(&self) -> Option<Container> {
        let top = self.depth.checked_sub(1)?;
        Some(if self.bits >> top & 1 == 1 { Container::Object } else { Container::Array })
    }

    fn is_empty(&self) -> bool {
        self.depth == 0
    }
}

struct Scan<'a> {
    input: &'a [u8],
    pos: usize,
    /// The rewritten body, started lazily at the first edit.
    out: Option<Vec<u8>>,
    /// How much of `input` has been copied into `out`.
    copied: usize,
}

/// At most `u128::BITS`: `Stack` keeps one bit per level.
const MAX_DEPTH: usize = 128;

impl Scan<'_> {
    fn fail(&self, reason: &'static str) -> Result<(), Malformed> {
        Err(Malformed { offset: self.pos, reason })
    }

    /// Replaces `input[start..end]` with `with` in the output.
    fn edit(&mut self, start: usize, end: usize, with: &[u8]) {
        let out = self.out.get_or_insert_with(|| Vec::with_capacity(self.input.len()));
        out.extend_from_slice(&self.input[self.copied..start]);
        out.extend_from_slice(with);
        self.copied = end;
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.input.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Moves past a string starting at `pos` (on its quote); returns the range of its contents and whether it
    /// has escapes.
    fn string(&mut self) -> Result<(usize, usize, bool), Malformed> {
        let start = self.pos + 1;
        let mut escaped = false;
        let mut i = start;
        loop {
            match memchr::memchr2(b'"', b'\\', &self.input[i..]) {
                None => {
                    self.pos = self.input.len();
                    self.fail("unterminated string")?;
                }
                Some(n) if self.input[i + n] == b'\\' => {
                    escaped = true;
                    i += n + 2;
                    if i > self.input.len() {
                        self.pos = self.input.len();
                        self.fail("unterminated string")?;
                    }
                }
                Some(n) => {
                    self.pos = i + n + 1;
                    return Ok((start, i + n, escaped));
                }
            }
        }
    }

    fn run(&mut self, items: Items) -> Result<(), Malformed> {
        let mut stack = Stack::default();
        let mut objects = 0usize; // objects on the stack
        let mut expect_key = false;
        let mut pending_comma: Option<usize> = None;

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
                self.edit(comma, comma + 1, b""); // a trailing comma, as in the docs' samples
            }
            match byte {
                b'{' | b'[' => {
                    let container = if byte == b'{' { Container::Object } else { Container::Array };
                    if !stack.push(container) {
                        return self.fail("nested too deeply");
                    }
                    if container == Container::Object {
                        objects += 1;
                    }
                    expect_key = container == Container::Object;
                    self.pos += 1;
                }
                b'}' | b']' => {
                    let expected = if byte == b'}' { Container::Object } else { Container::Array };
                    if stack.pop() != Some(expected) {
                        return self.fail("mismatched bracket");
                    }
                    if expected == Container::Object {
                        objects -= 1;
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
                    pending_comma = Some(self.pos);
                    expect_key = stack.last() == Some(Container::Object);
                    self.pos += 1;
                }
                b'"' => {
                    let (start, end, escaped) = self.string()?;
                    if expect_key {
                        expect_key = false;
                        let normalized = objects == 1 || (objects == 2 && items == Items::Typed);
                        if normalized
                            && !escaped
                            && let Key::Respell(spec) = lookup(&self.input[start..end])
                        {
                            self.edit(start, end, spec.as_bytes());
                        }
                    }
                }
                b':' => self.pos += 1,
                _ => {
                    // A number or literal: its validity is the decoder's business.
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

/// How a key compares with the spec's names.
enum Key {
    /// Spelled as the spec spells it (the service's own casing): nothing to do.
    AsSpecified,
    /// Another spelling of this spec name.
    Respell(&'static str),
    /// Not a spec name.
    Unknown,
}

/// Looks `key` up among the spec's names, ignoring ASCII case and surrounding spaces.
fn lookup(key: &[u8]) -> Key {
    // The service's camelCase is the common case: an exact match is a byte compare in a bucket of a few names.
    let Some(&first) = key.first() else { return Key::Unknown };
    let bucket = RESPONSE_KEYS_BY_LEN.get(key.len()).copied().unwrap_or_default();
    if bucket.iter().any(|spec| spec.as_bytes()[0] == first && spec.as_bytes() == key) {
        return Key::AsSpecified;
    }
    let key = key.trim_ascii();
    let bucket = RESPONSE_KEYS_BY_LEN.get(key.len()).copied().unwrap_or_default();
    match bucket.iter().find(|spec| spec.as_bytes().eq_ignore_ascii_case(key)) {
        Some(spec) => Key::Respell(spec),
        None => Key::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(json: &str, items: Items) -> Result<String, Malformed> {
        normalize(&Bytes::copy_from_slice(json.as_bytes()), items).map(|b| String::from_utf8(b.to_vec()).unwrap())
    }

    #[test]
    fn camel_case_is_returned_without_copying() {
        let body = Bytes::from_static(br#"{"value":[{"reportId":"a"}],"totalCount":1}"#);
        let out = normalize(&body, Items::Typed).unwrap();
        assert_eq!(out.as_ptr(), body.as_ptr());
    }

    #[test]
    fn pascal_case_and_stray_spaces_become_the_spec_names() {
        let out = run(
            r#"{"Value":[{"ReportId":"a"," RecurrenceCount":2,"DatasetName ":"d","CALLBACKURL":null}],"TotalCount":1}"#,
            Items::Typed,
        );
        assert_eq!(
            out.unwrap(),
            r#"{"value":[{"reportId":"a","recurrenceCount":2,"datasetName":"d","callbackUrl":null}],"totalCount":1}"#
        );
    }

    #[test]
    fn unknown_keys_values_and_deeper_objects_are_untouched() {
        let json = r#"{"value":[{"IsPublicInOrg":true,"reportId":"Message","nested":{"Message":"x"}}],"Extra":1}"#;
        assert_eq!(run(json, Items::Typed).unwrap(), json);
    }

    #[test]
    fn row_keys_are_data() {
        let json = r#"{"Value":[{"Description":"x","CustomerName":"y"}],"TotalCount":1}"#;
        assert_eq!(
            run(json, Items::Rows).unwrap(),
            r#"{"value":[{"Description":"x","CustomerName":"y"}],"totalCount":1}"#
        );
    }

    #[test]
    fn trailing_commas_are_removed() {
        let out = run("{\"Value\": [1, 2, ], \"StatusCode\": 0, } ", Items::Typed).unwrap();
        assert_eq!(out, "{\"value\": [1, 2 ], \"statusCode\": 0 } ");
    }

    #[test]
    fn strings_with_brackets_and_escapes_do_not_confuse_the_scan() {
        let json = r#"{"message":"a } ] \" , {","value":[]}"#;
        assert_eq!(run(json, Items::Typed).unwrap(), json);
    }

    #[test]
    fn structural_errors_are_reported() {
        for (json, reason) in [
            ("", "empty body"),
            ("   ", "empty body"),
            ("<html><body>502</body></html>", "not a JSON object or array"),
            (r#"{"value":[{"reportId":"a"}"#, "unexpected end of body"),
            (r#"{"message":"abc"#, "unterminated string"),
            (r#"{"value":[}"#, "mismatched bracket"),
            (r#"{"value":[]} {}"#, "data after the JSON value"),
        ] {
            assert_eq!(run(json, Items::Typed).unwrap_err().reason, reason, "{json}");
        }
        let deep = "[".repeat(200);
        assert_eq!(run(&deep, Items::Typed).unwrap_err().reason, "nested too deeply");
    }
}

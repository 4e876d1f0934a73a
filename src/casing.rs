// Rewrites response JSON to the spec's property names before the generated types decode it: the service sends
// camelCase, Microsoft's docs show PascalCase (even with stray spaces), and generated serde code is case-sensitive.
// Hand-written because it must be one pass over the bytes with no tree built: serde offers no key-mapping hook
// that the generated decoder would use, and parsing to a `Value` first would double the decoding cost.

use bytes::Bytes;

use crate::spec_tables::{ENVELOPE_KEYS, RESPONSE_KEYS_BY_LEN};

#[cfg(test)]
pub(crate) mod reference;

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

/// A body as the decoder will read it, and whether it is an envelope at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Normalized {
    pub(crate) bytes: Bytes,
    /// Whether the body is an object with at least one of the envelope's fields at its top. Every field of the
    /// envelope is optional, so any other JSON (a gateway's `{"error":…}`, `{}`, even `[]`, which serde reads as a
    /// struct's fields in order) would decode as an empty envelope: an empty list where there was an answer.
    pub(crate) enveloped: bool,
}

/// Returns `body` with every known response key spelled as the spec spells it, `null` lists read as empty (the
/// generated fields are lists, and serde's `default` covers a missing field only), and trailing commas (which the
/// docs' samples have) removed. Unknown keys are left as they are. Returns the same buffer, uncopied, when
/// nothing needs to change. Checks structure only (brackets, strings, one top-level object or array); other
/// values are left to the decoder.
pub(crate) fn normalize(body: &Bytes, items: Items) -> Result<Normalized, Malformed> {
    let mut scan = Scan { input: body, out: None, copied: 0, enveloped: false };
    scan.run(items)?;
    Ok(Normalized { bytes: finish(body, scan.out, scan.copied), enveloped: scan.enveloped })
}

/// The body as edited: the input itself when nothing changed, else the output with the input's rest after `copied`.
fn finish(body: &Bytes, out: Option<Vec<u8>>, copied: usize) -> Bytes {
    match out {
        None => body.clone(),
        Some(mut out) => {
            out.extend_from_slice(&body[copied..]);
            Bytes::from(out)
        }
    }
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
    /// Whether the innermost open container is an object (read at every comma).
    in_object: bool,
    /// How many open containers are objects (keys are normalized at the first two levels of objects).
    objects: usize,
}

impl Stack {
    /// False when the body is nested deeper than `MAX_DEPTH`.
    fn push(&mut self, container: Container) -> bool {
        if self.depth == MAX_DEPTH {
            return false;
        }
        let bit = 1u128 << self.depth;
        self.in_object = container == Container::Object;
        self.bits = if self.in_object { self.bits | bit } else { self.bits & !bit };
        self.depth += 1;
        self.objects += usize::from(self.in_object);
        true
    }

    /// Closes the innermost container if it is `container`; false on a mismatch or an empty stack.
    fn pop(&mut self, container: Container) -> bool {
        if self.depth == 0 || self.in_object != (container == Container::Object) {
            return false;
        }
        self.objects -= usize::from(self.in_object);
        self.depth -= 1;
        self.in_object = self.depth > 0 && self.bits >> (self.depth - 1) & 1 == 1;
        true
    }

    fn is_empty(&self) -> bool {
        self.depth == 0
    }
}

/// At most `u128::BITS`: `Stack` keeps one bit per level.
const MAX_DEPTH: usize = 128;

/// What a byte outside strings means to the scan.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Part of a number, a literal or a colon: passed over, values are the decoder's business.
    Other,
    Space,
    Quote,
    OpenObject,
    OpenArray,
    CloseObject,
    CloseArray,
    Comma,
}

/// One lookup per byte instead of a chain of comparisons.
static CLASSES: [Class; 256] = {
    let mut classes = [Class::Other; 256];
    classes[b' ' as usize] = Class::Space;
    classes[b'\t' as usize] = Class::Space;
    classes[b'\n' as usize] = Class::Space;
    classes[b'\r' as usize] = Class::Space;
    classes[b'"' as usize] = Class::Quote;
    classes[b'{' as usize] = Class::OpenObject;
    classes[b'[' as usize] = Class::OpenArray;
    classes[b'}' as usize] = Class::CloseObject;
    classes[b']' as usize] = Class::CloseArray;
    classes[b',' as usize] = Class::Comma;
    classes
};

fn class(byte: u8) -> Class {
    CLASSES[usize::from(byte)]
}

struct Scan<'a> {
    input: &'a [u8],
    /// The rewritten body, started lazily at the first edit.
    out: Option<Vec<u8>>,
    /// How much of `input` has been copied into `out`.
    copied: usize,
    /// Whether a key of the envelope's has been seen at the top.
    enveloped: bool,
}

fn fail<T>(offset: usize, reason: &'static str) -> Result<T, Malformed> {
    Err(Malformed { offset, reason })
}

/// The first position at or after `pos` that is not JSON whitespace.
fn skip_spaces(input: &[u8], mut pos: usize) -> usize {
    while let Some(&byte) = input.get(pos)
        && class(byte) == Class::Space
    {
        pos += 1;
    }
    pos
}

/// The closing quote of the string whose contents start at `start`, and whether the string has escapes.
fn string_end(input: &[u8], start: usize) -> Result<(usize, bool), Malformed> {
    let mut escaped = false;
    let mut i = start;
    loop {
        match memchr::memchr2(b'"', b'\\', &input[i..]).map(|n| i + n) {
            None => return fail(input.len(), "unterminated string"),
            Some(at) if input[at] == b'\\' => {
                escaped = true;
                i = (at + 2).min(input.len());
            }
            Some(at) => return Ok((at, escaped)),
        }
    }
}

/// Where the comma is, if the container closing at `close` ends with one after a value (as the docs' samples do).
fn trailing_comma(input: &[u8], close: usize) -> Option<usize> {
    let last_significant = |end: usize| input[..end].iter().rposition(|&byte| class(byte) != Class::Space);
    // Outside strings, the last significant byte before a bracket is a comma only if it is a separator.
    let before = last_significant(close)?;
    if input[before] != b',' {
        return None;
    }
    // One with no value before it (`[,]`, `{"a":1,,}`) separates nothing: left for the decoder to refuse.
    let value = last_significant(before).is_some_and(|at| !matches!(input[at], b'[' | b'{' | b','));
    value.then_some(before)
}

impl Scan<'_> {
    /// Replaces `input[start..end]` with `with` in the output.
    fn edit(&mut self, start: usize, end: usize, with: &[u8]) {
        let out = self.out.get_or_insert_with(|| Vec::with_capacity(self.input.len()));
        out.extend_from_slice(&self.input[self.copied..start]);
        out.extend_from_slice(with);
        self.copied = end;
    }

    fn run(&mut self, items: Items) -> Result<(), Malformed> {
        let input = self.input;
        let mut stack = Stack::default();
        let mut expect_key = false;

        let mut pos = skip_spaces(input, 0);
        match input.get(pos) {
            Some(b'{' | b'[') => {}
            None => return fail(pos, "empty body"),
            Some(_) => return fail(pos, "not a JSON object or array"),
        }
        loop {
            let Some(&byte) = input.get(pos) else {
                return fail(pos, "unexpected end of body");
            };
            match class(byte) {
                Class::Space => pos += 1,
                Class::Other => {
                    pos += 1;
                    while let Some(&byte) = input.get(pos)
                        && class(byte) == Class::Other
                    {
                        pos += 1;
                    }
                }
                Class::Quote => {
                    let start = pos + 1;
                    let (end, escaped) = string_end(input, start)?;
                    pos = end + 1;
                    if expect_key {
                        expect_key = false;
                        let normalized = stack.objects == 1 || (stack.objects == 2 && items == Items::Typed);
                        if normalized && let Key::Known { spec, exact, list } = lookup_key(input, start, end, escaped) {
                            self.enveloped |= stack.depth == 1 && ENVELOPE_KEYS.contains(&spec);
                            if !exact {
                                self.edit(start, end, spec.as_bytes());
                            }
                            if list && let Some(null) = null_value(input, pos) {
                                self.edit(null, null + NULL.len(), b"[]");
                                pos = null + NULL.len();
                            }
                        }
                    }
                }
                Class::OpenObject | Class::OpenArray => {
                    let container = if byte == b'{' { Container::Object } else { Container::Array };
                    if !stack.push(container) {
                        return fail(pos, "nested too deeply");
                    }
                    expect_key = container == Container::Object;
                    pos += 1;
                }
                Class::CloseObject | Class::CloseArray => {
                    let container = if byte == b'}' { Container::Object } else { Container::Array };
                    if let Some(comma) = trailing_comma(input, pos) {
                        self.edit(comma, comma + 1, b"");
                    }
                    if !stack.pop(container) {
                        return fail(pos, "mismatched bracket");
                    }
                    pos += 1;
                    expect_key = false;
                    if stack.is_empty() {
                        pos = skip_spaces(input, pos);
                        return if pos == input.len() { Ok(()) } else { fail(pos, "data after the JSON value") };
                    }
                }
                Class::Comma => {
                    expect_key = stack.in_object;
                    pos += 1;
                }
            }
        }
    }
}

/// How a key compares with the spec's names.
enum Key {
    /// Another spelling of the spec name `spec`, or the same (`exact`: the service's own casing, nothing to do);
    /// `list` when its value is a list that may not be null.
    Known { spec: &'static str, exact: bool, list: bool },
    /// Not a spec name.
    Unknown,
}

/// Looks up the key written in `input[start..end]` (between its quotes), with its escapes read as the decoder will
/// read them (`"report\u0049d"` is `reportId`): slowly, as the service has never been seen to escape a key.
fn lookup_key(input: &[u8], start: usize, end: usize, escaped: bool) -> Key {
    if !escaped {
        return lookup(&input[start..end]);
    }
    // An escape the decoder would refuse leaves the key to it.
    match serde_json::from_slice::<String>(&input[start - 1..=end]).map(|key| lookup(key.as_bytes())) {
        // Written differently from the spec name whatever it decodes to, so rewritten.
        Ok(Key::Known { spec, list, .. }) => Key::Known { spec, exact: false, list },
        _ => Key::Unknown,
    }
}

/// Looks `key` up among the spec's names, ignoring ASCII case and surrounding spaces.
fn lookup(key: &[u8]) -> Key {
    // The service's camelCase is the common case: an exact match is a byte compare in a bucket of a few names.
    let Some(&first) = key.first() else { return Key::Unknown };
    let bucket = RESPONSE_KEYS_BY_LEN.get(key.len()).copied().unwrap_or_default();
    if let Some(&(spec, list)) = bucket.iter().find(|(spec, _)| spec.as_bytes()[0] == first && spec.as_bytes() == key) {
        return Key::Known { spec, exact: true, list };
    }
    let key = key.trim_ascii();
    let bucket = RESPONSE_KEYS_BY_LEN.get(key.len()).copied().unwrap_or_default();
    match bucket.iter().find(|(spec, _)| spec.as_bytes().eq_ignore_ascii_case(key)) {
        Some(&(spec, list)) => Key::Known { spec, exact: false, list },
        None => Key::Unknown,
    }
}

const NULL: &[u8] = b"null";

/// Where the value of the member whose key ends before `after` starts, if that value is `null`.
fn null_value(input: &[u8], after: usize) -> Option<usize> {
    let colon = skip_spaces(input, after);
    if input.get(colon) != Some(&b':') {
        return None;
    }
    let value = skip_spaces(input, colon + 1);
    let rest = input.get(value..)?;
    let whole_word = rest.get(NULL.len()).is_none_or(|&byte| class(byte) != Class::Other);
    (rest.starts_with(NULL) && whole_word).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(json: &str, items: Items) -> Result<String, Malformed> {
        normalize(&Bytes::copy_from_slice(json.as_bytes()), items).map(|n| String::from_utf8(n.bytes.to_vec()).unwrap())
    }

    #[test]
    fn camel_case_is_returned_without_copying() {
        let body = Bytes::from_static(br#"{"value":[{"reportId":"a"}],"totalCount":1}"#);
        let out = normalize(&body, Items::Typed).unwrap().bytes;
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
    fn null_lists_become_empty_and_other_nulls_stay() {
        let json = r#"{"Value":[{"datasetName":"d","availableMetrics" : null,"minimumRecurrenceInterval":null,"x":null}],"nextLink":null}"#;
        assert_eq!(
            run(json, Items::Typed).unwrap(),
            r#"{"value":[{"datasetName":"d","availableMetrics" : [],"minimumRecurrenceInterval":null,"x":null}],"nextLink":null}"#
        );
        assert_eq!(run(r#"{"VALUE":null,"totalCount":0}"#, Items::Typed).unwrap(), r#"{"value":[],"totalCount":0}"#);
        // Query-result rows are data, even where a column shares a list's name; a deeper object is not the spec's.
        let json = r#"{"value":[{"availableMetrics":null,"deeper":{"value":null}}]}"#;
        assert_eq!(run(json, Items::Rows).unwrap(), json);
        assert_eq!(
            run(r#"{"value":[{"nested":{"value":null}}]}"#, Items::Typed).unwrap(),
            r#"{"value":[{"nested":{"value":null}}]}"#
        );
        // Not `null` itself: left to the decoder to refuse.
        let json = r#"{"value":nullx}"#;
        assert_eq!(run(json, Items::Typed).unwrap(), json);
    }

    #[test]
    fn escaped_keys_are_read_as_the_decoder_reads_them() {
        let json =
            r#"{"Value":[{"Report\u0049d":"a","\u0020RecurrenceCount":3,"executeNow\"":1,"\u00e9":2}],"VALUE\/":null}"#;
        assert_eq!(
            run(json, Items::Typed).unwrap(),
            r#"{"value":[{"reportId":"a","recurrenceCount":3,"executeNow\"":1,"\u00e9":2}],"VALUE\/":null}"#
        );
        // A `null` list behind an escaped key, and an escape the decoder refuses (left to it).
        assert_eq!(run(r#"{"valu\u0065":null}"#, Items::Typed).unwrap(), r#"{"value":[]}"#);
        let json = r#"{"value":[],"totalC\xount":1}"#;
        assert_eq!(run(json, Items::Typed).unwrap(), json);
    }

    #[test]
    fn trailing_commas_are_removed() {
        let out = run("{\"Value\": [1, 2, ], \"StatusCode\": 0, } ", Items::Typed).unwrap();
        assert_eq!(out, "{\"value\": [1, 2 ], \"statusCode\": 0 } ");
        // Not a comma that follows no value: the decoder must still see (and refuse) it.
        for json in ["[,]", "{,}", "{\"value\":[ , ]}", "[1,,]", "{\"value\":[],,}"] {
            assert_eq!(run(json, Items::Typed).unwrap(), json);
            assert!(serde_json::from_str::<serde_json::Value>(json).is_err(), "{json}");
        }
    }

    #[test]
    fn an_envelope_is_an_object_with_an_envelope_field_at_its_top() {
        let enveloped =
            |json: &str| normalize(&Bytes::copy_from_slice(json.as_bytes()), Items::Typed).unwrap().enveloped;
        for json in [r#"{"value":[]}"#, r#"{"x":1,"TotalCount":0}"#, r#"{" Message ":"m"}"#, r#"{"valu\u0065":null}"#] {
            assert!(enveloped(json), "{json}");
        }
        for json in [
            "{}",
            "[]",
            r#"[{"value":[]}]"#,
            r#"{"error":{"message":"gateway says no"}}"#,
            r#"{"reportId":"r1","reportName":"n"}"#,
            r#"{"data":{"value":[]}}"#,
        ] {
            assert!(!enveloped(json), "{json}");
        }
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

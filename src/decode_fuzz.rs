// Property tests (a bounded fuzzer) over the response-decoding path of every response type: arbitrary bytes and
// mutated examples in any casing, under success and failure statuses. Nothing may panic; every failure keeps its status.

use bytes::Bytes;
use proptest::prelude::*;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::casing::Items;
use crate::{Error, types};

fn decode<T: DeserializeOwned>(status: StatusCode, body: &[u8], operation_id: &str) -> Result<T, Error> {
    crate::hooks::decode_body(status, Bytes::copy_from_slice(body), operation_id)
}

fn check<T: DeserializeOwned>(status: u16, body: &[u8], operation_id: &str) {
    let status = StatusCode::from_u16(status).unwrap();
    if let Err(error) = decode::<T>(status, body, operation_id) {
        let line = error.to_string();
        assert!(!line.contains('\n'), "one line: {line:?}");
        if error.status().is_none() {
            panic!("the status was lost: {error:?}");
        }
        assert_eq!(error.status(), Some(status), "{line}");
    } else {
        assert_eq!(status, StatusCode::OK, "only a 200 decodes");
    }
}

fn every_type(status: u16, body: &[u8]) {
    check::<types::ReportEnvelope>(status, body, "get_reports");
    check::<types::QueryEnvelope>(status, body, "get_queries");
    check::<types::DatasetEnvelope>(status, body, "get_datasets");
    check::<types::ExecutionEnvelope>(status, body, "get_report_executions");
    check::<types::QueryResultEnvelope>(status, body, "try_query");
    check::<types::ErrorEnvelope>(status, body, "delete_query");
}

const EXAMPLES: &[&str] = &[
    r#"{"value":[{"reportId":"0c9f","reportName":"r","reportStatus":"Active","recurrenceInterval":96,"createdTime":"2026-11-20T10:20:00Z","format":"csv","callbackMethod":"POST","callbackUrl":null}],"totalCount":1,"message":"ok","statusCode":200,"nextLink":null,"dataRedacted":false}"#,
    r#"{"value":[{"queryId":"q","name":"n","query":"SELECT a FROM b","type":"userDefined","createdTime":"2026-11-20T10:15:00Z","modifiedTime":null}],"totalCount":1}"#,
    r#"{"value":[{"datasetName":"ISVUsage","selectableColumns":["a","b"],"availableMetrics":["m"],"availableDateRanges":["LAST_MONTH"],"minimumRecurrenceInterval":24}]}"#,
    r#"{"value":[{"executionId":"e","reportId":"r","executionStatus":"Completed","reportAccessSecureLink":"https://x/y?sig=z","reportExpiryTime":null,"reportGeneratedTime":"2026-12-01T00:42:10"}]}"#,
    r#"{"value":[{"CustomerName":"Fabrikam","NormalizedUsage":1520.25}],"totalCount":1,"message":null}"#,
    r#"{"Value":[],"TotalCount":0,"Message":"Invalid QueryId","StatusCode":400, }"#,
];

/// A mutation of an example: what broken services, proxies and the docs' samples do to a body.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (0..EXAMPLES.len(), 0usize..7, any::<usize>(), any::<u8>(), ".{0,12}").prop_map(
        |(example, kind, at, byte, text)| {
            let mut body = EXAMPLES[example].as_bytes().to_vec();
            let at = at % (body.len() + 1);
            match kind {
                0 => body.truncate(at),
                1 => body.insert(at, byte),
                2 => {
                    body.splice(at..at, text.bytes());
                }
                3 => body = String::from_utf8_lossy(&body).to_uppercase().into_bytes(),
                4 => body = String::from_utf8_lossy(&body).replace("\":", "\" :").replace('}', ",}").into_bytes(),
                // A letter (of a key or a value) written as a `\u` escape, in either case of hex.
                5 => {
                    if let Some(letter) = body[at..].iter().position(u8::is_ascii_alphabetic).map(|p| at + p) {
                        let escape = if byte % 2 == 0 {
                            format!("\\u{:04x}", body[letter])
                        } else {
                            format!("\\u{:04X}", body[letter])
                        };
                        body.splice(letter..=letter, escape.bytes());
                    }
                }
                _ => {
                    let last = body.len() - 1;
                    body[at.min(last)] = byte;
                }
            }
            body
        },
    )
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![Just(200u16), Just(201), Just(400), Just(401), Just(404), Just(429), Just(500), Just(502), Just(503)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_keep_the_status(status in status(), body in proptest::collection::vec(any::<u8>(), 0..512)) {
        every_type(status, &body);
    }

    #[test]
    fn mutated_examples_never_panic_and_keep_the_status(status in status(), body in mutated()) {
        every_type(status, &body);
    }

    #[test]
    fn json_of_any_shape_never_panics(status in status(), json in any_json()) {
        every_type(status, json.to_string().as_bytes());
    }

    #[test]
    fn the_scan_agrees_with_its_reference_on_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        same_scan(&body);
    }

    #[test]
    fn the_scan_agrees_with_its_reference_on_json_like_bytes(body in json_like()) {
        same_scan(&body);
    }

    #[test]
    fn the_scan_agrees_with_its_reference_on_mutated_examples(body in mutated()) {
        same_scan(&body);
    }

    #[test]
    fn the_scan_agrees_with_its_reference_on_any_json(json in any_json(), pretty in any::<bool>(), cut in any::<usize>()) {
        let text = if pretty { serde_json::to_string_pretty(&json).unwrap() } else { json.to_string() };
        same_scan(text.as_bytes());
        // And every prefix-truncation of it, where the errors (and their offsets) are.
        same_scan(&text.as_bytes()[..cut % (text.len() + 1)]);
    }
}

/// Bodies that start like JSON and are made of its structural bytes, spaces, escapes and key-ish letters: random
/// bytes almost always fail at the first byte, these reach the brackets, strings, commas and keys.
fn json_like() -> impl Strategy<Value = Vec<u8>> {
    let byte = proptest::sample::select(b"{}[],:\"\\ \n aeivlVuEIrpotdR0".to_vec());
    (proptest::sample::select(b"{[".to_vec()), proptest::collection::vec(byte, 0..400)).prop_map(|(first, rest)| {
        let mut body = vec![first];
        body.extend(rest);
        body
    })
}

#[test]
fn the_scan_agrees_with_its_reference_at_the_nesting_limit() {
    for depth in 120..=132 {
        for (open, close) in [("[", "]"), ("{\"value\":", "}"), ("[{\"Value\":", "}]")] {
            let body = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            same_scan(body.as_bytes());
            same_scan(&body.as_bytes()[..body.len() / 2]);
        }
    }
}

/// The fast scan and the byte-at-a-time reference make the same edits and the same errors.
fn same_scan(body: &[u8]) {
    use crate::casing::{normalize, reference};
    let body = Bytes::copy_from_slice(body);
    for items in [Items::Typed, Items::Rows] {
        assert_eq!(normalize(&body, items), reference::normalize(&body, items), "{:?}", String::from_utf8_lossy(&body));
    }
}

fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        prop_oneof![Just("reportId".to_owned()), Just("Value".to_owned()), ".{0,8}"].prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let key = prop_oneof![
            Just("value".to_owned()),
            Just("Value".to_owned()),
            Just("message".to_owned()),
            Just("reportId".to_owned()),
            Just("createdTime".to_owned()),
            Just("reportStatus".to_owned()),
            Just("totalCount".to_owned()),
            ".{0,6}"
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn the_examples_decode() {
    assert!(decode::<types::ReportEnvelope>(StatusCode::OK, EXAMPLES[0].as_bytes(), "get_reports").is_ok());
    assert!(
        decode::<types::ExecutionEnvelope>(StatusCode::OK, EXAMPLES[3].as_bytes(), "get_report_executions").is_ok()
    );
    let error =
        decode::<types::ReportEnvelope>(StatusCode::BAD_REQUEST, EXAMPLES[5].as_bytes(), "get_reports").unwrap_err();
    assert_eq!(error.message(), Some("Invalid QueryId"));
}

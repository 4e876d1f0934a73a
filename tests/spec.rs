// The spec and the generated code cannot drift apart: every example in the spec decodes through the generated
// types (request examples serialize back unchanged), schemas derived from the types match the spec's components,
// and the generated public API is snapshotted so any spec change shows up as a reviewable diff.

mod common;

use std::collections::BTreeSet;

use partner_center_insights::{self as pci, types};
use quote::ToTokens;
use schemars::schema::RootSchema;
use serde_json::Value;

/// Decodes `json` as the type generated for schema `name` and serializes it back.
fn round_trip(name: &str, json: &Value) -> Result<Value, String> {
    fn via<T: serde::de::DeserializeOwned + serde::Serialize>(json: &Value) -> Result<Value, String> {
        let typed: T = serde_json::from_value(json.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(typed).map_err(|e| e.to_string())
    }
    match name {
        "DatasetEnvelope" => via::<types::DatasetEnvelope>(json),
        "QueryEnvelope" => via::<types::QueryEnvelope>(json),
        "QueryResultEnvelope" => via::<types::QueryResultEnvelope>(json),
        "ReportEnvelope" => via::<types::ReportEnvelope>(json),
        "ExecutionEnvelope" => via::<types::ExecutionEnvelope>(json),
        "ErrorEnvelope" => via::<types::ErrorEnvelope>(json),
        "CreateQueryRequest" => via::<types::CreateQueryRequest>(json),
        "CreateReportRequest" => via::<types::CreateReportRequest>(json),
        "UpdateReportRequest" => via::<types::UpdateReportRequest>(json),
        other => panic!("no generated type wired up for schema {other}"),
    }
}

fn schema_name(reference: &Value) -> String {
    reference["$ref"].as_str().unwrap().rsplit('/').next().unwrap().to_owned()
}

fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            out.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    out
}

#[test]
fn the_spec_has_the_twelve_operations_each_with_a_unique_id_and_only_200_as_success() {
    let spec = common::spec();
    let ops = operations(&spec);
    let ids: BTreeSet<String> = ops.iter().map(|(_, _, op)| op["operationId"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 12, "{ids:?}");
    assert_eq!(ops.len(), 12);
    for (method, path, op) in &ops {
        let statuses: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
        // `Error::from` relies on this: a payload error can only come from a 200.
        let successes: Vec<_> = statuses.iter().filter(|s| s.starts_with('2')).collect();
        assert_eq!(successes, [&&"200".to_owned()], "{method} {path}");
        for status in ["400", "401", "403", "500"] {
            assert!(statuses.contains(&&status.to_owned()), "{method} {path} documents {status}");
        }
        assert!(op["description"].is_string() && op["summary"].is_string(), "{method} {path} is described");
    }
}

#[test]
fn every_response_example_decodes_through_the_generated_types() {
    let spec = common::spec();
    let responses = spec["components"]["responses"].as_object().unwrap();
    assert!(responses.len() >= 8, "the envelopes and the error answers: {}", responses.len());
    for (name, response) in responses {
        let media = &response["content"]["application/json"];
        let example = &media["example"];
        assert!(example.is_object(), "response {name} has an example");
        let decoded = round_trip(&schema_name(&media["schema"]), example)
            .unwrap_or_else(|e| panic!("response {name}'s example does not decode: {e}"));
        // Decoding keeps every value (only nulls are dropped when written back).
        assert_eq!(without_nulls(example), without_nulls(&decoded), "response {name}");
    }
}

#[test]
fn every_request_example_serializes_back_to_the_same_json() {
    let spec = common::spec();
    let mut seen = 0;
    for (method, path, op) in operations(&spec) {
        let Some(media) = op["requestBody"]["content"].get("application/json") else { continue };
        let example = &media["example"];
        let written = round_trip(&schema_name(&media["schema"]), example)
            .unwrap_or_else(|e| panic!("{method} {path}: request example does not decode: {e}"));
        assert_eq!(&written, example, "{method} {path}");
        seen += 1;
    }
    assert_eq!(seen, 3, "create query, create report and update report have bodies");
}

fn without_nulls(json: &Value) -> Value {
    match json {
        Value::Object(map) => Value::Object(
            map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// The JSON type (and string format) a schema describes, following `$ref`s and single-element `allOf`s.
fn json_type(schema: &Value, spec_schemas: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap();
        return json_type(&spec_schemas[name], spec_schemas);
    }
    if let Some([only]) = schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
        return json_type(only, spec_schemas);
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.clone(),
        Value::Array(kinds) => {
            kinds.iter().filter_map(Value::as_str).find(|k| *k != "null").unwrap_or("any").to_owned()
        }
        _ => "any".to_owned(),
    };
    match (kind.as_str(), schema.get("format").and_then(Value::as_str)) {
        ("string", Some("date-time")) => "string/date-time".to_owned(),
        ("array", _) => format!("array of {}", json_type(&schema["items"], spec_schemas)),
        _ => kind,
    }
}

/// A schema derived from the generated Rust type, in OpenAPI 3 form.
fn derived<T: schemars::JsonSchema>() -> (Value, Value) {
    let root: RootSchema = schemars::r#gen::SchemaSettings::openapi3().into_generator().into_root_schema_for::<T>();
    let definitions = serde_json::to_value(&root.definitions).unwrap();
    (serde_json::to_value(&root.schema).unwrap(), definitions)
}

macro_rules! component_types {
    ($($name:ident => $ty:ty),* $(,)?) => {
        fn derived_for(name: &str) -> (Value, Value) {
            match name {
                $(stringify!($name) => derived::<$ty>(),)*
                other => panic!("schema {other} has no generated type in this test: add it"),
            }
        }

        /// Every schema name this test maps to a type, to check none is left over from a schema the spec dropped.
        const MAPPED_SCHEMAS: &[&str] = &[$(stringify!($name)),*];
    };
}

component_types! {
    ReportId => pci::ReportId,
    QueryId => pci::QueryId,
    CallbackUrl => pci::CallbackUrl,
    ReportStatus => pci::ReportStatus,
    ExecutionStatus => pci::ExecutionStatus,
    ReportFormat => pci::ReportFormat,
    CallbackMethod => pci::CallbackMethod,
    ReportName => pci::ReportName,
    ReportDescription => pci::ReportDescription,
    RecurrenceInterval => pci::RecurrenceInterval,
    RecurrenceCount => pci::RecurrenceCount,
    SecureLink => pci::SecureLink,
    CreateQueryRequest => types::CreateQueryRequest,
    CreateReportRequest => types::CreateReportRequest,
    UpdateReportRequest => types::UpdateReportRequest,
    Dataset => types::Dataset,
    Query => types::Query,
    Report => types::Report,
    Execution => types::Execution,
    QueryResultRow => types::QueryResultRow,
    DatasetEnvelope => types::DatasetEnvelope,
    QueryEnvelope => types::QueryEnvelope,
    QueryResultEnvelope => types::QueryResultEnvelope,
    ReportEnvelope => types::ReportEnvelope,
    ExecutionEnvelope => types::ExecutionEnvelope,
    ErrorEnvelope => types::ErrorEnvelope,
}

#[test]
fn schemas_derived_from_the_generated_types_match_the_spec() {
    let spec = common::spec();
    let schemas = &spec["components"]["schemas"];
    let in_spec = schemas.as_object().unwrap().keys().map(String::as_str).collect::<BTreeSet<_>>();
    assert_eq!(MAPPED_SCHEMAS.iter().copied().collect::<BTreeSet<_>>(), in_spec, "the schemas this test maps");
    for (name, expected) in schemas.as_object().unwrap() {
        assert!(expected["description"].is_string(), "schema {name} has a description");
        let (actual, definitions) = derived_for(name);
        let resolve = |schema: &Value| -> Value {
            let mut schema = schema.clone();
            loop {
                if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
                    schema = definitions[reference.rsplit('/').next().unwrap()].clone();
                } else if let Some([only]) = schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
                    schema = only.clone();
                } else {
                    return schema;
                }
            }
        };
        let actual = resolve(&actual);
        assert_eq!(json_type(&actual, &definitions), json_type(expected, schemas), "type of {name}");
        for keyword in ["enum", "minLength", "maxLength", "pattern", "minimum", "maximum"] {
            if let Some(value) = expected.get(keyword) {
                let derived = actual.get(keyword).map(|v| v.to_string());
                let spec_value = value.to_string();
                // schemars writes numbers as floats (4.0) where the spec writes 4.
                let normalize = |s: String| s.trim_end_matches(".0").to_owned();
                assert_eq!(derived.map(normalize), Some(normalize(spec_value)), "{keyword} of {name}");
            }
        }
        let Some(properties) = expected.get("properties").and_then(Value::as_object) else { continue };
        let derived_properties = actual["properties"].as_object().unwrap_or_else(|| panic!("{name} has properties"));
        let names = |map: &serde_json::Map<String, Value>| map.keys().cloned().collect::<BTreeSet<_>>();
        assert_eq!(names(derived_properties), names(properties), "property names of {name}");
        let required = |schema: &Value| -> BTreeSet<String> {
            schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
        };
        assert_eq!(required(&actual), required(expected), "required properties of {name}");
        for (property, schema) in properties {
            assert!(
                schema.get("description").is_some() || schema.get("$ref").is_some(),
                "{name}.{property} has a description"
            );
            let derived_type = json_type(&resolve(&derived_properties[property]), &definitions);
            assert_eq!(derived_type, json_type(schema, schemas), "type of {name}.{property}");
        }
    }
}

/// The generated public API as text: types with their wire names, operations with their parameters and results.
#[test]
fn generated_api_surface() {
    let file = syn::parse_file(pci::GENERATED_CODE).expect("generated code parses");
    let mut out = String::new();
    for item in &file.items {
        match item {
            syn::Item::Mod(module) if module.ident == "types" => render_types(module, &mut out),
            syn::Item::Mod(module) if module.ident == "builder" => render_operations(module, &mut out),
            _ => {}
        }
    }
    insta::assert_snapshot!(out);
}

fn type_text(ty: &impl ToTokens) -> String {
    let text: String = ty.to_token_stream().to_string().split_whitespace().collect::<Vec<_>>().join("");
    text.replace("::std::option::", "")
        .replace("::std::string::", "")
        .replace("::std::vec::", "")
        .replace("::std::num::", "")
        .replace("::serde_json::", "serde_json::")
        .replace(',', ", ")
        .replace(", >", ">")
        .replace(", )", ")")
}

/// The index of the `>` closing an already opened `<`.
fn closing_angle(text: &str) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if depth == 0 => return i,
            '>' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

fn serde_rename(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().filter(|a| a.path().is_ident("serde")).find_map(|a| {
        let text = a.meta.to_token_stream().to_string();
        let start = text.find("rename = \"")? + "rename = \"".len();
        Some(text[start..start + text[start..].find('"')?].to_owned())
    })
}

fn render_types(module: &syn::ItemMod, out: &mut String) {
    out.push_str("# types\n");
    for item in module.content.iter().flat_map(|(_, items)| items) {
        match item {
            syn::Item::Struct(s) => match &s.fields {
                syn::Fields::Named(fields) => {
                    out.push_str(&format!("struct {}\n", s.ident));
                    for field in &fields.named {
                        let wire =
                            serde_rename(&field.attrs).unwrap_or_else(|| field.ident.as_ref().unwrap().to_string());
                        out.push_str(&format!(
                            "    {}: {}  (\"{wire}\")\n",
                            field.ident.as_ref().unwrap(),
                            type_text(&field.ty)
                        ));
                    }
                }
                syn::Fields::Unnamed(fields) => {
                    let inner: Vec<String> = fields.unnamed.iter().map(|f| type_text(&f.ty)).collect();
                    out.push_str(&format!("newtype {}({})\n", s.ident, inner.join(", ")));
                }
                syn::Fields::Unit => out.push_str(&format!("unit {}\n", s.ident)),
            },
            syn::Item::Enum(e) => {
                let variants: Vec<String> = e.variants.iter().map(|v| v.ident.to_string()).collect();
                out.push_str(&format!("enum {} {{ {} }}\n", e.ident, variants.join(", ")));
            }
            _ => {}
        }
    }
}

fn render_operations(module: &syn::ItemMod, out: &mut String) {
    out.push_str("\n# operations (client.<name>() … .send())\n");
    for item in module.content.iter().flat_map(|(_, items)| items) {
        let syn::Item::Impl(block) = item else { continue };
        let syn::Type::Path(self_ty) = &*block.self_ty else { continue };
        let name = self_ty.path.segments.last().unwrap().ident.to_string();
        let mut setters = Vec::new();
        let mut send = String::new();
        for impl_item in &block.items {
            let syn::ImplItem::Fn(method) = impl_item else { continue };
            let ident = method.sig.ident.to_string();
            if ident == "send" {
                let doc = method
                    .attrs
                    .iter()
                    .find(|a| a.path().is_ident("doc"))
                    .map(|a| a.meta.to_token_stream().to_string());
                let route = doc
                    .unwrap_or_default()
                    .replace("doc = \"Sends a ", "")
                    .replace(" request to ", " ")
                    .replace(['`', '"'], "");
                let syn::ReturnType::Type(_, ty) = &method.sig.output else { continue };
                send = format!("    {route}\n    send() -> {}\n", type_text(ty));
            } else if ident != "new" {
                // `where V: TryInto<T>` (or `F: FnOnce(B) -> B` for body_map): show what the setter takes.
                let bound = method.sig.generics.where_clause.as_ref().map(type_text).unwrap_or_default();
                let taken = match bound.split_once("TryInto<") {
                    Some((_, rest)) => rest[..closing_angle(rest)].to_owned(),
                    None => bound.trim_start_matches("whereF:std::ops::").trim_end_matches(", ").to_owned(),
                };
                setters.push(format!("    .{ident}({taken})\n"));
            }
        }
        out.push_str(&format!("{name}\n{send}{}", setters.concat()));
    }
}

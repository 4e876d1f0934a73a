// Generates the API client from `openapi/insights.yaml` with progenitor, into OUT_DIR.
// Also derives from the same spec the table of response property names (and which hold lists) the normalizer needs.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::{env, fs, process};

use openapiv3::{OpenAPI, ReferenceOr, Schema, SchemaKind, Type};
use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TypeImpl};

// The same conversion the client builder applies to operation ids it is given.
#[path = "src/naming.rs"]
mod naming;

const SPEC: &str = "openapi/insights.yaml";

fn main() {
    println!("cargo:rerun-if-changed={SPEC}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/naming.rs");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let spec = load_spec(Path::new(SPEC));
    write(&out_dir.join("codegen.rs"), &generate_client(&spec));
    write(&out_dir.join("spec_tables.rs"), &format!("{}{}", response_keys(&spec), operation_ids(&spec)));
}

/// Stops the build with a message that names the spec, the way a compiler error names a file.
fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("error: {SPEC}: {message}");
    process::exit(1);
}

fn load_spec(path: &Path) -> OpenAPI {
    let text = fs::read_to_string(path).unwrap_or_else(|e| fail(format_args!("cannot read: {e}")));
    serde_norway::from_str(&text).unwrap_or_else(|e| fail(format_args!("not a valid OpenAPI 3.0 document: {e}")))
}

fn settings() -> GenerationSettings {
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_inner_type("crate::config::ClientState".parse().expect("type path"))
        .with_hooks(HooksMode::Expected)
        .with_derive("PartialEq")
        .with_derive("schemars::JsonSchema");
    // Hand-written types where generated ones fall short of what the service sends or of clear input errors:
    // enums that match case-insensitively and keep unknown values, ids that cannot escape their path segment,
    // validated request fields whose errors say what is wrong, and a download link and a callback URL (which may
    // carry a key) that stay out of logs.
    let enum_impls = || [TypeImpl::Display, TypeImpl::FromStr].into_iter();
    for name in ["ReportStatus", "ExecutionStatus", "ReportFormat", "CallbackMethod"] {
        settings.with_replacement(name, format!("crate::{name}"), enum_impls());
    }
    for name in [
        "ReportId",
        "QueryId",
        "ReportName",
        "ReportDescription",
        "RecurrenceInterval",
        "RecurrenceCount",
        "SecureLink",
        "CallbackUrl",
    ] {
        settings.with_replacement(name, format!("crate::{name}"), [TypeImpl::Display].into_iter());
    }
    // Every `date-time` string, nullable or not, becomes the lenient `Timestamp` (the service has been seen to drop
    // the `Z`). typify matches conversions ignoring descriptions, so one entry per shape covers every field.
    for nullable in [false, true] {
        settings.with_conversion(date_time_schema(nullable), "crate::Timestamp", [TypeImpl::Display].into_iter());
    }
    settings
}

fn date_time_schema(nullable: bool) -> schemars::schema::SchemaObject {
    use schemars::schema::{InstanceType, SchemaObject, SingleOrVec};
    let instance_type = if nullable {
        SingleOrVec::Vec(vec![InstanceType::String, InstanceType::Null])
    } else {
        SingleOrVec::Single(Box::new(InstanceType::String))
    };
    SchemaObject { instance_type: Some(instance_type), format: Some("date-time".to_owned()), ..Default::default() }
}

fn generate_client(spec: &OpenAPI) -> String {
    let settings = settings();
    // progenitor reports some unsupported constructs by panicking; either way the message must name the spec.
    let generated = panic::catch_unwind(AssertUnwindSafe(|| Generator::new(&settings).generate_tokens(spec)));
    let tokens = match generated {
        Ok(Ok(tokens)) => tokens,
        Ok(Err(e)) => fail(format_args!("progenitor cannot generate a client: {e}")),
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown reason");
            fail(format_args!("progenitor cannot generate a client (it panicked: {reason})"))
        }
    };
    let mut file: syn::File =
        syn::parse2(tokens).unwrap_or_else(|e| fail(format_args!("progenitor produced code that does not parse: {e}")));
    without_derived_debug(&mut file, "Client");
    prettyplease::unparse(&file)
}

/// Drops `Debug` from what the generated struct `name` derives. The derived `Debug` of `Client` prints the
/// `reqwest::Client` inside it, whose default headers a caller's HTTP client may fill with a key; `src/config.rs`
/// writes one that shows none of it. (progenitor has no setting for the client's derives.)
fn without_derived_debug(file: &mut syn::File, name: &str) {
    let item = file.items.iter_mut().find_map(|item| match item {
        syn::Item::Struct(item) if item.ident == name => Some(item),
        _ => None,
    });
    let item = item.unwrap_or_else(|| fail(format_args!("progenitor generated no `{name}`")));
    for attr in item.attrs.iter_mut().filter(|attr| attr.path().is_ident("derive")) {
        let derived = attr
            .parse_args_with(syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated)
            .unwrap_or_else(|e| fail(format_args!("progenitor wrote a derive that does not parse: {e}")));
        let path = |path: &syn::Path| path.segments.iter().map(|s| s.ident.to_string()).collect::<Vec<_>>().join("::");
        let kept: Vec<String> = derived.iter().filter(|p| !p.is_ident("Debug")).map(path).collect();
        attr.meta = syn::parse_str(&format!("derive({})", kept.join(", ")))
            .unwrap_or_else(|e| fail(format_args!("cannot rewrite `{name}`'s derive: {e}")));
    }
}

/// Every property name of every response schema (the envelopes and the items inside them), grouped by length, so
/// responses in any casing can be rewritten to the spec's names before decoding, with whether the name holds a
/// list that may not be null (the generated field is a `Vec`, so a `null` there is read as an empty list). Names
/// that differ only in case are refused: a response key could not say which it meant. Also the envelopes' own
/// property names: a body with none of them at its top is not an envelope (its fields are all optional, so any
/// other JSON object would decode as an empty one).
fn response_keys(spec: &OpenAPI) -> String {
    let components = spec.components.as_ref().unwrap_or_else(|| fail("has no components"));
    let mut keys = BTreeMap::new();
    let mut envelope_keys = std::collections::BTreeSet::new();
    for response in components.responses.values() {
        let ReferenceOr::Item(response) = response else { continue };
        for media in response.content.values() {
            if let Some(schema) = &media.schema {
                collect_keys(spec, schema, 0, &mut keys);
                match &resolve(spec, schema).schema_kind {
                    SchemaKind::Type(Type::Object(object)) => envelope_keys.extend(object.properties.keys().cloned()),
                    _ => fail("a response's schema is not an object (an envelope)"),
                }
            }
        }
    }
    // Bucketed by length: a key's bucket is one index away, and holds a handful of names to compare.
    let longest = keys.keys().map(String::len).max().unwrap_or(0);
    let mut buckets = vec![Vec::new(); longest + 1];
    for (canonical, list) in keys.values() {
        buckets[canonical.len()].push((canonical.as_str(), *list));
    }
    let mut out = String::from(
        "/// Response property names from the spec as it spells them, and whether they hold a list that may not be\n\
         /// null, grouped by length (index = length in bytes).\n\
         pub(crate) static RESPONSE_KEYS_BY_LEN: &[&[(&str, bool)]] = &[\n",
    );
    for bucket in buckets {
        out.push_str(&format!("    &{bucket:?},\n"));
    }
    out.push_str("];\n");
    out.push_str("/// The envelopes' property names, as the spec spells them.\n");
    out.push_str(&format!("pub(crate) static ENVELOPE_KEYS: &[&str] = &{:?};\n", Vec::from_iter(envelope_keys)));
    out
}

/// The operation ids as the generated code names them (snake_case), for settings that name an operation.
fn operation_ids(spec: &OpenAPI) -> String {
    let mut ids: Vec<String> = spec
        .operations()
        .filter_map(|(_, _, operation)| operation.operation_id.as_deref())
        .map(naming::snake_case)
        .collect();
    ids.sort();
    let mut out = String::from("/// Every operation id, snake_case as in `OperationInfo::operation_id`, sorted.\n");
    out.push_str("pub(crate) static OPERATION_IDS: &[&str] = &[\n");
    for id in ids {
        out.push_str(&format!("    {id:?},\n"));
    }
    out.push_str("];\n");
    out
}

/// Property names by their lowercase form: the spec's spelling, and whether any schema has it as a list that may
/// not be null.
type Keys = BTreeMap<String, (String, bool)>;

fn collect_keys(spec: &OpenAPI, schema: &ReferenceOr<Schema>, depth: usize, keys: &mut Keys) {
    if depth > 4 {
        return;
    }
    let schema = resolve(spec, schema);
    match &schema.schema_kind {
        SchemaKind::Type(Type::Object(object)) => {
            for (name, property) in &object.properties {
                let property = property.clone().unbox();
                let resolved = resolve(spec, &property);
                let list =
                    matches!(resolved.schema_kind, SchemaKind::Type(Type::Array(_))) && !resolved.schema_data.nullable;
                let (spelled, any_list) = keys.entry(name.to_lowercase()).or_insert_with(|| (name.clone(), false));
                if spelled != name {
                    fail(format_args!("response properties `{spelled}` and `{name}` differ only in case"));
                }
                *any_list |= list;
                collect_keys(spec, &property, depth + 1, keys);
            }
        }
        SchemaKind::Type(Type::Array(array)) => {
            if let Some(items) = &array.items {
                collect_keys(spec, &items.clone().unbox(), depth + 1, keys);
            }
        }
        _ => {}
    }
}

fn resolve<'a>(spec: &'a OpenAPI, schema: &'a ReferenceOr<Schema>) -> &'a Schema {
    match schema {
        ReferenceOr::Item(schema) => schema,
        ReferenceOr::Reference { reference } => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| fail(format_args!("unsupported reference `{reference}`")));
            match spec.components.as_ref().and_then(|c| c.schemas.get(name)) {
                Some(ReferenceOr::Item(schema)) => schema,
                _ => fail(format_args!("unresolved reference `{reference}`")),
            }
        }
    }
}

fn write(path: &Path, content: &str) {
    fs::write(path, content).unwrap_or_else(|e| fail(format_args!("cannot write {}: {e}", path.display())));
}

// The response envelope every API operation answers with (`value, totalCount, message, statusCode, nextLink,
// dataRedacted`), in the configured key casing, and the error type operations return to get one.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::Program;

/// Key casing of the emulator's JSON responses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Casing {
    /// `value`, `reportId`, …: what the real service sends (the default).
    #[default]
    Camel,
    /// `Value`, `ReportId`, …: what the documentation's schema samples show.
    Pascal,
}

impl Casing {
    /// `name` (written in camelCase) in this casing.
    pub(crate) fn key(self, name: &str) -> String {
        match self {
            Self::Camel => name.to_owned(),
            Self::Pascal => {
                let mut chars = name.chars();
                chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
            }
        }
    }

    /// An item built with camelCase keys, re-keyed in this casing.
    pub(crate) fn item(self, item: Map<String, Value>) -> Value {
        match self {
            Self::Camel => Value::Object(item),
            Self::Pascal => Value::Object(item.into_iter().map(|(k, v)| (self.key(&k), v)).collect()),
        }
    }
}

/// A failed operation: the HTTP status and the service's message for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

/// A successful operation's payload.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) message: Option<&'static str>,
    pub(crate) items: Items,
    /// The next page's link, when the list is answered in pages.
    pub(crate) next_link: Option<String>,
}

/// What `value` holds: typed objects (re-keyed to the casing) or query-result rows (keyed by column names, which
/// are data and never re-keyed).
#[derive(Debug)]
pub(crate) enum Items {
    Typed(Vec<Map<String, Value>>),
    Rows(Vec<Map<String, Value>>),
}

impl Reply {
    pub(crate) fn typed(message: Option<&'static str>, items: Vec<Map<String, Value>>) -> Self {
        Self { message, items: Items::Typed(items), next_link: None }
    }

    pub(crate) fn rows(rows: Vec<Map<String, Value>>) -> Self {
        Self { message: None, items: Items::Rows(rows), next_link: None }
    }
}

/// Renders envelopes for one program in one casing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Renderer {
    pub(crate) program: Program,
    pub(crate) casing: Casing,
}

impl Renderer {
    pub(crate) fn success(self, reply: Reply) -> Response {
        let value: Vec<Value> = match reply.items {
            Items::Typed(items) => items.into_iter().map(|item| self.casing.item(item)).collect(),
            Items::Rows(rows) => rows.into_iter().map(Value::Object).collect(),
        };
        self.render(StatusCode::OK, reply.message, value, reply.next_link)
    }

    pub(crate) fn error(self, error: &ApiError) -> Response {
        self.render(error.status, Some(&error.message), Vec::new(), None)
    }

    fn render(self, status: StatusCode, message: Option<&str>, value: Vec<Value>, next: Option<String>) -> Response {
        let key = |name: &str| self.casing.key(name);
        let mut envelope = Map::new();
        envelope.insert(key("totalCount"), Value::from(value.len()));
        envelope.insert(key("value"), Value::Array(value));
        envelope.insert(key("message"), message.map_or(Value::Null, Value::from));
        envelope.insert(key("statusCode"), Value::from(status.as_u16()));
        envelope.insert(key("nextLink"), next.map_or(Value::Null, Value::from));
        // The marketplace's examples have no `dataRedacted`; the partner examples always carry `false`.
        if self.program == Program::Partner {
            envelope.insert(key("dataRedacted"), Value::Bool(false));
        }
        json_response(status, &Value::Object(envelope))
    }
}

impl Reply {
    /// The page of this list that starts at item `skip`, at most `size` long, with the link to the next page
    /// (`path`, the list's query and `skip` moved on) when there is one. Query-result rows are not paged.
    pub(crate) fn page(mut self, path: &str, query: &[(String, String)], skip: usize, size: usize) -> Self {
        let Items::Typed(items) = &mut self.items else { return self };
        let total = items.len();
        *items = std::mem::take(items).into_iter().skip(skip).take(size).collect();
        let next = skip.saturating_add(size);
        self.next_link = (next < total).then(|| {
            let mut link = url::form_urlencoded::Serializer::new(String::new());
            link.extend_pairs(query.iter().filter(|(name, _)| !name.eq_ignore_ascii_case("skip")));
            link.append_pair("skip", &next.to_string());
            format!("{path}?{}", link.finish())
        });
        self
    }
}

/// A JSON response with the service's content type.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_capitalises_the_first_letter_only() {
        assert_eq!(Casing::Pascal.key("reportAccessSecureLink"), "ReportAccessSecureLink");
        assert_eq!(Casing::Camel.key("reportId"), "reportId");
        assert_eq!(Casing::Pascal.key(""), "");
    }
}

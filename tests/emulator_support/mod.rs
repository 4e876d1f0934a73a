// Helpers shared by the emulator's integration tests: clients for a program, raw HTTP for what the typed client
// refuses to send, time arithmetic on the emulator clock, a few ready-made queries and a callback receiver.

#![allow(dead_code)] // each test file uses its own subset

#[path = "../common/log_guard.rs"]
pub mod log_guard;

use std::sync::{Arc, Mutex};

use partner_center_insights::emulator::{DEV_TOKEN, Emulator};
use partner_center_insights::{Client, Error, ExposeSecret, Program, RecurrenceInterval, Timestamp, types};
use serde_json::Value;

/// A client for `program` on `emulator`, with the dev token.
pub fn client(emulator: &Emulator, program: Program) -> Client {
    Client::builder(emulator.base_url(program)).bearer_token(DEV_TOKEN).build().expect("client builds")
}

/// A query text selecting two columns from a dataset of `program`.
pub fn two_column_query(program: Program) -> (&'static str, [&'static str; 2]) {
    match program {
        Program::Partner => {
            ("SELECT CustomerName, ActiveUsers FROM OfficeUsage TIMESPAN LAST_MONTH", ["CustomerName", "ActiveUsers"])
        }
        Program::Marketplace => (
            "SELECT CustomerName, NormalizedUsage FROM ISVUsage TIMESPAN LAST_MONTH",
            ["CustomerName", "NormalizedUsage"],
        ),
    }
}

/// The emulator's now plus `hours`.
pub fn hours_from_now(emulator: &Emulator, hours: i64) -> Timestamp {
    Timestamp::from(emulator.now().as_datetime() + chrono::Duration::hours(hours))
}

pub fn interval(hours: i64) -> Option<RecurrenceInterval> {
    Some(RecurrenceInterval::new(hours).expect("valid interval"))
}

pub fn count(n: u32) -> Option<partner_center_insights::RecurrenceCount> {
    partner_center_insights::RecurrenceCount::try_from(n).ok()
}

/// Creates a query through the client; returns its id.
pub async fn create_query(client: &Client, program: Program) -> String {
    let (text, _) = two_column_query(program);
    let created = client.create_query().body_map(|b| b.name("test query").query(text)).send().await.expect("query");
    created.value[0].query_id.clone()
}

/// Creates an ExecuteNow report on `query_id`; returns its id.
pub async fn execute_now(client: &Client, query_id: &str, name: &str) -> String {
    let created = client
        .create_report()
        .body_map(|b| b.report_name(name).query_id(query_id).execute_now(true))
        .send()
        .await
        .expect("execute-now report");
    created.value[0].report_id.clone()
}

/// Creates a report running every `every_hours` from `start`, `runs` times; returns its id.
pub async fn scheduled(client: &Client, query_id: &str, start: Timestamp, every_hours: i64, runs: u32) -> String {
    let created = client
        .create_report()
        .body_map(|b| {
            b.report_name("scheduled")
                .query_id(query_id)
                .start_time(start)
                .recurrence_interval(interval(every_hours))
                .recurrence_count(count(runs))
        })
        .send()
        .await
        .expect("scheduled report");
    created.value[0].report_id.clone()
}

/// The status and message of a failed call.
pub fn failure<T: std::fmt::Debug>(result: Result<T, impl Into<Error>>) -> (u16, String) {
    let error: Error = match result {
        Ok(ok) => panic!("expected a failure, got {ok:?}"),
        Err(error) => error.into(),
    };
    (error.status().map_or(0, |s| s.as_u16()), error.message().unwrap_or_default().to_owned())
}

/// Raw HTTP against the emulator with the dev token, for requests the typed client refuses to build.
pub struct Raw {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Raw {
    pub fn new(emulator: &Emulator, program: Program) -> Self {
        Self { http: http(), base: emulator.base_url(program), token: Some(DEV_TOKEN.to_owned()) }
    }

    pub fn without_token(mut self) -> Self {
        self.token = None;
        self
    }

    /// Sends `method path` with an optional JSON body; returns the status and the parsed body (Null if not JSON).
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Some(body) => request.header("content-type", "application/json").body(body.to_string()),
            // What the client's hook adds: the emulator, like Microsoft's front ends, answers 411 without it.
            None => request.header("content-length", "0"),
        };
        let response = request.send().await.expect("emulator answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
}

/// The `message` of an envelope in either casing.
pub fn message(body: &Value) -> &str {
    body.get("message").or_else(|| body.get("Message")).and_then(Value::as_str).unwrap_or_default()
}

/// A request a callback receiver got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub method: String,
    pub path_and_query: String,
    pub body_len: usize,
}

/// A tiny HTTP server on 127.0.0.1 that records every request; returns its base URL and the log.
pub async fn callback_receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    use axum::extract::State;
    let log: Arc<Mutex<Vec<Received>>> = Arc::default();
    let app = axum::Router::new()
        .fallback(
            |State(log): State<Arc<Mutex<Vec<Received>>>>,
             method: axum::http::Method,
             uri: axum::http::Uri,
             body: axum::body::Bytes| async move {
                log.lock().unwrap().push(Received {
                    method: method.to_string(),
                    path_and_query: uri.path_and_query().map(ToString::to_string).unwrap_or_default(),
                    body_len: body.len(),
                });
                if uri.path().starts_with("/slow") {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                "ok"
            },
        )
        .with_state(Arc::clone(&log));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver runs") });
    (url, log)
}

/// A plain HTTP client with this crate's TLS setup (with only `rustls-ring` on, reqwest has no provider of its own).
pub fn http() -> reqwest::Client {
    partner_center_insights::http_client_builder().expect("a TLS backend").build().expect("a plain client")
}

/// The whole download link of a completed execution (`Debug` and `Display` show it without its signature).
pub fn link(execution: &types::Execution) -> String {
    execution.report_access_secure_link.as_ref().expect("a completed execution has a link").expose_secret().to_owned()
}

/// A GET without a token, as a browser would fetch a download link.
pub async fn fetch(url: impl reqwest::IntoUrl) -> reqwest::Result<reqwest::Response> {
    http().get(url).send().await
}

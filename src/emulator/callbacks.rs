// Calling a report's callback URL when one of its executions completes, as documented: POST `<url>/<reportId>`
// or GET `<url>?reportId=<reportId>`, no body, no auth; and remembering each attempt for tests to inspect.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::{CallbackMethod, Program};

use super::schedule::Completion;

/// How long one callback may take before it counts as failed.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// One callback the emulator made. Its `Debug` leaves out the URL's query and user info, where a key may be.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackRecord {
    /// The program of the report.
    pub program: Program,
    /// The report whose execution completed.
    pub report_id: String,
    /// The execution that completed.
    pub execution_id: String,
    /// `GET` or `POST`.
    pub method: CallbackMethod,
    /// The URL called.
    pub url: String,
    /// The receiver's status code, or why there was none.
    pub outcome: Result<u16, String>,
}

impl fmt::Debug for CallbackRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Url<'a>(&'a str);
        impl fmt::Debug for Url<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                crate::model::write_without_secrets(f, self.0)
            }
        }
        f.debug_struct("CallbackRecord")
            .field("program", &self.program)
            .field("report_id", &self.report_id)
            .field("execution_id", &self.execution_id)
            .field("method", &self.method)
            .field("url", &Url(&self.url))
            .field("outcome", &self.outcome)
            .finish()
    }
}

/// Sends callbacks and keeps their records.
#[derive(Debug)]
pub(crate) struct Callbacks {
    client: Option<reqwest::Client>,
    log: Mutex<VecDeque<CallbackRecord>>,
    /// The completions taken by catch-ups and not yet delivered. `advance` waits for those taken up to its own
    /// catch-up: a concurrent one (the wall clock's tick, an API request, another advance) may have taken the
    /// completions its clock move made due.
    ledger: Arc<watch::Sender<Ledger>>,
}

#[derive(Debug, Default)]
struct Ledger {
    /// How many completions have been taken in all; each one's number is its place in that count.
    taken: u64,
    undelivered: BTreeSet<u64>,
}

/// A completion whose callback is still to be made: counted as delivered when it is dropped, after `deliver` or
/// when a catch-up that took it is cancelled, so no wait is left hanging.
#[derive(Debug)]
pub(crate) struct Due {
    pub(crate) program: Program,
    pub(crate) completion: Completion,
    number: u64,
    ledger: Arc<watch::Sender<Ledger>>,
}

impl Drop for Due {
    fn drop(&mut self) {
        self.ledger.send_modify(|ledger| {
            ledger.undelivered.remove(&self.number);
        });
    }
}

impl Callbacks {
    pub(crate) fn new() -> Self {
        let client = crate::http_client_builder().ok().and_then(|builder| {
            builder.timeout(CALLBACK_TIMEOUT).redirect(reqwest::redirect::Policy::none()).build().ok()
        });
        let ledger = Arc::new(watch::Sender::new(Ledger::default()));
        Self { client, log: Mutex::new(VecDeque::new()), ledger }
    }

    pub(crate) fn records(&self) -> Vec<CallbackRecord> {
        super::context::records(&self.log)
    }

    /// Takes `completed` for delivery, numbered in order; with the number of the last completion taken so far
    /// (by any catch-up), for `settled`.
    pub(crate) fn take(&self, completed: Vec<(Program, Completion)>) -> (Vec<Due>, u64) {
        let mut due = Vec::with_capacity(completed.len());
        let mut last = 0;
        self.ledger.send_modify(|ledger| {
            for (program, completion) in completed {
                ledger.taken += 1;
                ledger.undelivered.insert(ledger.taken);
                let ledger_handle = Arc::clone(&self.ledger);
                due.push(Due { program, completion, number: ledger.taken, ledger: ledger_handle });
            }
            last = ledger.taken;
        });
        (due, last)
    }

    /// Returns once every completion numbered up to `last` has been delivered (or given up).
    pub(crate) async fn settled(&self, last: u64) {
        // The sender lives as long as `self`, so the wait cannot fail.
        let _ = self
            .ledger
            .subscribe()
            .wait_for(|ledger| ledger.undelivered.first().is_none_or(|&first| first > last))
            .await;
    }

    /// Makes the callback of `due`, if its report has one, and records it.
    pub(crate) async fn deliver(&self, due: Due) {
        let (program, completion) = (due.program, &due.completion);
        let Some(callback) = &completion.callback else { return };
        let Some(url) = callback_url(&callback.url, &callback.method, &completion.report_id) else { return };
        let outcome = match &self.client {
            None => Err("no HTTP client could be built".to_owned()),
            Some(client) => {
                let request = match callback.method {
                    CallbackMethod::Get => client.get(url.clone()),
                    _ => client.post(url.clone()).header(reqwest::header::CONTENT_LENGTH, "0"),
                };
                request.send().await.map(|r| r.status().as_u16()).map_err(|e| e.without_url().to_string())
            }
        };
        if let Err(error) = &outcome {
            tracing::warn!(report_id = %completion.report_id, %error, "report callback failed");
        }
        let record = CallbackRecord {
            program,
            report_id: completion.report_id.clone(),
            execution_id: completion.execution_id.clone(),
            method: callback.method.clone(),
            url: url.to_string(),
            outcome,
        };
        super::context::keep_record(&self.log, record);
    }
}

/// POST → `<url>/<reportId>`; GET → `<url>?reportId=<reportId>`, as documented. For a URL that already has a query
/// the docs say nothing; the emulator assumes the service is URL-aware (the id into the path, or `&reportId=`).
fn callback_url(base: &str, method: &CallbackMethod, report_id: &str) -> Option<url::Url> {
    let mut url = url::Url::parse(base).ok()?;
    match method {
        CallbackMethod::Get => {
            url.query_pairs_mut().append_pair("reportId", report_id);
        }
        _ => {
            url.path_segments_mut().ok()?.pop_if_empty().push(report_id);
        }
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_callback_shapes_and_the_emulator_s_assumption_for_a_query() {
        let post = callback_url("http://127.0.0.1:9/hook/", &CallbackMethod::Post, "r1").unwrap();
        assert_eq!(post.as_str(), "http://127.0.0.1:9/hook/r1");
        let get = callback_url("http://127.0.0.1:9/hook", &CallbackMethod::Get, "r1").unwrap();
        assert_eq!(get.as_str(), "http://127.0.0.1:9/hook?reportId=r1");
        // Not documented: a URL that already has a query.
        let get = callback_url("http://127.0.0.1:9/hook?x=1", &CallbackMethod::Get, "r1").unwrap();
        assert_eq!(get.as_str(), "http://127.0.0.1:9/hook?x=1&reportId=r1");
        let post = callback_url("http://127.0.0.1:9/hook?x=1", &CallbackMethod::Post, "r1").unwrap();
        assert_eq!(post.as_str(), "http://127.0.0.1:9/hook/r1?x=1");
    }

    #[test]
    fn debug_output_holds_no_secrets() {
        let record = CallbackRecord {
            program: Program::Partner,
            report_id: "r1".to_owned(),
            execution_id: "e1".to_owned(),
            method: CallbackMethod::Get,
            url: "https://user:pa55@hooks.example/ready?code=s3cret&reportId=r1".to_owned(),
            outcome: Ok(200),
        };
        let shown = format!("{record:?}");
        assert!(shown.contains("hooks.example/ready"), "{shown}");
        assert!(!shown.contains("s3cret") && !shown.contains("pa55"), "{shown}");

        let builder = super::super::Emulator::builder()
            .client("app-2", "client-secret-2")
            .user("someone@contoso.example", "password-2")
            .accept_tokens(["accepted-token-2"]);
        let shown = format!("{builder:?}");
        assert!(shown.contains("app-2") && shown.contains("someone@contoso.example"), "{shown}");
        for secret in ["client-secret-2", "password-2", "accepted-token-2", super::super::DEV_CLIENT_SECRET] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        let seed: super::super::Seed = serde_json::from_value(serde_json::json!({"partner": {"reports": [{
            "reportName": "r", "queryId": "q", "callbackUrl": "https://hooks.example/ready?code=s3cret"
        }]}}))
        .unwrap();
        assert!(!format!("{seed:?}").contains("s3cret"), "{seed:?}");
    }
}

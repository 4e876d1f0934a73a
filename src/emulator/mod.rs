// The public face of the emulator: `Emulator` (start, URLs, clock, faults, records, shutdown) and its builder.
// Everything behind it lives in the sibling modules, one concern each.

//! A local, in-memory emulator of the Partner Center Insights scheduled-report API: "Azurite for Partner Center
//! Insights".
//!
//! It serves all twelve operations under both program bases (`/insights/v1/mpn` and `/insights/v1.1/cmp`, with
//! separate state), applies the documented validation rules, quotas and messages, runs report executions
//! (Pending → Running → Completed) on its own clock, serves the generated CSV/TSV files behind
//! `reportAccessSecureLink`, calls callback URLs, issues Entra-style tokens, and can inject faults.
//!
//! ```
//! use std::time::Duration;
//! use partner_center_insights::emulator::{DEV_TOKEN, Emulator};
//! use partner_center_insights::{Client, ExposeSecret, Program, SingleItem};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::start().await?;
//! let client = Client::builder(emulator.base_url(Program::Marketplace)).bearer_token(DEV_TOKEN).build()?;
//!
//! let query = client
//!     .create_query()
//!     .body_map(|b| b.name("usage").query("SELECT CustomerName, NormalizedUsage FROM ISVUsage"))
//!     .send()
//!     .await?;
//! let query_id = query.into_single()?.query_id;
//! let report = client
//!     .create_report()
//!     .body_map(|b| b.report_name("usage now").query_id(query_id).execute_now(true))
//!     .send()
//!     .await?;
//!
//! // The clock is manual by default: move it past the execution's stages instead of sleeping.
//! emulator.advance(Duration::from_secs(10 * 60)).await;
//! let report_id = report.into_single()?.report_id;
//! let execution = client.get_report_executions().report_id(report_id.as_str()).send().await?.into_single()?;
//! let link = execution.report_access_secure_link.as_ref().ok_or("no link yet")?;
//! let http = partner_center_insights::http_client_builder()?.build()?;
//! let csv = http.get(link.expose_secret()).send().await?.text().await?; // no bearer token for the link
//! assert!(csv.starts_with("CustomerName,NormalizedUsage"));
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! What is emulated, rule by rule, and what the emulator decides where the documentation is silent:
//!
//! - **Validation**: the FAQ's 400 messages, checked in this order: missing `ReportName`/`QueryId`
//!   (`Null or missing value`), `;` in the name, name/description over 256 characters, `Format` not csv/tsv,
//!   `CallbackMethod` not GET/POST (for a text value on partner insights, its documented `Requested value '…' not
//!   found`), an unusable `CallbackUrl` (the emulator's own message), then for scheduled reports a
//!   missing/ill-formatted/too early `StartTime`, a `RecurrenceInterval` outside 4..=2160, a non-positive
//!   `RecurrenceCount`, a missing `RecurrenceInterval`; then `Invalid QueryId`, the dataset's
//!   `minimumRecurrenceInterval` (`Invalid report parameters`, partner only), and the quotas. Times must be
//!   `yyyy-MM-ddTHH:mm:ssZ` (or with a space for `T`, as Microsoft's sample sends). A badly formatted time is the
//!   documented 400 on the marketplace and the documented 500 (`Internal error encountered while creating report.
//!   Correlation ID …`) on partner insights, whose FAQ knows no 400 for it. `StartTime` must not be in the past;
//!   require more lead time with [`EmulatorBuilder::min_start_lead`] (the FAQ's message speaks of 4 hours,
//!   Microsoft's sample uses 90 minutes).
//! - **Quotas**, per program: 100 user queries, 50 reports that are Active or Paused, 5 ExecuteNow reports per
//!   rolling 60 minutes of emulator time.
//! - **Pause/resume**: pausing needs an Active report and resuming a Paused one; anything else is a 400
//!   `Report with status <status> cannot be paused|resumed`. Pausing holds the queued execution (status `Paused`);
//!   slots missed while paused are skipped, not run late (a run whose slot came before the pause keeps it).
//! - **Updates** replace the schedule: runs not yet started are dropped, the new schedule starts at the new
//!   `StartTime`, an Inactive report becomes Active again; an absent `RecurrenceInterval` keeps the old one.
//! - **Lists**: a filter that matches nothing is a 404 `No item found with given filters.`; no filter at all
//!   gives 200 with an empty `value`. Executions default to `executionStatus=Completed` and the latest one only,
//!   hence the documented 404 before the first completed run.
//! - **Queries** follow the documented grammar (`SELECT [DISTINCT] … FROM Dataset [WHERE cond (AND cond)*]
//!   [ORDER BY col [ASC|DESC], …] [LIMIT n] [TIMESPAN …]`, operators `= > < >= <= != LIKE NOT LIKE IN NOT IN`):
//!   the dataset, columns and TIMESPAN are checked with the documented messages (`Invalid table name`, `Incorrect
//!   column name`, …), anything else off the grammar (`OR`, `BETWEEN`, a list outside `IN`) is a 400 whose
//!   message is the emulator's own. A number is written `-1.5e3` (not `.5`, `5.` or `+1`). `SELECT *` (all
//!   columns) is accepted, an assumption: the docs neither show nor forbid it. A column selected twice (by name or
//!   by `*`) comes once, where first selected: another assumption. Conditions are checked, not evaluated.
//! - **Datasets**: the names are the documented ones; their columns and metrics are invented, except ISVUsage's
//!   (the marketplace's query specification), so a query's columns are checked against the emulator's own lists,
//!   not the service's. The partner system queries have the documented ids, over those lists.
//! - **Paging**: every list is one page (`nextLink` is null), unless [`EmulatorBuilder::page_size`] asks for pages:
//!   then each links the next as the same request with `skip=<n>` (the service's link form is not documented).
//! - **Try query** returns rows keyed by the selected columns: up to 100 on partner insights, 10 on the
//!   marketplace (what each program's page says), fewer with `LIMIT`.
//! - **Messages** the docs do not give (success messages other than the documented three, deleting a system query,
//!   unknown paths) are the emulator's own, in the service's style.
//! - **Marketplace system queries** have emulator-made ids (`ec000000-…`); the reference documents none.
//! - **Marketplace objects** follow its docs' examples: reports and executions have no `callbackMethod`, and
//!   executions no `reportLocation`.
//!
//! Authentication: every API call needs `Authorization: Bearer <token>`, else a 401 envelope with message
//! `Unauthorized`. Accepted by default: [`DEV_TOKEN`] and any token the built-in token endpoint issued (valid
//! 3599 seconds of emulator time); see [`EmulatorBuilder::accept_tokens`]. The token endpoint knows the app
//! [`DEV_CLIENT_ID`]/[`DEV_CLIENT_SECRET`] and the user [`DEV_USERNAME`]/[`DEV_PASSWORD`], for any tenant.
//! App-only tokens work on partner insights too: its docs describe only app + user tokens there, and do not say
//! what the service answers to an app-only one, so the emulator does not guess a refusal.
//! Download links need no token, only their `sig`; [`Emulator::downloads`] records whether one was sent anyway.
//!
//! Admin endpoints, unauthenticated, for tools outside Rust (the `insights-emulator` binary prints them):
//!
//! - `POST /_emulator/faults` with `{"kind": "status", "status": 429, "retryAfterSeconds": 3, "count": 2,
//!   "scope": "api"}`; other kinds are `delay` (`delayMs`), `dropConnection` and `malformedBody`; scopes are
//!   `api` (default), `download`, `token`, `any`. `GET` shows how many responses are still affected, `DELETE`
//!   clears the queue; with 10,000 rules pending, a `POST` is refused with 400 until then. The same from Rust:
//!   [`Emulator::faults`].
//! - `POST /_emulator/clock/advance` with `{"seconds": 600}`, like [`Emulator::advance`]; `GET /_emulator/clock`
//!   shows the emulator's time.

mod auth;
mod callbacks;
mod catalog;
mod clock;
mod context;
mod envelope;
mod faults;
mod files;
mod messages;
mod operations;
mod paths;
mod query_lang;
mod routes;
mod rows;
mod schedule;
mod seed;
mod server;
mod state;
mod token;
mod validation;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Program, Timestamp};

pub use auth::{DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_PASSWORD, DEV_TENANT_ID, DEV_TOKEN, DEV_USERNAME};
pub use callbacks::CallbackRecord;
pub use clock::{Clock, ExecutionTiming};
pub use envelope::Casing;
pub use faults::{Fault, FaultPlan, FaultScope, Faults};
pub use files::DownloadRecord;
pub use seed::{Seed, SeedError, SeedProgram, SeedQuery, SeedReport};

use auth::{Accepted, AuthState};
use context::{Settings, Shared};

/// Rows in a generated report file unless configured otherwise.
pub const DEFAULT_FILE_ROWS: u64 = 100;

/// How often the real-time clock applies due transitions when no request does.
const TICK: Duration = Duration::from_millis(100);

/// Why the emulator could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The port could not be bound.
    Bind(std::io::Error),
    /// The seed data could not be applied.
    Seed(SeedError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bind(e) => write!(f, "could not bind the emulator's port: {e}"),
            Self::Seed(e) => write!(f, "could not apply the seed data: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Bind(e) => Some(e),
            Self::Seed(e) => Some(e),
        }
    }
}

/// A running emulator on `127.0.0.1`. Dropping it stops the server (or call [`shutdown`](Self::shutdown)).
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator").field("addr", &self.addr).field("now", &self.now()).finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts an emulator with the defaults: an ephemeral port, camelCase, the manual clock, the dev token.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start() -> Result<Self, StartError> {
        Self::builder().start().await
    }

    /// Configures an emulator.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The program's base URL: `http://127.0.0.1:PORT/insights/v1/mpn` or `…/insights/v1.1/cmp`.
    pub fn base_url(&self, program: Program) -> String {
        let base = match program {
            Program::Partner => paths::PARTNER_BASE,
            Program::Marketplace => paths::MARKETPLACE_BASE,
        };
        format!("{}{base}", self.origin())
    }

    /// The Entra authority host to use instead of `https://login.microsoftonline.com`: token endpoints are
    /// `{authority}/{tenant}/oauth2/token` (v1) and `{authority}/{tenant}/oauth2/v2.0/token` (v2), for any tenant.
    pub fn authority_url(&self) -> String {
        self.origin()
    }

    /// The v1 token endpoint for [`DEV_TENANT_ID`].
    pub fn token_url(&self) -> String {
        format!("{}/{DEV_TENANT_ID}/oauth2/token", self.origin())
    }

    /// The v2 token endpoint for [`DEV_TENANT_ID`].
    pub fn token_url_v2(&self) -> String {
        format!("{}/{DEV_TENANT_ID}/oauth2/v2.0/token", self.origin())
    }

    /// The address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fault queue: make the next responses fail.
    pub fn faults(&self) -> Faults {
        self.shared.faults.clone()
    }

    /// The emulator's current time.
    pub fn now(&self) -> Timestamp {
        self.shared.now().into()
    }

    /// Moves the clock ahead by `by`, applies every execution transition that became due (in time order), and
    /// makes the resulting callbacks, all before returning. Runs that would already be past the 90-day retention
    /// are skipped, not made (a move of centuries stays quick). Works on the real-time clock too (it then runs ahead
    /// of the wall clock).
    pub async fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
        self.shared.catch_up_and_call_back().await;
    }

    /// The requests made to download links so far (the most recent 10,000).
    pub fn downloads(&self) -> Vec<DownloadRecord> {
        context::records(&self.shared.downloads)
    }

    /// The callbacks made so far (the most recent 10,000).
    pub fn callbacks(&self) -> Vec<CallbackRecord> {
        self.shared.callbacks.records()
    }

    /// Sets how many data rows report files have from now on (downloads generate them on the fly).
    pub fn set_file_rows(&self, rows: u64) {
        self.shared.file_rows.store(rows, Ordering::Relaxed);
    }

    /// An access token as the token endpoint would issue it (valid 3599 s of emulator time).
    pub fn issue_token(&self) -> String {
        self.shared.auth.mint(self.shared.now())
    }

    /// Stops the server and waits for it to close its connections.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Configures an [`Emulator`]; finish with [`start`](Self::start). Its `Debug` shows client ids and user names,
/// never their secrets, passwords or the accepted tokens.
#[must_use]
pub struct EmulatorBuilder {
    port: u16,
    casing: Casing,
    accepted: Accepted,
    seed: Option<Seed>,
    clock: Clock,
    timing: ExecutionTiming,
    file_rows: Option<u64>,
    clients: HashMap<String, String>,
    users: HashMap<String, String>,
    min_start_lead: Duration,
    link_ttl: Duration,
    page_size: Option<usize>,
}

impl fmt::Debug for EmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn names(map: &HashMap<String, String>) -> Vec<&str> {
            let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
            names.sort_unstable();
            names
        }
        let accepted = match &self.accepted {
            Accepted::Tokens(tokens) => format!("{} fixed token(s), [redacted]", tokens.len()),
            Accepted::Any => "any token".to_owned(),
        };
        f.debug_struct("EmulatorBuilder")
            .field("port", &self.port)
            .field("casing", &self.casing)
            .field("accepted", &accepted)
            .field("seed", &self.seed)
            .field("clock", &self.clock)
            .field("timing", &self.timing)
            .field("file_rows", &self.file_rows)
            .field("client_ids", &names(&self.clients))
            .field("user_names", &names(&self.users))
            .field("min_start_lead", &self.min_start_lead)
            .field("link_ttl", &self.link_ttl)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            port: 0,
            casing: Casing::Camel,
            accepted: Accepted::Tokens(HashSet::from([DEV_TOKEN.to_owned()])),
            seed: None,
            clock: Clock::manual(),
            timing: ExecutionTiming::default(),
            file_rows: None,
            clients: HashMap::from([(DEV_CLIENT_ID.to_owned(), DEV_CLIENT_SECRET.to_owned())]),
            users: HashMap::from([(DEV_USERNAME.to_owned(), DEV_PASSWORD.to_owned())]),
            min_start_lead: Duration::ZERO,
            link_ttl: Duration::from_secs(24 * 3600),
            page_size: None,
        }
    }
}

impl EmulatorBuilder {
    /// Listens on this port of 127.0.0.1 (default 0: an ephemeral port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Response key casing (default camelCase, like the service).
    pub fn casing(mut self, casing: Casing) -> Self {
        self.casing = casing;
        self
    }

    /// Accepts exactly these fixed bearer tokens (instead of [`DEV_TOKEN`]), besides the tokens the emulator's
    /// token endpoint issues.
    pub fn accept_tokens<I, T>(mut self, tokens: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.accepted = Accepted::Tokens(tokens.into_iter().map(Into::into).collect());
        self
    }

    /// Accepts any non-empty bearer token (a missing one is still a 401).
    pub fn accept_any_token(mut self) -> Self {
        self.accepted = Accepted::Any;
        self
    }

    /// Creates this data at start.
    pub fn seed(mut self, seed: Seed) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The clock (default [`Clock::manual`]).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Stage durations of executions (default [`ExecutionTiming::realistic`]).
    pub fn execution_timing(mut self, timing: ExecutionTiming) -> Self {
        self.timing = timing;
        self
    }

    /// Data rows in each generated report file (default [`DEFAULT_FILE_ROWS`]; overrides the seed's
    /// `fileRows`). Files are streamed, so millions of rows cost no memory.
    pub fn file_rows(mut self, rows: u64) -> Self {
        self.file_rows = Some(rows);
        self
    }

    /// Registers an app with the token endpoint (the dev app, [`DEV_CLIENT_ID`], stays registered).
    pub fn client(mut self, client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        self.clients.insert(client_id.into(), client_secret.into());
        self
    }

    /// Registers a user for the password grant (the dev user, [`DEV_USERNAME`], stays registered).
    pub fn user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.insert(username.into(), password.into());
        self
    }

    /// Requires `StartTime` at least this far ahead of the emulator's now (default zero: not in the past).
    pub fn min_start_lead(mut self, lead: Duration) -> Self {
        self.min_start_lead = lead;
        self
    }

    /// How long download links stay valid after generation (default 24 hours of emulator time).
    pub fn link_ttl(mut self, ttl: Duration) -> Self {
        self.link_ttl = ttl;
        self
    }

    /// Answers the four list operations (datasets, queries, reports, executions) in pages of at most `items`,
    /// each linking the next with `nextLink`, so that paging code such as
    /// [`Client::pages`](crate::Client::pages) can be tried out. The service pages long lists, but its links' form
    /// is not documented: the emulator's is the same request with `skip=<n>` added. Default: one page, no link
    /// (as does `0`).
    pub fn page_size(mut self, items: usize) -> Self {
        self.page_size = (items > 0).then_some(items);
        self
    }

    /// Binds the port, applies the seed and starts serving.
    ///
    /// # Errors
    /// When the port cannot be bound or the seed data is invalid.
    pub async fn start(self) -> Result<Emulator, StartError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await.map_err(StartError::Bind)?;
        let addr = listener.local_addr().map_err(StartError::Bind)?;
        let real_time = self.clock.is_real_time();
        let settings = Settings {
            casing: self.casing,
            timing: self.timing,
            min_start_lead: clock::chrono_duration(self.min_start_lead),
            link_ttl: clock::chrono_duration(self.link_ttl),
            page_size: self.page_size,
        };
        let file_rows =
            self.file_rows.or_else(|| self.seed.as_ref().and_then(|s| s.file_rows)).unwrap_or(DEFAULT_FILE_ROWS);
        let shared = Arc::new(Shared::new(
            settings,
            clock::EmulatorClock::new(self.clock),
            AuthState::new(self.accepted, self.clients, self.users),
            file_rows,
            format!("http://{addr}"),
        ));
        if let Some(seed) = &self.seed {
            seed::apply(&shared, seed).map_err(StartError::Seed)?;
        }

        let (shutdown, watch) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(server::serve(listener, routes::router(Arc::clone(&shared)), watch.clone()))];
        if real_time {
            tasks.push(tokio::spawn(tick(Arc::clone(&shared), watch)));
        }
        Ok(Emulator { shared, addr, shutdown, tasks })
    }
}

/// On the real-time clock: applies due transitions and makes callbacks as time passes.
async fn tick(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                // Spawned, so a slow callback receiver cannot hold up the clock.
                for due in shared.catch_up().0 {
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move { shared.callbacks.deliver(due).await });
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}

#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The client generated from `openapi/insights.yaml` by `build.rs`; never edited by hand.
#[allow(missing_docs, unused_imports, clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/codegen.rs"));
}

mod auth;
mod builders;
mod casing;
mod config;
#[cfg(test)]
mod decode_fuzz;
mod error;
mod hooks;
mod model;
mod naming;
mod retry;
mod tls;
mod workflow;

// Tables `build.rs` derives from the spec: response property names and operation ids.
mod spec_tables {
    include!(concat!(env!("OUT_DIR"), "/spec_tables.rs"));
}

#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;

pub use auth::entra::{ClientCredentials, PasswordCredential, RefreshTokenCredential};
pub use auth::{
    AccessToken, AnyTokenProvider, AuthError, ExposeSecret, SecretString, StaticToken, TokenProvider, entra,
};
pub use builders::SingleItem;
pub use config::{
    BaseUrl, ClientBuilder, ClientState, DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_TRY_QUERY_TIMEOUT, Program,
};
pub use error::{Error, ErrorKind};
pub use generated::{Client, ClientInfo, ResponseValue, builder, types};
pub use model::{
    CallbackMethod, CallbackUrl, ExecutionStatus, QueryId, RecurrenceCount, RecurrenceInterval, ReportDescription,
    ReportFormat, ReportId, ReportName, ReportStatus, SecureLink, Timestamp, UnknownValue, ValidationError,
};
/// The HTTP status type of [`Error::status`] and [`AuthError::status`], re-exported so matching on one needs no
/// direct dependency on `http` or `reqwest`.
pub use reqwest::StatusCode;
pub use retry::RetryPolicy;
pub use tls::http_client_builder;
pub use workflow::{DownloadProgress, ExecutionWait, Page, Pages, ReportDownload, WaitProgress};

/// The code `build.rs` generated from the spec, for the API-surface snapshot test.
#[doc(hidden)]
pub const GENERATED_CODE: &str = include_str!(concat!(env!("OUT_DIR"), "/codegen.rs"));

/// Internals the benchmarks measure; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::hooks::decode_body;
}

/// The error type the generated operations return; `?` turns it into [`Error`].
pub type OperationError = progenitor_client::Error<types::ErrorEnvelope>;

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
mod casing;
mod config;
mod error;
mod hooks;
mod model;

#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;

pub use auth::{AccessToken, AuthError, ExposeSecret, SecretString, StaticToken, TokenProvider};
pub use config::{
    BaseUrl, ClientBuilder, ClientState, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_TRY_QUERY_TIMEOUT,
    Program,
};
pub use error::{Error, ErrorKind};
pub use generated::{Client, ClientInfo, ResponseValue, builder, types};
pub use model::{
    CallbackMethod, ExecutionStatus, QueryId, RecurrenceInterval, ReportFormat, ReportId, ReportName, ReportStatus,
    Timestamp, UnknownValue, ValidationError,
};

/// The error type the generated operations return; `?` turns it into [`Error`].
pub type OperationError = progenitor_client::Error<types::ErrorEnvelope>;

// Helpers for what an export job does after creating a report: wait for an execution to complete, download its
// file, and walk every page of a list. Thin layers over the generated operations and the same hooks.

mod download;
mod pages;
mod wait;

pub use download::{DownloadProgress, ReportDownload};
pub use pages::{Page, Pages};
pub use wait::{ExecutionWait, WaitProgress};

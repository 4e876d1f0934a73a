// The files behind `reportAccessSecureLink`: a storage-like endpoint checking the link's signature and expiry
// (never a bearer token), streaming CSV/TSV in chunks, gzipped on request, so huge files cost no memory.

use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body::Frame;

use crate::ReportFormat;

use super::catalog::Dataset;
use super::clock;
use super::context::Shared;
use super::rows;
use super::validation::Params;

/// Roughly how much text one streamed chunk carries.
const CHUNK_BYTES: usize = 64 * 1024;

/// One request to a download link.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownloadRecord {
    /// The execution whose file was asked for (the link's last path segment).
    pub execution_id: String,
    /// Whether the request carried an `Authorization` header. Clients must not send their bearer token to the
    /// storage link; tests can assert this stays `false`.
    pub authorization_sent: bool,
    /// Whether the file was sent gzip-encoded.
    pub gzip: bool,
    /// The status answered.
    pub status: u16,
}

/// What a link needs from the state, copied out so no lock is held while streaming.
struct FileSpec {
    dataset: &'static Dataset,
    columns: Vec<&'static str>,
    limit: Option<u64>,
    format: ReportFormat,
    sig: String,
    generated: Option<DateTime<Utc>>,
    file_name: String,
}

/// Answers `GET /_emulator/files/{execution_id}?sig=…`.
pub(crate) fn serve(shared: &Shared, execution_id: &str, query: Option<&str>, headers: &HeaderMap) -> Response {
    let gzip = accepts_gzip(headers);
    let (response, gzip) = match respond(shared, execution_id, query, gzip) {
        Ok(response) => (response, gzip),
        Err(refusal) => (refusal.into_response(), false),
    };
    let record = DownloadRecord {
        execution_id: execution_id.to_owned(),
        authorization_sent: headers.contains_key(header::AUTHORIZATION),
        gzip,
        status: response.status().as_u16(),
    };
    super::context::keep_record(&shared.downloads, record);
    response
}

/// Why a link is refused, in storage terms.
enum Refusal {
    NotFound,
    AuthenticationFailed(&'static str),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound => {
                storage_error(StatusCode::NOT_FOUND, "BlobNotFound", "The specified blob does not exist.", None)
            }
            Self::AuthenticationFailed(detail) => storage_error(
                StatusCode::FORBIDDEN,
                "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of Authorization header is formed \
                 correctly including the signature.",
                Some(detail),
            ),
        }
    }
}

fn respond(shared: &Shared, execution_id: &str, query: Option<&str>, gzip: bool) -> Result<Response, Refusal> {
    let spec = {
        let world = shared.world();
        let (report, execution) = world.find_execution(execution_id).ok_or(Refusal::NotFound)?;
        FileSpec {
            dataset: report.dataset,
            columns: report.columns.clone(),
            limit: report.limit,
            format: execution.format.clone(),
            sig: execution.sig.clone(),
            generated: execution.generated,
            file_name: format!(
                "{}_{}.{}",
                safe_file_name(&report.name),
                execution.generated.unwrap_or(execution.slot).format("%Y-%m-%d"),
                execution.format.as_str()
            ),
        }
    };
    let params = Params::parse(query);
    if params.get("sig") != Some(spec.sig.as_str()) {
        return Err(Refusal::AuthenticationFailed("Signature did not match."));
    }
    // Not generated yet: the storage has no such blob.
    let generated = spec.generated.ok_or(Refusal::NotFound)?;
    if shared.now() >= clock::later(generated, shared.settings.link_ttl) {
        return Err(Refusal::AuthenticationFailed("Signed expiry time has passed."));
    }

    let (delimiter, content_type) = match spec.format {
        ReportFormat::Tsv => ('\t', "text/tab-separated-values; charset=utf-8"),
        _ => (',', "text/csv; charset=utf-8"),
    };
    let lines = Lines {
        dataset: spec.dataset,
        columns: spec.columns,
        delimiter,
        today: generated.date_naive(),
        next_row: 0,
        // The query's `LIMIT` holds for its files as for its try-query rows.
        rows: spec.limit.unwrap_or(u64::MAX).min(shared.file_rows.load(Ordering::Relaxed)),
        header_sent: false,
    };
    let body = FileBody { lines, gzip: gzip.then(|| GzEncoder::new(Vec::new(), Compression::fast())), done: false };
    let mut response = Response::new(Body::new(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    headers.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", spec.file_name)) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(response)
}

/// Whether `Accept-Encoding` lists gzip with a non-zero quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |entry| {
            let mut parts = entry.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let zero_quality = parts.any(|p| p.strip_prefix("q=").is_some_and(|q| q.parse::<f32>() == Ok(0.0)));
            (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")) && !zero_quality
        },
    )
}

fn safe_file_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

/// An Azure Blob Storage style XML error, as a SAS link's host answers.
fn storage_error(status: StatusCode, code: &str, message: &str, detail: Option<&str>) -> Response {
    let detail =
        detail.map(|d| format!("<AuthenticationErrorDetail>{d}</AuthenticationErrorDetail>")).unwrap_or_default();
    let body = format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}\nRequestId:{}\n\
         Time:{}</Message>{detail}</Error>",
        uuid::Uuid::new_v4(),
        // Storage writes seven fractional digits; chrono offers six, so pad one.
        Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f0Z"),
    );
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}

/// The file's text, produced a chunk at a time: the header row, then `rows` data rows.
struct Lines {
    dataset: &'static Dataset,
    columns: Vec<&'static str>,
    delimiter: char,
    today: NaiveDate,
    next_row: u64,
    rows: u64,
    header_sent: bool,
}

impl Lines {
    fn next_chunk(&mut self) -> Option<String> {
        if self.header_sent && self.next_row >= self.rows {
            return None;
        }
        let mut chunk = String::with_capacity(CHUNK_BYTES + 1024);
        if !self.header_sent {
            self.header_sent = true;
            chunk.push_str(&self.columns.join(&self.delimiter.to_string()));
            chunk.push_str("\r\n");
        }
        while self.next_row < self.rows && chunk.len() < CHUNK_BYTES {
            rows::write_line(&mut chunk, self.dataset, &self.columns, self.next_row, self.today, self.delimiter);
            self.next_row += 1;
        }
        Some(chunk)
    }
}

/// The streamed body: text chunks, through gzip when asked for.
struct FileBody {
    lines: Lines,
    gzip: Option<GzEncoder<Vec<u8>>>,
    done: bool,
}

impl FileBody {
    fn next_bytes(&mut self) -> std::io::Result<Option<Bytes>> {
        while !self.done {
            match (self.lines.next_chunk(), &mut self.gzip) {
                (Some(chunk), None) => return Ok(Some(Bytes::from(chunk))),
                (Some(chunk), Some(encoder)) => {
                    encoder.write_all(chunk.as_bytes())?;
                    let compressed = std::mem::take(encoder.get_mut());
                    if !compressed.is_empty() {
                        return Ok(Some(Bytes::from(compressed)));
                    }
                }
                (None, _) => {
                    self.done = true;
                    if let Some(encoder) = self.gzip.take() {
                        return encoder.finish().map(|rest| Some(Bytes::from(rest)));
                    }
                }
            }
        }
        Ok(None)
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        // Producing a chunk is quick CPU work with nothing to wait for, so every poll is ready.
        Poll::Ready(self.get_mut().next_bytes().transpose().map(|chunk| chunk.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept_encoding: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(accept_encoding).unwrap());
        headers
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(&headers("gzip")));
        assert!(accepts_gzip(&headers("br, GZIP;q=0.5")));
        assert!(!accepts_gzip(&headers("gzip;q=0")));
        assert!(!accepts_gzip(&headers("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn streamed_gzip_decodes_to_the_plain_text() {
        let dataset = super::super::catalog::dataset(crate::Program::Marketplace, "ISVUsage").unwrap();
        let lines = |rows| Lines {
            dataset,
            columns: vec!["CustomerName", "RawUsage"],
            delimiter: ',',
            today: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            next_row: 0,
            rows,
            header_sent: false,
        };
        let collect = |mut body: FileBody| {
            let mut out = Vec::new();
            while let Some(chunk) = body.next_bytes().unwrap() {
                out.extend_from_slice(&chunk);
            }
            out
        };
        let plain = collect(FileBody { lines: lines(5000), gzip: None, done: false });
        let zipped = collect(FileBody {
            lines: lines(5000),
            gzip: Some(GzEncoder::new(Vec::new(), Compression::fast())),
            done: false,
        });
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(zipped.as_slice()), &mut unzipped).unwrap();
        assert_eq!(unzipped, plain);
        let text = String::from_utf8(plain).unwrap();
        assert!(text.starts_with("CustomerName,RawUsage\r\n"));
        assert_eq!(text.lines().count(), 5001);
    }
}

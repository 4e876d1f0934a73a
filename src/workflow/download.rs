// Downloading a completed execution's file from its secure link: streamed to any writer (memory stays flat), gzip
// or deflate decoded, with progress, and never with the bearer token, which belongs to the API and not to storage.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::{Client, ClientInfo, Error, ExposeSecret, types};

/// How far a download has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownloadProgress {
    /// Bytes received so far (after decoding).
    pub bytes: u64,
    /// The size the server announced, if it did (absent for compressed transfers).
    pub total: Option<u64>,
}

/// A finished download.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReportDownload {
    /// Bytes written.
    pub bytes: u64,
    /// The server's `Content-Type`, if any.
    pub content_type: Option<String>,
}

impl Client {
    /// Streams the file of a completed `execution` into `writer`, calling `on_progress` as bytes arrive.
    ///
    /// The link is fetched without the API's bearer token (the secure link carries its own signature), over https
    /// (or http to a loopback host). Gzip (every member of a file in several) and deflate content encodings are
    /// decoded, and an encoded file that stops short, fails its checksum or has more after its end is an error
    /// (through a caller's [`http_client`](crate::ClientBuilder::http_client), reqwest decodes, as that client is set
    /// to). Not retried: a writer cannot be rewound.
    ///
    /// ```no_run
    /// # async fn run(client: partner_center_insights::Client, execution: partner_center_insights::types::Execution) -> Result<(), partner_center_insights::Error> {
    /// let mut file = tokio::fs::File::create("report.csv").await.expect("writable");
    /// let done = client.download_execution(&execution, &mut file, |p| eprintln!("{} bytes", p.bytes)).await?;
    /// println!("{} bytes", done.bytes);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the execution has no link yet, the link is not https, the server answers with an error status
    /// (status and body kept), answers anything but `200` with the file in an encoding the client decodes, or sends
    /// it broken in one ([`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse)), its body breaks off or
    /// stalls (status and storage's request id kept), or writing fails.
    pub async fn download_execution<W>(
        &self,
        execution: &types::Execution,
        writer: &mut W,
        mut on_progress: impl FnMut(DownloadProgress),
    ) -> Result<ReportDownload, Error>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let link = execution
            .report_access_secure_link
            .as_ref()
            .map(ExposeSecret::expose_secret)
            .filter(|l| !l.trim().is_empty())
            .ok_or_else(|| {
                Error::invalid_argument(format!("execution {} has no download link (yet)", execution.execution_id))
            })?;
        let url = reqwest::Url::parse(link)
            .map_err(|e| Error::invalid_argument(format!("download link is not a URL: {e}")))?;
        if url.scheme() != "https" && !(url.scheme() == "http" && crate::config::is_loopback(&url)) {
            return Err(Error::invalid_argument("download link must be https"));
        }
        // A plain request on the downloads' own connection pool: the hooks, and so the bearer token, are not involved.
        // No total timeout (a large file takes as long as it takes: `Duration::MAX` lifts the one the client may
        // have); instead the request timeout bounds the wait for the headers and for each chunk.
        let state = self.inner().get();
        let idle = state.request_timeout();
        let stalled = || Error::timed_out(format!("the download stalled for {idle:?}"));
        // The client's own downloads decode here (see `Decoding`); a caller's HTTP client decodes as it is set to.
        let request = match &state.download_http {
            Some(clients) => {
                let http = if url.scheme() == "http" { &clients.direct } else { &clients.proxied };
                http.get(url).header(reqwest::header::ACCEPT_ENCODING, "gzip, deflate")
            }
            None => self.client().get(url),
        };
        let request = request.timeout(Duration::MAX);
        let mut response = tokio::time::timeout(idle, request.send()).await.map_err(|_| stalled())??;
        if !response.status().is_success() {
            let status = response.status();
            let mut headers = response.headers().clone();
            // Not the storage host's to set: the names the client records its own calls under.
            crate::hooks::forget_recorded(&mut headers);
            const KEPT: usize = 65_536;
            let mut body = Vec::new();
            // Storage error bodies are small XML documents; keep at most 64 KiB of whatever comes, and what came
            // within one request timeout in all (a per-chunk limit would let a trickle hold the call for hours).
            let keep = async {
                while body.len() < KEPT
                    && let Ok(Some(chunk)) = response.chunk().await
                {
                    body.extend_from_slice(&chunk[..chunk.len().min(KEPT - body.len())]);
                }
            };
            let _ = tokio::time::timeout(idle, keep).await;
            return Err(Error::from_response(status, &headers, Some(body.into())));
        }
        // Storage did answer: a body that then breaks off or stalls fails with the answer's status and request id,
        // as an API call's does, so the error tells a cut transfer from a link that was never served.
        let (status, request_id) = (response.status(), crate::error::request_id(response.headers()).map(str::to_owned));
        let answered = |error: Error| error.answered(status, request_id.clone(), 1);
        // Anything but the whole file would be saved as if it were the report (and replace a good one on disk).
        if status != reqwest::StatusCode::OK {
            return Err(answered(Error::invalid_response(format!("storage answered {status}, not the file"))));
        }
        // The encodings named (in any of the header's values and list entries; `identity` and empty entries name
        // none): gzip or deflate alone is decoded here; any other is one the client cannot decode, whose bytes are
        // not the report.
        let encodings = response.headers().get_all(reqwest::header::CONTENT_ENCODING);
        let coded = encodings.iter().flat_map(|value| value.as_bytes().split(|b| *b == b','));
        let named: Vec<&[u8]> =
            coded.map(<[u8]>::trim_ascii).filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case(b"identity")).collect();
        let Some(mut decoding) = Decoding::for_encodings(&named) else {
            let named: Vec<_> = encodings.iter().map(|value| String::from_utf8_lossy(value.as_bytes())).collect();
            return Err(answered(Error::invalid_response(format!(
                "storage sent the file with content encoding `{}`, which the client cannot decode",
                named.join(", ")
            ))));
        };
        // The length of what is sent, which for an encoded file is not the file's.
        let total = response.content_length().filter(|_| matches!(decoding, Decoding::Identity));
        let content_type =
            response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let broken = |e: std::io::Error| answered(Error::invalid_response(format!("the encoded file is broken: {e}")));
        let mut bytes = 0u64;
        // An encoded chunk is decoded a little at a time, each piece's file written before the next: a few KiB of
        // deflate may hold megabytes of file, and memory is to stay flat.
        let piece = if matches!(decoding, Decoding::Identity) { usize::MAX } else { ENCODED_PIECE };
        while let Some(chunk) = tokio::time::timeout(idle, response.chunk())
            .await
            .map_err(|_| answered(stalled()))?
            .map_err(|e| answered(e.into()))?
        {
            let before = bytes;
            for piece in chunk.chunks(piece) {
                let decoded = decoding.decode(piece).map_err(broken)?;
                writer.write_all(decoded).await.map_err(|e| Error::io("could not write the download", e))?;
                bytes += decoded.len() as u64;
            }
            // (An encoded chunk may decode to nothing yet: a gzip header, say.)
            if bytes > before {
                on_progress(DownloadProgress { bytes, total });
            }
        }
        let rest = decoding.finish().map_err(broken)?;
        if !rest.is_empty() {
            writer.write_all(rest).await.map_err(|e| Error::io("could not write the download", e))?;
            bytes += rest.len() as u64;
            on_progress(DownloadProgress { bytes, total });
        }
        writer.flush().await.map_err(|e| Error::io("could not write the download", e))?;
        Ok(ReportDownload { bytes, content_type })
    }

    /// Downloads the file of a completed `execution` to `path`, through a `<name>.<random>.partial` file in the same
    /// directory (`<name>` cut short when the whole would be over 255 bytes) that is renamed on success, so a reader
    /// of `path` never sees half a report. The partial file is removed when the download fails or is dropped
    /// unfinished (on Windows, a file still open in a write under way when the download is dropped may be left), and
    /// two downloads to one path never share it (the last to finish wins).
    ///
    /// The file is not synced to disk before the rename (a 1 GiB report would wait for the disk): after a power
    /// loss soon after the download, `path` may hold less than the report. Open it and call `File::sync_all` when
    /// that matters.
    ///
    /// # Errors
    /// As [`download_execution`](Self::download_execution), and [`ErrorKind::LocalIo`](crate::ErrorKind::LocalIo)
    /// when the file cannot be created, written or renamed.
    pub async fn download_execution_to_file(
        &self,
        execution: &types::Execution,
        path: impl AsRef<Path>,
        on_progress: impl FnMut(DownloadProgress),
    ) -> Result<ReportDownload, Error> {
        let path = path.as_ref();
        let (file, partial) = PartialFile::create(path)?;
        // Declared after `partial`, so on an early return the file is closed before it is removed (Windows).
        let mut file = file;
        let done = self.download_execution(execution, &mut file, on_progress).await?;
        drop(file);
        partial.rename_to(path)?;
        Ok(done)
    }
}

/// The file a download is written to before it is renamed into place; removed on drop unless renamed (so also
/// when the download future is dropped half way).
struct PartialFile {
    path: Option<PathBuf>,
}

impl PartialFile {
    /// A new file next to `path`, with a random name that no other download uses.
    ///
    /// Created and renamed synchronously, like the removal in `drop`: tokio runs file operations on its blocking
    /// pool, where they finish even when this future is dropped while waiting, and a file created that way would
    /// have no guard left to remove it. Each is one system call.
    fn create(path: &Path) -> Result<(tokio::fs::File, Self), Error> {
        loop {
            let partial = path.with_file_name(partial_name(path, fastrand::u32(..)));
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&partial) {
                Ok(file) => return Ok((tokio::fs::File::from_std(file), Self { path: Some(partial) })),
                // Taken by another download: draw another name.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(&format!("could not create {}", partial.display()), e)),
            }
        }
    }

    fn rename_to(mut self, path: &Path) -> Result<(), Error> {
        let Some(partial) = self.path.take() else { return Ok(()) };
        match std::fs::rename(&partial, path) {
            Ok(()) => Ok(()),
            Err(e) => {
                // Put back so that drop removes it.
                let error = Error::io(&format!("could not rename {}", partial.display()), e);
                self.path = Some(partial);
                Err(error)
            }
        }
    }
}

/// `<name>.<random>.partial`, with `<name>` (the target's) cut short where the whole would pass the 255 bytes a
/// file name may have on common file systems: any name the target may have must leave room for its partial file's.
/// A name that is not UTF-8 is used in its lossy form; only the target gets the name as given.
fn partial_name(path: &Path, random: u32) -> String {
    const SUFFIX_LEN: usize = ".01234567.partial".len();
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut end = name.len().min(255 - SUFFIX_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}.{random:08x}.partial", &name[..end])
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(partial) = self.path.take() {
            // Synchronous: a drop cannot await, and removing one file does not block for long.
            let _ = std::fs::remove_file(partial);
        }
    }
}

/// How much of an encoded chunk is decoded at once: at deflate's best ratio (about 1,000 to 1), 4 MiB of file.
const ENCODED_PIECE: usize = 4096;

/// How a file's bytes arrive. Decoded here rather than by reqwest, whose gzip decoder stops after the first member of
/// a file written in several (as concatenated or appended gzip files are), and ignores whatever follows the last:
/// the file would be saved cut short, as if whole. flate2's decoders read every member, and fail on anything else.
enum Decoding {
    Identity,
    Encoded {
        decoder: Box<dyn Decoder>,
        /// The encoding's name, for errors.
        name: &'static str,
        /// Whether any encoded byte has come: an empty body is an empty file, encoded or not.
        started: bool,
    },
}

/// A flate2 decoder that writes the file into its buffer: the two encodings the client undoes have the same shape.
trait Decoder: Write + Send {
    fn output(&mut self) -> &mut Vec<u8>;
    fn finish_stream(&mut self) -> std::io::Result<()>;
}

impl Decoder for flate2::write::MultiGzDecoder<Vec<u8>> {
    fn output(&mut self) -> &mut Vec<u8> {
        self.get_mut()
    }

    fn finish_stream(&mut self) -> std::io::Result<()> {
        self.try_finish()
    }
}

impl Decoder for flate2::write::ZlibDecoder<Vec<u8>> {
    fn output(&mut self) -> &mut Vec<u8> {
        self.get_mut()
    }

    fn finish_stream(&mut self) -> std::io::Result<()> {
        self.try_finish()
    }
}

impl Decoding {
    /// The decoding for the encodings a response names, or `None` when the client cannot undo them (one other than
    /// gzip or deflate, or more than one).
    fn for_encodings(named: &[&[u8]]) -> Option<Self> {
        let (decoder, name): (Box<dyn Decoder>, _) = match named {
            [] => return Some(Self::Identity),
            [gzip] if gzip.eq_ignore_ascii_case(b"gzip") || gzip.eq_ignore_ascii_case(b"x-gzip") => {
                (Box::new(flate2::write::MultiGzDecoder::new(Vec::new())), "gzip")
            }
            // HTTP's `deflate` is the zlib format (RFC 9110).
            [deflate] if deflate.eq_ignore_ascii_case(b"deflate") => {
                (Box::new(flate2::write::ZlibDecoder::new(Vec::new())), "deflate")
            }
            _ => return None,
        };
        Some(Self::Encoded { decoder, name, started: false })
    }

    /// What `chunk` decodes to (the chunk itself when not encoded; otherwise what the decoder has ready).
    fn decode<'a>(&'a mut self, chunk: &'a [u8]) -> std::io::Result<&'a [u8]> {
        let Self::Encoded { decoder, name, started } = self else { return Ok(chunk) };
        *started |= !chunk.is_empty();
        kept_small(decoder.output());
        // The zlib decoder takes nothing after its stream's end, which `write_all` reports as a zero write.
        decoder.write_all(chunk).map_err(|e| match e.kind() {
            std::io::ErrorKind::WriteZero => {
                std::io::Error::other(format!("there are bytes after the end of the {name} stream"))
            }
            _ => e,
        })?;
        Ok(decoder.output())
    }

    /// The rest of the file, once the last chunk has come; an error when the encoded data stopped short.
    fn finish(&mut self) -> std::io::Result<&[u8]> {
        let Self::Encoded { decoder, name, started: true } = self else { return Ok(&[]) };
        decoder.output().clear();
        // A stream cut short, or (gzip) bytes after the last member that do not begin another: flate2 names only
        // the first.
        decoder.finish_stream().map_err(|e| {
            std::io::Error::other(format!("the {name} data stops short or has bytes after its end ({e})"))
        })?;
        Ok(decoder.output())
    }
}

/// Empties a decoder's output for the next piece; memory a piece made it grow to is kept for the next (a piece
/// decodes to a few MiB at most), unless a stream with far more than that in it left it larger.
fn kept_small(out: &mut Vec<u8>) {
    out.clear();
    if out.capacity() > 8 << 20 {
        out.shrink_to(8 << 20);
    }
}

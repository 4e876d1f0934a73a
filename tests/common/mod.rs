// A real HTTP/1.1 server on 127.0.0.1 for the tests: records every request byte for byte (request line, headers,
// body) and answers from a script, including faults a proxy or a broken service produces (resets, hangs, garbage).
#![allow(dead_code)] // each test binary uses a different part of it

pub mod log_guard;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A loopback port that refuses connections while the returned socket lives: bound and never listening, so no
/// other test (or outgoing connection) can take it in the meantime, as it could a port merely found free.
pub fn refusing_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).expect("a loopback port");
    let port = socket.local_addr().expect("bound").port();
    (socket, port)
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The request line exactly as sent, e.g. `PUT /insights/v1/mpn/ScheduledReport/resume/abc HTTP/1.1`.
    pub request_line: String,
    pub method: String,
    /// The request target exactly as sent (path and query, still percent-encoded).
    pub target: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What the server does with a request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A complete response.
    Respond { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// Bytes written as they are, then the connection is closed.
    Raw(Vec<u8>),
    /// The connection is reset (RST) without a response.
    Reset,
    /// These bytes (say, headers and half a body), then a reset.
    RawThenReset(Vec<u8>),
    /// Nothing is ever sent; the connection stays open.
    Hang,
    /// These bytes (say, headers without a length and the start of a body), then `x` for ever, until the client
    /// hangs up.
    Endless(Vec<u8>),
    /// A response with this status and body, the body sent in `pieces` parts `gap` apart: slow overall, never
    /// silent for long.
    Trickle { status: u16, body: Vec<u8>, pieces: usize, gap: Duration },
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Self {
        Self::Respond {
            status,
            headers: vec![("content-type".into(), "application/json; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Self::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    pub fn trickle(status: u16, body: impl Into<Vec<u8>>, pieces: usize, gap: Duration) -> Self {
        Self::Trickle { status, body: body.into(), pieces, gap }
    }

    pub fn body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::Respond { status, headers: vec![("content-type".into(), content_type.into())], body: body.into() }
    }
}

type Handler = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Answers every request with `reply`.
    pub async fn always(reply: Reply) -> Self {
        Self::start(move |_, _| reply.clone()).await
    }

    /// Answers the n-th request with `replies[n]`, and later ones with the last reply.
    pub async fn sequence(replies: Vec<Reply>) -> Self {
        Self::start(move |_, n| replies[n.min(replies.len() - 1)].clone()).await
    }

    /// Answers each request with `handler(request, index)`.
    pub async fn start(handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                // An accept error (say, out of file descriptors under a low limit) is passed over, not the end of the
                // server: the connections already open close, and later ones are served.
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let (recorded, handler) = (recorded.clone(), handler.clone());
                tokio::spawn(async move { serve(stream, recorded, handler).await });
            }
        });
        Self { addr, requests, task }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// The number of requests recorded, once at least `expected` have been (or after 10 s), and then 100 ms more for
    /// one too many to show: a client that timed out waiting for an answer can return before this server's task has
    /// read its request, on a loaded machine.
    pub async fn settled_request_count(&self, expected: usize) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.request_count() < expected && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.request_count()
    }
}

async fn serve(mut stream: TcpStream, recorded: Arc<Mutex<Vec<Recorded>>>, handler: Arc<Handler>) {
    let Some(request) = read_request(&mut stream).await else { return };
    let index = {
        let mut all = recorded.lock().unwrap();
        all.push(request.clone());
        all.len() - 1
    };
    match handler(&request, index) {
        Reply::Respond { status, headers, body } => {
            let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
            for (name, value) in &headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        }
        Reply::Raw(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Reply::Endless(start) => {
            let filler = vec![b'x'; 64 << 10];
            if stream.write_all(&start).await.is_ok() {
                while stream.write_all(&filler).await.is_ok() {}
            }
        }
        Reply::Reset => reset(stream),
        Reply::RawThenReset(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            reset(stream);
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Reply::Trickle { status, body, pieces, gap } => {
            let head = format!(
                "HTTP/1.1 {status} {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                reason(status),
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            for piece in body.chunks(body.len().div_ceil(pieces).max(1)) {
                let _ = stream.flush().await;
                tokio::time::sleep(gap).await;
                let _ = stream.write_all(piece).await;
            }
            let _ = stream.shutdown().await;
        }
    }
}

fn reset(stream: TcpStream) {
    // A zero linger makes the close send RST; it does not block (the deprecation is about non-zero values).
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_owned();
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded { request_line, method, target, headers, body })
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Unknown")
}

/// The base URL of a program on the test server.
pub fn mpn(server: &TestServer) -> String {
    server.url("/insights/v1/mpn")
}

pub fn cmp(server: &TestServer) -> String {
    server.url("/insights/v1.1/cmp")
}

pub const TEST_TOKEN: &str = "test-bearer-token-4f1c9a7e-secret";

/// A client for tests about one exchange: retries off, so every call is exactly one request.
pub fn client(base_url: &str) -> partner_center_insights::Client {
    partner_center_insights::Client::builder(base_url)
        .bearer_token(TEST_TOKEN)
        .retry_policy(partner_center_insights::RetryPolicy::none())
        .build()
        .expect("client builds")
}

/// `json` with every object key's first letter upper-cased, as the docs' samples spell them.
pub fn pascal_case(json: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match json {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let mut key = k.clone();
                    if let Some(first) = key.get_mut(0..1) {
                        first.make_ascii_uppercase();
                    }
                    (key, pascal_case(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(pascal_case).collect()),
        other => other.clone(),
    }
}

/// The OpenAPI document, as JSON.
pub fn spec() -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/insights.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

/// The `example` of `components.responses.<name>`.
pub fn response_example(name: &str) -> serde_json::Value {
    spec()["components"]["responses"][name]["content"]["application/json"]["example"].clone()
}

/// A request as text for a snapshot: request line, headers sorted by name with volatile values replaced (after
/// checking them), and the body as pretty JSON.
pub fn render(request: &Recorded) -> String {
    let mut headers = request.headers.clone();
    headers.sort();
    let mut out = format!("{}\n", request.request_line);
    for (name, value) in headers {
        let shown = match name.as_str() {
            "authorization" => {
                assert_eq!(value, format!("Bearer {TEST_TOKEN}"), "the bearer token is sent");
                "Bearer [redacted]".to_owned()
            }
            "ms-requestid" | "ms-correlationid" => {
                uuid::Uuid::parse_str(&value).unwrap_or_else(|_| panic!("{name} is a UUID: {value}"));
                "[uuid]".to_owned()
            }
            "host" => "[test server]".to_owned(),
            "user-agent" => value.replace(env!("CARGO_PKG_VERSION"), "[version]"),
            _ => value,
        };
        out.push_str(&format!("{name}: {shown}\n"));
    }
    if !request.body.is_empty() {
        let body: serde_json::Value = serde_json::from_slice(&request.body).expect("request body is JSON");
        out.push('\n');
        out.push_str(&serde_json::to_string_pretty(&body).unwrap());
        out.push('\n');
    }
    out
}

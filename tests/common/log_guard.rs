// Every test binary that includes this module logs at TRACE from before `main` (its own events, the client's, the
// emulator's, and dependencies' `log` records) through a writer that ends the run if a test secret is in any line.

use std::io::Write;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

/// Every fixed secret the suite hands the client, the emulator or a token endpoint (a test that adds one adds it
/// here, or spells it with `s3cret` or `hunter2` in it, which this list holds as such).
const SECRETS: &[&str] = &[
    "s3cret",
    "hunter2",
    "SAS-SIG-123",
    // common/mod.rs
    "test-bearer-token-4f1c9a7e-secret",
    // entra.rs
    "cs~Q8x.client+secret/value=",
    "pw P@ss&word=42",
    "rt-0.AAAA.first-refresh-token",
    "rt-0.BBBB.second-refresh-token",
    "rt-0.CCCC.third-refresh-token",
    "eyJ0eXAiOiJKV1Qi.access-token-body.signature",
    // logs.rs
    "client-secret-Zq8~x",
    "p4ssw0rd-Kq2!",
    "refresh-token-0.AAAA",
    "refresh-token-1.BBBB",
    "access-token-eyJ-first",
    "access-token-eyJ-second",
    "Wq3Zk%2Bsignature",
    "Wq3Zk+signature",
    // inputs.rs, entra.rs
    "topsecretkey",
    "bearer-secret",
    "fixed-secret",
    "Jd8xLb2mQ9vWc4Rt7Yp1Zk5Ns3Hf6Ga0Ue2Io4Pa8=",
    // The emulator's development credentials.
    "insights-emulator-dev-token",
    "insights-emulator-client-secret",
    "insights-emulator-password",
];

/// How secrets made at run time begin: the emulator's refresh tokens, and its access tokens (JWT-shaped, with a
/// fixed header: `{"alg":"none","kid":"insights-emulator","typ":"JWT"}`).
pub const SECRET_PREFIXES: &[&str] =
    &["0.emulator-refresh.", "eyJhbGciOiJub25lIiwia2lkIjoiaW5zaWdodHMtZW11bGF0b3IiLCJ0eXAiOiJKV1QifQ"];

/// What is logged while a test asks for it (`None`: nothing is kept).
static CAPTURED: Mutex<Option<Vec<u8>>> = Mutex::new(None);

#[ctor::ctor(unsafe)]
fn install() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(|| Guard)
        .with_ansi(false)
        .try_init();
}

/// The capture, also after a test panicked while holding it (which must not stop every later line being checked).
fn capture() -> MutexGuard<'static, Option<Vec<u8>>> {
    CAPTURED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps every line logged from now on, for [`captured`].
pub fn start_capture() {
    capture().get_or_insert_with(Vec::new);
}

/// Every line logged since [`start_capture`].
pub fn captured() -> String {
    String::from_utf8_lossy(capture().as_deref().unwrap_or_default()).into_owned()
}

/// Every spelling looked for: each secret as given, percent-encoded as in a URL, and form-encoded as in a token
/// request's body, then the prefixes. Spelled once, not at every line logged.
static SPELLINGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let encoded = |secret: &str, kept: &[u8], space: &str| -> String {
        let spell = |b: u8| match b {
            b' ' => space.to_owned(),
            b if b.is_ascii_alphanumeric() || kept.contains(&b) => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        };
        secret.bytes().map(spell).collect()
    };
    let spellings = |secret: &str| [secret.to_owned(), encoded(secret, b"-._~", "%20"), encoded(secret, b"*-._", "+")];
    let secrets = SECRETS.iter().flat_map(|secret| spellings(secret));
    secrets.chain(SECRET_PREFIXES.iter().map(|prefix| (*prefix).to_owned())).collect()
});

/// The secret `text` holds, in any of its spellings, if it holds one.
pub fn leaked_secret(text: &str) -> Option<String> {
    SPELLINGS.iter().find(|spelling| text.contains(spelling.as_str())).cloned()
}

/// `line` with each secret cut out, to the end of the token it begins (a prefix is only the start of one).
fn without_secrets(mut line: String) -> String {
    while let Some(secret) = leaked_secret(&line) {
        let start = line.find(&secret).unwrap_or_default();
        let rest = &line[start + secret.len()..];
        let token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=%".contains(c);
        let end = start + secret.len() + rest.find(|c: char| !token(c)).unwrap_or(rest.len());
        line.replace_range(start..end, "<SECRET>");
    }
    line
}

/// The writer: each call is one formatted event.
struct Guard;

impl Write for Guard {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(bytes);
        if leaked_secret(&line).is_some() {
            // Straight to the process's stderr (a test's captured output is lost when the process aborts), and an
            // abort rather than a panic: the event may come from a task whose panic nobody would see.
            let _ = writeln!(
                std::io::stderr(),
                "a test secret reached the logs, which must never happen:\n{}",
                without_secrets(line.into_owned())
            );
            std::process::abort();
        }
        if let Some(kept) = capture().as_mut() {
            kept.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

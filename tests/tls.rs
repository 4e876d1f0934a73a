//! TLS: `https://` calls go through rustls with the crypto provider the features pick, with nothing installed
//! process-wide. A loopback socket reads the client's first bytes (its ClientHello) and hangs up; a loopback
//! rustls server presents a self-signed certificate, which the client must refuse once and for all.

#[path = "common/log_guard.rs"]
#[allow(dead_code)]
mod log_guard;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use partner_center_insights::entra::{Authority, ClientCredentials};
use partner_center_insights::{Client, ErrorKind, RetryPolicy, TokenProvider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Accepts one connection and returns what the client sent first.
async fn first_bytes_of_one_connection(listener: TcpListener) -> Vec<u8> {
    let (mut socket, _) = listener.accept().await.expect("the client connects");
    first_record(&mut socket).await
}

/// The first TLS record the client sends (its ClientHello).
async fn first_record(socket: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 2048];
    // A TLS record announces its length in bytes 3..5; read until the whole first record is in.
    while received.len() < 5 || received.len() < 5 + usize::from(u16::from_be_bytes([received[3], received[4]])) {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
    }
    received
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// The key exchange groups a ClientHello offers (its `supported_groups` extension), read field by field.
fn offered_groups(hello: &[u8]) -> Vec<u16> {
    let u16_at = |at: usize| hello.get(at..at + 2).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    // Record header (5), handshake header (4), version (2), random (32), then the session id.
    let mut at = 5 + 4 + 2 + 32;
    at += 1 + usize::from(hello.get(at).copied().unwrap_or(0));
    at += 2 + u16_at(at); // cipher suites
    at += 1 + usize::from(hello.get(at).copied().unwrap_or(0)); // compression methods
    let end = (at + 2 + u16_at(at)).min(hello.len());
    at += 2;
    while at + 4 <= end {
        let (kind, len) = (u16_at(at), u16_at(at + 2));
        if kind == 0x000a {
            let list = hello.get(at + 6..at + 6 + u16_at(at + 4)).unwrap_or_default();
            return list.chunks_exact(2).map(|g| u16::from_be_bytes([g[0], g[1]])).collect();
        }
        at += 4 + len;
    }
    Vec::new()
}

/// X25519MLKEM768, the post-quantum hybrid that rustls offers first with aws-lc-rs and that ring does not have.
const X25519_MLKEM768: u16 = 0x11ec;

#[tokio::test]
async fn https_calls_start_a_rustls_handshake_offering_http_1_1() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(first_bytes_of_one_connection(listener));

    let client = Client::builder(format!("https://localhost:{port}/insights/v1/mpn"))
        .bearer_token("a-token")
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("the default features give the client a TLS backend");
    let error = partner_center_insights::Error::from(
        client.resume_report().report_id("0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44").send().await.unwrap_err(),
    );
    let hello = server.await.unwrap();

    assert_eq!(hello.first(), Some(&0x16), "the first record is a TLS handshake: {hello:02x?}");
    assert_eq!(hello.get(5), Some(&0x01), "and it is a ClientHello");
    assert!(contains(&hello, b"localhost"), "server name indication names the host");
    assert!(contains(&hello, b"http/1.1"), "ALPN offers HTTP/1.1");
    assert!(!contains(&hello, b"a-token"), "nothing of the request leaves before the handshake");
    // Which crypto provider made it: the one the features pick.
    let groups = offered_groups(&hello);
    assert!(groups.contains(&0x001d), "X25519 is offered: {groups:04x?}");
    let aws_lc = groups.contains(&X25519_MLKEM768);
    assert_eq!(
        aws_lc,
        cfg!(feature = "rustls-aws-lc"),
        "aws-lc-rs offers X25519MLKEM768, ring does not: {groups:04x?}"
    );
    // The socket closed mid-handshake: a connection failure, not a panic and not an answer.
    assert!(matches!(error.kind(), ErrorKind::Connect | ErrorKind::Transport), "{error}");
    assert_eq!(error.status(), None);
}

#[test]
fn building_clients_installs_no_process_wide_crypto_provider() {
    let http = partner_center_insights::http_client_builder().expect("a TLS backend").build();
    assert!(http.is_ok(), "{http:?}");
    Client::builder(partner_center_insights::Program::Marketplace).bearer_token("t").build().unwrap();
    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "a library must leave the process-wide provider to the program"
    );
}

/// A TLS server on 127.0.0.1 presenting a self-signed certificate for `localhost` (valid until 2126), which no
/// root store trusts; it counts the connections it accepts.
fn untrusted_tls_server() -> (u16, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    #[cfg(feature = "rustls-ring")]
    let provider = rustls::crypto::ring::default_provider();
    #[cfg(not(feature = "rustls-ring"))]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let certificate = CertificateDer::from_pem_slice(include_bytes!("fixtures/untrusted-localhost.crt.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("fixtures/untrusted-localhost.key.pem")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    // A thread of its own, blocking: it lives as long as the test process.
    std::thread::spawn(move || {
        for mut socket in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut connection = rustls::ServerConnection::new(config.clone()).unwrap();
            // Reading drives the handshake, which the client breaks off at the certificate.
            let _ = rustls::Stream::new(&mut connection, &mut socket).read(&mut [0u8; 64]);
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn an_untrusted_certificate_fails_the_call_at_once_and_is_not_transient() {
    let (port, accepted) = untrusted_tls_server();
    // Retries on, as by default: a refused certificate must not use them.
    let client = Client::builder(format!("https://localhost:{port}/insights/v1/mpn"))
        .bearer_token("a-token")
        .retry_policy(RetryPolicy::default().initial_backoff(std::time::Duration::from_millis(1)))
        .build()
        .unwrap();
    let error = partner_center_insights::Error::from(
        client.resume_report().report_id("0c9f3f3d-2a5c-4c1a-8d7e-6b2f1e0a9c44").send().await.unwrap_err(),
    );
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    assert!(!error.is_transient());
    assert_eq!(error.attempts(), 1);
    assert!(error.to_string().starts_with("TLS handshake refused"), "{error}");
    assert!(error.to_string().contains("invalid peer certificate"), "the reason is kept: {error}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection: no retry");
}

#[tokio::test]
async fn a_token_endpoint_with_an_untrusted_certificate_is_not_transient() {
    let (port, accepted) = untrusted_tls_server();
    let credential = ClientCredentials::builder("contoso.onmicrosoft.com", "app-id", "app-secret")
        .authority(Authority::parse(&format!("https://localhost:{port}")).unwrap())
        .build()
        .unwrap();
    let error = credential.token().await.unwrap_err();
    assert!(!error.is_transient(), "{error}");
    assert!(error.to_string().starts_with("TLS handshake with the token endpoint"), "{error}");
    assert!(error.to_string().contains("invalid peer certificate"), "{error}");
    assert!(!error.to_string().contains("app-secret"));
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_server_that_finds_nothing_in_common_fails_the_call_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    // What a server that shares no TLS version or cipher suite with the client answers to its ClientHello.
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            first_record(&mut socket).await;
            // A record of type alert (21), version 3.3, 2 bytes long: fatal (2) handshake_failure (40).
            let _ = socket.write_all(&[21, 3, 3, 0, 2, 2, 40]).await;
        }
    });
    let client = Client::builder(format!("https://localhost:{port}/insights/v1/mpn"))
        .bearer_token("a-token")
        .retry_policy(RetryPolicy::default().initial_backoff(std::time::Duration::from_millis(1)))
        .build()
        .unwrap();
    let error = partner_center_insights::Error::from(client.get_reports().send().await.unwrap_err());
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    assert!(!error.is_transient());
    assert!(error.to_string().contains("received fatal alert: HandshakeFailure"), "{error}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection: no retry");
}

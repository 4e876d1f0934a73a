//! TLS: `https://` calls go through rustls with the crypto provider the features pick, with nothing installed
//! process-wide. A loopback socket reads the client's first bytes (its ClientHello) and hangs up.

use partner_center_insights::{Client, ErrorKind, RetryPolicy};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// Accepts one connection and returns what the client sent first.
async fn first_bytes_of_one_connection(listener: TcpListener) -> Vec<u8> {
    let (mut socket, _) = listener.accept().await.expect("the client connects");
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

// TLS for every HTTP client this crate builds: rustls, with the crypto provider the crate's features pick.
// One place, so the API client, the token endpoint and the emulator's callbacks cannot drift apart.

use std::sync::{Arc, OnceLock};

use crate::Error;

/// A `reqwest::ClientBuilder` set up with this crate's TLS: rustls, the platform's root certificates, HTTP/1.1.
///
/// The crypto provider is, in order: the one installed for the process
/// (`rustls::crypto::CryptoProvider::install_default`), `aws-lc-rs` when the `rustls-aws-lc` feature is on,
/// otherwise `ring` (the default feature `rustls-ring`). Use it to build a client of your own for
/// [`ClientBuilder::http_client`](crate::ClientBuilder::http_client) (a proxy, a shared pool, …).
///
/// With only `rustls-ring` on, reqwest is built without a provider of its own, so `reqwest::Client::new()`
/// elsewhere in a program panics unless a provider was installed or reqwest's `rustls` feature is on; a
/// client started from this builder never does. Its TLS settings are fixed: reqwest's own root-certificate and
/// TLS-version options do not apply to it, and the platform's root certificates are read once per process.
///
/// ```
/// # fn main() -> Result<(), partner_center_insights::Error> {
/// let http = partner_center_insights::http_client_builder()?
///     .pool_max_idle_per_host(4)
///     .build()
///     .expect("a plain client builds");
/// let client = partner_center_insights::Client::builder(partner_center_insights::Program::Marketplace)
///     .http_client(http)
///     .build()?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// When no crypto provider is available (no TLS feature on and none installed) or the platform's root
/// certificates cannot be loaded.
pub fn http_client_builder() -> Result<reqwest::ClientBuilder, Error> {
    let builder = reqwest::Client::builder();
    if rustls::crypto::CryptoProvider::get_default().is_some() || cfg!(feature = "rustls-aws-lc") {
        // reqwest picks the installed provider itself, or its own aws-lc-rs default.
        return Ok(builder);
    }
    Ok(builder.tls_backend_preconfigured(crate_config()?))
}

/// `builder` without proxies when `url` is plain `http://` to a loopback host, the only plain http this crate sends a
/// secret over: reqwest would otherwise hand such a request, token, client secret or signed link included, to a
/// proxy named in `HTTP_PROXY` or `ALL_PROXY`, in the clear (its matcher makes no exception for loopback). For a
/// client that only ever talks to that host.
pub(crate) fn direct_if_loopback_http<E>(
    builder: Result<reqwest::ClientBuilder, E>,
    url: &str,
) -> Result<reqwest::ClientBuilder, E> {
    let direct = reqwest::Url::parse(url).is_ok_and(|url| url.scheme() == "http" && crate::config::is_loopback(&url));
    builder.map(|builder| if direct { builder.no_proxy() } else { builder })
}

/// Whether `error` is a TLS handshake that failed for want of a certificate the client trusts (untrusted, expired,
/// for another name) or of a protocol version or cipher suite both sides support (either side may say so). A
/// setting to fix, not a failure that passes, so it is neither retried nor [transient](crate::Error::is_transient).
pub(crate) fn handshake_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    use rustls::Error as Tls;
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(tls) = error.downcast_ref::<Tls>() {
            use rustls::AlertDescription as Alert;
            return matches!(
                tls,
                Tls::InvalidCertificate(_)
                    | Tls::NoCertificatesPresented
                    | Tls::UnsupportedNameType
                    | Tls::PeerIncompatible(_)
                    | Tls::InvalidCertRevocationList(_)
                    // The server's side of "nothing in common".
                    | Tls::AlertReceived(Alert::ProtocolVersion | Alert::HandshakeFailure | Alert::InsufficientSecurity)
            );
        }
        // rustls reaches reqwest inside `io::Error`s (two, nested), whose `source()` skips the error each wraps.
        cause = match error.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(wrapped) => Some(wrapped as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    false
}

/// The crate's own rustls config, built once: loading the platform's root certificates is the costly part, and
/// the API client and a token endpoint each build an HTTP client.
fn crate_config() -> Result<rustls::ClientConfig, Error> {
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    let config = client_config(crate_provider()?)?;
    Ok(CONFIG.get_or_init(|| config).clone())
}

#[cfg(feature = "rustls-ring")]
fn crate_provider() -> Result<Arc<rustls::crypto::CryptoProvider>, Error> {
    Ok(Arc::new(rustls::crypto::ring::default_provider()))
}

#[cfg(not(feature = "rustls-ring"))]
fn crate_provider() -> Result<Arc<rustls::crypto::CryptoProvider>, Error> {
    Err(Error::configuration(
        "no TLS crypto provider",
        std::io::Error::other(
            "turn on the `rustls-ring` or `rustls-aws-lc` feature, or install one with \
             rustls::crypto::CryptoProvider::install_default",
        ),
    ))
}

/// What reqwest itself would build for this provider with default settings.
fn client_config(provider: Arc<rustls::crypto::CryptoProvider>) -> Result<rustls::ClientConfig, Error> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let tls_error = |e| Error::configuration("could not set up TLS", e);
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_platform_verifier()
        .map_err(tls_error)?
        .with_no_client_auth();
    // The crate speaks HTTP/1.1 only (reqwest is built without `http2`).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

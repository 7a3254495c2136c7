//! The one HTTP stack for what is not an AWS API (the registry, GitLab): hyper and rustls, as
//! the AWS SDK already brings in, with the system's roots.

use std::sync::OnceLock;

use hyper_util::client::legacy::connect::HttpConnector;

/// HTTPS (or plain HTTP, which the callers allow only to loopback) with the system's roots,
/// read once per run: the registry's and GitLab's clients share it.
pub(crate) fn connector() -> hyper_rustls::HttpsConnector<HttpConnector> {
    static CONNECTOR: OnceLock<hyper_rustls::HttpsConnector<HttpConnector>> = OnceLock::new();
    CONNECTOR.get_or_init(build).clone()
}

fn build() -> hyper_rustls::HttpsConnector<HttpConnector> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    // Without readable system roots, an empty store still serves plain-HTTP endpoints; a TLS
    // endpoint then fails with a certificate error where it is used.
    let builder = match builder.with_provider_and_native_roots(provider.clone()) {
        Ok(b) => b,
        Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
            rustls::ClientConfig::builder_with_provider(provider.into())
                .with_safe_default_protocol_versions()
                .expect("default protocol versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        ),
    };
    builder.https_or_http().enable_http1().build()
}

/// Whether `host` is this machine: the only place plain HTTP may carry a credential (a local
/// registry, GitLab or emulator).
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The User-Agent of every request ptc-rollout makes outside the AWS SDK.
pub(crate) const USER_AGENT: &str = concat!("ptc-rollout/", env!("CARGO_PKG_VERSION"));

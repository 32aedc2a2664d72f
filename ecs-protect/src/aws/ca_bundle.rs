//! `AWS_CA_BUNDLE`: a PEM file whose certificates replace the bundled roots, for
//! TLS-inspecting proxies and the ISO partitions (as the SDKs do).

use std::path::Path;

use ureq::tls::{Certificate, PemItem, RootCerts};

use crate::{Env, Error};

/// The variable naming the bundle.
pub(crate) const CA_BUNDLE: &str = "AWS_CA_BUNDLE";

/// The roots `env` asks for: the certificates of `AWS_CA_BUNDLE`, else `None` (the bundled
/// webpki roots).
///
/// # Errors
///
/// [`Error::Config`] naming `AWS_CA_BUNDLE` and the file when it cannot be read, is not
/// PEM, or holds no certificate.
pub(crate) fn from_env(env: &Env) -> Result<Option<RootCerts>, Error> {
    let Some(path) = env.get(CA_BUNDLE).map(|p| p.trim().to_owned()) else {
        return Ok(None);
    };
    if path.is_empty() {
        return Ok(None);
    }
    read(Path::new(&path)).map(Some)
}

/// The certificates of the PEM file at `path`.
fn read(path: &Path) -> Result<RootCerts, Error> {
    let error = |why: String| Error::config(CA_BUNDLE, format!("{}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| error(format!("cannot read the file ({e})")))?;
    let mut certificates: Vec<Certificate<'static>> = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        let item = item.map_err(|e| error(format!("malformed PEM ({e})")))?;
        if let PemItem::Certificate(cert) = item {
            certificates.push(cert);
        }
    }
    if certificates.is_empty() {
        return Err(error(
            "no certificate found (expected PEM \"-----BEGIN CERTIFICATE-----\" blocks)".to_owned(),
        ));
    }
    Ok(RootCerts::from(certificates))
}

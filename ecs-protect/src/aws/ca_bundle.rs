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

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed P-256 certificate (a test root; its key was thrown away).
    const ROOT: &str = "-----BEGIN CERTIFICATE-----
MIIBlzCCAT2gAwIBAgIUATp4BcDwIzvGf1GS3RosfzgUxzwwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVZWNzLXByb3RlY3QgdGVzdCByb290MCAXDTI2MTEzMDAwNDEw
M1oYDzIxMjYxMTA2MDA0MTAzWjAgMR4wHAYDVQQDDBVlY3MtcHJvdGVjdCB0ZXN0
IHJvb3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATzIJ0xBX9OJ/NmxCyklX2h
7S08GMBqiptAR+lOZwaETP2TKcPkcfE9JIEbG/WPsy4SYKq4m44hSPz6GT17r5Fn
o1MwUTAdBgNVHQ4EFgQUmu2+vqf5qMM4Z5e1/y3o0gb1zDowHwYDVR0jBBgwFoAU
mu2+vqf5qMM4Z5e1/y3o0gb1zDowDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiEAv2Hiwoiqmbx4aEyLgI8gXzrSAPv6VGQYfLdFhi2+SeMCIB4NAll1
QvQ6SCAqGX6hQMkssvs2voF8bOrpsyNqAOHC
-----END CERTIFICATE-----
";

    fn bundle(name: &str, contents: Option<&str>) -> (Env, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("ecs-protect-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        if let Some(contents) = contents {
            std::fs::write(&path, contents).unwrap();
        }
        let env = Env::from_vars([(CA_BUNDLE, path.to_str().unwrap())]);
        (env, path)
    }

    #[test]
    fn a_valid_bundle_replaces_the_roots() {
        let (env, _) = bundle("valid.pem", Some(&format!("# comment\n{ROOT}{ROOT}")));
        match from_env(&env).unwrap() {
            Some(RootCerts::Specific(certs)) => assert_eq!(certs.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(
            from_env(&Env::from_vars([("AWS_REGION", "eu-west-1")]))
                .unwrap()
                .is_none()
        );
        assert!(
            from_env(&Env::from_vars([(CA_BUNDLE, "  ")]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_missing_empty_or_malformed_bundle_is_an_error_naming_it() {
        let (env, path) = bundle("missing.pem", None);
        let err = from_env(&env).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "invalid AWS_CA_BUNDLE: {}: cannot read the file (",
                path.display()
            )),
            "{err}"
        );
        let (env, path) = bundle("empty.pem", Some(""));
        assert_eq!(
            from_env(&env).unwrap_err().to_string(),
            format!(
                "invalid AWS_CA_BUNDLE: {}: no certificate found (expected PEM \"-----BEGIN CERTIFICATE-----\" blocks)",
                path.display()
            )
        );
        let (env, _) = bundle("der.pem", Some("not a PEM file at all"));
        assert!(
            from_env(&env)
                .unwrap_err()
                .to_string()
                .contains("no certificate found")
        );
        let (env, _) = bundle("broken.pem", Some("-----BEGIN CERTIFICATE-----\nAAAA\n"));
        let err = from_env(&env).unwrap_err().to_string();
        assert!(err.starts_with("invalid AWS_CA_BUNDLE: "), "{err}");
    }
}

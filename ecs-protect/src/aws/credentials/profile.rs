//! The shared config and credentials files (`~/.aws/config`, `~/.aws/credentials`): a
//! profile's static keys or its `credential_process`.
//!
//! Read: `AWS_PROFILE` (default `default`), `AWS_SHARED_CREDENTIALS_FILE` (default
//! `~/.aws/credentials`), `AWS_CONFIG_FILE` (default `~/.aws/config`), `HOME` (or
//! `USERPROFILE`) for `~`. A profile's keys in the credentials file override the same keys
//! in the config file. Within a profile, static keys (`aws_access_key_id`,
//! `aws_secret_access_key`, `aws_session_token`) win over `credential_process`, as in
//! botocore and the Go SDK. Assume-role (`role_arn`), web identity and SSO token settings
//! are not supported: a profile using only those is an error saying so (SSO works through
//! `credential_process = aws configure export-credentials --profile NAME --format process`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::process::ProcessProvider;
use super::{Credentials, ProvideCredentials, StaticProvider};
use crate::{Env, Error};

const PROFILE: &str = "AWS_PROFILE";
const CREDENTIALS_FILE: &str = "AWS_SHARED_CREDENTIALS_FILE";
const CONFIG_FILE: &str = "AWS_CONFIG_FILE";

/// Settings this crate does not implement, and what they are.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("role_arn", "assume-role"),
    ("web_identity_token_file", "web identity"),
    ("sso_session", "SSO"),
    ("sso_start_url", "SSO"),
    ("credential_source", "assume-role"),
];

/// One file's profiles: name to its keys (lowercase) and values.
type Profiles = BTreeMap<String, BTreeMap<String, String>>;

/// The provider of the selected profile; `None` when no profile is selected explicitly and
/// the `default` profile is absent or holds no credentials.
///
/// # Errors
///
/// [`Error::Config`] naming `AWS_PROFILE` when the profile it names is in neither file or
/// has no usable credentials, or naming the file and profile for a half-set key pair or a
/// value that cannot be sent.
pub(crate) fn from_env(env: &Env) -> Result<Option<Arc<dyn ProvideCredentials>>, Error> {
    let explicit = env
        .get(PROFILE)
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    let name = explicit.clone().unwrap_or_else(|| "default".to_owned());
    let home = env.get("HOME").or_else(|| env.get("USERPROFILE"));
    let credentials_path = file_path(env, CREDENTIALS_FILE, "credentials", home.as_deref());
    let config_path = file_path(env, CONFIG_FILE, "config", home.as_deref());

    let mut merged: Option<(BTreeMap<String, String>, String)> = None;
    for (path, is_config) in [(&config_path, true), (&credentials_path, false)] {
        let Some(path) = path else { continue };
        let Some(profiles) = read(path, is_config)? else {
            continue;
        };
        if let Some(keys) = profiles.get(&name) {
            let (all, files) = merged.get_or_insert_with(Default::default);
            all.extend(keys.clone());
            if !files.is_empty() {
                files.push_str(" and ");
            }
            files.push_str(&path.display().to_string());
        }
    }
    let Some((keys, files)) = merged else {
        if explicit.is_some() {
            let looked: Vec<String> = [&config_path, &credentials_path]
                .into_iter()
                .flatten()
                .map(|p| p.display().to_string())
                .collect();
            return Err(Error::config(
                PROFILE,
                format!(
                    "profile {name:?} was not found in {}",
                    if looked.is_empty() {
                        "any file (HOME is not set)".to_owned()
                    } else {
                        looked.join(" or ")
                    }
                ),
            ));
        }
        return Ok(None);
    };
    let origin = format!("profile {name} in {files}");
    let get = |key: &str| {
        keys.get(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => {
            let creds = Credentials::new(id, secret, get("aws_session_token"));
            creds.check(&origin)?;
            return Ok(Some(Arc::new(StaticProvider(creds))));
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(Error::config(
                origin,
                "sets only one of aws_access_key_id and aws_secret_access_key: set both",
            ));
        }
        (None, None) => {}
    }
    if let Some(command) = get("credential_process") {
        return Ok(Some(Arc::new(ProcessProvider::new(command, origin))));
    }
    let unsupported = UNSUPPORTED
        .iter()
        .find(|(key, _)| keys.contains_key(*key))
        .map(|(key, what)| format!("{key} ({what}) is not supported by ecs-protect"));
    match (explicit, unsupported) {
        (_, Some(why)) => Err(Error::config(
            origin,
            format!(
                "has no static keys nor credential_process; {why}: use credential_process \
                 (e.g. `aws configure export-credentials --profile NAME --format process`)"
            ),
        )),
        (Some(_), None) => Err(Error::config(
            origin,
            "has no credentials: set aws_access_key_id and aws_secret_access_key, or \
             credential_process",
        )),
        // A default profile with only a region, say: the chain goes on.
        (None, None) => Ok(None),
    }
}

/// The file `variable` names, else `~/.aws/<name>`; `~/` expanded with `home`.
fn file_path(env: &Env, variable: &str, name: &str, home: Option<&str>) -> Option<PathBuf> {
    match env.get(variable).map(|p| p.trim().to_owned()) {
        Some(path) if !path.is_empty() => match (path.strip_prefix("~/"), home) {
            (Some(rest), Some(home)) => Some(Path::new(home).join(rest)),
            _ => Some(PathBuf::from(path)),
        },
        _ => home.map(|home| Path::new(home).join(".aws").join(name)),
    }
}

/// The profiles of the file at `path`; `None` when it does not exist.
fn read(path: &Path, is_config: bool) -> Result<Option<Profiles>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(parse(&text, is_config))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::config(
            path.display().to_string(),
            format!("cannot read the file: {e}"),
        )),
    }
}

/// Parses an AWS profile file. Section headers are `[name]` in the credentials file and
/// `[profile name]` (or `[default]`) in the config file; other sections (`[sso-session x]`,
/// `[services x]`) are skipped. Lines starting with `#` or `;` are comments; indented lines
/// (sub-settings such as `s3 =` blocks) are skipped.
pub(crate) fn parse(text: &str, is_config: bool) -> Profiles {
    let mut profiles = Profiles::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            let Some((header, _)) = header.split_once(']') else {
                current = None;
                continue;
            };
            let header = header.trim();
            current = if !is_config {
                Some(header.to_owned())
            } else if header == "default" {
                Some("default".to_owned())
            } else {
                header
                    .strip_prefix("profile")
                    .filter(|rest| rest.starts_with([' ', '\t']))
                    .map(|rest| rest.trim().to_owned())
            };
            if let Some(name) = &current {
                profiles.entry(name.clone()).or_default();
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let (Some(name), Some((key, value))) = (&current, trimmed.split_once('=')) else {
            continue;
        };
        profiles
            .entry(name.clone())
            .or_default()
            .insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    profiles
}

#[cfg(test)]
mod tests;

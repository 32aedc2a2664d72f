//! The shared config and credentials files (`~/.aws/config`, `~/.aws/credentials`): a
//! profile's static keys or its `credential_process`.
//!
//! Read: `AWS_PROFILE` (default `default`), `AWS_SHARED_CREDENTIALS_FILE` (default
//! `~/.aws/credentials`), `AWS_CONFIG_FILE` (default `~/.aws/config`), `HOME` (or
//! `USERPROFILE`) for `~`. A profile's keys in the credentials file override the same keys
//! in the config file. Within a profile, static keys (`aws_access_key_id`,
//! `aws_secret_access_key`, `aws_session_token`) win over `credential_process`, as in
//! botocore and the Go SDK. Assume-role (`role_arn`, `credential_source`) and web identity
//! (`web_identity_token_file`) are not supported: a profile with any of them is an error
//! whatever else it holds, because the SDKs would sign as the role, never with the
//! profile's own keys. SSO token settings are not supported either: a profile using only
//! those is an error saying so (SSO works through
//! `credential_process = aws configure export-credentials --profile NAME --format process`).
//!
//! Lines are read as botocore's parser (Python's `configparser`) reads them: a key line may
//! be indented; a line indented deeper than the key line before it continues that key's
//! value (the `s3 =` blocks of sub-settings, skipped here). A continuation of a non-empty
//! value would make a multi-line value, which no setting read here accepts: it is an error
//! naming the file and the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::process::ProcessProvider;
use super::{Credentials, ProvideCredentials, StaticProvider};
use crate::{Env, Error};

const PROFILE: &str = "AWS_PROFILE";
const CREDENTIALS_FILE: &str = "AWS_SHARED_CREDENTIALS_FILE";
const CONFIG_FILE: &str = "AWS_CONFIG_FILE";

/// Settings that make the SDKs sign as a role, never with the profile's own keys: a
/// profile with any of them is refused whatever else it holds, and what they are.
const ROLE_SETTINGS: &[(&str, &str)] = &[
    ("role_arn", "assume-role"),
    ("credential_source", "assume-role"),
    ("web_identity_token_file", "web identity"),
];

/// Token settings this crate does not implement (a profile using only these is refused),
/// and what they are.
const UNSUPPORTED: &[(&str, &str)] = &[("sso_session", "SSO"), ("sso_start_url", "SSO")];

/// A provider and what its source is.
type Described = (Arc<dyn ProvideCredentials>, String);

/// One file's profiles: name to its keys (lowercase) and values.
type Profiles = BTreeMap<String, BTreeMap<String, String>>;

/// As [`from_env_described`], without the description.
///
/// # Errors
///
/// As [`from_env_described`].
#[cfg(test)]
pub(crate) fn from_env(env: &Env) -> Result<Option<Arc<dyn ProvideCredentials>>, Error> {
    from_env_described(env).map(|found| found.map(|(provider, _)| provider))
}

/// The provider of the selected profile and what its source is (`profile dev in
/// /home/me/.aws/credentials (static keys)` or `(credential_process)`); `None` when no
/// profile is selected explicitly and the `default` profile is absent or holds no
/// credentials.
///
/// # Errors
///
/// [`Error::Config`] naming `AWS_PROFILE` when the profile it names is in neither file or
/// has no usable credentials; naming the file and profile for `role_arn`,
/// `credential_source` or `web_identity_token_file` (whatever else the profile holds), a
/// half-set key pair or a value that cannot be sent; naming the file and line for a line
/// that continues a non-empty value.
pub(crate) fn from_env_described(env: &Env) -> Result<Option<Described>, Error> {
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
    if let Some((key, what)) = ROLE_SETTINGS
        .iter()
        .find(|(key, _)| keys.contains_key(*key))
    {
        return Err(Error::config(
            origin,
            format!(
                "unsupported: {what} profile ({key} is set): ecs-protect does not assume \
                 roles, and never signs with the profile's own keys in the role's place; use \
                 credential_process (e.g. `aws configure export-credentials --profile NAME \
                 --format process`)"
            ),
        ));
    }
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => {
            let creds = Credentials::new(id, secret, get("aws_session_token"));
            creds.check(&origin)?;
            let source = format!("{origin} (static keys)");
            return Ok(Some((Arc::new(StaticProvider(creds)), source)));
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
        let source = format!("{origin} (credential_process)");
        return Ok(Some((
            Arc::new(ProcessProvider::new(command, origin)),
            source,
        )));
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
        Ok(text) => parse(&text, is_config)
            .map(Some)
            .map_err(|(line, message)| {
                Error::config(format!("{} line {line}", path.display()), message)
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::config(
            path.display().to_string(),
            format!("cannot read the file: {e}"),
        )),
    }
}

/// Parses an AWS profile file. Section headers are `[name]` in the credentials file and
/// `[profile name]` (or `[default]`) in the config file; other sections (`[sso-session x]`,
/// `[services x]`) are skipped. Lines starting with `#` or `;` are comments. As in
/// botocore, a key line may be indented, and a line indented deeper than the key line
/// before it continues that key: the sub-settings of an empty value (`s3 =` blocks) are
/// skipped.
///
/// # Errors
///
/// The 1-based line number and a message, for a line continuing a non-empty value.
pub(crate) fn parse(text: &str, is_config: bool) -> Result<Profiles, (usize, String)> {
    let mut profiles = Profiles::new();
    let mut current: Option<String> = None;
    // The last key line's key, whether its value was empty, and its indentation.
    let mut last_key: Option<(String, bool, usize)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if let Some((key, empty, key_indent)) = &last_key
            && indent > *key_indent
        {
            if *empty || current.is_none() {
                continue;
            }
            return Err((
                index + 1,
                format!(
                    "this indented line continues the value of {key} on a line above, \
                     making it a multi-line value; remove the indentation if it is a \
                     setting of its own"
                ),
            ));
        }
        last_key = None;
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
        let Some((key, value)) = trimmed.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        last_key = Some((key.clone(), value.trim().is_empty(), indent));
        let Some(name) = &current else { continue };
        profiles
            .entry(name.clone())
            .or_default()
            .insert(key, value.trim().to_owned());
    }
    Ok(profiles)
}

#[cfg(test)]
mod tests;

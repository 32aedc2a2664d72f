//! `credential_process`: a command from a profile that prints credentials as JSON (this
//! also covers SSO through `aws configure export-credentials --format process`).

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Credentials, ProvideCredentials};
use crate::Error;
use crate::aws::time;

/// How long the command may run (the Go SDK's default).
const TIMEOUT: Duration = Duration::from_secs(60);
/// How much of the command's stderr an error quotes.
const STDERR_QUOTED: usize = 300;
/// How much of the command's stderr is kept; the rest is read and dropped, so that a
/// chatty command (`aws configure export-credentials --debug`) never meets a closed pipe.
const STDERR_KEPT: usize = 64 * 1024;

/// Runs `credential_process` at every fetch (the cache decides when) through the shell:
/// `sh -c` (`cmd.exe /C` on Windows), as the SDKs do.
#[derive(Debug)]
pub(crate) struct ProcessProvider {
    command: String,
    /// `profile dev in /home/me/.aws/config`, for errors.
    origin: String,
}

impl ProcessProvider {
    pub(crate) fn new(command: String, origin: String) -> Self {
        ProcessProvider { command, origin }
    }

    fn error(&self, message: String) -> Error {
        Error::Credentials {
            origin: format!("credential_process of {}", self.origin),
            message,
            source: None,
        }
    }

    /// Runs the command; its stdout, or an error with its exit status and stderr.
    fn run(&self) -> Result<Vec<u8>, Error> {
        let mut command = if cfg!(windows) {
            let mut c = Command::new("cmd.exe");
            c.arg("/C").arg(&self.command);
            c
        } else {
            let mut c = Command::new("sh");
            c.arg("-c").arg(&self.command);
            c
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.error(format!("cannot start the shell: {e}")))?;
        // Read both pipes on threads so that a chatty command cannot block on a full pipe.
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let out = thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = s.take(super::super::http::BODY_LIMIT).read_to_end(&mut buf);
            }
            buf
        });
        let err = thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stderr.as_mut() {
                let _ = read_keeping(s, STDERR_KEPT, &mut buf);
            }
            buf
        });
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(self.error(format!(
                        "the command did not finish within {} s and was stopped",
                        TIMEOUT.as_secs()
                    )));
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(self.error(format!("cannot wait for the command: {e}"))),
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if !status.success() {
            let stderr = String::from_utf8_lossy(&stderr);
            let stderr = stderr.trim();
            let quoted: String = stderr.chars().take(STDERR_QUOTED).collect();
            let mut message = format!("the command failed ({status})");
            if !quoted.is_empty() {
                message.push_str(&format!(": {quoted}"));
            }
            return Err(self.error(message));
        }
        Ok(stdout)
    }
}

/// Reads `reader` to its end, keeping its first `keep` bytes in `kept`.
fn read_keeping(reader: &mut impl Read, keep: usize, kept: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 8192];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let room = keep.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
}

impl ProvideCredentials for ProcessProvider {
    fn fetch(&self) -> Result<Credentials, Error> {
        let stdout = self.run()?;
        let creds = parse(&stdout).map_err(|m| self.error(format!("unexpected output: {m}")))?;
        creds.check(&format!("credential_process of {}", self.origin))?;
        Ok(creds)
    }
}

/// Decodes `{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?,
/// "Expiration"?}`; the error names the field, never a value.
pub(crate) fn parse(stdout: &[u8]) -> Result<Credentials, String> {
    let value: Value = serde_json::from_slice(stdout)
        .map_err(|e| format!("expected a JSON object, got malformed JSON ({e})"))?;
    if !value.is_object() {
        return Err("expected a JSON object".to_owned());
    }
    match value.get("Version") {
        Some(v) if v.as_u64() == Some(1) => {}
        Some(v) => return Err(format!("field Version: expected 1, got {v}")),
        None => return Err("missing field Version (expected 1)".to_owned()),
    }
    let text = |name: &str, required: bool| -> Result<Option<String>, String> {
        match value.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(format!("field {name} is empty")),
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(format!("missing field {name}")),
            Some(_) => Err(format!("field {name} is not a string")),
        }
    };
    let id = text("AccessKeyId", true)?.unwrap_or_default();
    let secret = text("SecretAccessKey", true)?.unwrap_or_default();
    let token = text("SessionToken", false)?;
    let creds = Credentials::new(id, secret, token);
    match text("Expiration", false)? {
        None => Ok(creds),
        Some(expiration) => time::parse_rfc3339(&expiration)
            .map(|at| creds.expiring(at))
            .ok_or_else(|| {
                format!("field Expiration: expected an RFC 3339 time, got {expiration:?}")
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_the_field_and_hides_secrets() {
        let ok = parse(
            br#"{"Version":1,"AccessKeyId":"ASIA1","SecretAccessKey":"s3cr3t","SessionToken":"t0k","Expiration":"2026-11-24T21:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(ok.access_key_id(), "ASIA1");
        assert_eq!(ok.session_token(), Some("t0k"));
        assert_eq!(ok.expires_at(), time::parse_rfc3339("2026-11-24T21:00:00Z"));
        let long_term =
            parse(br#"{"Version":1,"AccessKeyId":"AKIA1","SecretAccessKey":"s3cr3t"}"#).unwrap();
        assert_eq!(
            (long_term.session_token(), long_term.expires_at()),
            (None, None)
        );
        for (body, expected) in [
            ("not json", "expected a JSON object, got malformed JSON"),
            ("[1]", "expected a JSON object"),
            (
                r#"{"AccessKeyId":"A","SecretAccessKey":"s3cr3t"}"#,
                "missing field Version",
            ),
            (
                r#"{"Version":2,"AccessKeyId":"A","SecretAccessKey":"s3cr3t"}"#,
                "field Version: expected 1, got 2",
            ),
            (
                r#"{"Version":1,"SecretAccessKey":"s3cr3t"}"#,
                "missing field AccessKeyId",
            ),
            (
                r#"{"Version":1,"AccessKeyId":"A","SecretAccessKey":"s3cr3t","Expiration":"soon"}"#,
                "field Expiration: expected an RFC 3339 time, got \"soon\"",
            ),
        ] {
            let err = parse(body.as_bytes()).unwrap_err();
            assert!(err.starts_with(expected), "{err}");
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }
}

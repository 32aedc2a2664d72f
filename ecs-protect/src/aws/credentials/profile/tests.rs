//! Profiles: static keys, `credential_process` (a small script printing the JSON), a
//! missing profile, a failing process, bad JSON; each error clear.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A fresh directory with `config` and `credentials` files as given (`None`: absent).
fn home(config: Option<&str>, credentials: Option<&str>) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ecs-protect-profile-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let aws = dir.join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    if let Some(text) = config {
        std::fs::write(aws.join("config"), text).unwrap();
    }
    if let Some(text) = credentials {
        std::fs::write(aws.join("credentials"), text).unwrap();
    }
    dir
}

fn provider(
    home: &Path,
    extra: &[(&str, &str)],
) -> Result<Option<Arc<dyn ProvideCredentials>>, Error> {
    let mut vars = vec![("HOME".to_owned(), home.display().to_string())];
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    from_env(&Env::from_vars(vars))
}

/// A shell script printing `output` and exiting with `status`.
fn script(dir: &Path, name: &str, output: &str, status: i32) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\ncat <<'JSON'\n{output}\nJSON\necho 'diagnostic on stderr' >&2\nexit {status}\n"),
    )
    .unwrap();
    format!("sh {}", path.display())
}

#[test]
fn parses_both_file_formats() {
    let config = parse(
        "# comment\n[default]\nregion = eu-west-1\n[profile dev]\naws_access_key_id = AKIADEV\n\
         s3 =\n  max_concurrent_requests = 10\n; another\n[sso-session corp]\nsso_region = x\n\
         [profile  spaced ]\nKey = Value\n[profileless]\nx = y\n",
        true,
    )
    .unwrap();
    assert_eq!(config["default"]["region"], "eu-west-1");
    assert_eq!(config["dev"]["aws_access_key_id"], "AKIADEV");
    assert_eq!(config["dev"]["s3"], "");
    assert!(!config["dev"].contains_key("max_concurrent_requests"));
    assert_eq!(config["spaced"]["key"], "Value");
    assert!(!config.contains_key("corp") && !config.contains_key("sso-session corp"));
    assert!(!config.contains_key("profileless") && !config.contains_key("less"));
    let credentials = parse("[dev]\naws_secret_access_key=s = with equals\n", false).unwrap();
    assert_eq!(
        credentials["dev"]["aws_secret_access_key"],
        "s = with equals"
    );
}

#[test]
fn a_profile_with_static_keys() {
    let dir = home(
        Some("[profile dev]\nregion = eu-west-1\naws_access_key_id = AKIACONFIG\n"),
        Some(
            "[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = dev-secret\n\
              aws_session_token = dev-token\n[default]\naws_access_key_id = AKIADEFAULT\n\
              aws_secret_access_key = default-secret\n",
        ),
    );
    // The credentials file wins over the config file for the same key.
    let dev = provider(&dir, &[("AWS_PROFILE", "dev")]).unwrap().unwrap();
    let creds = dev.fetch().unwrap();
    assert_eq!(creds.access_key_id(), "AKIADEV");
    assert_eq!(creds.secret_access_key(), "dev-secret");
    assert_eq!(creds.session_token(), Some("dev-token"));
    // No AWS_PROFILE: the default profile.
    let default = provider(&dir, &[]).unwrap().unwrap().fetch().unwrap();
    assert_eq!(default.access_key_id(), "AKIADEFAULT");
    assert_eq!(default.session_token(), None);
    // Without HOME, USERPROFILE (Windows) locates the files.
    let windows = from_env(&Env::from_vars([("USERPROFILE", dir.to_str().unwrap())]))
        .unwrap()
        .unwrap();
    assert_eq!(windows.fetch().unwrap().access_key_id(), "AKIADEFAULT");
    // Files named by variables (`~/` expanded).
    let other = home(None, None);
    std::fs::write(
        other.join("creds.ini"),
        "[x]\naws_access_key_id=AKIAX\naws_secret_access_key=s\n",
    )
    .unwrap();
    let named = provider(
        &other,
        &[
            ("AWS_PROFILE", " x "),
            ("AWS_SHARED_CREDENTIALS_FILE", "~/creds.ini"),
        ],
    )
    .unwrap()
    .unwrap();
    assert_eq!(named.fetch().unwrap().access_key_id(), "AKIAX");
}

#[test]
fn a_missing_profile_or_one_without_credentials() {
    let dir = home(
        Some("[default]\nregion = eu-west-1\n[profile bare]\nregion = x\n"),
        None,
    );
    // The default profile with a region only: this source has nothing, the chain goes on.
    assert!(provider(&dir, &[]).unwrap().is_none());
    // No files at all, no AWS_PROFILE: nothing.
    assert!(provider(&home(None, None), &[]).unwrap().is_none());
    assert!(
        from_env(&Env::from_vars([("AWS_REGION", "eu-west-1")]))
            .unwrap()
            .is_none()
    );

    let err = provider(&dir, &[("AWS_PROFILE", "prod")])
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        format!(
            "invalid AWS_PROFILE: profile \"prod\" was not found in {} or {}",
            dir.join(".aws/config").display(),
            dir.join(".aws/credentials").display()
        )
    );
    let err = provider(&dir, &[("AWS_PROFILE", "bare")])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("invalid profile bare in ")
            && err.ends_with(
                "has no credentials: set aws_access_key_id and \
                              aws_secret_access_key, or credential_process"
            ),
        "{err}"
    );
    let half = home(None, Some("[default]\naws_access_key_id = AKIA\n"));
    let err = provider(&half, &[]).err().unwrap().to_string();
    assert!(
        err.ends_with("sets only one of aws_access_key_id and aws_secret_access_key: set both"),
        "{err}"
    );
    let role = home(
        Some("[profile r]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = d\n"),
        None,
    );
    let err = provider(&role, &[("AWS_PROFILE", "r")])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("unsupported: assume-role profile (role_arn is set)"),
        "{err}"
    );
    let bad = home(
        None,
        Some("[default]\naws_access_key_id = AKIA\naws_secret_access_key = has space\n"),
    );
    let err = provider(&bad, &[]).err().unwrap().to_string();
    assert!(
        err.ends_with("the secret access key contains a space, which cannot be sent in a header"),
        "{err}"
    );
    assert!(!err.contains("has space"));
}

#[cfg(unix)]
#[test]
fn a_profile_with_credential_process() {
    let dir = home(None, None);
    let ok = script(
        &dir,
        "ok.sh",
        r#"{"Version": 1, "AccessKeyId": "ASIAPROC", "SecretAccessKey": "proc-secret", "SessionToken": "proc-token", "Expiration": "2099-01-01T00:00:00Z"}"#,
        0,
    );
    std::fs::write(
        dir.join(".aws/config"),
        format!("[profile proc]\ncredential_process = {ok}\n"),
    )
    .unwrap();
    let proc = provider(&dir, &[("AWS_PROFILE", "proc")]).unwrap().unwrap();
    let creds = proc.fetch().unwrap();
    assert_eq!(creds.access_key_id(), "ASIAPROC");
    assert_eq!(creds.secret_access_key(), "proc-secret");
    assert_eq!(creds.session_token(), Some("proc-token"));
    assert_eq!(
        creds.expires_at(),
        crate::aws::time::parse_rfc3339("2099-01-01T00:00:00Z")
    );
    // Static keys in the same profile win, as in botocore and the Go SDK.
    std::fs::write(
        dir.join(".aws/credentials"),
        "[proc]\naws_access_key_id = AKIASTATIC\naws_secret_access_key = s\n",
    )
    .unwrap();
    let both = provider(&dir, &[("AWS_PROFILE", "proc")]).unwrap().unwrap();
    assert_eq!(both.fetch().unwrap().access_key_id(), "AKIASTATIC");
}

#[cfg(unix)]
#[test]
fn a_failing_credential_process_or_bad_json_is_a_clear_error() {
    let dir = home(None, None);
    let failing = script(&dir, "fail.sh", "", 3);
    let bad_json = script(&dir, "bad.sh", "{\"Version\": 1, \"AccessKeyId\": ", 0);
    let no_version = script(
        &dir,
        "old.sh",
        r#"{"AccessKeyId": "A", "SecretAccessKey": "s3cr3t"}"#,
        0,
    );
    std::fs::write(
        dir.join(".aws/config"),
        format!(
            "[profile failing]\ncredential_process = {failing}\n\
             [profile bad]\ncredential_process = {bad_json}\n\
             [profile old]\ncredential_process = {no_version}\n\
             [profile absent]\ncredential_process = /nonexistent/helper --flag\n"
        ),
    )
    .unwrap();
    let config = dir.join(".aws/config").display().to_string();
    let fetch = |profile: &str| {
        provider(&dir, &[("AWS_PROFILE", profile)])
            .unwrap()
            .unwrap()
            .fetch()
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        fetch("failing"),
        format!(
            "could not load AWS credentials from credential_process of profile failing in \
             {config}: the command failed (exit status: 3): diagnostic on stderr"
        )
    );
    let bad = fetch("bad");
    assert!(
        bad.starts_with(&format!(
            "could not load AWS credentials from credential_process of profile bad in {config}: \
             unexpected output: expected a JSON object, got malformed JSON"
        )),
        "{bad}"
    );
    let old = fetch("old");
    assert!(
        old.ends_with("unexpected output: missing field Version (expected 1)"),
        "{old}"
    );
    assert!(!old.contains("s3cr3t"));
    let absent = fetch("absent");
    assert!(
        absent.contains("the command failed (exit status: 127)"),
        "{absent}"
    );
}

/// Issue 19: a profile with `role_arn` or `credential_source` is the assume-role error
/// whatever else it holds (its own keys only ever serve to assume the role), and one with
/// `web_identity_token_file` the web identity error: never a provider that would sign as
/// the base keys.
#[test]
fn a_role_profile_never_signs_with_its_own_keys() {
    for (setting, what) in [
        (
            "role_arn = arn:aws:iam::1:role/x\nsource_profile = default",
            "assume-role",
        ),
        (
            "role_arn = arn:aws:iam::1:role/x\ncredential_source = Environment",
            "assume-role",
        ),
        ("credential_source = EcsContainer", "assume-role"),
        (
            "web_identity_token_file = /var/run/token\nrole_arn = arn:aws:iam::1:role/x",
            "assume-role",
        ),
        ("web_identity_token_file = /var/run/token", "web identity"),
    ] {
        let keys = "aws_access_key_id = AKIABASE\naws_secret_access_key = base-secret\n\
                    credential_process = echo never-run";
        for (config, credentials) in [
            (format!("[default]\n{setting}\n{keys}\n"), String::new()),
            (
                format!("[default]\n{setting}\n"),
                format!("[default]\n{keys}\n"),
            ),
        ] {
            let dir = home(Some(&config), Some(&credentials));
            for extra in [&[][..], &[("AWS_PROFILE", "default")]] {
                let err = provider(&dir, extra).err().unwrap().to_string();
                assert!(
                    err.starts_with("invalid profile default in ")
                        && err.contains(&format!("unsupported: {what} profile (")),
                    "{setting}: {err}"
                );
                assert!(!err.contains("base-secret"), "{err}");
            }
        }
    }
}

/// Issue 19: keys indented under a profile are read as botocore (configparser) reads them;
/// a line continuing a non-empty value is an error naming the file and the line, never a
/// profile that looks empty (which sent the chain on to the container's credentials).
#[test]
fn indented_keys_are_read_or_rejected_with_file_and_line() {
    let indented = home(
        None,
        Some("[default]\n  aws_access_key_id = AKIAINDENTED\n  aws_secret_access_key = s\n"),
    );
    let creds = provider(&indented, &[]).unwrap().unwrap().fetch().unwrap();
    assert_eq!(creds.access_key_id(), "AKIAINDENTED");
    // Sub-settings of an empty value are skipped; keys after them are read.
    let nested = parse(
        "[profile dev]\n\ts3 =\n\t    max_concurrent_requests = 10\n\tregion = eu-west-1\n",
        true,
    )
    .unwrap();
    assert_eq!(nested["dev"]["region"], "eu-west-1");
    assert!(!nested["dev"].contains_key("max_concurrent_requests"));

    let continued = home(
        None,
        Some("[default]\naws_access_key_id = AKIAX\n  aws_secret_access_key = s\n"),
    );
    let err = provider(&continued, &[]).err().unwrap().to_string();
    let file = continued.join(".aws/credentials").display().to_string();
    assert!(
        err.starts_with(&format!(
            "invalid {file} line 3: this indented line continues the value of aws_access_key_id"
        )),
        "{err}"
    );
}

/// Issue 19: a `credential_process` may write far more than 64 KiB to stderr: it is read
/// to the end, so the command never dies of SIGPIPE (exit status 141 before).
#[cfg(unix)]
#[test]
fn a_chatty_credential_process_is_read_to_the_end() {
    let dir = home(None, None);
    let path = dir.join("chatty.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\nline=0123456789012345678901234567890123456789012345678901234567890123456789\n\
         i=0\nwhile [ $i -lt 5000 ]; do echo \"$i $line\" >&2; i=$((i+1)); done\n\
         echo '{\"Version\": 1, \"AccessKeyId\": \"ASIACHATTY\", \"SecretAccessKey\": \"s\"}'\n",
    )
    .unwrap();
    std::fs::write(
        dir.join(".aws/config"),
        format!("[default]\ncredential_process = sh {}\n", path.display()),
    )
    .unwrap();
    let creds = provider(&dir, &[]).unwrap().unwrap().fetch().unwrap();
    assert_eq!(creds.access_key_id(), "ASIACHATTY");
    // A failing chatty command: the error quotes the start of its stderr.
    std::fs::write(
        &path,
        "#!/bin/sh\ni=0\nwhile [ $i -lt 5000 ]; do echo \"line $i of the debug log\" >&2; \
         i=$((i+1)); done\nexit 4\n",
    )
    .unwrap();
    let err = provider(&dir, &[])
        .unwrap()
        .unwrap()
        .fetch()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the command failed (exit status: 4): line 0 of the debug log"),
        "{err}"
    );
}

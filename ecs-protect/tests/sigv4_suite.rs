//! The official AWS SigV4 test vectors, read in place and checked byte for byte: one test
//! per case folder.
//!
//! The vectors are the "common CRT signing test suite" from
//! <https://github.com/awslabs/aws-c-auth>, folder `tests/aws-signing-test-suite/v4`
//! (Apache-2.0). They are not copied into this repository: the test reads them from
//! `SIGV4_SUITE_DIR`, by default `../shared/sigv4-suite` beside the repository. Without
//! them every case is reported as ignored, with where to get them;
//! `SIGV4_SUITE_REQUIRED=1` (set by `.ci/run`) turns missing vectors into failures.
//!
//! For every case the test checks, in header mode (how the ECS client signs): the canonical
//! request, the string to sign, the signature, and the headers the signer adds
//! (`X-Amz-Date`, `X-Amz-Security-Token`, `x-amz-content-sha256`, `Authorization`) against
//! `header-signed-request.txt`. In query mode (presigned URLs, which this client never
//! makes) it checks the canonical query string only; see `QUERY_MODE_NOTE`.
//!
//! The harness is `libtest-mimic` (`harness = false`): it reports a case as ignored at run
//! time, with the reason, when the vectors are absent, which `#[test]` cannot.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ecs_protect::unversioned::sigv4::{
    SignableRequest, SignedRequest, Signer, SigningParams, SigningSettings, canonical_query_string,
    canonical_uri,
};
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use serde_json::Value;

/// Declares the suite's case folders, one test each, and the ones that do not apply.
macro_rules! suite_cases {
    ($($case:literal $(=> not_applicable($reason:literal))?),* $(,)?) => {
        /// Every case folder of the suite (with a `context.json`), in the directory's order.
        const CASES: &[&str] = &[$($case),*];
        /// Cases that are not run, with the reason.
        const NOT_APPLICABLE: &[(&str, &str)] = &[$($(($case, $reason),)?)*];
    };
}

// Every header-mode case applies to this signer: paths and query pairs are taken raw, so the
// space and UTF-8 cases (which `aws-sigv4` ignores) run, and the test unfolds
// `get-header-value-multiline`'s continuation lines itself (no HTTP client sends folded
// headers, but the expected value still checks whitespace collapsing). A case that does not
// apply is written `"name" => not_applicable("reason")`.
suite_cases![
    "get-header-key-duplicate",
    "get-header-value-multiline",
    "get-header-value-order",
    "get-header-value-trim",
    "get-relative-normalized",
    "get-relative-relative-normalized",
    "get-relative-relative-unnormalized",
    "get-relative-unnormalized",
    "get-slash-dot-slash-normalized",
    "get-slash-dot-slash-unnormalized",
    "get-slash-normalized",
    "get-slash-pointless-dot-normalized",
    "get-slash-pointless-dot-unnormalized",
    "get-slash-unnormalized",
    "get-slashes-normalized",
    "get-slashes-unnormalized",
    "get-space-normalized",
    "get-space-unnormalized",
    "get-unreserved",
    "get-utf8",
    "get-vanilla",
    "get-vanilla-empty-query-key",
    "get-vanilla-query",
    "get-vanilla-query-order-encoded",
    "get-vanilla-query-order-key-case",
    "get-vanilla-query-unreserved",
    "get-vanilla-utf8-query",
    "get-vanilla-with-session-token",
    "post-header-key-case",
    "post-header-key-sort",
    "post-header-value-case",
    "post-sts-header-after",
    "post-sts-header-before",
    "post-vanilla",
    "post-vanilla-empty-query-value",
    "post-vanilla-query",
    "post-x-www-form-urlencoded",
    "post-x-www-form-urlencoded-parameters",
];

/// How many cases the suite has (awslabs/aws-c-auth, suite last changed in 3281f86).
const EXPECTED_CASES: usize = 38;

/// What is and is not checked of the `query-*.txt` files.
const QUERY_MODE_NOTE: &str = "query mode: canonical query string checked; its canonical headers, string to sign, signature and signed URL are for presigned URLs, which the ECS client does not make";

/// Where to get the vectors, said whenever they are missing.
const HOW_TO_GET: &str = "get them from https://github.com/awslabs/aws-c-auth, folder \
tests/aws-signing-test-suite/v4 (Apache-2.0), and put them at ../shared/sigv4-suite beside \
the repository or set SIGV4_SUITE_DIR to that folder; SIGV4_SUITE_REQUIRED=1 makes missing \
vectors a failure";

/// The meta test's name: the case list matches the suite's folders.
const LIST_TEST: &str = "case_list_matches_the_suite_folders";

fn suite_dir() -> PathBuf {
    match std::env::var_os("SIGV4_SUITE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/sigv4-suite"
        )),
    }
}

fn vectors_required() -> bool {
    std::env::var("SIGV4_SUITE_REQUIRED").is_ok_and(|value| value == "1" || value == "true")
}

fn main() {
    let args = Arguments::from_args();
    let dir = suite_dir();
    let required = vectors_required();
    // Missing and not required: every test is ignored at run time, with the reason.
    let missing = (!has_cases(&dir)).then(|| {
        format!(
            "SigV4 vectors not found at {} (set SIGV4_SUITE_DIR): {HOW_TO_GET}",
            dir.display()
        )
    });
    let skip = missing
        .as_ref()
        .filter(|_| !required)
        .map(|_| "SigV4 vectors not found: see the note after the summary".to_owned());
    let ran = Arc::new(AtomicUsize::new(0));

    let mut trials = vec![{
        let (dir, skip) = (dir.clone(), skip.clone());
        Trial::ignorable_test(LIST_TEST, move || match skip {
            Some(reason) => Ok(Completion::ignored_with(reason)),
            None => case_list_matches_the_suite_folders(&dir).map(|()| Completion::Completed),
        })
    }];
    for &name in CASES {
        let not_applicable = NOT_APPLICABLE.iter().any(|(case, _)| *case == name);
        let (case, skip, ran) = (dir.join(name), skip.clone(), Arc::clone(&ran));
        let trial = Trial::ignorable_test(name, move || {
            if let Some(reason) = skip {
                return Ok(Completion::ignored_with(reason));
            }
            check_case(&Signer::new(), &case)
                .map_err(|failure| Failed::from(format!("{name}: {failure}")))?;
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(Completion::Completed)
        });
        trials.push(trial.with_ignored_flag(not_applicable));
    }

    let conclusion = libtest_mimic::run(&args, trials);
    if args.list {
        return;
    }
    let ran = ran.load(Ordering::SeqCst);
    let applicable = CASES.len() - NOT_APPLICABLE.len();
    if let Some(reason) = &missing {
        println!("sigv4 suite: NOT RUN, 0 of {applicable} cases. {reason}");
    } else {
        println!(
            "sigv4 suite: {ran} of {applicable} cases passed, {} not applicable ({})",
            NOT_APPLICABLE.len(),
            dir.display()
        );
        for (name, reason) in NOT_APPLICABLE {
            println!("  not applicable: {name}: {reason}");
        }
        println!("  {QUERY_MODE_NOTE}");
    }
    // A whole run (no filter, no --ignored) with the vectors present checks every case.
    let whole_run = args.filter.is_none() && args.skip.is_empty() && !args.ignored;
    let expected = if args.include_ignored {
        CASES.len()
    } else {
        applicable
    };
    if whole_run && missing.is_none() && !conclusion.has_failed() && ran != expected {
        println!("sigv4 suite: FAILED: {ran} cases passed, expected {expected}");
        std::process::exit(101);
    }
    conclusion.exit();
}

/// Whether `dir` holds any case folder (a folder with a `context.json`).
fn has_cases(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| entry.path().join("context.json").is_file())
    })
}

/// The declared list is the suite's folders, so a new upstream case cannot be skipped
/// silently, and the suite has the number of cases this file was written for.
fn case_list_matches_the_suite_folders(dir: &Path) -> Result<(), Failed> {
    let entries = fs::read_dir(dir)
        .map_err(|error| format!("cannot read {} ({error}): {HOW_TO_GET}", dir.display()))?;
    let mut folders: Vec<String> = Vec::new();
    for entry in entries {
        let path = entry.map_err(|error| error.to_string())?.path();
        // The smithy-rs copy has two SDK-specific folders without a `context.json`
        // (double-encoding cases): they are not signing cases of this suite.
        if path.is_dir() && path.join("context.json").exists() {
            folders.push(case_name(&path).to_owned());
        }
    }
    folders.sort();
    let listed: Vec<String> = CASES.iter().map(|&case| case.to_owned()).collect();
    let unlisted: Vec<&String> = folders.iter().filter(|f| !listed.contains(f)).collect();
    let absent: Vec<&String> = listed.iter().filter(|c| !folders.contains(c)).collect();
    if !unlisted.is_empty() || !absent.is_empty() {
        return Err(format!(
            "the suite in {} and CASES differ: folders not in CASES {unlisted:?} (add them), \
             CASES without a folder {absent:?}",
            dir.display()
        )
        .into());
    }
    if listed.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err("CASES is not sorted: keep it in the directory's order".into());
    }
    if CASES.len() != EXPECTED_CASES {
        return Err(format!("{} cases, expected {EXPECTED_CASES}", CASES.len()).into());
    }
    Ok(())
}

fn case_name(case: &Path) -> &str {
    case.file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("")
}

/// Checks every stage of one case; the error names the stage and shows both texts.
fn check_case(signer: &Signer, case: &Path) -> Result<(), String> {
    let context = Context::read(case)?;
    let raw_request = read(case, "request.txt")?;
    let request = ParsedRequest::parse(&raw_request)?;
    let query: Vec<(&str, &str)> = request
        .query
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let signable = SignableRequest {
        method: &request.method,
        path: &request.path,
        query: &query,
        headers: &headers,
        body: request.body.as_bytes(),
    };
    let params = SigningParams {
        access_key_id: &context.access_key_id,
        secret_access_key: &context.secret_access_key,
        session_token: context.token.as_deref(),
        region: &context.region,
        service: &context.service,
        time: context.time,
    };
    let settings = SigningSettings::default()
        .normalize_path(context.normalize)
        .content_sha256_header(context.sign_body)
        .sign_session_token(!context.omit_session_token);
    let signed = signer.sign_with(&signable, &params, &settings);

    let mut problems = String::new();
    compare(
        &mut problems,
        "header-canonical-request.txt",
        &read(case, "header-canonical-request.txt")?,
        signed.canonical_request().as_str(),
    );
    compare(
        &mut problems,
        "header-string-to-sign.txt",
        &read(case, "header-string-to-sign.txt")?,
        &signed.string_to_sign().to_string(),
    );
    compare(
        &mut problems,
        "header-signature.txt",
        &read(case, "header-signature.txt")?,
        signed.signature(),
    );
    check_added_headers(
        &mut problems,
        &raw_request,
        &read(case, "header-signed-request.txt")?,
        &signed,
    );
    check_query_mode(
        &mut problems,
        &read(case, "query-canonical-request.txt")?,
        &request,
        &query,
        &context,
        &signed,
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn compare(problems: &mut String, stage: &str, expected: &str, actual: &str) {
    if expected != actual {
        let _ = write!(
            problems,
            "\n  {stage} differs\n  expected:\n{expected}\n  actual:\n{actual}\n"
        );
    }
}

/// The signed request is the original request plus our headers: check the original lines
/// are kept as they were and that the lines added are exactly ours (names compared without
/// case, values byte for byte, in any order: the suite puts the token before or after the
/// date).
fn check_added_headers(
    problems: &mut String,
    raw_request: &str,
    expected_signed: &str,
    signed: &SignedRequest,
) {
    let original_head = raw_request
        .split("\n\n")
        .next()
        .unwrap_or("")
        .trim_end_matches('\n');
    let signed_head = expected_signed.split("\n\n").next().unwrap_or("");
    let Some(added) = signed_head
        .strip_prefix(original_head)
        .and_then(|rest| rest.strip_prefix('\n'))
    else {
        let _ = write!(
            problems,
            "\n  header-signed-request.txt does not start with request.txt's head"
        );
        return;
    };
    let mut expected: Vec<(String, String)> = Vec::new();
    for line in added.lines() {
        match line.split_once(':') {
            Some((name, value)) => expected.push((name.to_ascii_lowercase(), value.to_owned())),
            None => {
                let _ = write!(
                    problems,
                    "\n  header-signed-request.txt: added line {line:?} has no ':'"
                );
                return;
            }
        }
    }
    let mut actual: Vec<(String, String)> = signed
        .headers()
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect();
    expected.sort();
    actual.sort();
    if expected != actual {
        let _ = write!(
            problems,
            "\n  header-signed-request.txt: added headers differ\n  expected: {expected:#?}\n  actual: {actual:#?}\n"
        );
    }
}

/// Query mode: the canonical query string is the request's pairs plus the `X-Amz-*`
/// presigning parameters, through the same pure function the signer uses.
fn check_query_mode(
    problems: &mut String,
    expected_canonical: &str,
    request: &ParsedRequest,
    query: &[(&str, &str)],
    context: &Context,
    signed: &SignedRequest,
) {
    let amz_date = signed
        .headers()
        .iter()
        .find(|(name, _)| *name == "x-amz-date")
        .map(|(_, value)| value.as_str())
        .unwrap_or("");
    let credential = format!(
        "{}/{}/{}/{}/aws4_request",
        context.access_key_id,
        amz_date.get(..8).unwrap_or(""),
        context.region,
        context.service
    );
    let mut names: Vec<String> = request
        .headers
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    let signed_headers = names.join(";");
    let expires = context.expiration_in_seconds.to_string();
    let mut pairs = query.to_vec();
    pairs.extend([
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", credential.as_str()),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", expires.as_str()),
        ("X-Amz-SignedHeaders", signed_headers.as_str()),
    ]);
    if let Some(token) = context
        .token
        .as_deref()
        .filter(|_| !context.omit_session_token)
    {
        pairs.push(("X-Amz-Security-Token", token));
    }
    let lines: Vec<&str> = expected_canonical.split('\n').collect();
    compare(
        problems,
        "query-canonical-request.txt (canonical URI, line 2)",
        lines.get(1).copied().unwrap_or(""),
        &canonical_uri(&request.path, context.normalize),
    );
    compare(
        problems,
        "query-canonical-request.txt (canonical query string, line 3)",
        lines.get(2).copied().unwrap_or(""),
        &canonical_query_string(&pairs),
    );
}

fn read(case: &Path, file: &str) -> Result<String, String> {
    fs::read_to_string(case.join(file)).map_err(|error| format!("cannot read {file}: {error}"))
}

/// The signing inputs of `context.json`.
struct Context {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
    region: String,
    service: String,
    time: SystemTime,
    expiration_in_seconds: u64,
    normalize: bool,
    sign_body: bool,
    omit_session_token: bool,
}

impl Context {
    fn read(case: &Path) -> Result<Self, String> {
        let text = read(case, "context.json")?;
        let json: Value =
            serde_json::from_str(&text).map_err(|error| format!("context.json: {error}"))?;
        let string = |pointer: &str| -> Result<String, String> {
            json.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("context.json: {pointer} is missing or not a string"))
        };
        let flag = |key: &str| json.get(key).and_then(Value::as_bool).unwrap_or(false);
        Ok(Self {
            access_key_id: string("/credentials/access_key_id")?,
            secret_access_key: string("/credentials/secret_access_key")?,
            token: json
                .pointer("/credentials/token")
                .and_then(Value::as_str)
                .map(str::to_owned),
            region: string("/region")?,
            service: string("/service")?,
            time: parse_timestamp(&string("/timestamp")?)?,
            expiration_in_seconds: json
                .get("expiration_in_seconds")
                .and_then(Value::as_u64)
                .unwrap_or(3600),
            normalize: flag("normalize"),
            sign_body: flag("sign_body"),
            omit_session_token: flag("omit_session_token"),
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` to a `SystemTime` (days from civil, Howard Hinnant's algorithm).
fn parse_timestamp(text: &str) -> Result<SystemTime, String> {
    let bad = || format!("context.json: timestamp {text:?} is not YYYY-MM-DDTHH:MM:SSZ");
    let bytes = text.as_bytes();
    if bytes.len() != 20 || bytes[4] != b'-' || bytes[10] != b'T' || bytes[19] != b'Z' {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, String> {
        text.get(range)
            .and_then(|digits| digits.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(seconds)
        .map(|seconds| UNIX_EPOCH + Duration::from_secs(seconds))
        .map_err(|_| bad())
}

/// A lenient parse of `request.txt`: request line, `Name:value` headers in order (folded
/// continuation lines unfolded into the previous value with one space), blank line, body.
struct ParsedRequest {
    method: String,
    path: String,
    /// Raw pairs: `%XX` escapes in the request line are decoded.
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: String,
}

impl ParsedRequest {
    fn parse(text: &str) -> Result<Self, String> {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let head = head.trim_end_matches('\n');
        let mut lines = head.split('\n');
        let request_line = lines.next().unwrap_or("");
        // The target may hold a raw space (get-space-*): method first, version last.
        let (method, rest) = request_line
            .split_once(' ')
            .ok_or_else(|| format!("request.txt: bad request line {request_line:?}"))?;
        let (target, _version) = rest
            .rsplit_once(' ')
            .ok_or_else(|| format!("request.txt: bad request line {request_line:?}"))?;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                Ok((percent_decode(key)?, percent_decode(value)?))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = headers.last_mut() else {
                    return Err(format!(
                        "request.txt: continuation line {line:?} before any header"
                    ));
                };
                value.push(' ');
                value.push_str(line.trim());
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("request.txt: header line {line:?} has no ':'"))?;
            headers.push((name.to_owned(), value.to_owned()));
        }
        Ok(Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query,
            headers,
            body: body.to_owned(),
        })
    }
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let byte = text
                .get(index + 1..index + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("request.txt: bad percent escape in {text:?}"))?;
            out.push(byte);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("request.txt: {text:?} decodes to invalid UTF-8"))
}

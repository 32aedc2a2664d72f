//! Decoding error answers into [`ApiError`]: the JSON protocols' `__type`/`message` bodies
//! and the ECS agent's `{"error": {"Code", "Message"}}`.

use serde_json::Value;

use super::http::HttpResponse;
use crate::ApiError;

/// Shortens an error code as the SDKs do: cut at the first `:`, keep what follows the last
/// `#` (`com.amazonaws.ecs#ClientException:http://...` → `ClientException`).
pub(crate) fn short_code(raw: &str) -> &str {
    let cut = raw.split(':').next().unwrap_or(raw);
    cut.rsplit('#').next().unwrap_or(cut).trim()
}

fn string_at<'a>(object: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|key| object.get(*key).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

/// The [`ApiError`] an error response carries. The code comes from the `X-Amzn-ErrorType`
/// header, else the body's `__type`/`code`/`Code` (top level or under `error`), else
/// `UnknownError` (the status is kept beside it); the message from `message`, `Message` or
/// `errorMessage` (or a short excerpt of a body that is not JSON); the request id from
/// `x-amzn-RequestId`, else the body's `requestID`.
pub(crate) fn decode(operation: &str, endpoint: &str, response: &HttpResponse) -> ApiError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let inner = body.get("error").filter(|v| v.is_object()).unwrap_or(&body);
    let code = response
        .header("x-amzn-errortype")
        .map(short_code)
        .filter(|c| !c.is_empty())
        .or_else(|| {
            string_at(inner, &["__type", "code", "Code"])
                .map(short_code)
                .filter(|c| !c.is_empty())
        })
        .map(str::to_owned)
        .unwrap_or_else(|| "UnknownError".to_owned());
    let message = string_at(inner, &["message", "Message", "errorMessage"])
        .map(str::to_owned)
        .or_else(|| {
            // Not JSON: keep a short, printable excerpt, which is often all there is.
            let text = String::from_utf8_lossy(&response.body);
            let text = text.trim();
            (body.is_null() && !text.is_empty()).then(|| excerpt(text))
        });
    let request_id = response
        .request_id()
        .or_else(|| string_at(&body, &["requestID", "RequestId"]).map(str::to_owned));
    ApiError {
        operation: operation.to_owned(),
        endpoint: endpoint.to_owned(),
        status: response.status,
        code,
        message,
        request_id,
    }
}

/// At most 200 characters of `text`, control characters replaced.
fn excerpt(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn codes_are_shortened() {
        assert_eq!(short_code("ThrottlingException"), "ThrottlingException");
        assert_eq!(
            short_code("com.amazonaws.ecs#ClientException:http://internal.amazon.com/"),
            "ClientException"
        );
        assert_eq!(short_code("aws.protocoltests#FooError"), "FooError");
        assert_eq!(short_code("FooError:http://x"), "FooError");
    }

    #[test]
    fn json_1_1_error_body() {
        let r = response(
            400,
            &[("x-amzn-RequestId", "req-1")],
            r#"{"__type":"com.amazonaws.ecs#AccessDeniedException","message":"not authorized"}"#,
        );
        let e = decode("UpdateTaskProtection", "https://ecs/", &r);
        assert_eq!(e.code, "AccessDeniedException");
        assert_eq!(e.message.as_deref(), Some("not authorized"));
        assert_eq!(e.request_id.as_deref(), Some("req-1"));
        assert_eq!(e.status, 400);
        assert_eq!(e.operation, "UpdateTaskProtection");
    }

    #[test]
    fn header_code_wins_and_message_spellings() {
        let r = response(
            400,
            &[("X-Amzn-ErrorType", "ThrottlingException:http://x")],
            r#"{"__type":"Other","Message":"Rate exceeded"}"#,
        );
        let e = decode("Op", "e", &r);
        assert_eq!(e.code, "ThrottlingException");
        assert_eq!(e.message.as_deref(), Some("Rate exceeded"));
        let r = response(400, &[], r#"{"code":"X","errorMessage":"m"}"#);
        let e = decode("Op", "e", &r);
        assert_eq!((e.code.as_str(), e.message.as_deref()), ("X", Some("m")));
    }

    #[test]
    fn agent_error_body() {
        let r = response(
            400,
            &[],
            r#"{"requestID":"req-9","error":{"Arn":"arn:x","Code":"ThrottlingException","Message":"Rate exceeded"}}"#,
        );
        let e = decode("PUT task-protection", "http://169.254.170.2/api/x", &r);
        assert_eq!(e.code, "ThrottlingException");
        assert_eq!(e.message.as_deref(), Some("Rate exceeded"));
        assert_eq!(e.request_id.as_deref(), Some("req-9"));
    }

    #[test]
    fn a_body_code_that_shortens_to_nothing_is_unknown() {
        // Found by proptests::answers::error_answers: `#` and `:x` shortened to "".
        for body in [
            r##"{"__type":"#"}"##,
            r#"{"code":":http://x"}"#,
            r##"{"Code":" # "}"##,
        ] {
            let api = decode("Op", "https://ecs", &response(400, &[], body));
            assert_eq!(api.code, "UnknownError", "{body}");
        }
    }

    #[test]
    fn unknown_shapes_keep_the_status_and_body() {
        let e = decode("Op", "e", &response(502, &[], "<html>Bad Gateway</html>"));
        assert_eq!(e.code, "UnknownError");
        assert_eq!(e.message.as_deref(), Some("<html>Bad Gateway</html>"));
        let e = decode("Op", "e", &response(503, &[], ""));
        assert_eq!((e.code.as_str(), e.message), ("UnknownError", None));
        let e = decode("Op", "e", &response(400, &[], r#"{"unexpected":true}"#));
        assert_eq!((e.code.as_str(), e.message), ("UnknownError", None));
    }
}

//! Errors of the DingTalk client, and the parsing of DingTalk's two error dialects.
//!
//! docs/dingtalk-api.md §6: the v1.0 host signals errors with the HTTP status and a
//! `{code, requestid, message}` body; the oapi host always answers HTTP 200 with a
//! non-zero `errcode`. Both end up here so callers branch on one enum.

use serde::Deserialize;
use serde_json::Value;

use super::lenient::{LenientI64, LenientString};

/// Everything that can go wrong talking to DingTalk. No variant ever carries a token,
/// auth code or secret: messages come from DingTalk's own `message`/`errmsg` fields or
/// from fixed text written here.
#[derive(Debug, thiserror::Error)]
pub enum DingTalkError {
    /// v1.0 error body (docs/dingtalk-api.md §6.1). `code` is empty when the answer had a
    /// non-2xx status but no DingTalk error body (e.g. a gateway's HTML 503 page).
    #[error("DingTalk API error {code:?} (HTTP {status}): {message}")]
    Api { status: u16, code: String, message: String, request_id: Option<String> },
    /// oapi envelope with `errcode != 0` (§6.2); `sub_code` is kept for `errcode: 88`.
    #[error("DingTalk oapi error {errcode}: {errmsg}")]
    Oapi { errcode: i64, errmsg: String, sub_code: Option<String>, request_id: Option<String> },
    #[error("DingTalk did not answer within the configured timeout")]
    Timeout,
    #[error("could not reach DingTalk: {0}")]
    Transport(String),
    #[error("unexpected response from DingTalk: {0}")]
    Decode(String),
    #[error("invalid DingTalk configuration: {0}")]
    Config(String),
}

impl DingTalkError {
    /// Short stable code for logs and metrics: `api:InvalidAuthentication`, `http:503`,
    /// `oapi:60121`, `oapi:88/60011`, `timeout`, `transport`, `decode`, `config`.
    pub fn log_code(&self) -> String {
        match self {
            Self::Api { status, code, .. } if code.is_empty() => format!("http:{status}"),
            Self::Api { code, .. } => format!("api:{code}"),
            Self::Oapi { errcode, sub_code: Some(sub), .. } => format!("oapi:{errcode}/{sub}"),
            Self::Oapi { errcode, .. } => format!("oapi:{errcode}"),
            Self::Timeout => "timeout".to_owned(),
            Self::Transport(_) => "transport".to_owned(),
            Self::Decode(_) => "decode".to_owned(),
            Self::Config(_) => "config".to_owned(),
        }
    }

    /// How the call failed, as one of a fixed set of words (the `outcome` label of
    /// `dingtalk_oidc_dingtalk_requests_total`): `oapi_error`, `api_error`, `http_error` (an error
    /// status without a DingTalk error body), `timeout`, `transport`, `decode`, `config`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Api { code, .. } if code.is_empty() => "http_error",
            Self::Api { .. } => "api_error",
            Self::Oapi { .. } => "oapi_error",
            Self::Timeout => "timeout",
            Self::Transport(_) => "transport",
            Self::Decode(_) => "decode",
            Self::Config(_) => "config",
        }
    }

    /// The code DingTalk answered with (§6): an oapi `errcode` (`88/<sub_code>` when the gateway
    /// wraps one, §6.2), a v1.0 body's `code` (§6.1), or the HTTP status of an error answer
    /// without such a body. `None` when nothing was answered. It comes from upstream: a metric
    /// label made of it must be bounded (`metrics::dingtalk_codes`).
    pub fn upstream_code(&self) -> Option<String> {
        match self {
            Self::Api { status, code, .. } if code.is_empty() => Some(status.to_string()),
            Self::Api { code, .. } => Some(code.clone()),
            Self::Oapi { errcode, sub_code: Some(sub), .. } => Some(format!("{errcode}/{sub}")),
            Self::Oapi { errcode, .. } => Some(errcode.to_string()),
            Self::Timeout | Self::Transport(_) | Self::Decode(_) | Self::Config(_) => None,
        }
    }

    /// True for outages and throttling, which deserve a 503 / `temporarily_unavailable`
    /// rather than a login failure.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Timeout | Self::Transport(_) => true,
            // §6.1: systemBusy is HTTP 429; the Qp*Limit* family is HTTP 403 but is
            // throttling, not a permission problem (§6.4, "never retry
            // AccessTokenPermissionDenied").
            Self::Api { status, code, .. } => {
                *status >= 500
                    || *status == 429
                    || code == "systemBusy"
                    || code == "system.busy"
                    || (code.starts_with("Forbidden.AccessDenied.Qp") && code.contains("Limit"))
            }
            // §6.2 / §6.4: -1 system busy, 90002 global QPS limit, 90018 per-app QPS limit;
            // the TOP gateway may wrap the same codes under errcode 88.
            Self::Oapi { errcode, sub_code, .. } => {
                is_unavailable_errcode(*errcode)
                    || sub_code.as_deref().and_then(|s| s.parse::<i64>().ok()).is_some_and(is_unavailable_errcode)
            }
            Self::Decode(_) | Self::Config(_) => false,
        }
    }

    /// A message fit for an end user's error page: fixed English text, no upstream bodies.
    pub fn user_message(&self) -> &'static str {
        if self.is_unavailable() {
            return "DingTalk is temporarily unavailable. Please try again in a moment.";
        }
        match self {
            Self::Config(_) => CONFIG_MESSAGE,
            Self::Api { code, .. } if code == "invalidClientIdOrSecret" => CONFIG_MESSAGE,
            Self::Api { code, .. } if code.starts_with("Forbidden.AccessDenied") => PERMISSION_MESSAGE,
            Self::Api { code, .. } if code == "InvalidAuthentication" => {
                "Your DingTalk session is no longer valid. Please sign in again."
            }
            Self::Api { status: 400, .. } => {
                "The DingTalk sign-in could not be completed; the authorization may have \
                 expired or been used already. Please sign in again."
            }
            Self::Oapi { errcode: 40089, .. } => CONFIG_MESSAGE,
            // §9.2: an in-app code that is unknown, expired, used, or not an in-app code.
            Self::Oapi { errcode: TEMP_AUTH_CODE_NOT_FOUND, .. } => {
                "The sign-in from inside DingTalk could not be completed; the authorization may have \
                 expired or been used already. Please open the application again."
            }
            Self::Oapi { errcode, sub_code, .. }
                if is_permission_errcode(*errcode)
                    || sub_code.as_deref().and_then(|s| s.parse::<i64>().ok()).is_some_and(is_permission_errcode) =>
            {
                PERMISSION_MESSAGE
            }
            Self::Oapi { errcode: 60121, .. } => "Your DingTalk account is not a member of the required organization.",
            Self::Decode(_) => "DingTalk returned an unexpected response. Please try again later.",
            _ => "Signing in with DingTalk failed. Please try again.",
        }
    }

    /// The token used for the call was rejected as unknown or expired (§6.3 client
    /// advice: drop the cached token and fetch once more).
    pub(crate) fn is_rejected_token(&self) -> bool {
        match self {
            Self::Api { code, .. } => code == "InvalidAuthentication",
            // §6.2: 40014 invalid token, 42001 expired token.
            Self::Oapi { errcode, .. } => matches!(errcode, 40014 | 42001),
            _ => false,
        }
    }
}

/// §9.2: 40078 不存在的临时授权码.
pub const TEMP_AUTH_CODE_NOT_FOUND: i64 = 40078;

const CONFIG_MESSAGE: &str =
    "DingTalk sign-in is not configured correctly on this server. Please contact the administrator.";
const PERMISSION_MESSAGE: &str = "This application is not permitted to read the required DingTalk \
     information. Please contact the administrator.";

fn is_unavailable_errcode(errcode: i64) -> bool {
    matches!(errcode, -1 | 90002 | 90018)
}

/// §6.2: 43007 needs authorisation, 60011 no API permission, 60020 IP whitelist,
/// 50002/50004 outside the contacts scope.
fn is_permission_errcode(errcode: i64) -> bool {
    matches!(errcode, 43007 | 60011 | 60020 | 50002 | 50004)
}

/// Decode a non-2xx answer of either host. §6.1: the v1.0 body is
/// `{code, requestid, message}`; official SDKs read `requestId`/`RequestId`, so all three
/// spellings are accepted. Without such a body (HTML gateway page) the status alone is kept.
pub(crate) fn error_from_status(status: u16, body: &[u8], header_request_id: Option<String>) -> DingTalkError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(json) = &parsed {
        if is_ip_ban(json) {
            return ip_ban_error();
        }
        if let Some(code) = json.get("code").and_then(Value::as_str) {
            let request_id = ["requestid", "requestId", "RequestId"]
                .iter()
                .find_map(|k| json.get(*k).and_then(Value::as_str))
                .map(str::to_owned)
                .or(header_request_id);
            return DingTalkError::Api {
                status,
                code: code.to_owned(),
                message: json.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
                request_id,
            };
        }
    }
    DingTalkError::Api {
        status,
        code: String::new(),
        message: format!("HTTP {status} without a DingTalk error body"),
        request_id: header_request_id,
    }
}

/// §6.4: an IP ban is answered with `{"status":1111,"wait":5,...}` instead of the normal
/// error JSON.
pub(crate) fn is_ip_ban(json: &Value) -> bool {
    json.get("status").and_then(Value::as_i64) == Some(1111)
}

pub(crate) fn ip_ban_error() -> DingTalkError {
    DingTalkError::Decode("DingTalk refused this server's IP address (status 1111 ban)".to_owned())
}

#[derive(Deserialize)]
struct OapiEnvelope {
    errcode: Option<LenientI64>,
    errmsg: Option<String>,
    sub_code: Option<LenientString>,
    request_id: Option<String>,
}

/// Check an HTTP-200 oapi envelope (§5.0, §6.2). A missing `errcode` counts as success,
/// as in the official SDK.
pub(crate) fn check_oapi_envelope(json: &Value) -> Result<(), DingTalkError> {
    if is_ip_ban(json) {
        return Err(ip_ban_error());
    }
    let envelope: OapiEnvelope = serde_json::from_value(json.clone())
        .map_err(|_| DingTalkError::Decode("malformed oapi envelope".to_owned()))?;
    match envelope.errcode {
        None | Some(LenientI64(0)) => Ok(()),
        Some(LenientI64(errcode)) => Err(DingTalkError::Oapi {
            errcode,
            errmsg: envelope.errmsg.unwrap_or_default(),
            // §6.2: only errcode 88 means "look at sub_code"; elsewhere it is noise.
            sub_code: if errcode == 88 { envelope.sub_code.map(|s| s.0) } else { None },
            request_id: envelope.request_id,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v1_error_accepts_lowercase_requestid() {
        let body = br#"{"code":"InvalidAuthentication","requestid":"30EE8654","message":"bad"}"#;
        match error_from_status(400, body, Some("hdr".into())) {
            DingTalkError::Api { status, code, message, request_id } => {
                assert_eq!(status, 400);
                assert_eq!(code, "InvalidAuthentication");
                assert_eq!(message, "bad");
                assert_eq!(request_id.as_deref(), Some("30EE8654"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn v1_error_accepts_sdk_spellings_of_request_id() {
        for key in ["requestId", "RequestId"] {
            let body = json!({"code": "x", key: "RID", "message": "m"}).to_string();
            let err = error_from_status(403, body.as_bytes(), None);
            assert!(matches!(&err, DingTalkError::Api { request_id: Some(r), .. } if r == "RID"), "{key}: {err:?}");
        }
    }

    #[test]
    fn v1_error_without_request_id_falls_back_to_header() {
        let err = error_from_status(400, br#"{"code":"c","message":"m"}"#, Some("H".into()));
        assert!(matches!(err, DingTalkError::Api { request_id: Some(r), .. } if r == "H"));
    }

    #[test]
    fn html_503_is_an_unavailable_http_error() {
        let err = error_from_status(503, b"<html>503 Service Temporarily Unavailable</html>", None);
        assert_eq!(err.log_code(), "http:503");
        assert!(err.is_unavailable());
    }

    #[test]
    fn ip_ban_json_is_a_decode_error() {
        let body = br#"{"status":1111,"wait":5,"source":"x5","punish":"deny","uuid":"u"}"#;
        assert!(matches!(error_from_status(200, body, None), DingTalkError::Decode(_)));
        assert!(check_oapi_envelope(&serde_json::from_slice(body).unwrap()).is_err());
    }

    #[test]
    fn oapi_88_keeps_sub_code() {
        let body = json!({"errcode": 88, "sub_code": "60011", "sub_msg": "没有调用该接口的权限",
            "errmsg": "ding talk error[subcode=60011,submsg=没有调用该接口的权限]",
            "request_id": "5imjny7u9xwa"});
        let err = check_oapi_envelope(&body).unwrap_err();
        assert_eq!(err.log_code(), "oapi:88/60011");
        assert!(!err.is_unavailable());
        assert!(matches!(
            &err,
            DingTalkError::Oapi { request_id: Some(r), .. } if r == "5imjny7u9xwa"
        ));
        assert!(err.user_message().contains("not permitted"));
    }

    #[test]
    fn oapi_errcode_written_as_string_is_understood() {
        assert!(check_oapi_envelope(&json!({"errcode": "0", "errmsg": "ok"})).is_ok());
        let err = check_oapi_envelope(&json!({"errcode": "60121", "errmsg": "找不到该用户"})).unwrap_err();
        assert_eq!(err.log_code(), "oapi:60121");
    }

    #[test]
    fn throttling_and_outages_are_unavailable() {
        let api = |status, code: &str| DingTalkError::Api {
            status,
            code: code.into(),
            message: String::new(),
            request_id: None,
        };
        let oapi = |errcode, sub_code: Option<&str>| DingTalkError::Oapi {
            errcode,
            errmsg: String::new(),
            sub_code: sub_code.map(str::to_owned),
            request_id: None,
        };
        assert!(api(403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi").is_unavailable());
        assert!(api(403, "Forbidden.AccessDenied.QpsLimitForApi").is_unavailable());
        assert!(api(403, "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi").is_unavailable());
        assert!(api(429, "systemBusy").is_unavailable());
        assert!(api(500, "server.error").is_unavailable());
        assert!(!api(403, "Forbidden.AccessDenied.AccessTokenPermissionDenied").is_unavailable());
        assert!(!api(400, "InvalidAuthentication").is_unavailable());
        for code in [-1, 90002, 90018] {
            assert!(oapi(code, None).is_unavailable(), "{code}");
        }
        assert!(oapi(88, Some("90018")).is_unavailable());
        assert!(!oapi(60121, None).is_unavailable());
        assert!(!oapi(40014, None).is_unavailable());
        assert!(DingTalkError::Timeout.is_unavailable());
        assert!(DingTalkError::Transport("refused".into()).is_unavailable());
        assert!(!DingTalkError::Decode("x".into()).is_unavailable());
    }

    #[test]
    fn metric_outcomes_are_fixed_words_and_the_code_is_dingtalks() {
        let oapi = check_oapi_envelope(&json!({"errcode": 60121, "errmsg": "找不到该用户"})).unwrap_err();
        assert_eq!((oapi.outcome(), oapi.upstream_code().as_deref()), ("oapi_error", Some("60121")));
        let wrapped = check_oapi_envelope(&json!({"errcode": 88, "sub_code": "60011", "errmsg": "x"})).unwrap_err();
        assert_eq!(wrapped.upstream_code().as_deref(), Some("88/60011"));
        let v1 = error_from_status(400, br#"{"code":"InvalidAuthentication","message":"m"}"#, None);
        assert_eq!((v1.outcome(), v1.upstream_code().as_deref()), ("api_error", Some("InvalidAuthentication")));
        let gateway = error_from_status(503, b"<html>busy</html>", None);
        assert_eq!((gateway.outcome(), gateway.upstream_code().as_deref()), ("http_error", Some("503")));
        assert_eq!((DingTalkError::Timeout.outcome(), DingTalkError::Timeout.upstream_code()), ("timeout", None));
        assert_eq!(DingTalkError::Transport("x".into()).upstream_code(), None);
    }

    #[test]
    fn log_codes_are_stable() {
        let err = DingTalkError::Api {
            status: 400,
            code: "InvalidAuthentication".into(),
            message: String::new(),
            request_id: None,
        };
        assert_eq!(err.log_code(), "api:InvalidAuthentication");
        assert_eq!(DingTalkError::Timeout.log_code(), "timeout");
        assert_eq!(DingTalkError::Transport("x".into()).log_code(), "transport");
    }
}

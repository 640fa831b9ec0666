//! Wire-exact answers of the three DingTalk hosts (docs/dingtalk-api.md §0, §6).

use poem::Response;
use poem::http::StatusCode;
use rand::RngExt;
use serde_json::{Map, Value, json};

use crate::web::html::escape;

/// Opaque token or code: 32 lowercase hex characters, like the §2/§4.1 examples.
pub(super) fn random_token() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// §6.1 example `30EE8654-1AA2-7D88-8248-9518547248AA`: an upper-case UUID.
fn v1_request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

/// §5.0/§6.2 examples `4e7exhl6pm0t`, `15s9in2w1yat9`: 12–13 lowercase alphanumerics.
fn oapi_request_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..13).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

/// §0: v1.0 answers carry `application/json;charset=utf-8`, `Server: DingTalk/1.0.0` and
/// the `x-acs-*` ids.
fn v1_response(status: StatusCode, body: &Value, request_id: &str) -> Response {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json;charset=utf-8")
        .header("Server", "DingTalk/1.0.0")
        .header("x-acs-request-id", request_id)
        .header("x-acs-trace-id", random_token())
        .body(body.to_string())
}

/// A v1.0 success: the bare object, no envelope (§6.1).
pub(super) fn v1_ok(body: &Value) -> Response {
    v1_response(StatusCode::OK, body, &v1_request_id())
}

/// §6.1: `{code, requestid, message}` with the matching HTTP status.
pub(super) fn v1_error(status: StatusCode, code: &str, message: &str) -> Response {
    v1_error_with(status, code, message, Map::new())
}

/// A v1.0 error with extra keys such as `accessdenieddetail` (§3 real 403 body).
pub(super) fn v1_error_with(status: StatusCode, code: &str, message: &str, extra: Map<String, Value>) -> Response {
    let request_id = v1_request_id();
    let mut body = Map::new();
    body.insert("code".into(), code.into());
    body.insert("requestid".into(), request_id.clone().into());
    body.insert("message".into(), message.into());
    body.extend(extra);
    v1_response(status, &Value::Object(body), &request_id)
}

/// §4.1 / §2: 400 `Missingbody` for a non-JSON or empty body.
pub(super) fn missing_body() -> Response {
    v1_error(StatusCode::BAD_REQUEST, "Missingbody", "body is mandatory for this action.")
}

/// §0: oapi answers are HTTP 200 `application/json` whatever happened.
fn oapi_response(mut body: Map<String, Value>) -> Response {
    body.insert("request_id".into(), oapi_request_id().into());
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .header("Server", "DingTalk/1.0.0")
        .body(Value::Object(body).to_string())
}

/// §5.0 success envelope with the payload under `result`.
pub(super) fn oapi_result(result: Value) -> Response {
    oapi_fields(json!({ "result": result }))
}

/// Success envelope with top-level payload fields (e.g. §4.3 `access_token`).
pub(super) fn oapi_fields(fields: Value) -> Response {
    let mut body = Map::new();
    body.insert("errcode".into(), 0.into());
    body.insert("errmsg".into(), "ok".into());
    if let Value::Object(fields) = fields {
        body.extend(fields);
    }
    oapi_response(body)
}

/// §6.2: `{errcode, errmsg, request_id}`.
pub(super) fn oapi_error(errcode: i64, errmsg: &str) -> Response {
    let mut body = Map::new();
    body.insert("errcode".into(), errcode.into());
    body.insert("errmsg".into(), errmsg.into());
    oapi_response(body)
}

/// §6.2: the TOP-gateway form, `errcode: 88` with `sub_code`/`sub_msg`.
pub(super) fn oapi_sub_error(sub_code: &str, sub_msg: &str) -> Response {
    let mut body = Map::new();
    body.insert("errcode".into(), 88.into());
    body.insert("sub_code".into(), sub_code.into());
    body.insert("sub_msg".into(), sub_msg.into());
    body.insert("errmsg".into(), format!("ding talk error[subcode={sub_code},submsg={sub_msg}]").into());
    oapi_response(body)
}

/// What a load balancer in front of DingTalk answers during an outage: HTML, not JSON.
pub(super) fn gateway_unavailable() -> Response {
    Response::builder().status(StatusCode::SERVICE_UNAVAILABLE).header("Content-Type", "text/html").body(
        "<html><head><title>503 Service Temporarily Unavailable</title></head>\
             <body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>",
    )
}

/// A page of the login host. `body_html` must already be escaped.
pub(super) fn html_page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>\n{body_html}\n</body></html>\n",
        title = escape(title),
    );
    Response::builder().status(status).header("Content-Type", "text/html; charset=utf-8").body(page)
}

pub(super) fn redirect(location: &str) -> Response {
    Response::builder().status(StatusCode::FOUND).header("Location", location).finish()
}

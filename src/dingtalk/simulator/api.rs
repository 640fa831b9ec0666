//! api host (`/v1.0/...`): code exchange (docs/dingtalk-api.md §2), current user (§3) and app
//! token (§4.1). JSON in, camelCase out, errors as `{code, requestid, message}` (§6.1).

use poem::Request;
use poem::Response;
use poem::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{Fault, Host, Simulator, reply};

/// §4.1 wording, reused for §2 (inferred).
const BAD_CLIENT: (&str, &str) = ("invalidClientIdOrSecret", "无效的clientId或者clientSecret");
/// §2 (inferred default for the fake): unknown, used or expired code or refresh token.
const CODE_NOT_FOUND: (&str, &str) = ("invalidParameter.authCode.notFound", "临时授权码不存在或已过期");
/// §3 / §6.1: unknown, malformed or expired token.
const BAD_TOKEN: (&str, &str) = ("InvalidAuthentication", "不合法的access_token");

fn bad_request((code, message): (&str, &str)) -> Response {
    reply::v1_error(StatusCode::BAD_REQUEST, code, message)
}

/// §0: v1.0 bodies must be a JSON object sent as `application/json`.
async fn json_object(req: &mut Request) -> Option<Map<String, Value>> {
    let is_json = req.content_type().is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return None;
    }
    let bytes = req.take_body().into_bytes_limit(64 * 1024).await.ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn text<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

/// `POST /v1.0/oauth2/userAccessToken` (§2), both grants.
pub(super) async fn user_access_token(sim: Simulator, mut req: Request) -> Response {
    let fault = match sim.enter(&req, Host::Api).await {
        Ok(fault) => fault,
        Err(answer) => return answer,
    };
    let Some(body) = json_object(&mut req).await else {
        return reply::missing_body();
    };
    let mut state = sim.state();
    let Some(app) = state.app_by_credentials(text(&body, "clientId"), text(&body, "clientSecret")) else {
        return bad_request(BAD_CLIENT);
    };
    if fault == Some(Fault::InvalidCode) {
        return bad_request(CODE_NOT_FOUND);
    }
    let grant = match text(&body, "grantType") {
        Some("authorization_code") => text(&body, "code").and_then(|c| state.take_code(c)),
        // §2 (inferred): refresh rotates; the old refresh token dies here.
        Some("refresh_token") => text(&body, "refreshToken").and_then(|t| state.take_refresh_token(t)),
        _ => {
            return bad_request((
                "invalidParameter.grantType.invalid",
                "grantType必须是authorization_code或refresh_token",
            ));
        }
    };
    // A code (and its refresh tokens) belongs to the app that started the login (§11).
    let Some(grant) = grant.filter(|g| g.app == app) else {
        return bad_request(CODE_NOT_FOUND);
    };
    let (access, refresh) = state.issue_user_tokens(&grant);
    let mut answer = json!({
        "accessToken": access,
        "refreshToken": refresh,
        "expireIn": super::USER_TOKEN_LIFETIME.as_secs(),
    });
    // §2: corpId only when the authorize request used scope `openid corpid`.
    let corp_id = state.user_of(&grant).and_then(|u| u.corp_id.clone());
    if let (true, Some(corp_id)) = (grant.with_corp, corp_id) {
        answer["corpId"] = corp_id.into();
    }
    reply::v1_ok(&answer)
}

/// `GET /v1.0/contact/users/{unionId}` (§3) with the user token in the header.
pub(super) async fn user_profile(sim: Simulator, req: Request) -> Response {
    let fault = match sim.enter(&req, Host::Api).await {
        Ok(fault) => fault,
        Err(answer) => return answer,
    };
    if fault == Some(Fault::ExpiredToken) {
        return bad_request(BAD_TOKEN);
    }
    let token = req.header("x-acs-dingtalk-access-token").unwrap_or_default();
    let state = sim.state();
    // §6.1 (inferred): a missing header is answered like an unknown token.
    let Some((user, _)) = state.user_for_token(token) else {
        return bad_request(BAD_TOKEN);
    };
    if fault == Some(Fault::PermissionDenied) {
        let mut extra = Map::new();
        extra.insert("accessdenieddetail".into(), json!({ "requiredScopes": ["Contact.User.Read"] }));
        return reply::v1_error_with(
            StatusCode::FORBIDDEN,
            "Forbidden.AccessDenied.AccessTokenPermissionDenied",
            "没有调用该接口的权限，接口权限申请参考：https://open.dingtalk.com/document/orgapp-server/add-api-permission",
            extra,
        );
    }
    let wanted = req.raw_path_param("union_id").unwrap_or_default();
    // §3 (inferred): only the token owner can be read; anyone else is "not found".
    if wanted != "me" && wanted != user.union_id {
        return reply::v1_error(StatusCode::NOT_FOUND, "invalidParameter.user.notFound", "找不到该用户");
    }
    // §3: optional fields are omitted when unset; `visitor` is always present.
    let mut answer = Map::new();
    answer.insert("nick".into(), user.nick.clone().into());
    if let Some(avatar) = &user.avatar_url {
        answer.insert("avatarUrl".into(), avatar.clone().into());
    }
    if let Some(mobile) = &user.mobile {
        answer.insert("mobile".into(), mobile.clone().into());
    }
    answer.insert("openId".into(), user.open_id.clone().into());
    answer.insert("unionId".into(), user.union_id.clone().into());
    if let Some(email) = &user.email {
        answer.insert("email".into(), email.clone().into());
    }
    if let Some(state_code) = &user.state_code {
        answer.insert("stateCode".into(), state_code.clone().into());
    }
    answer.insert("visitor".into(), false.into());
    reply::v1_ok(&Value::Object(answer))
}

/// `POST /v1.0/oauth2/accessToken` (§4.1): `{appKey, appSecret}` → `{accessToken, expireIn}`.
pub(super) async fn app_access_token(sim: Simulator, mut req: Request) -> Response {
    if let Err(answer) = sim.enter(&req, Host::Api).await {
        return answer;
    }
    let body = json_object(&mut req).await;
    let mut state = sim.state();
    state.app_token_requests += 1;
    let Some(body) = body else {
        return reply::missing_body();
    };
    let Some(app) = state.app_by_credentials(text(&body, "appKey"), text(&body, "appSecret")) else {
        return bad_request(BAD_CLIENT);
    };
    let (token, ttl) = state.issue_app_token(app);
    reply::v1_ok(&json!({ "accessToken": token, "expireIn": ttl.as_secs() }))
}

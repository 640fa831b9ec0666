//! The device code grant (RFC 8628 §3.4, §3.5): the device polls with its device code until the
//! user has answered at the verification page. Pending: `authorization_pending`, or `slow_down`
//! when it polls faster than its interval; denied: `access_denied`; past its life:
//! `expired_token`; approved: the tokens of the authorization code the approval stored, redeemed
//! once (`authorization_code::exchange`), so a second poll after success is a replay that revokes
//! them (RFC 6749 §4.1.2).

use crate::app::App;
use crate::directory::Client;
use crate::oidc::OAuthError;
use crate::oidc::error::{BackendError, ErrorCode};
use crate::oidc::grants::authorization_code::{CodeOrigin, exchange};
use crate::oidc::params::Params;
use crate::oidc::token::TokenResponse;
use crate::secrets;
use crate::store::DeviceDecision;

/// A poll up to this much earlier than the interval is not "too fast": a client that sleeps the
/// interval between polls sees its requests arrive with network jitter.
const POLL_TOLERANCE_SECS: u64 = 1;

pub async fn grant(app: &App, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    let device_code = params.get("device_code").ok_or(OAuthError::invalid_request("device_code is required"))?;
    let device_code_hash = secrets::hash(device_code);
    let gate = app.config.tokens.device_poll_interval_secs.saturating_sub(POLL_TOLERANCE_SECS).max(1);
    let poll = match app.sessions.poll_device_request(&device_code_hash, gate).await {
        Ok(Some(poll)) => poll,
        Ok(None) => return Err(OAuthError::invalid_grant("the device code is invalid")),
        Err(e) => return Err(BackendError::from(e).into()),
    };
    // §3.4: the device code was issued to this client.
    if poll.request.client_id != client.id {
        return Err(OAuthError::invalid_grant("the device code was issued to another client"));
    }
    // The approval's code lives as long as the request; after it, whatever the answer, §3.5.
    if app.now() >= poll.request.expires_at {
        return Err(OAuthError::new(ErrorCode::ExpiredToken, "the device code has expired; start again"));
    }
    // RFC 8707 §2.2: the token request may name a resource only among those authorized (at most
    // one here); refused before an approval is redeemed, so it stays usable.
    if params.get("resource").is_some_and(|asked| poll.request.resource.as_deref() != Some(asked)) {
        return Err(OAuthError::new(ErrorCode::InvalidTarget, "the resource was not authorized with this device code"));
    }
    match poll.decision {
        Some(DeviceDecision::Approved { code_hash }) => {
            exchange(app, client, &code_hash, CodeOrigin::Device { expires_at: poll.request.expires_at }).await
        }
        Some(DeviceDecision::Denied) => Err(OAuthError::new(ErrorCode::AccessDenied, "the user denied the request")),
        None if poll.too_soon => Err(OAuthError::new(
            ErrorCode::SlowDown,
            "polling faster than the interval; wait 5 seconds longer between polls",
        )),
        None => Err(OAuthError::new(ErrorCode::AuthorizationPending, "the user has not answered yet")),
    }
}

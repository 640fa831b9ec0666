//! The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.5-4.6, OIDC Core §3.1.3.2), and
//! the redemption of a code that the device grant (`device_code`) shares: a device's approval is
//! an authorization code that never leaves the provider.

use crate::app::App;
use crate::directory::Client;
use crate::oidc::OAuthError;
use crate::oidc::error::{BackendError, ErrorCode};
use crate::oidc::params::Params;
use crate::oidc::pkce;
use crate::oidc::token::TokenResponse;
use crate::secrets;
use crate::store::{
    AuthCode, CodeGrantCompletion, CodeRedemption, RefreshFamily, RefreshSuccessor, code_grant_id, family_access_jti,
};
use crate::tokens::mint::{MintRequest, mint};
use crate::tokens::refresh::new_refresh_token;
use crate::tokens::{ProfileClaims, TokenLifetimes};

/// How much longer than its access token a redeemed code is remembered: covers the time between
/// redemption and minting (a request is bounded by its dependency timeouts, seconds) and a small
/// skew between our clock and the store's.
const REDEMPTION_MARGIN_SECS: u64 = 60;

/// Where a code came from, which decides what binds it and how long it lives.
#[derive(Clone, Copy)]
pub enum CodeOrigin<'a> {
    /// The authorization endpoint's redirect: bound to its redirect URI and PKCE challenge, living
    /// `tokens.code_ttl_secs`. `resource`: the token request's (RFC 8707 §2.2), which must be the
    /// one authorized.
    Redirect { redirect_uri: &'a str, verifier: Option<&'a str>, resource: Option<&'a str> },
    /// A device's approval (RFC 8628 §3.3): bound to the client, living as long as the device
    /// request, until `expires_at`.
    Device { expires_at: i64 },
}

pub async fn grant(app: &App, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    let code = params.get("code").ok_or(OAuthError::invalid_request("code is required"))?;
    // Policy (RFC 6749 §4.1.3): redirect_uri is always required, even with one registered URI.
    let redirect_uri = params.get("redirect_uri").ok_or(OAuthError::invalid_request("redirect_uri is required"))?;
    let verifier = params.get("code_verifier");
    pkce::verifier_syntax(verifier).map_err(OAuthError::invalid_request)?;
    let code_hash = secrets::hash(code);
    let resource = params.get("resource");
    exchange(app, client, &code_hash, CodeOrigin::Redirect { redirect_uri, verifier, resource }).await
}

/// Redeems the code stored under `code_hash` for `client`: single use (a replay revokes what it
/// issued), checked against its origin's binding, then tokens for its user.
pub async fn exchange(
    app: &App,
    client: &Client,
    code_hash: &str,
    origin: CodeOrigin<'_>,
) -> Result<TokenResponse, OAuthError> {
    let lifetimes = TokenLifetimes::for_client(&app.config.tokens, client);
    // The redemption is remembered as long as the access token it issues is accepted (its
    // lifetime and the verifier's leeway), so a replay that comes while the token is still
    // accepted revokes it (RFC 6749 §4.1.2). The store counts
    // from its own clock at redemption and the token's `exp` from ours a moment later, so the
    // record is kept a margin longer: without it, a second boundary crossed in between (or a
    // store clock a little behind ours) forgot the code while its token still lived.
    let remember_for = lifetimes
        .access_secs
        .max(600)
        .saturating_add(app.config.tokens.leeway_secs)
        .saturating_add(REDEMPTION_MARGIN_SECS);
    // Redeemed before any other check: a code presented once is gone, whoever presented it.
    let record = match app.sessions.redeem_code(code_hash, remember_for).await {
        Ok(CodeRedemption::Redeemed(record)) => *record,
        Ok(CodeRedemption::Replayed) => {
            revoke_replayed(app, client, code_hash).await?;
            return Err(OAuthError::invalid_grant("the code is invalid, expired or already used"));
        }
        Ok(CodeRedemption::Unknown) => {
            return Err(OAuthError::invalid_grant("the code is invalid, expired or already used"));
        }
        Err(e) => return Err(e.into()),
    };
    let lives_until = match origin {
        CodeOrigin::Redirect { redirect_uri, verifier, resource } => {
            check_binding(client, redirect_uri, verifier, &record)?;
            // RFC 8707 §2.2: the token request may name a resource only among those authorized
            // (here at most one). Checked after the binding: only the code's own client hears it.
            if resource.is_some_and(|asked| record.request.resource.as_deref() != Some(asked)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidTarget,
                    "the resource was not authorized with this code",
                ));
            }
            record.issued_at + app.config.tokens.code_ttl_secs as i64
        }
        CodeOrigin::Device { expires_at } => {
            // A device approval has no redirect URI; it is the client's, and nobody else's.
            if record.request.client_id != client.id || !record.request.redirect_uri.is_empty() {
                return Err(OAuthError::invalid_grant("the device code was issued to another client"));
            }
            expires_at
        }
    };
    // From here, a failure of ours (503) hands the code back, so a retry can still use it: an
    // answer of 503 changes nothing.
    let grant = Grant { app, code_hash, record: &record, lives_until };
    let user = match app.directory.user_cached(&record.user_id).await {
        Ok(Some(user)) if !user.disabled => user,
        Ok(_) => return Err(OAuthError::invalid_grant("the user is no longer allowed to sign in")),
        Err(e) => return Err(grant.release(e.into()).await),
    };
    let now = app.now();
    if app.keys.ring().signer_at(now).is_none() {
        return Err(grant.release(BackendError::Internal("no signing key is active")).await);
    }
    let request = &record.request;
    // OIDC Core §3.1.2.4: a client the user must consent to gets tokens only while the consent
    // stands; one withdrawn since the code was issued (`manage::consents::withdraw`) ends the code
    // here. `now`, the tokens' issue time, was read before this check, so tokens minted by a grant
    // that found the consent are covered by the withdrawal's denial (issued up to a time read
    // after the consent went).
    if !client.first_party {
        match app.directory.consent_covers(&user.id, &client.id, &request.scopes).await {
            Ok(true) => {}
            Ok(false) => return Err(OAuthError::invalid_grant(CONSENT_WITHDRAWN)),
            Err(e) => return Err(grant.release(e.into()).await),
        }
    }
    let claims = ProfileClaims::for_scopes(&user, request.scopes.iter().map(String::as_str));
    // Everything the code issues is named after it, so that a replay finds it (RFC 6749 §4.1.2).
    let grant_id = code_grant_id(code_hash);
    // RFC 9700 §4.14.2: refresh tokens only for clients allowed the grant. A token that starts a
    // family is named after it, so revoking the family denies it too.
    let (jti, refresh) = if client.allows_grant("refresh_token") {
        let offline = request.scopes.iter().any(|s| s == "offline_access");
        let absolute = client.refresh_absolute_ttl_secs.unwrap_or(app.config.tokens.refresh_absolute_ttl_secs as i64);
        let family = RefreshFamily {
            id: grant_id.clone(),
            client_id: client.id.clone(),
            user_id: user.id.clone(),
            // OIDC Core §11: without offline_access the grant lives and dies with the session.
            sid: (!offline).then(|| record.sid.clone()),
            login_sid: Some(record.sid.clone()),
            scopes: request.scopes.clone(),
            auth_time: record.auth_time,
            amr: record.amr.clone(),
            created_at: now,
            expires_at: now + absolute,
            upstream_checked_at: now,
            claims: claims.clone(),
            org_id: Some(user.org_id.clone()),
            resource: request.resource.clone(),
        };
        let token = new_refresh_token(&family.id);
        let first = RefreshSuccessor {
            token_hash: secrets::hash(&token),
            sealed: String::new(),
            idle_ttl_secs: idle_ttl(app, client),
            access_exp: lifetimes.access_exp(now),
        };
        (family_access_jti(&grant_id), Some((family, first, token)))
    } else {
        (grant_id.clone(), None)
    };
    if let Some((family, first, _)) = &refresh {
        // Created only while the redemption is still the code's (no replay revoked it) and, for a
        // session-bound family, while its SSO session lives: a logout that ended the session
        // before the code was exchanged would otherwise never revoke it (OIDC Core §11).
        match app.sessions.complete_code_grant(code_hash, family, first, family.sid.as_deref()).await {
            // A withdrawal that listed the user's families before this one was created found the
            // consent gone only after this grant's first look: look again now that the family
            // exists, or it would outlive the withdrawal.
            Ok(CodeGrantCompletion::Created) => {
                if !client.first_party && !consent_still_stands(app, &user.id, client, &request.scopes).await {
                    app.revocation().revoke_code_grant(&grant_id, now).await?;
                    return Err(OAuthError::invalid_grant(CONSENT_WITHDRAWN));
                }
            }
            // RFC 6749 §4.1.2: the replay is what is denied; this first use still gets its answer,
            // but what it issues is revoked: no family was created, and its access token is denied
            // here too, so it is dead by the time the client holds it, whichever request finishes
            // first.
            Ok(CodeGrantCompletion::Revoked) => {
                app.revocation().revoke_code_grant(&grant_id, now).await?;
            }
            Ok(CodeGrantCompletion::SessionEnded) => {
                return Err(OAuthError::invalid_grant("the sign-in session of this code has ended"));
            }
            Err(e) => return Err(grant.release(e.into()).await),
        }
    }
    let minted = mint(
        &app.token_issuer(),
        &MintRequest {
            client_id: &client.id,
            sub: &user.id,
            scopes: &request.scopes,
            claims: &claims,
            sid: Some(&record.sid),
            auth_time: record.auth_time,
            amr: &record.amr,
            nonce: request.nonce.as_deref(),
            with_id_token: true,
            jti: &jti,
            iat: now,
            lifetimes,
            resource: request.resource.as_deref(),
        },
    )?;
    crate::metrics::token_issued(match origin {
        CodeOrigin::Redirect { .. } => "authorization_code",
        CodeOrigin::Device { .. } => "device_code",
    });
    Ok(minted.into_response(refresh.map(|(_, _, token)| token)))
}

/// A redemption in progress.
const CONSENT_WITHDRAWN: &str = "the user has withdrawn consent for this client";

/// The second look at the consent, after the family was created. The first look found it moments
/// ago; a directory that fails now is an outage, not a withdrawal, and the code can no longer be
/// handed back: the grant goes on.
async fn consent_still_stands(app: &App, user_id: &str, client: &Client, scopes: &[String]) -> bool {
    match app.directory.consent_covers(user_id, &client.id, scopes).await {
        Ok(covered) => covered,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look at the consent again after creating the refresh family");
            true
        }
    }
}

struct Grant<'a> {
    app: &'a App,
    code_hash: &'a str,
    record: &'a AuthCode,
    /// When the code would have expired unredeemed.
    lives_until: i64,
}

impl Grant<'_> {
    /// A dependency failed after the code was redeemed: hand the code back for what is left of its
    /// life (if nothing was issued from it), and answer 503.
    async fn release(&self, cause: BackendError) -> OAuthError {
        cause.log();
        let left = self.lives_until - self.app.now();
        if left > 0
            && let Err(e) = self.app.sessions.release_code(self.code_hash, self.record, left).await
        {
            tracing::error!(error = %e, "cannot hand back the authorization code");
        }
        OAuthError::unavailable()
    }
}

pub fn idle_ttl(app: &App, client: &Client) -> u64 {
    client.refresh_idle_ttl_secs.and_then(|s| u64::try_from(s).ok()).unwrap_or(app.config.tokens.refresh_idle_ttl_secs)
}

/// The code must have been issued to this client for this redirect URI and PKCE challenge.
fn check_binding(
    client: &Client,
    redirect_uri: &str,
    verifier: Option<&str>,
    record: &AuthCode,
) -> Result<(), OAuthError> {
    let request = &record.request;
    // A device's approval is redeemed by the device grant alone (`CodeOrigin::Device`).
    if request.client_id != client.id || request.redirect_uri.is_empty() {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    if request.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
    }
    pkce::verify(request.code_challenge.as_deref(), verifier).map_err(OAuthError::invalid_grant)
}

/// RFC 6749 §4.1.2: a second use of a code revokes everything issued from it — whether the
/// first redemption has finished or is still in progress (its redemption is revoked, so it issues
/// no refresh token; its access token is denied by name).
async fn revoke_replayed(app: &App, presenter: &Client, code_hash: &str) -> Result<(), OAuthError> {
    let now = app.now();
    let grant_id = code_grant_id(code_hash);
    app.revocation().revoke_code_grant(&grant_id, now).await?;
    tracing::warn!(client_id = %presenter.id, "authorization code replayed; its tokens are revoked");
    let event = crate::directory::audit::AuditEvent {
        kind: crate::directory::audit::AuditKind::CodeReplayDetected,
        actor: None,
        subject: None,
        client_id: Some(presenter.id.clone()),
        detail: serde_json::json!({ "family": grant_id }),
    };
    if let Err(e) = app.directory.record_audit(now, event).await {
        tracing::error!(error = %e, "cannot record audit event");
    }
    Ok(())
}

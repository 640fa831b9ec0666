//! The `refresh_token` grant (RFC 6749 §6; RFC 9700 §4.14; OIDC Core §12): one atomic rotation in
//! the SessionStore decides rotation, retry within the grace window, or reuse; the upstream
//! recheck asks DingTalk at most every `upstream_recheck_secs` whether the user still belongs,
//! before the token is rotated. A refresh answered 503 has changed nothing.

use super::authorization_code::idle_ttl;
use crate::app::App;
use crate::directory::Client;
use crate::login::membership::{self, Account};
use crate::oidc::OAuthError;
use crate::oidc::error::BackendError;
use crate::oidc::error::ErrorCode;
use crate::oidc::params::{Params, parse_scope};
use crate::oidc::token::TokenResponse;
use crate::secrets;
use crate::store::{
    RefreshFamily, RefreshSuccessor, RotateOutcome, RotateRequest, family_access_jti, refresh_family_id,
};
use crate::tokens::mint::{MintRequest, mint};
use crate::tokens::refresh::{new_refresh_token, seal_successor, unseal_successor};
use crate::tokens::{ProfileClaims, TokenLifetimes};

/// Our own state cannot serve the refresh: 503, logged once.
fn internal(what: &'static str) -> OAuthError {
    BackendError::Internal(what).into()
}

pub async fn grant(app: &App, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    let presented = params.get("refresh_token").ok_or(OAuthError::invalid_request("refresh_token is required"))?;
    let family_id = refresh_family_id(presented).ok_or(OAuthError::invalid_grant("the refresh token is invalid"))?;
    // RFC 6749 §6: scope may only narrow; omitted means the original scope.
    let scopes = match params.get("scope") {
        None => None,
        Some(scope) => Some(parse_scope(scope).ok_or(OAuthError::new(ErrorCode::InvalidScope, "scope is malformed"))?),
    };
    // RFC 8707 §2.2: a resource named at refresh must be the one authorized. Looked at before the
    // rotation, so a refusal consumes nothing (the family's resource never changes).
    if let Some(asked) = params.get("resource") {
        match app.sessions.get_refresh_family(family_id).await? {
            Some(family) if family.client_id == client.id && family.resource.as_deref() != Some(asked) => {
                return Err(OAuthError::new(
                    ErrorCode::InvalidTarget,
                    "the resource was not authorized with this grant",
                ));
            }
            _ => {}
        }
    }
    let now = app.now();
    // Nothing is consumed that could not be answered: without a key to sign with, stop here.
    if app.keys.ring().signer_at(now).is_none() {
        return Err(internal("no signing key is active"));
    }
    let successor = new_refresh_token(family_id);
    // Named after the family, which revoking the family denies as a whole.
    let jti = family_access_jti(family_id);
    // The client's lifetimes as registered now: a change applies from the next refresh on.
    let lifetimes = TokenLifetimes::for_client(&app.config.tokens, client);
    let mut request = RotateRequest {
        family_id: family_id.to_string(),
        presented_hash: secrets::hash(presented),
        client_id: client.id.clone(),
        scopes: scopes.clone(),
        successor: RefreshSuccessor {
            token_hash: secrets::hash(&successor),
            sealed: seal_successor(presented, &successor).ok_or_else(|| internal("sealing failed"))?,
            idle_ttl_secs: idle_ttl(app, client),
            access_exp: lifetimes.access_exp(now),
        },
        now,
        grace_secs: app.config.tokens.refresh_grace_secs,
        recheck_due_before: recheck_due_before(app, now),
    };
    let (family, refresh_token) = loop {
        match app.sessions.rotate_refresh_token(&request).await? {
            RotateOutcome::Rotated(family) => break (family, successor),
            // A lost response or a second tab: the same successor again (RFC 9700 §4.14.2 grace).
            RotateOutcome::Retry { family, sealed_successor } => {
                let same = unseal_successor(presented, &sealed_successor)
                    .ok_or(OAuthError::invalid_grant("the refresh token is invalid"))?;
                break (family, same);
            }
            // The user must be confirmed upstream first. Done before the token is consumed, so a
            // recheck that fails on a dependency (503) leaves the token usable; then the rotation
            // is asked again, without the condition.
            RotateOutcome::RecheckDue(family) if request.recheck_due_before.is_some() => {
                recheck_upstream(app, family, now).await?;
                request.recheck_due_before = None;
            }
            RotateOutcome::RecheckDue(_) => {
                return Err(internal("the store asked for a recheck it was not offered"));
            }
            RotateOutcome::Reused(revoked) => {
                app.revocation().after_reuse(&revoked, now).await?;
                return Err(OAuthError::invalid_grant("the refresh token was already used; the grant is revoked"));
            }
            RotateOutcome::ScopeWidened => {
                return Err(OAuthError::new(ErrorCode::InvalidScope, "the requested scope exceeds the original grant"));
            }
            RotateOutcome::Invalid | RotateOutcome::WrongClient => {
                return Err(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked"));
            }
        }
    };

    // An admin may narrow the organisations a client accepts: a grant of a user of one it no longer
    // accepts ends here (docs/dingtalk-app.md, "Several organisations").
    if let Some(org) = family.org_id.as_deref()
        && !crate::oidc::organisation::accepts(app, client, org)
    {
        app.revocation().revoke_family(&family.id, now).await?;
        return Err(OAuthError::invalid_grant("the user's organisation is no longer accepted by this client"));
    }
    let granted = scopes.unwrap_or_else(|| family.scopes.clone());
    let claims = family.claims.restrict(granted.iter().map(String::as_str));
    let minted = mint(
        &app.token_issuer(),
        &MintRequest {
            client_id: &client.id,
            sub: &family.user_id,
            scopes: &granted,
            claims: &claims,
            sid: family.login_sid.as_deref(),
            // RFC 9068 §2.2.1 and OIDC Core §12.2: the original authentication time.
            auth_time: family.auth_time,
            amr: &family.amr,
            // OIDC Core §12.2: no nonce on refresh.
            nonce: None,
            with_id_token: client.id_token_on_refresh,
            jti: &jti,
            iat: now,
            lifetimes,
            resource: family.resource.as_deref(),
        },
    )?;
    crate::metrics::token_issued("refresh_token");
    Ok(minted.into_response(Some(refresh_token)))
}

/// A family last confirmed upstream before this time needs a recheck before it rotates (only with
/// an organisation configured: without one there is nothing to ask DingTalk).
fn recheck_due_before(app: &App, now: i64) -> Option<i64> {
    app.organisations.any_with_corp().then_some(())?;
    Some(now - app.config.tokens.upstream_recheck_secs as i64)
}

/// At most every `upstream_recheck_secs`: may the user still use the provider
/// (`login::membership`, the rule sign-in applies)? A user who left, was deactivated or was
/// disabled here loses every session and family; while DingTalk cannot be asked, refreshes go on
/// for `upstream_tolerance_secs` after the last good answer. On success the family's record (its
/// check time and claims) is updated in the store; nothing else changes.
async fn recheck_upstream(app: &App, mut family: RefreshFamily, now: i64) -> Result<(), OAuthError> {
    let tokens = &app.config.tokens;
    let revocation = app.revocation();
    let revoke_user = async |reason: &str| -> OAuthError {
        if let Err(e) = revocation.revoke_user(&family.user_id, reason, now).await {
            return e.into();
        }
        OAuthError::invalid_grant("the user may no longer sign in")
    };
    let user = match app.directory.user(&family.user_id).await? {
        Some(user) if !user.disabled => user,
        _ => return Err(revoke_user("disabled").await),
    };
    // Asked of the user's own organisation; one no longer configured no longer vouches for anyone.
    let Some(organisation) = app.organisations.get(&user.org_id) else {
        tracing::info!(user = %user.id, "upstream recheck: the user's organisation is no longer configured");
        return Err(revoke_user("organisation no longer configured").await);
    };
    let account = Account::Known { union_id: &user.union_id };
    let checked = membership::check(&organisation.client, organisation.corp_id(), account).await;
    match checked.map(|membership| membership.allowed()) {
        Ok(Ok(member)) => {
            // Roles and groups are recomputed at the recheck (org data may have changed).
            if let Some(member) = member
                && let Some(updated) = app.directory.update_user_org(&user.id, &member).await?
            {
                let updated =
                    crate::login::roles::refresh_user_access(crate::oidc::access_sources(app), &updated).await?;
                family.claims = ProfileClaims::for_scopes(&updated, family.scopes.iter().map(String::as_str));
            }
            family.upstream_checked_at = now;
            if !app.sessions.update_refresh_family(&family).await? {
                return Err(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked"));
            }
            Ok(())
        }
        Ok(Err(reason)) => {
            tracing::info!(user = %user.id, reason, "upstream recheck refused the user");
            Err(revoke_user("left the organisation or was deactivated").await)
        }
        Err(e) if now - family.upstream_checked_at <= tokens.upstream_tolerance_secs as i64 => {
            tracing::warn!(dingtalk_error = %e.log_code(), "upstream recheck failed; within tolerance");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(dingtalk_error = %e.log_code(), "upstream recheck failed past the tolerance");
            revocation.revoke_family(&family.id, now).await?;
            Err(OAuthError::invalid_grant("the user's membership could not be confirmed"))
        }
    }
}

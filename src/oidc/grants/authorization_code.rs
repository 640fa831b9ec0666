//! The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.5-4.6, OIDC Core §3.1.3.2).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::directory::Client;
use crate::oidc::OAuthError;
use crate::oidc::params::{Params, is_pkce_value};
use crate::oidc::token::{MintRequest, TokenResponse, access_token_exp, mint};
use crate::random;
use crate::store::{AuthCode, CodeGrant, IssuedAccessToken, RefreshFamily, RefreshSuccessor, family_access_jti};
use crate::tokens::ProfileClaims;
use crate::tokens::refresh::{new_family_id, new_refresh_token};

/// RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub async fn grant(app: &App, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
    let code = params.get("code").ok_or(OAuthError::invalid_request("code is required"))?;
    // Policy (RFC 6749 §4.1.3): redirect_uri is always required, even with one registered URI.
    let redirect_uri = params.get("redirect_uri").ok_or(OAuthError::invalid_request("redirect_uri is required"))?;
    let verifier = params.get("code_verifier");
    if verifier.is_some_and(|v| !is_pkce_value(v)) {
        return Err(OAuthError::invalid_request("code_verifier is malformed"));
    }
    let code_hash = random::hash(code);
    // Consumed before any other check: a code presented once is gone, whoever presented it.
    let record = match app.sessions.consume_code(&code_hash).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            revoke_replayed(app, &code_hash).await?;
            return Err(OAuthError::invalid_grant("the code is invalid, expired or already used"));
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot consume authorization code");
            return Err(OAuthError::unavailable());
        }
    };
    check_binding(client, redirect_uri, verifier, &record)?;
    let user = match app.directory.user_cached(&record.user_id).await {
        Ok(Some(user)) if !user.disabled => user,
        Ok(_) => return Err(OAuthError::invalid_grant("the user is no longer allowed to sign in")),
        Err(e) => {
            tracing::error!(error = %e, "cannot load user");
            return Err(OAuthError::unavailable());
        }
    };
    let request = &record.request;
    let now = app.now();
    let claims = ProfileClaims::for_scopes(&user, request.scopes.iter().map(String::as_str));
    // RFC 9700 §4.14.2: refresh tokens only for clients allowed the grant.
    let family_id = client.allows_grant("refresh_token").then(new_family_id);
    // A token that starts a family is named after it, so revoking the family denies it too.
    let jti = family_id.as_deref().map_or_else(random::token, family_access_jti);
    let access = IssuedAccessToken { jti: jti.clone(), exp: access_token_exp(app, now) };
    let refresh = family_id.map(|family_id| {
        let offline = request.scopes.iter().any(|s| s == "offline_access");
        let absolute = client.refresh_absolute_ttl_secs.unwrap_or(app.config.tokens.refresh_absolute_ttl_secs as i64);
        let family = RefreshFamily {
            id: family_id,
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
        };
        let token = new_refresh_token(&family.id);
        let first = RefreshSuccessor {
            token_hash: random::hash(&token),
            sealed: String::new(),
            idle_ttl_secs: idle_ttl(app, client),
            access_exp: access.exp,
        };
        (family, first, token)
    });
    // RFC 6749 §4.1.2: remember what this code produced, so a replay can revoke it. One store
    // round trip records that and creates the refresh family.
    let grant = CodeGrant {
        client_id: client.id.clone(),
        family_id: refresh.as_ref().map(|(family, _, _)| family.id.clone()),
        access_token: access,
    };
    let remember_for = app.config.tokens.access_token_ttl_secs.max(600);
    let family = refresh.as_ref().map(|(family, first, _)| (family, first));
    if let Err(e) = app.sessions.record_code_grant(&code_hash, &grant, remember_for, family).await {
        tracing::error!(error = %e, "cannot store refresh-token family and code grant");
        return Err(OAuthError::unavailable());
    }
    let minted = mint(
        app,
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
        },
    )?;
    crate::metrics::token_issued("authorization_code");
    Ok(minted.into_response(refresh.map(|(_, _, token)| token)))
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
    if request.client_id != client.id {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    if request.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
    }
    match (&request.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            if !random::secure_eq(s256_challenge(verifier).as_bytes(), challenge.as_bytes()) {
                return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a downgrade attempt.
        (None, Some(_)) => return Err(OAuthError::invalid_grant("the code was issued without a code_challenge")),
        (None, None) => {}
    }
    Ok(())
}

/// RFC 6749 §4.1.2: a second use of a code revokes everything issued from it.
async fn revoke_replayed(app: &App, code_hash: &str) -> Result<(), OAuthError> {
    let grant = match app.sessions.take_code_grant(code_hash).await {
        Ok(Some(grant)) => grant,
        Ok(None) => return Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "cannot check for code replay");
            return Err(OAuthError::unavailable());
        }
    };
    let now = app.now();
    let revocation = app.revocation();
    let result = async {
        revocation.deny_access_token(&grant.access_token.jti, grant.access_token.exp).await?;
        if let Some(family) = &grant.family_id {
            revocation.revoke_family(family, now).await?;
        }
        Ok::<_, crate::store::StoreError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "cannot revoke tokens of a replayed code");
        return Err(OAuthError::unavailable());
    }
    tracing::warn!(client_id = %grant.client_id, "authorization code replayed; its tokens are revoked");
    let event = crate::directory::audit::AuditEvent {
        kind: "code_replay_detected".into(),
        actor: None,
        subject: None,
        client_id: Some(grant.client_id.clone()),
        detail: serde_json::json!({ "family": grant.family_id }),
    };
    if let Err(e) = app.directory.record_audit(now, event).await {
        tracing::error!(error = %e, "cannot record audit event");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc7636_appendix_b_s256_vector() {
        assert_eq!(
            super::s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}

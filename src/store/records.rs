//! The records the SessionStore keeps, and the requests and answers of its atomic operations. Plain
//! data: what they mean to the protocol is decided above the store.

use serde::{Deserialize, Serialize};

use super::claims::ProfileClaims;
use super::response_mode::ResponseMode;

/// A validated authorization request (OIDC Core §3.1.2.1), carried through the DingTalk login and
/// consent into the code, so the token endpoint sees exactly what was authorized
/// (RFC 6749 §4.1.2; RFC 7636 §4.4; OIDC Core §15.5.1).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// RFC 7636: the S256 challenge, when one was sent.
    pub code_challenge: Option<String>,
    /// `prompt=consent` was asked for.
    pub prompt_consent: bool,
    pub max_age: Option<i64>,
    /// The `sub` of a valid `id_token_hint`: tokens are never issued for anyone else
    /// (OIDC Core §3.1.2.2).
    #[serde(default)]
    pub id_token_hint_sub: Option<String>,
    /// OIDC Core §3.1.2.1 `ui_locales`: the language of the pages of this flow.
    #[serde(default)]
    pub ui_locales: Option<String>,
    /// How the answer goes back to the client (`oidc::response_mode`). Not written when it is
    /// the default, `query`, so records read the same by versions that predate the field.
    #[serde(default, skip_serializing_if = "ResponseMode::is_query")]
    pub response_mode: ResponseMode,
    /// RFC 8707 §2: the registered API the access tokens of this authorization are for (their
    /// `aud`); `None`: the provider's own userinfo (and admin API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl AuthRequest {
    /// A request for `openid` alone: no state, nonce, PKCE, prompt or max_age, answered in the
    /// query. The account page's own sign-in is one (`account`).
    pub fn openid_only(client_id: &str, redirect_uri: &str) -> AuthRequest {
        AuthRequest {
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            scopes: vec!["openid".into()],
            state: None,
            nonce: None,
            code_challenge: None,
            prompt_consent: false,
            max_age: None,
            id_token_hint_sub: None,
            ui_locales: None,
            response_mode: ResponseMode::Query,
            resource: None,
        }
    }
}

/// A pushed authorization request (RFC 9126 §2), kept under a hash of its `request_uri` and the
/// client that pushed it (so only that client finds it, `oidc::par`) until the authorization
/// endpoint takes it, once (§4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PushedRequest {
    /// The request's parameters as pushed, `client_id` included: the authorization endpoint
    /// validates them as if they had come in the browser's request (§4).
    pub params: Vec<(String, String)>,
    pub expires_at: i64,
}

/// A login waiting for DingTalk's callback. `id` is the `state` we send to DingTalk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingAuth {
    pub id: String,
    pub request: AuthRequest,
    /// SHA-256 of the browser-binding cookie of the browser that started the login.
    pub browser_binding_hash: String,
    pub created_at: i64,
    /// A sign-in for one of the provider's own pages, not for a client: the browser goes back to
    /// the page with its new SSO session and no code is issued. Not written when absent, so
    /// records read the same by versions that predate the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<OwnPage>,
    /// The request had `prompt=none` and is being tried inside the DingTalk client: where that
    /// fails, the client hears `login_required` rather than the user seeing DingTalk's login.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub silent: bool,
    /// The DingTalk organisations (corp ids) this sign-in may go through (`oidc::organisation`):
    /// one once chosen; empty in records from before several organisations (the default one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organisations: Vec<String>,
}

/// The provider's own pages a sign-in can return to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OwnPage {
    /// `/account`, the user's own page.
    Account,
    /// `/device`, the device verification page (RFC 8628 §3.3): back to the URL the request
    /// names as its `redirect_uri`, which carries the user code.
    Device,
}

/// An authenticated user waiting at the consent page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConsentRequest {
    pub id: String,
    pub request: AuthRequest,
    pub user_id: String,
    pub sid: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// SHA-256 of the anti-CSRF token embedded in the consent form.
    pub csrf_hash: String,
}

/// What an authorization code stands for. Stored under the SHA-256 of the code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuthCode {
    pub request: AuthRequest,
    pub user_id: String,
    pub sid: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub issued_at: i64,
}

/// The browser's single-sign-on session. `id` is its public identifier: the `sid` claim of ID
/// tokens, access tokens, introspection answers and logout tokens, shown to relying parties and
/// admins (Back-Channel Logout 1.0 §2.1), so it is never a credential. The browser proves the
/// session with a separate secret (RFC 6749 §10.3, §10.8), carried in the cookie
/// `<id>.<secret>` (see `login::session`); only the secret's SHA-256 is stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SsoSession {
    pub id: String,
    /// SHA-256 of the session secret (base64url).
    pub secret_hash: String,
    pub user_id: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// Clients that received tokens in this session (for logout).
    pub clients: Vec<String>,
    pub expires_at: i64,
    /// Last use at the authorization endpoint (idle lifetime).
    pub last_seen_at: i64,
}

/// A refresh-token family: everything one authorization granted, shared by the chain of rotated
/// refresh tokens (RFC 9700 §4.14.2). Refresh tokens are `<family id>.<secret>`; only the SHA-256
/// of the whole token is stored, so a forged family id finds nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefreshFamily {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    /// The SSO session this family is bound to; `None` for `offline_access` families, which
    /// survive logout (OIDC Core §11).
    pub sid: Option<String>,
    /// The `sid` of the login that started the family, for ID tokens minted by refresh (Back-Channel
    /// Logout §2.1), also for `offline_access` families.
    #[serde(default)]
    pub login_sid: Option<String>,
    pub scopes: Vec<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub created_at: i64,
    /// The family dies at this time whatever its use (absolute lifetime).
    pub expires_at: i64,
    /// Last time DingTalk confirmed the user (upstream recheck).
    pub upstream_checked_at: i64,
    /// The user's claims for the family's scopes as of the last login or recheck, so a refresh
    /// needs no directory lookup.
    #[serde(default)]
    pub claims: ProfileClaims,
    /// The user's DingTalk organisation, so a refresh can tell whether the client still accepts it
    /// (`oidc::organisation`); absent in families from before several organisations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// RFC 8707: the API the family's access tokens are for, as authorized (`AuthRequest::resource`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// The new refresh token a rotation installs.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshSuccessor {
    pub token_hash: String,
    /// The successor token sealed under a key derived from the presented token, so a retry within
    /// the grace window can be answered with the same successor and nothing usable sits at rest.
    pub sealed: String,
    /// Idle lifetime: the successor expires after this long unused (capped by the family's end).
    pub idle_ttl_secs: u64,
    /// The `exp` of the access token minted with this rotation: the store keeps only the latest
    /// expiry of the family's access tokens, which are denied together, by family (see
    /// [`family_access_jti`](super::family_access_jti)), so their `jti`s are not stored.
    pub access_exp: i64,
}

/// One rotation attempt: the presented token, who presents it, and what is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct RotateRequest {
    pub family_id: String,
    pub presented_hash: String,
    /// The authenticated client: a family is only ever rotated by its own client.
    pub client_id: String,
    /// RFC 6749 §6: the scopes asked for, which may only narrow the family's.
    pub scopes: Option<Vec<String>>,
    pub successor: RefreshSuccessor,
    /// Protocol time (an injectable clock).
    pub now: i64,
    pub grace_secs: u64,
    /// When the family's user was last confirmed upstream before this time, a current token is
    /// not rotated: the answer is [`RotateOutcome::RecheckDue`] and nothing changes, so the
    /// recheck's reads happen before anything is consumed (a failed recheck then leaves the token
    /// usable). `None`: no recheck is due whatever the family says.
    pub recheck_due_before: Option<i64>,
}

/// What one atomic rotation decided.
#[derive(Debug, Clone, PartialEq)]
pub enum RotateOutcome {
    /// The presented token was current: it is now rotated and the successor installed.
    Rotated(RefreshFamily),
    /// The presented token was rotated within the grace window: answer with the same successor.
    Retry { family: RefreshFamily, sealed_successor: String },
    /// The presented token was rotated before the grace window: the family is now revoked.
    Reused(RevokedFamily),
    /// Unknown, expired or revoked.
    Invalid,
    /// The token belongs to another client; nothing was changed.
    WrongClient,
    /// The scopes asked for exceed the family's; nothing was changed.
    ScopeWidened,
    /// The token is current but the family's upstream check is older than
    /// `recheck_due_before`; nothing was changed.
    RecheckDue(RefreshFamily),
}

/// A revoked family, and how long its access tokens must stay denied.
#[derive(Debug, Clone, PartialEq)]
pub struct RevokedFamily {
    pub family: RefreshFamily,
    /// The latest `exp` of the access tokens the family issued: its tokens are denied by family
    /// (`deny_family_access_tokens`) until then.
    pub access_exp: i64,
}

/// Where a refresh token stands (for revocation and introspection).
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshTokenState {
    pub family: RefreshFamily,
    /// False once the token was rotated away.
    pub current: bool,
}

/// What presenting an authorization code did (RFC 6749 §4.1.2: single use, and a replay revokes
/// what the code issued). Redeeming a code replaces it, in one atomic step, with a redemption record
/// that lives as long as the tokens it may issue: "consumed, tokens pending". What those tokens are
/// is fixed by the code itself ([`code_grant_id`](super::code_grant_id)), so a replay can revoke
/// them whether or not the first redemption has finished, and a first redemption that a replay
/// overtook cannot complete.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeRedemption {
    /// The code was live and is now redeemed; its grant is pending until
    /// [`CodeStore::complete_code_grant`](super::CodeStore::complete_code_grant) (or
    /// [`CodeStore::release_code`](super::CodeStore::release_code) puts it back).
    Redeemed(Box<AuthCode>),
    /// The code had been redeemed before: the redemption is now revoked, so a pending grant will
    /// not complete. The caller revokes what it may have issued (family and access tokens named
    /// by [`code_grant_id`](super::code_grant_id)).
    Replayed,
    /// No such code (unknown, expired, or a replay already handled).
    Unknown,
}

/// What completing a redeemed code's grant did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeGrantCompletion {
    /// The refresh family exists now.
    Created,
    /// A replay revoked the redemption first: nothing was created, and what the code issues is
    /// revoked (the first redemption still answers: RFC 6749 §4.1.2 denies the replay, not the
    /// first use, but its tokens are dead).
    Revoked,
    /// The SSO session the family would be bound to has ended: nothing was created.
    SessionEnded,
}

/// What the access-token denylist needs of a token: its `jti` (and the family it names), and whose
/// it is and when that user authenticated (`auth_time`): the tokens of every authentication of a
/// user up to a time can be denied at once, including tokens minted after the denial from an
/// earlier authentication (a code issued before it, exchanged on an instance whose cache had not
/// seen the user disabled yet). Its client and issue time (`iat`): a user's tokens for one client
/// issued up to a time can be denied at once (consent withdrawn).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenyCheck<'a> {
    pub jti: &'a str,
    pub sub: &'a str,
    pub auth_time: i64,
    pub client_id: &'a str,
    pub iat: i64,
}

/// A back-channel logout notification waiting to be delivered (Back-Channel Logout 1.0 §2.5).
/// Durable: it survives a provider restart. The logout token is signed at each attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogoutDelivery {
    pub id: String,
    pub client_id: String,
    pub uri: String,
    pub sub: String,
    pub sid: Option<String>,
    pub attempts: u32,
    pub created_at: i64,
    /// Given up after this time.
    pub expires_at: i64,
    /// The URI is a self-registered client's: it is called only at a public address
    /// (`outbound`). Absent in records queued before it existed: false.
    #[serde(default)]
    pub public_only: bool,
}

/// A device authorization request (RFC 8628 §3.1, §3.2), kept under the SHA-256 of its device
/// code; its user code (also kept as a hash) leads the verification page to it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeviceRequest {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    /// `expires_in` after `created_at`: polls after it hear `expired_token` (§3.5).
    pub expires_at: i64,
    /// The polling interval the client was given (§3.2), in seconds.
    pub interval_secs: u64,
    /// The registered API the tokens are for (RFC 8707 §2), their `aud`; absent in requests
    /// stored before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// The user's answer at the verification page (RFC 8628 §3.3), given once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum DeviceDecision {
    /// Approved: the grant is the authorization code stored under `code_hash` (never handed to
    /// anyone), which the token endpoint redeems with the code grant's single-use rules.
    Approved {
        code_hash: String,
    },
    Denied,
}

/// A request found by its user code, for the verification page.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceLookup {
    pub device_code_hash: String,
    pub request: DeviceRequest,
    /// The user has already answered it.
    pub decided: bool,
}

/// What a poll of the token endpoint finds (RFC 8628 §3.4, §3.5).
#[derive(Debug, Clone, PartialEq)]
pub struct DevicePoll {
    pub request: DeviceRequest,
    pub decision: Option<DeviceDecision>,
    /// The previous poll of this device code came less than its interval ago (`slow_down`).
    pub too_soon: bool,
}

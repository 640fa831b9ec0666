//! `clients`: register, list, show, update, remove, rotate a secret.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{cli_error, connect};
use crate::config::Config;
use crate::directory::{ClientUpdate, NewClient};
use crate::manage::{self, Actor, Manage};

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; a confidential client's secret is printed once and never again.
    Add(Box<AddClientArgs>),
    /// List registered clients.
    List,
    /// Change a registered client.
    Update(Box<UpdateClientArgs>),
    /// Show one client.
    Show {
        /// The client id.
        id: String,
    },
    /// Remove a client.
    Remove {
        /// The client id.
        id: String,
    },
    /// Issue a new secret for a confidential client (printed once; the old one stops working).
    RotateSecret {
        /// The client id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct AddClientArgs {
    /// Client id (A-Z a-z 0-9 - . _ ~).
    #[arg(long)]
    pub id: String,
    /// Redirect URI, compared exactly (repeatable; at least one for a client that signs users in).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// A public client (browser or native app): no secret, PKCE required.
    #[arg(long)]
    pub public: bool,
    /// A first-party client: users are not asked for consent.
    #[arg(long)]
    pub first_party: bool,
    /// Display name shown on the consent page.
    #[arg(long)]
    pub name: Option<String>,
    /// Scopes the client may request (repeatable; the list replaces the default: openid profile email
    /// phone offline_access). roles, groups, dingtalk and admin are opt-in: list them to allow them.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Where RP-initiated logout may send the user back to (repeatable; exact match).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// The client's back-channel logout endpoint (receives logout tokens by POST).
    #[arg(long = "backchannel-logout-uri", value_name = "URI")]
    pub backchannel_logout_uri: Option<String>,
    /// Grant types (repeatable; default: authorization_code refresh_token). Leave out refresh_token to
    /// issue this client no refresh tokens; client_credentials for a service calling an API on its
    /// own behalf (with --scope naming the API's scopes it may have);
    /// urn:ietf:params:oauth:grant-type:device_code for a device or CLI without a browser
    /// (RFC 8628; no redirect URI needed).
    #[arg(long = "grant-type", value_name = "GRANT")]
    pub grant_types: Vec<String>,
    /// May introspect tokens issued to other clients (a resource server).
    #[arg(long)]
    pub resource_server: bool,
    /// Refresh responses carry no ID token (OIDC Core §12.2 allows it; saves a signature).
    #[arg(long)]
    pub no_id_token_on_refresh: bool,
    /// Refresh tokens expire after this many seconds unused (default: tokens.refresh_idle_ttl_secs).
    #[arg(long, value_name = "SECS")]
    pub refresh_idle_ttl: Option<i64>,
    /// Refresh-token families end this many seconds after login (default: tokens.refresh_absolute_ttl_secs).
    #[arg(long, value_name = "SECS")]
    pub refresh_absolute_ttl: Option<i64>,
    /// Access-token lifetime for this client, 60 to 86400 seconds (default: tokens.access_token_ttl_secs).
    #[arg(long, value_name = "SECS")]
    pub access_token_ttl: Option<TokenTtlArg>,
    /// ID-token lifetime for this client, 60 to 86400 seconds (default: tokens.id_token_ttl_secs). An
    /// application that keeps the ID token as its session (Argo CD) needs it as long as a session.
    #[arg(long, value_name = "SECS")]
    pub id_token_ttl: Option<TokenTtlArg>,
    /// A DingTalk organisation (corp id) whose users may sign in (repeatable; default: the first
    /// configured organisation only).
    #[arg(long = "organisation", value_name = "CORP_ID")]
    pub organisations: Vec<String>,
    /// Make the client a resource server: the API's resource indicator (RFC 8707), an absolute
    /// https URI, the `aud` of tokens issued for it.
    #[arg(long = "resource-uri", value_name = "URI")]
    pub resource_uri: Option<String>,
    /// A scope the API defines (repeatable; with --resource-uri).
    #[arg(long = "resource-scope", value_name = "SCOPE")]
    pub resource_scopes: Vec<String>,
    /// Accept authorization requests only by request_uri from the pushed authorization request
    /// endpoint, POST /par (RFC 9126).
    #[arg(long)]
    pub require_par: bool,
    /// A file holding the client's public JWK Set: the client authenticates with private_key_jwt
    /// (a JWT signed by one of these keys, OIDC Core §9) and gets no secret.
    #[arg(long, value_name = "PATH", conflicts_with = "jwks_uri")]
    pub jwks_file: Option<PathBuf>,
    /// Or the https URI where the client serves its JWK Set (private_key_jwt).
    #[arg(long, value_name = "URI")]
    pub jwks_uri: Option<String>,
}

/// `--access-token-ttl` / `--id-token-ttl`: seconds within the bounds of `tokens::lifetime`, or
/// `default` for the global `tokens.*_ttl_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTtlArg(pub Option<u64>);

impl std::str::FromStr for TokenTtlArg {
    type Err = String;

    fn from_str(s: &str) -> Result<TokenTtlArg, String> {
        if s == "default" {
            return Ok(TokenTtlArg(None));
        }
        let secs: u64 = s.parse().map_err(|_| format!("{s:?} is neither a number of seconds nor `default`"))?;
        crate::tokens::lifetime::check_token_ttl(secs)?;
        Ok(TokenTtlArg(Some(secs)))
    }
}

#[derive(Debug, Args)]
pub struct UpdateClientArgs {
    /// The client id.
    pub id: String,
    /// New display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Replace the redirect URIs (repeatable).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Replace the post-logout redirect URIs (repeatable).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Set the back-channel logout endpoint.
    #[arg(long = "backchannel-logout-uri", value_name = "URI", conflicts_with = "no_backchannel_logout")]
    pub backchannel_logout_uri: Option<String>,
    /// Remove the back-channel logout endpoint.
    #[arg(long)]
    pub no_backchannel_logout: bool,
    /// Skip (true) or ask (false) for consent.
    #[arg(long, value_name = "BOOL")]
    pub first_party: Option<bool>,
    /// Replace the allowed scopes (repeatable; must include openid).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Replace the grant types (repeatable).
    #[arg(long = "grant-type", value_name = "GRANT")]
    pub grant_types: Vec<String>,
    /// May (true) or may not (false) introspect other clients' tokens.
    #[arg(long, value_name = "BOOL")]
    pub resource_server: Option<bool>,
    /// Whether refresh responses carry an ID token.
    #[arg(long, value_name = "BOOL")]
    pub id_token_on_refresh: Option<bool>,
    /// Access-token lifetime for this client, 60 to 86400 seconds; `default` goes back to
    /// tokens.access_token_ttl_secs.
    #[arg(long, value_name = "SECS")]
    pub access_token_ttl: Option<TokenTtlArg>,
    /// ID-token lifetime for this client, 60 to 86400 seconds; `default` goes back to
    /// tokens.id_token_ttl_secs. Argo CD keeps the ID token as its session: 28800 keeps users signed
    /// in for 8 hours.
    #[arg(long, value_name = "SECS")]
    pub id_token_ttl: Option<TokenTtlArg>,
    /// Replace the DingTalk organisations (corp ids) whose users may sign in (repeatable).
    #[arg(long = "organisation", value_name = "CORP_ID", conflicts_with = "default_organisation_only")]
    pub organisations: Vec<String>,
    /// Accept the first configured organisation only again.
    #[arg(long)]
    pub default_organisation_only: bool,
    /// Set the API's resource indicator (RFC 8707); an empty value makes it no resource server.
    #[arg(long = "resource-uri", value_name = "URI")]
    pub resource_uri: Option<String>,
    /// Replace the scopes the API defines (repeatable).
    #[arg(long = "resource-scope", value_name = "SCOPE")]
    pub resource_scopes: Vec<String>,
    /// Accept authorization requests only (true) or also (false) by request_uri from the pushed
    /// authorization request endpoint, POST /par (RFC 9126).
    #[arg(long, value_name = "BOOL")]
    pub require_par: Option<bool>,
    /// Replace the client's public JWK Set (private_key_jwt) with the one in this file; its secret
    /// stops working.
    #[arg(long, value_name = "PATH", conflicts_with = "no_jwks")]
    pub jwks_file: Option<PathBuf>,
    /// Remove the client's inline JWK Set.
    #[arg(long)]
    pub no_jwks: bool,
    /// Set the URI of the client's JWK Set (private_key_jwt; its secret stops working); an empty
    /// value removes it.
    #[arg(long, value_name = "URI")]
    pub jwks_uri: Option<String>,
}

/// A client's token lifetime as `clients add` and `clients list` print it: its own, or the global one.
fn ttl_shown(own: Option<u64>, global: u64) -> String {
    match own {
        Some(secs) => format!("{secs} s"),
        None => format!("{global} s (default)"),
    }
}

/// `--jwks-file`: the JWK Set as the file holds it (the directory checks it).
fn read_jwks(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("--jwks-file {}: {e}", path.display()))
}

/// A client's organisations as the CLI shows them.
fn organisations_shown(organisations: &[String]) -> String {
    if organisations.is_empty() { "the default organisation".to_owned() } else { organisations.join(" ") }
}

pub(super) async fn run(config_path: Option<PathBuf>, cmd: ClientsCommand) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    let directory = connect(&config).await?;
    let m = Manage::standalone(&directory, Actor::cli())
        .with_organisations_of(&config.dingtalk)
        .with_issuer(config.issuer_base());
    match cmd {
        ClientsCommand::Add(args) => {
            let new = NewClient {
                id: args.id,
                name: args.name,
                redirect_uris: args.redirect_uris,
                post_logout_redirect_uris: args.post_logout_redirect_uris,
                public: args.public,
                first_party: args.first_party,
                allowed_scopes: (!args.scopes.is_empty()).then_some(args.scopes),
                grant_types: (!args.grant_types.is_empty()).then_some(args.grant_types),
                backchannel_logout_uri: args.backchannel_logout_uri,
                resource_server: args.resource_server,
                refresh_idle_ttl_secs: args.refresh_idle_ttl,
                refresh_absolute_ttl_secs: args.refresh_absolute_ttl,
                id_token_on_refresh: Some(!args.no_id_token_on_refresh),
                access_token_ttl_secs: args.access_token_ttl.and_then(|t| t.0),
                id_token_ttl_secs: args.id_token_ttl.and_then(|t| t.0),
                organisations: args.organisations,
                resource_uri: args.resource_uri,
                resource_scopes: args.resource_scopes,
                require_pushed_authorization_requests: args.require_par,
                jwks: args.jwks_file.as_deref().map(read_jwks).transpose()?,
                jwks_uri: args.jwks_uri,
                registration_token_hash: None,
            };
            let (client, secret) = manage::clients::create(&m, new).await.map_err(cli_error)?;
            println!("client registered: {}", client.id);
            let kind = match client.token_endpoint_auth_method() {
                "none" => "public (PKCE, no secret)",
                "private_key_jwt" => "confidential (private_key_jwt: signs with its registered keys, no secret)",
                _ => "confidential",
            };
            println!("  type:          {kind}");
            // A service or a device redirects nobody.
            if !client.redirect_uris.is_empty() {
                println!("  redirect URIs: {}", client.redirect_uris.join(" "));
            }
            println!(
                "  access token:  {}",
                ttl_shown(client.access_token_ttl_secs, config.tokens.access_token_ttl_secs)
            );
            println!("  ID token:      {}", ttl_shown(client.id_token_ttl_secs, config.tokens.id_token_ttl_secs));
            println!("  organisations: {}", organisations_shown(&client.organisations));
            if let Some(secret) = secret {
                println!("  client secret: {secret}");
                println!("Store the secret now: it is kept only as a hash and cannot be shown again.");
            }
        }
        ClientsCommand::Update(args) => {
            let update = ClientUpdate {
                name: args.name,
                redirect_uris: (!args.redirect_uris.is_empty()).then_some(args.redirect_uris),
                post_logout_redirect_uris: (!args.post_logout_redirect_uris.is_empty())
                    .then_some(args.post_logout_redirect_uris),
                backchannel_logout_uri: match (args.backchannel_logout_uri, args.no_backchannel_logout) {
                    (Some(uri), _) => Some(Some(uri)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                first_party: args.first_party,
                allowed_scopes: (!args.scopes.is_empty()).then_some(args.scopes),
                grant_types: (!args.grant_types.is_empty()).then_some(args.grant_types),
                resource_server: args.resource_server,
                id_token_on_refresh: args.id_token_on_refresh,
                access_token_ttl_secs: args.access_token_ttl.map(|t| t.0),
                id_token_ttl_secs: args.id_token_ttl.map(|t| t.0),
                organisations: match (args.organisations.is_empty(), args.default_organisation_only) {
                    (false, _) => Some(args.organisations),
                    (true, true) => Some(Vec::new()),
                    (true, false) => None,
                },
                resource_uri: args.resource_uri.map(|u| Some(u).filter(|u| !u.is_empty())),
                resource_scopes: (!args.resource_scopes.is_empty()).then_some(args.resource_scopes),
                require_pushed_authorization_requests: args.require_par,
                jwks: match (args.jwks_file, args.no_jwks) {
                    (Some(path), _) => Some(Some(read_jwks(&path)?)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                jwks_uri: args.jwks_uri.map(|u| Some(u).filter(|u| !u.is_empty())),
            };
            let client = manage::clients::update(&m, &args.id, update).await.map_err(cli_error)?;
            println!("{}", serde_json::to_string_pretty(&client)?);
        }
        ClientsCommand::List => {
            for client in directory.list_clients().await? {
                println!(
                    "{}\t{}\t{}\taccess token {}\tID token {}",
                    client.id,
                    if client.public { "public" } else { "confidential" },
                    client.redirect_uris.join(" "),
                    ttl_shown(client.access_token_ttl_secs, config.tokens.access_token_ttl_secs),
                    ttl_shown(client.id_token_ttl_secs, config.tokens.id_token_ttl_secs),
                );
            }
        }
        ClientsCommand::Show { id } => {
            let client = manage::clients::get(&directory, &id).await.map_err(cli_error)?;
            println!("{}", serde_json::to_string_pretty(&client)?);
        }
        ClientsCommand::RotateSecret { id } => {
            let secret = manage::clients::rotate_secret(&m, &id).await.map_err(cli_error)?;
            println!("client secret: {secret}");
            println!("Store the secret now: it is kept only as a hash and cannot be shown again.");
        }
        ClientsCommand::Remove { id } => {
            manage::clients::remove(&m, &id).await.map_err(cli_error)?;
            println!("client {id} removed");
        }
    }
    Ok(())
}

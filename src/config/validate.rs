//! Start-up checks of the options that have no safe default; each error names its option.

use super::server::same_address;
use super::{Config, ConfigError, check_level, check_token_ttl};

impl Config {
    /// Checks every option that has no safe default. `dev` relaxes what `serve --dev` fills in.
    pub fn validate(&self, dev: bool) -> Result<(), ConfigError> {
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|e| ConfigError::Option { option: "issuer", problem: format!("is not an absolute URL: {e}") })?;
        // OIDC Discovery §3: the issuer is a URL with no query or fragment.
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::Option { option: "issuer", problem: "must not have a query or fragment".into() });
        }
        let loopback = matches!(issuer.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
        // RFC 6749 §3.1 / OIDC Core §16.17: TLS everywhere except on this machine.
        if issuer.scheme() != "https" && !(issuer.scheme() == "http" && (dev || loopback)) {
            return Err(ConfigError::Option {
                option: "issuer",
                problem: "must be an https URL (http is allowed only for loopback hosts)".into(),
            });
        }
        // The rule `web::client_addr` applies at each request: its options are checked here.
        self.server.trusted_proxy_nets()?;
        self.server.forwarded_header_kind()?;
        if self.server.metrics_on_own_listener() && same_address(&self.server.metrics_listen, &self.server.listen) {
            return Err(ConfigError::Option {
                option: "server.metrics_listen",
                problem: format!(
                    "is {:?}, the address of server.listen ({:?}); metrics need an address of their own (or \
                     leave server.metrics_listen empty to serve /metrics on server.listen)",
                    self.server.metrics_listen, self.server.listen
                ),
            });
        }
        if self.server.shutdown_drain_secs == Some(0) {
            return Err(ConfigError::Option {
                option: "server.shutdown_drain_secs",
                problem: "must be greater than 0 (leave it unset for the longest request's time)".into(),
            });
        }
        if !matches!(self.sessions.backend.as_str(), "sql" | "redis") {
            return Err(ConfigError::Option {
                option: "sessions.backend",
                problem: format!("is {:?}; use \"sql\" or \"redis\"", self.sessions.backend),
            });
        }
        for (option, value) in [
            ("sessions.sweep_interval_secs", self.sessions.sweep_interval_secs),
            ("keys.rotation_period_secs", self.keys.rotation_period_secs),
            ("keys.jwks_max_age_secs", self.keys.jwks_max_age_secs),
            ("keys.reload_interval_secs", self.keys.reload_interval_secs),
            ("tokens.refresh_idle_ttl_secs", self.tokens.refresh_idle_ttl_secs),
            ("tokens.refresh_absolute_ttl_secs", self.tokens.refresh_absolute_ttl_secs),
            ("tokens.upstream_recheck_secs", self.tokens.upstream_recheck_secs),
            ("tokens.sso_session_idle_secs", self.tokens.sso_session_idle_secs),
            ("logout.logout_token_ttl_secs", self.logout.logout_token_ttl_secs),
            ("logout.backchannel_timeout_ms", self.logout.backchannel_timeout_ms),
            ("logout.poll_interval_ms", self.logout.poll_interval_ms),
            ("sessions.sweep_batch", self.sessions.sweep_batch),
            ("database.statement_timeout_ms", self.database.statement_timeout_ms),
            ("redis.command_timeout_ms", self.redis.command_timeout_ms),
            ("redis.connect_timeout_ms", self.redis.connect_timeout_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::Option { option, problem: "must be greater than 0".into() });
            }
        }
        // The same bounds as a client's own lifetimes: retired keys and denials are kept for the
        // longest lifetime there can be (`MAX_TOKEN_TTL_SECS`).
        for (option, value) in [
            ("tokens.access_token_ttl_secs", self.tokens.access_token_ttl_secs),
            ("tokens.id_token_ttl_secs", self.tokens.id_token_ttl_secs),
        ] {
            check_token_ttl(value).map_err(|problem| ConfigError::Option { option, problem })?;
        }
        for (option, value) in [
            ("tokens.code_ttl_secs", self.tokens.code_ttl_secs),
            ("tokens.pending_auth_ttl_secs", self.tokens.pending_auth_ttl_secs),
            ("tokens.sso_session_ttl_secs", self.tokens.sso_session_ttl_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::Option { option, problem: "must be greater than 0".into() });
            }
        }
        // OIDC Core §10.1.1: caches must see a key before it signs.
        if self.keys.publish_lead_secs < 2 * self.keys.jwks_max_age_secs {
            return Err(ConfigError::Option {
                option: "keys.publish_lead_secs",
                problem: "must be at least twice keys.jwks_max_age_secs, so every cache sees a new key before it signs"
                    .into(),
            });
        }
        // RFC 8628 §3.2, §6.1: a user code of 8 characters of 20 is guessed only slowly when it lives
        // minutes, not hours; the interval keeps polling polite.
        if !(60..=1800).contains(&self.tokens.device_code_ttl_secs) {
            return Err(ConfigError::Option {
                option: "tokens.device_code_ttl_secs",
                problem: "must be from 60 to 1800 (RFC 8628 §6.1: user codes live minutes)".into(),
            });
        }
        if !(1..=60).contains(&self.tokens.device_poll_interval_secs) {
            return Err(ConfigError::Option {
                option: "tokens.device_poll_interval_secs",
                problem: "must be from 1 to 60".into(),
            });
        }
        let registration = &self.registration;
        if registration.allowed_redirect_schemes.is_empty() {
            return Err(ConfigError::Option {
                option: "registration.allowed_redirect_schemes",
                problem: "must name at least one scheme (https)".into(),
            });
        }
        if !registration.allowed_scopes.iter().any(|s| s == "openid") {
            return Err(ConfigError::Option {
                option: "registration.allowed_scopes",
                problem: "must include openid: registered clients sign users in".into(),
            });
        }
        // RFC 9126 §2.2: "short-lived"; 5 to 600 seconds leaves room for a redirect and a slow phone.
        if !(5..=600).contains(&self.tokens.pushed_request_ttl_secs) {
            return Err(ConfigError::Option {
                option: "tokens.pushed_request_ttl_secs",
                problem: "must be from 5 to 600".into(),
            });
        }
        if self.tokens.code_ttl_secs > 600 {
            return Err(ConfigError::Option {
                option: "tokens.code_ttl_secs",
                problem: "must be at most 600 (RFC 6749 §4.1.2)".into(),
            });
        }
        self.check_organisations(dev)?;
        if self.dingtalk.qr_login {
            for (option, value) in [
                ("dingtalk.ddlogin_url", &self.dingtalk.ddlogin_url),
                ("dingtalk.qr_frame_origin", &self.dingtalk.qr_frame_origin),
            ] {
                if !is_policy_source(value, dev) {
                    return Err(ConfigError::Option { option, problem: "must be an https URL of DingTalk's".into() });
                }
            }
        }
        if self.dingtalk.in_app {
            if self.dingtalk.per_organisation().iter().any(|(_, org)| org.corp_id.is_none()) {
                return Err(ConfigError::Option {
                    option: "dingtalk.in_app",
                    problem: "needs dingtalk.corp_id: a code from inside DingTalk belongs to one organisation's app"
                        .into(),
                });
            }
            if !is_policy_source(&self.dingtalk.jsapi_url, dev) {
                return Err(ConfigError::Option {
                    option: "dingtalk.jsapi_url",
                    problem: "must be an https URL of DingTalk's JSAPI script".into(),
                });
            }
            if !(1000..=60_000).contains(&self.dingtalk.in_app_timeout_ms) {
                return Err(ConfigError::Option {
                    option: "dingtalk.in_app_timeout_ms",
                    problem: "must be between 1000 and 60000".into(),
                });
            }
        }
        check_level(&self.log.level).map_err(|problem| ConfigError::Option { option: "log.level", problem })?;
        self.branding.check()?;
        Ok(())
    }
}

impl Config {
    /// The DingTalk app of each organisation: a single `[dingtalk]` app, or `[[dingtalk.apps]]`
    /// each with its own credentials and a distinct corp id (docs/dingtalk-app.md, "Several
    /// organisations"); never both.
    fn check_organisations(&self, dev: bool) -> Result<(), ConfigError> {
        let dingtalk = &self.dingtalk;
        if dingtalk.apps.is_empty() {
            if !dev && dingtalk.client_id.is_empty() {
                return Err(ConfigError::Option {
                    option: "dingtalk.client_id",
                    problem: "is required: the AppKey of your DingTalk app (or run `serve --dev`)".into(),
                });
            }
            if !dev && dingtalk.client_secret.is_empty() {
                return Err(ConfigError::Option {
                    option: "dingtalk.client_secret",
                    problem: "(or dingtalk.client_secret_file) is required: the AppSecret of your DingTalk app \
                              (or run `serve --dev`)"
                        .into(),
                });
            }
            return Ok(());
        }
        if !dingtalk.client_id.is_empty() || dingtalk.corp_id.is_some() || !dingtalk.client_secret.is_empty() {
            return Err(ConfigError::Option {
                option: "dingtalk.apps",
                problem: "replaces dingtalk.client_id, client_secret and corp_id: give each organisation's app \
                          in [[dingtalk.apps]], the default one first"
                    .into(),
            });
        }
        let mut seen_corps = Vec::new();
        let mut seen_clients = Vec::new();
        for app in &dingtalk.apps {
            let problem = |problem: String| ConfigError::Option { option: "dingtalk.apps", problem };
            if app.client_id.trim().is_empty() || app.client_secret.is_empty() {
                return Err(problem("each app needs client_id and client_secret (or client_secret_file)".into()));
            }
            let Some(corp) = app.corp_id.as_deref().filter(|c| !c.trim().is_empty()) else {
                return Err(problem(format!("app {:?} needs corp_id: its organisation", app.client_id)));
            };
            if seen_corps.contains(&corp) {
                return Err(problem(format!("corp_id {corp:?} is given twice: one app per organisation")));
            }
            if seen_clients.contains(&app.client_id.as_str()) {
                return Err(problem(format!("client_id {:?} is given twice", app.client_id)));
            }
            seen_corps.push(corp);
            seen_clients.push(&app.client_id);
        }
        Ok(())
    }
}

/// A URL a page's policy names as a source (`oidc::in_app`, `oidc::sign_in`): https, or http in
/// dev mode or on this machine (the simulator in tests); nothing that could end the source
/// expression.
fn is_policy_source(value: &str, dev: bool) -> bool {
    let Some(url) = url::Url::parse(value).ok().filter(|u| matches!(u.scheme(), "https" | "http")) else {
        return false;
    };
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let plain = !value.contains([';', ',', '\'', '"', ' ']);
    plain && (url.scheme() == "https" || dev || loopback)
}

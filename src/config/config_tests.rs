//! Loading, secret files and validation of the whole configuration, through `Config`'s public
//! methods as start-up uses them.

use super::file::reject_unknown_options;
use super::secrets::SECRET_FILE_LIMIT;
use super::*;

#[test]
fn example_config_documents_every_option_and_loads() {
    let example = include_str!("../../deploy/config.example.toml");
    for path in option_paths() {
        let leaf = path.rsplit('.').next().unwrap_or_default();
        let table = path.rsplit_once('.').map(|(t, _)| t);
        let documented = example.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            // An array of tables (`[[dingtalk.apps]]`) is documented by an example of one.
            l.starts_with(&format!("{leaf} ="))
                || l.starts_with(&format!("[{path}]"))
                || l.starts_with(&format!("[[{path}]]"))
        });
        assert!(documented, "deploy/config.example.toml does not document `{path}`");
        if let Some(table) = table {
            assert!(example.contains(&format!("[{table}]")), "missing table [{table}]");
        }
    }
    reject_unknown_options(example).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, example).unwrap();
    let loaded = Config::load(Some(&path)).unwrap();
    assert_eq!(loaded.tokens.code_ttl_secs, 60);
}

#[test]
fn unknown_option_in_file_names_the_option() {
    let err = reject_unknown_options("[database]\nurll = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("database.urll"), "{err}");
    reject_unknown_options("issuer = \"https://id.example\"\n[database]\nurl = \"x\"\n").unwrap();
}

#[test]
fn trusted_proxies_are_checked_at_start_up_and_the_error_names_the_option() {
    let mut cfg = Config::default();
    cfg.server.trusted_proxies = vec!["10.0.0.0/8".into(), "10.0.0.300".into()];
    let err = cfg.validate(true).unwrap_err().to_string();
    assert!(err.contains("server.trusted_proxies") && err.contains("10.0.0.300"), "{err}");
    cfg.server.trusted_proxies = vec!["10.0.0.0/8".into(), "2001:db8::7".into()];
    assert!(cfg.validate(true).is_ok());
    cfg.server.forwarded_header = "x-real-ip".into();
    assert!(cfg.validate(true).unwrap_err().to_string().contains("server.forwarded_header"));
}

#[test]
fn global_token_lifetimes_are_bounded_from_one_minute_to_one_day_and_the_error_names_the_option() {
    for (value, ok) in [(0, false), (59, false), (60, true), (600, true), (86400, true), (86401, false)] {
        let mut cfg = Config::default();
        cfg.tokens.access_token_ttl_secs = value;
        let result = cfg.validate(true);
        assert_eq!(result.is_ok(), ok, "access {value}");
        if let Err(e) = result {
            assert!(e.to_string().contains("tokens.access_token_ttl_secs"), "{e}");
        }
        let mut cfg = Config::default();
        cfg.tokens.id_token_ttl_secs = value;
        let result = cfg.validate(true);
        assert_eq!(result.is_ok(), ok, "id {value}");
        if let Err(e) = result {
            assert!(e.to_string().contains("tokens.id_token_ttl_secs") && e.to_string().contains("86400"), "{e}");
        }
    }
}

#[test]
fn denials_outlast_the_longest_access_token_any_client_can_have() {
    let tokens = TokensConfig::default();
    let longest = MAX_TOKEN_TTL_SECS + tokens.leeway_secs + tokens.code_ttl_secs;
    assert_eq!(tokens.denial_lifetime_secs(), longest as i64);
    assert!(tokens.denial_lifetime_secs() > tokens.access_token_ttl_secs as i64);
}

#[test]
fn metrics_listen_equal_to_listen_is_refused_naming_both_options() {
    let mut cfg = Config::default();
    cfg.server.listen = "127.0.0.1:8080".into();
    cfg.server.metrics_listen = "127.0.0.1:8080".into();
    let err = cfg.validate(true).unwrap_err().to_string();
    assert!(err.contains("server.metrics_listen") && err.contains("server.listen"), "{err}");
    cfg.server.listen = "[::1]:8080".into();
    cfg.server.metrics_listen = "[0:0:0:0:0:0:0:1]:8080".into();
    assert!(cfg.validate(true).is_err(), "the same address written another way");
    cfg.server.metrics_listen = "127.0.0.1:9090".into();
    assert!(cfg.validate(true).is_ok());
    cfg.server.metrics_listen = String::new();
    assert!(cfg.validate(true).is_ok(), "empty: /metrics stays on server.listen");
}

#[test]
fn production_requires_dingtalk_credentials_and_names_the_option() {
    let cfg = Config { issuer: "https://id.example".into(), ..Config::default() };
    let err = cfg.validate(false).unwrap_err().to_string();
    assert!(err.contains("dingtalk.client_id"), "{err}");
    assert!(cfg.validate(true).is_ok());
}

#[test]
fn oidc_discovery_3_issuer_must_be_https_without_query() {
    let mut cfg = Config::default();
    cfg.dingtalk.client_id = "k".into();
    cfg.dingtalk.client_secret = "s".into();
    cfg.issuer = "http://id.example".into();
    assert!(cfg.validate(false).unwrap_err().to_string().contains("issuer"));
    cfg.issuer = "https://id.example?x=1".into();
    assert!(cfg.validate(false).is_err());
    cfg.issuer = "https://id.example/tenant".into();
    assert!(cfg.validate(false).is_ok());
    cfg.issuer = "http://127.0.0.1:9000".into();
    assert!(cfg.validate(false).is_ok());
}

#[test]
fn in_app_sign_in_needs_the_organisation_an_https_jsapi_and_a_sane_timeout() {
    let mut cfg = Config { issuer: "https://id.example".into(), ..Config::default() };
    cfg.dingtalk.client_id = "k".into();
    cfg.dingtalk.client_secret = "s".into();
    cfg.dingtalk.in_app = true;
    let err = cfg.validate(false).unwrap_err().to_string();
    assert!(err.contains("dingtalk.in_app") && err.contains("corp_id"), "{err}");
    cfg.dingtalk.corp_id = Some("dingcorp".into());
    assert!(cfg.validate(false).is_ok(), "the default JSAPI URL is DingTalk's, over https");
    cfg.dingtalk.jsapi_url = "http://cdn.example/dingtalk.open.js".into();
    assert!(cfg.validate(false).unwrap_err().to_string().contains("dingtalk.jsapi_url"));
    assert!(cfg.validate(true).is_ok(), "dev mode may load the simulator's script over http");
    cfg.dingtalk.jsapi_url = "http://127.0.0.1:8081/jsapi/dingtalk.open.js".into();
    assert!(cfg.validate(false).is_ok(), "a loopback simulator");
    cfg.dingtalk.jsapi_url = "javascript:alert(1)".into();
    assert!(cfg.validate(true).is_err());
    cfg.dingtalk.jsapi_url = "https://cdn.example/x.js;script-src*".into();
    assert!(cfg.validate(true).is_err(), "nothing that ends the policy's source expression");
    cfg.dingtalk.jsapi_url = Config::default().dingtalk.jsapi_url;
    cfg.dingtalk.in_app_timeout_ms = 10;
    assert!(cfg.validate(false).unwrap_err().to_string().contains("dingtalk.in_app_timeout_ms"));
}

#[test]
fn qr_login_needs_https_script_and_frame_origins_that_cannot_end_the_policy() {
    let mut cfg = Config { issuer: "https://id.example".into(), ..Config::default() };
    cfg.dingtalk.client_id = "k".into();
    cfg.dingtalk.client_secret = "s".into();
    cfg.dingtalk.qr_login = true;
    assert!(cfg.validate(false).is_ok(), "DingTalk's defaults");
    cfg.dingtalk.qr_frame_origin = "https://login.dingtalk.com; script-src *".into();
    assert!(cfg.validate(false).unwrap_err().to_string().contains("dingtalk.qr_frame_origin"));
    cfg.dingtalk.qr_frame_origin = Config::default().dingtalk.qr_frame_origin;
    cfg.dingtalk.ddlogin_url = "http://cdn.example/ddlogin.js".into();
    assert!(cfg.validate(false).unwrap_err().to_string().contains("dingtalk.ddlogin_url"));
    assert!(cfg.validate(true).is_ok());
}

#[test]
fn several_organisations_are_apps_each_with_credentials_and_a_distinct_corp_and_never_beside_a_single_app() {
    let two = "[dingtalk]\n\
        [[dingtalk.apps]]\nname = \"Hangzhou\"\nclient_id = \"a\"\nclient_secret_file = \"{dir}/a\"\ncorp_id = \"dinga\"\n\
        [[dingtalk.apps]]\nclient_id = \"b\"\nclient_secret = \"sb\"\ncorp_id = \"dingb\"\n";
    let (cfg, _dir) = load_with_files(two, &[("a", "secret a\n")]);
    let mut cfg = cfg.unwrap();
    cfg.issuer = "https://id.example".into();
    cfg.validate(false).unwrap();
    let orgs = cfg.dingtalk.per_organisation();
    assert_eq!(orgs.len(), 2);
    assert_eq!((orgs[0].0.as_deref(), orgs[0].1.client_secret.as_str()), (Some("Hangzhou"), "secret a"));
    assert_eq!((orgs[1].1.client_id.as_str(), orgs[1].1.corp_id.as_deref()), ("b", Some("dingb")));
    assert!(!format!("{cfg:?}").contains("secret a") && !format!("{cfg:?}").contains("sb\""), "secrets redacted");

    let problem = |change: &dyn Fn(&mut Config)| {
        let mut broken = cfg.clone();
        change(&mut broken);
        broken.validate(false).unwrap_err().to_string()
    };
    assert!(problem(&|c| c.dingtalk.client_id = "single".into()).contains("dingtalk.apps"));
    assert!(problem(&|c| c.dingtalk.apps[1].corp_id = None).contains("needs corp_id"));
    assert!(problem(&|c| c.dingtalk.apps[1].corp_id = Some("dinga".into())).contains("given twice"));
    assert!(problem(&|c| c.dingtalk.apps[1].client_id = "a".into()).contains("given twice"));
    assert!(problem(&|c| c.dingtalk.apps[1].client_secret.clear()).contains("client_secret"));
    // A misspelt option inside an app is an error, not ignored.
    let (typo, _dir) = load_with_files("[dingtalk]\n[[dingtalk.apps]]\nclient_idd = \"a\"\n", &[]);
    assert!(typo.unwrap_err().to_string().contains("client_idd"));
}

/// Writes `files` into a temporary directory and loads `toml` (paths as `{dir}/name`), with
/// no DINGTALK_OIDC_* variable involved (the environment route is tested in tests/it/cli.rs).
fn load_with_files(toml: &str, files: &[(&str, &str)]) -> (Result<Config, ConfigError>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let path = dir.path().join("c.toml");
    std::fs::write(&path, toml.replace("{dir}", &dir.path().display().to_string())).unwrap();
    (Config::load(Some(&path)), dir)
}

#[test]
fn every_secret_given_as_a_file_lands_in_its_option_without_the_trailing_newline() {
    let (cfg, _dir) = load_with_files(
        "admin_token_file = \"{dir}/admin\"\n\
         [database]\nurl_file = \"{dir}/db\"\n\
         [redis]\nurl_file = \"{dir}/redis\"\n\
         [keys]\nkek_file = \"{dir}/kek\"\n\
         [dingtalk]\nclient_secret_file = \"{dir}/app\"\n",
        &[
            ("admin", "admin-token\n"),
            ("db", "postgres://oidc:pw@db/oidc\r\n"),
            ("redis", "redis://:pw@cache:6379/0  \n\n"),
            ("kek", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"),
            ("app", "app secret with spaces\n"),
        ],
    );
    let cfg = cfg.unwrap();
    assert_eq!(cfg.admin_token, Some(Secret("admin-token".into())));
    assert_eq!(cfg.database.url, "postgres://oidc:pw@db/oidc");
    assert_eq!(cfg.redis.url, "redis://:pw@cache:6379/0");
    assert_eq!(cfg.keys.kek.as_deref(), Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    assert_eq!(cfg.dingtalk.client_secret, "app secret with spaces");
}

#[test]
fn a_secret_given_inline_and_as_a_file_is_an_error_naming_both_options() {
    for (toml, inline, file) in [
        ("admin_token = \"t\"\nadmin_token_file = \"{dir}/s\"\n", "admin_token", "admin_token_file"),
        ("[database]\nurl = \"postgres://db/x\"\nurl_file = \"{dir}/s\"\n", "database.url", "database.url_file"),
        ("[redis]\nurl = \"redis://cache:6379\"\nurl_file = \"{dir}/s\"\n", "redis.url", "redis.url_file"),
        ("[keys]\nkek = \"AAAA\"\nkek_file = \"{dir}/s\"\n", "keys.kek", "keys.kek_file"),
        (
            "[dingtalk]\nclient_secret = \"x\"\nclient_secret_file = \"{dir}/s\"\n",
            "dingtalk.client_secret",
            "dingtalk.client_secret_file",
        ),
    ] {
        let (result, _dir) = load_with_files(toml, &[("s", "from-file\n")]);
        let err = result.unwrap_err().to_string();
        assert!(err.contains(&format!("`{inline}`")) && err.contains(&format!("`{file}`")), "{err}");
        assert!(!err.contains("from-file"), "{err}");
    }
}

/// The example config spells out `url = "<default>"` and `client_secret = ""`: a copy of it
/// with a `*_file` added is not giving the secret twice.
#[test]
fn an_inline_value_that_is_empty_or_the_default_does_not_conflict_with_its_file() {
    let (cfg, _dir) = load_with_files(
        "[database]\nurl = \"sqlite://data/dingtalk-oidc.db?mode=rwc\"\nurl_file = \"{dir}/s\"\n\
         [redis]\nurl = \"redis://127.0.0.1:6379\"\nurl_file = \"{dir}/s\"\n\
         [dingtalk]\nclient_secret = \"\"\nclient_secret_file = \"{dir}/s\"\n",
        &[("s", "from-file")],
    );
    let cfg = cfg.unwrap();
    assert_eq!((cfg.database.url.as_str(), cfg.redis.url.as_str()), ("from-file", "from-file"));
    assert_eq!(cfg.dingtalk.client_secret, "from-file");
}

#[test]
fn an_unreadable_or_empty_secret_file_is_an_error_naming_the_option_and_the_path() {
    let (result, dir) = load_with_files("[database]\nurl_file = \"{dir}/missing\"\n", &[]);
    let err = result.unwrap_err().to_string();
    let missing = dir.path().join("missing").display().to_string();
    assert!(err.contains("database.url_file") && err.contains(&missing), "{err}");

    let (result, dir) = load_with_files("[keys]\nkek_file = \"{dir}/blank\"\n", &[("blank", " \n\n")]);
    let err = result.unwrap_err().to_string();
    let blank = dir.path().join("blank").display().to_string();
    assert!(err.contains("keys.kek_file") && err.contains(&blank) && err.contains("empty"), "{err}");

    let (result, _dir) = load_with_files("admin_token_file = \"{dir}\"\n", &[]);
    assert!(result.unwrap_err().to_string().contains("admin_token_file"), "a directory is not a secret");

    let huge = "x".repeat(SECRET_FILE_LIMIT as usize + 1);
    let (result, _dir) = load_with_files("[redis]\nurl_file = \"{dir}/huge\"\n", &[("huge", &huge)]);
    let err = result.unwrap_err().to_string();
    assert!(err.contains("redis.url_file") && err.contains("larger than") && !err.contains("xxx"), "{err}");
}

#[test]
fn settings_alone_read_no_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[server]\nlisten = \"0.0.0.0:9\"\n[database]\nurl_file = \"/nonexistent/db-url\"\n")
        .unwrap();
    assert_eq!(Config::load_settings(Some(&path)).unwrap().server.listen, "0.0.0.0:9");
    assert!(Config::load(Some(&path)).is_err());
}

#[test]
fn log_options_load_and_a_misspelt_level_or_format_names_the_option() {
    let (cfg, _dir) = load_with_files("[log]\nformat = \"text\"\nlevel = \"warn,dingtalk_oidc=debug\"\n", &[]);
    let cfg = cfg.unwrap();
    assert_eq!(cfg.log.format, Some(LogFormat::Text));
    assert!(cfg.validate(true).is_ok());
    let (cfg, _dir) = load_with_files("[log]\nlevel = \"infoo\"\n", &[]);
    assert!(cfg.unwrap().validate(true).unwrap_err().to_string().contains("log.level"));
    let (result, _dir) = load_with_files("[log]\nformat = \"xml\"\n", &[]);
    let err = result.unwrap_err().to_string();
    assert!(err.contains("format") && err.contains("xml"), "{err}");
}

#[test]
fn branding_is_read_from_the_file_and_checked_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[branding]\nproduct_name = \"Acme SSO\"\nprimary_color = \"#0B5394\"\n").unwrap();
    let loaded = Config::load(Some(&path)).unwrap();
    assert_eq!(loaded.branding.product_name, "Acme SSO");
    assert_eq!(loaded.branding.primary_color, "#0B5394");
    assert_eq!(loaded.branding.text_color, BrandingConfig::default().text_color);
    loaded.validate(true).unwrap();
    std::fs::write(&path, "[branding]\nlogo_url = \"javascript:alert(1)\"\n").unwrap();
    let err = Config::load(Some(&path)).unwrap().validate(true).unwrap_err().to_string();
    assert!(err.contains("branding.logo_url"), "{err}");
    std::fs::write(&path, "[branding]\nprimary_colour = \"#000\"\n").unwrap();
    assert!(Config::load(Some(&path)).unwrap_err().to_string().contains("branding.primary_colour"));
}

#[test]
fn pushed_request_lifetime_and_registration_policy_are_checked_and_the_error_names_the_option() {
    let valid = || Config { issuer: "https://id.example".into(), ..Config::default() };
    assert!(valid().validate(true).is_ok());
    for ttl in [4, 601] {
        let mut cfg = valid();
        cfg.tokens.pushed_request_ttl_secs = ttl;
        let err = cfg.validate(true).unwrap_err().to_string();
        assert!(err.contains("tokens.pushed_request_ttl_secs"), "{ttl}: {err}");
    }
    let mut cfg = valid();
    cfg.registration.allowed_redirect_schemes.clear();
    assert!(cfg.validate(true).unwrap_err().to_string().contains("registration.allowed_redirect_schemes"));
    let mut cfg = valid();
    cfg.registration.allowed_scopes = vec!["profile".into()];
    assert!(cfg.validate(true).unwrap_err().to_string().contains("registration.allowed_scopes"));
}

//! The binary as a user runs it: `--help` everywhere, the committed OpenAPI spec, start-up errors
//! that name the option, and `serve --dev` (the README's first command) end to end.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Browser, REDIRECT_URI};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_dingtalk-oidc");

pub(crate) fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["simulator", "--help"],
        vec!["clients", "--help"],
        vec!["clients", "add", "--help"],
        vec!["clients", "list", "--help"],
        vec!["clients", "show", "--help"],
        vec!["clients", "remove", "--help"],
        vec!["clients", "update", "--help"],
        vec!["sessions", "--help"],
        vec!["sessions", "list", "--help"],
        vec!["sessions", "revoke", "--help"],
        vec!["keys", "--help"],
        vec!["users", "list", "--help"],
        vec!["users", "disable", "--help"],
        vec!["roles", "create", "--help"],
        vec!["roles", "grant", "--help"],
        vec!["roles", "mappings", "add", "--help"],
        vec!["audit", "--help"],
        vec!["clients", "rotate-secret", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["keys", "revoke", "--help"],
        vec!["keys", "import", "--help"],
        vec!["keys", "rewrap", "--help"],
        vec!["openapi", "--help"],
        vec!["healthcheck", "--help"],
    ] {
        let out = run(dir.path(), &args, &[]);
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"), "{args:?}");
    }
    let out = run(dir.path(), &["serve", "--help"], &[]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--dev") && help.contains("--listen") && help.contains("--config"));
    assert!(help.contains("--demo-listen"), "{help}");
}

#[test]
fn committed_openapi_spec_matches_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["openapi"], &[]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/admin.yaml")).unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        committed,
        "openapi/admin.yaml is stale: run `cargo run -- openapi > openapi/admin.yaml`"
    );
}

#[test]
fn serve_without_dev_names_the_missing_options() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["serve"], &[("DINGTALK_OIDC_ISSUER", "https://id.example")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dingtalk.client_id"));

    let creds = [
        ("DINGTALK_OIDC_ISSUER", "https://id.example"),
        ("DINGTALK_OIDC_DINGTALK__CLIENT_ID", "k"),
        ("DINGTALK_OIDC_DINGTALK__CLIENT_SECRET", "s"),
    ];
    let out = run(dir.path(), &["serve"], &creds);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("keys.kek"), "{stderr}");
    assert!(!dir.path().join("keys").exists(), "no dev key is made outside --dev");

    std::fs::write(dir.path().join("bad.toml"), "[databse]\nurl = \"x\"\n").unwrap();
    let out = run(dir.path(), &["--config", "bad.toml", "serve"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("databse"));
}

/// `server.trusted_proxies` from the environment (a list of addresses and CIDR ranges) is checked
/// at start-up: an entry that is neither stops the start with the option's name.
#[test]
fn serve_rejects_a_trusted_proxy_that_is_neither_an_address_nor_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let env = |proxies: &'static str| {
        [
            ("DINGTALK_OIDC_ISSUER", "https://id.example"),
            ("DINGTALK_OIDC_DINGTALK__CLIENT_ID", "k"),
            ("DINGTALK_OIDC_DINGTALK__CLIENT_SECRET", "s"),
            ("DINGTALK_OIDC_SERVER__TRUSTED_PROXIES", proxies),
        ]
    };
    let out = run(dir.path(), &["serve"], &env(r#"["10.0.0.0/8", "10.0.0.0/33"]"#));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.trusted_proxies") && stderr.contains("10.0.0.0/33"), "{stderr}");
    // A valid list passes this check (the start then stops at the next missing option, the KEK).
    let out = run(dir.path(), &["serve"], &env(r#"["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]"#));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("trusted_proxies") && stderr.contains("keys.kek"), "{stderr}");
}

/// `[branding]` from the environment is checked at start-up: a colour that is not hex, one whose
/// contrast is below WCAG 2.1 AA, or a logo URL a page must not load stops the start, naming the
/// option.
#[test]
fn serve_refuses_unsafe_or_unreadable_branding_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |option: &str, value: &str| {
        let out = run(
            dir.path(),
            &["serve"],
            &[
                ("DINGTALK_OIDC_ISSUER", "https://id.example"),
                ("DINGTALK_OIDC_DINGTALK__CLIENT_ID", "k"),
                ("DINGTALK_OIDC_DINGTALK__CLIENT_SECRET", "s"),
                (option, value),
            ],
        );
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for (variable, value, option) in [
        ("DINGTALK_OIDC_BRANDING__PRIMARY_COLOR", "red", "branding.primary_color"),
        ("DINGTALK_OIDC_BRANDING__PRIMARY_COLOR", "#0b5394;}body{display:none", "branding.primary_color"),
        ("DINGTALK_OIDC_BRANDING__PRIMARY_COLOR", "#ffcc00", "branding.primary_color"),
        ("DINGTALK_OIDC_BRANDING__TEXT_COLOR", "#aaaaaa", "branding.text_color"),
        ("DINGTALK_OIDC_BRANDING__LOGO_URL", "javascript:alert(1)", "branding.logo_url"),
        ("DINGTALK_OIDC_BRANDING__LOGO_URL", "//evil.example/logo.png", "branding.logo_url"),
        ("DINGTALK_OIDC_BRANDING__PRODUCT_NAME", " ", "branding.product_name"),
    ] {
        let stderr = serve(variable, value);
        assert!(stderr.contains(option) && !stderr.contains("keys.kek"), "{variable}={value}: {stderr}");
    }
    // Good values pass this check (the start then stops at the next missing option, the KEK).
    for (variable, value) in [
        ("DINGTALK_OIDC_BRANDING__PRIMARY_COLOR", "#0b5394"),
        ("DINGTALK_OIDC_BRANDING__LOGO_URL", "https://cdn.example/logo.svg"),
        ("DINGTALK_OIDC_BRANDING__PRODUCT_NAME", "Acme SSO"),
    ] {
        let stderr = serve(variable, value);
        assert!(!stderr.contains("branding.") && stderr.contains("keys.kek"), "{variable}={value}: {stderr}");
    }
}

/// `clients add` without `--scope` registers the documented default (`clients add --help`,
/// docs/connecting-apps.md): `roles` and `groups` are opt-in, so a client that asks for them is
/// granted neither the scopes nor their claims.
#[tokio::test]
async fn clients_add_without_scope_does_not_allow_the_opt_in_roles_and_groups() {
    let p = common::TestProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let help = String::from_utf8(run(dir.path(), &["clients", "add", "--help"], &[]).stdout).unwrap();
    assert!(help.contains("default: openid profile email phone offline_access"), "{help}");
    assert!(help.contains("roles, groups, dingtalk and admin are opt-in"), "{help}");
    let database = [("DINGTALK_OIDC_DATABASE__URL", p.app.config.database.url.as_str())];
    let added = run(
        dir.path(),
        &["clients", "add", "--id", "plain", "--redirect-uri", REDIRECT_URI, "--first-party"],
        &database,
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let stdout = String::from_utf8(added.stdout).unwrap();
    let secret =
        stdout.lines().find_map(|l| l.trim().strip_prefix("client secret: ")).expect("secret").trim().to_string();
    let shown = String::from_utf8(run(dir.path(), &["clients", "show", "plain"], &database).stdout).unwrap();
    let shown: serde_json::Value = serde_json::from_str(&shown).expect("clients show prints JSON");
    assert_eq!(shown["allowed_scopes"], serde_json::json!(["openid", "profile", "email", "phone", "offline_access"]));

    let code = common::obtain_code_for_scope(&p, &Browser::new("bob"), "plain", "openid profile roles groups").await;
    let tokens = common::exchange_code(&p, "plain", &secret, &code).await;
    assert_eq!(tokens["scope"], "openid profile");
    common::assert_not_granted(&p, &tokens, &["roles", "groups"], &["roles", "groups", "groups_display"]).await;
}

/// Secrets from files through the environment, as Kubernetes and Compose pass them: the
/// `*_FILE` variable names the file, the CLI uses what it holds, and giving a secret both ways or
/// naming a file that cannot be read stops the command with the options (and path) named.
#[test]
fn secrets_are_read_from_the_files_the_file_variables_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("oidc.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let url_file = dir.path().join("database-url");
    std::fs::write(&url_file, format!("{url}\n")).unwrap();
    let url_file = url_file.display().to_string();
    let from_file = [("DINGTALK_OIDC_DATABASE__URL_FILE", url_file.as_str())];
    let added = run(dir.path(), &["clients", "add", "--id", "from-file", "--redirect-uri", REDIRECT_URI], &from_file);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    assert!(db.exists(), "the database the file names");
    let listed = run(dir.path(), &["clients", "list"], &[("DINGTALK_OIDC_DATABASE__URL", url.as_str())]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("from-file"));

    let both = run(dir.path(), &["clients", "list"], &[("DINGTALK_OIDC_DATABASE__URL", url.as_str()), from_file[0]]);
    assert!(!both.status.success());
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(stderr.contains("`database.url`") && stderr.contains("`database.url_file`"), "{stderr}");

    let missing = dir.path().join("no-such-secret").display().to_string();
    let out = run(dir.path(), &["clients", "list"], &[("DINGTALK_OIDC_ADMIN_TOKEN_FILE", missing.as_str())]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("admin_token_file") && stderr.contains(&missing), "{stderr}");

    // keys.kek used to win silently over keys.kek_file; now the start stops and names both.
    let kek_file = dir.path().join("kek");
    std::fs::write(&kek_file, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    let out = run(
        dir.path(),
        &["serve"],
        &[
            ("DINGTALK_OIDC_ISSUER", "https://id.example"),
            ("DINGTALK_OIDC_DINGTALK__CLIENT_ID", "k"),
            ("DINGTALK_OIDC_DINGTALK__CLIENT_SECRET", "s"),
            ("DINGTALK_OIDC_KEYS__KEK", "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="),
            ("DINGTALK_OIDC_KEYS__KEK_FILE", kek_file.to_str().unwrap()),
            // Were the KEK accepted, the start would stop here rather than serve.
            ("DINGTALK_OIDC_SERVER__LISTEN", "127.0.0.1:no-port"),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`keys.kek`") && stderr.contains("`keys.kek_file`"), "{stderr}");
}

/// Runs `healthcheck` off the test's runtime, which must keep serving the provider meanwhile.
async fn healthcheck(dir: &Path, args: &[&str]) -> std::process::Output {
    let (dir, args): (std::path::PathBuf, Vec<String>) = (dir.into(), args.iter().map(|a| a.to_string()).collect());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = std::iter::once("healthcheck").chain(args.iter().map(String::as_str)).collect();
        run(&dir, &args, &[])
    })
    .await
    .unwrap()
}

/// `healthcheck` (the image's HEALTHCHECK) finds the provider from server.listen, a wildcard
/// address as loopback, and needs none of the secrets: its config names a database URL file that
/// does not exist.
#[tokio::test]
async fn healthcheck_exits_0_when_the_provider_is_ready_reading_no_secret() {
    let p = common::TestProvider::start().await;
    let port = p.url("").rsplit(':').next().unwrap().trim_end_matches('/').to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        format!("[server]\nlisten = \"0.0.0.0:{port}\"\n[database]\nurl_file = \"/nonexistent/database-url\"\n"),
    )
    .unwrap();
    let out = healthcheck(dir.path(), &["--config", "c.toml"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = healthcheck(dir.path(), &["--url", &p.url("")]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn healthcheck_fails_with_a_one_line_reason_when_the_provider_is_not_ready() {
    let p = common::TestProvider::start().await;
    p.app.drain.begin();
    let dir = tempfile::tempdir().unwrap();
    let out = healthcheck(dir.path(), &["--url", &p.url("")]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("503") && stderr.contains("draining"), "{stderr}");
}

#[tokio::test]
async fn healthcheck_fails_with_a_one_line_reason_when_nothing_listens() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = healthcheck(dir.path(), &["--url", &url, "--timeout", "2"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot reach") && stderr.contains(&url), "{stderr}");
}

/// `clients add` / `clients update` set a client's token lifetimes (`--access-token-ttl`,
/// `--id-token-ttl`), refuse one outside 60 s to 24 h naming the flag, `default` goes back to the
/// global value, and `clients list` and `clients show` print them.
#[test]
fn clients_token_lifetime_flags_set_bound_clear_and_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display());
    let database = [("DINGTALK_OIDC_DATABASE__URL", url.as_str())];
    let stdout = |out: std::process::Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let show = |id: &str| -> serde_json::Value {
        serde_json::from_str(&stdout(run(dir.path(), &["clients", "show", id], &database))).expect("JSON")
    };
    for command in ["add", "update"] {
        let help = stdout(run(dir.path(), &["clients", command, "--help"], &[]));
        assert!(help.contains("--access-token-ttl <SECS>") && help.contains("--id-token-ttl <SECS>"), "{help}");
    }

    let added = stdout(run(
        dir.path(),
        &["clients", "add", "--id", "argocd", "--redirect-uri", REDIRECT_URI, "--id-token-ttl", "28800"],
        &database,
    ));
    assert!(added.contains("ID token:      28800 s"), "{added}");
    assert!(added.contains("access token:  600 s (default)"), "{added}");
    let shown = show("argocd");
    assert_eq!((shown["id_token_ttl_secs"].as_u64(), shown["access_token_ttl_secs"].as_u64()), (Some(28800), None));

    for (flag, value) in [("--id-token-ttl", "59"), ("--access-token-ttl", "86401"), ("--id-token-ttl", "8h")] {
        let out = run(dir.path(), &["clients", "update", "argocd", flag, value], &database);
        assert!(!out.status.success(), "{flag} {value} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{stderr}");
    }
    assert_eq!(show("argocd")["id_token_ttl_secs"], 28800, "a refused update changes nothing");

    stdout(run(dir.path(), &["clients", "update", "argocd", "--access-token-ttl", "3600"], &database));
    let shown = show("argocd");
    assert_eq!(
        (shown["id_token_ttl_secs"].as_u64(), shown["access_token_ttl_secs"].as_u64()),
        (Some(28800), Some(3600))
    );
    let list = stdout(run(dir.path(), &["clients", "list"], &database));
    let line = list.lines().find(|l| l.starts_with("argocd\t")).expect("argocd listed");
    assert!(line.contains("access token 3600 s") && line.contains("ID token 28800 s"), "{line}");

    stdout(run(dir.path(), &["clients", "update", "argocd", "--id-token-ttl", "default"], &database));
    let shown = show("argocd");
    assert_eq!((shown["id_token_ttl_secs"].as_u64(), shown["access_token_ttl_secs"].as_u64()), (None, Some(3600)));
    let list = stdout(run(dir.path(), &["clients", "list"], &database));
    assert!(list.contains("ID token 600 s (default)"), "{list}");
}

pub(crate) struct Child(pub(crate) std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_dev_runs_the_provider_with_the_simulator_and_a_cli_registered_client() {
    let dir = tempfile::tempdir().unwrap();
    let (port, sim_port) = (free_port(), free_port());
    let listen = format!("127.0.0.1:{port}");
    let sim_listen = format!("127.0.0.1:{sim_port}");
    let child = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve", "--dev", "--listen", &listen])
        .env("DINGTALK_OIDC_DEV__SIMULATOR_LISTEN", &sim_listen)
        .env("DINGTALK_OIDC_DEV__DEMO_LISTEN", format!("127.0.0.1:{}", free_port()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Child(child);
    let issuer = format!("http://{listen}");
    let mut up = false;
    for _ in 0..100 {
        if let Ok(resp) = reqwest::get(format!("{issuer}/.well-known/openid-configuration")).await
            && resp.status().is_success()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "serve --dev did not come up");

    // Embedded defaults: SQLite under ./data, the dev KEK under ./keys with mode 0600.
    assert!(dir.path().join("data/dingtalk-oidc.db").exists());
    let kek = dir.path().join("keys/dev-kek");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&kek).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let out =
        run(dir.path(), &["clients", "add", "--id", "cli-app", "--redirect-uri", REDIRECT_URI, "--first-party"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let secret = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("client secret: "))
        .expect("secret printed once")
        .trim()
        .to_string();
    let list = run(dir.path(), &["clients", "list"], &[]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("cli-app"));
    let show = String::from_utf8(run(dir.path(), &["clients", "show", "cli-app"], &[]).stdout).unwrap();
    assert!(!show.contains(&secret), "the secret is never shown again");

    let url = common::authorize_url(
        &issuer,
        &[
            ("client_id", "cli-app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", common::CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let landing = Browser::new("bob").journey(&url, false).await;
    let code = landing.param("code").expect("login through the dev simulator");
    let resp = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth("cli-app", Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", common::VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let tokens: serde_json::Value = resp.json().await.unwrap();
    let claims = common::unverified_claims(tokens["id_token"].as_str().unwrap());
    let sub = claims["sub"].as_str().unwrap().to_string();
    let list = String::from_utf8(run(dir.path(), &["sessions", "list", "--user", &sub], &[]).stdout).unwrap();
    assert_eq!(list.lines().count(), 1, "bob has one session");
    // The session is listed by its public id (the `sid` claim), which is not its cookie, and it is
    // revoked by that id (RFC 6749 §10.3).
    let listed_id = list.split('\t').next().unwrap().trim().to_string();
    assert_eq!(listed_id, claims["sid"].as_str().unwrap());
    let prompt_none = common::authorize_url(
        &issuer,
        &[
            ("client_id", "cli-app"),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("prompt", "none"),
            ("code_challenge", common::CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let as_cookie = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&prompt_none)
        .header("cookie", format!("dtoidc_session={listed_id}"))
        .send()
        .await
        .unwrap();
    let location = common::redirect_location(&as_cookie).expect("a redirect to the client");
    assert!(location.contains("error=login_required"), "the listed id opens no session: {location}");
    let revoke = run(dir.path(), &["sessions", "revoke", "--session", &listed_id], &[]);
    assert!(revoke.status.success(), "{}", String::from_utf8_lossy(&revoke.stderr));
    let list = run(dir.path(), &["sessions", "list", "--user", &sub], &[]);
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().count(), 0);
    let revoke = run(dir.path(), &["sessions", "revoke", "--user", &sub], &[]);
    assert!(revoke.status.success(), "{}", String::from_utf8_lossy(&revoke.stderr));
    let refresh = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth("cli-app", Some(&secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), reqwest::StatusCode::BAD_REQUEST, "revoked from the CLI");

    // Users, roles and audit from the CLI (parity with the admin API).
    let users = String::from_utf8(run(dir.path(), &["users", "list", "--search", "bob"], &[]).stdout).unwrap();
    assert!(users.contains(&sub), "{users}");
    assert!(run(dir.path(), &["roles", "create", "ops", "--description", "operators"], &[]).status.success());
    assert!(run(dir.path(), &["roles", "grant", "--user", &sub, "--role", "ops"], &[]).status.success());
    let added = run(dir.path(), &["roles", "mappings", "add", "--role", "ops", "--department", "3"], &[]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let mappings = String::from_utf8(run(dir.path(), &["roles", "mappings", "list"], &[]).stdout).unwrap();
    assert!(mappings.contains("\"dept_id\":3"), "{mappings}");
    assert!(!run(dir.path(), &["roles", "grant", "--user", &sub, "--role", "nope"], &[]).status.success());
    assert!(run(dir.path(), &["users", "disable", &sub], &[]).status.success());
    let shown = String::from_utf8(run(dir.path(), &["users", "show", &sub], &[]).stdout).unwrap();
    assert!(shown.contains("\"disabled\": true"), "{shown}");
    let audit = String::from_utf8(run(dir.path(), &["audit", "--actor", "cli"], &[]).stdout).unwrap();
    assert!(audit.contains("role_created") && audit.contains("user_disabled"), "{audit}");
    let rotated = run(dir.path(), &["clients", "rotate-secret", "cli-app"], &[]);
    assert!(String::from_utf8_lossy(&rotated.stdout).contains("client secret:"));

    // Key commands work next to `serve --dev` (they use its development KEK).
    let list = String::from_utf8(run(dir.path(), &["keys", "list"], &[]).stdout).unwrap();
    assert!(list.contains("Active"), "{list}");
    let rotate = run(dir.path(), &["keys", "rotate"], &[]);
    assert!(
        String::from_utf8_lossy(&rotate.stdout).contains("published"),
        "{}",
        String::from_utf8_lossy(&rotate.stderr)
    );
    let list = String::from_utf8(run(dir.path(), &["keys", "list"], &[]).stdout).unwrap();
    assert!(list.contains("Pending") && list.contains("Active"), "{list}");

    // SIGTERM: graceful shutdown, exit status 0.
    let pid = child.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = child.0.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(exited.expect("exits after SIGTERM").success());
    let mut out = String::new();
    use std::io::Read;
    child.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(out.contains(&issuer) && out.contains(&sim_listen) && out.contains("clients add"), "{out}");
}

#[test]
fn simulator_directory_example_is_the_built_in_directory() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/simulator-directory.example.toml"));
    let loaded = dingtalk_oidc::dingtalk::SimDirectory::load(path).unwrap();
    assert_eq!(loaded, dingtalk_oidc::dingtalk::SimDirectory::default());
}

/// `serve --dev` in `dir` with the demo app on `demo_port`, up and past its banner.
struct DevServer {
    child: Child,
    banner: Vec<String>,
    issuer: String,
}

impl DevServer {
    async fn start(dir: &Path, demo_port: u16) -> DevServer {
        use std::io::BufRead;
        let listen = format!("127.0.0.1:{}", free_port());
        let mut child = Command::new(BIN)
            .current_dir(dir)
            .args(["serve", "--dev", "--listen", &listen, "--demo-listen", &format!("127.0.0.1:{demo_port}")])
            .env("DINGTALK_OIDC_DEV__SIMULATOR_LISTEN", format!("127.0.0.1:{}", free_port()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let child = Child(child);
        // The banner ends with this line, printed once everything listens.
        let banner = tokio::task::spawn_blocking(move || {
            let mut banner = Vec::new();
            for line in stdout.lines().map_while(Result::ok) {
                let last = line.starts_with("then point the app");
                banner.push(line);
                if last {
                    break;
                }
            }
            banner
        });
        let banner = tokio::time::timeout(Duration::from_secs(60), banner).await.expect("a banner").unwrap();
        assert!(banner.last().is_some_and(|l| l.starts_with("then point")), "serve --dev did not start: {banner:?}");
        DevServer { child, banner, issuer: format!("http://{listen}") }
    }

    fn line(&self, prefix: &str) -> &str {
        let found = self.banner.iter().find_map(|l| l.trim().strip_prefix(prefix));
        found.unwrap_or_else(|| panic!("no {prefix:?} in {:?}", self.banner)).trim()
    }

    async fn stop(mut self) {
        let pid = self.child.0.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        for _ in 0..100 {
            if self.child.0.try_wait().unwrap().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("serve --dev did not stop after SIGTERM");
    }
}

#[tokio::test]
async fn serve_dev_opens_with_the_demo_url_prints_an_admin_token_and_registers_the_demo_once_over_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut tokens_seen = Vec::new();
    for demo_port in [free_port(), free_port()] {
        let server = DevServer::start(dir.path(), demo_port).await;
        let demo_url = format!("http://127.0.0.1:{demo_port}");
        assert_eq!(
            server.banner[0],
            format!("open {demo_url} and sign in as alice (the demo app: every endpoint at work, in your browser)")
        );
        let page = reqwest::get(&demo_url).await.unwrap().text().await.unwrap();
        assert!(page.contains("Sign in with DingTalk"), "{page}");

        let token = server
            .line("admin token (this run only; Authorize in the admin docs, or sign in to the console):")
            .to_string();
        assert!(!tokens_seen.contains(&token), "a new admin token each run");
        let clients: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/admin/v1/clients", server.issuer))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let demos: Vec<&serde_json::Value> = clients.as_array().unwrap().iter().filter(|c| c["id"] == "demo").collect();
        assert_eq!(demos.len(), 1, "one demo client: {clients}");
        assert_eq!(demos[0]["redirect_uris"], serde_json::json!([format!("{demo_url}/callback")]));
        tokens_seen.push(token);
        server.stop().await;
    }
    let list = String::from_utf8(run(dir.path(), &["clients", "list"], &[]).stdout).unwrap();
    assert_eq!(list.lines().filter(|l| l.starts_with("demo\t")).count(), 1, "{list}");
}

/// `clients add --jwks-file` registers a private_key_jwt client: no secret is printed, `clients
/// show` names the method and the keys; a file with a private key is refused with the reason.
#[test]
fn clients_add_with_a_jwks_file_registers_a_private_key_jwt_client() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("oidc.db").display());
    let database = [("DINGTALK_OIDC_DATABASE__URL", url.as_str())];
    let key = dingtalk_oidc::keys::generate_rsa_key().unwrap();
    let jwks = serde_json::json!({ "keys": [key.jwk] }).to_string();
    let jwks_file = dir.path().join("signer.jwks.json");
    std::fs::write(&jwks_file, &jwks).unwrap();
    let path = jwks_file.display().to_string();
    let added = run(
        dir.path(),
        &["clients", "add", "--id", "signer", "--grant-type", "client_credentials", "--jwks-file", &path],
        &database,
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let stdout = String::from_utf8(added.stdout).unwrap();
    assert!(stdout.contains("private_key_jwt") && !stdout.contains("client secret:"), "{stdout}");
    let shown = String::from_utf8(run(dir.path(), &["clients", "show", "signer"], &database).stdout).unwrap();
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(shown["jwks"].as_str().unwrap()).unwrap()["keys"][0]["kid"],
        key.jwk.kid
    );
    std::fs::write(&jwks_file, jwks.replace("\"kty\"", "\"d\":\"x\",\"kty\"")).unwrap();
    let refused = run(
        dir.path(),
        &["clients", "add", "--id", "leaky", "--grant-type", "client_credentials", "--jwks-file", &path],
        &database,
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("private"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

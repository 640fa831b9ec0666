//! DingTalk data decoding reachable through the crate's public API.
//!
//! The body parsers proper (`error::error_from_status`, `error::check_oapi_envelope`,
//! `client::decode_v1`, the `lenient` number/bool/string decoders and the org.rs / client.rs
//! response structs) are `pub(crate)` or private and cannot be called from here. What is public:
//! the serde forms of `DingTalkIdentity`, `OrgMember`, `OrgRole`, `DingTalkSettings` and `Fault`
//! (JSON), `SimDirectory` (TOML) with its validation and lookups, `DingTalkClient::new` (URL
//! checks) with `authorize_url`, and the classification methods of `DingTalkError`.
//!
//! The first byte picks the parser; the rest is its input.
#![no_main]

use dingtalk_oidc::dingtalk::{
    DingTalkClient, DingTalkError, DingTalkIdentity, DingTalkSettings, Fault, OrgMember, OrgRole, SimDirectory,
};
use libfuzzer_sys::fuzz_target;

fn classify(err: &DingTalkError) {
    let _ = err.log_code();
    let _ = err.is_unavailable();
    let _ = err.user_message();
    let _ = err.to_string();
}

fn sim_directory(dir: &SimDirectory) {
    let valid = dir.validate().is_ok();
    for dept in &dir.departments {
        let chain = dir.dept_chain(dept.id);
        if valid {
            // validate() promises every department has a finite chain ending at a root.
            let chain = chain.expect("validated directory has a chain for every department");
            assert_eq!(chain.first(), Some(&dept.id));
        }
        let _ = dir.department(dept.id);
    }
    for user in &dir.users {
        let _ = dir.user_by_login(&user.login);
        for role in &user.role_ids {
            let found = dir.role(*role);
            if valid {
                assert!(found.is_some());
            }
        }
    }
    // Round trip: what we write we can read back.
    if let Ok(text) = toml::to_string(dir) {
        let _ = toml::from_str::<SimDirectory>(&text);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    match selector % 8 {
        0 => {
            if let Ok(id) = serde_json::from_slice::<DingTalkIdentity>(body) {
                let _ = serde_json::to_vec(&id);
            }
        }
        1 => {
            if let Ok(member) = serde_json::from_slice::<OrgMember>(body) {
                let _ = serde_json::to_vec(&member);
            }
        }
        2 => {
            let _ = serde_json::from_slice::<Vec<OrgRole>>(body);
        }
        3 => {
            if let Ok(fault) = serde_json::from_slice::<Fault>(body) {
                // Fault serializes through FaultSpec; the result must parse back to the same fault.
                let json = serde_json::to_vec(&fault).expect("fault serializes");
                let back: Fault = serde_json::from_slice(&json).expect("fault round-trips");
                assert_eq!(back, fault);
            }
        }
        4 => {
            let Ok(text) = std::str::from_utf8(body) else { return };
            if let Ok(dir) = toml::from_str::<SimDirectory>(text) {
                sim_directory(&dir);
            }
        }
        5 => {
            let Ok(text) = std::str::from_utf8(body) else { return };
            let Ok(settings) = toml::from_str::<DingTalkSettings>(text) else { return };
            match DingTalkClient::new(settings) {
                Ok(client) => {
                    let url = client.authorize_url("https://rp.example/cb?x=1&y=2", "st ate+&");
                    assert!(url.contains("/oauth2/auth?"));
                }
                Err(e) => classify(&e),
            }
        }
        6 => {
            // authorize_url with arbitrary redirect_uri / state (split at the first NUL).
            let Ok(text) = std::str::from_utf8(body) else { return };
            let (redirect, state) = text.split_once('\0').unwrap_or((text, ""));
            let client = client();
            let url = client.authorize_url(redirect, state);
            assert!(!url[url.find('?').unwrap() + 1..].contains(['#', ' ']));
        }
        _ => {
            // DingTalkError classification over arbitrary codes, statuses and sub-codes.
            let Ok(text) = std::str::from_utf8(body) else { return };
            let mut parts = text.splitn(3, '\0');
            let (a, b, c) = (parts.next().unwrap_or(""), parts.next(), parts.next());
            let number = b.and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or(0);
            classify(&DingTalkError::Api {
                status: number as u16,
                code: a.to_owned(),
                message: c.unwrap_or("").to_owned(),
                request_id: None,
            });
            classify(&DingTalkError::Oapi {
                errcode: number,
                errmsg: a.to_owned(),
                sub_code: c.map(str::to_owned),
                request_id: b.map(str::to_owned),
            });
        }
    }
});

fn client() -> &'static DingTalkClient {
    static CLIENT: std::sync::OnceLock<DingTalkClient> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        DingTalkClient::new(DingTalkSettings {
            client_id: "dingfuzz".into(),
            client_secret: "secret".into(),
            corp_id: Some("ding-corp".into()),
            ..DingTalkSettings::default()
        })
        .expect("client")
    })
}

//! Secrets: a value never printed by `Debug`, and secret options given as files
//! (`database.url_file`, ...), as Kubernetes secret volumes, Compose secrets and systemd
//! credentials provide them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError};

/// A secret value: never printed by `Debug`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Config {
    /// Reads each secret given as a file into its option, so the rest of the program sees one
    /// value wherever it came from. Giving a secret both ways is an error rather than a silent
    /// choice: an inline value that is empty or the default does not count as given (the example
    /// config spells out the defaults). Errors name the option and the path, never the content.
    pub fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        let defaults = Config::default();
        if let Some(path) = &self.dingtalk.client_secret_file {
            let given = !self.dingtalk.client_secret.is_empty();
            self.dingtalk.client_secret =
                read_secret("dingtalk.client_secret", "dingtalk.client_secret_file", given, path)?;
        }
        for app in &mut self.dingtalk.apps {
            if let Some(path) = &app.client_secret_file {
                let given = !app.client_secret.is_empty();
                app.client_secret =
                    read_secret("dingtalk.apps.client_secret", "dingtalk.apps.client_secret_file", given, path)?;
            }
        }
        if let Some(path) = &self.keys.kek_file {
            let given = self.keys.kek.as_deref().is_some_and(|k| !k.trim().is_empty());
            self.keys.kek = Some(read_secret("keys.kek", "keys.kek_file", given, path)?);
        }
        if let Some(path) = &self.database.url_file {
            let given = !self.database.url.is_empty() && self.database.url != defaults.database.url;
            self.database.url = read_secret("database.url", "database.url_file", given, path)?;
        }
        if let Some(path) = &self.redis.url_file {
            let given = !self.redis.url.is_empty() && self.redis.url != defaults.redis.url;
            self.redis.url = read_secret("redis.url", "redis.url_file", given, path)?;
        }
        if let Some(path) = &self.admin_token_file {
            let given = self.admin_token.as_ref().is_some_and(|t| !t.0.is_empty());
            self.admin_token = Some(Secret(read_secret("admin_token", "admin_token_file", given, path)?));
        }
        Ok(())
    }
}

/// Larger than any secret or URL; a path naming something else (a device, a log) is refused
/// rather than read without end.
pub(super) const SECRET_FILE_LIMIT: u64 = 64 * 1024;

/// The secret in `path`, without the trailing newline editors and `echo` add (and any other
/// trailing whitespace). `inline_given`: the secret was also given as `inline`.
fn read_secret(
    inline: &'static str,
    file: &'static str,
    inline_given: bool,
    path: &Path,
) -> Result<String, ConfigError> {
    use std::io::Read;
    if inline_given {
        return Err(ConfigError::SecretGivenTwice { inline, file });
    }
    let unreadable = |problem: String| ConfigError::Option { option: file, problem };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(SECRET_FILE_LIMIT + 1).read_to_string(&mut text))
        .map_err(|e| unreadable(format!("names {}, which cannot be read: {e}", path.display())))?;
    if text.len() as u64 > SECRET_FILE_LIMIT {
        return Err(unreadable(format!("names {}, which is larger than {SECRET_FILE_LIMIT} bytes", path.display())));
    }
    let value = text.trim_end();
    if value.is_empty() {
        return Err(unreadable(format!("names {}, which is empty", path.display())));
    }
    Ok(value.to_string())
}

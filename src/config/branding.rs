//! The `[branding]` table: the name, logo and colours of the provider's pages (`web::templates`).
//!
//! The colours are written into the pages' inline style block, so checking them here is what keeps
//! a value from breaking out of the CSS (the templates escape them too). They must also be
//! readable: WCAG 2.1 §1.4.3 (Contrast (Minimum), level AA) asks for 4.5:1 between text and its
//! background. A colour below that is refused, not warned about: these pages are the only way a
//! person signs in, a button some people cannot read is an outage for them, and a log line at
//! start-up is easily missed while the fix is one line of config.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// What the pages are called when nobody says otherwise: the name they always used (the logout
/// question and the 中文 table say "钉钉登录").
pub const DEFAULT_PRODUCT_NAME: &str = "DingTalk sign-in";
/// The primary button's background (white text on it: 4.63:1).
pub const DEFAULT_PRIMARY_COLOR: &str = "#1f6feb";
/// Body text, on the white page (15.8:1).
pub const DEFAULT_TEXT_COLOR: &str = "#1f2328";
/// WCAG 2.1 §1.4.3: the least contrast for body text and the primary button's label.
pub const MIN_CONTRAST: f64 = 4.5;
const MAX_PRODUCT_NAME_CHARS: usize = 80;
/// A `data:` logo travels in every page: a small image only.
const MAX_LOGO_URL_BYTES: usize = 32 * 1024;
const WHITE: [u8; 3] = [255, 255, 255];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BrandingConfig {
    /// Shown in every page's header and title. The default is translated (钉钉登录); a name the
    /// operator gives is shown as written.
    pub product_name: String,
    /// A logo beside the name: an `https:` URL, a `data:image/…` URL or a path on the provider's
    /// own origin starting with `/` (the page policy allows images from exactly these). Unset or
    /// `""`: no logo.
    pub logo_url: Option<String>,
    /// The primary button's background, `#rgb` or `#rrggbb`; its white label must have 4.5:1.
    pub primary_color: String,
    /// Body text, `#rgb` or `#rrggbb`; 4.5:1 on the white page.
    pub text_color: String,
}

impl Default for BrandingConfig {
    fn default() -> Self {
        BrandingConfig {
            product_name: DEFAULT_PRODUCT_NAME.into(),
            logo_url: None,
            primary_color: DEFAULT_PRIMARY_COLOR.into(),
            text_color: DEFAULT_TEXT_COLOR.into(),
        }
    }
}

impl BrandingConfig {
    /// The logo to show, if any (`""` means none, so the environment can unset a file's logo).
    pub fn logo(&self) -> Option<&str> {
        self.logo_url.as_deref().filter(|url| !url.is_empty())
    }

    /// Start-up checks (`Config::validate`); each error names its option.
    pub fn check(&self) -> Result<(), ConfigError> {
        let name = self.product_name.trim();
        if name.is_empty() || self.product_name.chars().count() > MAX_PRODUCT_NAME_CHARS {
            return Err(ConfigError::Option {
                option: "branding.product_name",
                problem: format!("must have 1 to {MAX_PRODUCT_NAME_CHARS} characters"),
            });
        }
        if self.product_name.chars().any(char::is_control) {
            return Err(ConfigError::Option {
                option: "branding.product_name",
                problem: "must not contain control characters".into(),
            });
        }
        if let Some(url) = self.logo() {
            check_logo_url(url).map_err(|problem| ConfigError::Option { option: "branding.logo_url", problem })?;
        }
        let primary = parse_color(&self.primary_color)
            .map_err(|problem| ConfigError::Option { option: "branding.primary_color", problem })?;
        let ratio = contrast_ratio(WHITE, primary);
        if ratio < MIN_CONTRAST {
            return Err(ConfigError::Option {
                option: "branding.primary_color",
                problem: format!(
                    "is {:?}: white button text on it has a contrast of {ratio:.2}:1, below the {MIN_CONTRAST}:1 \
                     that WCAG 2.1 §1.4.3 asks for; choose a darker colour",
                    self.primary_color
                ),
            });
        }
        let text = parse_color(&self.text_color)
            .map_err(|problem| ConfigError::Option { option: "branding.text_color", problem })?;
        let ratio = contrast_ratio(text, WHITE);
        if ratio < MIN_CONTRAST {
            return Err(ConfigError::Option {
                option: "branding.text_color",
                problem: format!(
                    "is {:?}: on the white page it has a contrast of {ratio:.2}:1, below the {MIN_CONTRAST}:1 that \
                     WCAG 2.1 §1.4.3 asks for; choose a darker colour",
                    self.text_color
                ),
            });
        }
        Ok(())
    }
}

/// Only what the page policy (`web::headers::HTML_CSP`, `img-src 'self' https: data:`) loads, and
/// nothing a browser would run: no `javascript:`, no `http:`, no scheme-relative `//host` (nor
/// `/\host`, which browsers read the same way).
fn check_logo_url(url: &str) -> Result<(), String> {
    const EXPECTED: &str = "must be an https: URL, a data:image/… URL or a path starting with /";
    if url.len() > MAX_LOGO_URL_BYTES {
        return Err(format!("is {} bytes long; at most {MAX_LOGO_URL_BYTES} (use an https: URL)", url.len()));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
        return Err(format!("{EXPECTED}, without spaces, control characters or backslashes"));
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https:") {
        return match url::Url::parse(url) {
            Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
            Ok(_) => Err(format!("is {url:?}: an https: URL needs a host")),
            Err(e) => Err(format!("is not a valid URL: {e}")),
        };
    }
    if let Some(rest) = lower.strip_prefix("data:image/") {
        let subtype = rest.split([';', ',']).next().unwrap_or_default();
        let well_formed = !subtype.is_empty()
            && subtype.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            && rest.contains(',');
        return if well_formed {
            Ok(())
        } else {
            Err(format!("is not a data:image/TYPE[;base64],DATA URL: {EXPECTED}"))
        };
    }
    if url.starts_with('/') && !url.starts_with("//") {
        return Ok(());
    }
    let shown: String = url.chars().take(40).collect();
    Err(format!("is {shown:?}: {EXPECTED}"))
}

/// `#rgb` or `#rrggbb`, nothing else (no names, no `rgb()`, nothing that could end the style rule).
pub fn parse_color(value: &str) -> Result<[u8; 3], String> {
    let problem = || format!("is {value:?}: use a hex colour, #rgb or #rrggbb");
    let hex = value.strip_prefix('#').filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit())).ok_or_else(problem)?;
    let digit = |i: usize| u8::from_str_radix(&hex[i..i + 1], 16).unwrap_or(0);
    match hex.len() {
        3 => Ok([digit(0) * 17, digit(1) * 17, digit(2) * 17]),
        6 => Ok([digit(0) * 16 + digit(1), digit(2) * 16 + digit(3), digit(4) * 16 + digit(5)]),
        _ => Err(problem()),
    }
}

/// WCAG 2.1's relative luminance of an sRGB colour (0 for black, 1 for white).
pub fn relative_luminance(rgb: [u8; 3]) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2])
}

/// WCAG 2.1's contrast ratio, from 1 (the same) to 21 (black on white); the order does not matter.
pub fn contrast_ratio(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (relative_luminance(a), relative_luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(branding: BrandingConfig) -> String {
        branding.check().unwrap_err().to_string()
    }

    #[test]
    fn wcag_1_4_3_default_colours_have_at_least_4_5_to_1_contrast() {
        let text = contrast_ratio(parse_color(DEFAULT_TEXT_COLOR).unwrap(), WHITE);
        let button = contrast_ratio(WHITE, parse_color(DEFAULT_PRIMARY_COLOR).unwrap());
        assert!(text >= MIN_CONTRAST, "text on white: {text:.2}");
        assert!(button >= MIN_CONTRAST, "white on primary: {button:.2}");
        // The ratios the constants' comments state.
        assert_eq!((format!("{text:.1}"), format!("{button:.2}")), ("15.8".into(), "4.63".into()));
        BrandingConfig::default().check().unwrap();
    }

    #[test]
    fn wcag_contrast_ratio_spans_1_to_21() {
        assert!((contrast_ratio([0, 0, 0], WHITE) - 21.0).abs() < 1e-9);
        assert!((contrast_ratio(WHITE, [0, 0, 0]) - 21.0).abs() < 1e-9);
        assert!((contrast_ratio([0x77, 0x77, 0x77], [0x77, 0x77, 0x77]) - 1.0).abs() < 1e-9);
        // #767676 is the lightest grey with 4.5:1 on white.
        assert!(contrast_ratio([0x76, 0x76, 0x76], WHITE) >= 4.5);
        assert!(contrast_ratio([0x77, 0x77, 0x77], WHITE) < 4.5);
    }

    #[test]
    fn colours_are_hex_only_and_the_error_names_the_option() {
        assert_eq!(parse_color("#fff").unwrap(), WHITE);
        assert_eq!(parse_color("#0B5394").unwrap(), [0x0b, 0x53, 0x94]);
        for bad in ["red", "#ff", "#ffff", "#gggggg", "0b5394", "#0b5394;}body{x:y", "rgb(0,0,0)", "", "#"] {
            assert!(parse_color(bad).is_err(), "{bad}");
            let err = problem(BrandingConfig { primary_color: bad.into(), ..BrandingConfig::default() });
            assert!(err.contains("branding.primary_color") && err.contains("#rgb or #rrggbb"), "{err}");
            let err = problem(BrandingConfig { text_color: bad.into(), ..BrandingConfig::default() });
            assert!(err.contains("branding.text_color"), "{err}");
        }
    }

    #[test]
    fn wcag_1_4_3_low_contrast_colours_are_refused_naming_the_option_and_the_ratio() {
        let err = problem(BrandingConfig { primary_color: "#58a6ff".into(), ..BrandingConfig::default() });
        assert!(err.contains("branding.primary_color") && err.contains(":1"), "{err}");
        let err = problem(BrandingConfig { text_color: "#999".into(), ..BrandingConfig::default() });
        assert!(err.contains("branding.text_color") && err.contains("2.85:1"), "{err}");
        let dark = BrandingConfig { primary_color: "#0b5394".into(), text_color: "#000".into(), ..Default::default() };
        dark.check().unwrap();
    }

    #[test]
    fn logo_url_is_https_a_data_image_or_a_local_path_and_nothing_else() {
        for ok in [
            "https://cdn.example/logo.png",
            "HTTPS://cdn.example/a%20b.svg?v=2",
            "data:image/png;base64,iVBORw0KGgo=",
            "data:image/svg+xml,%3Csvg%3E%3C/svg%3E",
            "/static/logo.svg",
            "",
        ] {
            let branding = BrandingConfig { logo_url: Some(ok.into()), ..BrandingConfig::default() };
            assert!(branding.check().is_ok(), "{ok}: {:?}", branding.check());
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "http://cdn.example/logo.png",
            "//evil.example/logo.png",
            "/\\evil.example/logo.png",
            "data:text/html,<script>alert(1)</script>",
            "data:image/,x",
            "data:image/png;base64",
            "logo.png",
            "https://cdn.example/logo.png\" onerror=\"alert(1)",
            "vbscript:x",
        ] {
            let err = problem(BrandingConfig { logo_url: Some(bad.into()), ..BrandingConfig::default() });
            assert!(err.contains("branding.logo_url"), "{bad}: {err}");
        }
        let huge = format!("data:image/png;base64,{}", "A".repeat(MAX_LOGO_URL_BYTES));
        assert!(problem(BrandingConfig { logo_url: Some(huge), ..BrandingConfig::default() }).contains("bytes"));
    }

    #[test]
    fn product_name_is_short_plain_text() {
        for bad in ["", "   ", "a\nb", &"x".repeat(81)] {
            let err = problem(BrandingConfig { product_name: bad.into(), ..BrandingConfig::default() });
            assert!(err.contains("branding.product_name"), "{bad:?}: {err}");
        }
        // Markup is allowed here: the templates escape it (`web::templates`).
        BrandingConfig { product_name: "Acme & <Co> \"SSO\"".into(), ..Default::default() }.check().unwrap();
    }
}

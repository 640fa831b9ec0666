//! The `errcode` label of `dingtalk_oidc_dingtalk_requests_total`. Its value comes from DingTalk's
//! answers, not from this code, so it is bounded: every label value is a separate time series in
//! Prometheus, and an upstream that starts answering with request-specific codes must not grow the
//! exposition without limit. A code is kept as it is when it is short and plain, and while fewer
//! than [`MAX_CODES`] distinct codes have been seen by this process; anything else is [`OTHER`].

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// Distinct codes kept per process. DingTalk documents a few dozen codes for the calls a sign-in
/// makes; more than this means codes that vary per request.
pub const MAX_CODES: usize = 50;

/// Longest code kept. DingTalk's longest documented v1.0 codes
/// (`Forbidden.AccessDenied.QpsLimitForAppkeyAndApi`) are under 50 characters.
pub const MAX_CODE_LEN: usize = 64;

/// The label of a code that is not kept.
pub const OTHER: &str = "other";

/// The codes seen so far, up to a limit.
#[derive(Debug)]
pub struct CodeLabels {
    seen: Mutex<HashSet<String>>,
    limit: usize,
}

impl CodeLabels {
    pub fn new(limit: usize) -> CodeLabels {
        CodeLabels { seen: Mutex::new(HashSet::new()), limit }
    }

    /// The label for `code`: the code itself, or [`OTHER`].
    pub fn label(&self, code: &str) -> String {
        if !plain(code) {
            return OTHER.to_string();
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(code) {
            return code.to_string();
        }
        if seen.len() >= self.limit {
            return OTHER.to_string();
        }
        seen.insert(code.to_string());
        code.to_string()
    }
}

/// Short, and only the characters DingTalk's codes are made of (digits, letters, `.`, `-`, `_`,
/// and the `/` of `88/<sub_code>`).
fn plain(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= MAX_CODE_LEN
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'))
}

/// The process's label for `code` (see [`CodeLabels::label`]).
pub fn label(code: &str) -> String {
    static CODES: OnceLock<CodeLabels> = OnceLock::new();
    CODES.get_or_init(|| CodeLabels::new(MAX_CODES)).label(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_past_the_limit_are_other_and_codes_already_seen_stay() {
        let labels = CodeLabels::new(3);
        for code in ["60121", "InvalidAuthentication", "88/60011"] {
            assert_eq!(labels.label(code), code);
        }
        assert_eq!(labels.label("40014"), OTHER, "a fourth distinct code");
        assert_eq!(labels.label("60121"), "60121", "a code already kept stays itself");
    }

    #[test]
    fn long_or_odd_codes_are_other_and_do_not_use_up_the_limit() {
        let labels = CodeLabels::new(1);
        assert_eq!(labels.label(&"x".repeat(MAX_CODE_LEN + 1)), OTHER);
        assert_eq!(labels.label("code with spaces"), OTHER);
        assert_eq!(labels.label("quote\"brace}"), OTHER);
        assert_eq!(labels.label("错误"), OTHER);
        assert_eq!(labels.label(&"x".repeat(MAX_CODE_LEN)), "x".repeat(MAX_CODE_LEN));
    }
}

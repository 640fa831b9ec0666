//! HTML escaping shared by every page we serve: the page templates' formatter (`web::templates`),
//! the DingTalk simulator's pages and the demo app's.

/// Escape text for an HTML text node or a double-quoted attribute value (RFC 6749 §10.14:
/// every request value that reaches a page goes through here).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn rfc6749_10_14_script_in_state_is_escaped() {
        assert_eq!(escape("<script>alert('x\")</script>&"), "&lt;script&gt;alert(&#39;x&quot;)&lt;/script&gt;&amp;");
    }
}

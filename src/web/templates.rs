//! The provider's page templates (`templates/*.html`), compiled once into one minijinja
//! environment; each request only renders.
//!
//! Every value a template prints is HTML-escaped, in text and in attribute values alike (RFC 6749
//! §10.14), whatever the template's name and even under `{% autoescape false %}`: the formatter
//! below escapes with `html::escape` (`& < > " '`), the escaping the pages always had and the tests'
//! readers of hidden fields expect. Only values a page marks safe in Rust are printed as they are
//! (the form_post page's constant script). Text is translated in the template with the `t` filter
//! (`{{ "Allow"|t }}`: `i18n::t`, in the request's language); the branding of the request
//! (`branding`) and its language fill the layout.

use std::sync::LazyLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, UndefinedBehavior, context};

use super::{branding, html, i18n};

/// Every template, by name: the layout and the shared parts first (the pages extend and import them).
const TEMPLATES: [(&str, &str); 25] = [
    ("layout.html", include_str!("templates/layout.html")),
    ("parts.html", include_str!("templates/parts.html")),
    ("error.html", include_str!("templates/error.html")),
    ("consent.html", include_str!("templates/consent.html")),
    ("device.html", include_str!("templates/device.html")),
    ("logout_confirm.html", include_str!("templates/logout_confirm.html")),
    ("logged_out.html", include_str!("templates/logged_out.html")),
    ("form_post.html", include_str!("templates/form_post.html")),
    ("in_app.html", include_str!("templates/in_app.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("organisation.html", include_str!("templates/organisation.html")),
    ("account.html", include_str!("templates/account.html")),
    ("account_signed_out.html", include_str!("templates/account_signed_out.html")),
    ("console_login.html", include_str!("templates/console_login.html")),
    ("console_home.html", include_str!("templates/console_home.html")),
    ("console_confirm.html", include_str!("templates/console_confirm.html")),
    ("console_clients.html", include_str!("templates/console_clients.html")),
    ("console_client.html", include_str!("templates/console_client.html")),
    ("console_secret.html", include_str!("templates/console_secret.html")),
    ("console_users.html", include_str!("templates/console_users.html")),
    ("console_user.html", include_str!("templates/console_user.html")),
    ("console_keys.html", include_str!("templates/console_keys.html")),
    ("console_roles.html", include_str!("templates/console_roles.html")),
    ("console_role.html", include_str!("templates/console_role.html")),
    ("console_audit.html", include_str!("templates/console_audit.html")),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Block tags on their own lines leave no blank lines behind.
    let syntax = SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build();
    env.set_syntax(syntax.expect("the default delimiters"));
    // A name a template misspells is an error (caught by the tests), not an empty string.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_formatter(|out, _state, value| {
        if value.is_safe() {
            return out.write_str(value.as_str().unwrap_or_default()).map_err(Error::from);
        }
        out.write_str(&html::escape(&value.to_string())).map_err(Error::from)
    });
    env.add_filter("t", |text: &str| i18n::t(text).to_string());
    for (name, source) in TEMPLATES {
        // The sources are part of the binary: a syntax error is a bug the unit tests catch.
        env.add_template(name, source).unwrap_or_else(|e| panic!("template {name}: {e:#}"));
    }
    env
});

/// Renders the page template `name` with the page's own values (`page`, a map) plus what the
/// layout needs: the language tag, the product name (translated), the logo and the colours.
pub fn render(name: &str, page: Value) -> Result<String, Error> {
    let branding = branding::current();
    let frame = context! {
        lang => i18n::current().tag(),
        product => i18n::t(&branding.product_name),
        logo_url => branding.logo(),
        primary_color => branding.primary_color.as_str(),
        text_color => branding.text_color.as_str(),
    };
    ENV.get_template(name)?.render(context! { ..frame, ..page })
}

/// A constant of our own, printed as written (only for text that is not HTML-escapable as such,
/// like the form_post page's script, and never for a request's value).
pub fn trusted(text: &'static str) -> Value {
    Value::from_safe_string(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes_whatever_its_name() {
        for (name, _) in TEMPLATES {
            assert!(ENV.get_template(name).is_ok(), "{name}");
        }
        // Even a template that asks not to: escaping is the formatter's, not the template's choice.
        let mut env = ENV.clone();
        env.add_template("x.txt", "{% autoescape false %}<b title=\"{{ v }}\">{{ v }}</b>{% endautoescape %}").unwrap();
        let out = env.get_template("x.txt").unwrap().render(context! { v => "\"'<>&" }).unwrap();
        assert_eq!(out, "<b title=\"&quot;&#39;&lt;&gt;&amp;\">&quot;&#39;&lt;&gt;&amp;</b>");
    }

    #[test]
    fn every_text_a_template_translates_has_a_chinese_entry() {
        let mut missing = Vec::new();
        for (name, source) in TEMPLATES {
            // `"text"|t`: the literal before each use of the filter.
            for (at, _) in source.match_indices("\"|t") {
                let Some(start) = source[..at].rfind('"') else { continue };
                let text = &source[start + 1..at];
                let translated = i18n::scoped_sync(i18n::Lang::Zh, || i18n::t(text).to_string());
                if translated == text {
                    missing.push(format!("{name}: {text}"));
                }
            }
        }
        assert!(missing.is_empty(), "no 中文 for: {missing:#?}");
    }

    #[test]
    fn a_misspelt_value_is_an_error_not_an_empty_string() {
        let mut env = ENV.clone();
        env.add_template("y.html", "{{ nmae }}").unwrap();
        assert!(env.get_template("y.html").unwrap().render(context! { name => "x" }).is_err());
    }

    #[tokio::test]
    async fn the_t_filter_translates_in_the_requests_language() {
        let mut env = ENV.clone();
        env.add_template("z.html", "{{ \"Allow\"|t }}").unwrap();
        let render = || env.get_template("z.html").unwrap().render(()).unwrap();
        assert_eq!(render(), "Allow");
        assert_eq!(i18n::scoped(i18n::Lang::Zh, async { render() }).await, "允许");
    }
}

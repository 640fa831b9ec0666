//! The branding (`[branding]`) of the page being rendered, kept for the request in a task-local
//! beside its language (`i18n`), so page functions need no extra argument.
//!
//! Why a task-local and not a process-wide `OnceLock` filled at start-up: one process can run
//! several providers with different configs (the integration tests start one per test in a single
//! binary, `tests/it/common/mod.rs`), and a `OnceLock` would give every one of them the branding of
//! whichever started first. Each provider's edge layer (`edge`) holds its own `Arc` of the
//! validated config, built once in `server::routes`, and scopes it around each request that can
//! render a page, exactly where the language is scoped: a pointer copy per page request, nothing
//! threaded through the handlers. Outside a request (unit tests, pages built before any config)
//! the defaults apply.

use std::sync::{Arc, LazyLock};

use crate::config::BrandingConfig;

tokio::task_local! {
    static BRANDING: Arc<BrandingConfig>;
}

static DEFAULT: LazyLock<Arc<BrandingConfig>> = LazyLock::new(|| Arc::new(BrandingConfig::default()));

/// The branding of the page being rendered (the defaults outside a request).
pub fn current() -> Arc<BrandingConfig> {
    BRANDING.try_with(Arc::clone).unwrap_or_else(|_| DEFAULT.clone())
}

/// Runs `fut` with `branding` for its pages.
pub async fn scoped<F: std::future::Future>(branding: Arc<BrandingConfig>, fut: F) -> F::Output {
    BRANDING.scope(branding, fut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn branding_is_the_requests_own_and_the_default_outside_one() {
        assert_eq!(*current(), BrandingConfig::default());
        let acme = Arc::new(BrandingConfig { product_name: "Acme".into(), ..BrandingConfig::default() });
        let inside = scoped(acme, async { current().product_name.clone() }).await;
        assert_eq!(inside, "Acme");
        assert_eq!(current().product_name, crate::config::BrandingConfig::default().product_name);
    }
}

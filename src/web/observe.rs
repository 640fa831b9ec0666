//! Per-request observability: a request id (taken from a well-formed incoming `X-Request-Id` or
//! made fresh) echoed on the response and attached to every log line of the request, and request
//! counts and latency histograms by route and status for `/metrics`.

use poem::Request;
use poem::http::{HeaderValue, Method};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

pub const REQUEST_ID: &str = "x-request-id";

/// Routes as metric labels: fixed paths by name, everything under the admin API as one, the
/// console's pages as another, anything else as `other`, so label cardinality stays bounded whatever clients send.
pub fn route_label(path: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/jwks.json",
        "/authorize",
        "/callback/dingtalk",
        "/callback/dingtalk/in-app",
        "/consent",
        "/device_authorization",
        "/device/confirm",
        "/device",
        "/par",
        "/register",
        "/token",
        "/userinfo",
        "/revoke",
        "/introspect",
        "/logout",
        "/logout/confirm",
        "/account",
        "/account/login",
        "/healthz",
        "/readyz",
        "/metrics",
    ];
    // The protocol's paths first, as before the console: the hot endpoints pay nothing for it.
    // One console path ends like a protocol one.
    if let Some(known) = KNOWN.iter().find(|k| path.ends_with(*k))
        && !(*known == "/logout" && path.ends_with("/admin/logout"))
    {
        return known;
    }
    if path.contains("/admin/v1/") || path.contains("/admin/docs") {
        "/admin"
    } else if path.contains("/register/") && !path.contains("/admin") {
        "/register/{client_id}"
    } else if path.ends_with("/admin") || path.contains("/admin/") {
        "/admin/console"
    } else {
        "other"
    }
}

/// Discovery and JWKS: public documents served from memory.
pub fn is_metadata(route: &str) -> bool {
    matches!(route, "/.well-known/openid-configuration" | "/.well-known/oauth-authorization-server" | "/jwks.json")
}

/// Browser-facing endpoints: their answers can be HTML pages.
pub fn is_page(route: &str) -> bool {
    matches!(
        route,
        "/authorize"
            | "/callback/dingtalk"
            | "/callback/dingtalk/in-app"
            | "/consent"
            | "/device"
            | "/device/confirm"
            | "/logout"
            | "/logout/confirm"
            | "/account"
            | "/account/login"
            | "/admin/console"
    )
}

fn well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A fresh request id, formatted as a random (v4) UUID. It names a request in logs; it is not a
/// secret, so it comes from a per-thread SplitMix64 sequence seeded once from the OS generator
/// (a CSPRNG call per request showed as 3.5% of a discovery request's CPU time).
fn fresh_request_id() -> HeaderValue {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut seed = [0u8; 8];
            crate::secrets::fill(&mut seed);
            u64::from_le_bytes(seed)
        });
    }
    fn splitmix64(state: &Cell<u64>) -> u64 {
        let s = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let (hi, lo) = STATE.with(|state| (splitmix64(state), splitmix64(state)));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_le_bytes());
    bytes[8..].copy_from_slice(&lo.to_le_bytes());
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf)).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// The request's id: a well-formed incoming `X-Request-Id`, else a fresh one.
pub fn request_id(req: &Request) -> HeaderValue {
    req.headers()
        .get(REQUEST_ID)
        .filter(|v| v.to_str().is_ok_and(well_formed))
        .cloned()
        .unwrap_or_else(fresh_request_id)
}

/// What every log line written while serving a request says about it. Kept in a task-local and
/// added by [`WithRequest`] when a line is written, rather than held in a tracing span: creating a
/// span per request (the fmt subscriber formats its fields into a string and files it in the span's
/// extensions, then enters and leaves it at every poll) was ~5 % of a userinfo or introspection
/// request, paid whether or not the request logged anything.
#[derive(Clone, Debug)]
pub struct RequestLog {
    pub id: HeaderValue,
    pub method: Method,
    pub route: &'static str,
}

tokio::task_local! {
    static REQUEST_LOG: Option<RequestLog>;
}

/// Runs `fut` (a request being served) with `log` attached to every line it logs (`None`: a
/// request that logs nothing, served in the same kind of scope).
pub fn logging_as<F: std::future::Future>(
    log: Option<RequestLog>,
    fut: F,
) -> impl std::future::Future<Output = F::Output> {
    REQUEST_LOG.scope(log, fut)
}

/// The request being served by the current task, if any.
fn current_request() -> Option<RequestLog> {
    REQUEST_LOG.try_with(Option::clone).ok().flatten()
}

/// An event format that adds the current request (`current_request`) to each line `inner` writes:
/// `request_id=… method=… route=…` at the end of a text line, a `request` object first in a JSON
/// line. Nothing needs escaping: the id is `well_formed` or ours, the method an HTTP token
/// (RFC 9110 §5.6.2: no quote, backslash or control character), the route one of our labels.
pub struct WithRequest<F> {
    inner: F,
    json: bool,
}

impl<F> WithRequest<F> {
    pub fn text(inner: F) -> WithRequest<F> {
        WithRequest { inner, json: false }
    }

    pub fn json(inner: F) -> WithRequest<F> {
        WithRequest { inner, json: true }
    }
}

impl<S, N, F> FormatEvent<S, N> for WithRequest<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let Some(request) = current_request() else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        let id = request.id.to_str().unwrap_or("-");
        let (method, route) = (request.method.as_str(), request.route);
        if self.json {
            // `inner` wrote one JSON object and a newline.
            let Some(rest) = line.strip_prefix('{') else { return writer.write_str(&line) };
            let separator = if rest.starts_with('}') { "" } else { "," };
            write!(
                writer,
                "{{\"request\":{{\"id\":\"{id}\",\"method\":\"{method}\",\"route\":\"{route}\"}}{separator}{rest}"
            )
        } else {
            let text = line.strip_suffix('\n').unwrap_or(&line);
            writeln!(writer, "{text} request_id={id} method={method} route={route}")
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn route_labels_stay_bounded() {
        assert_eq!(super::route_label("/token"), "/token");
        assert_eq!(super::route_label("/tenant/token"), "/token");
        assert_eq!(super::route_label("/admin/v1/users/123"), "/admin");
        assert_eq!(super::route_label("/random/garbage"), "other");
        assert_eq!(super::route_label("/admin/docs"), "/admin");
        assert_eq!(super::route_label("/admin/users/123"), "/admin/console");
        assert_eq!(super::route_label("/tenant/admin"), "/admin/console");
        assert_eq!(super::route_label("/admin/logout"), "/admin/console");
        assert!(super::well_formed("abc-123_x.y"));
        assert!(!super::well_formed("bad id\r\n"));
    }

    use std::sync::{Arc, Mutex};

    use poem::http::{HeaderValue, Method};
    use poem::test::TestClient;
    use poem::{EndpointExt, Route, get, handler};
    use tracing_subscriber::fmt::MakeWriter;

    use super::{RequestLog, WithRequest, logging_as};
    use crate::config::{LimitsConfig, ServerConfig};
    use crate::web::client_addr::ClientAddrRule;
    use crate::web::edge::Edge;
    use crate::web::limits::Limits;

    /// What the subscriber wrote, shared with the test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap().lines().map(str::to_string).collect()
        }
    }

    /// JSON logs as production writes them, into `captured`.
    fn json_logs(captured: &Captured) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .json()
            .event_format(WithRequest::json(tracing_subscriber::fmt::format().json()))
            .finish()
    }

    fn request_log(id: &'static str) -> RequestLog {
        RequestLog { id: HeaderValue::from_static(id), method: Method::POST, route: "/token" }
    }

    #[tokio::test]
    async fn json_log_lines_written_inside_a_request_name_it_first_and_others_are_unchanged() {
        let captured = Captured::default();
        let _guard = tracing::subscriber::set_default(json_logs(&captured));
        tracing::warn!(detail = "outside", "before the request");
        logging_as(Some(request_log("req-1")), async { tracing::warn!(detail = "inside", "in the request") }).await;
        let lines = captured.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        let outside: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert!(outside.get("request").is_none(), "{outside}");
        assert_eq!(outside["fields"]["detail"], "outside");
        let inside: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(inside["request"], serde_json::json!({"id": "req-1", "method": "POST", "route": "/token"}));
        assert_eq!(inside["fields"]["message"], "in the request");
        assert_eq!(inside["level"], "WARN");
    }

    #[tokio::test]
    async fn text_log_lines_written_inside_a_request_end_with_its_id_method_and_route() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .event_format(WithRequest::text(tracing_subscriber::fmt::format().with_ansi(false)))
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        logging_as(Some(request_log("req-2")), async { tracing::error!("store down") }).await;
        tracing::error!("after the request");
        let lines = captured.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("ERROR") && lines[0].contains("store down"), "{}", lines[0]);
        assert!(lines[0].ends_with(" request_id=req-2 method=POST route=/token"), "{}", lines[0]);
        assert!(!lines[1].contains("request_id="), "{}", lines[1]);
    }

    #[handler]
    fn logs_a_warning() -> &'static str {
        tracing::warn!("something to say");
        "ok"
    }

    /// Through the edge layer every request passes: a line logged by a handler carries the id the
    /// response carries (README: "every log line of the request").
    #[tokio::test]
    async fn a_line_logged_while_serving_a_request_carries_the_id_of_its_response() {
        let captured = Captured::default();
        let _guard = tracing::subscriber::set_default(json_logs(&captured));
        let limits = Arc::new(Limits::new(&LimitsConfig::default()));
        let client_addr = Arc::new(ClientAddrRule::from_config(&ServerConfig::default()).unwrap());
        let app = Route::new().at("/userinfo", get(logs_a_warning)).with(Edge {
            limits,
            client_addr,
            hsts: false,
            drain: Default::default(),
            branding: Default::default(),
        });
        let client = TestClient::new(app);
        let answer = client.get("/userinfo").header("x-request-id", "from-nginx.42").send().await;
        answer.assert_status_is_ok();
        answer.assert_header("x-request-id", "from-nginx.42");
        let fresh = client.get("/userinfo").send().await;
        let fresh_id = fresh.0.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
        let lines: Vec<serde_json::Value> = captured.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["request"]["id"], "from-nginx.42");
        assert_eq!(lines[0]["request"]["method"], "GET");
        assert_eq!(lines[0]["request"]["route"], "/userinfo");
        assert_eq!(lines[1]["request"]["id"], fresh_id.as_str());
    }
}

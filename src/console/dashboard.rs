//! Console: the dashboard. Sign-ins per hour over the last day, counted by the database from the
//! audit log (every instance's sign-ins), and this instance's counters since it started, read from
//! the metrics it already keeps for `/metrics`: tokens issued by grant (refreshes among them),
//! sign-in outcomes (the failures by kind), error responses by route and status, and DingTalk's
//! latency per endpoint. Every chart is SVG drawn here, with its numbers also written as text.

use std::fmt::Write;

use crate::web::html::escape;

/// One sample of the Prometheus text exposition: `name{label="value",…} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The samples of an exposition (comments and lines that do not parse are skipped).
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter(|l| !l.starts_with('#')).filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut labels = Vec::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        loop {
            let (i, c) = chars.next()?;
            match c {
                '}' => {
                    rest = &inner[i + 1..];
                    break;
                }
                ',' => {}
                '=' => {
                    // A quoted value with `\"`, `\\` and `\n` escapes.
                    if chars.next()?.1 != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                other => key.push(other),
            }
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample { name, labels, value })
}

/// The sum of `name` by one label, largest first, zeros left out.
pub fn totals_by(samples: &[Sample], name: &str, label: &str) -> Vec<(String, f64)> {
    let mut totals: Vec<(String, f64)> = Vec::new();
    for s in samples.iter().filter(|s| s.name == name) {
        let key = s.label(label).unwrap_or_default().to_string();
        match totals.iter_mut().find(|(k, _)| *k == key) {
            Some((_, total)) => *total += s.value,
            None => totals.push((key, s.value)),
        }
    }
    totals.retain(|(_, v)| *v > 0.0);
    totals.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    totals
}

/// Error responses (4xx, 5xx) by route and status, most first.
pub fn error_responses(samples: &[Sample]) -> Vec<(String, f64)> {
    let mut rows: Vec<(String, f64)> = samples
        .iter()
        .filter(|s| s.name == "dingtalk_oidc_http_requests_total" && s.value > 0.0)
        .filter_map(|s| {
            let status = s.label("status")?;
            matches!(status.as_bytes().first(), Some(b'4' | b'5'))
                .then(|| (format!("{} {status}", s.label("route").unwrap_or("other")), s.value))
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows
}

/// DingTalk's latency per endpoint: calls, mean and the 95th percentile's bucket bound, in
/// milliseconds (from the duration histogram's sum, count and buckets).
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    pub endpoint: String,
    pub calls: f64,
    pub mean_ms: f64,
    /// The smallest bucket bound below which 95 % of the calls finished (`None`: above the last).
    pub p95_ms: Option<f64>,
}

pub fn dingtalk_latency(samples: &[Sample]) -> Vec<Latency> {
    const FAMILY: &str = "dingtalk_oidc_dingtalk_request_duration_seconds";
    let mut out = Vec::new();
    for count in samples.iter().filter(|s| s.name == format!("{FAMILY}_count") && s.value > 0.0) {
        let endpoint = count.label("endpoint").unwrap_or_default();
        let of_endpoint = |s: &&Sample| s.label("endpoint") == Some(endpoint);
        let sum =
            samples.iter().filter(|s| s.name == format!("{FAMILY}_sum")).find(of_endpoint).map_or(0.0, |s| s.value);
        let mut buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.name == format!("{FAMILY}_bucket"))
            .filter(of_endpoint)
            .filter_map(|s| Some((s.label("le")?.parse::<f64>().ok()?, s.value)))
            .filter(|(le, _)| le.is_finite())
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let p95 = buckets.iter().find(|(_, below)| *below >= 0.95 * count.value).map(|(le, _)| le * 1000.0);
        out.push(Latency {
            endpoint: endpoint.to_string(),
            calls: count.value,
            mean_ms: sum / count.value * 1000.0,
            p95_ms: p95,
        });
    }
    out.sort_by(|a, b| b.calls.total_cmp(&a.calls).then_with(|| a.endpoint.cmp(&b.endpoint)));
    out
}

const BAR: &str = "#1f6feb";
const TEXT: &str = "#1f2328";

/// Horizontal bars, one per row, each with its label and its value written out.
pub fn bars(title: &str, rows: &[(String, f64)], unit: &str) -> String {
    let (width, label_width, row) = (640.0, 230.0, 22.0);
    let height = row * rows.len().max(1) as f64 + 8.0;
    let max = rows.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(1e-9);
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{}" font-family="system-ui,sans-serif" font-size="12">"##,
        escape(title)
    );
    for (i, (label, value)) in rows.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let w = (value / max * (width - label_width - 90.0)).max(1.0);
        let _ = write!(
            out,
            r##"<text x="0" y="{:.1}" fill="{TEXT}">{}</text><rect x="{label_width}" y="{y:.1}" width="{w:.1}" height="16" fill="{BAR}"/><text x="{:.1}" y="{:.1}" fill="{TEXT}">{} {}</text>"##,
            y + 12.5,
            escape(label),
            label_width + w + 6.0,
            y + 12.5,
            number(*value),
            escape(unit)
        );
    }
    out.push_str("</svg>");
    out
}

/// 24 columns, one per hour ending with the current one, from `(hour's start, count)`.
pub fn hourly(counts: &[(i64, u64)], now: i64) -> (String, u64) {
    let (width, height, top, bottom) = (640.0, 150.0, 16.0, 20.0);
    let this_hour = now - now.rem_euclid(3600);
    let hours: Vec<(i64, u64)> = (0..24)
        .map(|i| {
            let start = this_hour - (23 - i) * 3600;
            (start, counts.iter().find(|(h, _)| *h == start).map_or(0, |(_, n)| *n))
        })
        .collect();
    let total = hours.iter().map(|(_, n)| n).sum();
    let max = hours.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let column = width / 24.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="Sign-ins per hour, last 24 hours: {total} in all" font-family="system-ui,sans-serif" font-size="11">"##
    );
    for (i, (start, n)) in hours.iter().enumerate() {
        let h = *n as f64 / max * (height - top - bottom);
        let x = i as f64 * column;
        let _ = write!(
            out,
            r##"<rect class="hour" x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{BAR}"><title>{} UTC: {n}</title></rect>"##,
            x + 2.0,
            height - bottom - h,
            column - 4.0,
            chrono::DateTime::from_timestamp(*start, 0).map(|t| t.format("%H:00").to_string()).unwrap_or_default(),
        );
        if *n > 0 {
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" fill="{TEXT}" text-anchor="middle">{n}</text>"##,
                x + column / 2.0,
                height - bottom - h - 3.0
            );
        }
        if i % 6 == 0 {
            let label = chrono::DateTime::from_timestamp(*start, 0).map(|t| t.format("%H:00").to_string());
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" fill="{TEXT}">{}</text>"##,
                x + 2.0,
                height - 5.0,
                label.unwrap_or_default()
            );
        }
    }
    out.push_str("</svg>");
    (out, total)
}

/// A count as a whole number, a duration with one decimal.
fn number(value: f64) -> String {
    if value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = r#"# HELP dingtalk_oidc_logins_total Finished callbacks.
# TYPE dingtalk_oidc_logins_total counter
dingtalk_oidc_logins_total{outcome="success"} 12
dingtalk_oidc_logins_total{outcome="user_cancelled"} 2
dingtalk_oidc_logins_total{outcome="invalid_state"} 0
dingtalk_oidc_http_requests_total{route="/token",status="200"} 40
dingtalk_oidc_http_requests_total{route="/token",status="400"} 3
dingtalk_oidc_http_requests_total{route="/authorize",status="503"} 1
dingtalk_oidc_dingtalk_request_duration_seconds_bucket{endpoint="userAccessToken",le="0.05"} 10
dingtalk_oidc_dingtalk_request_duration_seconds_bucket{endpoint="userAccessToken",le="0.1"} 19
dingtalk_oidc_dingtalk_request_duration_seconds_bucket{endpoint="userAccessToken",le="0.25"} 20
dingtalk_oidc_dingtalk_request_duration_seconds_bucket{endpoint="userAccessToken",le="+Inf"} 20
dingtalk_oidc_dingtalk_request_duration_seconds_sum{endpoint="userAccessToken"} 1.2
dingtalk_oidc_dingtalk_request_duration_seconds_count{endpoint="userAccessToken"} 20
odd{k="a \"quoted\" \\ value"} 1
"#;

    #[test]
    fn the_exposition_parses_with_escaped_label_values() {
        let samples = parse(EXPOSITION);
        assert_eq!(samples.len(), 13);
        let odd = samples.iter().find(|s| s.name == "odd").unwrap();
        assert_eq!(odd.label("k"), Some("a \"quoted\" \\ value"));
        assert_eq!(parse("broken{k=1} 2\nno_value\n"), vec![]);
    }

    #[test]
    fn failures_by_kind_errors_by_route_and_latency_come_from_the_counters() {
        let samples = parse(EXPOSITION);
        let outcomes = totals_by(&samples, "dingtalk_oidc_logins_total", "outcome");
        assert_eq!(outcomes, vec![("success".into(), 12.0), ("user_cancelled".into(), 2.0)], "zeros left out");
        assert_eq!(error_responses(&samples), vec![("/token 400".into(), 3.0), ("/authorize 503".into(), 1.0)]);
        let latency = dingtalk_latency(&samples);
        assert_eq!(latency.len(), 1);
        assert_eq!(latency[0].calls, 20.0);
        assert!((latency[0].mean_ms - 60.0).abs() < 1e-9, "{}", latency[0].mean_ms);
        assert_eq!(latency[0].p95_ms, Some(100.0), "19 of 20 (95 %) within 0.1 s");
    }

    #[test]
    fn the_hourly_chart_has_24_columns_ending_with_this_hour() {
        let now = 1_800_000_000 + 1234;
        let this_hour = now - now % 3600;
        let (svg, total) = hourly(&[(this_hour, 5), (this_hour - 23 * 3600, 2), (this_hour - 24 * 3600, 9)], now);
        assert_eq!(svg.matches("class=\"hour\"").count(), 24);
        assert_eq!(total, 7, "the hour before the window is left out");
        assert!(svg.contains(": 5</title>") && svg.contains(": 2</title>"));
    }

    #[test]
    fn bar_labels_are_escaped() {
        let svg = bars("t<", &[("<script>".into(), 3.0)], "ms");
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;") && svg.contains("aria-label=\"t&lt;\""));
    }
}

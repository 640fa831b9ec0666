//! The signing keys' timeline, drawn on the server as SVG (no script, no external resource): one
//! row per key, its phases as coloured spans — pending (published, not signing), active (signing),
//! retired (published for the tokens it signed) — ending where the key leaves the JWKS, with a
//! line for now and one for the next scheduled rotation. Every phase also carries its name as
//! text, so colour is never the only carrier of meaning (WCAG 2.2, 1.4.1); the page lists the
//! same facts in a table.

use std::fmt::Write;

use crate::keys::{KeyInfo, KeyState};
use crate::web::html::escape;

const WIDTH: f64 = 760.0;
const LABEL_WIDTH: f64 = 170.0;
const ROW: f64 = 30.0;
const TOP: f64 = 34.0;

/// Colours of the phases, each with at least 4.5:1 contrast against its white label text.
pub(crate) const PENDING: &str = "#8a5a00";
pub(crate) const ACTIVE: &str = "#116329";
pub(crate) const RETIRED: &str = "#57606a";
pub(crate) const REVOKED: &str = "#a40e26";

/// The SVG for `keys` as of `now`, with the next scheduled rotation if there is one. Its text is
/// escaped here (a kid comes from the directory; an imported key's kid is the operator's).
pub fn svg(keys: &[KeyInfo], now: i64, next_rotation: Option<i64>) -> String {
    let start = keys.iter().map(|k| k.created_at).min().unwrap_or(now).min(now);
    let mut end = now.max(next_rotation.unwrap_or(now));
    for k in keys {
        end = end.max(k.activates_at).max(k.retires_at.unwrap_or(0)).max(k.removed_at.unwrap_or(0));
    }
    // A margin on the right, so that the last span does not end at the edge.
    let end = end + (end - start).max(3600) / 10;
    let span = (end - start).max(1) as f64;
    let x = |t: i64| LABEL_WIDTH + (t - start) as f64 / span * (WIDTH - LABEL_WIDTH - 10.0);
    let height = TOP + ROW * keys.len() as f64 + 24.0;

    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="timeline-title" font-family="system-ui,sans-serif" font-size="12">"##
    );
    let _ = write!(out, r##"<title id="timeline-title">Signing keys over time</title>"##);
    for (row, key) in keys.iter().enumerate() {
        let y = TOP + ROW * row as f64;
        let _ = write!(out, r##"<text x="4" y="{}" fill="#1f2328">{}</text>"##, y + 17.0, escape(&short_kid(&key.kid)));
        for (from, to, name, colour) in phases(key, end) {
            let (x0, x1) = (x(from), x(to));
            let w = (x1 - x0).max(2.0);
            let _ = write!(
                out,
                r##"<g class="phase {name}"><rect x="{x0:.1}" y="{}" width="{w:.1}" height="22" rx="3" fill="{colour}"><title>{name}</title></rect>"##,
                y + 2.0
            );
            if w > 52.0 {
                let _ = write!(out, r##"<text x="{:.1}" y="{}" fill="#ffffff">{name}</text>"##, x0 + 5.0, y + 17.0);
            }
            out.push_str("</g>");
        }
    }
    let bottom = TOP + ROW * keys.len() as f64;
    let mut line = |t: i64, label: &str, colour: &str, class: &str| {
        let lx = x(t);
        let _ = write!(
            out,
            r##"<g class="{class}"><line x1="{lx:.1}" y1="14" x2="{lx:.1}" y2="{bottom}" stroke="{colour}" stroke-width="2" stroke-dasharray="4 3"/><text x="{:.1}" y="11" fill="{colour}">{label}</text></g>"##,
            lx - 10.0
        );
    };
    line(now, "now", "#0550ae", "now");
    if let Some(next) = next_rotation {
        line(next, "next rotation", "#8250df", "next-rotation");
    }
    out.push_str("</svg>");
    out
}

/// The spans a key has lived and will live: pending until it signs, active until retired, retired
/// until removed; a revoked key ends in one span at its revocation.
fn phases(key: &KeyInfo, end: i64) -> Vec<(i64, i64, &'static str, &'static str)> {
    let mut spans = Vec::new();
    let removed = key.removed_at.unwrap_or(end);
    if key.state == KeyState::Revoked {
        spans.push((key.created_at, removed, "revoked", REVOKED));
        return spans;
    }
    let activates = key.activates_at.min(removed);
    if activates > key.created_at {
        spans.push((key.created_at, activates, "pending", PENDING));
    }
    let retires = key.retires_at.unwrap_or(end).min(removed);
    if retires > activates {
        spans.push((activates, retires, "active", ACTIVE));
    }
    if let Some(retired) = key.retires_at
        && removed > retired
    {
        spans.push((retired, removed, "retired", RETIRED));
    }
    spans
}

/// The first characters of a kid (the table shows it whole).
fn short_kid(kid: &str) -> String {
    let short: String = kid.chars().take(20).collect();
    if short.len() < kid.len() { format!("{short}…") } else { short }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(
        kid: &str,
        state: KeyState,
        created: i64,
        activates: i64,
        retires: Option<i64>,
        removed: Option<i64>,
    ) -> KeyInfo {
        KeyInfo {
            kid: kid.into(),
            state,
            created_at: created,
            activates_at: activates,
            retires_at: retires,
            removed_at: removed,
        }
    }

    #[test]
    fn every_phase_a_key_goes_through_is_drawn_and_named() {
        let keys = [
            key("old", KeyState::Retired, 0, 0, Some(1000), Some(5000)),
            key("current", KeyState::Active, 900, 1000, Some(8000), Some(12000)),
            key("next", KeyState::Pending, 2000, 8000, None, None),
        ];
        let svg = svg(&keys, 3000, Some(9000));
        // Each key signs once (next from 8000 on), and both that signed before retire.
        assert_eq!(svg.matches("class=\"phase active\"").count(), 3);
        assert_eq!(svg.matches("class=\"phase retired\"").count(), 2);
        assert_eq!(svg.matches("class=\"phase pending\"").count(), 2, "current waited 100 s, next waits");
        assert!(svg.contains("class=\"now\"") && svg.contains("class=\"next-rotation\""));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn wcag_1_4_3_white_phase_labels_and_the_marker_lines_keep_4_5_to_1() {
        use crate::config::{MIN_CONTRAST, contrast_ratio, parse_color};
        // Each phase's label is white on its colour; the lines' labels are their colour on white.
        for colour in [PENDING, ACTIVE, RETIRED, REVOKED, "#0550ae", "#8250df"] {
            let ratio = contrast_ratio([255, 255, 255], parse_color(colour).unwrap());
            assert!(ratio >= MIN_CONTRAST, "{colour}: {ratio:.2}:1");
        }
    }

    #[test]
    fn a_revoked_key_is_one_span_and_a_kid_is_escaped() {
        let keys = [key("<script>\"k", KeyState::Revoked, 0, 0, None, Some(100))];
        let svg = svg(&keys, 200, None);
        assert_eq!(svg.matches("class=\"phase").count(), 1);
        assert!(svg.contains("class=\"phase revoked\""));
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;&quot;k"));
        assert!(!svg.contains("next-rotation"));
    }
}

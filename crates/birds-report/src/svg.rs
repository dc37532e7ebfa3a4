//! Inline SVG charts: line charts (training curves) and the confusion heatmap. Text from data goes through
//! [`escape`]; numbers are formatted here.

use std::fmt::Write as _;

use crate::html::escape;

/// Colours of series, in order (colour-blind-safe Okabe–Ito).
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442",
];

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Name (hover text).
    pub name: String,
    /// Stroke colour.
    pub colour: &'static str,
    /// Dashed line (train) or solid (valid).
    pub dashed: bool,
    /// Points (x, y); non-finite values are skipped.
    pub points: Vec<(f64, f64)>,
}

/// "Nice" tick values covering `[lo, hi]` (about `n` of them).
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || n == 0 {
        return vec![lo];
    }
    let raw = (hi - lo) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    // Round to the step's decimals so that 3 × 0.2 prints as 0.6.
    let decimals = (-step.log10().floor() + 1.0).clamp(0.0, 12.0) as i32;
    let unit = 10f64.powi(decimals);
    let first = (lo / step).ceil() as i64;
    (first..)
        .map(|k| (k as f64 * step * unit).round() / unit)
        .take_while(|v| *v <= hi + step * 1e-9)
        .collect()
}

fn fmt_tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A line chart. `y_range` fixes the y axis (e.g. 0–1 for accuracy); otherwise it fits the data.
pub fn line_chart(
    title: &str,
    y_label: &str,
    series: &[Series],
    y_range: Option<(f64, f64)>,
    width: u32,
    height: u32,
) -> String {
    let (ml, mr, mt, mb) = (52.0, 12.0, 26.0, 36.0);
    let (w, h) = (f64::from(width), f64::from(height));
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1.0 {
        x1 = x0 + 1.0;
    }
    if let Some((lo, hi)) = y_range {
        (y0, y1) = (lo, hi);
    } else {
        let pad = ((y1 - y0) * 0.08).max(1e-3);
        y0 = (y0 - pad).max(0.0);
        y1 += pad;
    }
    let px = |x: f64| ml + (x - x0) / (x1 - x0) * (w - ml - mr);
    let py = |y: f64| mt + (1.0 - (y - y0) / (y1 - y0)) * (h - mt - mb);

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{t}">"#,
        t = escape(title)
    );
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="16" class="ctitle">{}</text>"#,
        ml,
        escape(title)
    );
    for t in ticks(y0, y1, 5) {
        let y = py(t);
        let _ = write!(
            s,
            r##"<line x1="{ml:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e3e3"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"##,
            w - mr,
            ml - 4.0,
            y + 3.5,
            fmt_tick(t)
        );
    }
    let xticks: Vec<f64> = ticks(x0, x1, 8)
        .into_iter()
        .filter(|v| (v - v.round()).abs() < 1e-9)
        .collect();
    for t in xticks {
        let x = px(t);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"##,
            h - mb,
            h - mb + 4.0,
            h - mb + 15.0,
            fmt_tick(t)
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{ml:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#999"/><line x1="{ml:.1}" x2="{ml:.1}" y1="{mt:.1}" y2="{:.1}" stroke="#999"/>"##,
        w - mr,
        h - mb,
        h - mb,
        h - mb
    );
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="middle">epoch</text><text x="12" y="{:.1}" class="tick" text-anchor="middle" transform="rotate(-90 12 {:.1})">{}</text>"#,
        ml + (w - ml - mr) / 2.0,
        h - 4.0,
        mt + (h - mt - mb) / 2.0,
        mt + (h - mt - mb) / 2.0,
        escape(y_label)
    );
    for se in series {
        let p: Vec<(f64, f64)> = se
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        if p.is_empty() {
            continue;
        }
        let coords: Vec<String> = p
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y.clamp(y0, y1))))
            .collect();
        let dash = if se.dashed {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"><title>{}</title></polyline>"#,
            se.colour,
            coords.join(" "),
            escape(&se.name)
        );
        for &(x, y) in &p {
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"><title>{}: epoch {}, {}</title></circle>"#,
                px(x),
                py(y.clamp(y0, y1)),
                se.colour,
                escape(&se.name),
                fmt_tick(x),
                fmt_tick((y * 1000.0).round() / 1000.0)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Cuts a label to `max` characters with an ellipsis.
pub fn shorten(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_string()
    } else {
        let cut: String = label.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// The confusion heatmap of `labels` (rows: true class, columns: predicted class). `counts[r][c]` is the number of
/// images of row class `r` predicted as column class `c`; `row_totals[r]` is every evaluated image of class `r`
/// (also those predicted as classes not shown). A cell's shade is its share of the row: green on the diagonal, red
/// off it (any error is visibly red).
pub fn heatmap(labels: &[String], counts: &[Vec<u32>], row_totals: &[u32]) -> String {
    let n = labels.len();
    let cell = (640.0 / n.max(1) as f64).clamp(12.0, 34.0);
    let label_chars = 26;
    let longest = labels
        .iter()
        .map(|l| shorten(l, label_chars).chars().count())
        .max()
        .unwrap_or(1) as f64;
    let left = (longest * 6.6 + 12.0).min(190.0);
    let top = left;
    let right = 64.0;
    let size = cell * n as f64;
    let (w, h) = (left + size + right, top + size + 8.0);
    let font = (cell * 0.42).clamp(8.0, 12.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="heatmap" xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" role="img" aria-label="confusion heatmap">"#
    );
    for (i, label) in labels.iter().enumerate() {
        let short = escape(&shorten(label, label_chars));
        let full = escape(label);
        let y = top + cell * i as f64 + cell / 2.0 + 3.5;
        let x = left + cell * i as f64 + cell / 2.0 + 3.5;
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{y:.1}" class="hl" text-anchor="end"><title>{full}</title>{short}</text>"#,
            left - 5.0
        );
        let _ = write!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" class="hl" text-anchor="start" transform="rotate(-90 {x:.1} {:.1})"><title>{full}</title>{short}</text>"#,
            top - 5.0,
            top - 5.0
        );
    }
    for r in 0..n {
        let total = row_totals.get(r).copied().unwrap_or(0);
        let mut correct = 0;
        for c in 0..n {
            let count = counts
                .get(r)
                .and_then(|row| row.get(c))
                .copied()
                .unwrap_or(0);
            if r == c {
                correct = count;
            }
            let share = if total > 0 {
                f64::from(count) / f64::from(total)
            } else {
                0.0
            };
            let fill = if count == 0 {
                "#f7f7f7".to_string()
            } else if r == c {
                format!("rgba(0,140,70,{:.3})", 0.12 + 0.88 * share)
            } else {
                format!("rgba(215,40,30,{:.3})", 0.25 + 0.75 * share)
            };
            let (x, y) = (left + cell * c as f64, top + cell * r as f64);
            let _ = write!(
                s,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{cell:.1}" height="{cell:.1}" fill="{fill}" stroke="#fff" stroke-width="0.5"><title>{} → {}: {count} of {total}</title></rect>"##,
                escape(&labels[r]),
                escape(&labels[c])
            );
            if count > 0 && cell >= 16.0 {
                let colour = if share > 0.55 { "#fff" } else { "#222" };
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" class="hc" fill="{colour}" font-size="{font:.1}" text-anchor="middle">{count}</text>"#,
                    x + cell / 2.0,
                    y + cell / 2.0 + font * 0.35
                );
            }
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" class="hl" text-anchor="start">{correct}/{total}</text>"#,
            left + size + 5.0,
            top + cell * r as f64 + cell / 2.0 + 3.5
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks() {
        assert_eq!(ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(ticks(1.0, 6.0, 8), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let t = ticks(0.37, 2.9, 6);
        assert_eq!(t, vec![0.5, 1.0, 1.5, 2.0, 2.5]);
        assert_eq!(fmt_tick(0.2), "0.2");
        assert_eq!(fmt_tick(3.0), "3");
    }

    #[test]
    fn chart_places_points_and_escapes_names() {
        let svg = line_chart(
            "acc",
            "accuracy",
            &[Series {
                name: "<b>run</b>".into(),
                colour: PALETTE[0],
                dashed: false,
                points: vec![(1.0, 0.0), (2.0, 1.0), (3.0, f64::NAN)],
            }],
            Some((0.0, 1.0)),
            400,
            200,
        );
        assert!(svg.contains("&lt;b&gt;run&lt;/b&gt;") && !svg.contains("<b>"));
        // x from 1 to 2 spans 52..388, y from 0 to 1 spans 164..26.
        assert!(svg.contains(r#"points="52.0,164.0 388.0,26.0""#), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2, "NaN skipped");
    }

    #[test]
    fn heatmap_cells_counts_and_escaping() {
        let labels = vec!["A<".to_string(), "B".to_string()];
        let svg = heatmap(&labels, &[vec![3, 1], vec![0, 4]], &[4, 4]);
        assert!(svg.contains("A&lt; → B: 1 of 4"));
        assert!(svg.contains(">3/4<") && svg.contains(">4/4<"));
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(!svg.contains("A<"));
        // An error cell is red, a correct cell green, an empty cell grey.
        assert!(svg.contains("rgba(215,40,30,0.438)"));
        assert!(svg.contains("rgba(0,140,70,1.000)"));
        assert!(svg.contains("#f7f7f7"));
    }

    #[test]
    fn shortens_long_labels() {
        assert_eq!(shorten("ABCDEFG", 4), "ABC…");
        assert_eq!(shorten("ABC", 4), "ABC");
    }
}

//! HTML escaping and small formatting helpers. Every string that comes from data (class labels, paths, params,
//! messages) reaches the page through [`escape`]; nothing else writes data into the page.

use std::fmt::Write as _;

/// Escapes text for HTML element content and quoted attribute values (`&`, `<`, `>`, `"`, `'`).
///
/// The result is safe inside an element, inside a double- or single-quoted attribute and inside SVG text; it is
/// not meant for unquoted attributes, URLs or `<script>`/`<style>` bodies, and the page puts data in none of those.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newlines are invalid in HTML text; show them visibly.
            c if c.is_control() && c != '\n' && c != '\t' && c != '\r' => {
                let _ = write!(out, "\u{FFFD}");
            }
            c => out.push(c),
        }
    }
    out
}

/// A fraction (0–1) as a percentage with one decimal, e.g. `87.5 %`; `–` for NaN.
pub fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1} %", x * 100.0)
    } else {
        "–".into()
    }
}

/// A number with `digits` decimals; `–` for NaN or infinity.
pub fn num(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "–".into()
    }
}

/// Seconds as `12.3 s`, `4 min 05 s` or `1 h 02 min`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "–".into();
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let total = seconds.round() as u64;
    if total < 3600 {
        format!("{} min {:02} s", total / 60, total % 60)
    } else {
        format!("{} h {:02} min", total / 3600, (total % 3600) / 60)
    }
}

/// A numeric value for a sortable cell's `data-v` attribute (`""` for missing, sorted last).
pub fn sort_key(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v}"),
        _ => String::new(),
    }
}

/// Flattens a JSON value into `key.sub = value` lines (arrays of scalars stay on one line), sorted by key.
pub fn flatten_json(value: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            escape("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            escape(r#"a & b "c" 'd'"#),
            "a &amp; b &quot;c&quot; &#39;d&#39;"
        );
        // Already-escaped text is escaped again (no double-decoding surprises).
        assert_eq!(escape("&lt;"), "&amp;lt;");
        assert_eq!(escape("MALLARD DUCK"), "MALLARD DUCK");
        assert_eq!(escape("héron cendré 鷺"), "héron cendré 鷺");
        assert_eq!(escape("a\u{0}b\u{7}"), "a\u{FFFD}b\u{FFFD}");
        assert_eq!(escape("line\nnext\ttab"), "line\nnext\ttab");
        // Nothing that could open a tag or close an attribute survives.
        let hostile = "\"><img src=x onerror=alert(1)>'";
        let e = escape(hostile);
        assert!(!e.contains('<') && !e.contains('>') && !e.contains('"') && !e.contains('\''));
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(pct(0.875), "87.5 %");
        assert_eq!(pct(f64::NAN), "–");
        assert_eq!(num(1.23456, 3), "1.235");
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(245.0), "4 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
        assert_eq!(sort_key(Some(0.5)), "0.5");
        assert_eq!(sort_key(None), "");
    }

    #[test]
    fn flattens_nested_json_sorted() {
        let v = serde_json::json!({"b": {"y": 2, "x": "s"}, "a": [1, 2], "c": null});
        assert_eq!(
            flatten_json(&v),
            vec![
                ("a".to_string(), "[1,2]".to_string()),
                ("b.x".to_string(), "s".to_string()),
                ("b.y".to_string(), "2".to_string()),
                ("c".to_string(), "null".to_string()),
            ]
        );
    }
}

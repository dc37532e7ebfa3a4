//! Escaping text for the Markdown reports birds writes (`report.md`, `per_class.md`, `comparison.md`,
//! `gallery.md`, …), so that labels, paths and error messages taken from a dataset render as the text they are,
//! never as HTML, links, emphasis or extra table columns.
//!
//! - [`escape`]: for prose and table cells. `<`, `>` and `&` become HTML entities (so no raw `<script` or `<img`
//!   reaches the file), Markdown punctuation is backslash-escaped (`|` too, so a table row keeps its columns), and
//!   line breaks become spaces (a value stays on its line).
//! - [`code`]: a value as an inline code span when it can be one safely, else as [`escape`]d text (entities and
//!   backslashes are shown literally inside code spans, so a value with `<`, `&`, `` ` `` or `|` cannot be one).
//! - [`link`]: a relative file path as a link or image destination (percent-encoded).

/// ASCII punctuation escaped with a backslash (CommonMark lets any ASCII punctuation be escaped): the characters
/// that start emphasis, links and images (`[`; `(` and `!` then need nothing), code, table cells, strikethrough
/// and math. `#`, `-` and `1.` only mean something at the start of a line, where no escaped value is put.
const BACKSLASHED: &[char] = &['\\', '`', '*', '_', '[', ']', '|', '~', '$'];

/// `text` escaped for Markdown prose and table cells.
///
/// ```
/// use birds_core::markdown::escape;
/// assert_eq!(escape("<img src=x onerror=alert(1)>"), "&lt;img src=x onerror=alert(1)&gt;");
/// assert_eq!(escape("A | B"), "A \\| B");
/// assert_eq!(escape("MALLARD DUCK"), "MALLARD DUCK");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.push('\u{fffd}'),
            c if BACKSLASHED.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` as an inline code span (`` `text` ``) when nothing in it needs escaping there, else [`escape`]d text.
///
/// ```
/// use birds_core::markdown::code;
/// assert_eq!(code("train/MALLARD DUCK/1.jpg"), "`train/MALLARD DUCK/1.jpg`");
/// assert_eq!(code("train/<b>/1.jpg"), "train/&lt;b&gt;/1.jpg");
/// ```
pub fn code(text: &str) -> String {
    let safe = !text.is_empty()
        && !text.starts_with(' ')
        && !text.ends_with(' ')
        && !text
            .chars()
            .any(|c| matches!(c, '`' | '<' | '>' | '&' | '|') || c.is_control());
    if safe {
        format!("`{text}`")
    } else {
        escape(text)
    }
}

/// A relative file path as a Markdown link or image destination (`![x](DEST)`): every byte other than ASCII
/// letters, digits and `-._~/` percent-encoded, so spaces, `(`, `)`, `<` or `|` in a file name neither end the
/// link nor break a table row.
///
/// ```
/// assert_eq!(birds_core::markdown::link("overlays/A B (1).png"), "overlays/A%20B%20%281%29.png");
/// ```
pub fn link(rel: &str) -> String {
    let mut out = String::with_capacity(rel.len());
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_never_survives() {
        for hostile in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "<IMG SRC=X ONERROR=ALERT(1)>",
            "a<b>c",
            "&lt;script&gt;",
        ] {
            let e = escape(hostile);
            assert!(!e.contains('<') && !e.contains('>'), "{hostile} → {e}");
            assert!(!code(hostile).contains('<'), "{hostile}");
        }
        // An entity in the input stays visible as written, not decoded into a tag.
        assert_eq!(escape("&lt;b&gt;"), "&amp;lt;b&amp;gt;");
    }

    #[test]
    fn markdown_syntax_is_escaped() {
        assert_eq!(escape("**BOLD**"), "\\*\\*BOLD\\*\\*");
        assert_eq!(escape("_x_"), "\\_x\\_");
        assert_eq!(escape("[LINK](http://x)"), "\\[LINK\\](http://x)");
        assert_eq!(escape("![i](x)"), "!\\[i\\](x)");
        assert_eq!(escape("`tick`"), "\\`tick\\`");
        assert_eq!(escape("a\\b"), "a\\\\b");
        assert_eq!(escape("~~strike~~ $x$ #1"), "\\~\\~strike\\~\\~ \\$x\\$ #1");
    }

    #[test]
    fn table_cells_keep_their_columns_and_lines() {
        let cell = escape("A | B\nC\r\tD\u{7}");
        assert_eq!(cell, "A \\| B C  D\u{fffd}");
        let row = format!("| {cell} | 3 |");
        assert_eq!(row.replace("\\|", "").matches('|').count(), 3);
        assert!(!row.contains('\n'));
    }

    #[test]
    fn plain_text_and_unicode_are_unchanged() {
        for plain in [
            "MALLARD DUCK",
            "ROTKEHLCHEN Ä",
            "BAY-BREASTED WARBLER",
            "größe 2.png",
            "HOUSE FINCH (FEMALE) #2!",
        ] {
            assert_eq!(escape(plain), plain);
        }
    }

    #[test]
    fn link_destinations_are_percent_encoded() {
        assert_eq!(
            link("overlays/0001.gradcam.png"),
            "overlays/0001.gradcam.png"
        );
        assert_eq!(link("a b/<x>|y).png"), "a%20b/%3Cx%3E%7Cy%29.png");
        assert_eq!(link("größe.png"), "gr%C3%B6%C3%9Fe.png");
    }

    #[test]
    fn code_spans_only_when_safe() {
        assert_eq!(code("test/A/1.jpg"), "`test/A/1.jpg`");
        assert_eq!(code("a `b`"), "a \\`b\\`");
        assert_eq!(code("x|y"), "x\\|y");
        assert_eq!(code(" padded"), " padded");
        assert_eq!(code(""), "");
    }
}

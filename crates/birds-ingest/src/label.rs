//! Label normalisation: the rule that merges `PARAKETT  AUKLET` (two spaces), `parakett auklet`, and the NFC and
//! NFD spellings of `CAFÉ` (precomposed `É`, or `E` followed by a combining accent) into one class.

use unicode_normalization::{UnicodeNormalization, is_nfc};

/// Unicode NFC, collapses every run of whitespace to one space, trims both ends and upper-cases
/// (Unicode-aware; NFC again after upper-casing, which can decompose).
///
/// ```
/// assert_eq!(birds_ingest::label::normalize(" Parakett \t Auklet "), "PARAKETT AUKLET");
/// assert_eq!(birds_ingest::label::normalize("rotkehlchen ä"), "ROTKEHLCHEN Ä");
/// assert_eq!(birds_ingest::label::normalize("Cafe\u{301}"), birds_ingest::label::normalize("Caf\u{e9}"));
/// ```
pub fn normalize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let composed: String = raw.nfc().collect();
    for word in composed.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_uppercase));
    }
    if is_nfc(&out) {
        out
    } else {
        out.nfc().collect()
    }
}

/// Whether `text` is in Unicode normalisation form C (precomposed), as labels are after [`normalize`].
pub fn is_composed(text: &str) -> bool {
    is_nfc(text)
}

#[cfg(test)]
mod tests {
    use super::{is_composed, normalize};

    #[test]
    fn merges_whitespace_and_case_variants() {
        assert_eq!(normalize("PARAKETT  AUKLET"), "PARAKETT AUKLET");
        assert_eq!(normalize("PARAKETT AUKLET"), "PARAKETT AUKLET");
        assert_eq!(normalize("  parakett\u{a0}auklet\n"), "PARAKETT AUKLET");
        assert_eq!(normalize("BAY-BREASTED WARBLER"), "BAY-BREASTED WARBLER");
        assert_eq!(normalize("   "), "");
    }

    #[test]
    fn merges_nfc_and_nfd_spellings() {
        let nfc = "Caf\u{e9} cr\u{e8}me";
        let nfd = "Cafe\u{301} cre\u{300}me";
        assert_ne!(nfc, nfd);
        assert_eq!(normalize(nfc), "CAF\u{c9} CR\u{c8}ME");
        assert_eq!(normalize(nfd), normalize(nfc));
        assert!(is_composed(&normalize(nfd)));
        assert!(!is_composed(nfd));
        // Hangul and an accent on a letter that has no precomposed form stay valid NFC.
        assert_eq!(normalize("\u{1100}\u{1161}"), "\u{ac00}");
        assert!(is_composed(&normalize("q\u{301}")));
    }
}

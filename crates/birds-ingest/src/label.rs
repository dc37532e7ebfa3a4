//! Label normalisation: the rule that merges `PARAKETT  AUKLET` (two spaces) and `parakett auklet` into one class.

/// Collapses every run of whitespace to one space, trims both ends and upper-cases (Unicode-aware).
///
/// ```
/// assert_eq!(birds_ingest::label::normalize(" Parakett \t Auklet "), "PARAKETT AUKLET");
/// assert_eq!(birds_ingest::label::normalize("rotkehlchen ä"), "ROTKEHLCHEN Ä");
/// ```
pub fn normalize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for word in raw.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_uppercase));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn merges_whitespace_and_case_variants() {
        assert_eq!(normalize("PARAKETT  AUKLET"), "PARAKETT AUKLET");
        assert_eq!(normalize("PARAKETT AUKLET"), "PARAKETT AUKLET");
        assert_eq!(normalize("  parakett\u{a0}auklet\n"), "PARAKETT AUKLET");
        assert_eq!(normalize("BAY-BREASTED WARBLER"), "BAY-BREASTED WARBLER");
        assert_eq!(normalize("   "), "");
    }
}

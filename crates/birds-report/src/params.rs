//! The report stage's params. Every key has a default, so `{}` is valid; unknown keys are refused.

use serde::{Deserialize, Serialize};

use crate::{ReportError, Result};

/// How much of each section the page shows (the Parquet files always have everything).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportParams {
    /// Page title.
    pub title: String,
    /// Classes in the confusion heatmap: every class up to this many, else this many most-confused classes.
    pub heatmap_classes: usize,
    /// Most-confused pairs shown (with thumbnails).
    pub confused_pairs: usize,
    /// Misclassified example thumbnails per pair.
    pub thumbnails_per_pair: usize,
    /// Rows of the "needs more training" list.
    pub needs_more_training: usize,
    /// Images in the Grad-CAM gallery.
    pub gallery: usize,
    /// Longest side of a thumbnail in pixels.
    pub thumbnail_px: u32,
    /// Longest side of a Grad-CAM overlay in pixels (overlays are never enlarged).
    pub overlay_px: u32,
    /// Ingest anomalies listed (the rest are counted).
    pub anomalies: usize,
}

impl Default for ReportParams {
    fn default() -> Self {
        Self {
            title: "birds report".into(),
            heatmap_classes: 30,
            confused_pairs: 8,
            thumbnails_per_pair: 3,
            needs_more_training: 15,
            gallery: 16,
            thumbnail_px: 112,
            overlay_px: 320,
            anomalies: 12,
        }
    }
}

impl ReportParams {
    /// Checks ranges; the message names the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| Err(ReportError::Params(format!("{key}: {why}")));
        if !(2..=200).contains(&self.heatmap_classes) {
            return bad(
                "heatmap_classes",
                format!("{} is out of range 2..=200", self.heatmap_classes),
            );
        }
        for (key, value, max) in [
            ("confused_pairs", self.confused_pairs, 100),
            ("thumbnails_per_pair", self.thumbnails_per_pair, 10),
            ("needs_more_training", self.needs_more_training, 10_000),
            ("gallery", self.gallery, 200),
            ("anomalies", self.anomalies, 10_000),
        ] {
            if value > max {
                return bad(key, format!("{value} is out of range 0..={max}"));
            }
        }
        if !(32..=1024).contains(&self.overlay_px) {
            return bad(
                "overlay_px",
                format!("{} is out of range 32..=1024", self.overlay_px),
            );
        }
        if !(32..=512).contains(&self.thumbnail_px) {
            return bad(
                "thumbnail_px",
                format!("{} is out of range 32..=512", self.thumbnail_px),
            );
        }
        Ok(())
    }

    /// Parses and validates params given as JSON (the pipeline's form).
    pub fn from_json(value: &serde_json::Value) -> std::result::Result<Self, String> {
        let params: Self = birds_core::stage::parse_params(value)?;
        params.validate().map_err(|e| e.to_string())?;
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_unknown_keys_and_ranges() {
        let p = ReportParams::from_json(&serde_json::json!({})).unwrap_or_default();
        assert_eq!(p, ReportParams::default());
        let p = ReportParams::from_json(&serde_json::json!({"gallery": 4})).unwrap_or_default();
        assert_eq!(p.gallery, 4);
        let e = ReportParams::from_json(&serde_json::json!({"galery": 4})).err();
        assert!(e.is_some_and(|e| e.contains("galery")));
        let e = ReportParams::from_json(&serde_json::json!({"heatmap_classes": 1})).err();
        assert!(e.is_some_and(|e| e.contains("heatmap_classes")));
        let e = ReportParams::from_json(&serde_json::json!({"thumbnail_px": 4})).err();
        assert!(e.is_some_and(|e| e.contains("thumbnail_px")));
    }
}

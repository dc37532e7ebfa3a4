//! The generator's parameters (CLI flags and pipeline `params:` alike).

use serde::{Deserialize, Serialize};

use crate::species::MAX_SPECIES;
use crate::{Result, SynthError};

/// Largest image side accepted.
pub const MAX_SIZE: u32 = 1024;
/// Smallest image side accepted (below this a bird's parts are a few pixels).
pub const MIN_SIZE: u32 = 32;
/// Largest per-class, per-split image count accepted.
pub const MAX_PER_SPLIT: usize = 10_000;

/// What to generate. Unknown keys are refused; missing keys take the defaults (10 species, 40/10/10 images per
/// class, 224 px, seed 0, no defects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthParams {
    /// Number of species (the first N of the catalog, then generated ones), 1 ..= 200.
    pub classes: usize,
    /// Training images per species.
    pub train: usize,
    /// Validation images per species.
    pub valid: usize,
    /// Test images per species.
    pub test: usize,
    /// Image side in pixels (square images), 32 ..= 1024.
    pub size: u32,
    /// Seed: same params and seed give byte-identical files.
    pub seed: u64,
    /// Plant the dirty-data cases ingest must catch: a two-space label variant, a cross-split near-duplicate and a
    /// truncated JPEG (listed in `synth.json`).
    pub defects: bool,
}

impl Default for SynthParams {
    fn default() -> Self {
        Self {
            classes: 10,
            train: 40,
            valid: 10,
            test: 10,
            size: 224,
            seed: 0,
            defects: false,
        }
    }
}

impl SynthParams {
    /// Checks every range; the error names the param.
    pub fn validate(&self) -> Result<()> {
        let bad = |key, message: String| Err(SynthError::Param { key, message });
        if self.classes == 0 || self.classes > MAX_SPECIES {
            return bad(
                "classes",
                format!("{} is out of range 1..={MAX_SPECIES}", self.classes),
            );
        }
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            return bad(
                "size",
                format!("{} px is out of range {MIN_SIZE}..={MAX_SIZE}", self.size),
            );
        }
        for (key, n) in [
            ("train", self.train),
            ("valid", self.valid),
            ("test", self.test),
        ] {
            if n > MAX_PER_SPLIT {
                return bad(
                    key,
                    format!("{n} images per class is more than {MAX_PER_SPLIT}"),
                );
            }
        }
        if self.train + self.valid + self.test == 0 {
            return bad(
                "train",
                "train, valid and test are all 0: nothing to draw".into(),
            );
        }
        if self.defects && (self.train == 0 || self.valid + self.test == 0) {
            return bad(
                "defects",
                "needs at least one train image and one valid or test image per class".into(),
            );
        }
        Ok(())
    }

    /// Images per class in `split`.
    pub fn count(&self, split: birds_core::Split) -> usize {
        match split {
            birds_core::Split::Train => self.train,
            birds_core::Split::Valid => self.valid,
            birds_core::Split::Test => self.test,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_unknown_keys_and_ranges() {
        let p: SynthParams = serde_json::from_str(r#"{"classes": 3}"#).unwrap_or_default();
        assert_eq!(p.classes, 3);
        assert_eq!(p.size, 224);
        let e = serde_json::from_str::<SynthParams>(r#"{"clases": 3}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("clases"), "{e}");
        let e = SynthParams {
            size: 8,
            ..Default::default()
        }
        .validate()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("`size`") && e.contains("32..=1024"), "{e}");
        let zero = SynthParams {
            train: 0,
            valid: 0,
            test: 0,
            ..Default::default()
        };
        assert!(zero.validate().is_err());
        assert!(SynthParams::default().validate().is_ok());
    }
}

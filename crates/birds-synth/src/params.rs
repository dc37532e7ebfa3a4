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
    /// Number of species (the first N of the catalog, then generated ones), 1 ..= 1000.
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

/// The sizes of the odd images [`DatasetShape::odd_sizes`] plants, `(width, height)`, in turn: two that BIRDS 525
/// has (84×140 and 489×283), then a landscape and a portrait one.
pub const ODD_SIZES: [(u32, u32); 4] = [(84, 140), (489, 283), (320, 240), (180, 300)];

/// Largest [`DatasetShape::label_errors`] accepted (exclusive): below it, most training images keep their own label.
pub const MAX_LABEL_ERRORS: f64 = 0.5;

/// BIRDS 525's shape and quirks, beyond [`SynthParams`]: uneven training counts, a few images at other sizes, a
/// label spelt two ways and misspelt in `birds.csv`, cross-split near-duplicates; and planted label errors (for
/// label-issue finders). The default (all off) draws exactly what [`SynthParams`] alone draws.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatasetShape {
    /// Most training images per species (0: every species gets `train`). Species then get between `train` and
    /// `train_max` images, from the seed; one species gets exactly `train`, another exactly `train_max`.
    pub train_max: usize,
    /// Target mean of the training images per species with `train_max` (0: halfway between `train` and
    /// `train_max`); the counts are skewed towards `train` to reach it, as BIRDS 525's (130–263, mean ≈ 161).
    pub train_mean: usize,
    /// Training images drawn at another size than `size` (in turn [`ODD_SIZES`]), spread over the species.
    pub odd_sizes: usize,
    /// One species' `train` and `test` folders spelt with two spaces and its `valid` folder with one (as BIRDS
    /// 525's `PARAKETT  AUKLET`), and its `birds.csv` label misspelt in yet another way.
    pub label_quirk: bool,
    /// Cross-split near-duplicates: this many `valid`/`test` images are a species' first training image,
    /// brightened and re-encoded at another JPEG quality (they replace an image, so counts stay the same).
    pub near_duplicates: usize,
    /// Planted label errors: this fraction of the training images (`0 <= f < 0.5`, rounded to the nearest count)
    /// is filed under a look-alike species' folder and `birds.csv` label instead of its own (pixels and masks
    /// unchanged; valid and test untouched), each listed in `synth.json`'s `label_errors`. Which images move is
    /// drawn from the seed on a stream of its own. Absent from `synth.json` when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub label_errors: f64,
}

/// Whether a fraction is 0 (the default, not serialised, so that shapes without it write what they did before).
fn is_zero(f: &f64) -> bool {
    *f == 0.0
}

impl DatasetShape {
    /// Whether every option is off.
    pub fn is_plain(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the options against `params`; the error names the param.
    pub fn validate(&self, params: &SynthParams) -> Result<()> {
        let bad = |key, message: String| Err(SynthError::Param { key, message });
        if self.train_max > 0 {
            if self.train_max < params.train || self.train_max > MAX_PER_SPLIT {
                return bad(
                    "train_max",
                    format!(
                        "{} is out of range {}..={MAX_PER_SPLIT} (train..=)",
                        self.train_max, params.train
                    ),
                );
            }
            if self.train_mean > 0
                && self.train_max > params.train
                && !(params.train < self.train_mean && self.train_mean < self.train_max)
            {
                return bad(
                    "train_mean",
                    format!(
                        "{} is not strictly between train ({}) and train_max ({})",
                        self.train_mean, params.train, self.train_max
                    ),
                );
            }
        } else if self.train_mean > 0 {
            return bad("train_mean", "needs train_max".into());
        }
        if self.odd_sizes > 0 && params.train == 0 {
            return bad(
                "odd_sizes",
                "needs at least one train image per class".into(),
            );
        }
        if self.odd_sizes > params.classes {
            return bad(
                "odd_sizes",
                format!(
                    "{} is more than the {} classes (one odd image per class at most)",
                    self.odd_sizes, params.classes
                ),
            );
        }
        if self.near_duplicates > 0 && (params.train == 0 || params.valid + params.test == 0) {
            return bad(
                "near_duplicates",
                "needs at least one train image and one valid or test image per class".into(),
            );
        }
        if self.near_duplicates > params.classes {
            return bad(
                "near_duplicates",
                format!(
                    "{} is more than the {} classes (one per class at most)",
                    self.near_duplicates, params.classes
                ),
            );
        }
        if self.label_quirk && params.classes < 2 {
            return bad("label_quirk", "needs at least 2 classes".into());
        }
        if !(0.0..MAX_LABEL_ERRORS).contains(&self.label_errors) {
            return bad(
                "label_errors",
                format!(
                    "{} is out of range [0, {MAX_LABEL_ERRORS}) (a fraction of the training images)",
                    self.label_errors
                ),
            );
        }
        if self.label_errors > 0.0 && params.classes < 2 {
            return bad(
                "label_errors",
                "needs at least 2 classes (an image is filed under another species)".into(),
            );
        }
        Ok(())
    }
}

/// Every param of the `synth` stage and `birds synth`: [`SynthParams`] and [`DatasetShape`] in one flat mapping
/// (unknown keys are refused, missing ones take the defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct SynthSpec {
    pub classes: usize,
    pub train: usize,
    pub valid: usize,
    pub test: usize,
    pub size: u32,
    pub seed: u64,
    pub defects: bool,
    pub train_max: usize,
    pub train_mean: usize,
    pub odd_sizes: usize,
    pub label_quirk: bool,
    pub near_duplicates: usize,
    pub label_errors: f64,
}

impl Default for SynthSpec {
    fn default() -> Self {
        Self::from_parts(&SynthParams::default(), &DatasetShape::default())
    }
}

impl SynthSpec {
    /// The two halves as one.
    pub fn from_parts(p: &SynthParams, s: &DatasetShape) -> Self {
        Self {
            classes: p.classes,
            train: p.train,
            valid: p.valid,
            test: p.test,
            size: p.size,
            seed: p.seed,
            defects: p.defects,
            train_max: s.train_max,
            train_mean: s.train_mean,
            odd_sizes: s.odd_sizes,
            label_quirk: s.label_quirk,
            near_duplicates: s.near_duplicates,
            label_errors: s.label_errors,
        }
    }

    /// The two halves.
    pub fn parts(&self) -> (SynthParams, DatasetShape) {
        (
            SynthParams {
                classes: self.classes,
                train: self.train,
                valid: self.valid,
                test: self.test,
                size: self.size,
                seed: self.seed,
                defects: self.defects,
            },
            DatasetShape {
                train_max: self.train_max,
                train_mean: self.train_mean,
                odd_sizes: self.odd_sizes,
                label_quirk: self.label_quirk,
                near_duplicates: self.near_duplicates,
                label_errors: self.label_errors,
            },
        )
    }

    /// BIRDS 525's shape (`birds synth --preset full`, `pipelines/full.yaml`): 525 species, 130–263 training
    /// images each (mean ≈ 161: ≈ 84.6k), 5 valid and 5 test, 224 px with 6 images at other sizes, the label
    /// quirk, 8 cross-split near-duplicates, no broken files.
    pub fn full() -> Self {
        Self {
            classes: 525,
            train: 130,
            valid: 5,
            test: 5,
            size: 224,
            seed: 0,
            defects: false,
            train_max: 263,
            train_mean: 161,
            odd_sizes: 6,
            label_quirk: true,
            near_duplicates: 8,
            label_errors: 0.0,
        }
    }

    /// Checks both halves; the error names the param.
    pub fn validate(&self) -> Result<()> {
        let (p, s) = self.parts();
        p.validate()?;
        s.validate(&p)
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

//! The ingest stage's params (the `params:` mapping of a pipeline stage, or the `birds ingest` flags).

use serde::{Deserialize, Serialize};

use crate::neardup;

/// How the data root is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `kaggle` when the root has a `train`, `valid` (or `val`, `validation`) or `test` folder, else `flat`.
    #[default]
    Auto,
    /// `train|valid|test/<LABEL>/*`: the split is the top folder.
    Kaggle,
    /// `<LABEL>/*`: split by [`IngestParams::split`] and [`IngestParams::seed`].
    Flat,
}

impl Layout {
    /// The spelling used in params, the CLI and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Auto => "auto",
            Layout::Kaggle => "kaggle",
            Layout::Flat => "flat",
        }
    }
}

/// Fractions of each label's files that go to each split in the flat layout. They must sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitRatios {
    /// Fraction for `train`.
    pub train: f64,
    /// Fraction for `valid`.
    pub valid: f64,
    /// Fraction for `test`.
    pub test: f64,
}

impl Default for SplitRatios {
    fn default() -> Self {
        Self {
            train: 0.8,
            valid: 0.1,
            test: 0.1,
        }
    }
}

/// Params of the ingest stage. Every field has a default, so `{}` is valid; unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestParams {
    /// Folder layout of the data root.
    pub layout: Layout,
    /// The Kaggle-style CSV, relative to the data root. Absent: `birds.csv` is used when the root has one.
    pub csv: Option<String>,
    /// Do not read any CSV, even `birds.csv`.
    pub ignore_csv: bool,
    /// Split fractions for the flat layout (ignored for the Kaggle layout).
    pub split: SplitRatios,
    /// Seed of the flat layout's split: the same seed always puts the same file in the same split.
    pub seed: u64,
    /// Two decodable images whose perceptual hashes differ in at most this many of 64 bits are near-duplicates
    /// (0 = identical hashes only; at most 16). Default 5: on birds-sample the one re-cropped copy of a photo lies
    /// at 4 and the closest pair of unrelated photos at 6.
    pub near_duplicate_distance: u32,
    /// Merge labels that differ only in whitespace, letter case or Unicode normalisation (`PARAKETT  AUKLET` =
    /// `Parakett Auklet`; `Café` precomposed = `Cafe` + combining accent).
    /// When off, such labels stay separate classes and the report lists them as anomalies.
    pub normalize_labels: bool,
    /// Images declaring a width or height above this are refused before any pixel is decoded.
    pub max_dimension: u32,
}

impl Default for IngestParams {
    fn default() -> Self {
        Self {
            layout: Layout::Auto,
            csv: None,
            ignore_csv: false,
            split: SplitRatios::default(),
            seed: 0,
            near_duplicate_distance: 5,
            normalize_labels: true,
            max_dimension: 16_384,
        }
    }
}

impl IngestParams {
    /// Parses params from the pipeline's JSON value (`null` = all defaults) and checks them.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let params: Self = birds_core::stage::parse_params(value)?;
        params.validate()?;
        Ok(params)
    }

    /// Reads params from a YAML mapping (the same keys as a pipeline stage's `params:`) and checks them.
    pub fn from_yaml_file(path: &std::path::Path) -> Result<Self, crate::IngestError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| crate::IngestError::Params(format!("reading {}: {e}", path.display())))?;
        let value: serde_json::Value = if text.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_yaml::from_str(&text)
                .map_err(|e| crate::IngestError::Params(format!("{}: {e}", path.display())))?
        };
        Self::from_json(&value)
            .map_err(|e| crate::IngestError::Params(format!("{}: {e}", path.display())))
    }

    /// Checks value ranges; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let SplitRatios { train, valid, test } = self.split;
        for (key, value) in [("train", train), ("valid", valid), ("test", test)] {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("split.{key} = {value}: must be between 0 and 1"));
            }
        }
        let sum = train + valid + test;
        if (sum - 1.0).abs() > 1e-6 {
            return Err(format!(
                "split: train + valid + test = {sum}, must be 1 (got {train} + {valid} + {test})"
            ));
        }
        if train == 0.0 {
            return Err("split.train = 0: the flat layout needs training images".into());
        }
        if self.near_duplicate_distance > neardup::MAX_DISTANCE {
            return Err(format!(
                "near_duplicate_distance = {}: must be at most {} (of 64 bits; beyond that pHash matches unrelated images)",
                self.near_duplicate_distance,
                neardup::MAX_DISTANCE
            ));
        }
        if self.max_dimension == 0 {
            return Err("max_dimension = 0: must be at least 1".into());
        }
        if let Some(csv) = &self.csv {
            if csv.trim().is_empty() {
                return Err(
                    "csv is empty: give a file name relative to the data root, or set ignore_csv"
                        .into(),
                );
            }
            if self.ignore_csv {
                return Err("csv and ignore_csv are both set: choose one".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_from_empty_and_null() {
        assert_eq!(
            IngestParams::from_json(&json!({})),
            Ok(IngestParams::default())
        );
        assert_eq!(
            IngestParams::from_json(&json!(null)),
            Ok(IngestParams::default())
        );
        let p = IngestParams::from_json(
            &json!({"layout": "flat", "split": {"train": 0.5, "valid": 0.25, "test": 0.25}, "seed": 3}),
        );
        assert_eq!(
            p.map(|p| (p.layout, p.split.valid, p.seed)),
            Ok((Layout::Flat, 0.25, 3))
        );
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values_naming_the_key() {
        let err = |v: serde_json::Value| IngestParams::from_json(&v).err().unwrap_or_default();
        assert!(err(json!({"near_dup": 3})).contains("near_dup"));
        assert!(err(json!({"split": {"train": 0.8, "vaild": 0.2}})).contains("vaild"));
        assert!(
            err(json!({"split": {"train": 0.8, "valid": 0.3, "test": 0.1}})).contains("must be 1")
        );
        assert!(
            err(json!({"split": {"train": 1.5, "valid": -0.5, "test": 0.0}}))
                .contains("split.train")
        );
        assert!(err(json!({"near_duplicate_distance": 30})).contains("near_duplicate_distance"));
        assert!(err(json!({"max_dimension": 0})).contains("max_dimension"));
        assert!(err(json!({"layout": "nested"})).contains("nested"));
        assert!(err(json!({"csv": "x.csv", "ignore_csv": true})).contains("ignore_csv"));
    }

    #[test]
    fn yaml_file() {
        let dir = tempfile::tempdir();
        let Ok(dir) = dir else { panic!("tempdir") };
        let path = dir.path().join("ingest.yaml");
        assert!(
            std::fs::write(
                &path,
                "seed: 5\nsplit: { train: 0.7, valid: 0.15, test: 0.15 }\n"
            )
            .is_ok()
        );
        let p = IngestParams::from_yaml_file(&path);
        assert_eq!(
            p.as_ref().map(|p| (p.seed, p.split.train)).ok(),
            Some((5, 0.7))
        );
        assert!(std::fs::write(&path, "seeds: 5\n").is_ok());
        let err = IngestParams::from_yaml_file(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("seeds") && err.contains("ingest.yaml"),
            "{err}"
        );
    }
}

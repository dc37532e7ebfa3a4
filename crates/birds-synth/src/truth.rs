//! Ground truth written beside the images, and a reader for it (for the explain stage and tests).
//!
//! `boxes.csv` has one row per decodable image:
//!
//! | column | meaning |
//! |---|---|
//! | `filepaths` | image path relative to the dataset root, as in `birds.csv` (`train/CRIMSON FINCH/001.jpg`) |
//! | `mask` | mask path relative to the root (`masks/train/CRIMSON FINCH/001.png`): 8-bit grey PNG, 255 = bird, 0 = not, same size as the image |
//! | `labels` | the label as spelt in `birds.csv` |
//! | `data set` | `train`, `valid` or `test` |
//! | `x_min`, `y_min` | top-left pixel of the mask's bounding box (inclusive) |
//! | `x_max`, `y_max` | bottom-right corner (exclusive: width = `x_max − x_min`) |
//! | `mask_pixels` | pixels inside the mask |
//! | `jpeg_quality` | JPEG quality the image was saved with |

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::dataset::SUMMARY_FILE;
use crate::{LabelError, Result, SynthError};

/// File name of the ground-truth boxes.
pub const BOXES_FILE: &str = "boxes.csv";
/// Header row of [`BOXES_FILE`].
pub const BOXES_HEADER: &str =
    "filepaths,mask,labels,data set,x_min,y_min,x_max,y_max,mask_pixels,jpeg_quality";

/// The mask path convention (`masks/<path>.png`) lives in birds-core, where explain finds it too.
pub use birds_core::paths::mask_path_for;

/// One row of `boxes.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdBox {
    /// Image path relative to the root.
    pub path: String,
    /// Mask path relative to the root.
    pub mask: String,
    /// Label as spelt in `birds.csv`.
    pub label: String,
    /// `train`, `valid` or `test`.
    pub split: String,
    /// Bounding box `x_min` (inclusive).
    pub x_min: u32,
    /// Bounding box `y_min` (inclusive).
    pub y_min: u32,
    /// Bounding box `x_max` (exclusive).
    pub x_max: u32,
    /// Bounding box `y_max` (exclusive).
    pub y_max: u32,
    /// Pixels inside the mask.
    pub mask_pixels: u64,
    /// JPEG quality used.
    pub jpeg_quality: u8,
}

/// Splits one CSV line into fields (RFC 4180 quoting).
pub fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

/// Reads `<root>/boxes.csv`.
pub fn read_boxes(root: &Path) -> Result<Vec<BirdBox>> {
    let path: PathBuf = root.join(BOXES_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| birds_core::CoreError::io("reading", &path, e))?;
    let bad = |line: usize, message: String| SynthError::Truth {
        path: path.clone(),
        message: format!("line {line}: {message}"),
    };
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim_end() == BOXES_HEADER => {}
        Some((_, h)) => return Err(bad(1, format!("header {h:?}, expected {BOXES_HEADER:?}"))),
        None => return Err(bad(1, "empty file".into())),
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f = split_csv_line(line);
        if f.len() != 10 {
            return Err(bad(i + 1, format!("{} fields, expected 10", f.len())));
        }
        let num = |k: usize| -> Result<u64> {
            f[k].trim().parse::<u64>().map_err(|_| {
                bad(
                    i + 1,
                    format!("column {k} is {:?}, not a whole number", f[k]),
                )
            })
        };
        let small = |k: usize| -> Result<u32> {
            u32::try_from(num(k)?).map_err(|_| bad(i + 1, format!("column {k} too large")))
        };
        out.push(BirdBox {
            path: f[0].clone(),
            mask: f[1].clone(),
            label: f[2].clone(),
            split: f[3].clone(),
            x_min: small(4)?,
            y_min: small(5)?,
            x_max: small(6)?,
            y_max: small(7)?,
            mask_pixels: num(8)?,
            jpeg_quality: u8::try_from(num(9)?)
                .map_err(|_| bad(i + 1, "jpeg_quality above 255".into()))?,
        });
    }
    Ok(out)
}

/// Reads the planted label errors of the dataset at `root` (`synth.json`'s `label_errors`, in `birds.csv` order):
/// empty when none were planted, and for a `synth.json` written before the option existed.
pub fn read_label_errors(root: &Path) -> Result<Vec<LabelError>> {
    #[derive(Deserialize)]
    struct Listed {
        #[serde(default)]
        label_errors: Vec<LabelError>,
    }
    let path = root.join(SUMMARY_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| birds_core::CoreError::io("reading", &path, e))?;
    let listed: Listed = serde_json::from_str(&text).map_err(|e| SynthError::Truth {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok(listed.label_errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_errors_read_back_and_default_to_none() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| birds_core::CoreError::io("tempdir", "", e))?;
        let write = |text: &str| {
            std::fs::write(dir.path().join(SUMMARY_FILE), text)
                .map_err(|e| birds_core::CoreError::io("writing", dir.path(), e))
        };
        // A synth.json of an earlier version (no such field) reads as no errors.
        write(
            r#"{"birds_version": "0.1.0", "labels": ["A"], "images": [1, 0, 0], "defects": []}"#,
        )?;
        assert!(read_label_errors(dir.path())?.is_empty());
        write(
            r#"{"label_errors": [{"path": "train/B/004.jpg", "true_label": "A", "given_label": "B"}]}"#,
        )?;
        assert_eq!(
            read_label_errors(dir.path())?,
            vec![LabelError {
                path: "train/B/004.jpg".into(),
                true_label: "A".into(),
                given_label: "B".into(),
            }]
        );
        write("{")?;
        assert!(read_label_errors(dir.path()).is_err());
        Ok(())
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            split_csv_line(r#"a,"b,c","d""e",f"#),
            vec!["a", "b,c", "d\"e", "f"]
        );
    }
}

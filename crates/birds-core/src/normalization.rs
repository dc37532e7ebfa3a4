//! Input normalisation: how 8-bit RGB pixels become model inputs.
//!
//! Every model records its normalisation (checkpoint metadata), so training, evaluation, Grad-CAM and
//! `birds predict` feed it identically. Measured on the 150 test photos of the birds sample with the
//! ImageNet head (see README): `centered127` gives more bird top-1 hits than `imagenet` for
//! EfficientNet-Lite0, whose TensorFlow original was trained with `(x - 127) / 128`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// A per-channel affine map `(x - mean) / std` on pixel values in `0..=255`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    /// `(x - 127) / 128` on every channel (TensorFlow EfficientNet-Lite convention).
    Centered127,
    /// ImageNet mean/std: `(x/255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]`.
    Imagenet,
}

impl Normalization {
    /// Mean per RGB channel, in pixel units (0..=255).
    pub fn mean(self) -> [f32; 3] {
        match self {
            Normalization::Centered127 => [127.0; 3],
            Normalization::Imagenet => [0.485 * 255.0, 0.456 * 255.0, 0.406 * 255.0],
        }
    }

    /// Standard deviation per RGB channel, in pixel units (0..=255).
    pub fn std(self) -> [f32; 3] {
        match self {
            Normalization::Centered127 => [128.0; 3],
            Normalization::Imagenet => [0.229 * 255.0, 0.224 * 255.0, 0.225 * 255.0],
        }
    }

    /// Normalises one 8-bit value of channel `c` (0 = R, 1 = G, 2 = B).
    #[inline]
    pub fn apply(self, value: u8, c: usize) -> f32 {
        (f32::from(value) - self.mean()[c]) / self.std()[c]
    }

    /// The spelling used in YAML, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Normalization::Centered127 => "centered127",
            Normalization::Imagenet => "imagenet",
        }
    }
}

impl Default for Normalization {
    /// The measured better choice for EfficientNet-Lite0 (see module docs).
    fn default() -> Self {
        Normalization::Centered127
    }
}

impl fmt::Display for Normalization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Normalization {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "centered127" | "tf" => Ok(Normalization::Centered127),
            "imagenet" => Ok(Normalization::Imagenet),
            _ => Err(CoreError::Parse {
                what: "normalization",
                value: s.to_string(),
                expected: "centered127, imagenet",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_known_values() {
        let n = Normalization::Centered127;
        assert_eq!(n.apply(127, 0), 0.0);
        assert_eq!(n.apply(255, 2), 1.0);
        let i = Normalization::Imagenet;
        assert!((i.apply(0, 0) - (-0.485 / 0.229)).abs() < 1e-5);
        assert!((i.apply(255, 1) - ((1.0 - 0.456) / 0.224)).abs() < 1e-5);
    }

    #[test]
    fn parses_spellings() {
        assert_eq!(
            "ImageNet".parse::<Normalization>().ok(),
            Some(Normalization::Imagenet)
        );
        assert!("zscore".parse::<Normalization>().is_err());
    }
}

//! The closed sets that name a model and where it runs, as params and checkpoints spell them: [`Architecture`]
//! (with [`NormKind`]) and [`DeviceSpec`]. No libtorch here: the networks these build and the devices they resolve to
//! live in `birds-models` (`ArchitectureExt`, `DeviceExt`), so a command that only reads params (the `birds` front,
//! checking a pipeline) does not load it.
//!
//! In JSON (checkpoint metadata) an architecture is an object tagged by `name`:
//! `{"name": "efficientnet-lite0"}` or `{"name": "small-cnn", "norm": "frn", "width": 32}`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A model name, normalisation or device that is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelSpecError {
    /// A device string was not understood or the device is unavailable.
    #[error("device {spec:?}: {reason}")]
    Device {
        /// What the user asked for.
        spec: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A model configuration (architecture name, normalisation, width) is invalid.
    #[error("invalid model configuration: {0}")]
    Config(String),
}

/// Base width (stem channels) of the small from-scratch CNN.
pub const SMALL_CNN_DEFAULT_WIDTH: i64 = 32;

/// Which normalisation a from-scratch network uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormKind {
    /// BatchNorm (batch statistics in training, running statistics in evaluation) followed by ReLU.
    #[default]
    BatchNorm,
    /// Filter Response Normalization followed by a thresholded linear unit; batch-independent.
    Frn,
}

impl NormKind {
    /// The spelling used in YAML, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            NormKind::BatchNorm => "batch-norm",
            NormKind::Frn => "frn",
        }
    }
}

impl fmt::Display for NormKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NormKind {
    type Err = ModelSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "batch-norm" | "batchnorm" | "bn" => Ok(NormKind::BatchNorm),
            "frn" => Ok(NormKind::Frn),
            _ => Err(ModelSpecError::Config(format!(
                "unknown normalisation {s:?}: expected batch-norm or frn"
            ))),
        }
    }
}

/// A network architecture with its construction parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Architecture {
    /// EfficientNet-Lite0 (ImageNet weights available).
    #[default]
    #[serde(rename = "efficientnet-lite0")]
    EfficientNetLite0,
    /// The small from-scratch CNN of `birds_models::small_cnn`.
    SmallCnn {
        /// Normalisation layers.
        #[serde(default)]
        norm: NormKind,
        /// Base width (channels of the stem).
        #[serde(default = "default_width")]
        width: i64,
    },
}

fn default_width() -> i64 {
    SMALL_CNN_DEFAULT_WIDTH
}

impl Architecture {
    /// The architecture's name without its parameters: `efficientnet-lite0`, `small-cnn`.
    pub fn name(&self) -> &'static str {
        match self {
            Architecture::EfficientNetLite0 => "efficientnet-lite0",
            Architecture::SmallCnn { .. } => "small-cnn",
        }
    }

    /// How many backbone groups (the freeze/unfreeze units) the network has: EfficientNet-Lite0 has its stem, 16
    /// blocks and head conv (18); the small CNN its stem and 4 stages (5). `birds-models` builds the groups and
    /// tests that their number is this.
    pub fn backbone_group_count(&self) -> usize {
        match self {
            Architecture::EfficientNetLite0 => 18,
            Architecture::SmallCnn { .. } => 5,
        }
    }

    /// Checks the parameters (width in 1..=1024).
    pub fn validate(&self) -> Result<(), ModelSpecError> {
        match *self {
            Architecture::EfficientNetLite0 => Ok(()),
            Architecture::SmallCnn { width, .. } if !(1..=1024).contains(&width) => Err(
                ModelSpecError::Config(format!("small-cnn width {width}: expected 1 to 1024")),
            ),
            Architecture::SmallCnn { .. } => Ok(()),
        }
    }
}

impl fmt::Display for Architecture {
    /// `efficientnet-lite0`, or `small-cnn` with non-default parameters, e.g. `small-cnn(frn, width 48)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Architecture::EfficientNetLite0 => f.write_str("efficientnet-lite0"),
            Architecture::SmallCnn { norm, width } => {
                write!(f, "small-cnn({norm}, width {width})")
            }
        }
    }
}

impl FromStr for Architecture {
    type Err = ModelSpecError;

    /// Parses a name; a small CNN gets its default normalisation and width.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "efficientnet-lite0" | "lite0" => Ok(Architecture::EfficientNetLite0),
            "small-cnn" => Ok(Architecture::SmallCnn {
                norm: NormKind::default(),
                width: SMALL_CNN_DEFAULT_WIDTH,
            }),
            _ => Err(ModelSpecError::Config(format!(
                "unknown model {s:?}: expected efficientnet-lite0 or small-cnn"
            ))),
        }
    }
}

/// What the user asks for: `auto`, `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// CUDA device 0 when available, else CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device N.
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = ModelSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            _ => t
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| ModelSpecError::Device {
                    spec: s.to_string(),
                    reason: "expected auto, cpu, cuda or cuda:N".into(),
                }),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_spelling_and_defaults() {
        let a: Architecture =
            serde_json::from_str(r#"{"name":"small-cnn","norm":"frn"}"#).unwrap_or_default();
        assert_eq!(
            a,
            Architecture::SmallCnn {
                norm: NormKind::Frn,
                width: 32
            }
        );
        let lite = serde_json::to_string(&Architecture::EfficientNetLite0).unwrap_or_default();
        assert_eq!(lite, r#"{"name":"efficientnet-lite0"}"#);
        assert!(serde_json::from_str::<Architecture>(r#"{"name":"resnet9"}"#).is_err());
        assert!("vgg".parse::<Architecture>().is_err());
        let bad = Architecture::SmallCnn {
            norm: NormKind::Frn,
            width: 0,
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn device_spellings() {
        let parse = |s: &str| s.parse::<DeviceSpec>().ok();
        assert_eq!(parse("auto"), Some(DeviceSpec::Auto));
        assert_eq!(parse(" CPU "), Some(DeviceSpec::Cpu));
        assert_eq!(parse("gpu"), Some(DeviceSpec::Cuda(0)));
        assert_eq!(parse("cuda:3"), Some(DeviceSpec::Cuda(3)));
        assert_eq!(parse("tpu"), None);
        assert_eq!(DeviceSpec::Cuda(1).to_string(), "cuda:1");
        assert_eq!(
            "npu".parse::<DeviceSpec>().err().map(|e| e.to_string()),
            Some(String::from(
                "device \"npu\": expected auto, cpu, cuda or cuda:N"
            ))
        );
    }
}

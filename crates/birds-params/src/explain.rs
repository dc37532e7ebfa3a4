//! Params of the explain stage (YAML `params:` of a pipeline stage, or `birds explain` flags).

use std::fmt;
use std::str::FromStr;

use birds_core::Split;
use birds_core::model::DeviceSpec;
use birds_core::stage::closed_set;
use serde::{Deserialize, Serialize};

use crate::{ParamsError, Result};

/// What to explain and how. Unknown keys are refused; missing keys take the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExplainParams {
    /// Methods to compute: `grad-cam`, `grad-cam++`, `hirescam`.
    #[serde(
        serialize_with = "closed_set::display_seq",
        deserialize_with = "de_methods"
    )]
    pub methods: Vec<CamMethod>,
    /// The explained layer: `features` (the last feature map, default) or a named layer of the architecture
    /// (EfficientNet-Lite0: `blocks.0` … `blocks.15`, `stem`, `head`).
    pub layer: String,
    /// Split the images come from (`test`, `valid`, `train`). Default: with an evaluation input, the splits it
    /// evaluated; without, `test` (or `valid` when the cache has no test images).
    #[serde(
        serialize_with = "closed_set::display_opt",
        deserialize_with = "de_split"
    )]
    pub split: Option<Split>,
    /// How many of the weakest classes get overlays.
    pub classes: usize,
    /// Misclassified examples drawn per weak class (most confidently wrong first).
    pub misclassified: usize,
    /// Correctly classified examples drawn per weak class (most confident first).
    pub correct: usize,
    /// Explicit images (paths; relative ones are resolved against the project root). When given, they replace the
    /// weak-class selection.
    pub images: Vec<String>,
    /// Also explain this class (a label of the model) for every drawn image.
    pub class: Option<String>,
    /// Misclassified drawn images also get a map for their true class and a "why X, not Y" panel (predicted beside
    /// true); false: predicted-class maps only.
    pub why_not: bool,
    /// Images of the split used for the localisation and deletion checks (spread over the classes; 0 = none).
    pub check_images: usize,
    /// Fraction of pixels the deletion test blurs.
    pub deletion_fraction: f64,
    /// Blur sigma of the deletion test, as a fraction of the image side.
    pub blur_sigma: f64,
    /// Seed of the random baselines.
    pub seed: u64,
    /// Heatmap opacity in overlays (0–1).
    pub alpha: f32,
    /// Side in pixels of drawn overlays (the model input is upsampled to it).
    pub overlay_size: u32,
    /// Images per batch.
    pub batch_size: usize,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    #[serde(serialize_with = "closed_set::display", deserialize_with = "de_device")]
    pub device: DeviceSpec,
}

fn de_methods<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<CamMethod>, D::Error> {
    closed_set::parse_seq(d, "methods")
}

fn de_device<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<DeviceSpec, D::Error> {
    closed_set::parse(d, "device")
}

/// `split` keeps its own wording: `split: "dev" is not one of train, valid, test`.
fn de_split<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Split>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(s) => Split::from_str(&s).map(Some).map_err(|_| {
            serde::de::Error::custom(format!("split: {s:?} is not one of train, valid, test"))
        }),
        None => Ok(None),
    }
}

impl Default for ExplainParams {
    fn default() -> Self {
        Self {
            methods: vec![CamMethod::GradCam, CamMethod::GradCamPlusPlus],
            layer: "features".into(),
            split: None,
            classes: 5,
            misclassified: 3,
            correct: 2,
            images: Vec::new(),
            class: None,
            why_not: true,
            check_images: 200,
            deletion_fraction: 0.2,
            blur_sigma: 0.05,
            seed: 0,
            alpha: 0.5,
            overlay_size: 320,
            batch_size: 16,
            device: DeviceSpec::Auto,
        }
    }
}

impl ExplainParams {
    /// Parses stage params (JSON object) and validates them; errors name the key.
    pub fn from_json(value: &serde_json::Value) -> std::result::Result<Self, String> {
        let p: Self = birds_core::stage::parse_params(value)
            .map_err(|e| ParamsError::Explain(e).to_string())?;
        p.validate().map_err(|e| e.to_string())?;
        Ok(p)
    }

    /// The methods, de-duplicated in the given order; at least one.
    pub fn cam_methods(&self) -> Result<Vec<CamMethod>> {
        let mut out: Vec<CamMethod> = Vec::new();
        for &m in &self.methods {
            if !out.contains(&m) {
                out.push(m);
            }
        }
        if out.is_empty() {
            return Err(ParamsError::Explain("methods: give at least one".into()));
        }
        Ok(out)
    }

    /// Checks every range; the error names the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| Err(ParamsError::Explain(format!("{key}: {why}")));
        self.cam_methods()?;
        if self.layer.trim().is_empty() {
            return bad(
                "layer",
                "empty; use `features` for the last feature map".into(),
            );
        }
        if !(self.deletion_fraction > 0.0 && self.deletion_fraction < 1.0) {
            return bad(
                "deletion_fraction",
                format!("{} is not in (0, 1)", self.deletion_fraction),
            );
        }
        if !(self.blur_sigma > 0.0 && self.blur_sigma <= 1.0) {
            return bad(
                "blur_sigma",
                format!("{} is not in (0, 1]", self.blur_sigma),
            );
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return bad("alpha", format!("{} is not in [0, 1]", self.alpha));
        }
        if !(32..=2048).contains(&self.overlay_size) {
            return bad(
                "overlay_size",
                format!("{} is not in 32..=2048", self.overlay_size),
            );
        }
        if !(1..=1024).contains(&self.batch_size) {
            return bad(
                "batch_size",
                format!("{} is not in 1..=1024", self.batch_size),
            );
        }
        if self.classes > 10_000 || self.misclassified > 10_000 || self.correct > 10_000 {
            return bad(
                "classes",
                "classes, misclassified and correct must be at most 10000".into(),
            );
        }
        if self.check_images > 1_000_000 {
            return bad(
                "check_images",
                format!("{} is more than 1000000", self.check_images),
            );
        }
        Ok(())
    }
}

/// A class-activation-map method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CamMethod {
    /// Grad-CAM: channel weights are spatially averaged gradients.
    #[serde(rename = "grad-cam")]
    GradCam,
    /// Grad-CAM++: channel weights from positive gradients weighted by the α of Chattopadhyay et al.
    #[serde(rename = "grad-cam++")]
    GradCamPlusPlus,
    /// HiResCAM: element-wise gradient × activation, summed over channels.
    #[serde(rename = "hirescam")]
    HiResCam,
}

impl CamMethod {
    /// Every method, in a fixed order.
    pub const ALL: [CamMethod; 3] = [
        CamMethod::GradCam,
        CamMethod::GradCamPlusPlus,
        CamMethod::HiResCam,
    ];

    /// The spelling used in files and on the command line: `grad-cam`, `grad-cam++`, `hirescam`.
    pub fn as_str(self) -> &'static str {
        match self {
            CamMethod::GradCam => "grad-cam",
            CamMethod::GradCamPlusPlus => "grad-cam++",
            CamMethod::HiResCam => "hirescam",
        }
    }

    /// A file-name-safe spelling: `grad-cam`, `grad-cam-pp`, `hirescam`.
    pub fn file_stem(self) -> &'static str {
        match self {
            CamMethod::GradCam => "grad-cam",
            CamMethod::GradCamPlusPlus => "grad-cam-pp",
            CamMethod::HiResCam => "hirescam",
        }
    }
}

impl fmt::Display for CamMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CamMethod {
    type Err = ParamsError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "grad-cam" | "gradcam" => Ok(CamMethod::GradCam),
            "grad-cam++" | "gradcam++" | "grad-cam-pp" | "gradcampp" | "grad-cam-plus-plus" => {
                Ok(CamMethod::GradCamPlusPlus)
            }
            "hirescam" | "hires-cam" => Ok(CamMethod::HiResCam),
            _ => Err(ParamsError::Invalid(format!(
                "unknown CAM method {s:?}: expected grad-cam, grad-cam++ or hirescam"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_errors_name_the_key() {
        let p = ExplainParams::from_json(&serde_json::json!({})).unwrap_or_default();
        assert_eq!(p, ExplainParams::default());
        assert_eq!(
            p.cam_methods().ok(),
            Some(vec![CamMethod::GradCam, CamMethod::GradCamPlusPlus])
        );
        for (json, key) in [
            (serde_json::json!({"methods": ["score-cam"]}), "methods"),
            (
                serde_json::json!({"deletion_fraction": 1.5}),
                "deletion_fraction",
            ),
            (serde_json::json!({"split": "dev"}), "split"),
            (serde_json::json!({"device": "tpu"}), "device"),
            (serde_json::json!({"colour": "red"}), "colour"),
            (serde_json::json!({"batch_size": 0}), "batch_size"),
        ] {
            let e = ExplainParams::from_json(&json).err().unwrap_or_default();
            assert!(e.contains(key), "{json}: {e}");
        }
    }

    /// Closed sets are parsed once, from YAML/JSON, into their types (aliases included) and written back in their
    /// canonical spelling; a bad value is named with its key, worded as before they were typed.
    #[test]
    fn closed_sets_parse_at_the_edge_with_the_key_in_the_error() {
        let p = ExplainParams::from_json(&serde_json::json!({
            "methods": ["GradCAM", "hirescam"], "split": "Validation", "device": "cuda:1"
        }));
        let p = p.unwrap_or_default();
        assert_eq!(p.methods, vec![CamMethod::GradCam, CamMethod::HiResCam]);
        assert_eq!(p.split, Some(Split::Valid));
        assert_eq!(p.device, DeviceSpec::Cuda(1));
        let back = serde_json::to_value(&p).unwrap_or_default();
        assert_eq!(back["methods"], serde_json::json!(["grad-cam", "hirescam"]));
        assert_eq!(back["split"], "valid");
        assert_eq!(back["device"], "cuda:1");
        let err = |json| ExplainParams::from_json(&json).err().unwrap_or_default();
        assert_eq!(
            err(serde_json::json!({"methods": ["score-cam"]})),
            "explain params: methods: unknown CAM method \"score-cam\": expected grad-cam, grad-cam++ or hirescam"
        );
        assert_eq!(
            err(serde_json::json!({"split": "dev"})),
            "explain params: split: \"dev\" is not one of train, valid, test"
        );
        assert!(
            err(serde_json::json!({"device": "tpu"})).starts_with("explain params: device: "),
            "{}",
            err(serde_json::json!({"device": "tpu"}))
        );
    }
}

//! Typed params: [`PreprocessParams`] (the stage's `params:`) and [`AugmentParams`] (embedded by the train stage).
//!
//! Both reject unknown keys and fill missing ones with defaults, so `{}` is a valid params block and a typo is an
//! error that names the key.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{PreprocessError, Result};

/// Largest stored side accepted (`size + margin`).
pub const MAX_SIDE: u32 = 2048;

/// How an image of any aspect ratio becomes a square.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ResizeMode {
    /// Scale the shorter side to the target, then crop the centre square (no distortion; edges of long sides lost).
    #[default]
    #[serde(rename = "shorter-side+center-crop", alias = "center-crop")]
    ShorterSideCenterCrop,
    /// Scale width and height independently to the target (keeps everything; distorts non-square images).
    #[serde(rename = "stretch")]
    Stretch,
}

impl ResizeMode {
    /// The spelling used in YAML and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ResizeMode::ShorterSideCenterCrop => "shorter-side+center-crop",
            ResizeMode::Stretch => "stretch",
        }
    }
}

impl fmt::Display for ResizeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResizeMode {
    type Err = PreprocessError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "shorter-side+center-crop" | "center-crop" => Ok(ResizeMode::ShorterSideCenterCrop),
            "stretch" => Ok(ResizeMode::Stretch),
            _ => Err(PreprocessError::param(
                "mode",
                format!("{s:?}: expected shorter-side+center-crop or stretch"),
            )),
        }
    }
}

/// The resampling filter of the one-off resize (convolution with antialiasing, as Pillow's `Image.resize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeFilter {
    /// Bilinear (Pillow `BILINEAR`): fast, the default.
    #[default]
    Bilinear,
    /// Catmull-Rom bicubic (Pillow `BICUBIC`).
    Bicubic,
    /// Lanczos3 (Pillow `LANCZOS`): sharpest, slowest.
    Lanczos3,
}

impl ResizeFilter {
    /// The spelling used in YAML and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ResizeFilter::Bilinear => "bilinear",
            ResizeFilter::Bicubic => "bicubic",
            ResizeFilter::Lanczos3 => "lanczos3",
        }
    }
}

impl fmt::Display for ResizeFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResizeFilter {
    type Err = PreprocessError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bilinear" | "triangle" => Ok(ResizeFilter::Bilinear),
            "bicubic" | "catmull-rom" => Ok(ResizeFilter::Bicubic),
            "lanczos3" | "lanczos" => Ok(ResizeFilter::Lanczos3),
            _ => Err(PreprocessError::param(
                "filter",
                format!("{s:?}: expected bilinear, bicubic or lanczos3"),
            )),
        }
    }
}

/// Params of the `preprocess` stage. Changing any of them changes the cache's bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreprocessParams {
    /// The side the model trains at (e.g. 224). Eval views are the centre `size`×`size` of the stored image.
    pub size: u32,
    /// How non-square images become square.
    pub mode: ResizeMode,
    /// Extra pixels stored around `size` for random crops: images are stored at `size + margin` (e.g. 224 + 32 =
    /// 256, the classic "resize 256, crop 224").
    pub margin: u32,
    /// Resampling filter.
    pub filter: ResizeFilter,
    /// Images per shard file; also the unit of work held in memory at once (bounded memory).
    pub shard_images: usize,
    /// What side the cache stores (see [`Store`]); absent from serialised params when `full`.
    #[serde(skip_serializing_if = "Store::is_full")]
    pub store: Store,
}

impl Default for PreprocessParams {
    fn default() -> Self {
        Self {
            size: 224,
            mode: ResizeMode::default(),
            margin: 0,
            filter: ResizeFilter::default(),
            shard_images: 256,
            store: Store::Full,
        }
    }
}

impl PreprocessParams {
    /// The geometry of an evaluation view at input side `size`: resize mode, filter and stored side as a
    /// checkpoint recorded them (`birds_models::EvalView` fields), or the defaults (no margin) when none was.
    pub fn for_eval_view(size: u32, view: Option<(&str, &str, u32)>) -> Result<Self> {
        let mut params = Self {
            size,
            ..Self::default()
        };
        if let Some((resize, filter, stored_side)) = view {
            params.mode = resize.parse()?;
            params.filter = filter.parse()?;
            params.margin = stored_side.saturating_sub(size);
        }
        Ok(params)
    }

    /// The stored side: `size + margin` (`size` with `store: train-size`).
    pub fn stored_side(&self) -> u32 {
        match self.store {
            Store::Full => self.size.saturating_add(self.margin),
            Store::TrainSize => self.size,
        }
    }

    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<()> {
        if self.size < 8 {
            return Err(PreprocessError::param(
                "size",
                format!("{} is too small (at least 8)", self.size),
            ));
        }
        if self.stored_side() > MAX_SIDE {
            return Err(PreprocessError::param(
                "margin",
                format!(
                    "size + margin = {} exceeds {MAX_SIDE}",
                    u64::from(self.size) + u64::from(self.margin)
                ),
            ));
        }
        if self.shard_images == 0 || self.shard_images > 100_000 {
            return Err(PreprocessError::param(
                "shard_images",
                format!("{} is out of range 1..=100000", self.shard_images),
            ));
        }
        Ok(())
    }

    /// Reads, parses and validates a YAML params file (empty file = defaults); errors name the file and key.
    pub fn from_yaml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PreprocessError::io("reading preprocess params", path, e))?;
        let params: Self = if text.trim().is_empty() {
            Self::default()
        } else {
            serde_yaml::from_str(&text).map_err(|e| PreprocessError::ParamsFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?
        };
        params.validate().map_err(|e| PreprocessError::ParamsFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(params)
    }

    /// Parses and validates params given as JSON (the pipeline's form).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let params: Self = birds_core::stage::parse_params(value)?;
        params.validate().map_err(|e| e.to_string())?;
        Ok(params)
    }
}

/// On-the-fly augmentation, applied by the loader in train mode and by [`crate::preview`].
///
/// Order per sample: random resized crop (with horizontal flip and rotation folded into the same bilinear
/// resampling), then brightness, contrast and saturation jitter, in that fixed order. Every draw comes from
/// `(seed, epoch, sample)` only, so a batch is reproducible whatever the thread count or batch composition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentParams {
    /// Range of the crop's area as a fraction of the stored image (torchvision `scale`).
    pub crop_scale: [f32; 2],
    /// Range of the crop's aspect ratio width/height, sampled log-uniformly (torchvision `ratio`).
    pub crop_ratio: [f32; 2],
    /// Probability of a horizontal flip.
    pub hflip: f32,
    /// Largest rotation in degrees; the angle is uniform in `[-rotation, rotation]`. Pixels from outside the
    /// stored image repeat its edge.
    pub rotation: f32,
    /// Brightness factor drawn from `[1 - brightness, 1 + brightness]`.
    pub brightness: f32,
    /// Contrast factor drawn from `[1 - contrast, 1 + contrast]` (blend with the mean grey level).
    pub contrast: f32,
    /// Saturation factor drawn from `[1 - saturation, 1 + saturation]` (blend with each pixel's grey).
    pub saturation: f32,
}

impl Default for AugmentParams {
    /// Moderate settings for fine-tuning a pretrained CNN on bird photos (the bird is usually large and centred).
    fn default() -> Self {
        Self {
            crop_scale: [0.35, 1.0],
            crop_ratio: [3.0 / 4.0, 4.0 / 3.0],
            hflip: 0.5,
            rotation: 10.0,
            brightness: 0.2,
            contrast: 0.2,
            saturation: 0.2,
        }
    }
}

impl AugmentParams {
    /// No augmentation at all: the whole stored image, unflipped, unrotated, colours untouched.
    pub fn none() -> Self {
        Self {
            crop_scale: [1.0, 1.0],
            crop_ratio: [1.0, 1.0],
            hflip: 0.0,
            rotation: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.0,
        }
    }

    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<()> {
        let [s0, s1] = self.crop_scale;
        if !(s0 > 0.0 && s0 <= s1 && s1 <= 1.0) {
            return Err(PreprocessError::param(
                "crop_scale",
                format!("[{s0}, {s1}]: need 0 < min <= max <= 1"),
            ));
        }
        let [r0, r1] = self.crop_ratio;
        if !(r0 > 0.0 && r0 <= r1 && r1 <= 10.0) {
            return Err(PreprocessError::param(
                "crop_ratio",
                format!("[{r0}, {r1}]: need 0 < min <= max <= 10"),
            ));
        }
        if !(0.0..=1.0).contains(&self.hflip) {
            return Err(PreprocessError::param(
                "hflip",
                format!("{}: a probability in [0, 1]", self.hflip),
            ));
        }
        if !(0.0..=180.0).contains(&self.rotation) {
            return Err(PreprocessError::param(
                "rotation",
                format!("{}: degrees in [0, 180]", self.rotation),
            ));
        }
        for (key, v) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(PreprocessError::param(
                    key,
                    format!("{v}: a jitter strength in [0, 1)"),
                ));
            }
        }
        Ok(())
    }

    /// Parses and validates YAML text; `source` names the text in errors.
    pub fn from_yaml_str(text: &str, source: &Path) -> Result<Self> {
        let params: Self = if text.trim().is_empty() {
            Self::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| PreprocessError::ParamsFile {
                path: source.to_path_buf(),
                reason: e.to_string(),
            })?
        };
        params.validate().map_err(|e| PreprocessError::ParamsFile {
            path: source.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(params)
    }

    /// Reads, parses and validates a YAML file.
    pub fn from_yaml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PreprocessError::io("reading augment params", path, e))?;
        Self::from_yaml_str(&text, path)
    }
}

// --- The compact cache option (issue 16: 84k images at 256 px are 16.6 GB of shards). ---

/// What side the cache stores. A shard is raw uint8 pixels, `side² × 3` bytes per image, so the side is the disk
/// cost: BIRDS 525 (≈ 90k images) takes 17.7 GB at 256 px and 13.6 GB at 224 px.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Store {
    /// `size + margin`: random crops have `margin` pixels of context to move in (the default).
    #[default]
    Full,
    /// `size` only, whatever `margin` says (23 % less disk at 224 from 256): random crops are cut from the training
    /// view itself and scaled back up to `size`, evaluation views are the stored image.
    TrainSize,
}

impl Store {
    /// Whether this is the default, [`Store::Full`].
    pub fn is_full(&self) -> bool {
        *self == Store::Full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_keys_and_unknown_keys_fail() {
        let p = PreprocessParams::from_json(&serde_json::json!({"size": 64})).unwrap_or_default();
        assert_eq!(p.size, 64);
        assert_eq!(p.mode, ResizeMode::ShorterSideCenterCrop);
        let e = PreprocessParams::from_json(&serde_json::json!({"sise": 64})).err();
        assert!(e.is_some_and(|e| e.contains("sise")));
        let e = PreprocessParams::from_json(&serde_json::json!({"size": 4})).err();
        assert!(e.is_some_and(|e| e.contains("size")));
        let p = PreprocessParams::from_json(&serde_json::json!({"mode": "stretch", "margin": 32}))
            .unwrap_or_default();
        assert_eq!((p.mode, p.stored_side()), (ResizeMode::Stretch, 256));
    }

    #[test]
    fn store_train_size_drops_the_margin_and_full_serialises_as_before() {
        let p =
            PreprocessParams::from_json(&serde_json::json!({"margin": 32, "store": "train-size"}))
                .unwrap_or_default();
        assert_eq!((p.store, p.stored_side()), (Store::TrainSize, 224));
        let full =
            PreprocessParams::from_json(&serde_json::json!({"margin": 32})).unwrap_or_default();
        assert_eq!(full.stored_side(), 256);
        let json = serde_json::to_string(&full).unwrap_or_default();
        assert!(!json.contains("store"), "{json}");
        let json = serde_json::to_string(&p).unwrap_or_default();
        assert!(json.contains("\"store\":\"train-size\""), "{json}");
        let e = PreprocessParams::from_json(&serde_json::json!({"store": "tiny"})).err();
        assert!(e.is_some_and(|e| e.contains("tiny")));
    }

    #[test]
    fn augment_yaml_round_trip_and_errors_name_keys() {
        let path = Path::new("aug.yaml");
        let a = AugmentParams::from_yaml_str("hflip: 0.25\nrotation: 5\n", path);
        let a = a.unwrap_or_else(|_| AugmentParams::none());
        assert_eq!(a.hflip, 0.25);
        assert_eq!(a.rotation, 5.0);
        assert_eq!(a.crop_scale, AugmentParams::default().crop_scale);
        let text = serde_yaml::to_string(&a).unwrap_or_default();
        assert_eq!(AugmentParams::from_yaml_str(&text, path).ok(), Some(a));
        let e = AugmentParams::from_yaml_str("hflp: 0.5\n", path).err();
        assert!(e.is_some_and(|e| e.to_string().contains("hflp")));
        let e = AugmentParams::from_yaml_str("crop_scale: [0.9, 0.5]\n", path).err();
        assert!(e.is_some_and(|e| e.to_string().contains("crop_scale")));
        let e = AugmentParams::from_yaml_str("contrast: 1.5\n", path).err();
        assert!(e.is_some_and(|e| e.to_string().contains("contrast")));
    }
}

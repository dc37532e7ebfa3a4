//! Choosing the explained layer by name.
//!
//! `features` (also `last`, the default) is the model's last feature map, for every architecture. For
//! EfficientNet-Lite0 any layer of `EfficientNetLite0::layer_names` can be named (`stem`, `blocks.0` …
//! `blocks.15`, `head`): earlier layers give finer maps (at 224 px: `features` 7×7, `blocks.10` 14×14,
//! `blocks.4` 28×28) but are further from the decision, so their maps are noisier.

use std::path::Path;

use birds_models::{Architecture, Checkpoint, EfficientNetLite0};
use tch::Tensor;
use tch::nn::VarStore;

use crate::cam::CamLayer;
use crate::{ExplainError, Result};

/// Names meaning the last feature map.
pub const LAST: [&str; 2] = ["features", "last"];

/// A named layer of an EfficientNet-Lite0 (its own copy of the checkpoint's weights).
#[derive(Debug)]
pub struct Lite0Layer {
    model: EfficientNetLite0,
    _vs: VarStore,
    name: String,
}

impl Lite0Layer {
    /// Splits `model` (whose variables live in `vs`) at `name`.
    pub fn from_model(vs: VarStore, model: EfficientNetLite0, name: &str) -> Result<Self> {
        if !EfficientNetLite0::layer_names().iter().any(|n| n == name) {
            return Err(ExplainError::Params(format!(
                "layer: {name:?} is not a layer of efficientnet-lite0; use `features`, or one of {}",
                EfficientNetLite0::layer_names().join(", ")
            )));
        }
        Ok(Self {
            model,
            _vs: vs,
            name: name.to_string(),
        })
    }

    /// Loads the Lite0 checkpoint in `dir` and splits it at `name`.
    pub fn load(ckpt: &Checkpoint, dir: &Path, name: &str) -> Result<Self> {
        if !EfficientNetLite0::layer_names().iter().any(|n| n == name) {
            return Err(unknown(ckpt, name));
        }
        let mut vs = VarStore::new(ckpt.vs.device());
        let model = EfficientNetLite0::new(&vs.root(), ckpt.meta.classes.len() as i64);
        birds_models::weights::load_state_dict(&mut vs, &Checkpoint::weights_path(dir), &[])?;
        Ok(Self {
            model,
            _vs: vs,
            name: name.to_string(),
        })
    }
}

impl CamLayer for Lite0Layer {
    fn layer_name(&self) -> String {
        self.name.clone()
    }

    fn activations(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.model.forward_to(xs, &self.name)?)
    }

    fn logits_from_activations(&self, activations: &Tensor) -> Result<Tensor> {
        Ok(self.model.logits_from_layer(activations, &self.name)?)
    }
}

fn unknown(ckpt: &Checkpoint, name: &str) -> ExplainError {
    let offered = match ckpt.meta.architecture {
        Architecture::EfficientNetLite0 => format!(
            "`features`, or one of {}",
            EfficientNetLite0::layer_names().join(", ")
        ),
        _ => "`features` (the last feature map)".to_string(),
    };
    ExplainError::Params(format!(
        "layer: {name:?} is not a layer of {}; use {offered}",
        ckpt.meta.architecture
    ))
}

/// The layer named `name` of the checkpoint in `dir`: `None` for the last feature map (use
/// [`crate::cam::LastFeatureMap`]), else the named layer, or an error listing the names the architecture offers.
pub fn resolve(ckpt: &Checkpoint, dir: &Path, name: &str) -> Result<Option<Box<dyn CamLayer>>> {
    let name = name.trim();
    if LAST.contains(&name) {
        return Ok(None);
    }
    match ckpt.meta.architecture {
        Architecture::EfficientNetLite0 => Ok(Some(Box::new(Lite0Layer::load(ckpt, dir, name)?))),
        _ => Err(unknown(ckpt, name)),
    }
}

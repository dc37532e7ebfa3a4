//! Choosing the explained layer by name.
//!
//! `features` (also `last`, the default) is the model's last feature map, for every architecture. Earlier layers
//! have finer maps (EfficientNet-Lite0 at 224: `features` is 7×7, `blocks.10` 14×14, `blocks.4` 28×28) but are
//! further from the decision, so their maps are noisier.

use birds_models::Checkpoint;

use crate::cam::CamLayer;
use crate::{ExplainError, Result};

/// Names meaning the last feature map.
pub const LAST: [&str; 2] = ["features", "last"];

/// The layer named `name` of the checkpoint's model: `None` for the last feature map (use
/// [`crate::cam::LastFeatureMap`]), or an error listing the names the architecture offers.
pub fn resolve<'a>(ckpt: &'a Checkpoint, name: &str) -> Result<Option<Box<dyn CamLayer + 'a>>> {
    let name = name.trim();
    if LAST.contains(&name) {
        return Ok(None);
    }
    Err(ExplainError::Params(format!(
        "layer: {name:?} is not a layer of {}; use `features` (the last feature map)",
        ckpt.meta.architecture
    )))
}

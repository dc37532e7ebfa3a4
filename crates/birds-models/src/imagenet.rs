//! The ImageNet-1k label space of the pretrained head, and the pretrained model with that head.

use std::path::Path;

use tch::Device;
use tch::nn::VarStore;

use crate::weights::{self, LoadReport};
use crate::{EfficientNetLite0, Result};

/// ImageNet-1k class ids that are birds: 7–24 (cock … great grey owl), 80–100 (black grouse … black swan),
/// 127–146 (white stork … albatross).
pub const BIRD_ID_RANGES: [std::ops::RangeInclusive<i64>; 3] = [7..=24, 80..=100, 127..=146];

/// Whether an ImageNet-1k class id is a bird.
pub fn is_bird(class_id: i64) -> bool {
    BIRD_ID_RANGES.iter().any(|r| r.contains(&class_id))
}

/// Number of ImageNet-1k classes.
pub const NUM_CLASSES: i64 = 1000;

/// EfficientNet-Lite0 with its 1000-class ImageNet head on `device`, weights from the state dict at `path` (e.g.
/// [`birds_core::paths::default_weights`]); with what was loaded.
pub fn load_lite0(
    path: &Path,
    device: Device,
) -> Result<(VarStore, EfficientNetLite0, LoadReport)> {
    let mut vs = VarStore::new(device);
    let model = EfficientNetLite0::new(&vs.root(), NUM_CLASSES);
    let report = weights::load_state_dict(&mut vs, path, &[])?;
    Ok((vs, model, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bird_ranges() {
        assert!(is_bird(7) && is_bird(24) && is_bird(97) && is_bird(146));
        assert!(!is_bird(6) && !is_bird(25) && !is_bird(101) && !is_bird(147) && !is_bird(999));
        let count: usize = BIRD_ID_RANGES.iter().map(|r| r.clone().count()).sum();
        assert_eq!(count, 59);
    }
}

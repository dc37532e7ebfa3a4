//! Helpers shared by the integration tests of birds-models.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use birds_models::{EfficientNetLite0, imagenet};
use tch::Device;
use tch::nn::VarStore;

/// The ImageNet Lite0 model with the weights `just setup` converted; fails with the fix when they are absent.
pub fn imagenet_lite0() -> (VarStore, EfficientNetLite0) {
    birds_core::runtime::tune_malloc();
    let path = birds_core::paths::default_weights();
    assert!(
        path.is_file(),
        "{} missing: run `just setup`",
        path.display()
    );
    let (vs, model, report) = imagenet::load_lite0(&path, Device::Cpu).expect("weights load");
    assert_eq!(report.loaded, 247);
    (vs, model)
}

/// `../shared/data/birds-sample` beside the checkout, or `$BIRDS_SAMPLE`.
pub fn sample_root() -> PathBuf {
    let root = std::env::var_os("BIRDS_SAMPLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| birds_core::paths::workspace_root().join("../shared/data/birds-sample"));
    assert!(
        root.join("test").is_dir(),
        "birds sample not found at {} (set BIRDS_SAMPLE)",
        root.display()
    );
    root
}

/// Every file under `<root>/<split>/<class>/`, sorted.
pub fn split_files(root: &std::path::Path, split: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for class in std::fs::read_dir(root.join(split)).unwrap() {
        for f in std::fs::read_dir(class.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files.sort();
    files
}

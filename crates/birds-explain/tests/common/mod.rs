//! Helpers shared by the integration tests of birds-explain.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use birds_models::{EfficientNetLite0, imagenet};
use tch::nn::VarStore;
use tch::{Device, Tensor};

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
    let _ = report;
    (vs, model)
}

/// A file under the workspace's `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    birds_core::paths::workspace_root()
        .join("tests/fixtures")
        .join(name)
}

/// Pearson correlation of two tensors of the same number of elements.
pub fn correlation(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_kind(tch::Kind::Double).flatten(0, -1);
    let b = b.to_kind(tch::Kind::Double).flatten(0, -1);
    let a = &a - a.mean(tch::Kind::Double);
    let b = &b - b.mean(tch::Kind::Double);
    let num = (&a * &b).sum(tch::Kind::Double).double_value(&[]);
    let den = (a.square().sum(tch::Kind::Double).double_value(&[])
        * b.square().sum(tch::Kind::Double).double_value(&[]))
    .sqrt();
    num / den
}

/// Largest absolute difference.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a.to_kind(tch::Kind::Double) - b.to_kind(tch::Kind::Double))
        .abs()
        .max()
        .double_value(&[])
}

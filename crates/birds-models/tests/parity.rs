//! The tch EfficientNet-Lite0 computes what the PyTorch original computes.
//!
//! Fixture: `tests/fixtures/lite0_parity.safetensors`, written by `scripts/make_parity_fixture.py` with
//! torch 2.11.0 and `efficientnet-lite-pytorch` on the same ImageNet weights.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

mod common;

use birds_models::ImageClassifier;
use tch::Tensor;

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

#[test]
fn matches_pytorch_logits_and_feature_maps() {
    let fixture =
        birds_core::paths::workspace_root().join("tests/fixtures/lite0_parity.safetensors");
    let tensors: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(&fixture)
        .expect("fixture")
        .into_iter()
        .collect();
    let (_vs, model) = common::imagenet_lite0();
    for size in [224, 99] {
        let x = &tensors[&format!("input_{size}")];
        let (features, logits) = tch::no_grad(|| {
            let f = model.feature_map(x, false);
            let l = model.logits_from_feature_map(&f, false);
            (f, l)
        });
        let df = max_abs_diff(&features, &tensors[&format!("features_{size}")]);
        let dl = max_abs_diff(&logits, &tensors[&format!("logits_{size}")]);
        println!("size {size}: feature map max |diff| {df:.2e}, logits max |diff| {dl:.2e}");
        assert!(df <= 1e-4, "size {size}: feature maps differ by {df}");
        assert!(dl <= 1e-4, "size {size}: logits differ by {dl}");
        // The check is not vacuous: logits span a wide range.
        assert!(logits.max().double_value(&[]) - logits.min().double_value(&[]) > 5.0);
    }
}

//! The tch CAMs equal those PyTorch autograd computes on the same EfficientNet-Lite0 weights and inputs.
//!
//! Fixture: `tests/fixtures/gradcam_lite0.safetensors`, written by `scripts/make_gradcam_fixture.py` with torch
//! 2.11.0 and `efficientnet-lite-pytorch` (two 224×224 inputs; targets: the predicted classes, then other classes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use birds_explain::cam::{self, CamMethod, LastFeatureMap, Request};
use tch::Tensor;

#[test]
fn grad_cam_grad_cam_pp_and_hirescam_match_pytorch() {
    let fixture: HashMap<String, Tensor> =
        Tensor::read_safetensors(common::fixture("gradcam_lite0.safetensors"))
            .expect("fixture (run scripts/make_gradcam_fixture.py)")
            .into_iter()
            .collect();
    let (_vs, model) = common::imagenet_lite0();
    let x = &fixture["input"];
    for case in ["predicted", "other"] {
        let targets: Vec<i64> = Vec::try_from(&fixture[&format!("{case}.targets")]).unwrap();
        let requests = if case == "predicted" {
            Request::predicted(targets.len())
        } else {
            Request::classes(&targets)
        };
        let g = cam::gradients(&LastFeatureMap(&model), x, &requests).unwrap();
        assert_eq!(g.class, targets, "{case}: resolved targets");
        let dl = common::max_abs_diff(&g.logits, &fixture[&format!("{case}.logits")]);
        assert!(dl < 1e-4, "{case}: logits differ by {dl}");
        for method in CamMethod::ALL {
            let ours = g.cam(method);
            let theirs = &fixture[&format!("{case}.cam.{method}")];
            if let Some(w) = g.weights(method) {
                let wt = &fixture[&format!("{case}.weights.{method}")];
                let scale = wt.abs().max().double_value(&[]);
                let dw = common::max_abs_diff(&w, wt) / scale;
                assert!(
                    dw < 1e-4,
                    "{case} {method}: channel weights differ by {dw} (relative)"
                );
            }
            for n in 0..targets.len() as i64 {
                let (a, b) = (ours.get(n), theirs.get(n));
                // The check is not vacuous: the reference map is not flat.
                assert!(
                    b.max().double_value(&[]) > 0.0,
                    "{case} {method} image {n}: flat reference"
                );
                let r = common::correlation(&a, &b);
                let na = cam::normalize(&a.unsqueeze(0));
                let nb = cam::normalize(&b.unsqueeze(0));
                let d = common::max_abs_diff(&na, &nb);
                let dup = common::max_abs_diff(
                    &cam::upsample(&na, 224, 224),
                    &cam::upsample(&nb, 224, 224),
                );
                eprintln!(
                    "{case} {method} image {n} (class {}): correlation {r:.6}, max |diff| normalised {d:.2e}, at 224 {dup:.2e}",
                    targets[n as usize]
                );
                assert!(r >= 0.999, "{case} {method} image {n}: correlation {r}");
                assert!(
                    d < 1e-3,
                    "{case} {method} image {n}: normalised maps differ by {d}"
                );
            }
        }
    }
}

#[test]
fn activations_match_pytorch() {
    let fixture: HashMap<String, Tensor> =
        Tensor::read_safetensors(common::fixture("gradcam_lite0.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let (_vs, model) = common::imagenet_lite0();
    let g = cam::gradients(
        &LastFeatureMap(&model),
        &fixture["input"],
        &Request::predicted(2),
    )
    .unwrap();
    let d = common::max_abs_diff(&g.activations, &fixture["activations"]);
    assert!(d < 1e-4, "activations differ by {d}");
}

//! Batched CAMs equal one-image CAMs: one target per image, and an image explained for two classes in one batch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use birds_explain::cam::{self, CamMethod, LastFeatureMap, Request, Target};
use tch::{Device, Kind, Tensor};

#[test]
fn per_image_targets_do_not_interact() {
    let (_vs, model) = common::imagenet_lite0();
    tch::manual_seed(5);
    let x = Tensor::randn([3, 3, 96, 96], (Kind::Float, Device::Cpu)).clamp(-1.0, 1.0);
    let layer = LastFeatureMap(&model);
    let requests = [
        Request {
            image: 0,
            target: Target::Predicted,
        },
        Request {
            image: 1,
            target: Target::Class(5),
        },
        Request {
            image: 2,
            target: Target::Class(900),
        },
        // Image 1 again, for its predicted class.
        Request {
            image: 1,
            target: Target::Predicted,
        },
    ];
    let batch = cam::gradients(&layer, &x, &requests).unwrap();
    assert_eq!(batch.image, vec![0, 1, 2, 1]);
    assert_eq!(batch.class[1], 5);
    assert_eq!(batch.class[2], 900);
    assert_eq!(batch.predicted[1], batch.predicted[3]);
    assert_eq!(batch.class[3], batch.predicted[3]);
    for (m, r) in requests.iter().enumerate() {
        let one = x.narrow(0, r.image as i64, 1);
        let single = cam::gradients(
            &layer,
            &one,
            &[Request {
                image: 0,
                target: r.target,
            }],
        )
        .unwrap();
        assert_eq!(single.class[0], batch.class[m]);
        for method in CamMethod::ALL {
            let a = batch.cam(method).get(m as i64);
            let b = single.cam(method).get(0);
            let d = common::max_abs_diff(&a, &b) / b.abs().max().double_value(&[]).max(1e-12);
            assert!(
                d < 1e-4,
                "request {m} {method}: batched map differs from the single-image map by {d}"
            );
        }
    }
    // Different targets give different maps for the same image (the test can fail).
    let d = common::max_abs_diff(
        &cam::normalize(&batch.cam(CamMethod::GradCam).narrow(0, 1, 1)),
        &cam::normalize(&batch.cam(CamMethod::GradCam).narrow(0, 3, 1)),
    );
    assert!(
        d > 0.05,
        "class 5 and the predicted class give the same map ({d})"
    );
}

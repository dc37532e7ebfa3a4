//! Named layers of EfficientNet-Lite0: `head` gives the same maps as the default last feature map; earlier
//! layers give finer maps, batched like the default.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use birds_explain::cam::{self, CamLayer, CamMethod, LastFeatureMap, Request, Target};
use birds_explain::layers::Lite0Layer;
use birds_models::{EfficientNetLite0, imagenet, weights};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn lite0_layer(name: &str) -> Lite0Layer {
    let mut vs = VarStore::new(Device::Cpu);
    let model = EfficientNetLite0::new(&vs.root(), imagenet::NUM_CLASSES);
    weights::load_state_dict(&mut vs, &birds_core::paths::default_weights(), &[]).unwrap();
    Lite0Layer::from_model(vs, model, name).unwrap()
}

#[test]
fn head_equals_the_last_feature_map_and_blocks_are_finer() {
    let (_vs, model) = common::imagenet_lite0();
    tch::manual_seed(4);
    let x = Tensor::randn([2, 3, 224, 224], (Kind::Float, Device::Cpu)).clamp(-1.0, 1.0);
    let requests = [
        Request {
            image: 0,
            target: Target::Predicted,
        },
        Request {
            image: 1,
            target: Target::Class(97),
        },
    ];
    let last = cam::gradients(&LastFeatureMap(&model), &x, &requests).unwrap();
    let head = cam::gradients(&lite0_layer("head"), &x, &requests).unwrap();
    assert_eq!(head.class, last.class);
    for m in CamMethod::ALL {
        let d = common::max_abs_diff(&head.cam(m), &last.cam(m));
        assert!(d < 1e-5, "{m}: head and features differ by {d}");
    }

    let b10 = lite0_layer("blocks.10");
    assert_eq!(b10.layer_name(), "blocks.10");
    let g = cam::gradients(&b10, &x, &requests).unwrap();
    assert_eq!(g.activations.size(), vec![2, 112, 14, 14]);
    assert_eq!(g.class, last.class, "same model, same predictions");
    let d = common::max_abs_diff(&g.logits, &last.logits);
    assert!(d < 1e-4, "logits through blocks.10 differ by {d}");
    for m in CamMethod::ALL {
        let maps = g.cam(m);
        assert_eq!(maps.size(), vec![2, 14, 14]);
        assert!(maps.max().double_value(&[]) > 0.0, "{m}: empty map");
        // Batched equals one image at a time, also for a layer with a real graph behind it.
        let single = cam::gradients(
            &b10,
            &x.narrow(0, 1, 1),
            &[Request {
                image: 0,
                target: Target::Class(97),
            }],
        )
        .unwrap();
        let d = common::max_abs_diff(&maps.get(1), &single.cam(m).get(0))
            / maps.get(1).abs().max().double_value(&[]).max(1e-12);
        // Grad-CAM++ weights use the gradients' square and cube, which magnify the f32 rounding differences of a
        // batched backward pass (seen: 1.1e-4 relative); a wrong batch index gives differences of order 1.
        let tol = if m == CamMethod::GradCamPlusPlus {
            1e-3
        } else {
            1e-4
        };
        assert!(d < tol, "{m}: batched blocks.10 map differs by {d}");
    }
    // Gradients at an inner layer vary over space (unlike the last feature map, where they are W_c / hw).
    let spread = g
        .gradients
        .get(0)
        .std_dim([1i64, 2].as_slice(), false, false)
        .mean(Kind::Float)
        .double_value(&[]);
    assert!(spread > 0.0);
    let flat = last
        .gradients
        .get(0)
        .std_dim([1i64, 2].as_slice(), false, false)
        .max()
        .double_value(&[]);
    assert!(
        flat < 1e-6,
        "last-layer gradients should be spatially constant: {flat}"
    );

    assert!(
        Lite0Layer::from_model(
            VarStore::new(Device::Cpu),
            EfficientNetLite0::new(&VarStore::new(Device::Cpu).root(), 3),
            "blocks.99"
        )
        .is_err()
    );
}

//! No graph or memory growth across batches: many batches, resident memory stays within a bound, and nothing
//! accumulates in the model's parameter gradients (the leak pytorch-grad-cam users meet with hooks).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use birds_explain::cam::{self, CamLayer, CamMethod, LastFeatureMap, Request};
use tch::{Device, Kind, Tensor};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A cheap layer with large activations (`[N, 32, 128, 128]`, 2 MB per image), so that any leak of activations,
/// gradients or graph shows up in resident memory within a few batches.
struct WideConv {
    conv: Tensor,
    head: Tensor,
}

impl CamLayer for WideConv {
    fn layer_name(&self) -> String {
        "wide".into()
    }
    fn activations(&self, xs: &Tensor) -> birds_explain::Result<Tensor> {
        Ok(xs
            .conv2d(&self.conv, None::<&Tensor>, [1, 1], [1, 1], [1, 1], 1)
            .relu())
    }
    fn logits_from_activations(&self, a: &Tensor) -> birds_explain::Result<Tensor> {
        // A non-linear head so that the backward pass has a real graph to free.
        Ok(a.square()
            .mean_dim([2i64, 3].as_slice(), false, Kind::Float)
            .matmul(&self.head))
    }
}

#[test]
fn many_batches_do_not_grow_memory() {
    birds_core::runtime::tune_malloc();
    tch::manual_seed(1);
    let wide = WideConv {
        conv: Tensor::randn([32, 3, 3, 3], (Kind::Float, Device::Cpu)).set_requires_grad(true),
        head: Tensor::randn([32, 10], (Kind::Float, Device::Cpu)).set_requires_grad(true),
    };
    let run = |layer: &dyn CamLayer, i: i64, n: i64, side: i64| {
        tch::manual_seed(i);
        let x = Tensor::randn([n, 3, side, side], (Kind::Float, Device::Cpu));
        let g = cam::gradients(layer, &x, &Request::predicted(n as usize)).unwrap();
        let maps = cam::normalize(&cam::upsample(
            &g.cam(CamMethod::GradCamPlusPlus),
            side,
            side,
        ));
        maps.sum(Kind::Float).double_value(&[])
    };
    for i in 0..5 {
        run(&wide, i, 4, 128);
    }
    // Two windows of 20 batches: the allocator may still settle in the first (its pools grow to the working
    // set, which malloc tuning then keeps), a leak grows both alike.
    let before = rss_bytes();
    let mut total: f64 = (0..20).map(|i| run(&wide, i, 4, 128)).sum();
    let middle = rss_bytes();
    total += (20..40).map(|i| run(&wide, i, 4, 128)).sum::<f64>();
    let after = rss_bytes();
    let growth = after as i64 - before as i64;
    let late = after as i64 - middle as i64;
    eprintln!(
        "wide layer: RSS growth {growth} bytes over 40 batches, {late} over the last 20 (maps sum {total:.1})"
    );
    assert!(total > 0.0);
    // Leaking one batch's activations (8 MB) or gradients (8 MB) would grow each window by ≥ 160 MB (keeping
    // every `Gradients` alive, as a probe, grew it by 2 GB over 100 batches).
    assert!(
        late < 32 << 20,
        "resident memory grew by {late} bytes over the last 20 batches"
    );
    assert!(
        growth < 96 << 20,
        "resident memory grew by {growth} bytes over 40 batches"
    );
    assert!(
        !wide.conv.grad().defined() && !wide.head.grad().defined(),
        "parameters accumulated gradients"
    );

    // The real model: same checks on fewer batches (a leak of one batch's input alone is 1.2 MB).
    let (vs, model) = common::imagenet_lite0();
    let lite = LastFeatureMap(&model);
    for i in 0..2 {
        run(&lite, i, 2, 224);
    }
    let before = rss_bytes();
    let total: f64 = (0..8).map(|i| run(&lite, i, 2, 224)).sum();
    let growth = rss_bytes() as i64 - before as i64;
    eprintln!("Lite0: RSS growth {growth} bytes over 8 batches (maps sum {total:.1})");
    assert!(
        growth < 16 << 20,
        "resident memory grew by {growth} bytes over 8 Lite0 batches"
    );
    for (name, t) in vs.variables() {
        assert!(
            !t.grad().defined(),
            "parameter {name} accumulated a gradient"
        );
    }
}

//! Measures what `birds_core::runtime::tune_malloc` buys on CPU: EfficientNet-Lite0 eval (batch 32, no grad) and
//! train steps (batch 16, SGD), alternating glibc's default malloc settings and the tuned ones in one process
//! (so machine load affects both alike), reporting medians.
//!
//! `cargo run --release -p birds-models --example malloc_effect [-- ROUNDS]`
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    unsafe_code
)]

use std::time::Instant;

use birds_models::{EfficientNetLite0, ImageClassifier};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

fn set_malloc(tuned: bool) {
    // glibc defaults: M_MMAP_MAX 65536, M_TRIM_THRESHOLD 128 KiB (dynamic threshold re-enabled by the reset).
    unsafe {
        if tuned {
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        } else {
            libc::mallopt(libc::M_MMAP_MAX, 65536);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
            libc::malloc_trim(0);
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = EfficientNetLite0::new(&vs.root(), 30);
    let mut opt = nn::Sgd {
        momentum: 0.9,
        ..Default::default()
    }
    .build(&vs, 1e-3)
    .unwrap();
    let eval_x = Tensor::randn([32, 3, 224, 224], (Kind::Float, Device::Cpu));
    let train_x = Tensor::randn([16, 3, 224, 224], (Kind::Float, Device::Cpu));
    let train_y = Tensor::randint(30, [16], (Kind::Int64, Device::Cpu));
    let (mut eval, mut train) = ([vec![], vec![]], [vec![], vec![]]);
    // warm-up
    let _ = tch::no_grad(|| model.logits(&eval_x, false));
    for _ in 0..rounds {
        for tuned in [false, true] {
            set_malloc(tuned);
            let t = Instant::now();
            for _ in 0..2 {
                let _ = tch::no_grad(|| model.logits(&eval_x, false));
            }
            eval[tuned as usize].push(64.0 / t.elapsed().as_secs_f64());
            let t = Instant::now();
            for _ in 0..3 {
                let loss = model
                    .logits(&train_x, true)
                    .cross_entropy_for_logits(&train_y);
                opt.backward_step(&loss);
            }
            train[tuned as usize].push(48.0 / t.elapsed().as_secs_f64());
        }
    }
    let threads = tch::get_num_threads();
    println!("EfficientNet-Lite0, {threads} threads, {rounds} rounds, medians (images/s)");
    println!("| workload | glibc default | tuned (mmap off, no trim) | ratio |");
    println!("|---|---|---|---|");
    for (name, v) in [("eval, batch 32", &eval), ("train step, batch 16", &train)] {
        let (a, b) = (median(v[0].clone()), median(v[1].clone()));
        println!("| {name} | {a:.1} | {b:.1} | {:.2}x |", b / a);
    }
}

//! Grad-CAM speed of birds on a fixed input batch, for `scripts/bench/gradcam_vs_pytorch_grad_cam.py`.
//!
//! Reads `input` (`[N, 3, H, W]`, normalised) from a safetensors file, computes for the predicted class of each
//! image the Grad-CAM map of ImageNet EfficientNet-Lite0's last feature map, upsampled to `H × W` and min-max
//! normalised (what pytorch-grad-cam's `GradCAM.__call__` returns), in batches; repeats the whole pass and prints
//! the median ms/image as JSON. Writes `cams` (`[N, H, W]`) and `targets` to the output file.
//!
//! ```text
//! cargo run --release -p birds-explain --example bench_gradcam -- IN.safetensors OUT.safetensors [BATCH] [REPEATS] [METHOD]
//! ```
#![allow(clippy::print_stdout)]

use std::time::Instant;

use anyhow::{Context, Result, bail};
use birds_explain::cam::{self, CamMethod, LastFeatureMap, Request};
use birds_models::{EfficientNetLite0, imagenet, weights};
use tch::nn::VarStore;
use tch::{Device, Tensor};

fn main() -> Result<()> {
    birds_core::runtime::tune_malloc();
    if let Some(n) = std::env::var("BIRDS_THREADS")
        .ok()
        .and_then(|s| s.parse::<i32>().ok())
    {
        tch::set_num_threads(n);
    }
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: bench_gradcam IN.safetensors OUT.safetensors [BATCH] [REPEATS] [METHOD]");
    }
    let batch: i64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(16);
    let repeats: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let method: CamMethod = args
        .get(5)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(CamMethod::GradCam);
    let input = Tensor::read_safetensors(&args[1])?
        .into_iter()
        .find(|(n, _)| n == "input")
        .map(|(_, t)| t)
        .context("no `input` tensor")?;
    let (n, h, w) = (input.size()[0], input.size()[2], input.size()[3]);
    let mut vs = VarStore::new(Device::Cpu);
    let model = EfficientNetLite0::new(&vs.root(), imagenet::NUM_CLASSES);
    weights::load_state_dict(&mut vs, &birds_core::paths::default_weights(), &[])?;
    let layer = LastFeatureMap(&model);
    let run = || -> Result<(Tensor, Vec<i64>)> {
        let mut cams = Vec::new();
        let mut targets = Vec::new();
        for start in (0..n).step_by(batch as usize) {
            let x = input.narrow(0, start, batch.min(n - start));
            let g = cam::gradients(&layer, &x, &Request::predicted(x.size()[0] as usize))?;
            cams.push(cam::normalize(&cam::upsample(&g.cam(method), h, w)));
            targets.extend(g.class);
        }
        Ok((Tensor::cat(&cams, 0), targets))
    };
    let (cams, targets) = run()?; // warm-up
    let mut times = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        let _ = run()?;
        times.push(t.elapsed().as_secs_f64() * 1000.0 / n as f64);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Tensor::write_safetensors(
        &[("cams", &cams), ("targets", &Tensor::from_slice(&targets))],
        &args[2],
    )?;
    println!(
        "{}",
        serde_json::json!({"ms_per_image": median, "runs_ms_per_image": times, "images": n, "batch": batch,
            "threads": tch::get_num_threads(), "method": method.as_str()})
    );
    Ok(())
}

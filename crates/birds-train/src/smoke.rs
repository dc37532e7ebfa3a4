//! A few EfficientNet-Lite0 fine-tune steps on a synthetic batch: the CUDA smoke check (`just cuda-smoke`) and the
//! train-step benchmark against PyTorch (`scripts/bench/train_step.sh`).
//!
//! A step is exactly what fine-tuning does in its main phase: forward in training mode (BatchNorm batch statistics,
//! drop-connect, dropout), label-smoothed cross-entropy, backward through every layer, AdamW update. On CUDA the
//! forward runs under autocast (float16) with dynamic loss scaling and the batch is copied from pinned memory.
//! With [`SmokeOptions::forward`] a step is an eval-mode forward pass without gradients instead (the
//! forward benchmark against PyTorch).

use birds_models::{ArchitectureExt, DeviceExt};
use std::time::Instant;

use birds_models::Architecture;
use birds_models::runtime::DeviceSpec;
use serde::Serialize;
use tch::nn::VarStore;
use tch::{Device, Kind, Reduction, Tensor};

use crate::optim::{LossScaler, Optimizer};
use crate::params::OptimizerKind;
use crate::trainer::to_device;
use crate::{Result, TrainError};

/// What to run.
#[derive(Debug, Clone)]
pub struct SmokeOptions {
    /// Device.
    pub device: DeviceSpec,
    /// Timed steps.
    pub steps: usize,
    /// Untimed steps first (allocator and cuDNN warm-up).
    pub warmup_steps: usize,
    /// Batch size.
    pub batch_size: i64,
    /// Square input side.
    pub size: i64,
    /// Classes of the head.
    pub classes: i64,
    /// Autocast + loss scaling on CUDA.
    pub amp: bool,
    /// Time eval-mode forward passes without gradients (inference) instead of train steps.
    pub forward: bool,
}

impl Default for SmokeOptions {
    fn default() -> Self {
        Self {
            device: DeviceSpec::Auto,
            steps: 20,
            warmup_steps: 3,
            batch_size: 32,
            size: 224,
            classes: 30,
            amp: true,
            forward: false,
        }
    }
}

/// What it measured.
#[derive(Debug, Clone, Serialize)]
pub struct SmokeReport {
    /// `train-step` or `forward`.
    pub mode: &'static str,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Whether autocast ran.
    pub amp: bool,
    /// Batch size.
    pub batch_size: i64,
    /// Input side.
    pub size: i64,
    /// Timed steps.
    pub steps: usize,
    /// libtorch intra-op threads.
    pub threads: i32,
    /// Images per second over the timed steps (trained on, or only forwarded with `forward`).
    pub images_per_s: f64,
    /// Milliseconds per step.
    pub step_ms: f64,
    /// Loss of the first and the last step (the synthetic batch is learnable, so it falls).
    pub loss_first: f64,
    /// Loss of the last step.
    pub loss_last: f64,
    /// Steps skipped by the loss scaler (float16 overflow).
    pub skipped_steps: usize,
    /// CUDA: the most device memory in use after any step, MiB (total − free from `cudaMemGetInfo`: includes the
    /// CUDA context and the caching allocator's reserve, so it is an upper bound of what the tensors needed).
    pub peak_device_memory_mib: Option<f64>,
    /// CUDA: device memory in use before the model was built, MiB (other processes and the context).
    pub baseline_device_memory_mib: Option<f64>,
}

/// Device memory in use (total − free) in bytes, via `cudaMemGetInfo` of the CUDA runtime libtorch loaded.
#[allow(unsafe_code)]
pub fn cuda_memory_in_use() -> Option<u64> {
    type MemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> i32;
    for name in ["libcudart.so.13", "libcudart.so.12", "libcudart.so"] {
        let c = std::ffi::CString::new(name).ok()?;
        // SAFETY: dlopen with a valid C string; RTLD_NOLOAD only returns an already loaded library.
        let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
        if handle.is_null() {
            continue;
        }
        let sym = std::ffi::CString::new("cudaMemGetInfo").ok()?;
        // SAFETY: handle is valid; the symbol, if present, has the cudaMemGetInfo signature.
        let f = unsafe { libc::dlsym(handle, sym.as_ptr()) };
        if f.is_null() {
            continue;
        }
        // SAFETY: non-null symbol of the documented type `cudaError_t cudaMemGetInfo(size_t*, size_t*)`.
        let f: MemGetInfo = unsafe { std::mem::transmute::<*mut libc::c_void, MemGetInfo>(f) };
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: both pointers are valid for writes.
        let rc = unsafe { f(&mut free, &mut total) };
        if rc == 0 {
            return Some((total - free) as u64);
        }
    }
    None
}

/// Runs the steps and reports.
pub fn run_smoke(opts: &SmokeOptions) -> Result<SmokeReport> {
    let device = opts.device.resolve()?;
    let amp = opts.amp && device.is_cuda();
    if opts.steps == 0 || opts.batch_size < 1 || opts.size < 32 {
        return Err(TrainError::Params(
            "smoke: steps ≥ 1, batch ≥ 1 and size ≥ 32 please".into(),
        ));
    }
    if let Device::Cuda(n) = device {
        tch::Cuda::cudnn_set_benchmark(true);
        tch::Cuda::synchronize(n as i64);
    }
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let baseline = device.is_cuda().then(cuda_memory_in_use).flatten().map(mib);
    tch::manual_seed(0);
    let vs = VarStore::new(device);
    let net = Architecture::EfficientNetLite0.build(&vs.root(), opts.classes)?;
    let mut opt = Optimizer::new(OptimizerKind::Adamw, 0.01, 0.9, false);
    let mut vars: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    opt.add_group("all", 1.0, vars);
    let mut scaler = LossScaler::default();
    // A learnable synthetic batch: the label is encoded in the mean brightness of the image.
    let cpu = (Kind::Float, Device::Cpu);
    let labels =
        Tensor::arange(opts.batch_size, (Kind::Int64, Device::Cpu)).remainder(opts.classes);
    let images = Tensor::randn([opts.batch_size, 3, opts.size, opts.size], cpu) * 0.5
        + (labels.to_kind(Kind::Float) / opts.classes as f64).view([-1, 1, 1, 1]);
    let sync = || {
        if let Device::Cuda(n) = device {
            tch::Cuda::synchronize(n as i64);
        }
    };
    let (mut first, mut last, mut skipped) = (f64::NAN, f64::NAN, 0usize);
    let mut peak: Option<u64> = None;
    let mut start = Instant::now();
    for i in 0..opts.warmup_steps + opts.steps {
        if i == opts.warmup_steps {
            sync();
            start = Instant::now();
        }
        let x = to_device(&images, device);
        let y = to_device(&labels, device);
        let loss = if opts.forward {
            tch::no_grad(|| {
                let logits = tch::autocast(amp, || net.logits(&x, false)).to_kind(Kind::Float);
                logits.cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, -100, 0.1)
            })
        } else {
            opt.zero_grad();
            let logits = tch::autocast(amp, || net.logits(&x, true)).to_kind(Kind::Float);
            let loss = logits.cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, -100, 0.1);
            let apply = if amp {
                (&loss * scaler.scale).backward();
                scaler.unscale(&mut opt)
            } else {
                loss.backward();
                true
            };
            if apply {
                opt.step(1e-3);
            } else {
                skipped += 1;
            }
            loss
        };
        let value = loss.double_value(&[]);
        if i == 0 {
            first = value;
        }
        last = value;
        if device.is_cuda() {
            sync();
            peak = peak.max(cuda_memory_in_use());
        }
    }
    sync();
    let seconds = start.elapsed().as_secs_f64();
    let images = (opts.steps as i64 * opts.batch_size) as f64;
    Ok(SmokeReport {
        mode: if opts.forward {
            "forward"
        } else {
            "train-step"
        },
        device: match device {
            Device::Cuda(n) => format!("cuda:{n}"),
            _ => "cpu".into(),
        },
        amp,
        batch_size: opts.batch_size,
        size: opts.size,
        steps: opts.steps,
        threads: tch::get_num_threads(),
        images_per_s: images / seconds,
        step_ms: 1000.0 * seconds / opts.steps as f64,
        loss_first: first,
        loss_last: last,
        skipped_steps: skipped,
        peak_device_memory_mib: peak.map(mib),
        baseline_device_memory_mib: baseline,
    })
}

//! One module per torch command; each has `Args` (clap) and `run`.

pub mod diagnose;
pub mod evaluate;
pub mod explain;
pub mod export;
pub mod imagenet;
pub mod info;
pub mod predict;
pub mod train;

/// Process-wide state set up once before a command runs.
#[derive(Debug)]
pub struct Runtime {
    /// Why CUDA libraries did not load, if they did not (CPU-only libtorch, no driver…).
    pub cuda_load_error: Option<String>,
}

impl Runtime {
    /// Loads CUDA kernels when present and sets the thread count.
    pub fn start(threads: Option<usize>) -> Self {
        let cuda_load_error = birds_models::runtime::load_cuda().err();
        if let Some(reason) = &cuda_load_error {
            tracing::debug!(%reason, "CUDA libraries not loaded; CPU only");
        }
        if let Some(n) = threads.filter(|&n| n > 0) {
            tch::set_num_threads(i32::try_from(n).unwrap_or(i32::MAX));
        }
        Self { cuda_load_error }
    }
}

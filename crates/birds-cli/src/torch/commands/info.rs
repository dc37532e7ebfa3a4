//! `birds info`.

use birds_models::runtime::runtime_info;
use serde::Serialize;

use super::Runtime;

/// Arguments of `birds info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Info {
    birds: &'static str,
    #[serde(flatten)]
    runtime: birds_models::runtime::RuntimeInfo,
    weights: String,
    weights_present: bool,
}

/// Prints versions, devices, threads and the weights location.
pub fn run(rt: &Runtime, args: Args) -> anyhow::Result<()> {
    let weights = birds_core::paths::default_weights();
    let info = Info {
        birds: birds_core::VERSION,
        runtime: runtime_info(rt.cuda_load_error.clone()),
        weights_present: weights.is_file(),
        weights: weights.display().to_string(),
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    let r = &info.runtime;
    outln!("birds      {}", info.birds);
    outln!("tch        {}", r.tch);
    outln!("libtorch   {} ({})", r.libtorch, r.libtorch_lib);
    match (&r.cuda_available, &r.cuda_load_error) {
        (true, _) => outln!(
            "cuda       available, {} device(s), cudnn {}",
            r.cuda_devices,
            r.cudnn_available
        ),
        (false, Some(why)) => {
            outln!("cuda       not available (CUDA libraries not loaded: {why})")
        }
        (false, None) => outln!("cuda       not available (no device)"),
    }
    outln!("threads    {}", r.threads);
    let state = if info.weights_present {
        ""
    } else {
        "  [missing: run `just setup`]"
    };
    outln!("weights    {}{state}", info.weights);
    Ok(())
}

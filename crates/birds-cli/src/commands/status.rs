//! `birds status`: which stages are stale and why.

use birds_pipeline::hash::HashCache;
use birds_pipeline::lockfile::LockFile;

use super::run::pipeline_arg;

/// Arguments of `birds status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline: a name (pipelines/NAME.yaml, searched from the current folder upwards) or a path.
    #[arg(default_value = "default", value_name = "PIPELINE")]
    pipeline: String,

    /// Show only these stages and what they need upstream (as `birds run PIPELINE TARGET…` would run them).
    #[arg(value_name = "TARGET")]
    targets: Vec<String>,

    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Prints every stage, up to date or stale with the dep, param or out that made it so.
pub fn run(args: Args) -> anyhow::Result<()> {
    let registry = crate::stages::builtin();
    let file = pipeline_arg(&args.pipeline)?;
    let pipeline = birds_pipeline::load(&file, &registry, &[])?;
    let lock = LockFile::read(&pipeline.lock_path())?;
    let cache = HashCache::for_pipeline(&pipeline);
    let set = if args.targets.is_empty() {
        (0..pipeline.stages.len()).collect()
    } else {
        let opts = birds_pipeline::RunOptions {
            targets: args.targets.clone(),
            ..Default::default()
        };
        birds_pipeline::runner::select(&pipeline, &opts)?.0
    };
    let stages = birds_pipeline::status::status_of(&pipeline, &lock, &cache, &set)?;
    if let Err(e) = cache.save() {
        tracing::debug!(%e, "hash memo not saved");
    }
    let stale = stages.iter().filter(|s| s.stale).count();
    if args.json {
        let doc = serde_json::json!({
            "pipeline": pipeline.name,
            "file": file,
            "lock": pipeline.lock_path(),
            "stale": stale,
            "stages": stages,
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let width = stages.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in &stages {
        if s.stale {
            let why: Vec<String> = s.reasons.iter().map(ToString::to_string).collect();
            outln!("{:<width$}  stale: {}", s.name, why.join("; "));
        } else {
            outln!("{:<width$}  up to date", s.name);
        }
    }
    if stale == 0 {
        outln!("pipeline `{}`: everything up to date", pipeline.name);
    } else {
        outln!(
            "pipeline `{}`: {stale} of {} stages stale; `birds run {}` updates them",
            pipeline.name,
            stages.len(),
            std::iter::once(args.pipeline.as_str())
                .chain(args.targets.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}

//! `birds run`: run the stale stages of a pipeline.

use std::collections::HashMap;

use anyhow::Context;
use birds_pipeline::{Event, RunOptions};

/// Arguments of `birds run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline: a name (pipelines/NAME.yaml, searched from the current folder upwards) or a path.
    #[arg(default_value = "default", value_name = "PIPELINE")]
    pipeline: String,

    /// Stages to bring up to date, with everything they need upstream (the stale ones run), nothing downstream:
    /// `birds run default evaluate`. The pipeline comes first, so name it to give targets. With --force the
    /// targets and all their upstream stages run.
    #[arg(value_name = "TARGET", conflicts_with_all = ["stage", "from"])]
    targets: Vec<String>,

    /// Run only this stage (repeatable), not its upstream; says when its upstream is stale.
    #[arg(long = "stage", short = 's', value_name = "STAGE")]
    stage: Vec<String>,

    /// Run this stage even if it is up to date, then the stale stages downstream of it (repeatable).
    #[arg(long, value_name = "STAGE")]
    from: Vec<String>,

    /// Let stages replace outs that exist although birds did not write them (by default such a stage is refused,
    /// so nothing of yours is deleted); birds owns them from then on.
    #[arg(long)]
    overwrite_outs: bool,

    /// With --stage: also run the stages downstream of it.
    #[arg(long, requires = "stage")]
    downstream: bool,

    /// Run the selected stages even when they are up to date.
    #[arg(long, short = 'f')]
    force: bool,

    /// Say what would run and why; run nothing, write nothing but the hash memo.
    #[arg(long, short = 'n')]
    dry_run: bool,

    /// Override a param for this run: STAGE.KEY=VALUE, VALUE read as YAML (repeatable).
    #[arg(long = "set", value_name = "STAGE.KEY=VALUE")]
    set: Vec<String>,

    /// Run up to N independent stages at once (0: one per CPU core).
    #[arg(short = 'j', long = "jobs", default_value_t = 1, value_name = "N")]
    jobs: usize,

    /// Fail at once if another `birds run` of this pipeline is running, instead of waiting for it.
    #[arg(long)]
    no_wait: bool,
}

/// Loads the pipeline, runs it and prints one line per stage event.
pub fn run(args: Args) -> anyhow::Result<()> {
    let clock = std::time::Instant::now();
    let registry = crate::stages::builtin();
    let file = pipeline_arg(&args.pipeline)?;
    let pipeline = birds_pipeline::load(&file, &registry, &args.set)?;
    let jobs = match args.jobs {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let opts = RunOptions {
        targets: args.targets,
        stages: args.stage,
        from: args.from,
        downstream: args.downstream,
        force: args.force,
        dry_run: args.dry_run,
        jobs,
        wait: !args.no_wait,
        overwrite_outs: args.overwrite_outs,
    };
    let width = pipeline
        .stages
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0);
    let logs: HashMap<String, String> = pipeline
        .stages
        .iter()
        .map(|s| (s.name.clone(), pipeline.shown(&pipeline.log_path(&s.name))))
        .collect();
    let print = |e: Event| match e {
        Event::Waiting { holder } => eprintln!(
            "pipeline `{}` is being run by another `birds run` ({holder}); waiting for it to finish (--no-wait fails instead)",
            pipeline.name
        ),
        Event::UpstreamStale {
            stage,
            upstream,
            reasons,
        } => eprintln!(
            "warning: `{stage}` runs alone but its upstream `{upstream}` is stale ({}); run without --stage to update it",
            join(&reasons)
        ),
        Event::UpToDate { stage } => outln!("{stage:<width$}  up to date"),
        Event::WouldRun { stage, reasons } => {
            outln!("{stage:<width$}  would run: {}", join(&reasons))
        }
        Event::Started { stage, reasons } => {
            outln!("{stage:<width$}  running: {}", join(&reasons))
        }
        Event::Finished { stage, seconds } => {
            outln!("{stage:<width$}  done in {}", human_seconds(seconds))
        }
        Event::Failed { stage, error, .. } => {
            let log = logs.get(&stage).cloned().unwrap_or_default();
            outln!("{stage:<width$}  FAILED: {error}\n  log: {log}")
        }
        Event::NotStarted { stage } => {
            outln!("{stage:<width$}  not started (an earlier stage failed)")
        }
    };
    let summary = birds_pipeline::run(&pipeline, &opts, &print)
        .with_context(|| format!("pipeline {}", file.display()))?;
    tracing::info!(
        files_hashed = summary.files_hashed,
        ms = clock.elapsed().as_millis() as u64,
        "run finished"
    );
    let took = human_seconds(clock.elapsed().as_secs_f64());
    if args.dry_run {
        outln!(
            "dry run: {} would run, {} up to date ({took})",
            summary.would_run.len(),
            summary.up_to_date.len()
        );
    } else {
        outln!(
            "{} ran, {} up to date ({took})",
            summary.ran.len(),
            summary.up_to_date.len()
        );
    }
    Ok(())
}

/// Resolves the PIPELINE argument (a name or a path) against the current folder.
pub fn pipeline_arg(arg: &str) -> anyhow::Result<std::path::PathBuf> {
    let cwd = std::env::current_dir().context("reading the current folder")?;
    Ok(birds_pipeline::find_pipeline(arg, &cwd)?)
}

fn join(reasons: &[birds_pipeline::status::Reason]) -> String {
    reasons
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn human_seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.1} s")
    }
}

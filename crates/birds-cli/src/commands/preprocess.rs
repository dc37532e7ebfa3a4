//! `birds preprocess`: decode and resize images once into a training cache; `birds preprocess preview`: a PNG grid
//! of one image under 16 augmentations.

use std::path::PathBuf;

use anyhow::Context;
use birds_preprocess::preview::{augmentation_grid, write_png};
use birds_preprocess::{AugmentParams, PreprocessParams, ResizeFilter, ResizeMode, RunOptions};

/// Arguments of `birds preprocess`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    build: BuildArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Write a PNG grid of one image under N augmentations (what the train loader would draw).
    Preview(PreviewArgs),
}

/// Resize params; each flag overrides the params file.
#[derive(Debug, clap::Args)]
struct ResizeArgs {
    /// Side the model trains at, in pixels [default: 224].
    #[arg(long, value_name = "PX")]
    size: Option<u32>,
    /// How non-square images become square: `shorter-side+center-crop` or `stretch` [default:
    /// shorter-side+center-crop].
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    mode: Option<ResizeMode>,
    /// Extra pixels stored around SIZE for random crops (stored side = SIZE + MARGIN) [default: 0].
    #[arg(long, value_name = "PX")]
    margin: Option<u32>,
    /// Resampling filter: bilinear, bicubic or lanczos3 [default: bilinear].
    #[arg(long, value_name = "FILTER", value_parser = parse_filter)]
    filter: Option<ResizeFilter>,
    /// Images per shard file (the unit held in memory at once) [default: 256].
    #[arg(long, value_name = "N")]
    shard_images: Option<usize>,
    /// YAML file of preprocess params (`size`, `mode`, `margin`, `filter`, `shard_images`); flags override it.
    #[arg(long, value_name = "FILE")]
    params: Option<PathBuf>,
}

fn parse_mode(s: &str) -> Result<ResizeMode, String> {
    s.parse()
        .map_err(|e: birds_preprocess::PreprocessError| e.to_string())
}

fn parse_filter(s: &str) -> Result<ResizeFilter, String> {
    s.parse()
        .map_err(|e: birds_preprocess::PreprocessError| e.to_string())
}

impl ResizeArgs {
    fn params(&self) -> anyhow::Result<PreprocessParams> {
        let mut p = match &self.params {
            Some(path) => PreprocessParams::from_yaml_file(path)?,
            None => PreprocessParams::default(),
        };
        if let Some(v) = self.size {
            p.size = v;
        }
        if let Some(v) = self.mode {
            p.mode = v;
        }
        if let Some(v) = self.margin {
            p.margin = v;
        }
        if let Some(v) = self.filter {
            p.filter = v;
        }
        if let Some(v) = self.shard_images {
            p.shard_images = v;
        }
        p.validate()?;
        Ok(p)
    }
}

#[derive(Debug, clap::Args)]
struct BuildArgs {
    /// The ingest output folder (holding images.parquet), or the images.parquet file.
    #[arg(long, value_name = "DIR", required = true)]
    index: Option<PathBuf>,
    /// Output folder for the cache (shards, preprocessed.parquet, failures.json, cache.json).
    #[arg(long, value_name = "DIR", required = true)]
    out: Option<PathBuf>,
    #[command(flatten)]
    resize: ResizeArgs,
    /// Do not show a progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct PreviewArgs {
    /// The image to augment.
    #[arg(value_name = "IMG")]
    image: PathBuf,
    /// Output PNG.
    #[arg(long, value_name = "PNG")]
    out: PathBuf,
    /// Augmentation params (YAML: crop_scale, crop_ratio, hflip, rotation, brightness, contrast, saturation);
    /// defaults when absent.
    #[arg(long, value_name = "FILE")]
    augment: Option<PathBuf>,
    /// Seed of the augmentation draws (tile i is epoch i of sample 0).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of augmented tiles.
    #[arg(long, default_value_t = 16)]
    count: usize,
    #[command(flatten)]
    resize: ResizeArgs,
}

/// Runs `birds preprocess` or `birds preprocess preview`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Some(Action::Preview(p)) => preview(p),
        None => build(args.build),
    }
}

fn build(args: BuildArgs) -> anyhow::Result<()> {
    let (Some(index), Some(out)) = (args.index, args.out) else {
        anyhow::bail!("--index and --out are required");
    };
    let params = args.resize.params()?;
    let summary = birds_preprocess::preprocess(
        &index,
        &out,
        &params,
        RunOptions {
            progress: !args.quiet,
            threads: 0,
        },
    )
    .with_context(|| format!("preprocessing {} into {}", index.display(), out.display()))?;
    outln!(
        "{} images cached in {} shard(s) at {}x{} px ({:.1} MB) in {:.1} s ({:.0} images/s)",
        summary.images,
        summary.shards,
        params.stored_side(),
        params.stored_side(),
        summary.pixel_bytes as f64 / 1e6,
        summary.seconds,
        summary.images as f64 / summary.seconds.max(1e-9),
    );
    if summary.failures + summary.skipped_ingest > 0 {
        outln!(
            "{} skipped (ingest marked {} undecodable, {} failed here): see {}",
            summary.failures + summary.skipped_ingest,
            summary.skipped_ingest,
            summary.failures,
            out.join(birds_preprocess::manifest::FAILURES_FILE)
                .display()
        );
    }
    outln!("{}", out.display());
    Ok(())
}

fn preview(args: PreviewArgs) -> anyhow::Result<()> {
    let params = args.resize.params()?;
    let augment = match &args.augment {
        Some(path) => AugmentParams::from_yaml_file(path)?,
        None => AugmentParams::default(),
    };
    let grid = augmentation_grid(&args.image, &params, &augment, args.seed, args.count)?;
    write_png(&args.out, &grid)?;
    outln!("{}", args.out.display());
    Ok(())
}

//! Times `birds synth` into a temporary folder:
//! `cargo run --release -p birds-synth --example synth_speed [-- CLASSES PER_CLASS SIZE [OUT]]` (defaults: 10
//! species × 60 images at 224 px; with OUT, the dataset is kept there: OUT must be absent or empty), or
//! `… --example synth_speed -- full PER_CLASS [OUT]`: the `--preset full` shape (525 species, odd sizes, label
//! quirk, near-duplicates) with PER_CLASS images per species (PER_CLASS − 2 train, 1 valid, 1 test) instead of
//! ≈ 171, to measure the rate on a subset.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use birds_synth::{DatasetShape, SynthParams, SynthSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let (params, shape, keep) = if raw.first().map(String::as_str) == Some("full") {
        let per_class: usize = raw.get(1).map(|a| a.parse()).transpose()?.unwrap_or(10);
        let (fp, fs) = SynthSpec::full().parts();
        let counts = birds_synth::train_counts(&fp, &fs);
        let total: usize = counts.iter().sum();
        println!(
            "--preset full would draw {total} training images ({}..={} per species, mean {:.1}) + {} valid + {} test",
            counts.iter().min().copied().unwrap_or(0),
            counts.iter().max().copied().unwrap_or(0),
            total as f64 / counts.len().max(1) as f64,
            fp.classes * fp.valid,
            fp.classes * fp.test
        );
        let spec = SynthSpec {
            train: per_class.saturating_sub(2).max(1),
            train_max: 0,
            train_mean: 0,
            valid: 1,
            test: 1,
            ..SynthSpec::full()
        };
        let (p, s) = spec.parts();
        (p, s, raw.get(2).map(std::path::PathBuf::from))
    } else {
        let keep = raw.get(3).map(std::path::PathBuf::from);
        let args: Vec<usize> = raw
            .iter()
            .take(3)
            .map(|a| a.parse())
            .collect::<Result<_, _>>()?;
        let d = SynthParams::default();
        let classes = args.first().copied().unwrap_or(d.classes);
        let per_class = args.get(1).copied().unwrap_or(d.train + d.valid + d.test);
        let size = args.get(2).copied().unwrap_or(d.size as usize);
        let p = SynthParams {
            classes,
            train: per_class * 4 / 6,
            valid: per_class / 6,
            test: per_class - per_class * 4 / 6 - per_class / 6,
            size: u32::try_from(size)?,
            ..d
        };
        (p, DatasetShape::default(), keep)
    };
    let dir = tempfile::tempdir()?;
    let start = Instant::now();
    let out = keep.unwrap_or_else(|| dir.path().to_path_buf());
    let summary = birds_synth::generate_shaped(&params, &shape, &out)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} images ({} species, {} px) in {secs:.2} s: {:.0} images/s on {} rayon threads",
        summary.total(),
        params.classes,
        params.size,
        summary.total() as f64 / secs,
        rayon::current_num_threads()
    );
    Ok(())
}

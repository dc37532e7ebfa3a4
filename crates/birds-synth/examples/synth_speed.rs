//! Times `birds synth` with its defaults (10 species × 60 images at 224 px) into a temporary folder:
//! `cargo run --release -p birds-synth --example synth_speed [-- CLASSES PER_CLASS SIZE [OUT]]` (with OUT, the
//! dataset is kept there: OUT must be absent or empty).
#![allow(clippy::print_stdout)]

use std::time::Instant;

use birds_synth::SynthParams;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
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
    let params = SynthParams {
        classes,
        train: per_class * 4 / 6,
        valid: per_class / 6,
        test: per_class - per_class * 4 / 6 - per_class / 6,
        size: u32::try_from(size)?,
        ..d
    };
    let dir = tempfile::tempdir()?;
    let start = Instant::now();
    let out = keep.unwrap_or_else(|| dir.path().to_path_buf());
    let summary = birds_synth::generate(&params, &out)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} images ({classes} species, {size} px) in {secs:.2} s: {:.0} images/s on {} rayon threads",
        summary.total(),
        summary.total() as f64 / secs,
        rayon::current_num_threads()
    );
    Ok(())
}

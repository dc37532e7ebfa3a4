//! Writes the small contact sheet shown in `docs/synth.md` (PNG under 300 kB: 3 samples per species, 64 px
//! thumbnails of 224 px images):
//! `cargo run --release -p birds-synth --example docs_sheet -- docs/images/synth_contact_sheet.png`.
#![allow(clippy::print_stdout)]

use std::io::Cursor;

use birds_synth::sheet::{Row, contact_sheet};
use birds_synth::species::species;
use birds_synth::{SynthParams, generate};
use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).ok_or("usage: docs_sheet OUT.png")?;
    let params = SynthParams {
        train: 3,
        valid: 0,
        test: 0,
        ..SynthParams::default()
    };
    let dir = tempfile::tempdir()?;
    generate(&params, dir.path())?;
    let mut list = species(params.classes).ok_or("classes")?;
    list.sort_by(|a, b| a.label.cmp(&b.label));
    let mut samples = Vec::new();
    for s in &list {
        let mut row = Vec::new();
        for i in 1..=params.train {
            let rel = format!("train/{}/{i:03}.jpg", s.label);
            let img = image::open(dir.path().join(&rel))?.to_rgb8();
            let mask =
                image::open(dir.path().join(birds_synth::truth::mask_path_for(&rel)))?.to_luma8();
            row.push((img, mask));
        }
        samples.push(row);
    }
    let rows: Vec<Row<'_>> = list
        .iter()
        .zip(&samples)
        .map(|(s, row)| Row {
            species: s,
            samples: row.iter().collect(),
        })
        .collect();
    let sheet = contact_sheet(&rows, 64);
    let mut buf = Cursor::new(Vec::new());
    PngEncoder::new_with_quality(&mut buf, CompressionType::Best, FilterType::Adaptive)
        .write_image(
            sheet.as_raw(),
            sheet.width(),
            sheet.height(),
            image::ExtendedColorType::Rgb8,
        )?;
    let bytes = buf.into_inner();
    if bytes.len() >= 300_000 {
        return Err(format!(
            "{} bytes: over the 300 kB budget of a README figure",
            bytes.len()
        )
        .into());
    }
    birds_core::atomic::write_bytes(std::path::Path::new(&out), &bytes)?;
    println!(
        "{out}: {}×{} px, {} bytes",
        sheet.width(),
        sheet.height(),
        bytes.len()
    );
    Ok(())
}

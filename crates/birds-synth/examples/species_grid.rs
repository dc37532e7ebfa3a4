//! Draws the canonical individual of every species in a grid, numbered in catalog order, to look at how distinct
//! they are: `cargo run --release -p birds-synth --example species_grid -- OUT.png [N [FROM [CELL]]]` (default: all 525
//! of `--preset full`; FROM skips the first species). Cells of CELL px (64), 25 per row; a magenta frame marks a
//! second-generation look-alike twin (it differs from the species before it in one visible part).
#![allow(clippy::print_stdout)]

use birds_synth::font::draw_text;
use birds_synth::scene::portrait;
use birds_synth::species::{FIRST_GENERATION, species, visible_differences};
use image::{Rgb, RgbImage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or("usage: species_grid OUT.png [N [FROM [CELL]]]")?;
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(525);
    let from: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(0);
    let cell: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let list = species(n).ok_or("too many species")?;
    let shown = n.saturating_sub(from) as u32;
    let (cols, label) = (shown.clamp(1, 25), 9u32);
    let rows = shown.div_ceil(cols);
    let mut img = RgbImage::from_pixel(
        cols * (cell + 2),
        rows * (cell + label + 2),
        Rgb([34, 36, 40]),
    );
    for (k, s) in list.iter().enumerate().skip(from) {
        let i = (k - from) as u32;
        let (x, y) = ((i % cols) * (cell + 2), (i / cols) * (cell + label + 2));
        let p = portrait(s, cell);
        image::imageops::replace(&mut img, &p, i64::from(x), i64::from(y + label));
        let twin = k > FIRST_GENERATION && visible_differences(s, &list[k - 1]) == 1;
        let colour = if twin { [255, 0, 255] } else { [236, 236, 236] };
        draw_text(&mut img, &(k + 1).to_string(), x + 1, y + 1, 1, colour);
        if twin {
            for t in 0..cell {
                for (px, py) in [
                    (x + t, y + label),
                    (x + t, y + label + cell - 1),
                    (x, y + label + t),
                    (x + cell - 1, y + label + t),
                ] {
                    img.put_pixel(px, py, Rgb([255, 0, 255]));
                }
            }
        }
    }
    img.save(&out)?;
    let twins = (from.max(FIRST_GENERATION + 1)..n)
        .filter(|&k| visible_differences(&list[k], &list[k - 1]) == 1)
        .count();
    println!(
        "{out}: {shown} species ({twins} look-alike twins), {}×{} px",
        img.width(),
        img.height()
    );
    Ok(())
}

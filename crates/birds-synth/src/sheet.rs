//! The contact sheet: one row per species — its label, the canonical individual, sample images, and the first
//! sample with its ground-truth mask outlined (magenta) and bounding box (yellow).

use image::imageops::{self, FilterType};
use image::{GrayImage, Rgb, RgbImage};

use crate::font::{draw_text, text_width};
use crate::scene::portrait;
use crate::species::Species;

/// One row of the sheet.
#[derive(Debug)]
pub struct Row<'a> {
    /// The species.
    pub species: &'a Species,
    /// Sample images with their masks (the first few of a split).
    pub samples: Vec<&'a (RgbImage, GrayImage)>,
}

const BG: [u8; 3] = [34, 36, 40];
const FG: [u8; 3] = [236, 236, 236];
const PAD: u32 = 6;

/// Draws the sheet with square thumbnails of `thumb` pixels.
pub fn contact_sheet(rows: &[Row<'_>], thumb: u32) -> RgbImage {
    let scale = if thumb >= 64 { 2 } else { 1 };
    let line = 7 * scale;
    let label_w = rows
        .iter()
        .map(|r| text_width(&r.species.label, scale))
        .max()
        .unwrap_or(0)
        .max(text_width("SPECIES", scale))
        + 2 * PAD;
    let samples = rows.iter().map(|r| r.samples.len()).max().unwrap_or(0) as u32;
    let cols = 1 + samples + u32::from(samples > 0);
    let header = line + 2 * PAD;
    let width = label_w + cols * (thumb + PAD) + PAD;
    let height = header + rows.len() as u32 * (thumb + PAD) + PAD;
    let mut img = RgbImage::from_pixel(width, height, Rgb(BG));
    let col_x = |c: u32| label_w + c * (thumb + PAD);
    draw_text(&mut img, "SPECIES", PAD, PAD, scale, FG);
    draw_text(&mut img, "CANONICAL", col_x(0), PAD, scale.min(1), FG);
    if samples > 0 {
        draw_text(&mut img, "SAMPLES", col_x(1), PAD, scale, FG);
        draw_text(&mut img, "MASK/BOX", col_x(cols - 1), PAD, scale.min(1), FG);
    }
    for (i, row) in rows.iter().enumerate() {
        let y = header + i as u32 * (thumb + PAD);
        let ty = y + (thumb.saturating_sub(line)) / 2;
        draw_text(&mut img, &row.species.label, PAD, ty, scale, FG);
        let portrait = portrait(row.species, thumb);
        imageops::replace(&mut img, &portrait, i64::from(col_x(0)), i64::from(y));
        for (j, (sample, _)) in row.samples.iter().enumerate() {
            let t = imageops::resize(sample, thumb, thumb, FilterType::Triangle);
            imageops::replace(&mut img, &t, i64::from(col_x(1 + j as u32)), i64::from(y));
        }
        if let Some((sample, mask)) = row.samples.first() {
            let small = imageops::resize(sample, thumb, thumb, FilterType::Triangle);
            let small_mask = imageops::resize(mask, thumb, thumb, FilterType::Nearest);
            let overlay = outline(&small, &small_mask);
            imageops::replace(&mut img, &overlay, i64::from(col_x(cols - 1)), i64::from(y));
        }
    }
    img
}

/// `img` with the mask's boundary in magenta and its bounding box in yellow.
fn outline(img: &RgbImage, mask: &GrayImage) -> RgbImage {
    let mut out = img.clone();
    let (w, h) = mask.dimensions();
    let inside = |x: i64, y: i64| {
        x >= 0
            && y >= 0
            && x < i64::from(w)
            && y < i64::from(h)
            && mask.get_pixel(x as u32, y as u32).0[0] > 127
    };
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in 0..h {
        for x in 0..w {
            let (xi, yi) = (i64::from(x), i64::from(y));
            if !inside(xi, yi) {
                continue;
            }
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            if !(inside(xi - 1, yi)
                && inside(xi + 1, yi)
                && inside(xi, yi - 1)
                && inside(xi, yi + 1))
            {
                out.put_pixel(x, y, Rgb([255, 0, 255]));
            }
        }
    }
    if x0 <= x1 && y0 <= y1 {
        for x in x0..=x1 {
            out.put_pixel(x, y0, Rgb([255, 230, 0]));
            out.put_pixel(x, y1, Rgb([255, 230, 0]));
        }
        for y in y0..=y1 {
            out.put_pixel(x0, y, Rgb([255, 230, 0]));
            out.put_pixel(x1, y, Rgb([255, 230, 0]));
        }
    }
    out
}

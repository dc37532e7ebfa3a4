//! Drawing maps: turbo colour map, alpha blending over the image, a caption strip, side-by-side panels.
//!
//! A map here is a [`Heatmap`]: row-major values in [0, 1] at the size of the image it is drawn over (upsample and
//! normalise with [`crate::cam::upsample`] and [`crate::cam::normalize`] first, or use [`Heatmap::from_cam`]).

use image::{Rgb, RgbImage};
use tch::{Kind, Tensor};

use crate::cam;
use crate::font;
use crate::{ExplainError, Result};

/// A map in [0, 1], row-major, `width × height`.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height` values, row-major.
    pub values: Vec<f32>,
}

impl Heatmap {
    /// Upsamples a raw map `[h, w]` (bilinear, half-pixel centres) to `width × height` and min-max normalises it.
    pub fn from_cam(raw: &Tensor, width: u32, height: u32) -> Result<Heatmap> {
        let size = raw.size();
        if size.len() != 2 {
            return Err(ExplainError::Invalid(format!(
                "a map has shape {size:?}: expected [h, w]"
            )));
        }
        let up = cam::upsample(
            &raw.to_kind(Kind::Float).unsqueeze(0),
            height.into(),
            width.into(),
        );
        let norm = cam::normalize(&up)
            .flatten(0, -1)
            .to_device(tch::Device::Cpu);
        Ok(Heatmap {
            width,
            height,
            values: Vec::<f32>::try_from(norm)?,
        })
    }

    /// The value at `(x, y)`.
    pub fn at(&self, x: u32, y: u32) -> f32 {
        self.values[(y * self.width + x) as usize]
    }

    /// The first pixel holding the largest value, `(x, y)`.
    pub fn peak(&self) -> (u32, u32) {
        let mut best = 0;
        for (i, &v) in self.values.iter().enumerate() {
            if v > self.values[best] {
                best = i;
            }
        }
        (best as u32 % self.width, best as u32 / self.width)
    }
}

/// The turbo colour map (Mikhailov 2019) at `t` ∈ [0, 1], from its published degree-5 polynomial fit:
/// dark blue → cyan → green → yellow → red.
pub fn turbo(t: f32) -> [u8; 3] {
    let x = f64::from(t.clamp(0.0, 1.0));
    let p = [1.0, x, x * x, x * x * x, x * x * x * x, x * x * x * x * x];
    let r = [
        0.13572138,
        4.61539260,
        -42.66032258,
        132.13108234,
        -152.94239396,
        59.28637943,
    ];
    let g = [
        0.09140261,
        2.19418839,
        4.84296658,
        -14.18503333,
        4.27729857,
        2.82956604,
    ];
    let b = [
        0.10667330,
        12.64194608,
        -60.58204836,
        110.36276771,
        -89.90310912,
        27.34824973,
    ];
    let dot = |c: &[f64; 6]| -> u8 {
        let v: f64 = c.iter().zip(&p).map(|(a, b)| a * b).sum();
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    };
    [dot(&r), dot(&g), dot(&b)]
}

/// `(1 − alpha)·image + alpha·turbo(map)` per pixel. The map must have the image's size.
pub fn overlay(image: &RgbImage, map: &Heatmap, alpha: f32) -> Result<RgbImage> {
    if (image.width(), image.height()) != (map.width, map.height) {
        return Err(ExplainError::Invalid(format!(
            "map is {}×{}, image {}×{}",
            map.width,
            map.height,
            image.width(),
            image.height()
        )));
    }
    let a = alpha.clamp(0.0, 1.0);
    let mut out = image.clone();
    for (x, y, px) in out.enumerate_pixels_mut() {
        let c = turbo(map.at(x, y));
        for ch in 0..3 {
            px[ch] = (f32::from(px[ch]) * (1.0 - a) + f32::from(c[ch]) * a).round() as u8;
        }
    }
    Ok(out)
}

/// Draws a small crosshair (white with a dark outline) at `(x, y)`.
pub fn mark_peak(img: &mut RgbImage, x: u32, y: u32) {
    let arm = (img.width().max(img.height()) / 40).max(3) as i64;
    let put = |img: &mut RgbImage, px: i64, py: i64, c: [u8; 3]| {
        if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
            img.put_pixel(px as u32, py as u32, Rgb(c));
        }
    };
    let (x, y) = (i64::from(x), i64::from(y));
    for d in -arm..=arm {
        for o in [-1i64, 1] {
            put(img, x + d, y + o, [0, 0, 0]);
            put(img, x + o, y + d, [0, 0, 0]);
        }
    }
    for d in -arm..=arm {
        put(img, x + d, y, [255, 255, 255]);
        put(img, x, y + d, [255, 255, 255]);
    }
}

/// Draws the outline of a boolean mask (same size as `img`, row-major) in `colour`.
pub fn outline_mask(img: &mut RgbImage, mask: &[bool], colour: [u8; 3]) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if mask.len() != w * h {
        return;
    }
    for y in 0..h {
        for x in 0..w {
            if !mask[y * w + x] {
                continue;
            }
            let edge = x == 0
                || y == 0
                || x + 1 == w
                || y + 1 == h
                || !mask[y * w + x - 1]
                || !mask[y * w + x + 1]
                || !mask[(y - 1) * w + x]
                || !mask[(y + 1) * w + x];
            if edge {
                img.put_pixel(x as u32, y as u32, Rgb(colour));
            }
        }
    }
}

/// One caption line and its colour.
pub type CaptionLine = (String, [u8; 3]);

/// Text colour for neutral caption lines.
pub const WHITE: [u8; 3] = [240, 240, 240];
/// Caption colour of a correct prediction.
pub const GREEN: [u8; 3] = [120, 220, 120];
/// Caption colour of a wrong prediction.
pub const RED: [u8; 3] = [255, 120, 110];
/// Caption colour of secondary information.
pub const GREY: [u8; 3] = [170, 170, 170];

/// Font scale for an image `width` pixels wide: 2 from 400 px up, else 1.
pub fn caption_scale(width: u32) -> u32 {
    if width >= 400 { 2 } else { 1 }
}

/// `img` with a dark strip below it holding `lines` (each shortened to fit).
pub fn with_caption(img: &RgbImage, lines: &[CaptionLine]) -> RgbImage {
    let scale = caption_scale(img.width());
    let pad = 3 * scale;
    let line_h = (font::GLYPH_HEIGHT + 3) * scale;
    let strip = pad * 2 + line_h * lines.len() as u32;
    let mut out = RgbImage::from_pixel(img.width(), img.height() + strip, Rgb([24, 24, 28]));
    image::imageops::replace(&mut out, img, 0, 0);
    for (i, (text, colour)) in lines.iter().enumerate() {
        let text = font::fit(text, img.width().saturating_sub(2 * pad), scale);
        font::draw_text(
            &mut out,
            &text,
            pad,
            img.height() + pad + i as u32 * line_h,
            scale,
            *colour,
        );
    }
    out
}

/// Places images side by side (top-aligned) with `gap` pixels between them on a dark background.
pub fn hstack(images: &[RgbImage], gap: u32) -> RgbImage {
    let width =
        images.iter().map(|i| i.width()).sum::<u32>() + gap * images.len().saturating_sub(1) as u32;
    let height = images.iter().map(|i| i.height()).max().unwrap_or(0);
    let mut out = RgbImage::from_pixel(width.max(1), height.max(1), Rgb([24, 24, 28]));
    let mut x = 0i64;
    for img in images {
        image::imageops::replace(&mut out, img, x, 0);
        x += i64::from(img.width() + gap);
    }
    out
}

/// A title strip above `img`.
pub fn with_title(img: &RgbImage, title: &str, colour: [u8; 3]) -> RgbImage {
    let scale = caption_scale(img.width()).max(2).min(img.width() / 300 + 1);
    let pad = 4 * scale;
    let strip = font::GLYPH_HEIGHT * scale + 2 * pad;
    let mut out = RgbImage::from_pixel(img.width(), img.height() + strip, Rgb([24, 24, 28]));
    image::imageops::replace(&mut out, img, 0, i64::from(strip));
    let text = font::fit(title, img.width().saturating_sub(2 * pad), scale);
    font::draw_text(&mut out, &text, pad, pad, scale, colour);
    out
}

/// A vertical turbo colour bar, `width × height`, high values at the top.
pub fn colour_bar(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |_, y| {
        let t = 1.0 - y as f32 / (height.max(2) - 1) as f32;
        Rgb(turbo(t))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turbo_runs_from_blue_to_red() {
        let lo = turbo(0.0);
        let blue = turbo(0.15);
        let mid = turbo(0.5);
        let hi = turbo(1.0);
        assert!(
            lo.iter().map(|&c| u32::from(c)).sum::<u32>() < 120,
            "{lo:?}"
        );
        assert!(blue[2] > blue[0] && blue[2] > blue[1], "{blue:?}");
        assert!(mid[1] > mid[2] && mid[1] > 180, "{mid:?}");
        assert!(hi[0] > hi[1] && hi[0] > hi[2], "{hi:?}");
        assert_eq!(turbo(-3.0), lo);
        assert_eq!(turbo(7.0), hi);
    }

    #[test]
    fn heatmap_from_cam_upsamples_normalises_and_peaks() -> Result<()> {
        let raw = Tensor::from_slice(&[0.0f32, 1.0, 0.0, 3.0]).view([2, 2]);
        let m = Heatmap::from_cam(&raw, 8, 8)?;
        assert_eq!(m.values.len(), 64);
        let max = m.values.iter().cloned().fold(f32::MIN, f32::max);
        let min = m.values.iter().cloned().fold(f32::MAX, f32::min);
        assert!((max - 1.0).abs() < 1e-5 && min.abs() < 1e-6);
        // The peak lies in the bottom-right quadrant (where the 3 is).
        let (x, y) = m.peak();
        assert!(x >= 4 && y >= 4, "({x}, {y})");
        assert!(Heatmap::from_cam(&raw.view([4]), 8, 8).is_err());
        Ok(())
    }

    #[test]
    fn overlay_blends_and_caption_adds_a_strip() -> Result<()> {
        let img = RgbImage::from_pixel(4, 2, Rgb([0, 0, 0]));
        let map = Heatmap {
            width: 4,
            height: 2,
            values: vec![1.0; 8],
        };
        let out = overlay(&img, &map, 0.5)?;
        let red = turbo(1.0);
        assert_eq!(
            out.get_pixel(0, 0)[0],
            (f32::from(red[0]) * 0.5).round() as u8
        );
        assert!(overlay(&RgbImage::new(3, 3), &map, 0.5).is_err());
        let big = RgbImage::new(100, 50);
        let c = with_caption(&big, &[("TRUE: A".into(), WHITE), ("PRED: B".into(), RED)]);
        assert_eq!(c.width(), 100);
        assert!(c.height() > 50 + 2 * font::GLYPH_HEIGHT);
        let s = hstack(&[big.clone(), big], 4);
        assert_eq!((s.width(), s.height()), (204, 50));
        Ok(())
    }

    #[test]
    fn mask_outline_draws_only_edges() {
        let mut img = RgbImage::new(5, 5);
        let mut mask = vec![false; 25];
        for y in 1..4 {
            for x in 1..4 {
                mask[y * 5 + x] = true;
            }
        }
        outline_mask(&mut img, &mask, [255, 0, 0]);
        assert_eq!(img.get_pixel(2, 2)[0], 0, "interior");
        assert_eq!(img.get_pixel(1, 1)[0], 255, "edge");
        assert_eq!(img.get_pixel(0, 0)[0], 0, "outside");
    }
}

//! 64-bit DCT perceptual hash (pHash), as defined by Zauner (2010) and implemented by Python's `imagehash.phash`:
//!
//! 1. convert to 8-bit luma and reduce to 32×32 by averaging the pixels of each cell (a box filter over the
//!    whole source area, so no detail is skipped; smaller images are enlarged by repeating pixels);
//! 2. take the 2-D DCT-II of the 32×32 block and keep the 8×8 lowest frequencies;
//! 3. bit `63 − (8·u + v)` is set when coefficient `(u, v)` is above the median of those 64 coefficients.
//!
//! Resizing, re-encoding and mild colour changes move few bits; different pictures differ in about 32.
//! Compare hashes with [`distance`].

use std::sync::OnceLock;

use image::DynamicImage;

/// Side of the block the image is reduced to before the DCT.
const N: usize = 32;
/// Side of the low-frequency block kept.
const K: usize = 8;

/// Hamming distance between two hashes (number of differing bits, 0–64).
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// The pHash of a decoded image (any colour type; alpha is ignored).
pub fn phash(img: &DynamicImage) -> u64 {
    let luma = img.to_luma8();
    let (w, h) = (luma.width() as usize, luma.height() as usize);
    phash_of_block(&reduce(luma.as_raw(), w, h))
}

/// Averages `w`×`h` 8-bit pixels (row-major) down to an N×N block. Written out by hand rather than with
/// `image::imageops::resize` because generic image code is compiled with this crate's settings, and unoptimised
/// (debug and test builds) it was 20× slower than the decode itself.
fn reduce(pixels: &[u8], w: usize, h: usize) -> [[f64; N]; N] {
    let bounds = |i: usize, len: usize| {
        let lo = i * len / N;
        let hi = ((i + 1) * len / N).max(lo + 1).min(len);
        (lo.min(len.saturating_sub(1)), hi)
    };
    let mut block = [[0f64; N]; N];
    if w == 0 || h == 0 || pixels.len() < w * h {
        return block;
    }
    let cols: Vec<(usize, usize)> = (0..N).map(|i| bounds(i, w)).collect();
    for (oy, out_row) in block.iter_mut().enumerate() {
        let (y0, y1) = bounds(oy, h);
        let mut sums = [0u64; N];
        for y in y0..y1 {
            let row = &pixels[y * w..(y + 1) * w];
            for (sum, &(x0, x1)) in sums.iter_mut().zip(&cols) {
                *sum += row[x0..x1].iter().map(|&p| u64::from(p)).sum::<u64>();
            }
        }
        for ((out, sum), &(x0, x1)) in out_row.iter_mut().zip(sums).zip(&cols) {
            *out = sum as f64 / ((x1 - x0) * (y1 - y0)) as f64;
        }
    }
    block
}

/// The hash of an already reduced 32×32 luma block (`block[row][column]`).
fn phash_of_block(block: &[[f64; N]; N]) -> u64 {
    let c = cosines();
    // Rows first: tmp[y][v] = Σ_x block[y][x]·cos(v, x), for the K lowest horizontal frequencies.
    let mut tmp = [[0f64; K]; N];
    for (y, row) in block.iter().enumerate() {
        for v in 0..K {
            tmp[y][v] = row.iter().zip(&c[v]).map(|(p, w)| p * w).sum();
        }
    }
    // Then columns: coef[u][v] = Σ_y cos(u, y)·tmp[y][v].
    let mut coef = [0f64; K * K];
    for u in 0..K {
        for v in 0..K {
            coef[u * K + v] = (0..N).map(|y| c[u][y] * tmp[y][v]).sum();
        }
    }
    let median = median64(&coef);
    coef.iter()
        .enumerate()
        .filter(|(_, value)| **value > median)
        .fold(0u64, |hash, (i, _)| hash | (1u64 << (63 - i)))
}

/// The DCT-II basis `cos(π·(2x + 1)·u / 2N)` for the K lowest frequencies. Unnormalised, like
/// `scipy.fftpack.dct` that `imagehash` uses: a common scale factor does not change which coefficients lie above
/// the median.
fn cosines() -> &'static [[f64; N]; K] {
    static COS: OnceLock<[[f64; N]; K]> = OnceLock::new();
    COS.get_or_init(|| {
        let mut c = [[0f64; N]; K];
        for (u, row) in c.iter_mut().enumerate() {
            for (x, w) in row.iter_mut().enumerate() {
                *w = (std::f64::consts::PI * (2 * x + 1) as f64 * u as f64 / (2 * N) as f64).cos();
            }
        }
        c
    })
}

/// Median of 64 values (mean of the two middle ones, as numpy does).
fn median64(values: &[f64; K * K]) -> f64 {
    let mut sorted = *values;
    sorted.sort_by(f64::total_cmp);
    (sorted[K * K / 2 - 1] + sorted[K * K / 2]) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::FilterType;
    use image::{ImageBuffer, Rgb, RgbImage};

    /// A smooth pseudo-random picture: a few blobs whose placement depends on `seed`.
    fn picture(seed: u64, w: u32, h: u32) -> RgbImage {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let blobs: Vec<(f64, f64, f64, f64)> = (0..6)
            .map(|_| (next(), next(), 0.05 + 0.2 * next(), next() * 2.0 - 1.0))
            .collect();
        ImageBuffer::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f64 / w as f64, y as f64 / h as f64);
            let v: f64 = blobs
                .iter()
                .map(|(cx, cy, r, a)| {
                    a * (-((fx - cx).powi(2) + (fy - cy).powi(2)) / (r * r)).exp()
                })
                .sum();
            let g = (128.0 + 100.0 * v).clamp(0.0, 255.0) as u8;
            Rgb([g, g / 2 + 60, 255 - g])
        })
    }

    #[test]
    fn resized_and_reencoded_copy_is_close_different_picture_is_far() {
        let a = DynamicImage::ImageRgb8(picture(1, 160, 120));
        let resized = a.resize_exact(97, 73, FilterType::Lanczos3);
        let mut jpeg = Vec::new();
        let encoded = resized.write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        );
        assert!(encoded.is_ok());
        let reencoded = image::load_from_memory(&jpeg).unwrap_or(resized);
        let b = DynamicImage::ImageRgb8(picture(2, 160, 120));
        let (ha, hr, hb) = (phash(&a), phash(&reencoded), phash(&b));
        assert!(distance(ha, hr) <= 4, "copy distance {}", distance(ha, hr));
        assert!(
            distance(ha, hb) >= 12,
            "different picture distance {}",
            distance(ha, hb)
        );
    }

    #[test]
    fn bit_depth_and_alpha_do_not_matter() {
        let rgb = DynamicImage::ImageRgb8(picture(3, 64, 64));
        let as16 = DynamicImage::ImageRgb16(rgb.to_rgb16());
        assert_eq!(phash(&rgb), phash(&as16));
        let rgba = DynamicImage::ImageRgba8(rgb.to_rgba8());
        assert_eq!(phash(&rgb), phash(&rgba));
        let gray = DynamicImage::ImageLuma8(rgb.to_luma8());
        assert_eq!(phash(&rgb), phash(&gray));
    }

    #[test]
    fn reduce_averages_cells_and_enlarges_small_images() {
        // 64×64 → 32×32: each cell is a 2×2 mean.
        let pixels: Vec<u8> = (0..64 * 64)
            .map(|i| ((i % 64) * 2 + (i / 64) % 2) as u8)
            .collect();
        let b = reduce(&pixels, 64, 64);
        assert_eq!(b[0][0], (0.0 + 2.0 + 1.0 + 3.0) / 4.0);
        assert_eq!(b[5][31], (124.0 + 126.0 + 125.0 + 127.0) / 4.0);
        // 2×1 → every cell repeats one source pixel.
        let b = reduce(&[10, 250], 2, 1);
        assert_eq!(
            (b[0][0], b[31][15], b[7][16], b[31][31]),
            (10.0, 10.0, 250.0, 250.0)
        );
        // A flat image stays flat at any size.
        let b = reduce(&vec![77u8; 227 * 227], 227, 227);
        assert!(b.iter().flatten().all(|&v| v == 77.0));
    }

    #[test]
    fn matches_direct_dct_definition() {
        // A hand-computed 2-D DCT of a known block gives the same bits as the separable version.
        let mut block = [[0f64; N]; N];
        for (y, row) in block.iter_mut().enumerate() {
            for (x, p) in row.iter_mut().enumerate() {
                *p = ((x * 7 + y * 13) % 31) as f64 + (x as f64 / 3.0).sin() * 20.0;
            }
        }
        let mut coef = [0f64; K * K];
        for u in 0..K {
            for v in 0..K {
                let mut s = 0.0;
                for (y, row) in block.iter().enumerate() {
                    for (x, p) in row.iter().enumerate() {
                        s += p
                            * (std::f64::consts::PI * (2 * y + 1) as f64 * u as f64 / 64.0).cos()
                            * (std::f64::consts::PI * (2 * x + 1) as f64 * v as f64 / 64.0).cos();
                    }
                }
                coef[u * K + v] = s;
            }
        }
        let median = median64(&coef);
        let mut expected = 0u64;
        for (i, c) in coef.iter().enumerate() {
            if *c > median {
                expected |= 1 << (63 - i);
            }
        }
        assert_eq!(phash_of_block(&block), expected);
        assert_eq!(
            expected.count_ones(),
            32,
            "median splits 64 distinct values in half"
        );
    }
}

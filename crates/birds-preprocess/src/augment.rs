//! On-the-fly augmentation of cached images: random resized crop, horizontal flip, small rotation and colour
//! jitter, each drawn deterministically from `(seed, epoch, sample)`.
//!
//! A [`Transform`] is one augmented view. Its geometry (crop box, flip, rotation) is a single affine map from
//! output pixels to source pixels, sampled bilinearly in one pass (edges repeat outside the source); the colour
//! jitter then runs in place on the result. [`Transform::render`] writes planar RGB (`[3, side, side]`) floats in
//! `0..=255`; the loader normalises them, [`crate::preview`] rounds them to bytes.

use crate::params::AugmentParams;

use birds_core::rng::{GOLDEN, mix64};

/// A small deterministic generator (SplitMix64) keyed by `(seed, epoch, sample, stream)`.
///
/// The same key gives the same sequence on every platform and thread, so augmentations and shuffles never depend
/// on scheduling.
#[derive(Debug, Clone)]
pub struct SampleRng {
    state: u64,
}

impl SampleRng {
    /// The generator for one `(seed, epoch, sample, stream)` key.
    pub fn new(seed: u64, epoch: u64, sample: u64, stream: u64) -> Self {
        let mut h = mix64(seed.wrapping_add(GOLDEN));
        h = mix64(h ^ epoch.wrapping_add(GOLDEN.wrapping_mul(2)));
        h = mix64(h ^ sample.wrapping_add(GOLDEN.wrapping_mul(3)));
        h = mix64(h ^ stream.wrapping_add(GOLDEN.wrapping_mul(4)));
        Self { state: h }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)` (`lo` when the range is empty).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in `0..n` (`n > 0`), without modulo bias worth caring about at these sizes.
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 11) as u128 * n as u128) >> 53) as usize
    }
}

/// Fisher–Yates shuffle of `items` keyed by `(seed, epoch)`.
pub fn shuffle<T>(items: &mut [T], seed: u64, epoch: u64) {
    let mut rng = SampleRng::new(seed, epoch, u64::MAX, u64::MAX);
    for i in (1..items.len()).rev() {
        let j = rng.below(i + 1);
        items.swap(i, j);
    }
}

/// One view of a square source image: geometry plus colour factors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// Crop centre in source pixel coordinates (`0..side`, pixel `i` spans `[i, i+1)`).
    pub center: (f32, f32),
    /// Crop width and height in source pixels (before rotation).
    pub crop: (f32, f32),
    /// Mirror left–right.
    pub flip: bool,
    /// Rotation of the crop box in degrees (counter-clockwise in image coordinates).
    pub angle: f32,
    /// Brightness factor (1 = unchanged).
    pub brightness: f32,
    /// Contrast factor (1 = unchanged).
    pub contrast: f32,
    /// Saturation factor (1 = unchanged).
    pub saturation: f32,
}

impl Transform {
    /// The centred `crop`×`crop` square of a `side`×`side` source, on whole pixels (the eval view): with
    /// `crop == out side` rendering copies pixels exactly.
    pub fn center_crop(side: u32, crop: u32) -> Self {
        let crop = crop.min(side);
        let off = ((side - crop) / 2) as f32;
        let half = crop as f32 / 2.0;
        Self {
            center: (off + half, off + half),
            crop: (crop as f32, crop as f32),
            flip: false,
            angle: 0.0,
            brightness: 1.0,
            contrast: 1.0,
            saturation: 1.0,
        }
    }

    /// The augmentation of sample `sample` in epoch `epoch` under `seed`, for a `side`×`side` source.
    ///
    /// Crop as torchvision's `RandomResizedCrop` (10 tries, then a centred crop with the ratio clamped), on
    /// continuous coordinates; the crop draws and the other draws come from separate streams, so changing
    /// e.g. `hflip` leaves every crop unchanged.
    pub fn sample(params: &AugmentParams, side: u32, seed: u64, epoch: u64, sample: u64) -> Self {
        let s = f64::from(side);
        let area = s * s;
        let mut crop_rng = SampleRng::new(seed, epoch, sample, 0);
        let (lr0, lr1) = (
            f64::from(params.crop_ratio[0]).ln(),
            f64::from(params.crop_ratio[1]).ln(),
        );
        let mut found = None;
        for _ in 0..10 {
            let target = area
                * crop_rng.range(
                    f64::from(params.crop_scale[0]),
                    f64::from(params.crop_scale[1]),
                );
            let aspect = crop_rng.range(lr0, lr1).exp();
            let w = (target * aspect).sqrt();
            let h = (target / aspect).sqrt();
            if w > 0.0 && h > 0.0 && w <= s && h <= s {
                let left = crop_rng.range(0.0, s - w);
                let top = crop_rng.range(0.0, s - h);
                found = Some((left + w / 2.0, top + h / 2.0, w, h));
                break;
            }
        }
        let (cx, cy, w, h) = found.unwrap_or_else(|| {
            // Fallback: the whole image with the aspect ratio clamped into range.
            let r0 = f64::from(params.crop_ratio[0]);
            let r1 = f64::from(params.crop_ratio[1]);
            let (w, h) = if 1.0 < r0 {
                (s, s / r0)
            } else if 1.0 > r1 {
                (s * r1, s)
            } else {
                (s, s)
            };
            (s / 2.0, s / 2.0, w, h)
        });
        let mut rng = SampleRng::new(seed, epoch, sample, 1);
        let flip = rng.uniform() < f64::from(params.hflip);
        let angle = rng.range(-f64::from(params.rotation), f64::from(params.rotation)) as f32;
        let mut factor = |strength: f32| {
            let f = rng.range(1.0 - f64::from(strength), 1.0 + f64::from(strength)) as f32;
            if strength == 0.0 { 1.0 } else { f }
        };
        let brightness = factor(params.brightness);
        let contrast = factor(params.contrast);
        let saturation = factor(params.saturation);
        Self {
            center: (cx as f32, cy as f32),
            crop: (w as f32, h as f32),
            flip,
            angle: if params.rotation == 0.0 { 0.0 } else { angle },
            brightness,
            contrast,
            saturation,
        }
    }

    /// Whether rendering at `out` side is an exact pixel copy (no resampling, no colour change).
    fn is_copy(&self, out: u32) -> Option<(usize, usize)> {
        let o = out as f32;
        let left = self.center.0 - self.crop.0 / 2.0;
        let top = self.center.1 - self.crop.1 / 2.0;
        let exact = !self.flip
            && self.angle == 0.0
            && self.crop == (o, o)
            && left.fract() == 0.0
            && top.fract() == 0.0
            && left >= 0.0
            && top >= 0.0
            && self.brightness == 1.0
            && self.contrast == 1.0
            && self.saturation == 1.0;
        exact.then_some((left as usize, top as usize))
    }

    /// Renders the view of `src` (`side`×`side`×3 bytes, HWC) as planar RGB floats in `0..=255` into `dst`
    /// (`3 × out × out`: all R, then all G, then all B).
    ///
    /// Panics if `src` or `dst` has the wrong length (both are sized by the loader, never by user input).
    pub fn render(&self, src: &[u8], side: u32, out: u32, dst: &mut [f32]) {
        let (s, o) = (side as usize, out as usize);
        let plane = o * o;
        assert_eq!(src.len(), s * s * 3, "source length");
        assert_eq!(dst.len(), 3 * plane, "destination length");
        let (r_plane, rest) = dst.split_at_mut(plane);
        let (g_plane, b_plane) = rest.split_at_mut(plane);
        if let Some((left, top)) = self.is_copy(out).filter(|&(l, t)| l + o <= s && t + o <= s) {
            for y in 0..o {
                let row = &src[((top + y) * s + left) * 3..((top + y) * s + left + o) * 3];
                for (x, px) in row.chunks_exact(3).enumerate() {
                    r_plane[y * o + x] = f32::from(px[0]);
                    g_plane[y * o + x] = f32::from(px[1]);
                    b_plane[y * o + x] = f32::from(px[2]);
                }
            }
            return;
        }
        let (sin, cos) = self.angle.to_radians().sin_cos();
        let (step_x, step_y) = (self.crop.0 / out as f32, self.crop.1 / out as f32);
        let (half_w, half_h) = (self.crop.0 / 2.0, self.crop.1 / 2.0);
        let max = (s - 1) as f32;
        let sign = if self.flip { -1.0 } else { 1.0 };
        for y in 0..o {
            let v = (y as f32 + 0.5) * step_y - half_h;
            for x in 0..o {
                let u = sign * ((x as f32 + 0.5) * step_x - half_w);
                // Source position in "pixel index" space (pixel centres at integers).
                let sx = (self.center.0 + u * cos - v * sin - 0.5).clamp(0.0, max);
                let sy = (self.center.1 + u * sin + v * cos - 0.5).clamp(0.0, max);
                let (x0, y0) = (sx as usize, sy as usize); // sx, sy >= 0: truncation is floor
                let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                let x1 = (x0 + 1).min(s - 1);
                let y1 = (y0 + 1).min(s - 1);
                let (i00, i01) = ((y0 * s + x0) * 3, (y0 * s + x1) * 3);
                let (i10, i11) = ((y1 * s + x0) * 3, (y1 * s + x1) * 3);
                let (w00, w01) = ((1.0 - fx) * (1.0 - fy), fx * (1.0 - fy));
                let (w10, w11) = ((1.0 - fx) * fy, fx * fy);
                let at = |c: usize| {
                    w00 * f32::from(src[i00 + c])
                        + w01 * f32::from(src[i01 + c])
                        + w10 * f32::from(src[i10 + c])
                        + w11 * f32::from(src[i11 + c])
                };
                let p = y * o + x;
                r_plane[p] = at(0);
                g_plane[p] = at(1);
                b_plane[p] = at(2);
            }
        }
        self.jitter(r_plane, g_plane, b_plane);
    }

    /// Brightness, contrast, saturation in that order, clamping to `0..=255` after each (torchvision semantics,
    /// fixed order).
    fn jitter(&self, r: &mut [f32], g: &mut [f32], b: &mut [f32]) {
        let gray = |r: f32, g: f32, b: f32| 0.299 * r + 0.587 * g + 0.114 * b;
        if self.brightness != 1.0 {
            let f = self.brightness;
            for p in r.iter_mut().chain(g.iter_mut()).chain(b.iter_mut()) {
                *p = (*p * f).clamp(0.0, 255.0);
            }
        }
        if self.contrast != 1.0 && !r.is_empty() {
            let sum: f64 = r
                .iter()
                .zip(g.iter())
                .zip(b.iter())
                .map(|((&r, &g), &b)| f64::from(gray(r, g, b)))
                .sum();
            let mean = (sum / r.len() as f64) as f32;
            let (f, add) = (self.contrast, (1.0 - self.contrast) * mean);
            for p in r.iter_mut().chain(g.iter_mut()).chain(b.iter_mut()) {
                *p = (*p * f + add).clamp(0.0, 255.0);
            }
        }
        if self.saturation != 1.0 {
            let f = self.saturation;
            for ((pr, pg), pb) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
                let l = (1.0 - f) * gray(*pr, *pg, *pb);
                *pr = (*pr * f + l).clamp(0.0, 255.0);
                *pg = (*pg * f + l).clamp(0.0, 255.0);
                *pb = (*pb * f + l).clamp(0.0, 255.0);
            }
        }
    }
}

/// Planar floats (`[3, side, side]`, `0..=255`) → an RGB image (rounded).
pub fn planes_to_rgb(planes: &[f32], side: u32) -> image::RgbImage {
    let plane = (side * side) as usize;
    image::RgbImage::from_fn(side, side, |x, y| {
        let p = (y * side + x) as usize;
        let px = |c: usize| planes[c * plane + p].round().clamp(0.0, 255.0) as u8;
        image::Rgb([px(0), px(1), px(2)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(side: u32) -> Vec<u8> {
        let mut v = Vec::new();
        for y in 0..side {
            for x in 0..side {
                v.extend_from_slice(&[
                    (x * 7 % 256) as u8,
                    (y * 5 % 256) as u8,
                    ((x + y) % 256) as u8,
                ]);
            }
        }
        v
    }

    fn render(t: &Transform, src: &[u8], side: u32, out: u32) -> Vec<f32> {
        let mut dst = vec![0.0; (3 * out * out) as usize];
        t.render(src, side, out, &mut dst);
        dst
    }

    #[test]
    fn identity_and_center_crop_copy_pixels() {
        let src = gradient(10);
        let full = render(&Transform::center_crop(10, 10), &src, 10, 10);
        assert_eq!(
            full[0..10],
            (0..10).map(|x| (x * 7) as f32).collect::<Vec<_>>()[..]
        );
        let crop = render(&Transform::center_crop(10, 6), &src, 10, 6);
        // Top-left of the centred 6×6 is source pixel (2, 2).
        assert_eq!(crop[0], 14.0);
        assert_eq!(crop[36], 10.0);
        assert_eq!(crop[72], 4.0);
    }

    #[test]
    fn resampling_path_matches_copy_path_when_aligned() {
        let src = gradient(12);
        let copy = render(&Transform::center_crop(12, 12), &src, 12, 12);
        let mut t = Transform::center_crop(12, 12);
        t.brightness = 1.0 + f32::EPSILON; // forces the general path; factor ~1
        let general = render(&t, &src, 12, 12);
        for (a, b) in copy.iter().zip(&general) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
    }

    #[test]
    fn flip_mirrors_exactly() {
        let src = gradient(8);
        let mut t = Transform::center_crop(8, 8);
        let plain = render(&t, &src, 8, 8);
        t.flip = true;
        let flipped = render(&t, &src, 8, 8);
        for c in 0..3 {
            for y in 0..8 {
                for x in 0..8 {
                    assert_eq!(flipped[c * 64 + y * 8 + x], plain[c * 64 + y * 8 + (7 - x)]);
                }
            }
        }
    }

    #[test]
    fn rotation_by_90_degrees_turns_the_image() {
        let src = gradient(8);
        let mut t = Transform::center_crop(8, 8);
        let plain = render(&t, &src, 8, 8);
        t.angle = 90.0;
        let rot = render(&t, &src, 8, 8);
        // Output (x, y) samples source centre + R·(u, v): with 90°, source = (c - v, c + u).
        for y in 0..8 {
            for x in 0..8 {
                let (sx, sy) = (7 - y, x);
                assert!((rot[y * 8 + x] - plain[sy * 8 + sx]).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn colour_jitter_behaves() {
        let src = gradient(6);
        let mut t = Transform::center_crop(6, 6);
        t.saturation = 0.0;
        let grey = render(&t, &src, 6, 6);
        for p in 0..36 {
            assert!((grey[p] - grey[36 + p]).abs() < 1e-3 && (grey[p] - grey[72 + p]).abs() < 1e-3);
        }
        let mut t = Transform::center_crop(6, 6);
        t.brightness = 0.0;
        assert!(render(&t, &src, 6, 6).iter().all(|&v| v == 0.0));
        let mut t = Transform::center_crop(6, 6);
        t.contrast = 0.0;
        let flat = render(&t, &src, 6, 6);
        assert!(flat.iter().all(|&v| (v - flat[0]).abs() < 1e-3));
    }

    #[test]
    fn sampling_is_deterministic_and_varies() {
        let p = AugmentParams::default();
        let a = Transform::sample(&p, 256, 7, 0, 42);
        assert_eq!(a, Transform::sample(&p, 256, 7, 0, 42));
        assert_ne!(a, Transform::sample(&p, 256, 7, 1, 42));
        assert_ne!(a, Transform::sample(&p, 256, 7, 0, 43));
        assert_ne!(a, Transform::sample(&p, 256, 8, 0, 42));
        // Crops stay inside the image and within the scale range.
        for i in 0..200 {
            let t = Transform::sample(&p, 100, 1, 2, i);
            let (w, h) = t.crop;
            assert!(w <= 100.0 + 1e-3 && h <= 100.0 + 1e-3);
            assert!(t.center.0 - w / 2.0 >= -1e-3 && t.center.0 + w / 2.0 <= 100.0 + 1e-3);
            let area = w * h / 10_000.0;
            assert!((0.35 - 1e-3..=1.0 + 1e-3).contains(&area), "{area}");
            assert!(t.angle.abs() <= 10.0);
            assert!((0.8..=1.2).contains(&t.brightness));
        }
        // Changing hflip does not move crops.
        let q = AugmentParams {
            hflip: 0.0,
            ..AugmentParams::default()
        };
        let b = Transform::sample(&q, 256, 7, 0, 42);
        assert_eq!((a.center, a.crop), (b.center, b.crop));
        assert!(!b.flip);
        let none = Transform::sample(&AugmentParams::none(), 64, 3, 4, 5);
        assert_eq!(none, Transform::center_crop(64, 64));
    }

    #[test]
    fn shuffle_is_a_deterministic_permutation() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        shuffle(&mut a, 1, 0);
        shuffle(&mut b, 1, 0);
        assert_eq!(a, b);
        let mut c: Vec<u32> = (0..100).collect();
        shuffle(&mut c, 1, 1);
        assert_ne!(a, c);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(a, sorted);
    }
}

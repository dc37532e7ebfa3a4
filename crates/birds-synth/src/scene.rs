//! One picture: a cluttered background, a perch, the bird in a random pose, then camera effects.
//!
//! The background never depends on the species: its colours come from the palette shared by every species in the
//! dataset (so a distractor is as likely to wear the true species' colours as any other's), which leaves the bird
//! itself as the only reliable cue.

use image::{GrayImage, RgbImage};

use crate::bird::{self, Layer};
use crate::raster::{Canvas, Paint, Shape, Similarity, p, rgbf, shade};
use crate::rng::Rng;
use crate::species::{Colour, Species};

/// A bounding box `(x_min, y_min, x_max, y_max)` in pixels, max exclusive.
pub type BBox = (u32, u32, u32, u32);

/// A rendered image with its ground truth.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The picture (before JPEG encoding).
    pub image: RgbImage,
    /// The bird's pixels: 255 inside, 0 outside.
    pub mask: GrayImage,
    /// Bounding box of the mask `(x_min, y_min, x_max, y_max)`, max exclusive; `None` if the mask is empty.
    pub bbox: Option<BBox>,
    /// Pixels inside the mask.
    pub mask_pixels: u64,
    /// JPEG quality to encode this image with.
    pub jpeg_quality: u8,
}

/// Natural background colour pairs (top, bottom): sky, foliage, dusk, earth, haze, water.
const SCENES: [([u8; 3], [u8; 3]); 6] = [
    ([150, 190, 232], [222, 236, 248]),
    ([58, 98, 52], [150, 176, 96]),
    ([238, 172, 120], [116, 98, 160]),
    ([120, 96, 70], [204, 182, 150]),
    ([190, 192, 188], [120, 126, 130]),
    ([40, 96, 120], [130, 180, 186]),
];

/// Colours of twigs, rocks and leaves.
const NATURE: [[u8; 3]; 6] = [
    [92, 66, 42],
    [130, 104, 74],
    [70, 110, 50],
    [110, 140, 70],
    [150, 150, 140],
    [60, 62, 58],
];

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// Smooth value noise on a `g × g` grid, sampled at `(u, v)` in `[0, 1]²`, values in `[-1, 1]`.
struct ValueNoise {
    g: usize,
    v: Vec<f32>,
}

impl ValueNoise {
    fn new(rng: &mut Rng, g: usize) -> Self {
        let v = (0..(g + 1) * (g + 1))
            .map(|_| rng.range(-1.0, 1.0))
            .collect();
        Self { g, v }
    }
    fn at(&self, u: f32, v: f32) -> f32 {
        let g = self.g as f32;
        let (x, y) = ((u * g).clamp(0.0, g - 1e-3), (v * g).clamp(0.0, g - 1e-3));
        let (xi, yi) = (x as usize, y as usize);
        let (fx, fy) = (x - xi as f32, y - yi as f32);
        let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
        let n = self.g + 1;
        let a = self.v[yi * n + xi];
        let b = self.v[yi * n + xi + 1];
        let c = self.v[(yi + 1) * n + xi];
        let d = self.v[(yi + 1) * n + xi + 1];
        let top = a + (b - a) * sx;
        let bot = c + (d - c) * sx;
        top + (bot - top) * sy
    }
}

fn jitter(rng: &mut Rng, c: [u8; 3], amount: f32) -> [f32; 3] {
    let f = rgbf(c);
    [
        f[0] + rng.range(-amount, amount),
        f[1] + rng.range(-amount, amount),
        f[2] + rng.range(-amount, amount),
    ]
}

fn background(canvas: &mut Canvas, rng: &mut Rng, palette: &[Colour]) {
    let size = canvas.w.max(canvas.h) as f32;
    let (top, bottom) = SCENES[rng.below(SCENES.len())];
    let (top, bottom) = (jitter(rng, top, 25.0), jitter(rng, bottom, 25.0));
    let angle = rng.range(-0.6, 0.6) + std::f32::consts::FRAC_PI_2;
    let (dy, dx) = angle.sin_cos();
    let (gc, gf) = (2 + rng.below(4), 8 + rng.below(10));
    let coarse = ValueNoise::new(rng, gc);
    let fine = ValueNoise::new(rng, gf);
    let tints = [
        rng.range(0.7, 1.3),
        rng.range(0.7, 1.3),
        rng.range(0.7, 1.3),
    ];
    let (ca, fa) = (rng.range(12.0, 40.0), rng.range(4.0, 14.0));
    let (w, h) = (canvas.w as f32, canvas.h as f32);
    canvas.fill_fn(|x, y| {
        let (u, v) = (x / w, y / h);
        let t = (((u - 0.5) * dx + (v - 0.5) * dy) + 0.5).clamp(0.0, 1.0);
        let base = mix(top, bottom, t);
        let n = coarse.at(u, v) * ca + fine.at(u, v) * fa;
        [
            base[0] + n * tints[0],
            base[1] + n * tints[1],
            base[2] + n * tints[2],
        ]
    });

    let count = 5 + rng.below(10);
    for _ in 0..count {
        let colour = if rng.chance(0.6) && !palette.is_empty() {
            rgbf(palette[rng.below(palette.len())].rgb())
        } else {
            let base = NATURE[rng.below(NATURE.len())];
            jitter(rng, base, 15.0)
        };
        let c = p(rng.range(-0.1, 1.1) * w, rng.range(-0.1, 1.1) * h);
        let shape = match rng.below(4) {
            // Leaf or pebble.
            0 | 1 => Shape::Ellipse {
                c,
                rx: rng.range(0.03, 0.18) * size,
                ry: rng.range(0.015, 0.08) * size,
                angle: rng.range(0.0, std::f32::consts::PI),
            },
            // Shard or rock.
            2 => {
                let n = 3 + rng.below(3);
                let r = rng.range(0.04, 0.14) * size;
                let a0 = rng.range(0.0, std::f32::consts::TAU);
                Shape::Polygon(
                    (0..n)
                        .map(|i| {
                            let a = a0
                                + i as f32 * std::f32::consts::TAU / n as f32
                                + rng.range(-0.3, 0.3);
                            let rr = r * rng.range(0.6, 1.0);
                            p(c.x + rr * a.cos(), c.y + rr * a.sin())
                        })
                        .collect(),
                )
            }
            // Twig.
            _ => {
                let a = rng.range(0.0, std::f32::consts::PI);
                let l = rng.range(0.15, 0.6) * size;
                Shape::Capsule {
                    a: p(c.x - l * a.cos(), c.y - l * a.sin()),
                    b: p(c.x + l * a.cos(), c.y + l * a.sin()),
                    r: rng.range(0.006, 0.025) * size,
                }
            }
        };
        let (_, y0, _, y1) = shape.bounds();
        let paint = Paint::Linear {
            a: p(c.x, y0),
            b: p(c.x, y1),
            ca: shade(colour, 1.1),
            cb: shade(colour, 0.75),
        };
        let opacity = if rng.chance(0.3) {
            rng.range(0.45, 0.85)
        } else {
            1.0
        };
        canvas.fill(&shape, &paint, None, opacity, false);
    }
}

/// Chooses a pose that keeps the whole bird inside the image.
fn pose(rng: &mut Rng, layers: &[Layer], w: f32, h: f32) -> Similarity {
    let size = w.min(h);
    let mut t = Similarity {
        offset: p(0.0, 0.0),
        scale: size * rng.range(0.42, 0.8),
        angle: rng.range(-0.35, 0.35),
        mirror: rng.chance(0.5),
    };
    let margin = 0.02 * size;
    let (mut x0, mut y0, mut x1, mut y1) = bird::bounds(layers, &t);
    // Shrink until it fits (only large scales with strong rotation need this).
    while (x1 - x0 > w - 2.0 * margin || y1 - y0 > h - 2.0 * margin) && t.scale > 1.0 {
        t.scale *= 0.9;
        (x0, y0, x1, y1) = bird::bounds(layers, &t);
    }
    let free_x = (w - 2.0 * margin - (x1 - x0)).max(0.0);
    let free_y = (h - 2.0 * margin - (y1 - y0)).max(0.0);
    t.offset = p(
        margin + rng.unit() * free_x - x0,
        margin + rng.unit() * free_y - y0,
    );
    t
}

/// Renders one image of `species` at `size`×`size` from `rng`. `palette` is the dataset's shared colour palette
/// for distractors.
pub fn render(species: &Species, size: u32, palette: &[Colour], rng: &mut Rng) -> Rendered {
    render_wh(species, size, size, palette, rng)
}

/// [`render`] at `width`×`height` (the same draws from `rng`; `render(s, n, …)` is `render_wh(s, n, n, …)`).
pub fn render_wh(
    species: &Species,
    width: u32,
    height: u32,
    palette: &[Colour],
    rng: &mut Rng,
) -> Rendered {
    let size = width.max(height);
    let (w, h) = (width as usize, height as usize);
    let mut canvas = Canvas::new(w, h, [0.0; 3]);
    background(&mut canvas, rng, palette);
    let (layers, anchors) = bird::layers(species, Some(rng));
    let t = pose(rng, &layers, w as f32, h as f32);
    if rng.chance(0.6) {
        // A perch under the feet, drawn before the bird (not part of the mask).
        let feet = t.apply(anchors.feet);
        let a = rng.range(-0.35, 0.35) + t.angle;
        let l = size as f32;
        let r = rng.range(0.012, 0.028) * t.scale;
        let c = p(feet.x, feet.y + r * 0.6);
        let base = NATURE[rng.below(2)];
        let colour = jitter(rng, base, 15.0);
        let shape = Shape::Capsule {
            a: p(c.x - l * a.cos(), c.y - l * a.sin()),
            b: p(c.x + l * a.cos(), c.y + l * a.sin()),
            r,
        };
        let paint = Paint::Linear {
            a: p(c.x, c.y - r),
            b: p(c.x, c.y + r),
            ca: shade(colour, 1.15),
            cb: shade(colour, 0.7),
        };
        canvas.fill(&shape, &paint, None, 1.0, false);
    }
    bird::draw(&mut canvas, &layers, &t);

    // Camera: white balance, focus, sensor noise, compression.
    let gain = [
        1.0 + rng.normal() * 0.04,
        1.0 + rng.normal() * 0.04,
        1.0 + rng.normal() * 0.04,
    ];
    canvas.tint(gain);
    if rng.chance(0.6) {
        canvas.blur(rng.range(0.3, 1.1) * size as f32 / 224.0);
    }
    let sigma = rng.range(1.0, 7.0);
    canvas.add_noise(rng, sigma);
    let jpeg_quality = 60 + rng.below(36) as u8;

    let (mask, bbox, mask_pixels) = mask_of(&canvas);
    Rendered {
        image: canvas.to_rgb(),
        mask,
        bbox,
        mask_pixels,
        jpeg_quality,
    }
}

fn mask_of(canvas: &Canvas) -> (GrayImage, Option<BBox>, u64) {
    let mut mask = GrayImage::new(canvas.w as u32, canvas.h as u32);
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0u32, 0u32);
    let mut n = 0u64;
    for (i, (&c, px)) in canvas.coverage.iter().zip(mask.pixels_mut()).enumerate() {
        if c >= 0.5 {
            px.0 = [255];
            let (x, y) = ((i % canvas.w) as u32, (i / canvas.w) as u32);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x + 1);
            y1 = y1.max(y + 1);
            n += 1;
        }
    }
    let bbox = (n > 0).then_some((x0, y0, x1, y1));
    (mask, bbox, n)
}

/// The species' canonical individual, side on, centred on a plain light background (for the contact sheet).
pub fn portrait(species: &Species, size: u32) -> RgbImage {
    let s = size as f32;
    let mut canvas = Canvas::new(size as usize, size as usize, [236.0, 238.0, 240.0]);
    let (layers, _) = bird::layers(species, None);
    let mut t = Similarity {
        offset: p(0.0, 0.0),
        scale: s * 0.78,
        angle: 0.0,
        mirror: false,
    };
    let (x0, y0, x1, y1) = bird::bounds(&layers, &t);
    let k = (0.92 * s / (x1 - x0).max(y1 - y0)).min(1.0);
    t.scale *= k;
    let (x0, y0, x1, y1) = bird::bounds(&layers, &t);
    t.offset = p((s - (x1 - x0)) / 2.0 - x0, (s - (y1 - y0)) / 2.0 - y0);
    bird::draw(&mut canvas, &layers, &t);
    canvas.to_rgb()
}

//! Drawing primitives: shapes as signed distance functions, antialiased fills with a one-pixel ramp, linear
//! gradients, clipping, and whole-image filters (Gaussian blur, noise).
//!
//! Coordinates are pixels with `(0, 0)` at the top-left corner of the top-left pixel; pixel `(x, y)` is sampled at
//! its centre `(x + 0.5, y + 0.5)`.

use image::RgbImage;

use crate::rng::Rng;

/// A 2-D point or vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct P {
    /// x (right).
    pub x: f32,
    /// y (down).
    pub y: f32,
}

/// Shorthand constructor.
pub const fn p(x: f32, y: f32) -> P {
    P { x, y }
}

impl P {
    fn sub(self, o: P) -> P {
        p(self.x - o.x, self.y - o.y)
    }
    fn dot(self, o: P) -> f32 {
        self.x * o.x + self.y * o.y
    }
    fn len(self) -> f32 {
        self.dot(self).sqrt()
    }
}

/// A similarity transform: `image = offset + scale · R(angle) · (mirror ? (−x, y) : (x, y))`.
#[derive(Debug, Clone, Copy)]
pub struct Similarity {
    /// Translation (pixels).
    pub offset: P,
    /// Uniform scale (pixels per local unit).
    pub scale: f32,
    /// Rotation (radians, clockwise on screen since y points down).
    pub angle: f32,
    /// Mirror the local x axis before rotating.
    pub mirror: bool,
}

impl Similarity {
    /// Maps a local point to the image.
    pub fn apply(&self, q: P) -> P {
        let x = if self.mirror { -q.x } else { q.x };
        let (s, c) = self.angle.sin_cos();
        p(
            self.offset.x + self.scale * (c * x - s * q.y),
            self.offset.y + self.scale * (s * x + c * q.y),
        )
    }

    /// Maps a local shape to the image.
    pub fn shape(&self, shape: &Shape) -> Shape {
        match shape {
            Shape::Ellipse { c, rx, ry, angle } => Shape::Ellipse {
                c: self.apply(*c),
                rx: rx * self.scale,
                ry: ry * self.scale,
                angle: if self.mirror { -angle } else { *angle } + self.angle,
            },
            Shape::Polygon(pts) => Shape::Polygon(pts.iter().map(|q| self.apply(*q)).collect()),
            Shape::Capsule { a, b, r } => Shape::Capsule {
                a: self.apply(*a),
                b: self.apply(*b),
                r: r * self.scale,
            },
        }
    }

    /// Maps a local paint to the image.
    pub fn paint(&self, paint: &Paint) -> Paint {
        match paint {
            Paint::Solid(c) => Paint::Solid(*c),
            Paint::Linear { a, b, ca, cb } => Paint::Linear {
                a: self.apply(*a),
                b: self.apply(*b),
                ca: *ca,
                cb: *cb,
            },
        }
    }
}

/// A filled shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// An ellipse with centre `c`, radii `rx`, `ry`, rotated by `angle` radians.
    Ellipse {
        /// Centre.
        c: P,
        /// Radius along the rotated x axis.
        rx: f32,
        /// Radius along the rotated y axis.
        ry: f32,
        /// Rotation.
        angle: f32,
    },
    /// A simple polygon (convex or not), vertices in order.
    Polygon(Vec<P>),
    /// A segment `a`–`b` thickened by radius `r` (round ends).
    Capsule {
        /// One end.
        a: P,
        /// The other end.
        b: P,
        /// Half the thickness.
        r: f32,
    },
}

/// Shorthand for a circle.
pub fn circle(c: P, r: f32) -> Shape {
    Shape::Ellipse {
        c,
        rx: r,
        ry: r,
        angle: 0.0,
    }
}

impl Shape {
    /// Signed distance (negative inside). Exact for polygons and capsules, a first-order approximation for ellipses
    /// (accurate near the outline, which is all the antialiasing ramp needs).
    pub fn sdf(&self, q: P) -> f32 {
        match self {
            Shape::Ellipse { c, rx, ry, angle } => {
                let d = q.sub(*c);
                let (s, co) = angle.sin_cos();
                let u = co * d.x + s * d.y;
                let v = -s * d.x + co * d.y;
                let (rx, ry) = (rx.max(1e-3), ry.max(1e-3));
                let k0 = ((u / rx).powi(2) + (v / ry).powi(2)).sqrt();
                let k1 = ((u / (rx * rx)).powi(2) + (v / (ry * ry)).powi(2)).sqrt();
                if k1 < 1e-6 {
                    -rx.min(ry)
                } else {
                    k0 * (k0 - 1.0) / k1
                }
            }
            Shape::Polygon(v) => polygon_sdf(v, q),
            Shape::Capsule { a, b, r } => {
                let pa = q.sub(*a);
                let ba = b.sub(*a);
                let h = (pa.dot(ba) / ba.dot(ba).max(1e-9)).clamp(0.0, 1.0);
                p(pa.x - ba.x * h, pa.y - ba.y * h).len() - r
            }
        }
    }

    /// Axis-aligned bounds `(x0, y0, x1, y1)`.
    pub fn bounds(&self) -> (f32, f32, f32, f32) {
        match self {
            Shape::Ellipse { c, rx, ry, angle } => {
                let (s, co) = angle.sin_cos();
                let hx = ((rx * co).powi(2) + (ry * s).powi(2)).sqrt();
                let hy = ((rx * s).powi(2) + (ry * co).powi(2)).sqrt();
                (c.x - hx, c.y - hy, c.x + hx, c.y + hy)
            }
            Shape::Polygon(v) => v.iter().fold(
                (f32::MAX, f32::MAX, f32::MIN, f32::MIN),
                |(x0, y0, x1, y1), q| (x0.min(q.x), y0.min(q.y), x1.max(q.x), y1.max(q.y)),
            ),
            Shape::Capsule { a, b, r } => (
                a.x.min(b.x) - r,
                a.y.min(b.y) - r,
                a.x.max(b.x) + r,
                a.y.max(b.y) + r,
            ),
        }
    }
}

/// Exact signed distance to a polygon (after Inigo Quilez), sign by the even-odd rule.
fn polygon_sdf(v: &[P], q: P) -> f32 {
    let n = v.len();
    if n < 3 {
        return f32::MAX;
    }
    let mut d = q.sub(v[0]).dot(q.sub(v[0]));
    let mut inside = false;
    let mut j = n - 1;
    for i in 0..n {
        let e = v[j].sub(v[i]);
        let w = q.sub(v[i]);
        let t = (w.dot(e) / e.dot(e).max(1e-12)).clamp(0.0, 1.0);
        let b = p(w.x - e.x * t, w.y - e.y * t);
        d = d.min(b.dot(b));
        let c1 = q.y >= v[i].y;
        let c2 = q.y < v[j].y;
        let c3 = e.x * w.y > e.y * w.x;
        if (c1 && c2 && c3) || (!c1 && !c2 && !c3) {
            inside = !inside;
        }
        j = i;
    }
    if inside { -d.sqrt() } else { d.sqrt() }
}

/// How a shape is coloured.
#[derive(Debug, Clone, PartialEq)]
pub enum Paint {
    /// One colour (linear 0–255 floats).
    Solid([f32; 3]),
    /// A linear gradient from `ca` at `a` to `cb` at `b` (clamped beyond the ends).
    Linear {
        /// Start point.
        a: P,
        /// End point.
        b: P,
        /// Colour at `a`.
        ca: [f32; 3],
        /// Colour at `b`.
        cb: [f32; 3],
    },
}

impl Paint {
    fn at(&self, q: P) -> [f32; 3] {
        match self {
            Paint::Solid(c) => *c,
            Paint::Linear { a, b, ca, cb } => {
                let ab = b.sub(*a);
                let t = (q.sub(*a).dot(ab) / ab.dot(ab).max(1e-9)).clamp(0.0, 1.0);
                [
                    ca[0] + (cb[0] - ca[0]) * t,
                    ca[1] + (cb[1] - ca[1]) * t,
                    ca[2] + (cb[2] - ca[2]) * t,
                ]
            }
        }
    }
}

/// Converts an 8-bit colour to the canvas' float colour.
pub fn rgbf(c: [u8; 3]) -> [f32; 3] {
    [f32::from(c[0]), f32::from(c[1]), f32::from(c[2])]
}

/// Scales a colour's brightness (`k` > 1 lightens towards white, < 1 darkens).
pub fn shade(c: [f32; 3], k: f32) -> [f32; 3] {
    if k >= 1.0 {
        let t = (k - 1.0).min(1.0);
        [
            c[0] + (255.0 - c[0]) * t,
            c[1] + (255.0 - c[1]) * t,
            c[2] + (255.0 - c[2]) * t,
        ]
    } else {
        [c[0] * k, c[1] * k, c[2] * k]
    }
}

/// An RGB float canvas (0–255 per channel) with an optional coverage layer that records what was drawn into it
/// (the object mask).
#[derive(Debug, Clone)]
pub struct Canvas {
    /// Width in pixels.
    pub w: usize,
    /// Height in pixels.
    pub h: usize,
    /// Row-major RGB.
    pub px: Vec<[f32; 3]>,
    /// Accumulated coverage of everything drawn with `record = true`, in `[0, 1]`.
    pub coverage: Vec<f32>,
}

impl Canvas {
    /// A canvas filled with one colour.
    pub fn new(w: usize, h: usize, fill: [f32; 3]) -> Self {
        Self {
            w,
            h,
            px: vec![fill; w * h],
            coverage: vec![0.0; w * h],
        }
    }

    /// Paints every pixel with `f(x, y)` (pixel centres).
    pub fn fill_fn(&mut self, mut f: impl FnMut(f32, f32) -> [f32; 3]) {
        for y in 0..self.h {
            for x in 0..self.w {
                self.px[y * self.w + x] = f(x as f32 + 0.5, y as f32 + 0.5);
            }
        }
    }

    /// Fills `shape` with `paint` at `opacity`, antialiased, optionally clipped to `clip`. With `record`, the
    /// coverage also accumulates into [`Canvas::coverage`].
    pub fn fill(
        &mut self,
        shape: &Shape,
        paint: &Paint,
        clip: Option<&Shape>,
        opacity: f32,
        record: bool,
    ) {
        let (x0, y0, x1, y1) = shape.bounds();
        let (x0, y0, x1, y1) = match clip.map(Shape::bounds) {
            Some((a, b, c, d)) => (x0.max(a), y0.max(b), x1.min(c), y1.min(d)),
            None => (x0, y0, x1, y1),
        };
        if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
            return;
        }
        let xa = (x0 - 1.0).floor().max(0.0) as usize;
        let ya = (y0 - 1.0).floor().max(0.0) as usize;
        let xb = ((x1 + 1.0).ceil().max(0.0) as usize).min(self.w);
        let yb = ((y1 + 1.0).ceil().max(0.0) as usize).min(self.h);
        for y in ya..yb {
            for x in xa..xb {
                let q = p(x as f32 + 0.5, y as f32 + 0.5);
                let mut cov = (0.5 - shape.sdf(q)).clamp(0.0, 1.0);
                if cov <= 0.0 {
                    continue;
                }
                if let Some(c) = clip {
                    cov = cov.min((0.5 - c.sdf(q)).clamp(0.0, 1.0));
                    if cov <= 0.0 {
                        continue;
                    }
                }
                let a = cov * opacity;
                let col = paint.at(q);
                let i = y * self.w + x;
                let d = &mut self.px[i];
                for k in 0..3 {
                    d[k] += (col[k] - d[k]) * a;
                }
                if record {
                    let m = &mut self.coverage[i];
                    *m += (1.0 - *m) * a;
                }
            }
        }
    }

    /// Separable Gaussian blur with standard deviation `sigma` pixels (edges clamped). No-op for tiny sigmas.
    pub fn blur(&mut self, sigma: f32) {
        if sigma < 0.2 {
            return;
        }
        let radius = (sigma * 3.0).ceil() as isize;
        let kernel: Vec<f32> = (-radius..=radius)
            .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
            .collect();
        let sum: f32 = kernel.iter().sum();
        let kernel: Vec<f32> = kernel.iter().map(|k| k / sum).collect();
        let (w, h) = (self.w as isize, self.h as isize);
        let mut tmp = vec![[0f32; 3]; self.px.len()];
        for y in 0..h {
            for x in 0..w {
                let mut acc = [0f32; 3];
                for (k, wt) in kernel.iter().enumerate() {
                    let xx = (x + k as isize - radius).clamp(0, w - 1);
                    let s = self.px[(y * w + xx) as usize];
                    for c in 0..3 {
                        acc[c] += s[c] * wt;
                    }
                }
                tmp[(y * w + x) as usize] = acc;
            }
        }
        for y in 0..h {
            for x in 0..w {
                let mut acc = [0f32; 3];
                for (k, wt) in kernel.iter().enumerate() {
                    let yy = (y + k as isize - radius).clamp(0, h - 1);
                    let s = tmp[(yy * w + x) as usize];
                    for c in 0..3 {
                        acc[c] += s[c] * wt;
                    }
                }
                self.px[(y * w + x) as usize] = acc;
            }
        }
    }

    /// Adds Gaussian noise with standard deviation `sigma` (levels), partly shared across channels.
    pub fn add_noise(&mut self, rng: &mut Rng, sigma: f32) {
        if sigma <= 0.0 {
            return;
        }
        // Irwin–Hall(4) approximates a normal closely enough for sensor noise and costs one 64-bit draw.
        let mut approx_normal = || {
            let r = rng.next_u64();
            let sum: u64 = (0..4).map(|k| (r >> (16 * k)) & 0xFFFF).sum();
            (sum as f32 / 65536.0 - 2.0) * 3f32.sqrt()
        };
        for px in &mut self.px {
            let common = approx_normal() * sigma * 0.8;
            for c in px.iter_mut() {
                *c += common + approx_normal() * sigma * 0.6;
            }
        }
    }

    /// Multiplies every pixel by a per-channel gain (lighting / white balance).
    pub fn tint(&mut self, gain: [f32; 3]) {
        for px in &mut self.px {
            for c in 0..3 {
                px[c] *= gain[c];
            }
        }
    }

    /// The canvas as an 8-bit RGB image (rounded and clamped).
    pub fn to_rgb(&self) -> RgbImage {
        let mut out = RgbImage::new(self.w as u32, self.h as u32);
        for (dst, src) in out.pixels_mut().zip(&self.px) {
            dst.0 = [
                src[0].round().clamp(0.0, 255.0) as u8,
                src[1].round().clamp(0.0, 255.0) as u8,
                src[2].round().clamp(0.0, 255.0) as u8,
            ];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdf_signs_and_area() {
        let e = Shape::Ellipse {
            c: p(10.0, 10.0),
            rx: 6.0,
            ry: 3.0,
            angle: 0.0,
        };
        assert!(e.sdf(p(10.0, 10.0)) < 0.0);
        assert!((e.sdf(p(16.0, 10.0))).abs() < 1e-3);
        assert!(e.sdf(p(10.0, 14.0)) > 0.9);
        let sq = Shape::Polygon(vec![p(0.0, 0.0), p(4.0, 0.0), p(4.0, 4.0), p(0.0, 4.0)]);
        assert!((sq.sdf(p(2.0, 2.0)) + 2.0).abs() < 1e-5);
        assert!((sq.sdf(p(6.0, 2.0)) - 2.0).abs() < 1e-5);
        // Antialiased area ≈ analytic area (π·rx·ry) for an ellipse; exact for a pixel-aligned square.
        let mut c = Canvas::new(40, 40, [0.0; 3]);
        let big = Shape::Ellipse {
            c: p(20.0, 20.0),
            rx: 12.0,
            ry: 7.0,
            angle: 0.6,
        };
        c.fill(&big, &Paint::Solid([255.0; 3]), None, 1.0, true);
        let area: f32 = c.coverage.iter().sum();
        let expect = std::f32::consts::PI * 12.0 * 7.0;
        assert!((area - expect).abs() / expect < 0.02, "{area} vs {expect}");
        let mut c = Canvas::new(10, 10, [0.0; 3]);
        let sq = Shape::Polygon(vec![p(2.0, 2.0), p(6.0, 2.0), p(6.0, 5.0), p(2.0, 5.0)]);
        c.fill(&sq, &Paint::Solid([255.0; 3]), None, 1.0, true);
        assert!((c.coverage.iter().sum::<f32>() - 12.0).abs() < 1e-3);
    }

    #[test]
    fn similarity_mirror_and_blur_preserve_mean() {
        let t = Similarity {
            offset: p(5.0, 5.0),
            scale: 2.0,
            angle: 0.0,
            mirror: true,
        };
        assert_eq!(t.apply(p(1.0, 1.0)), p(3.0, 7.0));
        let mut c = Canvas::new(16, 16, [0.0; 3]);
        c.px[8 * 16 + 8] = [160.0, 0.0, 0.0];
        c.blur(1.0);
        let total: f32 = c.px.iter().map(|q| q[0]).sum();
        assert!((total - 160.0).abs() < 0.5, "{total}");
        assert!(c.px[8 * 16 + 8][0] < 40.0);
    }
}

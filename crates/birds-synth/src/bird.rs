//! A species' parts as shapes in the bird's own frame: body centre at the origin, facing +x, y down, about one
//! unit from tail tip to beak tip. [`crate::scene`] places the result in an image with a [`Similarity`].

use crate::raster::{Canvas, P, Paint, Shape, Similarity, circle, p, rgbf, shade};
use crate::rng::Rng;
use crate::species::{BeakShape, BodyShape, Breast, Colour, Species, TailShape};

/// One filled shape of the bird.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The outline.
    pub shape: Shape,
    /// Its colour.
    pub paint: Paint,
    /// Optional clip shape (drawn only inside it).
    pub clip: Option<Shape>,
}

/// Where the bird's feet are (local frame), for placing a perch.
#[derive(Debug, Clone, Copy)]
pub struct Anchors {
    /// Midpoint between the feet.
    pub feet: P,
}

const LEG: [f32; 3] = [72.0, 60.0, 54.0];

fn rot(q: P, a: f32) -> P {
    let (s, c) = a.sin_cos();
    p(c * q.x - s * q.y, s * q.x + c * q.y)
}

fn add(a: P, b: P) -> P {
    p(a.x + b.x, a.y + b.y)
}

/// A vertical gradient across a part (lighter on top, darker below), in local coordinates.
fn shaded(c: [f32; 3], centre: P, half: f32) -> Paint {
    Paint::Linear {
        a: p(centre.x, centre.y - half),
        b: p(centre.x, centre.y + half),
        ca: shade(c, 1.12),
        cb: shade(c, 0.7),
    }
}

/// The bird's layers in drawing order, with small per-individual variation drawn from `rng` (proportions ±6 %,
/// posture, colour ±4 %, spot placement). `rng = None` draws the species' canonical individual.
///
/// The parts are added back to front, and each draws from `rng` in turn (colour gain, body, tail, breast, wing,
/// beak): that order fixes every generated image, so it must not change.
pub fn layers(s: &Species, rng: Option<&mut Rng>) -> (Vec<Layer>, Anchors) {
    let mut b = Builder::new(rng);
    let f = Frame::new(s.body, &mut b.jitter);
    let feet = b.legs(&f);
    b.tail(s, &f);
    let body = b.body(s, &f);
    b.breast(s, &f, &body);
    b.wing(s, &f);
    let hc = b.head(s, &f, &body);
    b.beak(s, hc, f.rh);
    b.eye(s, hc, f.rh);
    (b.out, Anchors { feet })
}

/// Per-individual variation: uniform draws from the image's generator, or none for the canonical individual.
struct Jitter<'a> {
    /// The generator; `None` makes every draw 0 (and consumes nothing).
    rng: Option<&'a mut Rng>,
}

impl Jitter<'_> {
    /// A draw in `[-amount, amount)`, or 0 without a generator.
    fn jit(&mut self, amount: f32) -> f32 {
        match self.rng.as_deref_mut() {
            Some(r) => r.range(-amount, amount),
            None => 0.0,
        }
    }
}

/// One individual's body proportions and posture, which place every other part.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Half-length of the body ellipse.
    rx: f32,
    /// Half-height of the body ellipse.
    ry: f32,
    /// Radius of the head.
    rh: f32,
    /// Tilt of the body in radians (negative: head up).
    tilt: f32,
}

impl Frame {
    /// The proportions of `body`, each varied by ±6 %, and its tilt by ±0.08 rad (four draws, in that order:
    /// length, height, head, tilt).
    fn new(body: BodyShape, jitter: &mut Jitter<'_>) -> Self {
        let (rx, ry, rh, tilt) = match body {
            BodyShape::Round => (0.30, 0.24, 0.150, -0.30),
            BodyShape::Slender => (0.37, 0.165, 0.120, -0.22),
            BodyShape::Plump => (0.37, 0.27, 0.165, -0.34),
        };
        let k = 1.0 + jitter.jit(0.06);
        let (rx, ry, rh) = (
            rx * k,
            ry * (1.0 + jitter.jit(0.06)),
            rh * (1.0 + jitter.jit(0.06)),
        );
        let tilt = tilt + jitter.jit(0.08);
        Self { rx, ry, rh, tilt }
    }
}

/// Collects a bird's layers in drawing order, with the individual's colour gain and variation.
struct Builder<'a> {
    /// Source of the per-individual variation.
    jitter: Jitter<'a>,
    /// Per-channel colour gain (±4 %).
    gain: [f32; 3],
    /// The layers so far, back to front.
    out: Vec<Layer>,
}

impl<'a> Builder<'a> {
    /// An empty bird; draws the colour gain (three draws: red, green, blue).
    fn new(rng: Option<&'a mut Rng>) -> Self {
        let mut jitter = Jitter { rng };
        let gain = [
            1.0 + jitter.jit(0.04),
            1.0 + jitter.jit(0.04),
            1.0 + jitter.jit(0.04),
        ];
        Self {
            jitter,
            gain,
            out: Vec::new(),
        }
    }

    /// A draw in `[-amount, amount)` (see [`Jitter::jit`]).
    fn jit(&mut self, amount: f32) -> f32 {
        self.jitter.jit(amount)
    }

    /// `c` as linear RGB with this individual's gain.
    fn col(&self, c: Colour) -> [f32; 3] {
        let f = rgbf(c.rgb());
        [
            f[0] * self.gain[0],
            f[1] * self.gain[1],
            f[2] * self.gain[2],
        ]
    }

    /// Adds a layer on top of the others.
    fn push(&mut self, shape: Shape, paint: Paint, clip: Option<Shape>) {
        self.out.push(Layer { shape, paint, clip });
    }

    /// Legs and feet (behind the body); returns the midpoint between the feet.
    fn legs(&mut self, f: &Frame) -> P {
        let Frame { rx, ry, tilt, .. } = *f;
        let leg_top = [
            rot(p(0.08 * rx, 0.7 * ry), tilt),
            rot(p(-0.2 * rx, 0.7 * ry), tilt),
        ];
        let ground = 0.78 * ry + 0.14;
        let mut feet = p(0.0, 0.0);
        for top in leg_top {
            let foot = p(top.x, ground);
            self.push(
                Shape::Capsule {
                    a: top,
                    b: foot,
                    r: 0.014,
                },
                Paint::Solid(LEG),
                None,
            );
            self.push(
                Shape::Capsule {
                    a: p(foot.x - 0.025, foot.y),
                    b: p(foot.x + 0.06, foot.y),
                    r: 0.012,
                },
                Paint::Solid(LEG),
                None,
            );
            feet = p(feet.x + foot.x * 0.5, feet.y + foot.y * 0.5 + 0.006);
        }
        feet
    }

    /// The tail, from the rear of the body (one draw: its angle).
    fn tail(&mut self, s: &Species, f: &Frame) {
        let Frame { rx, ry, tilt, .. } = *f;
        let wing_c = self.col(s.wing_colour);
        let base = rot(p(-0.72 * rx, -0.05 * ry), tilt);
        let dir = tilt + std::f32::consts::PI + 0.12 + self.jit(0.1);
        let tail: Vec<P> = tail_outline(s.tail)
            .iter()
            .map(|q| add(base, rot(*q, dir)))
            .collect();
        let tail_tip = add(base, rot(p(0.3, 0.0), dir));
        self.push(
            Shape::Polygon(tail),
            Paint::Linear {
                a: base,
                b: tail_tip,
                ca: shade(wing_c, 0.95),
                cb: shade(wing_c, 0.7),
            },
            None,
        );
    }

    /// The body ellipse; returns its outline (the clip of the breast pattern and the collar).
    fn body(&mut self, s: &Species, f: &Frame) -> Shape {
        let body = Shape::Ellipse {
            c: p(0.0, 0.0),
            rx: f.rx,
            ry: f.ry,
            angle: f.tilt,
        };
        self.push(
            body.clone(),
            shaded(self.col(s.body_colour), p(0.0, 0.0), f.ry),
            None,
        );
        body
    }

    /// The breast pattern, clipped to `body` (bars, spots and streaks draw their placement).
    fn breast(&mut self, s: &Species, f: &Frame, body: &Shape) {
        let Frame { rx, ry, tilt, .. } = *f;
        let bc = rot(p(0.38 * rx, 0.38 * ry), tilt);
        let region = Shape::Ellipse {
            c: bc,
            rx: 0.55 * rx,
            ry: 0.55 * ry,
            angle: tilt,
        };
        match s.breast {
            Breast::Plain => {}
            Breast::Patch(c) => self.push(
                region,
                shaded(self.col(c), bc, 0.6 * ry),
                Some(body.clone()),
            ),
            Breast::Barred(c) => self.breast_bars(c, f, bc, &region, body),
            Breast::Spotted(c) => self.breast_marks(c, false, bc, &region, body),
            Breast::Streaked(c) => self.breast_marks(c, true, bc, &region, body),
        }
    }

    /// Bands across the breast around `bc`, following the body's tilt, where they lie inside `region` (one draw
    /// per band, inside or not).
    fn breast_bars(&mut self, c: Colour, f: &Frame, bc: P, region: &Shape, body: &Shape) {
        let Frame { rx, tilt, .. } = *f;
        for j in -3..=3 {
            let centre = add(bc, rot(p(0.0, j as f32 * 0.055 + self.jit(0.008)), tilt));
            if region.sdf(centre) > -0.01 {
                continue;
            }
            let half = rot(p(0.42 * rx, 0.0), tilt - 0.35);
            self.push(
                Shape::Capsule {
                    a: p(centre.x - half.x, centre.y - half.y),
                    b: p(centre.x + half.x, centre.y + half.y),
                    r: 0.012,
                },
                Paint::Solid(self.col(c)),
                Some(body.clone()),
            );
        }
    }

    /// Spots (or, with `streak`, short vertical streaks) on a staggered grid around `bc`, where they lie inside
    /// `region` (two draws per grid point, inside or not, then one for a spot's radius).
    fn breast_marks(&mut self, c: Colour, streak: bool, bc: P, region: &Shape, body: &Shape) {
        for i in -3..=3 {
            for j in -2..=2 {
                let off = if j % 2 == 0 { 0.0 } else { 0.035 };
                let q = add(
                    bc,
                    p(
                        i as f32 * 0.07 + off + self.jit(0.01),
                        j as f32 * 0.06 + self.jit(0.01),
                    ),
                );
                if region.sdf(q) > -0.01 {
                    continue;
                }
                let shape = if streak {
                    Shape::Capsule {
                        a: p(q.x - 0.008, q.y - 0.026),
                        b: p(q.x + 0.008, q.y + 0.026),
                        r: 0.011,
                    }
                } else {
                    circle(q, 0.021 + self.jit(0.004))
                };
                self.push(shape, Paint::Solid(self.col(c)), Some(body.clone()));
            }
        }
    }

    /// The wing: a darker rim, the wing, then optional bars (one draw: its angle).
    fn wing(&mut self, s: &Species, f: &Frame) {
        let Frame { rx, ry, tilt, .. } = *f;
        let wing_c = self.col(s.wing_colour);
        let wc = rot(p(-0.22 * rx, -0.08 * ry), tilt);
        let wing_angle = tilt + 0.2 + self.jit(0.08);
        let (wrx, wry) = (0.8 * rx, 0.5 * ry);
        self.push(
            Shape::Ellipse {
                c: wc,
                rx: wrx + 0.012,
                ry: wry + 0.012,
                angle: wing_angle,
            },
            Paint::Solid(shade(wing_c, 0.55)),
            None,
        );
        let wing = Shape::Ellipse {
            c: wc,
            rx: wrx,
            ry: wry,
            angle: wing_angle,
        };
        self.push(wing.clone(), shaded(wing_c, wc, wry), None);
        if s.wing_bars {
            for t in [0.12, -0.22] {
                let centre = add(wc, rot(p(t * wrx * 2.0, 0.0), wing_angle));
                let across = rot(p(0.0, 1.2 * wry), wing_angle + 0.25);
                self.push(
                    Shape::Capsule {
                        a: p(centre.x - across.x, centre.y - across.y),
                        b: p(centre.x + across.x, centre.y + across.y),
                        r: 0.02,
                    },
                    Paint::Solid(self.col(Colour::White)),
                    Some(wing.clone()),
                );
            }
        }
    }

    /// Collar (clipped to `body`), crest, head, cap and eye stripe; returns the head's centre.
    fn head(&mut self, s: &Species, f: &Frame, body: &Shape) -> P {
        let Frame { rx, ry, rh, tilt } = *f;
        let hc = rot(p(0.9 * rx, -0.6 * ry), tilt);
        let hc = p(hc.x, hc.y - 0.25 * rh);
        if let Some(c) = s.collar {
            // A band around the neck: the part of a ring around the head that lies on the body (the head covers the
            // rest).
            self.push(
                circle(hc, 1.45 * rh),
                Paint::Solid(self.col(c)),
                Some(body.clone()),
            );
        }
        if let Some(c) = s.crest {
            let crest = [
                p(0.3, -0.8),
                p(-0.45, -2.0),
                p(-0.3, -1.3),
                p(-1.35, -1.55),
                p(-0.8, -0.5),
            ]
            .iter()
            .map(|q| add(hc, p(q.x * rh, q.y * rh)))
            .collect();
            self.push(
                Shape::Polygon(crest),
                shaded(self.col(c), p(hc.x, hc.y - 1.3 * rh), rh),
                None,
            );
        }
        let head = circle(hc, rh);
        self.push(head.clone(), shaded(self.col(s.head_colour), hc, rh), None);
        if let Some(c) = s.cap {
            let cc = p(hc.x - 0.1 * rh, hc.y - 0.62 * rh);
            self.push(
                circle(cc, 0.72 * rh),
                shaded(self.col(c), cc, 0.5 * rh),
                Some(head.clone()),
            );
        }
        if let Some(c) = s.eye_stripe {
            self.push(
                Shape::Capsule {
                    a: p(hc.x - 0.95 * rh, hc.y - 0.05 * rh),
                    b: p(hc.x + 0.75 * rh, hc.y - 0.2 * rh),
                    r: 0.2 * rh,
                },
                Paint::Solid(self.col(c)),
                Some(head),
            );
        }
        hc
    }

    /// The beak at the front of the head centred at `hc` with radius `rh` (one draw: its angle).
    fn beak(&mut self, s: &Species, hc: P, rh: f32) {
        let beak_local = beak_outline(s.beak, s.beak_length.factor());
        let beak_base = add(hc, p(0.82 * rh, 0.12 * rh));
        let beak_angle = 0.12 + self.jit(0.08);
        let beak: Vec<P> = beak_local
            .iter()
            .map(|q| add(beak_base, rot(*q, beak_angle)))
            .collect();
        self.push(
            Shape::Polygon(beak),
            Paint::Linear {
                a: p(beak_base.x, beak_base.y - 0.05),
                b: p(beak_base.x, beak_base.y + 0.05),
                ca: shade(self.col(s.beak_colour), 1.1),
                cb: shade(self.col(s.beak_colour), 0.75),
            },
            None,
        );
    }

    /// The eye (with its ring) on the head centred at `hc` with radius `rh`.
    fn eye(&mut self, s: &Species, hc: P, rh: f32) {
        let ec = add(hc, p(0.36 * rh, -0.18 * rh));
        if s.eye_ring {
            self.push(
                circle(ec, 0.38 * rh),
                Paint::Solid(self.col(Colour::White)),
                None,
            );
        }
        self.push(circle(ec, 0.2 * rh), Paint::Solid([14.0, 12.0, 12.0]), None);
        self.push(
            circle(add(ec, p(0.06 * rh, -0.07 * rh)), 0.06 * rh),
            Paint::Solid([235.0, 235.0, 235.0]),
            None,
        );
    }
}

/// The tail's outline in its own frame: base at the origin, pointing along +x.
fn tail_outline(shape: TailShape) -> Vec<P> {
    match shape {
        TailShape::Short => vec![
            p(0.0, -0.06),
            p(0.17, -0.075),
            p(0.18, 0.0),
            p(0.17, 0.075),
            p(0.0, 0.06),
        ],
        TailShape::Long => vec![
            p(0.0, -0.05),
            p(0.42, -0.035),
            p(0.45, 0.0),
            p(0.42, 0.035),
            p(0.0, 0.05),
        ],
        TailShape::Forked => vec![
            p(0.0, -0.05),
            p(0.34, -0.13),
            p(0.21, 0.0),
            p(0.34, 0.13),
            p(0.0, 0.05),
        ],
        TailShape::Fan => vec![
            p(0.0, -0.05),
            p(0.2, -0.17),
            p(0.25, -0.09),
            p(0.27, 0.0),
            p(0.25, 0.09),
            p(0.2, 0.17),
            p(0.0, 0.05),
        ],
    }
}

/// The beak's outline in its own frame (base at the origin, pointing along +x), `f` times its usual length.
fn beak_outline(shape: BeakShape, f: f32) -> Vec<P> {
    match shape {
        BeakShape::Conical => {
            let l = 0.11 * f;
            vec![
                p(-0.03, -0.06),
                p(0.4 * l, -0.045),
                p(l, 0.0),
                p(0.4 * l, 0.045),
                p(-0.03, 0.06),
            ]
        }
        BeakShape::Thin => {
            let l = 0.14 * f;
            vec![p(-0.03, -0.028), p(l, 0.004), p(-0.03, 0.028)]
        }
        BeakShape::Hooked => {
            let l = 0.11 * f;
            vec![
                p(-0.03, -0.055),
                p(0.5 * l, -0.06),
                p(0.9 * l, -0.035),
                p(l, 0.02),
                p(0.92 * l, 0.065),
                p(0.8 * l, 0.025),
                p(0.45 * l, 0.04),
                p(-0.03, 0.05),
            ]
        }
        BeakShape::Curved => curved_beak(0.2 * f),
    }
}

/// A down-curved beak of length `l`: a tapering band around a parabola, upper edge out and lower edge back.
fn curved_beak(l: f32) -> Vec<P> {
    let n = 8;
    let centre = |t: f32| p(-0.03 + t * (l + 0.03), 0.35 * l * t * t);
    let half = |t: f32| 0.026 * (1.0 - t) + 0.004;
    let mut v: Vec<P> = (0..=n)
        .map(|i| {
            let t = i as f32 / n as f32;
            let c = centre(t);
            p(c.x, c.y - half(t))
        })
        .collect();
    v.extend((0..=n).rev().map(|i| {
        let t = i as f32 / n as f32;
        let c = centre(t);
        p(c.x, c.y + half(t))
    }));
    v
}

/// Union of the layers' bounds after `t`: `(x0, y0, x1, y1)` in image pixels.
pub fn bounds(layers: &[Layer], t: &Similarity) -> (f32, f32, f32, f32) {
    layers.iter().fold(
        (f32::MAX, f32::MAX, f32::MIN, f32::MIN),
        |(a, b, c, d), l| {
            let (x0, y0, x1, y1) = t.shape(&l.shape).bounds();
            (a.min(x0), b.min(y0), c.max(x1), d.max(y1))
        },
    )
}

/// Draws the layers through `t`, recording their coverage (the mask).
pub fn draw(canvas: &mut Canvas, layers: &[Layer], t: &Similarity) {
    for l in layers {
        let clip = l.clip.as_ref().map(|c| t.shape(c));
        canvas.fill(
            &t.shape(&l.shape),
            &t.paint(&l.paint),
            clip.as_ref(),
            1.0,
            true,
        );
    }
}

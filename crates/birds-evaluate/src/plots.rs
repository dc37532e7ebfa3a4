//! The pictures: the confusion heatmap, the top-losses grid and the reliability diagram (plotters on an RGB buffer, saved as PNG).
//!
//! Text uses the system's `sans-serif` font through fontconfig (plotters' `ttf` feature).

use std::io::Cursor;
use std::path::Path;

use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontTransform;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::metrics::ConfusionMatrix;
use crate::{EvaluateError, Result};

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn plot_err(path: &Path) -> impl Fn(String) -> EvaluateError + '_ {
    move |reason| EvaluateError::Plot {
        path: path.to_path_buf(),
        reason,
    }
}

fn font(px: f64) -> FontDesc<'static> {
    ("sans-serif", px).into_font()
}

/// Width in pixels of `text` in `font` (0 when the font cannot measure it).
fn text_width(font: &FontDesc<'_>, text: &str) -> u32 {
    font.box_size(text).map(|(w, _)| w).unwrap_or(0)
}

/// `text`, shortened with `…` until it fits `max_w` pixels.
fn fit(font: &FontDesc<'_>, text: &str, max_w: u32) -> String {
    if text_width(font, text) <= max_w {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    for keep in (1..chars.len()).rev() {
        let s: String = chars[..keep].iter().collect::<String>() + "…";
        if text_width(font, &s) <= max_w {
            return s;
        }
    }
    "…".into()
}

/// Renders `draw` on a white `w × h` canvas and returns it as an image.
fn render(
    w: u32,
    h: u32,
    draw: impl FnOnce(&Area<'_>) -> std::result::Result<(), String>,
) -> std::result::Result<RgbImage, String> {
    let mut buf = vec![255u8; (w as usize) * (h as usize) * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    RgbImage::from_raw(w, h, buf).ok_or_else(|| "canvas size mismatch".to_string())
}

/// Encodes `img` as PNG and writes it atomically.
fn save_png(path: &Path, img: &RgbImage) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| plot_err(path)(e.to_string()))?;
    birds_core::atomic::write_bytes(path, &bytes)?;
    Ok(())
}

fn lerp(to: (u8, u8, u8), t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let f = |c: u8| (255.0 + (f64::from(c) - 255.0) * t).round() as u8;
    RGBColor(f(to.0), f(to.1), f(to.2))
}

const CORRECT: (u8, u8, u8) = (30, 130, 75);
const WRONG: (u8, u8, u8) = (200, 35, 35);

/// The classes the heatmap shows: all of them when there are at most `max`; otherwise the classes of the
/// most-confused pairs, taken pair by pair (so a class and its confuser sit next to each other) until `max` are
/// chosen. With fewer than two confused classes the lowest class ids fill up to `max`.
pub fn confusion_classes(cm: &ConfusionMatrix, max: usize) -> Vec<u32> {
    let k = cm.num_classes();
    if k <= max {
        return (0..k as u32).collect();
    }
    let mut chosen: Vec<u32> = Vec::with_capacity(max);
    'pairs: for cell in cm.most_confused(1) {
        for c in [cell.true_id, cell.pred_id] {
            if !chosen.contains(&c) {
                if chosen.len() == max {
                    break 'pairs;
                }
                chosen.push(c);
            }
        }
    }
    if chosen.len() < 2 {
        for c in 0..k as u32 {
            if chosen.len() >= max {
                break;
            }
            if !chosen.contains(&c) {
                chosen.push(c);
            }
        }
    }
    chosen
}

/// Draws the confusion heatmap of `cm` to `path`. `subtitle` says what was evaluated (e.g. `valid+test, 300
/// images`). Rows are true classes, columns predicted classes; cells are coloured by their share of the row
/// (green on the diagonal, red off it) and show the image count when there is room.
pub fn confusion_png(
    path: &Path,
    cm: &ConfusionMatrix,
    classes: &[String],
    max: usize,
    subtitle: &str,
) -> Result<()> {
    let err = plot_err(path);
    let sel = confusion_classes(cm, max);
    let n = sel.len().max(1) as i32;
    let cell: i32 = (760 / n).clamp(14, 40);
    let label_font = font((f64::from(cell) * 0.62).clamp(11.0, 15.0));
    let count_font = font((f64::from(cell) * 0.5).clamp(9.0, 14.0));
    let labels: Vec<String> = sel
        .iter()
        .map(|&c| {
            let name = classes.get(c as usize).map_or("?", String::as_str);
            fit(&label_font, name, 230)
        })
        .collect();
    let label_w = labels
        .iter()
        .map(|l| text_width(&label_font, l))
        .max()
        .unwrap_or(0) as i32
        + 10;
    let title = if sel.len() == cm.num_classes() {
        format!("Confusion matrix: {} classes", cm.num_classes())
    } else {
        format!(
            "Confusion matrix: the {} most-confused of {} classes",
            sel.len(),
            cm.num_classes()
        )
    };
    let partial = sel.len() < cm.num_classes();
    let legend = if partial {
        "rows: true class · columns: predicted · green: correct, red: errors (shade = share of the row) · numbers: images · \"to others\": errors into classes not shown"
    } else {
        "rows: true class · columns: predicted · green: correct, red: errors (shade = share of the row) · numbers: images"
    };
    let right_w = if partial { 150 } else { 80 };
    let (pad, title_h) = (14, 58);
    let matrix = n * cell;
    let legend_w = text_width(&font(13.0), legend) as i32;
    let w = (pad + label_w + matrix + right_w + pad)
        .max(legend_w + 2 * pad)
        .max(640);
    let h = pad + title_h + label_w + matrix + pad + 10;
    let (x0, y0) = (pad + label_w, pad + title_h + label_w);
    let img = render(w as u32, h as u32, |root| {
        let e = |x: DrawingAreaErrorKind<_>| x.to_string();
        let black = font(20.0).color(&BLACK);
        root.draw_text(&title, &black, (pad, pad)).map_err(e)?;
        let grey = font(13.0).color(&RGBColor(90, 90, 90));
        root.draw_text(subtitle, &grey, (pad, pad + 26))
            .map_err(e)?;
        root.draw_text(legend, &grey, (pad, pad + 43)).map_err(e)?;
        // Background: the grid lines show through one-pixel gaps between cells.
        root.draw(&Rectangle::new(
            [(x0 - 1, y0 - 1), (x0 + matrix, y0 + matrix)],
            RGBColor(215, 215, 215).filled(),
        ))
        .map_err(e)?;
        for (r, &t) in sel.iter().enumerate() {
            let support = cm.support(t);
            for (c, &p) in sel.iter().enumerate() {
                let count = cm.count(t, p);
                let share = if support > 0 {
                    count as f64 / support as f64
                } else {
                    0.0
                };
                let (colour, strength) = if count == 0 {
                    (RGBColor(250, 250, 250), 0.0)
                } else if t == p {
                    let s = 0.15 + 0.85 * share;
                    (lerp(CORRECT, s), s)
                } else {
                    let s = 0.3 + 0.7 * share;
                    (lerp(WRONG, s), s)
                };
                let (cx, cy) = (x0 + c as i32 * cell, y0 + r as i32 * cell);
                root.draw(&Rectangle::new(
                    [(cx, cy), (cx + cell - 1, cy + cell - 1)],
                    colour.filled(),
                ))
                .map_err(e)?;
                if count > 0 && cell >= 16 {
                    let ink = if strength > 0.55 { &WHITE } else { &BLACK };
                    let style = count_font
                        .color(ink)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    root.draw_text(&count.to_string(), &style, (cx + cell / 2, cy + cell / 2))
                        .map_err(e)?;
                }
            }
            // Row label (true class) on the left, right-aligned to the matrix.
            let style = label_font
                .color(&BLACK)
                .pos(Pos::new(HPos::Right, VPos::Center));
            root.draw_text(
                &labels[r],
                &style,
                (x0 - 6, y0 + r as i32 * cell + cell / 2),
            )
            .map_err(e)?;
            // Correct / evaluated on the right, and the errors that went to classes not shown.
            let style = label_font
                .color(&RGBColor(60, 60, 60))
                .pos(Pos::new(HPos::Left, VPos::Center));
            let shown: u64 = sel.iter().map(|&p| cm.count(t, p)).sum();
            let hidden = support - shown.min(support);
            let right = if hidden > 0 {
                format!("{}/{support}, {hidden} to others", cm.count(t, t))
            } else {
                format!("{}/{support}", cm.count(t, t))
            };
            root.draw_text(
                &right,
                &style,
                (x0 + matrix + 6, y0 + r as i32 * cell + cell / 2),
            )
            .map_err(e)?;
        }
        // Column labels (predicted class), vertical, reading upwards, ending at the matrix.
        for (c, label) in labels.iter().enumerate() {
            let style = label_font
                .color(&BLACK)
                .transform(FontTransform::Rotate270)
                .pos(Pos::new(HPos::Left, VPos::Center));
            root.draw_text(label, &style, (x0 + c as i32 * cell + cell / 2, y0 - 6))
                .map_err(e)?;
        }
        let style = font(12.0)
            .color(&RGBColor(60, 60, 60))
            .pos(Pos::new(HPos::Left, VPos::Bottom));
        let header = if partial {
            "correct/evaluated"
        } else {
            "correct"
        };
        root.draw_text(header, &style, (x0 + matrix + 6, y0 - 6))
            .map_err(e)?;
        Ok(())
    })
    .map_err(&err)?;
    save_png(path, &img)
}

/// One image of the top-losses grid.
#[derive(Debug, Clone)]
pub struct LossTile {
    /// The image (any size; scaled to the tile), `None` when it could not be read.
    pub thumb: Option<RgbImage>,
    /// True class label.
    pub true_label: String,
    /// Predicted class label.
    pub pred_label: String,
    /// Probability of the predicted class.
    pub confidence: f64,
    /// Probability of the true class.
    pub prob_true: f64,
    /// `−ln prob_true`.
    pub loss: f64,
    /// The image's split.
    pub split: String,
}

/// A probability with two decimals, or in scientific notation when it would round to 0 (`3e-4`).
fn fmt_prob(p: f64) -> String {
    if p >= 0.005 || p == 0.0 {
        format!("{p:.2}")
    } else {
        format!("{p:.0e}")
    }
}

/// Draws the top-losses grid (fastai's `plot_top_losses`): per image the thumbnail framed red when misclassified
/// (green when correct), the true class, the prediction with its probability, the loss and the probability of the
/// true class.
pub fn top_losses_png(path: &Path, tiles: &[LossTile], title: &str) -> Result<()> {
    let err = plot_err(path);
    let cols = tiles.len().clamp(1, 4) as i32;
    let rows = (tiles.len().max(1) as i32 + cols - 1) / cols;
    let (thumb, tile_w, caption_h, pad, header) = (200i32, 250i32, 58i32, 14i32, 40i32);
    let tile_h = 6 + thumb + 6 + caption_h;
    let w = (pad * 2 + cols * tile_w).max(560);
    let h = pad * 2 + header + rows * tile_h;
    let text = font(13.0);
    let bold = ("sans-serif", 13.0, FontStyle::Bold).into_font();
    let mut canvas = render(w as u32, h as u32, |root| {
        let e = |x: DrawingAreaErrorKind<_>| x.to_string();
        root.draw_text(title, &font(18.0).color(&BLACK), (pad, pad))
            .map_err(e)?;
        for (i, t) in tiles.iter().enumerate() {
            let (tx, ty) = (
                pad + (i as i32 % cols) * tile_w,
                pad + header + (i as i32 / cols) * tile_h,
            );
            let wrong = t.true_label != t.pred_label;
            let frame = if wrong {
                RGBColor(WRONG.0, WRONG.1, WRONG.2)
            } else {
                RGBColor(CORRECT.0, CORRECT.1, CORRECT.2)
            };
            let fx = tx + (tile_w - thumb) / 2 - 4;
            root.draw(&Rectangle::new(
                [(fx, ty), (fx + thumb + 7, ty + thumb + 7)],
                frame.filled(),
            ))
            .map_err(e)?;
            if t.thumb.is_none() {
                root.draw(&Rectangle::new(
                    [(fx + 4, ty + 4), (fx + thumb + 3, ty + thumb + 3)],
                    RGBColor(200, 200, 200).filled(),
                ))
                .map_err(e)?;
            }
            let max_w = (tile_w - 10) as u32;
            let cy = ty + thumb + 12;
            let lines = [
                (
                    fit(&bold, &format!("true: {}", t.true_label), max_w),
                    &bold,
                    BLACK,
                ),
                (
                    // Shorten the name, never the probability.
                    {
                        let prob = format!(" ({})", fmt_prob(t.confidence));
                        let room = max_w.saturating_sub(text_width(&text, &prob));
                        fit(&text, &format!("pred: {}", t.pred_label), room) + &prob
                    },
                    &text,
                    if wrong { frame } else { BLACK },
                ),
                (
                    format!(
                        "loss {:.2} · p(true) {} · {}",
                        t.loss,
                        fmt_prob(t.prob_true),
                        t.split
                    ),
                    &text,
                    RGBColor(90, 90, 90),
                ),
            ];
            for (j, (s, f, colour)) in lines.iter().enumerate() {
                root.draw_text(s, &f.color(colour), (tx + 5, cy + j as i32 * 18))
                    .map_err(e)?;
            }
        }
        Ok(())
    })
    .map_err(&err)?;
    // Thumbnails are copied in after the vector drawing (plotters draws no raster images without its `image`
    // feature, which would pull in a second `image` version).
    for (i, t) in tiles.iter().enumerate() {
        let Some(src) = &t.thumb else { continue };
        let (tx, ty) = (
            pad + (i as i32 % cols) * tile_w,
            pad + header + (i as i32 / cols) * tile_h,
        );
        let fx = tx + (tile_w - thumb) / 2;
        let scaled = image::imageops::resize(
            src,
            thumb as u32,
            thumb as u32,
            image::imageops::FilterType::Triangle,
        );
        image::imageops::replace(&mut canvas, &scaled, i64::from(fx), i64::from(ty + 4));
    }
    save_png(path, &canvas)
}

/// One panel of the reliability diagram: the top-1 confidence and correctness of each image.
#[derive(Debug, Clone)]
pub struct ReliabilityPanel {
    /// Panel title (e.g. `T = 1 (uncalibrated)`).
    pub title: String,
    /// Top-1 probability per image.
    pub confidence: Vec<f64>,
    /// Whether the top-1 class was right.
    pub correct: Vec<bool>,
}

/// Accuracy, mean confidence and count of the images in each of `bins` equal-width confidence bins (1.0 goes to
/// the last bin here, for drawing).
pub fn reliability_bins(confidence: &[f64], correct: &[bool], bins: usize) -> Vec<(f64, f64, u64)> {
    let mut sums = vec![(0f64, 0f64, 0u64); bins];
    for (&c, &ok) in confidence.iter().zip(correct) {
        let b = ((c * bins as f64) as usize).min(bins - 1);
        sums[b].0 += f64::from(u8::from(ok));
        sums[b].1 += c;
        sums[b].2 += 1;
    }
    sums.into_iter()
        .map(|(acc, conf, n)| {
            if n == 0 {
                (0.0, 0.0, 0)
            } else {
                (acc / n as f64, conf / n as f64, n)
            }
        })
        .collect()
}

/// Draws the reliability diagram (Guo et al. 2017, figure 1): per panel, 15 confidence bins with the accuracy of
/// their images as bars (blue), the gap to the bin's mean confidence in red, the diagonal of perfect calibration,
/// and the panel's ECE and image count in its title.
pub fn reliability_png(path: &Path, panels: &[ReliabilityPanel], title: &str) -> Result<()> {
    const BINS: usize = 15;
    let err = plot_err(path);
    let (pw, ph, header) = (420u32, 400u32, 36u32);
    let w = (pw * panels.len().max(1) as u32).max(420);
    let canvas = render(w, ph + header, |root| {
        let e = |x: DrawingAreaErrorKind<_>| x.to_string();
        root.draw_text(title, &font(17.0).color(&BLACK), (12, 10))
            .map_err(e)?;
        let body = root.split_vertically(header).1;
        let areas = body.split_evenly((1, panels.len().max(1)));
        for (area, panel) in areas.iter().zip(panels) {
            let ece =
                crate::metrics::expected_calibration_error(&panel.confidence, &panel.correct, BINS);
            let caption = format!(
                "{}: ECE {:.3}, {} images",
                panel.title,
                ece,
                panel.confidence.len()
            );
            let mut chart = ChartBuilder::on(area)
                .margin(12)
                .caption(caption, ("sans-serif", 14))
                .x_label_area_size(34)
                .y_label_area_size(44)
                .build_cartesian_2d(0.0f64..1.0, 0.0f64..1.0)
                .map_err(|x| x.to_string())?;
            chart
                .configure_mesh()
                .x_desc("confidence (top-1 probability)")
                .y_desc("accuracy")
                .disable_mesh()
                .draw()
                .map_err(|x| x.to_string())?;
            let width = 1.0 / BINS as f64;
            for (b, (acc, conf, n)) in reliability_bins(&panel.confidence, &panel.correct, BINS)
                .into_iter()
                .enumerate()
            {
                if n == 0 {
                    continue;
                }
                let x0 = b as f64 * width;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, 0.0), (x0 + width, acc)],
                        RGBColor(60, 110, 190).filled(),
                    )))
                    .map_err(|x| x.to_string())?;
                let (lo, hi) = if acc < conf { (acc, conf) } else { (conf, acc) };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, lo), (x0 + width, hi)],
                        RGBColor(WRONG.0, WRONG.1, WRONG.2).mix(0.45).filled(),
                    )))
                    .map_err(|x| x.to_string())?;
            }
            chart
                .draw_series(LineSeries::new(
                    [(0.0, 0.0), (1.0, 1.0)],
                    BLACK.stroke_width(1),
                ))
                .map_err(|x| x.to_string())?;
        }
        Ok(())
    })
    .map_err(&err)?;
    save_png(path, &canvas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_matrices_show_every_class_large_ones_the_confused_pairs() {
        let cm = ConfusionMatrix::from_labels(3, &[0, 1, 2], &[0, 2, 2])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(confusion_classes(&cm, 40), vec![0, 1, 2]);
        // 10 classes: pairs (5→7) ×2, then row-major (1→2), (3→4), (8→1).
        let t = [5, 5, 1, 8, 3, 0];
        let p = [7, 7, 2, 1, 4, 0];
        let cm = ConfusionMatrix::from_labels(10, &t, &p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(confusion_classes(&cm, 4), vec![5, 7, 1, 2]);
        assert_eq!(confusion_classes(&cm, 5), vec![5, 7, 1, 2, 3]);
        assert_eq!(confusion_classes(&cm, 9), vec![5, 7, 1, 2, 3, 4, 8]);
        // No errors at all: the first classes.
        let cm =
            ConfusionMatrix::from_labels(10, &[3, 4], &[3, 4]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(confusion_classes(&cm, 3), vec![0, 1, 2]);
    }

    #[test]
    fn reliability_bins_hold_accuracy_and_confidence_per_bin() {
        let bins = reliability_bins(&[0.05, 0.95, 0.97, 1.0], &[false, true, false, true], 10);
        assert_eq!(bins.len(), 10);
        assert_eq!(bins[0], (0.0, 0.05, 1));
        let (acc, conf, n) = bins[9];
        assert_eq!(n, 3);
        assert!((acc - 2.0 / 3.0).abs() < 1e-12 && (conf - 2.92 / 3.0).abs() < 1e-12);
        assert!(bins[1..9].iter().all(|b| b.2 == 0));
    }

    #[test]
    fn tiny_probabilities_stay_visible() {
        assert_eq!(fmt_prob(0.934), "0.93");
        assert_eq!(fmt_prob(0.0003), "3e-4");
        assert_eq!(fmt_prob(0.0), "0.00");
    }
}

//! The learning curves: `history.parquet` (read and written by [`birds_artifacts::train::history`], re-exported
//! here) and `curves.png`.

use std::path::Path;

use plotters::prelude::*;

pub use birds_artifacts::train::history::{
    HistoryRow, read_history, read_test_predictions, write_history, write_test_predictions,
};

use crate::{Result, TrainError};

fn series(rows: &[HistoryRow], split: &str, value: fn(&HistoryRow) -> f64) -> Vec<(f64, f64)> {
    rows.iter()
        .filter(|r| r.split == split && value(r).is_finite())
        .map(|r| (f64::from(r.epoch), value(r)))
        .collect()
}

/// Draws `curves.png`: loss (left) and accuracy (right) per epoch, train and valid, with the head-warm-up epochs
/// shaded.
pub fn plot_curves(path: &Path, rows: &[HistoryRow], title: &str) -> Result<()> {
    let plot_err = |e: String| TrainError::file("drawing", path, e);
    birds_core::atomic::write_with(path, |tmp| -> Result<()> {
        // plotters picks the encoder from the extension; draw to a .png sibling of the temporary file.
        let png = tmp.with_extension("png");
        {
            let root = BitMapBackend::new(&png, (1100, 420)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| plot_err(e.to_string()))?;
            let root = root
                .titled(title, ("sans-serif", 20))
                .map_err(|e| plot_err(e.to_string()))?;
            let (left, right) = root.split_horizontally(550);
            let last_epoch = rows.iter().map(|r| r.epoch).max().unwrap_or(1).max(1);
            let warmup_end = rows
                .iter()
                .filter(|r| r.phase == "head-warmup")
                .map(|r| r.epoch)
                .max();
            let value_of: [fn(&HistoryRow) -> f64; 2] = [|r| r.loss, |r| r.accuracy];
            for ((area, name), value) in [(&left, "loss"), (&right, "accuracy")]
                .into_iter()
                .zip(value_of)
            {
                let train = series(rows, "train", value);
                let valid = series(rows, "valid", value);
                let ymax = train
                    .iter()
                    .chain(&valid)
                    .map(|p| p.1)
                    .fold(0.0f64, f64::max);
                let ymax = if name == "accuracy" {
                    1.0
                } else {
                    (ymax * 1.1).max(1e-3)
                };
                let mut chart = ChartBuilder::on(area)
                    .margin(12)
                    .caption(name, ("sans-serif", 16))
                    .x_label_area_size(32)
                    .y_label_area_size(48)
                    .build_cartesian_2d(0.5f64..f64::from(last_epoch) + 0.5, 0.0f64..ymax)
                    .map_err(|e| plot_err(e.to_string()))?;
                chart
                    .configure_mesh()
                    .x_desc("epoch")
                    .draw()
                    .map_err(|e| plot_err(e.to_string()))?;
                if let Some(end) = warmup_end {
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(0.5, 0.0), (f64::from(end) + 0.5, ymax)],
                            RGBColor(235, 235, 235).filled(),
                        )))
                        .map_err(|e| plot_err(e.to_string()))?;
                }
                for (points, color, label) in [(train, BLUE, "train"), (valid, RED, "valid")] {
                    chart
                        .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                        .map_err(|e| plot_err(e.to_string()))?
                        .label(label)
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                        });
                    chart
                        .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                        .map_err(|e| plot_err(e.to_string()))?;
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| plot_err(e.to_string()))?;
            }
            root.present().map_err(|e| plot_err(e.to_string()))?;
        }
        std::fs::rename(&png, tmp).map_err(|e| birds_core::CoreError::io("renaming", &png, e))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use birds_core::schema::train::HISTORY;

    fn rows() -> Vec<HistoryRow> {
        (1..=3)
            .flat_map(|e| {
                ["train", "valid"].map(|s| HistoryRow {
                    epoch: e,
                    split: s.into(),
                    phase: if e == 1 { "head-warmup" } else { "fine-tune" }.into(),
                    loss: 1.0 / f64::from(e),
                    accuracy: 0.3 * f64::from(e),
                    lr: 1e-3,
                    images_per_s: 10.0,
                    seconds: 2.0,
                })
            })
            .collect()
    }

    #[test]
    fn parquet_round_trip_and_png() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| TrainError::file("tempdir", "/tmp", e))?;
        let path = dir.path().join(HISTORY.file);
        write_history(&path, &rows())?;
        assert_eq!(read_history(&path)?, rows());
        let png = dir.path().join("curves.png");
        plot_curves(&png, &rows(), "test run")?;
        let bytes = std::fs::read(&png).map_err(|e| TrainError::file("reading", &png, e))?;
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .map_err(|e| TrainError::file("listing", dir.path(), e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        Ok(())
    }
}

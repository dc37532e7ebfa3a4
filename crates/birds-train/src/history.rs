//! The learning curves: `history.parquet` (schema `birds_core::schema::train::HISTORY`) and `curves.png`.

use std::path::Path;

use birds_core::schema::train::{HISTORY, TEST_PREDICTIONS};
use plotters::prelude::*;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Result, TrainError};

/// One pass over one split in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// 1-based epoch over the whole run.
    pub epoch: u32,
    /// `train` or `valid`.
    pub split: String,
    /// `head-warmup`, `fine-tune`, `feature-extract` or `scratch`.
    pub phase: String,
    /// Mean loss.
    pub loss: f64,
    /// Top-1 accuracy, 0–1.
    pub accuracy: f64,
    /// Head LR at the epoch's last step.
    pub lr: f64,
    /// Throughput of the pass.
    pub images_per_s: f64,
    /// Wall time of the pass.
    pub seconds: f64,
}

/// Writes `history.parquet` atomically, columns in schema order.
pub fn write_history(path: &Path, rows: &[HistoryRow]) -> Result<()> {
    let f64s = |f: fn(&HistoryRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let strs = |f: fn(&HistoryRow) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    let columns = vec![
        Column::new(
            "epoch".into(),
            rows.iter().map(|r| r.epoch).collect::<Vec<u32>>(),
        ),
        Column::new("split".into(), strs(|r| &r.split)),
        Column::new("phase".into(), strs(|r| &r.phase)),
        Column::new("loss".into(), f64s(|r| r.loss)),
        Column::new("accuracy".into(), f64s(|r| r.accuracy)),
        Column::new("lr".into(), f64s(|r| r.lr)),
        Column::new("images_per_s".into(), f64s(|r| r.images_per_s)),
        Column::new("seconds".into(), f64s(|r| r.seconds)),
    ];
    write_frame(path, rows.len(), columns, &HISTORY)
}

/// Writes a frame as Parquet atomically after checking its column names against `schema`.
pub fn write_frame(
    path: &Path,
    height: usize,
    columns: Vec<Column>,
    schema: &birds_core::schema::Schema,
) -> Result<()> {
    let err = |source| TrainError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let mut df = DataFrame::new(height, columns).map_err(err)?;
    let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
    if names != schema.names() {
        return Err(err(PolarsError::SchemaMismatch(
            format!("columns {names:?} differ from schema {:?}", schema.names()).into(),
        )));
    }
    birds_core::atomic::write_with(path, |tmp| -> Result<()> {
        let file = std::fs::File::create(tmp)
            .map_err(|e| birds_core::CoreError::io("creating", tmp, e))?;
        let mut writer = std::io::BufWriter::new(file);
        ParquetWriter::new(&mut writer)
            .finish(&mut df)
            .map_err(err)?;
        use std::io::Write as _;
        writer
            .flush()
            .map_err(|e| birds_core::CoreError::io("writing", tmp, e))?;
        Ok(())
    })
}

/// Reads `history.parquet` back.
pub fn read_history(path: &Path) -> Result<Vec<HistoryRow>> {
    let err = |source| TrainError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|e| TrainError::file("opening", path, e))?;
    let df = ParquetReader::new(file).finish().map_err(err)?;
    let col = |name: &str| df.column(name).map_err(err);
    let epoch = col("epoch")?.u32().map_err(err)?.clone();
    let split = col("split")?.str().map_err(err)?.clone();
    let phase = col("phase")?.str().map_err(err)?.clone();
    let f = |name: &str| -> Result<Vec<f64>> {
        Ok(col(name)?
            .f64()
            .map_err(err)?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    };
    let (loss, acc, lr, ips, secs) = (
        f("loss")?,
        f("accuracy")?,
        f("lr")?,
        f("images_per_s")?,
        f("seconds")?,
    );
    Ok((0..df.height())
        .map(|i| HistoryRow {
            epoch: epoch.get(i).unwrap_or(0),
            split: split.get(i).unwrap_or("").to_string(),
            phase: phase.get(i).unwrap_or("").to_string(),
            loss: loss[i],
            accuracy: acc[i],
            lr: lr[i],
            images_per_s: ips[i],
            seconds: secs[i],
        })
        .collect())
}

/// Writes `test_predictions.parquet` atomically: row i is test image i, its true class and the predicted class.
pub fn write_test_predictions(path: &Path, class_ids: &[u32], predicted: &[u32]) -> Result<()> {
    if class_ids.len() != predicted.len() {
        return Err(TrainError::Data(format!(
            "{} labels but {} predictions for {}",
            class_ids.len(),
            predicted.len(),
            path.display()
        )));
    }
    let n = class_ids.len();
    let columns = vec![
        Column::new("index".into(), (0..n as u32).collect::<Vec<u32>>()),
        Column::new("class_id".into(), class_ids.to_vec()),
        Column::new("predicted".into(), predicted.to_vec()),
    ];
    write_frame(path, n, columns, &TEST_PREDICTIONS)
}

/// Reads `test_predictions.parquet`: (true class, predicted class) per test image, in index order. Errors name the
/// file: a missing column, a null, or indices that are not 0, 1, 2, ….
pub fn read_test_predictions(path: &Path) -> Result<Vec<(u32, u32)>> {
    let err = |source| TrainError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|e| TrainError::file("opening", path, e))?;
    let df = ParquetReader::new(file).finish().map_err(err)?;
    let col = |name: &str| -> Result<Vec<Option<u32>>> {
        Ok(df
            .column(name)
            .map_err(err)?
            .u32()
            .map_err(err)?
            .iter()
            .collect())
    };
    let (index, class, pred) = (col("index")?, col("class_id")?, col("predicted")?);
    let mut out = Vec::with_capacity(index.len());
    for (i, ((x, c), p)) in index.iter().zip(&class).zip(&pred).enumerate() {
        match (x, c, p) {
            (Some(x), Some(c), Some(p)) if *x as usize == i => out.push((*c, *p)),
            _ => {
                return Err(TrainError::file(
                    "reading",
                    path,
                    format!("row {i}: null, or `index` out of order"),
                ));
            }
        }
    }
    Ok(out)
}

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

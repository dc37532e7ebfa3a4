//! The explain stage's files: `cams.parquet`, `metrics.json`, `gallery.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use birds_core::schema::explain::CAMS;
use polars::prelude::*;

use crate::run::Summary;
use crate::{ExplainError, Result};

/// File name of the figures.
pub const METRICS_FILE: &str = "metrics.json";
/// File name of the gallery page.
pub const GALLERY_FILE: &str = "gallery.md";

/// One row of `cams.parquet` (plus two fields used only to build the gallery and figures).
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct CamRow {
    pub image: String,
    pub split: Option<String>,
    pub selection: String,
    /// Rank of the weak class the image was drawn for (gallery only, not written).
    pub weak_rank: Option<usize>,
    pub in_check: bool,
    pub label: Option<String>,
    pub predicted: String,
    pub predicted_prob: f64,
    pub correct: Option<bool>,
    pub method: String,
    pub layer: String,
    pub target_kind: String,
    pub target: String,
    pub target_id: u32,
    pub target_prob: f64,
    pub target_logit: f64,
    pub map_width: u32,
    pub map_height: u32,
    pub raw_max: f64,
    pub peak_x: u32,
    pub peak_y: u32,
    pub mean: f64,
    pub top20_share: f64,
    pub entropy: f64,
    pub energy_in_mask: Option<f64>,
    pub mask_area: Option<f64>,
    pub pointing_hit: Option<bool>,
    pub drop_cam: Option<f64>,
    pub drop_random: Option<f64>,
    pub drop_blobs: Option<f64>,
    pub overlay: Option<String>,
}

fn pq_err(path: &Path, e: impl std::fmt::Display) -> ExplainError {
    ExplainError::Parquet {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Writes `cams.parquet` with the columns of [`CAMS`], in order (atomic).
pub fn cams_parquet(path: &Path, rows: &[CamRow]) -> Result<()> {
    let names = CAMS.names();
    let s = |i: usize| PlSmallStr::from_static(names[i]);
    macro_rules! column {
        ($i:expr, $f:expr) => {
            Column::new(s($i), rows.iter().map($f).collect::<Vec<_>>())
        };
    }
    let columns = vec![
        column!(0, |r: &CamRow| r.image.clone()),
        column!(1, |r: &CamRow| r.split.clone()),
        column!(2, |r: &CamRow| r.selection.clone()),
        column!(3, |r: &CamRow| r.in_check),
        column!(4, |r: &CamRow| r.label.clone()),
        column!(5, |r: &CamRow| r.predicted.clone()),
        column!(6, |r: &CamRow| r.predicted_prob),
        column!(7, |r: &CamRow| r.correct),
        column!(8, |r: &CamRow| r.method.clone()),
        column!(9, |r: &CamRow| r.layer.clone()),
        column!(10, |r: &CamRow| r.target_kind.clone()),
        column!(11, |r: &CamRow| r.target.clone()),
        column!(12, |r: &CamRow| r.target_id),
        column!(13, |r: &CamRow| r.target_prob),
        column!(14, |r: &CamRow| r.target_logit),
        column!(15, |r: &CamRow| r.map_width),
        column!(16, |r: &CamRow| r.map_height),
        column!(17, |r: &CamRow| r.raw_max),
        column!(18, |r: &CamRow| r.peak_x),
        column!(19, |r: &CamRow| r.peak_y),
        column!(20, |r: &CamRow| r.mean),
        column!(21, |r: &CamRow| r.top20_share),
        column!(22, |r: &CamRow| r.entropy),
        column!(23, |r: &CamRow| r.energy_in_mask),
        column!(24, |r: &CamRow| r.mask_area),
        column!(25, |r: &CamRow| r.pointing_hit),
        column!(26, |r: &CamRow| r.drop_cam),
        column!(27, |r: &CamRow| r.drop_random),
        column!(28, |r: &CamRow| r.drop_blobs),
        column!(29, |r: &CamRow| r.overlay.clone()),
    ];
    if columns.len() != names.len() {
        return Err(pq_err(
            path,
            format!(
                "{} columns written, schema has {}",
                columns.len(),
                names.len()
            ),
        ));
    }
    let mut df = DataFrame::new(rows.len(), columns).map_err(|e| pq_err(path, e))?;
    birds_core::atomic::write_with(path, |tmp| {
        let file = std::fs::File::create(tmp)
            .map_err(|e| birds_core::CoreError::io("creating", tmp, e))?;
        ParquetWriter::new(file)
            .finish(&mut df)
            .map_err(|e| pq_err(path, e))?;
        Ok::<(), ExplainError>(())
    })
}

/// Writes `metrics.json` (pretty, atomic).
pub fn metrics_json(path: &Path, summary: &Summary) -> Result<()> {
    let text = serde_json::to_string_pretty(summary)
        .map_err(|e| ExplainError::Invalid(format!("serialising {}: {e}", path.display())))?;
    birds_core::atomic::write_bytes(path, format!("{text}\n").as_bytes())?;
    Ok(())
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

/// `a/b c.png` → `a/b%20c.png` (Markdown links break on spaces).
fn link(rel: &str) -> String {
    birds_core::markdown::link(rel)
}

/// Writes `gallery.md`: the figures, then per weak class (or for the explicit images) a table of overlays and the
/// "why X, not Y" panels.
pub fn gallery(path: &Path, summary: &Summary, rows: &[CamRow]) -> Result<()> {
    let mut md = String::new();
    let _ = writeln!(md, "# Explain: what the model looked at\n");
    let _ = writeln!(
        md,
        "Model {} ({}, {} classes, {} px), layer `{}`, methods {}. Images: {} (selection: {}).\n",
        birds_core::markdown::code(&summary.checkpoint),
        summary.architecture,
        summary.classes,
        summary.input_size,
        summary.layer,
        summary.methods.join(", "),
        summary.split.as_deref().unwrap_or("given paths"),
        summary.selection.source,
    );
    let _ = writeln!(
        md,
        "Each overlay is the map for the predicted class (turbo colours, red = most important; white cross = peak; \
         white outline = ground-truth mask when known). Caption: true label, predicted label with its probability, \
         method.\n"
    );
    if !summary.localisation.is_empty() {
        let _ = writeln!(
            md,
            "## Localisation (correctly classified check images with a mask)\n"
        );
        let _ = writeln!(
            md,
            "| method | images | energy in mask | mask area (chance) | ratio | pointing game | chance |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for (m, l) in &summary.localisation {
            let _ = writeln!(
                md,
                "| {m} | {} | {} | {} | {:.2}× | {} | {} |",
                l.images,
                pct(l.energy_in_mask),
                pct(l.mask_area),
                l.energy_ratio,
                pct(l.pointing_game),
                pct(l.mask_area)
            );
        }
        let _ = writeln!(md);
    }
    if summary.deletion.values().any(|d| d.images > 0) {
        let _ = writeln!(
            md,
            "## Faithfulness: deletion test (check images, predicted class)\n"
        );
        let _ = writeln!(
            md,
            "Confidence drop after blurring {} of the pixels.\n",
            pct(summary.params.deletion_fraction)
        );
        let _ = writeln!(
            md,
            "| method | images | p before | drop: map's top pixels | drop: random pixels | drop: random blobs | map beats random |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for (m, d) in &summary.deletion {
            let _ = writeln!(
                md,
                "| {m} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {} |",
                d.images,
                d.p_original,
                d.drop_cam,
                d.drop_random,
                d.drop_blobs,
                pct(d.cam_beats_random)
            );
        }
        let _ = writeln!(md);
    }

    let drawn: Vec<&CamRow> = rows.iter().filter(|r| r.overlay.is_some()).collect();
    // Group by weak class rank (None = explicit images).
    let mut groups: BTreeMap<Option<usize>, Vec<&CamRow>> = BTreeMap::new();
    for r in &drawn {
        groups.entry(r.weak_rank).or_default().push(r);
    }
    let methods = &summary.methods;
    for (rank, group) in groups {
        match rank {
            Some(rank) => {
                let weak = summary
                    .selection
                    .weak_classes
                    .iter()
                    .find(|w| w.rank == rank);
                let name = weak.map(|w| w.label.as_str()).unwrap_or("?");
                let recall = weak
                    .and_then(|w| {
                        w.recall
                            .map(|r| format!(", recall {} of {} images", pct(r), w.images))
                    })
                    .unwrap_or_default();
                let name = birds_core::markdown::escape(name);
                let _ = writeln!(md, "## {rank}. {name}{recall}\n");
            }
            None => {
                let _ = writeln!(md, "## Images\n");
            }
        }
        let _ = write!(md, "| image | true | predicted | p | target |");
        for m in methods {
            let _ = write!(md, " {m} |");
        }
        let _ = writeln!(md);
        let _ = writeln!(md, "|{}", "---|".repeat(5 + methods.len()));
        // One table row per (image, target kind, target).
        let mut keys: Vec<(String, String, String, String)> = Vec::new();
        for r in &group {
            let key = (
                r.selection.clone(),
                r.image.clone(),
                r.target_kind.clone(),
                r.target.clone(),
            );
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        for (_, image, kind, target) in &keys {
            let cells: Vec<&&CamRow> = group
                .iter()
                .filter(|r| &r.image == image && &r.target_kind == kind && &r.target == target)
                .collect();
            let Some(first) = cells.first() else { continue };
            let _ = write!(
                md,
                "| {} | {} | {} | {:.2} | {kind}: {} |",
                birds_core::markdown::code(image),
                birds_core::markdown::escape(first.label.as_deref().unwrap_or("?")),
                birds_core::markdown::escape(&first.predicted),
                first.predicted_prob,
                birds_core::markdown::escape(target),
            );
            for m in methods {
                match cells
                    .iter()
                    .find(|r| &r.method == m)
                    .and_then(|r| r.overlay.as_deref())
                {
                    Some(o) => {
                        let _ = write!(md, " ![{m}]({}) |", link(o));
                    }
                    None => {
                        let _ = write!(md, " |");
                    }
                }
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md);
        // Why-not panels of this group's misclassified images.
        let mut panels: Vec<String> = Vec::new();
        for r in group.iter().filter(|r| r.target_kind == "true") {
            if let Some(o) = &r.overlay {
                let p = o
                    .replacen("overlays/", "why_not/", 1)
                    .replace(".true.png", ".png");
                if !panels.contains(&p) {
                    panels.push(p);
                }
            }
        }
        if !panels.is_empty() {
            let _ = writeln!(
                md,
                "Why the prediction, not the true class (map for each, side by side):\n"
            );
            for p in panels {
                let _ = writeln!(md, "![why not]({})\n", link(&p));
            }
        }
    }
    birds_core::atomic::write_bytes(path, md.as_bytes())?;
    Ok(())
}

//! The explain stage's files: `cams.parquet`, `metrics.json`, `gallery.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use birds_artifacts::FrameBuilder;
use birds_core::schema::explain::CAMS;

use crate::Result;
use crate::cam::CamMethod;
use crate::run::Summary;

/// File name of the figures.
pub const METRICS_FILE: &str = "metrics.json";
/// File name of the gallery page.
pub const GALLERY_FILE: &str = "gallery.md";

/// What a map (a row of `cams.parquet`) explains: the predicted class, the true class (why-not panels of
/// misclassified drawn images) or the class the `class` param names. Written as `predicted`, `true`, `class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TargetKind {
    /// The top-1 class.
    Predicted,
    /// The image's true class.
    True,
    /// The class of the `class` param.
    Class,
}

impl TargetKind {
    /// The name written to `cams.parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Predicted => "predicted",
            TargetKind::True => "true",
            TargetKind::Class => "class",
        }
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    pub method: CamMethod,
    pub layer: String,
    pub target_kind: TargetKind,
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

/// Writes `cams.parquet`: every column of [`CAMS`] set by name, placed and checked in the schema's order by
/// [`FrameBuilder`] (atomic).
pub fn cams_parquet(path: &Path, rows: &[CamRow]) -> Result<()> {
    fn of<T>(rows: &[CamRow], f: impl Fn(&CamRow) -> T) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    FrameBuilder::new(&CAMS, rows.len())
        .set("image", of(rows, |r| r.image.clone()))
        .set("split", of(rows, |r| r.split.clone()))
        .set("selection", of(rows, |r| r.selection.clone()))
        .set("in_check", of(rows, |r| r.in_check))
        .set("label", of(rows, |r| r.label.clone()))
        .set("predicted", of(rows, |r| r.predicted.clone()))
        .set("predicted_prob", of(rows, |r| r.predicted_prob))
        .set("correct", of(rows, |r| r.correct))
        .set("method", of(rows, |r| r.method.as_str()))
        .set("layer", of(rows, |r| r.layer.clone()))
        .set("target_kind", of(rows, |r| r.target_kind.as_str()))
        .set("target", of(rows, |r| r.target.clone()))
        .set("target_id", of(rows, |r| r.target_id))
        .set("target_prob", of(rows, |r| r.target_prob))
        .set("target_logit", of(rows, |r| r.target_logit))
        .set("map_width", of(rows, |r| r.map_width))
        .set("map_height", of(rows, |r| r.map_height))
        .set("raw_max", of(rows, |r| r.raw_max))
        .set("peak_x", of(rows, |r| r.peak_x))
        .set("peak_y", of(rows, |r| r.peak_y))
        .set("mean", of(rows, |r| r.mean))
        .set("top20_share", of(rows, |r| r.top20_share))
        .set("entropy", of(rows, |r| r.entropy))
        .set("energy_in_mask", of(rows, |r| r.energy_in_mask))
        .set("mask_area", of(rows, |r| r.mask_area))
        .set("pointing_hit", of(rows, |r| r.pointing_hit))
        .set("drop_cam", of(rows, |r| r.drop_cam))
        .set("drop_random", of(rows, |r| r.drop_random))
        .set("drop_blobs", of(rows, |r| r.drop_blobs))
        .set("overlay", of(rows, |r| r.overlay.clone()))
        .write(path)?;
    Ok(())
}

/// Writes `metrics.json` (pretty, atomic).
pub fn metrics_json(path: &Path, summary: &Summary) -> Result<()> {
    Ok(birds_artifacts::json::write_json(path, summary)?)
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
    gallery_intro(&mut md, summary);
    localisation_table(&mut md, summary);
    deletion_table(&mut md, summary);
    let drawn: Vec<&CamRow> = rows.iter().filter(|r| r.overlay.is_some()).collect();
    // Group by weak class rank (None = explicit images).
    let mut groups: BTreeMap<Option<usize>, Vec<&CamRow>> = BTreeMap::new();
    for r in &drawn {
        groups.entry(r.weak_rank).or_default().push(r);
    }
    for (rank, group) in groups {
        group_heading(&mut md, summary, rank);
        overlay_table(&mut md, &summary.methods, &group);
        why_not_panels(&mut md, &group);
    }
    birds_core::atomic::write_bytes(path, md.as_bytes())?;
    Ok(())
}

/// The gallery's title, the model line and how to read an overlay.
fn gallery_intro(md: &mut String, summary: &Summary) {
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
}

/// The localisation figures per method (when the images had masks).
fn localisation_table(md: &mut String, summary: &Summary) {
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
}

/// The deletion test's figures per method (when any image was checked).
fn deletion_table(md: &mut String, summary: &Summary) {
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
}

/// A group's heading: the weak class with its rank and recall, or "Images" for explicit images.
fn group_heading(md: &mut String, summary: &Summary, rank: Option<usize>) {
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
}

/// A group's table: one row per (image, target kind, target), one overlay column per method.
fn overlay_table(md: &mut String, methods: &[String], group: &[&CamRow]) {
    let _ = write!(md, "| image | true | predicted | p | target |");
    for m in methods {
        let _ = write!(md, " {m} |");
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "|{}", "---|".repeat(5 + methods.len()));
    // One table row per (image, target kind, target).
    let mut keys: Vec<(String, String, TargetKind, String)> = Vec::new();
    for r in group {
        let key = (
            r.selection.clone(),
            r.image.clone(),
            r.target_kind,
            r.target.clone(),
        );
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (_, image, kind, target) in &keys {
        let cells: Vec<&&CamRow> = group
            .iter()
            .filter(|r| &r.image == image && r.target_kind == *kind && &r.target == target)
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
                .find(|r| r.method.as_str() == m.as_str())
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
}

/// The "why the prediction, not the true class" panels of a group's misclassified images.
fn why_not_panels(md: &mut String, group: &[&CamRow]) {
    // Why-not panels of this group's misclassified images.
    let mut panels: Vec<String> = Vec::new();
    for r in group.iter().filter(|r| r.target_kind == TargetKind::True) {
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

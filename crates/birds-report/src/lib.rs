//! # birds-report
//!
//! The last pipeline stage: one self-contained HTML page (`index.html`) that tells a run's whole story — run
//! parameters and versions, the ingest audit, training curves, the pretrained-vs-scratch comparison, summary
//! metrics, a sortable per-class table, the confusion heatmap, the most-confused pairs with example thumbnails, the
//! "needs more training" list and the Grad-CAM gallery with "why X, not Y" pairs.
//!
//! The page needs nothing else: CSS and a few lines of JavaScript are inline, charts are inline SVG, images are
//! JPEG `data:` URIs, and a Content-Security-Policy forbids any network access. Every piece of text that comes
//! from data (class labels, paths, params) goes through [`html::escape`].
//!
//! - [`load`]: reads the other stages' output folders ([`Inputs`]); each is optional and a missing one makes its
//!   sections say "Not run".
//! - [`render`]: the page; [`svg`]: line charts and the heatmap; [`images`]: thumbnails as `data:` URIs;
//!   [`html`]: escaping and number formatting; Parquet columns are read with `birds_artifacts::Frame`.
//! - [`params`]: [`ReportParams`]; [`stage`]: [`ReportStage`], the pipeline's `uses: report`.
//! - [`compare`]: [`compare::CompareStage`], the pipeline's `uses: compare` (the train runs in one table).
//!
//! Inputs: output folders of `synth`, `ingest`, `preprocess`, up to eight `train` runs, `evaluate` and `explain`.
//! Output: `index.html` in the output folder.

pub mod compare;
pub mod error;
pub mod html;
pub mod images;
pub mod load;
pub mod params;
pub mod render;
pub mod stage;
pub mod svg;

use std::path::{Path, PathBuf};

pub use error::{ReportError, Result};
pub use load::Inputs;
pub use params::ReportParams;
pub use render::{PageStats, SECTIONS};
pub use stage::ReportStage;

/// File name of the page inside the output folder.
pub const INDEX_FILE: &str = "index.html";

/// What [`report`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The page.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: usize,
    /// What it holds.
    pub stats: PageStats,
}

/// Reads `inputs`, renders the page and writes `<out_dir>/index.html` atomically.
pub fn report(inputs: &Inputs, params: &ReportParams, out_dir: &Path) -> Result<Written> {
    params.validate()?;
    let data = load::load(inputs)?;
    let (page, stats) = render::render(&data, params);
    std::fs::create_dir_all(out_dir).map_err(|e| ReportError::file(out_dir, e))?;
    let path = out_dir.join(INDEX_FILE);
    birds_core::atomic::write_bytes(&path, page.as_bytes())?;
    tracing::info!(
        path = %path.display(),
        bytes = page.len(),
        images = stats.images,
        not_run = stats.sections_not_run,
        "report written"
    );
    Ok(Written {
        path,
        bytes: page.len(),
        stats,
    })
}

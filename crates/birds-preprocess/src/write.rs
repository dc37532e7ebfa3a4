//! Building the cache: `images.parquet` → shards + `preprocessed.parquet` + `failures.json` + `cache.json`.
//!
//! Streaming: rows are processed `shard_images` at a time (decoded and resized in parallel with rayon, in a fixed
//! order), and each batch is written as one shard before the next is decoded, so memory holds at most one shard of
//! pixels whatever the dataset size. Output bytes depend only on the inputs and params (no timestamps, no thread
//! order).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use birds_artifacts::FrameBuilder;
use birds_core::atomic::{write_bytes, write_with};
use birds_core::schema::preprocess::PREPROCESSED;
use fast_image_resize as fir;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::index::{IndexRow, class_labels, images_parquet, read_index};
use crate::manifest::{
    FAILURES_FILE, FORMAT, FORMAT_VERSION, Failure, MANIFEST_FILE, Manifest, ShardInfo,
    is_shard_file_name, shard_file_name, shard_header,
};
use crate::params::PreprocessParams;
use crate::resize::{Prepared, prepare};
use crate::{PreprocessError, Result};

/// How to run (does not change the output).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Show a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Worker threads for decoding; 0 = rayon's global pool (all cores or `RAYON_NUM_THREADS`).
    pub threads: usize,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Images written to the cache.
    pub images: usize,
    /// Rows ingest had marked as not decodable (skipped).
    pub skipped_ingest: usize,
    /// Rows that failed to decode or resize here.
    pub failures: usize,
    /// Shard files written.
    pub shards: usize,
    /// Bytes of pixels written.
    pub pixel_bytes: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

struct Row {
    sample: u32,
    index: usize,
    shard: usize,
    shard_index: u32,
    offset: u64,
    source_width: u32,
    source_height: u32,
}

fn failure(row: &IndexRow, source: &str, error: String) -> Failure {
    Failure {
        path: row.path.clone(),
        root: row.root.clone(),
        split: row.split.as_str().to_string(),
        label: row.label.clone(),
        source: source.to_string(),
        error,
    }
}

/// Writes one shard atomically from `images` (each `side`²·3 bytes); returns its manifest entry.
fn write_shard(dir: &Path, n: usize, side: u32, images: &[Prepared]) -> Result<ShardInfo> {
    let name = shard_file_name(n);
    let path = dir.join(&name);
    let header = shard_header(images.len(), side);
    let mut hasher = blake3::Hasher::new();
    let mut bytes = 0u64;
    write_with(&path, |tmp| -> Result<()> {
        let file = File::create(tmp).map_err(|e| PreprocessError::io("creating", tmp, e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let mut put = |chunk: &[u8]| -> Result<()> {
            hasher.update(chunk);
            bytes += chunk.len() as u64;
            w.write_all(chunk)
                .map_err(|e| PreprocessError::io("writing", tmp, e))
        };
        put(&(header.len() as u64).to_le_bytes())?;
        put(&header)?;
        for img in images {
            put(&img.pixels)?;
        }
        w.flush()
            .map_err(|e| PreprocessError::io("writing", tmp, e))?;
        Ok(())
    })?;
    Ok(ShardInfo {
        file: name,
        images: images.len(),
        data_offset: 8 + header.len() as u64,
        bytes,
        blake3: hasher.finalize().to_hex().to_string(),
    })
}

/// Writes `preprocessed.parquet` (columns set by name, checked against [`PREPROCESSED`], atomic).
fn write_preprocessed(
    path: &Path,
    rows: &[Row],
    index: &[IndexRow],
    shards: &[ShardInfo],
    side: u32,
) -> Result<()> {
    let n = rows.len();
    let pick = |f: &dyn Fn(&IndexRow) -> &str| -> Vec<&str> {
        rows.iter().map(|r| f(&index[r.index])).collect()
    };
    let u32s = |f: &dyn Fn(&Row) -> u32| -> Vec<u32> { rows.iter().map(f).collect() };
    FrameBuilder::new(&PREPROCESSED, n)
        .set("sample", u32s(&|r| r.sample))
        .set("path", pick(&|r| &r.path))
        .set("root", pick(&|r| &r.root))
        .set("split", pick(&|r| r.split.as_str()))
        .set("label", pick(&|r| &r.label))
        .set("class_id", u32s(&|r| index[r.index].class_id))
        .set(
            "shard",
            rows.iter()
                .map(|r| shards[r.shard].file.as_str())
                .collect::<Vec<&str>>(),
        )
        .set("shard_index", u32s(&|r| r.shard_index))
        .set(
            "offset",
            rows.iter().map(|r| r.offset).collect::<Vec<u64>>(),
        )
        .set("width", vec![side; n])
        .set("height", vec![side; n])
        .set("source_width", u32s(&|r| r.source_width))
        .set("source_height", u32s(&|r| r.source_height))
        .write(path)?;
    Ok(())
}

fn progress_bar(total: usize, show: bool) -> ProgressBar {
    let target = if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let pb = ProgressBar::with_draw_target(Some(total as u64), target);
    if let Ok(style) =
        ProgressStyle::with_template("preprocess {bar:30} {pos}/{len} images {per_sec} eta {eta}")
    {
        pb.set_style(style);
    }
    pb
}

/// Builds the cache in `out_dir` from `index` (the ingest output folder, or its `images.parquet`).
///
/// Rows ingest marked as not `ok` are skipped; rows that fail to decode here are listed in `failures.json`; neither
/// is fatal. Fails only when params are invalid, the index is unreadable, nothing decodes, or writing fails.
pub fn preprocess(
    index: &Path,
    out_dir: &Path,
    params: &PreprocessParams,
    options: RunOptions,
) -> Result<Summary> {
    params.validate()?;
    let start = Instant::now();
    let index_file = images_parquet(index);
    let rows = read_index(&index_file)?;
    let classes = class_labels(&rows, &index_file)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| PreprocessError::io("creating folder", out_dir, e))?;
    // An old manifest would describe shards about to be overwritten: remove it first.
    let manifest_path = out_dir.join(MANIFEST_FILE);
    if manifest_path.exists() {
        std::fs::remove_file(&manifest_path)
            .map_err(|e| PreprocessError::io("removing", &manifest_path, e))?;
    }

    let mut failures: Vec<Failure> = rows
        .iter()
        .filter(|r| !r.ok)
        .map(|r| {
            let why = r.error.clone().unwrap_or_else(|| "not decodable".into());
            failure(r, "ingest", why)
        })
        .collect();
    let skipped_ingest = failures.len();
    let todo: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].ok).collect();
    let side = params.stored_side();
    let image_bytes = u64::from(side) * u64::from(side) * 3;
    tracing::info!(
        index = %index_file.display(),
        images = todo.len(),
        skipped_ingest,
        side,
        "preprocess: start"
    );

    let pool = if options.threads > 0 {
        Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(options.threads)
                .build()
                .map_err(|e| PreprocessError::param("threads", e.to_string()))?,
        )
    } else {
        None
    };
    let pb = progress_bar(todo.len(), options.progress);
    let mut out_rows: Vec<Row> = Vec::with_capacity(todo.len());
    let mut shards: Vec<ShardInfo> = Vec::new();
    let mut preprocess_failures = 0usize;
    // Shard k is written (hashed, copied to the page cache) on a thread of its own while shard k + 1 is decoded:
    // writing one 256 px shard of 1,024 images (200 MB) takes a core a few hundred ms, which would otherwise leave
    // the decoding pool idle. At most two shards of pixels are in memory. Shards finish in order, so rows keep the
    // cache order.
    let mut started = 0usize;
    std::thread::scope(|scope| -> Result<()> {
        type Writing<'s> = (
            std::thread::ScopedJoinHandle<'s, Result<ShardInfo>>,
            Vec<(usize, u32, u32)>,
            usize,
        );
        let finish = |writing: Writing<'_>,
                      out_rows: &mut Vec<Row>,
                      shards: &mut Vec<ShardInfo>|
         -> Result<()> {
            let (handle, pending, shard_no) = writing;
            let info = handle.join().map_err(|_| {
                PreprocessError::io(
                    "writing",
                    out_dir.join(shard_file_name(shard_no)),
                    std::io::Error::other("the shard writer panicked"),
                )
            })??;
            for (k, (i, sw, sh)) in pending.into_iter().enumerate() {
                out_rows.push(Row {
                    sample: out_rows.len() as u32,
                    index: i,
                    shard: shard_no,
                    shard_index: k as u32,
                    offset: info.data_offset + k as u64 * image_bytes,
                    source_width: sw,
                    source_height: sh,
                });
            }
            shards.push(info);
            Ok(())
        };
        let mut writing: Option<Writing<'_>> = None;
        for chunk in todo.chunks(params.shard_images) {
            let work = || -> Vec<Result<Prepared>> {
                chunk
                    .par_iter()
                    .map_init(fir::Resizer::new, |resizer, &i| {
                        let r = prepare(resizer, &rows[i].file(), params);
                        pb.inc(1);
                        r
                    })
                    .collect()
            };
            let results = match &pool {
                Some(p) => p.install(work),
                None => work(),
            };
            let mut images = Vec::with_capacity(results.len());
            let mut pending = Vec::with_capacity(results.len());
            for (&i, result) in chunk.iter().zip(results) {
                match result {
                    Ok(prepared) => {
                        pending.push((i, prepared.source_width, prepared.source_height));
                        images.push(prepared);
                    }
                    Err(e) => {
                        let reason = match e {
                            PreprocessError::Image { reason, .. } => reason,
                            other => other.to_string(),
                        };
                        tracing::warn!(path = %rows[i].file().display(), %reason, "skipping image");
                        failures.push(failure(&rows[i], "preprocess", reason));
                        preprocess_failures += 1;
                    }
                }
            }
            if images.is_empty() {
                continue;
            }
            if let Some(w) = writing.take() {
                finish(w, &mut out_rows, &mut shards)?;
            }
            let shard_no = started;
            started += 1;
            let handle = scope.spawn(move || write_shard(out_dir, shard_no, side, &images));
            writing = Some((handle, pending, shard_no));
        }
        if let Some(w) = writing.take() {
            finish(w, &mut out_rows, &mut shards)?;
        }
        Ok(())
    })?;
    pb.finish_and_clear();

    write_bytes(
        &out_dir.join(FAILURES_FILE),
        &serde_json::to_vec_pretty(&failures)
            .map_err(|e| PreprocessError::cache(out_dir.join(FAILURES_FILE), e.to_string()))?,
    )?;
    if out_rows.is_empty() {
        return Err(PreprocessError::NothingDecoded {
            path: index_file,
            failures: failures.len(),
        });
    }
    write_preprocessed(
        &out_dir.join(PREPROCESSED.file),
        &out_rows,
        &rows,
        &shards,
        side,
    )?;
    let manifest = Manifest {
        format: FORMAT.to_string(),
        format_version: FORMAT_VERSION,
        birds_version: birds_core::VERSION.to_string(),
        params: params.clone(),
        stored_side: side,
        channels: 3,
        layout: "HWC".to_string(),
        dtype: "U8".to_string(),
        images: out_rows.len(),
        skipped_ingest,
        failures: preprocess_failures,
        classes,
        shards,
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| PreprocessError::cache(&manifest_path, e.to_string()))?;
    write_bytes(&manifest_path, &text)?;
    remove_stale_shards(out_dir, &manifest)?;

    let summary = Summary {
        images: out_rows.len(),
        skipped_ingest,
        failures: preprocess_failures,
        shards: manifest.shards.len(),
        pixel_bytes: out_rows.len() as u64 * image_bytes,
        seconds: start.elapsed().as_secs_f64(),
    };
    tracing::info!(
        images = summary.images,
        failures = summary.failures,
        skipped_ingest,
        shards = summary.shards,
        seconds = summary.seconds,
        "preprocess: done"
    );
    Ok(summary)
}

/// Removes `shard-NNNNN.safetensors` files of an earlier, larger run that the manifest does not list.
fn remove_stale_shards(dir: &Path, manifest: &Manifest) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| PreprocessError::io("listing", dir, e))?;
    let keep: std::collections::HashSet<&str> =
        manifest.shards.iter().map(|s| s.file.as_str()).collect();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_shard_file_name(name) && !keep.contains(name) {
            let path: PathBuf = entry.path();
            std::fs::remove_file(&path).map_err(|e| PreprocessError::io("removing", &path, e))?;
        }
    }
    Ok(())
}

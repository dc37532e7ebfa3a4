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

/// The index read and the work planned, before any pixel is decoded.
struct Plan {
    /// The `images.parquet` read.
    index_file: PathBuf,
    /// Its rows, in index order.
    rows: Vec<IndexRow>,
    /// Class labels by class id.
    classes: Vec<String>,
    /// Where `cache.json` goes (any old one already removed).
    manifest_path: PathBuf,
    /// The rows ingest marked as not decodable; the decode failures are appended to it.
    failures: Vec<Failure>,
    /// How many of `failures` came from ingest.
    skipped_ingest: usize,
    /// Indices into `rows` of the rows to decode, in cache order.
    todo: Vec<usize>,
}

/// What the decode/write loop produced.
struct Written {
    /// One row per image written, in cache order.
    rows: Vec<Row>,
    /// The shards written, in order.
    shards: Vec<ShardInfo>,
    /// Rows that failed to decode or resize here.
    failures: usize,
}

/// A shard being written on a thread of its own: the writer, the `(row, source width, source height)` of each
/// of its images, and the shard's number.
struct Writing<'s> {
    handle: std::thread::ScopedJoinHandle<'s, Result<ShardInfo>>,
    pending: Vec<(usize, u32, u32)>,
    shard_no: usize,
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
    let mut plan = plan_work(index, out_dir)?;
    let side = params.stored_side();
    let image_bytes = u64::from(side) * u64::from(side) * 3;
    tracing::info!(
        index = %plan.index_file.display(),
        images = plan.todo.len(),
        skipped_ingest = plan.skipped_ingest,
        side,
        "preprocess: start"
    );

    let pool = thread_pool(options.threads)?;
    let pb = progress_bar(plan.todo.len(), options.progress);
    let written = decode_and_write_shards(
        &plan.rows,
        &plan.todo,
        out_dir,
        params,
        pool.as_ref(),
        &pb,
        &mut plan.failures,
    )?;
    pb.finish_and_clear();

    let manifest = write_index_and_manifest(out_dir, params, plan, written)?;
    let skipped_ingest = manifest.skipped_ingest;
    let summary = Summary {
        images: manifest.images,
        skipped_ingest,
        failures: manifest.failures,
        shards: manifest.shards.len(),
        pixel_bytes: manifest.images as u64 * image_bytes,
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

/// Reads the index and its class labels, creates `out_dir` and removes an old manifest (it would describe shards
/// about to be overwritten), lists the rows ingest could not decode and plans the others.
fn plan_work(index: &Path, out_dir: &Path) -> Result<Plan> {
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

    let failures: Vec<Failure> = rows
        .iter()
        .filter(|r| !r.ok)
        .map(|r| {
            let why = r.error.clone().unwrap_or_else(|| "not decodable".into());
            failure(r, "ingest", why)
        })
        .collect();
    let skipped_ingest = failures.len();
    let todo: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].ok).collect();
    Ok(Plan {
        index_file,
        rows,
        classes,
        manifest_path,
        failures,
        skipped_ingest,
        todo,
    })
}

/// A pool of `threads` decoding threads; None (rayon's global pool) for 0.
fn thread_pool(threads: usize) -> Result<Option<rayon::ThreadPool>> {
    if threads == 0 {
        return Ok(None);
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map(Some)
        .map_err(|e| PreprocessError::param("threads", e.to_string()))
}

/// Decodes and resizes the `todo` rows `params.shard_images` at a time and writes each batch as one shard in
/// `out_dir`; rows that fail are appended to `failures`.
///
/// Shard k is written (hashed, copied to the page cache) on a thread of its own while shard k + 1 is decoded:
/// writing one 256 px shard of 1,024 images (200 MB) takes a core a few hundred ms, which would otherwise leave
/// the decoding pool idle. At most two shards of pixels are in memory. Shards finish in order, so rows keep the
/// cache order.
fn decode_and_write_shards(
    rows: &[IndexRow],
    todo: &[usize],
    out_dir: &Path,
    params: &PreprocessParams,
    pool: Option<&rayon::ThreadPool>,
    pb: &ProgressBar,
    failures: &mut Vec<Failure>,
) -> Result<Written> {
    let side = params.stored_side();
    let image_bytes = u64::from(side) * u64::from(side) * 3;
    let mut written = Written {
        rows: Vec::with_capacity(todo.len()),
        shards: Vec::new(),
        failures: 0,
    };
    let mut started = 0usize;
    std::thread::scope(|scope| -> Result<()> {
        let mut writing: Option<Writing<'_>> = None;
        for chunk in todo.chunks(params.shard_images) {
            let results = decode_chunk(chunk, rows, params, pool, pb);
            let (images, pending) = partition_results(chunk, results, rows, failures);
            // Every row of the chunk is either an image to write or a failure.
            written.failures += chunk.len() - images.len();
            if images.is_empty() {
                continue;
            }
            if let Some(w) = writing.take() {
                finish_shard(w, out_dir, image_bytes, &mut written)?;
            }
            let shard_no = started;
            started += 1;
            let handle = scope.spawn(move || write_shard(out_dir, shard_no, side, &images));
            writing = Some(Writing {
                handle,
                pending,
                shard_no,
            });
        }
        if let Some(w) = writing.take() {
            finish_shard(w, out_dir, image_bytes, &mut written)?;
        }
        Ok(())
    })?;
    Ok(written)
}

/// Decodes and resizes the rows of `chunk` in parallel (in `pool`, else rayon's global pool); results in `chunk`
/// order.
fn decode_chunk(
    chunk: &[usize],
    rows: &[IndexRow],
    params: &PreprocessParams,
    pool: Option<&rayon::ThreadPool>,
    pb: &ProgressBar,
) -> Vec<Result<Prepared>> {
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
    match pool {
        Some(p) => p.install(work),
        None => work(),
    }
}

/// Splits the `results` of `chunk` into the images to write with their `(row, source width, source height)`, and
/// the failures, logged and appended to `failures`.
fn partition_results(
    chunk: &[usize],
    results: Vec<Result<Prepared>>,
    rows: &[IndexRow],
    failures: &mut Vec<Failure>,
) -> (Vec<Prepared>, Vec<(usize, u32, u32)>) {
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
            }
        }
    }
    (images, pending)
}

/// Waits for a shard's writer and records the shard and its rows in `written` (each image `image_bytes` long).
fn finish_shard(
    writing: Writing<'_>,
    out_dir: &Path,
    image_bytes: u64,
    written: &mut Written,
) -> Result<()> {
    let Writing {
        handle,
        pending,
        shard_no,
    } = writing;
    let info = handle.join().map_err(|_| {
        PreprocessError::io(
            "writing",
            out_dir.join(shard_file_name(shard_no)),
            std::io::Error::other("the shard writer panicked"),
        )
    })??;
    for (k, (i, sw, sh)) in pending.into_iter().enumerate() {
        written.rows.push(Row {
            sample: written.rows.len() as u32,
            index: i,
            shard: shard_no,
            shard_index: k as u32,
            offset: info.data_offset + k as u64 * image_bytes,
            source_width: sw,
            source_height: sh,
        });
    }
    written.shards.push(info);
    Ok(())
}

/// Writes `failures.json`, then (unless nothing decoded, an error) `preprocessed.parquet` and `cache.json`, and
/// removes the shards of an earlier run that the manifest does not list; returns the manifest.
fn write_index_and_manifest(
    out_dir: &Path,
    params: &PreprocessParams,
    plan: Plan,
    written: Written,
) -> Result<Manifest> {
    write_bytes(
        &out_dir.join(FAILURES_FILE),
        &serde_json::to_vec_pretty(&plan.failures)
            .map_err(|e| PreprocessError::cache(out_dir.join(FAILURES_FILE), e.to_string()))?,
    )?;
    if written.rows.is_empty() {
        return Err(PreprocessError::NothingDecoded {
            path: plan.index_file,
            failures: plan.failures.len(),
        });
    }
    let side = params.stored_side();
    write_preprocessed(
        &out_dir.join(PREPROCESSED.file),
        &written.rows,
        &plan.rows,
        &written.shards,
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
        images: written.rows.len(),
        skipped_ingest: plan.skipped_ingest,
        failures: written.failures,
        classes: plan.classes,
        shards: written.shards,
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| PreprocessError::cache(&plan.manifest_path, e.to_string()))?;
    write_bytes(&plan.manifest_path, &text)?;
    remove_stale_shards(out_dir, &manifest)?;
    Ok(manifest)
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

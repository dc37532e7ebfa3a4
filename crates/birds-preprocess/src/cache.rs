//! Opening a cache: the manifest, `preprocessed.parquet`, and the memory-mapped shards.
//!
//! ```no_run
//! use birds_core::Split;
//! use birds_preprocess::Cache;
//! # fn main() -> birds_preprocess::Result<()> {
//! let cache = Cache::open("runs/preprocess".as_ref())?;
//! let train = cache.split(Split::Train);
//! println!("{} training images of {} classes", train.len(), cache.num_classes());
//! let first: &[u8] = cache.image(train.ids()[0]); // side × side × 3 bytes, HWC
//! # let _ = first; Ok(()) }
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use birds_artifacts::Frame;
use birds_core::Split;
use birds_core::schema::preprocess::PREPROCESSED;
use memmap2::Mmap;

use crate::manifest::{FORMAT, FORMAT_VERSION, MANIFEST_FILE, Manifest, TENSOR_NAME};
use crate::{PreprocessError, Result};

/// One cached image's metadata (a row of `preprocessed.parquet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Path relative to the data root.
    pub path: String,
    /// The data root.
    pub root: String,
    /// Dataset split.
    pub split: Split,
    /// Class label.
    pub label: String,
    /// Class index (the training target).
    pub class_id: u32,
    /// Width of the decoded original.
    pub source_width: u32,
    /// Height of the decoded original.
    pub source_height: u32,
}

struct Shard {
    map: Mmap,
    data_offset: usize,
    images: usize,
}

struct Inner {
    dir: PathBuf,
    manifest: Manifest,
    samples: Vec<Sample>,
    /// (shard number, byte offset in that shard's map) per sample.
    locations: Vec<(u32, usize)>,
    shards: Vec<Shard>,
    image_bytes: usize,
}

/// An opened preprocess cache. Cheap to clone (shared); the shards stay memory-mapped while any clone lives.
///
/// The shard files must not be modified while a cache is open (as with any memory map, truncating them under a
/// reader would crash it); the pipeline writes new caches into new folders.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("dir", &self.inner.dir)
            .field("images", &self.inner.samples.len())
            .field("stored_side", &self.inner.manifest.stored_side)
            .finish()
    }
}

#[allow(unsafe_code)]
fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(|e| PreprocessError::io("opening", path, e))?;
    // SAFETY: the map is read-only and the cache contract is that shard files are not modified while open (see
    // `Cache`); every offset read through it is checked against the file's length in `Cache::open`.
    unsafe { Mmap::map(&file) }.map_err(|e| PreprocessError::io("memory-mapping", path, e))
}

fn to_u32(v: u64, what: &str, path: &Path) -> Result<u32> {
    u32::try_from(v).map_err(|_| PreprocessError::parquet(path, format!("{what} {v} out of range")))
}

impl Cache {
    /// Opens the cache in `dir` (the preprocess stage's output folder): reads `cache.json` and
    /// `preprocessed.parquet`, memory-maps and validates every shard.
    pub fn open(dir: &Path) -> Result<Cache> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = std::fs::read(&manifest_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                PreprocessError::cache(
                    dir,
                    format!("{MANIFEST_FILE} missing: not a preprocess output folder, or the run did not finish"),
                )
            } else {
                PreprocessError::io("reading", &manifest_path, e)
            }
        })?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| PreprocessError::cache(&manifest_path, e.to_string()))?;
        if manifest.format != FORMAT || manifest.format_version != FORMAT_VERSION {
            return Err(PreprocessError::cache(
                &manifest_path,
                format!(
                    "format {} v{} (this birds reads {FORMAT} v{FORMAT_VERSION}); rebuild the cache",
                    manifest.format, manifest.format_version
                ),
            ));
        }
        if manifest.channels != 3 || manifest.layout != "HWC" || manifest.dtype != "U8" {
            return Err(PreprocessError::cache(
                &manifest_path,
                "only 3-channel U8 HWC caches are supported",
            ));
        }
        let side = manifest.stored_side as usize;
        let image_bytes = side * side * 3;

        let mut shards = Vec::with_capacity(manifest.shards.len());
        let mut shard_numbers = HashMap::new();
        for (n, info) in manifest.shards.iter().enumerate() {
            let path = dir.join(&info.file);
            let map = map_file(&path)?;
            let st = safetensors::SafeTensors::deserialize(&map).map_err(|e| {
                PreprocessError::cache(&path, format!("not a safetensors file: {e}"))
            })?;
            let view = st.tensor(TENSOR_NAME).map_err(|e| {
                PreprocessError::cache(&path, format!("tensor `{TENSOR_NAME}`: {e}"))
            })?;
            let expected = [info.images, side, side, 3];
            if view.dtype() != safetensors::Dtype::U8 || view.shape() != expected {
                return Err(PreprocessError::cache(
                    &path,
                    format!(
                        "tensor `{TENSOR_NAME}` is {:?} {:?}, manifest says U8 {expected:?}",
                        view.dtype(),
                        view.shape()
                    ),
                ));
            }
            let data_offset = view.data().as_ptr() as usize - map.as_ptr() as usize;
            if data_offset as u64 != info.data_offset {
                return Err(PreprocessError::cache(
                    &path,
                    format!(
                        "pixels start at byte {data_offset}, manifest says {}",
                        info.data_offset
                    ),
                ));
            }
            shard_numbers.insert(info.file.clone(), n as u32);
            shards.push(Shard {
                map,
                data_offset,
                images: info.images,
            });
        }

        let table = dir.join(PREPROCESSED.file);
        let df = Frame::read(&table)?;
        if df.height() != manifest.images {
            return Err(PreprocessError::cache(
                &table,
                format!(
                    "{} rows, manifest says {} images",
                    df.height(),
                    manifest.images
                ),
            ));
        }
        let sample_ids = df.u64_req("sample")?;
        let paths = df.str_req("path")?;
        let roots = df.str_req("root")?;
        let splits = df.str_req("split")?;
        let labels = df.str_req("label")?;
        let class_ids = df.u64_req("class_id")?;
        let shard_names = df.str_req("shard")?;
        let shard_index = df.u64_req("shard_index")?;
        let offsets = df.u64_req("offset")?;
        let source_w = df.u64_req("source_width")?;
        let source_h = df.u64_req("source_height")?;

        let mut samples = Vec::with_capacity(df.height());
        let mut locations = Vec::with_capacity(df.height());
        for i in 0..df.height() {
            let bad = |why: String| PreprocessError::cache(&table, format!("row {i}: {why}"));
            if sample_ids[i] != i as u64 {
                return Err(bad(format!("sample is {}, expected {i}", sample_ids[i])));
            }
            let &shard = shard_numbers
                .get(&shard_names[i])
                .ok_or_else(|| bad(format!("shard {} not in the manifest", shard_names[i])))?;
            let s = &shards[shard as usize];
            let k = shard_index[i] as usize;
            let offset = s.data_offset + k * image_bytes;
            if k >= s.images || offsets[i] != offset as u64 || offset + image_bytes > s.map.len() {
                return Err(bad(format!(
                    "shard_index {k} / offset {} do not fit {}",
                    offsets[i], shard_names[i]
                )));
            }
            let class_id = to_u32(class_ids[i], "class_id", &table)?;
            if class_id as usize >= manifest.classes.len() {
                return Err(bad(format!(
                    "class_id {class_id} but {} classes",
                    manifest.classes.len()
                )));
            }
            samples.push(Sample {
                path: paths[i].clone(),
                root: roots[i].clone(),
                split: splits[i]
                    .parse()
                    .map_err(|e: birds_core::CoreError| bad(e.to_string()))?,
                label: labels[i].clone(),
                class_id,
                source_width: to_u32(source_w[i], "source_width", &table)?,
                source_height: to_u32(source_h[i], "source_height", &table)?,
            });
            locations.push((shard, offset));
        }
        tracing::debug!(dir = %dir.display(), images = samples.len(), "opened preprocess cache");
        Ok(Cache {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                manifest,
                samples,
                locations,
                shards,
                image_bytes,
            }),
        })
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The manifest (`cache.json`), including the params it was built with.
    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// Number of cached images.
    pub fn len(&self) -> usize {
        self.inner.samples.len()
    }

    /// Whether the cache holds no image (never true for a cache this crate wrote).
    pub fn is_empty(&self) -> bool {
        self.inner.samples.is_empty()
    }

    /// The model input side the cache was built for (`params.size`).
    pub fn size(&self) -> u32 {
        self.inner.manifest.params.size
    }

    /// The stored side (`size + margin`).
    pub fn stored_side(&self) -> u32 {
        self.inner.manifest.stored_side
    }

    /// Class labels indexed by `class_id`.
    pub fn classes(&self) -> &[String] {
        &self.inner.manifest.classes
    }

    /// Number of classes (the classifier's output width).
    pub fn num_classes(&self) -> usize {
        self.inner.manifest.classes.len()
    }

    /// Every sample's metadata, indexed by sample id.
    pub fn samples(&self) -> &[Sample] {
        &self.inner.samples
    }

    /// Metadata of sample `id`. Panics if `id >= len()` (ids come from [`Subset`]s of this cache).
    pub fn sample(&self, id: u32) -> &Sample {
        &self.inner.samples[id as usize]
    }

    /// The stored pixels of sample `id`: `stored_side`² × 3 bytes, HWC, RGB. Panics if `id >= len()`.
    pub fn image(&self, id: u32) -> &[u8] {
        let (shard, offset) = self.inner.locations[id as usize];
        &self.inner.shards[shard as usize].map[offset..offset + self.inner.image_bytes]
    }

    /// Drops this process's mapping of sample `id`'s pixels (`madvise(MADV_DONTNEED)`; the kernel's page cache keeps
    /// them, so the next [`Cache::image`] of it is a minor fault, not a disk read). The loader calls it after copying
    /// an image into a batch: a pass over a cache larger than memory (BIRDS 525 at 256 px: 17.7 GB) then leaves
    /// the resident set at a batch's worth of pages instead of every shard page touched. A no-op off Unix, and
    /// errors are ignored (it is only a hint). Panics if `id >= len()`.
    #[allow(unsafe_code)]
    pub fn release(&self, id: u32) {
        #[cfg(unix)]
        {
            let (shard, offset) = self.inner.locations[id as usize];
            // SAFETY: the map is read-only, file-backed and private, and the file is not modified while open (the
            // cache contract): after MADV_DONTNEED the next access faults the same bytes back in from the file;
            // no reference can observe a change. Concurrent readers of a shared edge page refault it the same way.
            let _ = unsafe {
                self.inner.shards[shard as usize]
                    .map
                    .unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        offset,
                        self.inner.image_bytes,
                    )
            };
        }
    }

    /// All samples of `split`, in cache order.
    pub fn split(&self, split: Split) -> Subset {
        self.all().filter(|s| s.split == split)
    }

    /// Every sample, in cache order.
    pub fn all(&self) -> Subset {
        Subset {
            cache: self.clone(),
            ids: (0..self.len() as u32).collect(),
        }
    }
}

/// A list of sample ids of one cache: what a `birds_loader::Loader` iterates over.
#[derive(Debug, Clone)]
pub struct Subset {
    cache: Cache,
    ids: Vec<u32>,
}

impl Subset {
    /// A subset from explicit ids (e.g. a per-class subsample); errors on an id outside the cache.
    pub fn from_ids(cache: &Cache, ids: Vec<u32>) -> Result<Subset> {
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= cache.len()) {
            return Err(PreprocessError::cache(
                cache.dir(),
                format!("sample id {bad} outside the cache ({} images)", cache.len()),
            ));
        }
        Ok(Subset {
            cache: cache.clone(),
            ids,
        })
    }

    /// The samples of this subset for which `keep` is true, order kept.
    pub fn filter(&self, keep: impl Fn(&Sample) -> bool) -> Subset {
        Subset {
            cache: self.cache.clone(),
            ids: self
                .ids
                .iter()
                .copied()
                .filter(|&i| keep(self.cache.sample(i)))
                .collect(),
        }
    }

    /// The cache the ids refer to.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Sample ids, in order.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the subset is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Class id of each sample, in order.
    pub fn labels(&self) -> Vec<u32> {
        self.ids
            .iter()
            .map(|&i| self.cache.sample(i).class_id)
            .collect()
    }

    /// Samples per class (length = the cache's number of classes).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.cache.num_classes()];
        for &i in &self.ids {
            counts[self.cache.sample(i).class_id as usize] += 1;
        }
        counts
    }
}

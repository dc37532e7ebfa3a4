//! # birds-loader
//!
//! The batch loader: cached pixels (a `birds-preprocess` cache) → normalised `[N, 3, H, W]` tensors, built ahead of
//! the model. It is the one place where the cache meets libtorch, so that preprocessing itself (and the `birds`
//! front that runs it) needs no libtorch.
//!
//! ```no_run
//! use birds_core::{Normalization, Split};
//! use birds_loader::{Loader, LoaderConfig};
//! use birds_preprocess::{AugmentParams, Cache};
//! # fn main() -> Result<(), birds_loader::LoaderError> {
//! let cache = Cache::open("runs/preprocess".as_ref())?;
//! let train = Loader::new(
//!     &cache.split(Split::Train),
//!     LoaderConfig::train(16, Normalization::Centered127, AugmentParams::default(), 42),
//! )?;
//! let valid = Loader::new(&cache.split(Split::Valid), LoaderConfig::eval(64, Normalization::Centered127))?;
//! for epoch in 0..3 {
//!     for batch in train.epoch(epoch) {
//!         let batch = batch?;
//!         // batch.images: [16, 3, 224, 224] f32, batch.labels: [16] i64
//!         # let _ = batch;
//!     }
//!     for batch in valid.epoch(0) { let _ = batch?; }
//! }
//! # Ok(()) }
//! ```
//!
//! Batches are rendered with rayon (one sample per task), either ahead of the model on a background thread that
//! hands them over through a bounded queue ([`Prefetch::Ahead`]: at most `n + 2` batches exist at once; for a model
//! on a GPU, which the CPU work then overlaps), or on the calling thread when the consumer asks
//! ([`Prefetch::OnDemand`]: for a model on the same CPU cores, where two thread pools competing for them cost more
//! than the rendering itself; [`Prefetch::for_device`] picks). Samples are read straight from the memory-mapped
//! shards. Everything a batch holds depends only on `(seed, epoch, sample ids)`: neither the thread count nor the
//! prefetch mode ever changes a value.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use birds_core::Normalization;
use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

use birds_preprocess::PreprocessError;
use birds_preprocess::augment::{Transform, shuffle};
use birds_preprocess::cache::Subset;
use birds_preprocess::params::{AugmentParams, MAX_SIDE};

/// What can go wrong building batches.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// The loader was configured wrongly.
    #[error("loader: {0}")]
    Config(String),
    /// The cache could not be read.
    #[error(transparent)]
    Cache(#[from] PreprocessError),
    /// libtorch refused an operation.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result alias for birds-loader.
pub type Result<T, E = LoaderError> = std::result::Result<T, E>;

/// Train or eval behaviour.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Shuffled every epoch by `(seed, epoch)`; augmented when `augment` is set (else the eval view).
    Train {
        /// Augmentation params, or `None` for the plain centre view.
        augment: Option<AugmentParams>,
        /// Drop the last batch when it is smaller than `batch_size`.
        drop_last: bool,
    },
    /// Fixed order (the subset's), no augmentation (centre `size` crop of the stored image), last partial batch
    /// kept.
    Eval,
}

/// Where and when an epoch's batches are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefetch {
    /// On the calling thread, when the consumer asks for the next batch (rayon renders its samples while the
    /// consumer waits). Nothing overlaps the model, and nothing competes with it for the cores: on a CPU-only
    /// machine this is the faster mode (2 cores: the frozen Lite0 groups fed by the augmented loader, 53.3 images/s
    /// on demand against 45.9 ahead, 53.1 on batches already in memory; `docs/preprocess.md`).
    OnDemand,
    /// Up to this many batches (at least 1) built ahead on a background thread, overlapping the consumer: for a
    /// model on a GPU, where the CPU is otherwise idle.
    Ahead(usize),
}

impl Default for Prefetch {
    /// 4 batches ahead (what a loader does unless told its model's device).
    fn default() -> Self {
        Prefetch::Ahead(4)
    }
}

impl Prefetch {
    /// The mode for a model on `device`: [`Prefetch::OnDemand`] on the CPU, [the default](Prefetch::default)
    /// (4 batches ahead) on a GPU.
    pub fn for_device(device: Device) -> Self {
        if device == Device::Cpu {
            Prefetch::OnDemand
        } else {
            Prefetch::default()
        }
    }
}

/// How a [`Loader`] builds batches.
#[derive(Debug, Clone, PartialEq)]
pub struct LoaderConfig {
    /// Samples per batch.
    pub batch_size: usize,
    /// The model's recorded input normalisation.
    pub normalization: Normalization,
    /// Output side; `None` = the cache's `size`.
    pub size: Option<u32>,
    /// Train or eval.
    pub mode: Mode,
    /// Seed of shuffling and augmentation.
    pub seed: u64,
    /// Batches built ahead of the consumer on a background thread, or on demand on its own.
    pub prefetch: Prefetch,
    /// Rayon threads rendering samples; 0 = rayon's global pool.
    pub threads: usize,
    /// Where the tensors go (moved on the background thread, so host-to-device copies overlap the model).
    pub device: Device,
}

impl LoaderConfig {
    /// Training: shuffled, augmented with `augment`, last partial batch dropped.
    pub fn train(
        batch_size: usize,
        normalization: Normalization,
        augment: AugmentParams,
        seed: u64,
    ) -> Self {
        Self {
            batch_size,
            normalization,
            size: None,
            mode: Mode::Train {
                augment: Some(augment),
                drop_last: true,
            },
            seed,
            prefetch: Prefetch::default(),
            threads: 0,
            device: Device::Cpu,
        }
    }

    /// Evaluation: fixed order, no augmentation, every sample once.
    pub fn eval(batch_size: usize, normalization: Normalization) -> Self {
        Self {
            batch_size,
            normalization,
            size: None,
            mode: Mode::Eval,
            seed: 0,
            prefetch: Prefetch::default(),
            threads: 0,
            device: Device::Cpu,
        }
    }
}

/// One batch.
#[derive(Debug)]
pub struct Batch {
    /// `[N, 3, H, W]` f32, normalised.
    pub images: Tensor,
    /// `[N]` i64 class ids.
    pub labels: Tensor,
    /// The cache sample ids of the rows, in order.
    pub samples: Vec<u32>,
}

struct Shared {
    subset: Subset,
    config: LoaderConfig,
    out: u32,
    pool: Option<rayon::ThreadPool>,
}

impl Shared {
    fn transform(&self, epoch: u64, id: u32) -> Transform {
        let cache = self.subset.cache();
        match &self.config.mode {
            Mode::Train {
                augment: Some(params),
                ..
            } => Transform::sample(
                params,
                cache.stored_side(),
                self.config.seed,
                epoch,
                u64::from(id),
            ),
            _ => Transform::center_crop(cache.stored_side(), cache.size()),
        }
    }

    fn build(&self, epoch: u64, ids: &[u32]) -> Result<Batch> {
        let cache = self.subset.cache();
        let (side, out) = (cache.stored_side(), self.out);
        let per = 3 * (out as usize) * (out as usize);
        let plane = per / 3;
        let norm = self.config.normalization;
        let (mean, std) = (norm.mean(), norm.std());
        let mut data = vec![0f32; ids.len() * per];
        let mut render = || {
            data.par_chunks_mut(per)
                .zip(ids.par_iter())
                .for_each(|(dst, &id)| {
                    self.transform(epoch, id)
                        .render(cache.image(id), side, out, dst);
                    cache.release(id);
                    for (c, channel) in dst.chunks_exact_mut(plane).enumerate() {
                        let (m, inv) = (mean[c], 1.0 / std[c]);
                        for v in channel {
                            *v = (*v - m) * inv;
                        }
                    }
                });
        };
        match &self.pool {
            Some(pool) => pool.install(render),
            None => render(),
        }
        let labels: Vec<i64> = ids
            .iter()
            .map(|&i| i64::from(cache.sample(i).class_id))
            .collect();
        let n = ids.len() as i64;
        let mut images =
            Tensor::f_from_slice(&data)?.f_view([n, 3, i64::from(out), i64::from(out)])?;
        let mut labels = Tensor::f_from_slice(&labels)?;
        if self.config.device != Device::Cpu {
            images = images.f_to_device(self.config.device)?;
            labels = labels.f_to_device(self.config.device)?;
        }
        debug_assert_eq!(images.kind(), Kind::Float);
        Ok(Batch {
            images,
            labels,
            samples: ids.to_vec(),
        })
    }
}

/// Serves batches of a [`Subset`] epoch after epoch. Cheap to keep; each [`Loader::epoch`] starts a producer.
pub struct Loader {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("samples", &self.shared.subset.len())
            .field("config", &self.shared.config)
            .field("out", &self.shared.out)
            .finish()
    }
}

impl Loader {
    /// A loader over `subset` (e.g. `cache.split(Split::Train)`); checks the config.
    pub fn new(subset: &Subset, config: LoaderConfig) -> Result<Loader> {
        if config.batch_size == 0 {
            return Err(LoaderError::Config("batch_size must be at least 1".into()));
        }
        let out = config.size.unwrap_or_else(|| subset.cache().size());
        if out == 0 || out > MAX_SIDE {
            return Err(LoaderError::Config(format!(
                "size {out} out of range 1..={MAX_SIDE}"
            )));
        }
        if let Mode::Train {
            augment: Some(params),
            ..
        } = &config.mode
        {
            params.validate()?;
        }
        if config.mode == Mode::Eval || matches!(config.mode, Mode::Train { augment: None, .. }) {
            // The plain view is the centre `size` crop; another output side would need resampling of it.
            if out != subset.cache().size() {
                return Err(LoaderError::Config(format!(
                    "without augmentation the output side must be the cache's size {} (got {out}); rebuild the cache with size {out}",
                    subset.cache().size()
                )));
            }
        }
        let pool = if config.threads > 0 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(config.threads)
                    .thread_name(|i| format!("birds-loader-{i}"))
                    .build()
                    .map_err(|e| LoaderError::Config(format!("thread pool: {e}")))?,
            )
        } else {
            None
        };
        Ok(Loader {
            shared: Arc::new(Shared {
                subset: subset.clone(),
                config,
                out,
                pool,
            }),
        })
    }

    /// The subset served.
    pub fn subset(&self) -> &Subset {
        &self.shared.subset
    }

    /// The config.
    pub fn config(&self) -> &LoaderConfig {
        &self.shared.config
    }

    /// Output side of the images.
    pub fn size(&self) -> u32 {
        self.shared.out
    }

    fn drop_last(&self) -> bool {
        matches!(
            self.shared.config.mode,
            Mode::Train {
                drop_last: true,
                ..
            }
        )
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        let (n, b) = (self.shared.subset.len(), self.shared.config.batch_size);
        if self.drop_last() {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// Whether an epoch yields no batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sample ids of `epoch` in serving order (before dropping a partial last batch).
    pub fn order(&self, epoch: u64) -> Vec<u32> {
        let mut ids = self.shared.subset.ids().to_vec();
        if matches!(self.shared.config.mode, Mode::Train { .. }) {
            shuffle(&mut ids, self.shared.config.seed, epoch);
        }
        ids
    }

    /// Builds one batch of `ids` for `epoch` on the calling thread (same values as [`Loader::epoch`] gives).
    pub fn batch(&self, epoch: u64, ids: &[u32]) -> Result<Batch> {
        if let Some(bad) = ids
            .iter()
            .find(|&&i| i as usize >= self.shared.subset.cache().len())
        {
            return Err(LoaderError::Config(format!(
                "sample id {bad} outside the cache"
            )));
        }
        self.shared.build(epoch, ids)
    }

    /// The batches of `epoch`: produced on a background thread ahead of the consumer ([`Prefetch::Ahead`];
    /// dropping the iterator early stops the producer), or each on the calling thread when asked
    /// ([`Prefetch::OnDemand`]). The same batches either way.
    pub fn epoch(&self, epoch: u64) -> Epoch {
        let order = self.order(epoch);
        let batches = self.len();
        let b = self.shared.config.batch_size;
        let ahead = match self.shared.config.prefetch {
            Prefetch::OnDemand => {
                return Epoch {
                    rx: None,
                    handle: None,
                    on_demand: Some(OnDemand {
                        shared: Arc::clone(&self.shared),
                        epoch,
                        order,
                        next: 0,
                    }),
                    remaining: batches,
                    spawn_error: None,
                };
            }
            Prefetch::Ahead(n) => n.max(1),
        };
        let (tx, rx): (SyncSender<Result<Batch>>, Receiver<Result<Batch>>) = sync_channel(ahead);
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new()
            .name(format!("birds-loader-epoch-{epoch}"))
            .spawn(move || {
                for ids in order.chunks(b).take(batches) {
                    let batch = shared.build(epoch, ids);
                    let failed = batch.is_err();
                    if tx.send(batch).is_err() || failed {
                        break;
                    }
                }
            });
        match spawned {
            Ok(handle) => Epoch {
                rx: Some(rx),
                handle: Some(handle),
                on_demand: None,
                remaining: batches,
                spawn_error: None,
            },
            Err(e) => Epoch {
                rx: None,
                handle: None,
                on_demand: None,
                remaining: 0,
                spawn_error: Some(LoaderError::Config(format!(
                    "starting the loader thread: {e}"
                ))),
            },
        }
    }
}

/// The batches of one epoch, in order ([`Loader::epoch`]).
pub struct Epoch {
    rx: Option<Receiver<Result<Batch>>>,
    handle: Option<JoinHandle<()>>,
    on_demand: Option<OnDemand>,
    remaining: usize,
    spawn_error: Option<LoaderError>,
}

/// [`Prefetch::OnDemand`]'s state: the epoch's order and the next batch's place in it.
struct OnDemand {
    shared: Arc<Shared>,
    epoch: u64,
    order: Vec<u32>,
    next: usize,
}

impl Iterator for Epoch {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.spawn_error.take() {
            return Some(Err(e));
        }
        if self.remaining == 0 {
            return None;
        }
        if let Some(od) = self.on_demand.as_mut() {
            let b = od.shared.config.batch_size;
            let end = (od.next + b).min(od.order.len());
            let batch = od.shared.build(od.epoch, &od.order[od.next..end]);
            od.next = end;
            self.remaining = if batch.is_ok() { self.remaining - 1 } else { 0 };
            return Some(batch);
        }
        let received = self.rx.as_ref()?.recv();
        match received {
            Ok(batch) => {
                self.remaining = if batch.is_ok() { self.remaining - 1 } else { 0 };
                Some(batch)
            }
            Err(_) => {
                self.remaining = 0;
                Some(Err(LoaderError::Config(
                    "the loader thread stopped unexpectedly".into(),
                )))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (
            0,
            Some(self.remaining + usize::from(self.spawn_error.is_some())),
        )
    }
}

impl Drop for Epoch {
    fn drop(&mut self) {
        // Closing the channel makes a blocked producer's `send` fail, so it stops; then wait for it.
        self.rx.take();
        if let Some(handle) = self.handle.take()
            && handle.join().is_err()
        {
            tracing::error!("the loader thread panicked");
        }
    }
}

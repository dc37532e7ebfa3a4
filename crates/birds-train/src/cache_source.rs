//! The preprocess cache (the `preprocess` stage's output folder) as a [`DataSource`], over
//! `birds_loader::Loader`.

use std::path::Path;

use birds_core::{Normalization, Split};
use birds_loader::{Loader, LoaderConfig, Prefetch};
use birds_preprocess::{AugmentParams, Cache, Subset};

use crate::data::{BatchIter, DataSource};
use crate::{Result, TrainError};

/// A preprocess cache opened for training.
#[derive(Debug)]
pub struct CacheSource {
    cache: Cache,
    splits: [Subset; 3],
    normalization: Normalization,
    augment: AugmentParams,
    content_id: String,
    prefetch: Prefetch,
}

/// [`Prefetch::for_device`] of the device `spec` resolves to; ahead when it does not resolve (the run then stops on
/// that with its own message).
pub fn prefetch_for(spec: birds_core::model::DeviceSpec) -> Prefetch {
    use birds_models::DeviceExt;
    spec.resolve()
        .map_or_else(|_| Prefetch::default(), Prefetch::for_device)
}

fn preprocess_err(e: impl std::fmt::Display) -> TrainError {
    TrainError::Data(e.to_string())
}

impl CacheSource {
    /// The preprocess cache read (sample ids, paths and labels in split order).
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Opens the cache in `dir`; batches are normalised with `normalization` and training batches augmented with
    /// `augment`.
    pub fn open(dir: &Path, normalization: Normalization, augment: AugmentParams) -> Result<Self> {
        let cache = Cache::open(dir).map_err(preprocess_err)?;
        augment
            .validate()
            .map_err(|e| TrainError::Params(format!("`augment`: {e}")))?;
        let manifest = dir.join(birds_preprocess::manifest::MANIFEST_FILE);
        let bytes =
            std::fs::read(&manifest).map_err(|e| TrainError::file("reading", &manifest, e))?;
        // The manifest lists every shard's BLAKE3, the params and the classes: its hash identifies the content.
        let content_id = blake3::hash(&bytes).to_hex().to_string();
        let splits = [
            cache.split(Split::Train),
            cache.split(Split::Valid),
            cache.split(Split::Test),
        ];
        Ok(Self {
            cache,
            splits,
            normalization,
            augment,
            content_id,
            prefetch: Prefetch::default(),
        })
    }

    /// Batches built ahead on a background thread ([`Prefetch::default`]: 4) or on demand: set it from the model's device,
    /// [`Prefetch::for_device`] (on demand on a CPU, where the loader and the model would compete for the cores).
    #[must_use]
    pub fn with_prefetch(mut self, prefetch: Prefetch) -> Self {
        self.prefetch = prefetch;
        self
    }

    fn subset(&self, split: Split) -> &Subset {
        match split {
            Split::Train => &self.splits[0],
            Split::Valid => &self.splits[1],
            Split::Test => &self.splits[2],
        }
    }

    fn loader_err(&self, e: birds_loader::LoaderError) -> TrainError {
        preprocess_err(e)
    }
}

impl DataSource for CacheSource {
    fn classes(&self) -> &[String] {
        self.cache.classes()
    }

    fn image_size(&self) -> u32 {
        self.cache.size()
    }

    fn normalization(&self) -> Normalization {
        self.normalization
    }

    fn eval_view(&self) -> Option<birds_models::EvalView> {
        let params = &self.cache.manifest().params;
        Some(birds_models::EvalView {
            resize: params.mode.as_str().into(),
            filter: params.filter.as_str().into(),
            stored_side: self.cache.stored_side(),
        })
    }

    fn content_id(&self) -> String {
        self.content_id.clone()
    }

    fn len(&self, split: Split) -> usize {
        self.subset(split).len()
    }

    fn train_batches(&self, batch_size: usize, seed: u64, epoch: u64) -> Result<BatchIter<'_>> {
        let config = LoaderConfig {
            prefetch: self.prefetch,
            ..LoaderConfig::train(batch_size, self.normalization, self.augment.clone(), seed)
        };
        let loader =
            Loader::new(self.subset(Split::Train), config).map_err(|e| self.loader_err(e))?;
        Ok(Box::new(loader.epoch(epoch).map(move |b| {
            b.map(|b| (b.images, b.labels))
                .map_err(|e| self.loader_err(e))
        })))
    }

    fn eval_batches(&self, split: Split, batch_size: usize) -> Result<BatchIter<'_>> {
        let config = LoaderConfig {
            prefetch: self.prefetch,
            ..LoaderConfig::eval(batch_size, self.normalization)
        };
        let loader = Loader::new(self.subset(split), config).map_err(|e| self.loader_err(e))?;
        Ok(Box::new(loader.epoch(0).map(move |b| {
            b.map(|b| (b.images, b.labels))
                .map_err(|e| self.loader_err(e))
        })))
    }
}

//! Fixtures for the integration tests: small generated images and an `images.parquet` written with the ingest
//! schema's exact columns (the ingest crate is not a dependency; its schema in birds-core is the contract).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::path::{Path, PathBuf};

use birds_core::schema::ColumnType;
use birds_core::schema::ingest::IMAGES;
use birds_preprocess::{Cache, PreprocessParams, RunOptions, preprocess};
use image::{Rgb, RgbImage};
use polars::prelude::*;

/// One row of the fixture index.
#[derive(Debug, Clone)]
pub struct Row {
    pub path: String,
    pub split: &'static str,
    pub label: String,
    pub class_id: u32,
    pub ok: bool,
    pub error: Option<String>,
}

/// A data root with images and an `images.parquet` describing them.
pub struct Fixture {
    pub root: PathBuf,
    pub index_dir: PathBuf,
    pub rows: Vec<Row>,
}

/// The colour of class `k` (0, 1, 2): channel `k` dominant, so any crop, flip or jitter keeps it identifiable.
pub fn class_colour(k: u32) -> [u8; 3] {
    let mut c = [40u8; 3];
    c[k as usize % 3] = 200;
    c
}

/// A textured image of class `k`'s colour (texture ±24, so resize/crop mistakes show in pixel values).
pub fn class_image(k: u32, w: u32, h: u32, salt: u32) -> RgbImage {
    let base = class_colour(k);
    RgbImage::from_fn(w, h, |x, y| {
        let t = ((x * 5 + y * 3 + salt * 11) % 49) as i32 - 24;
        let px = |c: usize| (i32::from(base[c]) + t * (c as i32 + 1) / 3).clamp(0, 255) as u8;
        Rgb([px(0), px(1), px(2)])
    })
}

impl Fixture {
    pub fn new(dir: &Path) -> Self {
        let root = dir.join("data");
        let index_dir = dir.join("ingest");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&index_dir).unwrap();
        Self {
            root,
            index_dir,
            rows: Vec::new(),
        }
    }

    /// Saves `img` under `split/label/name` (format from the extension) and adds an `ok` row.
    pub fn add_image(&mut self, split: &'static str, k: u32, name: &str, img: &RgbImage) -> String {
        let label = format!("CLASS {k}");
        let rel = format!("{split}/{label}/{name}");
        let path = self.root.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        img.save(&path).unwrap();
        self.rows.push(Row {
            path: rel.clone(),
            split,
            label,
            class_id: k,
            ok: true,
            error: None,
        });
        rel
    }

    /// Writes raw bytes as a file and adds a row with the given status.
    pub fn add_file(&mut self, split: &'static str, k: u32, name: &str, bytes: &[u8], ok: bool) {
        let label = format!("CLASS {k}");
        let rel = format!("{split}/{label}/{name}");
        let path = self.root.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        self.rows.push(Row {
            path: rel,
            split,
            label,
            class_id: k,
            ok,
            error: (!ok).then(|| "ingest: truncated JPEG".to_string()),
        });
    }

    /// The standard synthetic set: 3 classes; train 6 per class, valid 2 per class; several sizes, aspect ratios,
    /// PNG and JPEG, one grey and one RGBA image.
    pub fn synthetic(dir: &Path) -> Self {
        let mut f = Self::new(dir);
        let sizes = [(48, 36), (30, 50), (40, 40), (64, 20), (37, 41), (50, 50)];
        for k in 0..3u32 {
            for (i, &(w, h)) in sizes.iter().enumerate() {
                let ext = if i % 2 == 0 { "png" } else { "jpg" };
                f.add_image(
                    "train",
                    k,
                    &format!("{i:03}.{ext}"),
                    &class_image(k, w, h, i as u32),
                );
            }
            for i in 0..2u32 {
                f.add_image(
                    "valid",
                    k,
                    &format!("{i}.png"),
                    &class_image(k, 44, 33, 100 + i),
                );
            }
        }
        // A grey PNG and an RGBA PNG (decoded to RGB).
        let grey =
            image::GrayImage::from_fn(20, 30, |x, y| image::Luma([((x * 9 + y * 4) % 256) as u8]));
        let rel = "test/CLASS 0/grey.png";
        std::fs::create_dir_all(f.root.join("test/CLASS 0")).unwrap();
        grey.save(f.root.join(rel)).unwrap();
        f.rows.push(Row {
            path: rel.into(),
            split: "test",
            label: "CLASS 0".into(),
            class_id: 0,
            ok: true,
            error: None,
        });
        let rgba = image::RgbaImage::from_fn(26, 26, |x, y| {
            image::Rgba([x as u8 * 9, y as u8 * 9, 100, 128])
        });
        let rel = "test/CLASS 1/rgba.png";
        std::fs::create_dir_all(f.root.join("test/CLASS 1")).unwrap();
        rgba.save(f.root.join(rel)).unwrap();
        f.rows.push(Row {
            path: rel.into(),
            split: "test",
            label: "CLASS 1".into(),
            class_id: 1,
            ok: true,
            error: None,
        });
        f
    }

    /// Writes `images.parquet` with every column of the ingest schema, in its order.
    pub fn write_index(&self) -> PathBuf {
        let n = self.rows.len();
        let root = self.root.to_string_lossy().to_string();
        let mut columns = Vec::new();
        for c in IMAGES.columns {
            let name: PlSmallStr = c.name.into();
            let col = match c.name {
                "path" => Column::new(
                    name,
                    self.rows.iter().map(|r| r.path.clone()).collect::<Vec<_>>(),
                ),
                "root" => Column::new(name, vec![root.clone(); n]),
                "split" => Column::new(name, self.rows.iter().map(|r| r.split).collect::<Vec<_>>()),
                "label" => Column::new(
                    name,
                    self.rows
                        .iter()
                        .map(|r| r.label.clone())
                        .collect::<Vec<_>>(),
                ),
                "class_id" => Column::new(
                    name,
                    self.rows.iter().map(|r| r.class_id).collect::<Vec<_>>(),
                ),
                "status" => Column::new(
                    name,
                    self.rows
                        .iter()
                        .map(|r| if r.ok { "ok" } else { "error" })
                        .collect::<Vec<_>>(),
                ),
                "error" => Column::new(
                    name,
                    self.rows
                        .iter()
                        .map(|r| r.error.clone())
                        .collect::<Vec<_>>(),
                ),
                "file_bytes" => Column::new(name, vec![1000u64; n]),
                _ => match c.ty {
                    ColumnType::U32 => Column::new(name, vec![None::<u32>; n]),
                    ColumnType::U64 => Column::new(name, vec![None::<u64>; n]),
                    ColumnType::Str => Column::new(name, vec![None::<String>; n]),
                    other => panic!("fixture does not know column type {other:?}"),
                },
            };
            columns.push(col);
        }
        let mut df = DataFrame::new(n, columns).unwrap();
        let path = self.index_dir.join(IMAGES.file);
        ParquetWriter::new(File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        path
    }
}

/// The birds sample beside the checkout (`$BIRDS_SAMPLE` overrides).
pub fn sample_root() -> PathBuf {
    let root = std::env::var_os("BIRDS_SAMPLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| birds_core::paths::workspace_root().join("../shared/data/birds-sample"));
    assert!(
        root.join("train").is_dir(),
        "birds sample not found at {} (set BIRDS_SAMPLE)",
        root.display()
    );
    root
}

/// `n` real photos of the sample (first files of the first classes of `split`), as (relative path, label).
pub fn sample_files(split: &str, classes: usize, per_class: usize) -> Vec<(String, String)> {
    let root = sample_root();
    let mut labels: Vec<String> = std::fs::read_dir(root.join(split))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    labels.sort();
    let mut out = Vec::new();
    for label in labels.into_iter().take(classes) {
        let mut files: Vec<String> = std::fs::read_dir(root.join(split).join(&label))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        files.sort();
        for f in files.into_iter().take(per_class) {
            out.push((format!("{split}/{label}/{f}"), label.clone()));
        }
    }
    out
}

impl Fixture {
    /// An index over real photos of the sample (read in place, never copied): `classes` classes × `per_class`
    /// files of `split`.
    pub fn real(dir: &Path, split: &'static str, classes: usize, per_class: usize) -> Self {
        let index_dir = dir.join("ingest-real");
        std::fs::create_dir_all(&index_dir).unwrap();
        let files = sample_files(split, classes, per_class);
        let mut labels: Vec<String> = files.iter().map(|(_, l)| l.clone()).collect();
        labels.dedup();
        let rows = files
            .into_iter()
            .map(|(path, label)| Row {
                class_id: labels.iter().position(|l| *l == label).unwrap() as u32,
                path,
                split,
                label,
                ok: true,
                error: None,
            })
            .collect();
        Self {
            root: sample_root(),
            index_dir,
            rows,
        }
    }
}

pub fn params(size: u32, margin: u32) -> PreprocessParams {
    PreprocessParams {
        size,
        margin,
        shard_images: 5,
        ..PreprocessParams::default()
    }
}

pub fn quiet() -> RunOptions {
    RunOptions::default()
}

/// Builds the synthetic cache (size 32, margin 8 → stored 40) and opens it.
pub fn synthetic_cache(dir: &Path) -> (Fixture, Cache) {
    let f = Fixture::synthetic(dir);
    f.write_index();
    let out = dir.join("cache");
    preprocess(&f.index_dir, &out, &params(32, 8), quiet()).unwrap();
    (f, Cache::open(&out).unwrap())
}

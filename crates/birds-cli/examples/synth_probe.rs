//! How learnable is the `birds synth` dataset? Linear probes (multinomial logistic regression, full-batch Adam)
//! on four feature sets of the same images:
//!
//! - `lite0`: pooled 1280-d embeddings of pretrained EfficientNet-Lite0 (ImageNet weights);
//! - `lite0, bird hidden`: the same, with the bird's bounding box filled with the image's mean background colour
//!   (what a background-only shortcut could reach; should be near chance);
//! - `pixels 16×16`: the raw image downsampled to 16×16×3 (a shallow, from-scratch-like baseline);
//! - `colour histogram`: 8×8×8-bin RGB histogram of the whole image (a colour-statistics shortcut).
//!
//! `cargo run -p birds-cli --example synth_probe -- [--classes 10 --train 40 --test 20 --size 224 --seed 0]`
//! (or `--data DIR` to probe an existing synth dataset's train and test splits).
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use birds_core::Normalization;
use birds_models::{EfficientNetLite0, ImageClassifier, imagenet, input};
use birds_synth::SynthParams;
use clap::Parser;
use image::RgbImage;
use tch::nn::{self, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};

/// Linear probes on a synthetic birds dataset.
#[derive(Debug, Parser)]
struct Args {
    /// Probe this existing synth dataset instead of generating one.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Species to generate.
    #[arg(long, default_value_t = 10)]
    classes: usize,
    /// Training images per species.
    #[arg(long, default_value_t = 40)]
    train: usize,
    /// Test images per species.
    #[arg(long, default_value_t = 20)]
    test: usize,
    /// Image side.
    #[arg(long, default_value_t = 224)]
    size: u32,
    /// Dataset seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Adam steps per probe.
    #[arg(long, default_value_t = 300)]
    steps: i64,
    /// L2 penalty on the probe's weights.
    #[arg(long, default_value_t = 1e-3)]
    l2: f64,
}

struct Item {
    path: PathBuf,
    label: String,
    train: bool,
    bbox: Option<(u32, u32, u32, u32)>,
}

fn read_items(root: &Path) -> anyhow::Result<Vec<Item>> {
    let csv = root.join("birds.csv");
    let text =
        std::fs::read_to_string(&csv).with_context(|| format!("reading {}", csv.display()))?;
    let boxes: BTreeMap<String, (u32, u32, u32, u32)> = birds_synth::truth::read_boxes(root)?
        .into_iter()
        .map(|b| (b.path.clone(), (b.x_min, b.y_min, b.x_max, b.y_max)))
        .collect();
    let mut items = Vec::new();
    for line in text.lines().skip(1) {
        let f = birds_synth::truth::split_csv_line(line);
        if f.len() < 4 || f[3] == "valid" {
            continue;
        }
        items.push(Item {
            path: root.join(&f[1]),
            label: f[2].clone(),
            train: f[3] == "train",
            bbox: boxes.get(&f[1]).copied(),
        });
    }
    if items.is_empty() {
        bail!("{}: no train or test rows", csv.display());
    }
    Ok(items)
}

/// The image with its bird box filled with the mean colour of the pixels outside the box.
fn hide_bird(img: &RgbImage, bbox: (u32, u32, u32, u32)) -> RgbImage {
    let (x0, y0, x1, y1) = bbox;
    let inside = |x: u32, y: u32| x >= x0 && x < x1 && y >= y0 && y < y1;
    let (mut sum, mut n) = ([0f64; 3], 0f64);
    for (x, y, p) in img.enumerate_pixels() {
        if !inside(x, y) {
            for (s, v) in sum.iter_mut().zip(p.0) {
                *s += f64::from(v);
            }
            n += 1.0;
        }
    }
    let mean = sum.map(|s| (s / n.max(1.0)).round() as u8);
    let mut out = img.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        if inside(x, y) {
            p.0 = mean;
        }
    }
    out
}

fn pixels16(img: &RgbImage) -> Vec<f32> {
    let small = image::imageops::resize(img, 16, 16, image::imageops::FilterType::Triangle);
    small
        .as_raw()
        .iter()
        .map(|&v| f32::from(v) / 255.0)
        .collect()
}

fn histogram(img: &RgbImage) -> Vec<f32> {
    let mut h = vec![0f32; 512];
    for p in img.pixels() {
        let [r, g, b] = p.0.map(|v| usize::from(v >> 5));
        h[r * 64 + g * 8 + b] += 1.0;
    }
    let n = (img.width() * img.height()) as f32;
    h.iter().map(|v| v / n).collect()
}

/// Fits a softmax regression on standardised features; returns (train accuracy, test accuracy, test predictions).
fn probe(
    x: &Tensor,
    y: &Tensor,
    train: &Tensor,
    test: &Tensor,
    classes: i64,
    steps: i64,
    l2: f64,
) -> anyhow::Result<(f64, f64, Vec<i64>)> {
    tch::manual_seed(0);
    let (xtr, ytr) = (x.index_select(0, train), y.index_select(0, train));
    let (xte, yte) = (x.index_select(0, test), y.index_select(0, test));
    let mean = xtr.mean_dim(0, true, Kind::Float);
    let std = xtr.std_dim(0, false, true) + 1e-6;
    let (xtr, xte) = ((&xtr - &mean) / &std, (&xte - &mean) / &std);
    let vs = VarStore::new(Device::Cpu);
    let dim = xtr.size()[1];
    let w = vs.root().zeros("w", &[dim, classes]);
    let b = vs.root().zeros("b", &[classes]);
    let mut opt = nn::Adam::default().build(&vs, 1e-2)?;
    for _ in 0..steps {
        let logits = xtr.matmul(&w) + &b;
        let loss = logits.cross_entropy_for_logits(&ytr) + (&w * &w).sum(Kind::Float) * l2;
        opt.backward_step(&loss);
    }
    let acc = |xs: &Tensor, ys: &Tensor| -> anyhow::Result<(f64, Vec<i64>)> {
        let pred = tch::no_grad(|| (xs.matmul(&w) + &b).argmax(-1, false));
        let acc = pred
            .eq_tensor(ys)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        Ok((acc, Vec::<i64>::try_from(&pred)?))
    };
    let (tr, _) = acc(&xtr, &ytr)?;
    let (te, pred) = acc(&xte, &yte)?;
    Ok((tr, te, pred))
}

fn main() -> anyhow::Result<()> {
    birds_core::runtime::tune_malloc();
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let root = match &args.data {
        Some(d) => d.clone(),
        None => {
            let params = SynthParams {
                classes: args.classes,
                train: args.train,
                valid: 0,
                test: args.test,
                size: args.size,
                seed: args.seed,
                defects: false,
            };
            let t = Instant::now();
            birds_synth::generate(&params, tmp.path())?;
            println!(
                "generated {:?} in {:.1} s",
                params,
                t.elapsed().as_secs_f64()
            );
            tmp.path().to_path_buf()
        }
    };
    let items = read_items(&root)?;
    let mut labels: Vec<String> = items.iter().map(|i| i.label.clone()).collect();
    labels.sort();
    labels.dedup();
    let class_of = |l: &str| labels.iter().position(|x| x == l).unwrap_or(0) as i64;

    let weights = birds_core::paths::default_weights();
    let mut vs = VarStore::new(Device::Cpu);
    let model = EfficientNetLite0::new(&vs.root(), imagenet::NUM_CLASSES);
    birds_models::weights::load_state_dict(&mut vs, &weights, &[])
        .with_context(|| format!("loading {}", weights.display()))?;
    let norm = Normalization::default();
    let size = args.size;

    let t = Instant::now();
    let (mut emb, mut emb_bg, mut pix, mut hist) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for chunk in items.chunks(32) {
        let imgs: Vec<RgbImage> = chunk
            .iter()
            .map(|i| input::load_rgb(&i.path).map(|im| input::stretch_to_square(&im, size)))
            .collect::<Result<_, _>>()?;
        let hidden: Vec<RgbImage> = imgs
            .iter()
            .zip(chunk)
            .map(|(im, i)| i.bbox.map_or_else(|| im.clone(), |b| hide_bird(im, b)))
            .collect();
        tch::no_grad(|| {
            emb.push(model.embed(&input::images_to_tensor(&imgs, norm), false));
            emb_bg.push(model.embed(&input::images_to_tensor(&hidden, norm), false));
        });
        for im in &imgs {
            pix.push(Tensor::from_slice(&pixels16(im)));
            hist.push(Tensor::from_slice(&histogram(im)));
        }
    }
    println!(
        "{} images embedded in {:.1} s ({} classes, {} px)",
        items.len(),
        t.elapsed().as_secs_f64(),
        labels.len(),
        size
    );
    let y = Tensor::from_slice(&items.iter().map(|i| class_of(&i.label)).collect::<Vec<_>>());
    let idx = |want: bool| {
        Tensor::from_slice(
            &items
                .iter()
                .enumerate()
                .filter(|(_, i)| i.train == want)
                .map(|(k, _)| k as i64)
                .collect::<Vec<_>>(),
        )
    };
    let (train, test) = (idx(true), idx(false));
    let classes = labels.len() as i64;
    println!("\nchance: {:.3}\n", 1.0 / classes as f64);
    println!("| features | dim | train acc | test acc |\n|---|---|---|---|");
    let mut lite0_pred = Vec::new();
    for (name, feats) in [
        ("lite0 (pretrained)", Tensor::cat(&emb, 0)),
        ("lite0, bird hidden", Tensor::cat(&emb_bg, 0)),
        ("pixels 16×16", Tensor::stack(&pix, 0)),
        ("colour histogram", Tensor::stack(&hist, 0)),
    ] {
        let (tr, te, pred) = probe(&feats, &y, &train, &test, classes, args.steps, args.l2)?;
        println!("| {name} | {} | {tr:.3} | {te:.3} |", feats.size()[1]);
        if lite0_pred.is_empty() {
            lite0_pred = pred;
        }
    }
    // Per-class test accuracy and the most frequent confusions of the lite0 probe.
    let truth: Vec<i64> = Vec::<i64>::try_from(&y.index_select(0, &test))?;
    let mut confusions: BTreeMap<(i64, i64), usize> = BTreeMap::new();
    let mut per_class = vec![(0usize, 0usize); labels.len()];
    for (&t, &p) in truth.iter().zip(&lite0_pred) {
        per_class[t as usize].1 += 1;
        if t == p {
            per_class[t as usize].0 += 1;
        } else {
            *confusions.entry((t, p)).or_default() += 1;
        }
    }
    println!("\nlite0 probe, per class (test):");
    for (l, (ok, n)) in labels.iter().zip(&per_class) {
        println!("  {l:<26} {ok}/{n}");
    }
    let mut conf: Vec<_> = confusions.into_iter().collect();
    conf.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("top confusions (true → predicted):");
    for ((t, p), n) in conf.iter().take(6) {
        println!("  {} → {}: {n}", labels[*t as usize], labels[*p as usize]);
    }
    Ok(())
}

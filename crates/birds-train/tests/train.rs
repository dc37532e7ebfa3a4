//! End-to-end training tests on tiny synthetic data (4 classes, 32 px): every mode learns, frozen parts stay frozen,
//! resume equals an uninterrupted run, checkpoints reload to the same predictions, bad params are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use birds_core::{Normalization, Split};
use birds_models::Checkpoint;
use birds_models::checkpoint::MODEL_FILE;
use birds_train::data::{DataSource, TensorData, synthetic};
use birds_train::history::{HistoryRow, read_history};
use birds_train::summary::StopReason;
use birds_train::{Mode, RunOptions, TrainError, TrainParams, train};
use tch::{Device, Kind, Tensor};

fn opts(root: &Path) -> RunOptions {
    RunOptions {
        resume: false,
        progress: false,
        stop_after_epochs: None,
        root: root.to_path_buf(),
    }
}

/// Training data whose validation split is the training images themselves (to check memorisation), 8 per class.
fn tiny(classes: usize) -> TensorData {
    tiny_at(classes, 32)
}

fn tiny_at(classes: usize, size: i64) -> TensorData {
    let d = synthetic(classes, size, 8, 2, 7).unwrap();
    let all = |s: Split| {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for b in d.eval_batches(s, 1000).unwrap() {
            let (x, y) = b.unwrap();
            xs.push(x);
            ys.push(y);
        }
        (Tensor::cat(&xs, 0), Tensor::cat(&ys, 0))
    };
    let train = all(Split::Train);
    let valid = (train.0.copy(), train.1.copy());
    TensorData::new(
        d.classes().to_vec(),
        Normalization::Centered127,
        train,
        valid,
        all(Split::Test),
    )
    .unwrap()
}

/// Real photos from the birds sample: the first `classes` species, `per_class` training images each (valid = the
/// same images, to check memorisation), 2 test images each, resized to `size`.
fn photos(classes: usize, per_class: usize, size: u32) -> TensorData {
    let root = birds_core::paths::workspace_root().join("../shared/data/birds-sample");
    assert!(
        root.join("train").is_dir(),
        "birds sample not found at {}",
        root.display()
    );
    let mut names: Vec<String> = std::fs::read_dir(root.join("train"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.truncate(classes);
    let load = |split: &str, n: usize| {
        let (mut imgs, mut ys) = (Vec::new(), Vec::new());
        for (c, name) in names.iter().enumerate() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(split).join(name))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for f in files.into_iter().take(n) {
                let img = birds_models::input::load_rgb(&f).unwrap();
                imgs.push(birds_models::input::stretch_to_square(&img, size));
                ys.push(c as i64);
            }
        }
        (
            birds_models::input::images_to_tensor(&imgs, Normalization::Centered127),
            Tensor::from_slice(&ys),
        )
    };
    let train = load("train", per_class);
    let valid = (train.0.copy(), train.1.copy());
    TensorData::new(
        names.clone(),
        Normalization::Centered127,
        train,
        valid,
        load("test", 2),
    )
    .unwrap()
}

/// The ImageNet Lite0 weights `just setup` converted (a randomly initialised Lite0 has no usable features: its
/// activations vanish through the 16 blocks in evaluation mode).
fn lite0_weights(_dir: &Path) -> PathBuf {
    let path = birds_core::paths::default_weights();
    assert!(
        path.is_file(),
        "{} missing: run `just setup`",
        path.display()
    );
    path
}

/// libtorch's RNG is process-wide and the test harness runs tests on parallel threads: training tests take turns.
static TORCH: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    let guard = TORCH.lock().unwrap_or_else(|e| e.into_inner());
    // One intra-op thread: tiny tensors gain nothing from more, and OpenMP's spinning threads crawl when the
    // machine is busy with other work.
    tch::set_num_threads(1);
    guard
}

fn params(mode: Mode, weights: Option<PathBuf>) -> TrainParams {
    let mut p = TrainParams {
        mode,
        batch_size: 8,
        eval_batch_size: 16,
        weights,
        device: "cpu".to_string().try_into().unwrap(),
        label_smoothing: 0.0,
        warmup_epochs: 0.0,
        ..TrainParams::default()
    };
    p.feature_cache = Some(PathBuf::from("features"));
    p
}

fn tensors(path: &Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn feature_extract_learns_the_head_only_and_reuses_its_cache() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let weights = lite0_weights(dir.path());
    let data = photos(4, 6, 64);
    let mut p = params(Mode::FeatureExtract, Some(weights.clone()));
    p.epochs = Some(20);
    p.lr = Some(0.002);
    let out = dir.path().join("fe");
    let s = train(&p, &data, &out, &opts(dir.path())).unwrap();
    assert_eq!(s.feature_cache_hit, Some(false));
    assert!(s.best_val_accuracy >= 0.99, "{s:?}");
    // Frozen: every backbone tensor equals the weights file; the head is new.
    let before = tensors(&weights);
    let after = tensors(&out.join(MODEL_FILE));
    for (name, t) in &after {
        if name.starts_with("_fc.") {
            assert_eq!(t.size()[0], 4, "{name}");
        } else {
            assert!(t.equal(&before[name]), "{name} changed");
        }
    }
    // A second run finds the features in the cache and gives the same result.
    let out2 = dir.path().join("fe2");
    let s2 = train(&p, &data, &out2, &opts(dir.path())).unwrap();
    assert_eq!(s2.feature_cache_hit, Some(true));
    assert_eq!(s2.best_val_accuracy, s.best_val_accuracy);
    assert_eq!(
        std::fs::read(out.join(MODEL_FILE)).unwrap(),
        std::fs::read(out2.join(MODEL_FILE)).unwrap()
    );
    // The key is the weights' content, not the path as written: a copy elsewhere hits the same entry.
    let copy = dir.path().join("copy-of-lite0.safetensors");
    std::fs::copy(&weights, &copy).unwrap();
    let mut elsewhere = p.clone();
    elsewhere.weights = Some(copy);
    let s4 = train(
        &elsewhere,
        &data,
        &dir.path().join("fe4"),
        &opts(dir.path()),
    )
    .unwrap();
    assert_eq!(s4.feature_cache_hit, Some(true));
    // Different data (here: other images) means a different cache entry.
    let s3 = train(
        &p,
        &photos(4, 5, 64),
        &dir.path().join("fe3"),
        &opts(dir.path()),
    )
    .unwrap();
    assert_eq!(s3.feature_cache_hit, Some(false));
}

/// Groups of Lite0: stem, blocks 0–15, head conv. `unfreeze: 3` trains blocks 14, 15, the head conv and the
/// classifier.
const TRAINED: [&str; 5] = ["_blocks.14.", "_blocks.15.", "_conv_head.", "_bn1.", "_fc."];

#[test]
fn fine_tune_keeps_the_frozen_blocks_exactly() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let weights = lite0_weights(dir.path());
    let data = photos(4, 6, 64);
    let mut p = params(Mode::FineTune, Some(weights.clone()));
    p.epochs = Some(2);
    p.head_warmup_epochs = 1;
    p.lr = Some(0.002);
    p.unfreeze = Some(birds_train::params::Unfreeze::Last(3));
    p.freeze_bn = false;
    let out = dir.path().join("ft");
    let s = train(&p, &data, &out, &opts(dir.path())).unwrap();
    let history = read_history(&out.join("history.parquet")).unwrap();
    assert_eq!(history[0].phase, "head-warmup");
    assert_eq!(history.last().map(|r| r.phase.as_str()), Some("fine-tune"));
    // The unfrozen groups run in training mode (their BatchNorm statistics move); everything else, statistics
    // included, must be bit-identical to the weights file.
    let before = tensors(&weights);
    let after = tensors(&out.join(MODEL_FILE));
    let mut changed = Vec::new();
    for (name, t) in &after {
        if TRAINED.iter().any(|p| name.starts_with(p)) {
            if name.starts_with("_fc.") || !t.equal(&before[name]) {
                changed.push(name.clone());
            }
        } else {
            assert!(t.equal(&before[name]), "frozen {name} changed");
        }
    }
    assert!(
        changed.iter().any(|n| n.ends_with("running_mean")),
        "{changed:?}"
    );
    assert!(
        changed.len() > 30,
        "only {} trained tensors changed",
        changed.len()
    );
    let trainable: usize = after
        .iter()
        .filter(|(n, _)| {
            TRAINED.iter().any(|p| n.starts_with(p))
                && !n.ends_with("running_mean")
                && !n.ends_with("running_var")
        })
        .map(|(_, t)| t.numel())
        .sum();
    assert_eq!(s.trainable_params, trainable);
}

#[test]
fn fine_tune_with_frozen_batch_norm_learns() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let weights = lite0_weights(dir.path());
    let data = photos(4, 6, 64);
    let mut p = params(Mode::FineTune, Some(weights.clone()));
    p.epochs = Some(8);
    p.head_warmup_epochs = 1;
    p.lr = Some(0.002);
    p.backbone_lr_factor = 0.5;
    p.unfreeze = Some(birds_train::params::Unfreeze::Last(3));
    p.freeze_bn = true;
    let out = dir.path().join("ft");
    let s = train(&p, &data, &out, &opts(dir.path())).unwrap();
    assert!(s.best_val_accuracy >= 0.99, "{s:?}");
    // freeze_bn: no BatchNorm statistic moved, while the unfrozen convolutions did.
    let before = tensors(&weights);
    let after = tensors(&out.join(MODEL_FILE));
    for (name, t) in &after {
        if name.ends_with("running_mean") || name.ends_with("running_var") {
            assert!(t.equal(&before[name]), "{name} moved");
        }
    }
    let w = "_blocks.15._project_conv.weight";
    assert!(!after[w].equal(&before[w]), "{w} did not train");
}

#[test]
fn scratch_learns_with_batch_norm_and_with_frn() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    // 64 px: the last feature map is 2×2 (at 32 px it would be 1×1, where FRN reduces every value to its sign).
    let data = tiny_at(4, 64);
    for norm in ["batch-norm", "frn"] {
        let mut p = params(Mode::Scratch, None)
            .with_overrides(&[format!("norm={norm}"), "width=8".into()])
            .unwrap();
        p.epochs = Some(20);
        p.lr = Some(0.003);
        let out = dir.path().join(norm);
        let s = train(&p, &data, &out, &opts(dir.path())).unwrap();
        assert!(s.best_val_accuracy >= 0.99, "{norm}: {s:?}");
        assert_eq!(s.model, format!("small-cnn({norm}, width 8)"));
    }
}

fn curves(rows: &[HistoryRow]) -> Vec<(u32, String, String, f64, f64, f64)> {
    rows.iter()
        .map(|r| {
            (
                r.epoch,
                r.split.clone(),
                r.phase.clone(),
                r.loss,
                r.accuracy,
                r.lr,
            )
        })
        .collect()
}

#[test]
fn resume_after_an_interruption_equals_an_uninterrupted_run() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let weights = lite0_weights(dir.path());
    let data = tiny(3);
    let mut scratch = params(Mode::Scratch, None)
        .with_overrides(&[
            "width=8".into(),
            "optimizer=sgd".into(),
            "schedule=onecycle".into(),
        ])
        .unwrap();
    scratch.epochs = Some(4);
    scratch.lr = Some(0.05);
    let mut fine = params(Mode::FineTune, Some(weights));
    fine.epochs = Some(2);
    fine.head_warmup_epochs = 1;
    fine.lr = Some(0.01);
    fine.grad_clip = Some(1.0);
    fine.label_smoothing = 0.1;
    // On cached activations, one view for 3 main epochs, interrupted after the first: the resumed run has to
    // recompute view 0 as the first main epoch drew it, not as the current epoch would.
    let mut acts = fine.clone();
    acts.epochs = Some(3);
    acts.unfreeze = Some(birds_train::params::Unfreeze::Last(3));
    acts.fine_tune_on = birds_train::params::FineTuneOn::Activations;
    acts.activation_views = 1;
    fine.fine_tune_on = birds_train::params::FineTuneOn::Images;
    // With a weight average interrupted mid-run: its shadow and update count are part of the state.
    let mut scratch_ema = scratch.clone();
    scratch_ema.ema_decay = Some(0.9);
    let mut acts_ema = acts.clone();
    acts_ema.ema_decay = Some(0.9);
    // Fine-tune is interrupted right after the head warm-up, scratch in the middle.
    for (name, p, stop) in [
        ("scratch", scratch, 2),
        ("fine", fine, 1),
        ("acts", acts, 2),
        ("scratch-ema", scratch_ema, 2),
        ("acts-ema", acts_ema, 2),
    ] {
        let whole = dir.path().join(format!("{name}-whole"));
        let parts = dir.path().join(format!("{name}-parts"));
        train(&p, &data, &whole, &opts(dir.path())).unwrap();
        let mut first = opts(dir.path());
        first.stop_after_epochs = Some(stop);
        let e = train(&p, &data, &parts, &first).unwrap_err();
        assert!(
            matches!(e, TrainError::Stopped { epochs_done } if epochs_done == stop),
            "{e}"
        );
        assert!(parts.join("state/state.json").is_file());
        let mut resume = opts(dir.path());
        resume.resume = true;
        train(&p, &data, &parts, &resume).unwrap();
        assert!(!parts.join("state").exists(), "state removed at the end");
        assert_eq!(
            curves(&read_history(&whole.join("history.parquet")).unwrap()),
            curves(&read_history(&parts.join("history.parquet")).unwrap()),
            "{name}: history differs"
        );
        assert_eq!(
            std::fs::read(whole.join(MODEL_FILE)).unwrap(),
            std::fs::read(parts.join(MODEL_FILE)).unwrap(),
            "{name}: weights differ"
        );
        // Resuming a completed run is refused with the reason.
        let e = train(&p, &data, &parts, &resume).unwrap_err().to_string();
        assert!(e.contains("already completed"), "{e}");
    }
}

/// `ema_decay`: the average never feeds back into training (the train passes are the plain run's, number for
/// number), while validation, the kept weights and the test are the average's, and so differ from the plain run's
/// once the main phase has run; the warm-up (before the average starts) is the plain run's too.
#[test]
fn the_weight_average_is_validated_and_kept_without_changing_training() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let weights = lite0_weights(dir.path());
    let data = tiny(3);
    let mut plain = params(Mode::FineTune, Some(weights));
    plain.head_warmup_epochs = 1;
    plain.epochs = Some(3);
    plain.lr = Some(0.01);
    plain.unfreeze = Some(birds_train::params::Unfreeze::Last(3));
    let mut avg = plain.clone();
    avg.ema_decay = Some(0.5);
    let run = |name: &str, p: &TrainParams| {
        let s = train(p, &data, &dir.path().join(name), &opts(dir.path())).unwrap();
        let h = read_history(&dir.path().join(name).join("history.parquet")).unwrap();
        (s, h)
    };
    let ((s_plain, h_plain), (s_avg, h_avg)) = (run("plain", &plain), run("avg", &avg));
    assert_eq!(h_plain.len(), h_avg.len());
    let train_rows = |h: &[HistoryRow]| {
        curves(
            &h.iter()
                .filter(|r| r.split == "train")
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        train_rows(&h_plain),
        train_rows(&h_avg),
        "the average changed training"
    );
    let valid: Vec<(&HistoryRow, &HistoryRow)> = h_plain
        .iter()
        .zip(&h_avg)
        .filter(|(a, _)| a.split == "valid")
        .collect();
    assert_eq!(valid[0].0.loss, valid[0].1.loss, "warm-up: no average yet");
    assert!(
        valid[1..].iter().all(|(a, b)| a.loss != b.loss),
        "main-phase validation is not the average's: {valid:?}"
    );
    let (w_plain, w_avg) = (
        tensors(&dir.path().join("plain").join(MODEL_FILE)),
        tensors(&dir.path().join("avg").join(MODEL_FILE)),
    );
    assert!(
        s_plain.best_epoch > 1 && s_avg.best_epoch > 1,
        "{s_plain:?} {s_avg:?}"
    );
    let head = "_fc.weight";
    assert!(
        !w_plain[head].allclose(&w_avg[head], 1e-7, 1e-7, false),
        "the kept head is the live one"
    );
    // An average that forgets at once (decay 1e-6) is the live weights: it must track every step, not stay put.
    let mut forget = plain.clone();
    forget.ema_decay = Some(1e-6);
    let (_, h_forget) = run("forget", &forget);
    for (a, b) in h_plain
        .iter()
        .zip(&h_forget)
        .filter(|(a, _)| a.split == "valid")
    {
        assert!((a.loss - b.loss).abs() < 1e-4, "{a:?} vs {b:?}");
    }
    let reloaded = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(dir.path().join("avg").join("checkpoint.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(reloaded["params"]["ema_decay"], 0.5);
}

#[test]
fn same_seed_same_run_and_resume_checks_params() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = tiny(3);
    let mut p = params(Mode::Scratch, None)
        .with_overrides(&["width=4".into()])
        .unwrap();
    p.epochs = Some(2);
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    train(&p, &data, &a, &opts(dir.path())).unwrap();
    train(&p, &data, &b, &opts(dir.path())).unwrap();
    assert_eq!(
        std::fs::read(a.join(MODEL_FILE)).unwrap(),
        std::fs::read(b.join(MODEL_FILE)).unwrap()
    );
    assert_eq!(
        curves(&read_history(&a.join("history.parquet")).unwrap()),
        curves(&read_history(&b.join("history.parquet")).unwrap())
    );
    // An interrupted run resumed with other params is refused, naming the param.
    let c = dir.path().join("c");
    let mut first = opts(dir.path());
    first.stop_after_epochs = Some(1);
    let _ = train(&p, &data, &c, &first).unwrap_err();
    let mut other = p.clone();
    other.lr = Some(0.5);
    let mut resume = opts(dir.path());
    resume.resume = true;
    let e = train(&other, &data, &c, &resume).unwrap_err().to_string();
    assert!(e.contains("`lr`") && e.contains("--resume"), "{e}");
}

#[test]
fn checkpoint_reloads_to_the_same_predictions() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = tiny(4);
    let mut p = params(Mode::Scratch, None)
        .with_overrides(&["width=8".into()])
        .unwrap();
    p.epochs = Some(3);
    let out = dir.path().join("run");
    let s = train(&p, &data, &out, &opts(dir.path())).unwrap();
    let ckpt = Checkpoint::load(&out, Device::Cpu).unwrap();
    assert_eq!(ckpt.meta.classes, data.classes());
    assert_eq!(ckpt.meta.input_size, 32);
    assert_eq!(ckpt.meta.mode, "scratch");
    assert_eq!(ckpt.meta.best.test_accuracy, s.test_accuracy);
    // The test loss recomputed from the reloaded checkpoint equals the one training recorded.
    let (mut loss, mut correct, mut n) = (0.0, 0i64, 0i64);
    for b in data.eval_batches(Split::Test, 16).unwrap() {
        let (x, y) = b.unwrap();
        let logits = tch::no_grad(|| ckpt.model.logits(&x, false));
        loss += logits
            .cross_entropy_loss::<Tensor>(&y, None, tch::Reduction::Sum, -100, 0.0)
            .double_value(&[]);
        correct += logits
            .argmax(-1, false)
            .eq_tensor(&y)
            .sum(Kind::Int64)
            .int64_value(&[]);
        n += y.size()[0];
    }
    assert_eq!(Some(correct as f64 / n as f64), s.test_accuracy);
    assert!((loss / n as f64 - s.test_loss.unwrap()).abs() < 1e-6);
    for f in [
        "checkpoint.json",
        "history.parquet",
        "curves.png",
        "summary.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
}

#[test]
fn stops_early_and_on_the_time_budget() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = tiny(3);
    // LR so small that nothing changes: validation never improves after epoch 1 (FRN has no running statistics).
    let mut p = params(Mode::Scratch, None)
        .with_overrides(&["width=4".into(), "norm=frn".into(), "patience=2".into()])
        .unwrap();
    p.epochs = Some(10);
    p.lr = Some(1e-12);
    let s = train(&p, &data, &dir.path().join("early"), &opts(dir.path())).unwrap();
    assert_eq!(
        (s.epochs, s.stopped, s.best_epoch),
        (3, StopReason::EarlyStopping, 1)
    );
    // A budget far below one epoch's time: one epoch runs, then the plan shrinks to it.
    let mut p = params(Mode::Scratch, None)
        .with_overrides(&["width=4".into(), "time_budget_s=1e-9".into()])
        .unwrap();
    p.epochs = Some(5);
    let s = train(&p, &data, &dir.path().join("budget"), &opts(dir.path())).unwrap();
    assert_eq!((s.epochs, s.stopped), (1, StopReason::TimeBudget));
    assert_eq!(
        s.train_images, 24,
        "a whole epoch of 24 images (3 steps: too few to time)"
    );
    // One long epoch (12 steps of 2 images) under a budget it cannot fit: steps 2–10 are timed and the epoch ends on
    // the planned step (here the 10th: nothing more fits) instead of running to its end (at full size one epoch
    // is hours).
    p.batch_size = 2;
    p.epochs = Some(1);
    let s = train(
        &p,
        &data,
        &dir.path().join("budget-steps"),
        &opts(dir.path()),
    )
    .unwrap();
    assert_eq!((s.epochs, s.stopped), (1, StopReason::TimeBudget));
    assert_eq!(s.train_images, 20, "the epoch should end on step 10 of 12");
    // A budget the run fits in leaves the plan alone.
    let mut p = params(Mode::Scratch, None)
        .with_overrides(&["width=4".into(), "time_budget_s=3600".into()])
        .unwrap();
    p.batch_size = 2;
    p.epochs = Some(2);
    let s = train(
        &p,
        &data,
        &dir.path().join("budget-fits"),
        &opts(dir.path()),
    )
    .unwrap();
    assert_eq!(
        (s.epochs, s.stopped, s.train_images),
        (2, StopReason::Completed, 48)
    );
}

#[test]
fn bad_inputs_give_clear_errors() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = tiny(4);
    // Unknown mode, non-positive LR.
    let e = TrainParams::from_json(&serde_json::json!({"mode": "distill"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`mode`") && e.contains("feature-extract"), "{e}");
    let mut p = params(Mode::Scratch, None);
    p.lr = Some(0.0);
    let e = train(&p, &data, &dir.path().join("x"), &opts(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`lr`") && e.contains("positive"), "{e}");
    // Fine-tuning from a birds checkpoint trained on other classes.
    let mut p = params(Mode::Scratch, None)
        .with_overrides(&["width=4".into()])
        .unwrap();
    p.epochs = Some(1);
    let first = dir.path().join("first");
    train(&p, &data, &first, &opts(dir.path())).unwrap();
    let other = tiny(3);
    let mut again = p.clone();
    again.mode = Mode::FineTune;
    again.model = Some(birds_train::params::ModelName::SmallCnn);
    again.weights = Some(first.clone());
    let e = train(&again, &other, &dir.path().join("y"), &opts(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("classes mismatch") && e.contains("4 classes there, 3"),
        "{e}"
    );
    // Same classes: fine-tuning from the checkpoint works.
    train(&again, &data, &dir.path().join("z"), &opts(dir.path())).unwrap();
    // Batch larger than the train split.
    let mut p = params(Mode::Scratch, None);
    p.batch_size = 1000;
    let e = train(&p, &data, &dir.path().join("w"), &opts(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("batch_size"), "{e}");
    // Resume without state.
    let mut resume = opts(dir.path());
    resume.resume = true;
    let e = train(
        &params(Mode::Scratch, None),
        &data,
        &dir.path().join("none"),
        &resume,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("nothing to resume"), "{e}");
}

/// A pid that is not running: a child that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn a_killed_runs_state_temp_folder_is_removed_at_the_next_start() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = tiny(3);
    let mut p = params(Mode::Scratch, None)
        .with_overrides(&["width=4".into()])
        .unwrap();
    p.epochs = Some(2);
    let out = dir.path().join("run");
    let mut first = opts(dir.path());
    first.stop_after_epochs = Some(1);
    let _ = train(&p, &data, &out, &first).unwrap_err();
    // What a run killed while saving its state leaves: `.state.tmp-<its pid>/`, half written.
    let stale = out.join(format!(".state.tmp-{}", dead_pid()));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("model.safetensors"), b"half").unwrap();
    // A running process's folder (here: this test's parent) is not touched.
    let live = out.join(format!(
        ".state.tmp-{}",
        std::os::unix::process::parent_id()
    ));
    std::fs::create_dir_all(&live).unwrap();
    let mut resume = opts(dir.path());
    resume.resume = true;
    train(&p, &data, &out, &resume).unwrap();
    assert!(!stale.exists(), "{} left behind", stale.display());
    assert!(live.exists(), "a live process's folder was removed");
}

/// `train_into` (what `birds train --out DIR` runs): an interrupted run over an earlier one leaves DIR as it was;
/// `--resume` takes the interrupted run over and ends like an uninterrupted run; a folder of other files is
/// refused.
#[test]
fn train_into_swaps_in_only_a_completed_run_and_resumes_a_stopped_one() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = tiny(3);
    let mut p = params(Mode::Scratch, None)
        .with_overrides(&["width=4".into()])
        .unwrap();
    p.epochs = Some(3);
    let whole = dir.path().join("whole");
    birds_train::train_into(&p, &data, &whole, &opts(dir.path())).unwrap();

    let out = dir.path().join("run");
    let mut old = p.clone();
    old.seed = 7;
    old.epochs = Some(1);
    birds_train::train_into(&old, &data, &out, &opts(dir.path())).unwrap();
    let before: Vec<Vec<u8>> = ["summary.json", "checkpoint.json", MODEL_FILE]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    let mut first = opts(dir.path());
    first.stop_after_epochs = Some(1);
    let e = birds_train::train_into(&p, &data, &out, &first).unwrap_err();
    assert!(matches!(e, TrainError::Stopped { epochs_done: 1 }), "{e}");
    for (f, old) in ["summary.json", "checkpoint.json", MODEL_FILE]
        .iter()
        .zip(&before)
    {
        assert_eq!(&std::fs::read(out.join(f)).unwrap(), old, "{f} changed");
    }
    let mut resume = opts(dir.path());
    resume.resume = true;
    birds_train::train_into(&p, &data, &out, &resume).unwrap();
    assert_eq!(
        std::fs::read(whole.join(MODEL_FILE)).unwrap(),
        std::fs::read(out.join(MODEL_FILE)).unwrap(),
        "the resumed run differs from an uninterrupted one"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "left behind: {names:?}");
    assert!(!out.join("state").exists());
    Checkpoint::load(&out, Device::Cpu).unwrap();
    let e = birds_train::train_into(&p, &data, &out, &resume)
        .unwrap_err()
        .to_string();
    assert!(e.contains("already completed"), "{e}");

    // A folder of the user's own files is never replaced.
    let mine = dir.path().join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), b"keep me").unwrap();
    let e = birds_train::train_into(&p, &data, &mine, &opts(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("notes.txt") && e.contains("birds train"), "{e}");
    assert_eq!(std::fs::read(mine.join("notes.txt")).unwrap(), b"keep me");
}

/// LP-FT: fine-tune's head warm-up on the cached features is feature-extract's head training, epoch for epoch (same
/// seed, lr, batch and a constant schedule): the same validation loss and accuracy, from the shared feature cache
/// (hit); the first unfrozen epoch starts from that head. With `head_warmup_on: images` the warm-up runs full
/// forward passes instead and the cache is not touched.
#[test]
fn fine_tune_warms_up_on_the_cached_features_as_feature_extract_trains_its_head() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let weights = lite0_weights(dir.path());
    let data = photos(4, 6, 64);
    let same = |p: &mut TrainParams| {
        p.lr = Some(0.01);
        p.schedule = birds_train::params::ScheduleKind::Constant;
        p.weight_decay = Some(0.0);
        p.label_smoothing = 0.0;
    };
    let mut fe = params(Mode::FeatureExtract, Some(weights.clone()));
    fe.epochs = Some(3);
    same(&mut fe);
    let s_fe = train(&fe, &data, &dir.path().join("fe"), &opts(dir.path())).unwrap();
    assert_eq!(s_fe.feature_cache_hit, Some(false));

    let mut ft = params(Mode::FineTune, Some(weights));
    ft.head_warmup_epochs = 3;
    ft.epochs = Some(1);
    ft.freeze_bn = true;
    // The backbone barely moves: the unfrozen epoch shows where the head started from, not a recipe's merit.
    ft.backbone_lr_factor = 1e-6;
    same(&mut ft);
    let s_ft = train(&ft, &data, &dir.path().join("ft"), &opts(dir.path())).unwrap();
    assert_eq!(
        s_ft.feature_cache_hit,
        Some(true),
        "the warm-up reads feature-extract's cache"
    );
    let valid = |run: &str| -> Vec<HistoryRow> {
        read_history(&dir.path().join(run).join("history.parquet"))
            .unwrap()
            .into_iter()
            .filter(|r| r.split == "valid")
            .collect()
    };
    let (h_fe, h_ft) = (valid("fe"), valid("ft"));
    assert_eq!(h_ft.len(), 4);
    for e in 0..3 {
        assert_eq!(h_ft[e].phase, "head-warmup");
        assert!(
            (h_ft[e].loss - h_fe[e].loss).abs() < 1e-5
                && (h_ft[e].accuracy - h_fe[e].accuracy).abs() < 1e-9,
            "epoch {}: warm-up {:?} vs feature-extract {:?}",
            e + 1,
            h_ft[e],
            h_fe[e]
        );
    }
    assert_eq!(h_ft[3].phase, "fine-tune");
    // Starting from the probe's head (not a fresh one), the first unfrozen epoch keeps what the head had learnt.
    assert!(
        h_ft[3].accuracy >= h_fe[2].accuracy - 0.25,
        "{:?} vs {:?}",
        h_ft[3],
        h_fe[2]
    );

    // Strictly: with the main phase's LR at ~0 nothing moves, so the first unfrozen epoch's validation (the image or
    // activation path through the whole network) is the warm-up head's validation (the feature path), to rounding.
    for on in [
        birds_train::params::FineTuneOn::Images,
        birds_train::params::FineTuneOn::Activations,
    ] {
        let mut still = ft.clone();
        still.head_warmup_lr = Some(0.01);
        still.lr = Some(1e-12);
        still.backbone_lr_factor = 1.0;
        still.unfreeze = Some(birds_train::params::Unfreeze::Last(3));
        still.fine_tune_on = on;
        let name = format!("still-{on:?}");
        train(&still, &data, &dir.path().join(&name), &opts(dir.path())).unwrap();
        let h = valid(&name);
        assert_eq!(h[3].phase, "fine-tune");
        assert!(
            (h[3].loss - h_fe[2].loss).abs() < 1e-4
                && (h[3].accuracy - h_fe[2].accuracy).abs() < 1e-9,
            "{on:?}: first unfrozen epoch {:?} vs the head alone {:?}",
            h[3],
            h_fe[2]
        );
    }

    // The warm-up on images: no feature cache involved, the same kind of run otherwise.
    let cache_files = || {
        std::fs::read_dir(dir.path().join("features"))
            .unwrap()
            .count()
    };
    let before = cache_files();
    let mut img = ft.clone();
    img.head_warmup_on = birds_train::params::HeadWarmupOn::Images;
    img.head_warmup_epochs = 1;
    let s_img = train(&img, &data, &dir.path().join("img"), &opts(dir.path())).unwrap();
    assert_eq!(s_img.feature_cache_hit, None);
    assert_eq!(cache_files(), before);
}

/// `fine_tune_on: activations` is the image path's arithmetic with the frozen groups' output computed once per
/// view: with as many views as main epochs the run is the same run; with fewer, later epochs reuse the views
/// (reshuffled) and differ. The frozen groups stay as loaded either way.
#[test]
fn fine_tune_on_cached_activations_is_the_image_path_computed_once() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let weights = lite0_weights(dir.path());
    let data = photos(4, 6, 64);
    let mut img = params(Mode::FineTune, Some(weights.clone()));
    img.head_warmup_epochs = 1;
    img.epochs = Some(3);
    img.lr = Some(0.002);
    img.unfreeze = Some(birds_train::params::Unfreeze::Last(3));
    img.head_warmup_lr = Some(0.004);
    img.fine_tune_on = birds_train::params::FineTuneOn::Images;
    // BatchNorm of the unfrozen groups in training mode: the cached path must reproduce that too.
    img.freeze_bn = false;
    let mut acts = img.clone();
    acts.fine_tune_on = birds_train::params::FineTuneOn::Activations;
    acts.activation_views = 3;
    let mut reuse = acts.clone();
    reuse.activation_views = 1;
    let run = |name: &str, p: &TrainParams| {
        train(p, &data, &dir.path().join(name), &opts(dir.path())).unwrap();
        read_history(&dir.path().join(name).join("history.parquet")).unwrap()
    };
    let (h_img, h_act, h_reuse) = (run("img", &img), run("act", &acts), run("reuse", &reuse));
    assert_eq!(
        h_img.len(),
        8,
        "1 warm-up + 3 main epochs, train and valid rows"
    );
    assert_eq!(h_img[0].lr, 0.004, "the warm-up runs at head_warmup_lr");
    assert!(
        h_img[2].lr <= 0.002 && h_img[2].lr > 0.0,
        "the main phase follows lr's schedule: {:?}",
        h_img[2]
    );
    for (a, b) in h_img.iter().zip(&h_act) {
        assert_eq!((a.epoch, &a.split, &a.phase), (b.epoch, &b.split, &b.phase));
        assert!(
            (a.loss - b.loss).abs() < 1e-5 && (a.accuracy - b.accuracy).abs() < 1e-9,
            "images {a:?} vs activations {b:?}"
        );
    }
    let w_img = tensors(&dir.path().join("img").join(MODEL_FILE));
    let w_act = tensors(&dir.path().join("act").join(MODEL_FILE));
    for (name, t) in &w_img {
        assert!(
            t.allclose(&w_act[name], 1e-5, 1e-6, false),
            "{name} differs"
        );
    }
    // One view: the first main epoch (rows 2, 3) is the same, the second (rows 4, 5) trains on view 0 again.
    for i in 0..4 {
        assert!(
            (h_img[i].loss - h_reuse[i].loss).abs() < 1e-5,
            "{:?} vs {:?}",
            h_img[i],
            h_reuse[i]
        );
    }
    assert!(
        (h_img[4].loss - h_reuse[4].loss).abs() > 1e-4,
        "a reused view trains on the same crops as epoch 2, not epoch 3's: {:?} vs {:?}",
        h_img[4],
        h_reuse[4]
    );
    let before = tensors(&weights);
    let w_reuse = tensors(&dir.path().join("reuse").join(MODEL_FILE));
    for (name, t) in &w_reuse {
        if !TRAINED.iter().any(|p| name.starts_with(p)) {
            assert!(t.equal(&before[name]), "frozen {name} changed");
        }
    }

    // Nothing frozen, nothing to cache: refused, naming the param.
    let mut all = acts.clone();
    all.unfreeze = Some(birds_train::params::Unfreeze::All);
    let e = train(&all, &data, &dir.path().join("all"), &opts(dir.path()))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("`fine_tune_on`") && e.contains("unfreeze"),
        "{e}"
    );
}

/// `layer_decay` scales each unfrozen group's LR by its depth from the top: at 0.01 the lowest of three unfrozen
/// groups (block 14) trains at 1e-4 of the head conv's LR and barely moves, the head conv as much as before.
#[test]
fn layer_decay_slows_the_lower_unfrozen_groups() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let weights = lite0_weights(dir.path());
    let data = photos(4, 6, 64);
    let mut p = params(Mode::FineTune, Some(weights.clone()));
    p.head_warmup_epochs = 1;
    p.epochs = Some(2);
    p.lr = Some(0.002);
    p.freeze_bn = true;
    p.unfreeze = Some(birds_train::params::Unfreeze::Last(3));
    p.fine_tune_on = birds_train::params::FineTuneOn::Activations;
    let mut decayed = p.clone();
    decayed.layer_decay = 0.01;
    train(&p, &data, &dir.path().join("flat"), &opts(dir.path())).unwrap();
    train(
        &decayed,
        &data,
        &dir.path().join("decayed"),
        &opts(dir.path()),
    )
    .unwrap();
    let before = tensors(&weights);
    let moved = |run: &str, prefix: &str| -> f64 {
        let after = tensors(&dir.path().join(run).join(MODEL_FILE));
        after
            .iter()
            .filter(|(n, _)| n.starts_with(prefix) && n.ends_with("weight"))
            .map(|(n, t)| {
                (t - &before[n])
                    .square()
                    .sum(Kind::Double)
                    .double_value(&[])
            })
            .sum::<f64>()
            .sqrt()
    };
    let (low_flat, low_decayed) = (
        moved("flat", "_blocks.14."),
        moved("decayed", "_blocks.14."),
    );
    let (top_flat, top_decayed) = (
        moved("flat", "_conv_head."),
        moved("decayed", "_conv_head."),
    );
    assert!(low_flat > 0.0 && top_flat > 0.0, "{low_flat} {top_flat}");
    assert!(
        low_decayed < 0.01 * low_flat,
        "block 14 moved {low_decayed} vs {low_flat} without decay"
    );
    assert!(
        top_decayed > 0.5 * top_flat,
        "head conv moved {top_decayed} vs {top_flat}"
    );
}

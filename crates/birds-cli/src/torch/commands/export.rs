//! `birds export --checkpoint RUN --out DIR`: a trained model for use outside birds (PyTorch, TorchScript).
//!
//! Writes `model.safetensors` (for EfficientNet-Lite0 with the PyTorch key names of `efficientnet-lite-pytorch`),
//! `model.torchscript.pt` (traced; `torch.jit.load` runs it) and `model.json` (classes in logit order, input size,
//! framing, normalisation, layout); see `birds_models::export`. With `--reference IMG…` it also writes birds' own
//! inputs and logits for those images (`reference.safetensors`: `inputs` `[N, 3, S, S]` float32, `logits`
//! `[N, classes]`; `reference.json`: the image paths in row order), framed exactly as `birds predict` frames files,
//! so that a port of the model can be checked against birds (`scripts/check_export.py` does).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use birds_explain::source::{self, ImageSource};
use birds_models::checkpoint::{self, EvalView};
use birds_models::export::{self, ExportFormat};
use birds_models::{Checkpoint, CheckpointMeta};
use serde::Serialize;
use tch::{Device, Tensor};

use super::Runtime;

/// File name of the reference tensors.
pub const REFERENCE_FILE: &str = "reference.safetensors";
/// File name of the reference image list.
pub const REFERENCE_LIST: &str = "reference.json";
/// Images per forward pass when computing reference logits.
const BATCH: usize = 16;
/// File extensions taken from a `--reference` folder.
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"];

/// Which model files to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// model.safetensors (the state dict) and model.json.
    Safetensors,
    /// model.torchscript.pt (the traced module) and model.json.
    Torchscript,
    /// Both model files and model.json.
    Both,
}

impl From<FormatArg> for ExportFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Safetensors => ExportFormat::Safetensors,
            FormatArg::Torchscript => ExportFormat::Torchscript,
            FormatArg::Both => ExportFormat::Both,
        }
    }
}

/// Arguments of `birds export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A `birds train` output folder (model.safetensors + checkpoint.json).
    #[arg(long, value_name = "DIR", required = true)]
    checkpoint: PathBuf,
    /// Output folder (created): model.safetensors, model.torchscript.pt, model.json.
    #[arg(long, value_name = "DIR", required = true)]
    out: PathBuf,
    /// Which model files to write.
    #[arg(long, value_enum, default_value_t = FormatArg::Both)]
    format: FormatArg,
    /// Image files or folders (searched recursively, sorted): also write birds' own inputs and logits for them to
    /// reference.safetensors and their paths to reference.json, to check a port of the model against birds.
    #[arg(long, value_name = "IMG|DIR", num_args = 1..)]
    reference: Vec<PathBuf>,
    /// Print the model card (model.json) as one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct ReferenceList {
    /// Image paths, one per row of `inputs` and `logits`.
    images: Vec<String>,
    /// Shape of `inputs`.
    inputs: Vec<i64>,
    /// Shape of `logits`.
    logits: Vec<i64>,
    /// How the rows were made.
    note: String,
}

/// How birds frames an image file for this checkpoint (what `birds predict` does), as an [`EvalView`].
fn file_view(meta: &CheckpointMeta) -> anyhow::Result<EvalView> {
    let geometry = source::file_geometry(meta)?;
    Ok(EvalView {
        resize: geometry.mode.as_str().into(),
        filter: geometry.filter.as_str().into(),
        stored_side: geometry.stored_side(),
    })
}

/// Every image file under the given paths: files as given, folders searched recursively; sorted within a folder.
fn collect_images(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading the folder {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            bail!("--reference {}: no such file or folder", p.display());
        }
    }
    if out.is_empty() {
        bail!("--reference: no image files found in the given paths");
    }
    Ok(out)
}

/// birds' inputs and logits for `files` under the checkpoint in `dir`, framed like `birds predict`.
fn reference(dir: &Path, files: &[PathBuf]) -> anyhow::Result<(Tensor, Tensor)> {
    let ckpt = Checkpoint::load(dir, Device::Cpu)
        .with_context(|| format!("loading the checkpoint {}", dir.display()))?;
    let meta = &ckpt.meta;
    let source = ImageSource::new(None, source::file_geometry(meta)?, None);
    let mut inputs = Vec::new();
    let mut logits = Vec::new();
    for chunk in files.chunks(BATCH) {
        let imgs = chunk
            .iter()
            .map(|p| {
                source
                    .load_file(p)
                    .with_context(|| format!("--reference {}", p.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let x = birds_models::input::images_to_tensor(&imgs, meta.normalization);
        let l = tch::no_grad(|| ckpt.model.logits(&x, false));
        inputs.push(x);
        logits.push(l);
    }
    Ok((Tensor::cat(&inputs, 0), Tensor::cat(&logits, 0)))
}

/// Exports the checkpoint; with `--reference`, the reference inputs and logits too.
pub fn run(_rt: &Runtime, args: Args) -> anyhow::Result<()> {
    let meta = CheckpointMeta::read(&args.checkpoint)
        .with_context(|| format!("reading the checkpoint {}", args.checkpoint.display()))?;
    // Reference images are read first: an unreadable one stops the command before anything is written.
    let reference_data = if args.reference.is_empty() {
        None
    } else {
        let files = collect_images(&args.reference)?;
        let (x, l) = reference(&args.checkpoint, &files)?;
        Some((files, x, l))
    };
    let view = file_view(&meta)?;
    let report = export::export(&args.checkpoint, &args.out, args.format.into(), &view)
        .with_context(|| format!("exporting {}", args.checkpoint.display()))?;
    let mut written = report.files.clone();
    if let Some((files, x, l)) = reference_data {
        let tensors = vec![
            ("inputs".to_string(), x.shallow_clone()),
            ("logits".to_string(), l.shallow_clone()),
        ];
        let path = args.out.join(REFERENCE_FILE);
        checkpoint::write_tensors(&tensors, &path)?;
        let list = ReferenceList {
            images: files.iter().map(|p| p.display().to_string()).collect(),
            inputs: x.size(),
            logits: l.size(),
            note: "rows in the order of images; inputs framed and normalised as model.json says (birds' own resize), \
                   logits from birds' forward in evaluation mode"
                .into(),
        };
        let list_path = args.out.join(REFERENCE_LIST);
        birds_core::atomic::write_bytes(
            &list_path,
            format!("{}\n", serde_json::to_string_pretty(&list)?).as_bytes(),
        )?;
        written.push(path);
        written.push(list_path);
    }
    if args.json {
        outln!("{}", serde_json::to_string(&report.card)?);
        return Ok(());
    }
    let card = &report.card;
    outln!(
        "{} ({} classes, {}×{} input, {}) → {}",
        card.architecture,
        card.classes.len(),
        card.input.size,
        card.input.size,
        card.input.normalization.name,
        args.out.display()
    );
    for f in &written {
        outln!("  {}", f.display());
    }
    if let Some(ts) = &card.torchscript {
        outln!(
            "  TorchScript module loaded back: max |logit diff| vs birds {:.1e}",
            ts.self_check_max_abs_diff
        );
    }
    Ok(())
}

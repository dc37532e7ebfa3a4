//! Where birds keeps things it finds without flags.
//!
//! | what | default | override |
//! |---|---|---|
//! | project venv (libtorch, weights) | `<workspace>/.venv` | `BIRDS_VENV` |
//! | ImageNet EfficientNet-Lite0 weights | `<venv>/weights/efficientnet-lite0.safetensors` | `BIRDS_WEIGHTS` |
//!
//! `<workspace>` is the checkout the binary was built from; `just setup` fills the venv.

use std::path::PathBuf;

/// The workspace the binary was built from.
pub fn workspace_root() -> PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // crates/birds-core → the workspace two levels up.
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// The project venv: `$BIRDS_VENV`, else `<workspace>/.venv`.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("BIRDS_VENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join(".venv"),
    }
}

/// File name of the converted ImageNet EfficientNet-Lite0 weights inside `<venv>/weights`.
pub const LITE0_WEIGHTS_FILE: &str = "efficientnet-lite0.safetensors";

/// The ImageNet EfficientNet-Lite0 weights: `$BIRDS_WEIGHTS`, else `<venv>/weights/efficientnet-lite0.safetensors`.
pub fn default_weights() -> PathBuf {
    match std::env::var_os("BIRDS_WEIGHTS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => venv_dir().join("weights").join(LITE0_WEIGHTS_FILE),
    }
}

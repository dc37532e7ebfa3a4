//! Where birds keeps things it finds without flags.
//!
//! | what | default | override |
//! |---|---|---|
//! | project venv (libtorch, weights) | `<workspace>/.venv` | `BIRDS_VENV` |
//! | ImageNet EfficientNet-Lite0 weights | `<venv>/weights/efficientnet-lite0.safetensors` | `BIRDS_WEIGHTS` |
//!
//! `<workspace>` is the checkout the binary was built from; `just setup` fills the venv.
//!
//! And one dataset convention: a ground-truth mask (the synthetic birds write them; explain scores its heatmaps
//! against them) sits at [`mask_path_for`] of its image, `masks/<image path>.png`, both relative to the dataset root.

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

/// The mask path for an image path (both relative to the dataset root, `/`-separated): `masks/<path>` with a `.png`
/// extension, e.g. `train/CRIMSON FINCH/001.jpg` → `masks/train/CRIMSON FINCH/001.png`.
pub fn mask_path_for(image: &str) -> String {
    let stem = match image.rfind('.') {
        Some(dot) if !image[dot..].contains('/') => &image[..dot],
        _ => image,
    };
    format!("masks/{stem}.png")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_paths_replace_the_extension_only() {
        assert_eq!(
            mask_path_for("train/CRIMSON FINCH/001.jpg"),
            "masks/train/CRIMSON FINCH/001.png"
        );
        assert_eq!(mask_path_for("a.b/c"), "masks/a.b/c.png");
        assert_eq!(mask_path_for("valid/x.y/2.jpeg"), "masks/valid/x.y/2.png");
    }
}

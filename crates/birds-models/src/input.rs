//! From image files to model input tensors.

use std::path::Path;

use birds_core::Normalization;
use image::RgbImage;
use image::imageops::FilterType;
use tch::{Kind, Tensor};

use crate::{ModelError, Result};

/// Decodes an image file to 8-bit RGB, naming the file in any error: [`birds_core::image::decode_rgb`], the one
/// strict decode every command shares (regular files only, truncated JPEGs refused, EXIF orientation applied).
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    birds_core::image::decode_rgb(path).map_err(|e| match e {
        birds_core::CoreError::Image { path, reason } => ModelError::Image { path, reason },
        other => ModelError::Core(other),
    })
}

/// Stretches to `size`×`size` (bilinear with antialiasing, aspect ratio not kept) unless already that size; the
/// preprocess cache's framing (shorter side + centre crop) is `birds_preprocess::resize::resize_square`.
pub fn stretch_to_square(img: &RgbImage, size: u32) -> RgbImage {
    if img.width() == size && img.height() == size {
        img.clone()
    } else {
        image::imageops::resize(img, size, size, FilterType::Triangle)
    }
}

/// Converts same-sized RGB images into a normalised `[N, 3, H, W]` float tensor on the CPU.
pub fn images_to_tensor(images: &[RgbImage], norm: Normalization) -> Tensor {
    let Some(first) = images.first() else {
        return Tensor::zeros([0, 3, 0, 0], (Kind::Float, tch::Device::Cpu));
    };
    let (w, h) = (first.width() as usize, first.height() as usize);
    let plane = w * h;
    let mut data = vec![0f32; images.len() * 3 * plane];
    for (i, img) in images.iter().enumerate() {
        let base = i * 3 * plane;
        for (p, px) in img.pixels().enumerate() {
            for c in 0..3 {
                data[base + c * plane + p] = norm.apply(px[c], c);
            }
        }
    }
    Tensor::from_slice(&data).view([images.len() as i64, 3, h as i64, w as i64])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chw_layout_and_normalisation() {
        let mut img = RgbImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgb([255, 127, 0]));
        img.put_pixel(1, 0, image::Rgb([127, 255, 127]));
        let t = images_to_tensor(&[img], Normalization::Centered127);
        assert_eq!(t.size(), vec![1, 3, 1, 2]);
        let v: Vec<f32> = t.flatten(0, -1).try_into().unwrap_or_default();
        assert_eq!(v, vec![1.0, 0.0, 0.0, 1.0, -127.0 / 128.0, 0.0]);
    }

    #[test]
    fn missing_and_bogus_files_name_the_path() {
        let e = load_rgb(Path::new("/nonexistent/x.jpg"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("/nonexistent/x.jpg") && e.contains("no such file"),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("birds-input-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let fake = dir.join("fake.jpg");
        let _ = std::fs::write(&fake, b"this is not a jpeg");
        let e = load_rgb(&fake)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("fake.jpg"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Images inlined into the page: decoded, shrunk, re-encoded as JPEG and written as `data:` URIs, so the page needs
//! no other file.

use std::io::Cursor;
use std::path::Path;

use base64::Engine as _;
use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;

use crate::{ReportError, Result};

/// JPEG quality of inlined images.
pub const JPEG_QUALITY: u8 = 85;

/// `data:<mime>;base64,<bytes>`.
pub fn data_uri(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Shrinks `img` so that its longer side is at most `max_side` (never enlarges).
pub fn shrink(img: &RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let longer = w.max(h);
    if longer <= max_side || longer == 0 {
        return img.clone();
    }
    let scale = f64::from(max_side) / f64::from(longer);
    let nw = ((f64::from(w) * scale).round() as u32).max(1);
    let nh = ((f64::from(h) * scale).round() as u32).max(1);
    image::imageops::resize(img, nw, nh, FilterType::Triangle)
}

/// Encodes as a JPEG `data:` URI.
pub fn jpeg_uri(img: &RgbImage) -> Result<String> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(Cursor::new(&mut bytes), JPEG_QUALITY)
        .encode_image(img)
        .map_err(|e| ReportError::Encode(e.to_string()))?;
    Ok(data_uri("image/jpeg", &bytes))
}

/// Decodes `path` with the one strict decode every stage uses (`birds_core::image::decode_rgb`: EXIF orientation
/// applied, truncated JPEGs refused), shrinks it and returns a JPEG `data:` URI.
pub fn thumbnail(path: &Path, max_side: u32) -> Result<String> {
    let img = birds_core::image::decode_rgb(path).map_err(|e| match e {
        birds_core::CoreError::Image { reason, .. } => ReportError::file(path, reason),
        other => ReportError::file(path, other),
    })?;
    jpeg_uri(&shrink(&img, max_side))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uri_is_standard_base64() {
        assert_eq!(
            data_uri("text/plain", b"Man"),
            "data:text/plain;base64,TWFu"
        );
        assert_eq!(data_uri("text/plain", b"Ma"), "data:text/plain;base64,TWE=");
    }

    #[test]
    fn shrinks_longer_side_keeps_aspect_never_enlarges() {
        let img = RgbImage::new(400, 200);
        assert_eq!(shrink(&img, 100).dimensions(), (100, 50));
        assert_eq!(shrink(&img, 1000).dimensions(), (400, 200));
    }

    #[test]
    fn thumbnail_round_trips_and_names_bad_files()
    -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let png = dir.path().join("a.png");
        RgbImage::from_pixel(64, 32, image::Rgb([200, 10, 10])).save(&png)?;
        let uri = thumbnail(&png, 32)?;
        let b64 = uri.strip_prefix("data:image/jpeg;base64,").unwrap_or("");
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64)?;
        let back = image::load_from_memory(&bytes)?.to_rgb8();
        assert_eq!(back.dimensions(), (32, 16));
        assert!(back.get_pixel(16, 8)[0] > 150, "colour kept");
        let bad = dir.path().join("bad.jpg");
        std::fs::write(&bad, b"not an image")?;
        let e = thumbnail(&bad, 32)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("bad.jpg"), "{e}");
        Ok(())
    }
}

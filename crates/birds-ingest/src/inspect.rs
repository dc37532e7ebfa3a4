//! Per-file facts: size, content hash, format, dimensions, colour type, full decode and perceptual hash.
//! Never panics on bad bytes; every failure becomes an error text kept in the index.

use std::io::Cursor;
use std::path::Path;

use image::{ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::{jpeg, phash};

/// The most memory one decode may allocate (1 GiB): a 16384×16384 RGB image fits, nothing much larger does.
pub const MAX_DECODE_BYTES: u64 = 1 << 30;

/// What was learnt about one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileFacts {
    /// File size in bytes.
    pub file_bytes: u64,
    /// BLAKE3 of the content, hex (`None` when the file could not be read).
    pub blake3: Option<String>,
    /// Detected format (`jpeg`, `png`, …).
    pub format: Option<String>,
    /// Pixel width (set only when the image decoded).
    pub width: Option<u32>,
    /// Pixel height (set only when the image decoded).
    pub height: Option<u32>,
    /// Colour type as stored (`Rgb8`, `L8`, `Rgba16`, `Cmyk8`, …).
    pub color_type: Option<String>,
    /// Perceptual hash of the decoded image.
    pub phash: Option<u64>,
    /// Why the file is unusable; `None` when it decoded fully.
    pub error: Option<String>,
}

/// Reads, hashes and decodes the file at `path`. Images declaring a side above `max_dimension` are refused before
/// decoding.
pub fn inspect_file(path: &Path, max_dimension: u32) -> FileFacts {
    match std::fs::read(path) {
        Ok(bytes) => inspect_bytes(&bytes, max_dimension),
        Err(e) => FileFacts {
            file_bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            error: Some(format!("cannot read file: {e}")),
            ..FileFacts::default()
        },
    }
}

/// [`inspect_file`] on bytes already in memory.
pub fn inspect_bytes(bytes: &[u8], max_dimension: u32) -> FileFacts {
    let mut facts = FileFacts {
        file_bytes: bytes.len() as u64,
        blake3: Some(blake3::hash(bytes).to_hex().to_string()),
        ..FileFacts::default()
    };
    if let Err(error) = decode_into(bytes, max_dimension, &mut facts) {
        facts.error = Some(error);
        facts.width = None;
        facts.height = None;
        facts.phash = None;
    }
    facts
}

fn decode_into(bytes: &[u8], max_dimension: u32, facts: &mut FileFacts) -> Result<(), String> {
    if bytes.is_empty() {
        return Err("empty file (0 bytes)".into());
    }
    let format = image::guess_format(bytes).map_err(|_| {
        format!(
            "not an image: the content matches no supported format ({} bytes, {})",
            bytes.len(),
            content_kind(bytes)
        )
    })?;
    let name = format_name(format);
    facts.format = Some(name.to_string());

    // Header only, to refuse enormous declared sizes before anything is allocated for pixels.
    let (width, height) = {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        reader.limits(header_limits());
        reader
            .into_dimensions()
            .map_err(|e| format!("invalid {name} header: {e}"))?
    };
    if width == 0 || height == 0 {
        return Err(format!(
            "{name} declares an empty image ({width}×{height} pixels)"
        ));
    }
    if width > max_dimension || height > max_dimension {
        return Err(format!(
            "{name} declares {width}×{height} pixels, above the limit of {max_dimension} per side \
             (param max_dimension); not decoded"
        ));
    }

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_dimension);
    limits.max_image_height = Some(max_dimension);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let decoder = reader
        .into_decoder()
        .map_err(|e| format!("invalid {name} header: {e}"))?;
    let mut color = format!("{:?}", decoder.original_color_type());
    let jpeg_facts = (format == ImageFormat::Jpeg).then(|| jpeg::facts(bytes));
    if jpeg_facts.is_some_and(|f| f.components == Some(4)) {
        color = "Cmyk8".into();
    }
    facts.color_type = Some(color);
    let img = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| format!("cannot decode {name}: {e}"))?;
    if jpeg_facts.is_some_and(|f| !f.complete) {
        return Err("truncated JPEG: the data ends before the end-of-image marker".into());
    }
    facts.width = Some(img.width());
    facts.height = Some(img.height());
    facts.phash = Some(phash::phash(&img));
    Ok(())
}

/// Limits for reading headers: no dimension limit (checked afterwards with a clear message), bounded memory.
fn header_limits() -> Limits {
    let mut limits = Limits::no_limits();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// The lower-case format name used in the index.
pub fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::Gif => "gif",
        ImageFormat::WebP => "webp",
        ImageFormat::Bmp => "bmp",
        ImageFormat::Tiff => "tiff",
        ImageFormat::Ico => "ico",
        ImageFormat::Pnm => "pnm",
        ImageFormat::Tga => "tga",
        ImageFormat::Dds => "dds",
        ImageFormat::Hdr => "hdr",
        ImageFormat::OpenExr => "exr",
        ImageFormat::Farbfeld => "farbfeld",
        ImageFormat::Avif => "avif",
        ImageFormat::Qoi => "qoi",
        _ => "other",
    }
}

/// What an unrecognised file looks like, without showing any of it: reports never quote file content (a link or
/// a misnamed file may hold a secret).
fn content_kind(bytes: &[u8]) -> &'static str {
    let head = &bytes[..bytes.len().min(512)];
    let text = match std::str::from_utf8(head) {
        Ok(t) => Some(t),
        // A multi-byte character cut at the 512-byte mark is still text.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    match text {
        Some(t) if t.chars().all(|c| !c.is_control() || c.is_whitespace()) => "looks like text",
        _ => "binary data",
    }
}

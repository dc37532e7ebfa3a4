//! Per-file facts: size, content hash, format, dimensions, colour type, full decode and perceptual hash.
//! Never panics on bad bytes; every failure becomes an error text kept in the index.

use std::path::Path;

use birds_core::image::DecodeError;

use crate::phash;

pub use birds_core::image::{MAX_DECODE_BYTES, format_name};

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
    let decoded = match birds_core::image::decode_image(bytes, max_dimension) {
        Ok(d) => d,
        Err(failure) => {
            facts.format = failure.format.map(|f| format_name(f).to_string());
            facts.color_type = failure.color_type;
            return Err(match failure.error {
                DecodeError::TooLarge {
                    format,
                    width,
                    height,
                    max,
                } => format!(
                    "{format} declares {width}×{height} pixels, above the limit of {max} per side \
                     (param max_dimension); not decoded"
                ),
                other => other.to_string(),
            });
        }
    };
    facts.format = Some(format_name(decoded.format).to_string());
    facts.color_type = Some(decoded.color_type);
    facts.width = Some(decoded.image.width());
    facts.height = Some(decoded.image.height());
    facts.phash = Some(phash::phash(&decoded.image));
    Ok(())
}

//! The one way birds decodes an image file, so that a file is usable everywhere or nowhere.
//!
//! [`decode_rgb`] (and [`decode`] on bytes) is strict where the `image` crate is lenient:
//!
//! - only regular files are opened (a FIFO, a device or a folder is refused by name instead of blocking on open or
//!   read); symbolic links are followed;
//! - declared sizes above [`MAX_DIMENSION`] per side, or decodes above [`MAX_DECODE_BYTES`], are refused before
//!   pixels are allocated;
//! - a JPEG whose data ends before its end-of-image marker is refused ("truncated JPEG"), which `image` decodes to
//!   a grey-filled picture without an error; this is the rule ingest's audit marks such files with;
//! - the EXIF orientation is applied, as preprocess always did.

use std::io::{Cursor, Read};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use crate::{CoreError, Result};

/// Largest width or height accepted when decoding.
pub const MAX_DIMENSION: u32 = 16_384;

/// The most memory one decode may allocate (1 GiB): a 16384×16384 RGB image fits, nothing much larger does.
pub const MAX_DECODE_BYTES: u64 = 1 << 30;

fn image_error(path: &Path, reason: impl Into<String>) -> CoreError {
    CoreError::Image {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// What kind of file system object `t` is, for messages.
fn kind_of(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO, i.e. a named pipe";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a folder"
    } else {
        "not a plain file"
    }
}

/// Reads a whole regular file. Anything else (FIFO, device, socket, folder) is refused with a message naming the
/// path; on Unix the file is opened non-blocking and checked on the open handle, so a FIFO without a writer cannot
/// hang the caller.
pub fn read_regular_file(path: &Path) -> Result<Vec<u8>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            image_error(path, "no such file")
        } else {
            image_error(path, e.to_string())
        }
    })?;
    let meta = file
        .metadata()
        .map_err(|e| image_error(path, e.to_string()))?;
    if !meta.is_file() {
        return Err(image_error(
            path,
            format!(
                "not a regular file ({}); give an image file",
                kind_of(meta.file_type())
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)
        .map_err(|e| image_error(path, e.to_string()))?;
    Ok(bytes)
}

/// Decodes an image file to 8-bit RGB under the rules of this module; errors name the file and say why.
pub fn decode_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = read_regular_file(path)?;
    let img = decode(&bytes, MAX_DIMENSION).map_err(|reason| image_error(path, reason))?;
    Ok(match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    })
}

/// Decodes image bytes strictly (see the module doc), EXIF orientation applied. The error says why, without a
/// path (the caller adds it).
pub fn decode(bytes: &[u8], max_dimension: u32) -> std::result::Result<DynamicImage, String> {
    decode_image(bytes, max_dimension)
        .map(|d| d.image)
        .map_err(|f| f.error.to_string())
}

/// An image decoded by [`decode_image`], with what its file said about itself.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The pixels, EXIF orientation applied (so sizes are as displayed, not as stored).
    pub image: DynamicImage,
    /// The detected format.
    pub format: ImageFormat,
    /// The colour type as stored (`Rgb8`, `L8`, `Rgba16`, `Cmyk8`, …).
    pub color_type: String,
}

/// Why [`decode_image`] refused some bytes. The messages are the ones ingest records in its index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Zero bytes.
    #[error("empty file (0 bytes)")]
    Empty,
    /// No known format's signature.
    #[error("not an image: the content matches no supported format ({bytes} bytes, {kind})")]
    NotAnImage {
        /// File size.
        bytes: usize,
        /// `looks like text` or `binary data` (content is never quoted).
        kind: &'static str,
    },
    /// The header could not be read.
    #[error("invalid {format} header: {reason}")]
    Header {
        /// Format name as [`format_name`] spells it (`jpeg`).
        format: String,
        /// What the decoder said.
        reason: String,
    },
    /// The header declares no pixels.
    #[error("{format} declares an empty image ({width}×{height} pixels)")]
    EmptyImage {
        /// Format name as [`format_name`] spells it.
        format: String,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The header declares a side above the limit; nothing was decoded.
    #[error(
        "{format} declares {width}×{height} pixels, above the limit of {max} per side; not decoded"
    )]
    TooLarge {
        /// Format name as [`format_name`] spells it.
        format: String,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit per side.
        max: u32,
    },
    /// The pixel data could not be decoded.
    #[error("cannot decode {format}: {reason}")]
    Pixels {
        /// Format name as [`format_name`] spells it.
        format: String,
        /// What the decoder said.
        reason: String,
    },
    /// A JPEG without its end-of-image marker.
    #[error("truncated JPEG: the data ends before the end-of-image marker")]
    Truncated,
}

/// A refusal of [`decode_image`], with what was learnt before it (so an audit can still record the format and the
/// stored colour type of a truncated file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeFailure {
    /// Why.
    pub error: DecodeError,
    /// The detected format, when the signature was recognised.
    pub format: Option<ImageFormat>,
    /// The stored colour type, when the header was read.
    pub color_type: Option<String>,
}

/// The one strict decode (see the module doc): format from the content, declared sizes checked against
/// `max_dimension` before any pixel is allocated, at most [`MAX_DECODE_BYTES`] allocated, truncated JPEGs refused,
/// EXIF orientation applied.
pub fn decode_image(
    bytes: &[u8],
    max_dimension: u32,
) -> std::result::Result<Decoded, DecodeFailure> {
    let mut failure = DecodeFailure {
        error: DecodeError::Empty,
        format: None,
        color_type: None,
    };
    if bytes.is_empty() {
        return Err(failure);
    }
    let Ok(format) = image::guess_format(bytes) else {
        failure.error = DecodeError::NotAnImage {
            bytes: bytes.len(),
            kind: content_kind(bytes),
        };
        return Err(failure);
    };
    failure.format = Some(format);
    let name = format_name(format).to_string();
    // Header only, to refuse enormous declared sizes before anything is allocated for pixels.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(header_limits());
    let (width, height) = match reader.into_dimensions() {
        Ok(d) => d,
        Err(e) => {
            failure.error = DecodeError::Header {
                format: name,
                reason: e.to_string(),
            };
            return Err(failure);
        }
    };
    if width == 0 || height == 0 || width > max_dimension || height > max_dimension {
        failure.error = if width == 0 || height == 0 {
            DecodeError::EmptyImage {
                format: name,
                width,
                height,
            }
        } else {
            DecodeError::TooLarge {
                format: name,
                width,
                height,
                max: max_dimension,
            }
        };
        return Err(failure);
    }
    match decode_pixels(bytes, format, &name, max_dimension, &mut failure) {
        Ok(image) => Ok(Decoded {
            image,
            format,
            color_type: failure.color_type.unwrap_or_default(),
        }),
        Err(error) => {
            failure.error = error;
            Err(failure)
        }
    }
}

/// The decode proper of [`decode_image`], after the header checks; records the stored colour type in `failure`.
fn decode_pixels(
    bytes: &[u8],
    format: ImageFormat,
    name: &str,
    max_dimension: u32,
    failure: &mut DecodeFailure,
) -> std::result::Result<DynamicImage, DecodeError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_dimension);
    limits.max_image_height = Some(max_dimension);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| DecodeError::Header {
        format: name.to_string(),
        reason: e.to_string(),
    })?;
    let jpeg = (format == ImageFormat::Jpeg).then(|| crate::jpeg::facts(bytes));
    failure.color_type = Some(if jpeg.is_some_and(|f| f.components == Some(4)) {
        "Cmyk8".to_string()
    } else {
        format!("{:?}", decoder.original_color_type())
    });
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| DecodeError::Pixels {
        format: name.to_string(),
        reason: e.to_string(),
    })?;
    if jpeg.is_some_and(|f| !f.complete) {
        return Err(DecodeError::Truncated);
    }
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img)
}

/// Limits for reading headers: no dimension limit (checked afterwards with a clear message), bounded memory.
fn header_limits() -> Limits {
    let mut limits = Limits::no_limits();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// The lower-case format name used in ingest's index (`jpeg`, `png`, …; `other` for the rest).
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

/// A PNG whose header declares `width`×`height` 8-bit RGB pixels, with a token body (one compressed zero byte): what
/// a decompression bomb looks like to a decoder that trusts the header. For tests and fixtures of the size limit.
pub fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(side: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(side, side, |x, y| {
            image::Rgb([(x * 3) as u8, (y * 5) as u8, 90])
        });
        let mut out = Vec::new();
        let r =
            DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg);
        assert!(r.is_ok());
        out
    }

    fn message(r: Result<RgbImage>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn whole_files_decode_and_truncated_jpegs_are_refused() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::io("tempdir", "/tmp", e))?;
        let bytes = jpeg(64);
        let whole = dir.path().join("whole.jpg");
        let cut = dir.path().join("cut.jpg");
        std::fs::write(&whole, &bytes).map_err(|e| CoreError::io("writing", &whole, e))?;
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3])
            .map_err(|e| CoreError::io("writing", &cut, e))?;
        assert_eq!(decode_rgb(&whole)?.dimensions(), (64, 64));
        // `image` alone decodes the cut file (grey below the cut) without an error.
        assert!(image::load_from_memory(&bytes[..bytes.len() * 2 / 3]).is_ok());
        let e = message(decode_rgb(&cut));
        assert!(e.contains("cut.jpg") && e.contains("truncated JPEG"), "{e}");
        let e = message(decode_rgb(&dir.path().join("missing.png")));
        assert!(
            e.contains("missing.png") && e.contains("no such file"),
            "{e}"
        );
        let e = message(decode_rgb(dir.path()));
        assert!(
            e.contains("not a regular file") && e.contains("folder"),
            "{e}"
        );
        let empty = dir.path().join("empty.jpg");
        std::fs::write(&empty, b"").map_err(|e| CoreError::io("writing", &empty, e))?;
        assert!(message(decode_rgb(&empty)).contains("empty file"));
        Ok(())
    }

    /// Orientation 6 (the camera was turned a quarter clockwise): a 48×24 stored picture is 24×48 as displayed, and
    /// its pixels are the stored ones turned 90° clockwise. Every decode (ingest's audit, preprocess, predict,
    /// imagenet, the report) goes through `decode_image`, so they all see it upright.
    #[test]
    fn exif_orientation_is_applied() -> std::result::Result<(), String> {
        let img = RgbImage::from_fn(48, 24, |x, y| {
            image::Rgb([(x * 5) as u8, (y * 9) as u8, 40])
        });
        let mut plain = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut plain), ImageFormat::Jpeg)
            .map_err(|e| e.to_string())?;
        let stored = decode(&plain, MAX_DIMENSION)?.to_rgb8();
        assert_eq!(stored.dimensions(), (48, 24));
        let rotated = decode_image(
            &crate::jpeg::with_exif_orientation(&plain, 6),
            MAX_DIMENSION,
        )
        .map_err(|f| f.error.to_string())?;
        assert_eq!((rotated.image.width(), rotated.image.height()), (24, 48));
        assert_eq!(rotated.image.to_rgb8(), image::imageops::rotate90(&stored));
        assert_eq!(rotated.color_type, "Rgb8");
        // Orientation 1 is the identity.
        let upright = decode(
            &crate::jpeg::with_exif_orientation(&plain, 1),
            MAX_DIMENSION,
        )?
        .to_rgb8();
        assert_eq!(upright, stored);
        Ok(())
    }

    /// A header declaring a gigantic picture is refused from the header, naming the size.
    #[test]
    fn a_declared_bomb_is_refused_before_decoding() {
        let e = decode_image(&png_declaring(800_000, 800_000), MAX_DIMENSION)
            .err()
            .map(|f| f.error.to_string())
            .unwrap_or_default();
        assert!(e.contains("800000"), "{e}");
    }

    #[test]
    fn refusals_say_why_and_keep_what_was_learnt() {
        let bytes = jpeg(64);
        let cut = decode_image(&bytes[..bytes.len() * 2 / 3], MAX_DIMENSION).err();
        assert_eq!(
            cut.as_ref().map(|f| &f.error),
            Some(&DecodeError::Truncated)
        );
        assert_eq!(cut.as_ref().and_then(|f| f.format), Some(ImageFormat::Jpeg));
        assert_eq!(cut.and_then(|f| f.color_type).as_deref(), Some("Rgb8"));
        let big = decode_image(&bytes, 32).err().map(|f| f.error.to_string());
        assert_eq!(
            big.as_deref(),
            Some("jpeg declares 64×64 pixels, above the limit of 32 per side; not decoded")
        );
        let text = decode_image(b"hello, world", 32)
            .err()
            .map(|f| f.error.to_string());
        assert_eq!(
            text.as_deref(),
            Some(
                "not an image: the content matches no supported format (12 bytes, looks like text)"
            )
        );
    }

    /// A FIFO without a writer used to block the open forever.
    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_at_once() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| CoreError::io("tempdir", "/tmp", e))?;
        let fifo = dir.path().join("pipe.jpg");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
        let start = std::time::Instant::now();
        let e = message(decode_rgb(&fifo));
        assert!(e.contains("pipe.jpg") && e.contains("FIFO"), "{e}");
        assert!(start.elapsed().as_secs() < 5);
        Ok(())
    }
}

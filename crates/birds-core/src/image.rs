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
    if bytes.is_empty() {
        return Err("empty file (0 bytes)".into());
    }
    let format = image::guess_format(bytes)
        .map_err(|_| "not an image: the content matches no supported format".to_string())?;
    let name = format!("{format:?}").to_uppercase();
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_dimension);
    limits.max_image_height = Some(max_dimension);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| format!("invalid {name} header: {e}"))?;
    let orientation = decoder.orientation().ok();
    let mut img =
        DynamicImage::from_decoder(decoder).map_err(|e| format!("cannot decode {name}: {e}"))?;
    if format == ImageFormat::Jpeg && !crate::jpeg::facts(bytes).complete {
        return Err("truncated JPEG: the data ends before the end-of-image marker".into());
    }
    if img.width() == 0 || img.height() == 0 {
        return Err(format!("{name} has no pixels"));
    }
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img)
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

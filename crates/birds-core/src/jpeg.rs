//! A JPEG marker walk for the two facts the `image` crate does not give: whether the stream is complete (its
//! decoder fills a truncated image with grey without an error) and how many colour components the frame has
//! (4 = CMYK/YCCK, which it silently converts to RGB).
//!
//! Ingest's audit and every command that decodes a file (predict, explain, imagenet, preprocess) apply it through
//! [`crate::image::decode_image`].

/// What the marker walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JpegFacts {
    /// Components of the first frame header (1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK); `None` when no frame header.
    pub components: Option<u8>,
    /// Whether an end-of-image marker follows the last scan.
    pub complete: bool,
}

/// `jpeg` (starting with SOI) with an EXIF APP1 segment right after SOI whose one IFD entry is Orientation =
/// `orientation` (1 upright … 6 turned a quarter clockwise, 8 a quarter anticlockwise). Cameras write such a tag
/// instead of turning the pixels; tests and fixtures use this to make such files.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut payload = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01".to_vec();
    payload.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1]);
    payload.extend_from_slice(&orientation.to_be_bytes());
    payload.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let head = jpeg.len().min(2);
    let mut out = jpeg[..head].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[head..]);
    out
}

/// Walks the markers of `bytes` (which should start with SOI, `FF D8`).
pub fn facts(bytes: &[u8]) -> JpegFacts {
    let mut out = JpegFacts::default();
    if bytes.len() < 2 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return out;
    }
    let mut i = 2;
    loop {
        // Find the next marker: 0xFF, any fill bytes 0xFF, then the marker code.
        while i < bytes.len() && bytes[i] != 0xFF {
            i += 1; // tolerate junk between segments, as decoders do
        }
        while i < bytes.len() && bytes[i] == 0xFF {
            i += 1;
        }
        let Some(&code) = bytes.get(i) else {
            return out;
        };
        i += 1;
        match code {
            0xD9 => {
                out.complete = true;
                return out;
            }
            // Standalone markers without a length.
            0x01 | 0xD0..=0xD7 | 0xD8 => continue,
            _ => {}
        }
        let Some(len) = bytes
            .get(i..i + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            return out;
        };
        if len < 2 || i + len > bytes.len() {
            return out; // the segment runs past the end of the file
        }
        let is_frame = matches!(code, 0xC0..=0xCF) && !matches!(code, 0xC4 | 0xC8 | 0xCC);
        if is_frame && out.components.is_none() && len >= 8 {
            out.components = Some(bytes[i + 7]);
        }
        i += len;
        if code == 0xDA {
            // Entropy-coded data: ends at the first marker that is not a stuffed 0xFF00 or a restart marker.
            loop {
                while i < bytes.len() && bytes[i] != 0xFF {
                    i += 1;
                }
                let Some(&next) = bytes.get(i + 1) else {
                    return out;
                };
                if next == 0x00 || (0xD0..=0xD7).contains(&next) || next == 0xFF {
                    i += if next == 0xFF { 1 } else { 2 };
                    continue;
                }
                break; // `i` is at the 0xFF of the next marker
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb};

    fn encode(img: image::DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        let r = img.write_to(
            &mut std::io::Cursor::new(&mut out),
            image::ImageFormat::Jpeg,
        );
        assert!(r.is_ok());
        out
    }

    #[test]
    fn complete_and_truncated_streams() {
        let rgb = ImageBuffer::from_fn(48, 40, |x, y| Rgb([(x * 5) as u8, (y * 6) as u8, 77]));
        let bytes = encode(image::DynamicImage::ImageRgb8(rgb));
        assert_eq!(
            facts(&bytes),
            JpegFacts {
                components: Some(3),
                complete: true
            }
        );
        for cut in [bytes.len() - 2, bytes.len() * 2 / 3, 200, 30, 3] {
            assert!(!facts(&bytes[..cut]).complete, "cut at {cut}");
        }
        // Trailing bytes after EOI do not matter.
        let mut trailer = bytes.clone();
        trailer.extend_from_slice(b"\0\0camera trailer");
        assert!(facts(&trailer).complete);
    }

    #[test]
    fn grey_has_one_component_and_non_jpeg_has_none() {
        let grey = ImageBuffer::from_fn(16, 16, |x, _| Luma([(x * 9) as u8]));
        assert_eq!(
            facts(&encode(image::DynamicImage::ImageLuma8(grey))).components,
            Some(1)
        );
        assert_eq!(facts(b"hello world"), JpegFacts::default());
        assert_eq!(facts(&[]), JpegFacts::default());
    }
}

//! The contact sheet's letters: [`birds_core::font`] with this sheet's own `D` and `G` and without the glyphs it
//! never had (which it draws as hollow boxes), so the sheet stays the picture it has always been.

use birds_core::font::{self, MISSING};
use image::RgbImage;

/// The sheet's glyph of `c`.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        ',' | ';' | '+' | '=' | '%' | '[' | ']' | '<' | '>' | '?' | '!' | '"' | '_' | '#' | '&'
        | '*' => MISSING,
        c => font::glyph(c),
    }
}

/// Width in pixels of `text` at `scale` (6 columns per character including spacing).
pub fn text_width(text: &str, scale: u32) -> u32 {
    font::text_width(text, scale)
}

/// Draws `text` with its top-left corner at `(x, y)`, clipped to the image.
pub fn draw_text(img: &mut RgbImage, text: &str, x: u32, y: u32, scale: u32, colour: [u8; 3]) {
    font::draw_text_with(img, text, (x, y), scale, colour, glyph);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sheet's own letters where they differ from the shared font; the shared font's everywhere else.
    #[test]
    fn keeps_its_d_and_g_and_boxes_what_it_never_had() {
        assert_ne!(glyph('D'), font::glyph('D'));
        assert_ne!(glyph('g'), font::glyph('G'));
        assert_eq!(glyph('A'), font::glyph('A'));
        assert_eq!(glyph('-'), font::glyph('-'));
        assert_eq!(glyph('%'), MISSING);
        assert_ne!(font::glyph('%'), MISSING);
        let mut img = RgbImage::new(40, 10);
        draw_text(&mut img, "AB1", 1, 1, 1, [255, 255, 255]);
        let lit: Vec<(u32, u32)> = img
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0[0] == 255)
            .map(|(x, y, _)| (x, y))
            .collect();
        assert!(!lit.is_empty());
        assert!(
            lit.iter()
                .all(|&(x, y)| x >= 1 && x < 1 + text_width("AB1", 1) && (1..8).contains(&y))
        );
    }
}

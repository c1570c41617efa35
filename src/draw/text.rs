//! Text with real glyphs: DejaVu Sans (bundled, Bitstream Vera licence, see
//! assets/fonts) rasterized by ab_glyph, each glyph once per size, then blitted.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};

use super::canvas::Canvas;
use super::color::Rgba;

static FONT: LazyLock<FontRef<'static>> = LazyLock::new(|| {
    FontRef::try_from_slice(include_bytes!("../../assets/fonts/DejaVuSans.ttf"))
        .expect("the bundled font parses")
});

/// Pixel height of text at font_scale 1.0 (close to OpenCV's Hershey simplex).
pub const PX_PER_SCALE: f32 = 28.0;

struct Glyph {
    /// Offset of the bitmap's top-left from the pen position on the baseline.
    left: i32,
    top: i32,
    width: usize,
    coverage: Vec<u8>,
}

/// Rasterized glyphs by (glyph id, pixel size bits); None for blank glyphs.
type GlyphCache = HashMap<(u16, u32), Option<Arc<Glyph>>>;

/// Shared by all drawing elements.
static CACHE: LazyLock<Mutex<GlyphCache>> = LazyLock::new(Default::default);

fn glyph(id: ab_glyph::GlyphId, px: f32) -> Option<Arc<Glyph>> {
    let key = (id.0, px.to_bits());
    if let Some(cached) = CACHE.lock().unwrap().get(&key) {
        return cached.clone();
    }
    let rasterized = FONT
        .outline_glyph(id.with_scale_and_position(PxScale::from(px), ab_glyph::point(0.0, 0.0)))
        .map(|outlined| {
            let bounds = outlined.px_bounds();
            let width = bounds.width() as usize;
            let height = bounds.height() as usize;
            let mut coverage = vec![0u8; width * height];
            outlined.draw(|x, y, c| {
                if let Some(slot) = coverage.get_mut(y as usize * width + x as usize) {
                    *slot = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            });
            Arc::new(Glyph {
                left: bounds.min.x as i32,
                top: bounds.min.y as i32,
                width,
                coverage,
            })
        });
    CACHE.lock().unwrap().insert(key, rasterized.clone());
    rasterized
}

/// (width, height) of one line of text at `px` pixels.
pub fn measure(text: &str, px: f32) -> (f32, f32) {
    let font = FONT.as_scaled(PxScale::from(px));
    let mut width = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            width += font.kern(p, id);
        }
        width += font.h_advance(id);
        previous = Some(id);
    }
    (width, font.ascent() - font.descent())
}

impl Canvas<'_> {
    /// Draws one line of text with its top-left at (x, y).
    pub fn text(&mut self, text: &str, x: f32, y: f32, px: f32, color: Rgba) {
        if color.is_transparent() || px <= 0.0 {
            return;
        }
        let font = FONT.as_scaled(PxScale::from(px));
        let baseline = (y + font.ascent()).round() as i32;
        let mut pen = x;
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                pen += font.kern(p, id);
            }
            if let Some(g) = glyph(id, px) {
                let (gx, gy) = (pen.round() as i32 + g.left, baseline + g.top);
                for (row, coverage) in g.coverage.chunks(g.width.max(1)).enumerate() {
                    for (col, &c) in coverage.iter().enumerate() {
                        if c > 0 {
                            let px_x = gx + col as i32;
                            self.blend_span(gy + row as i32, px_x, px_x + 1, color, c);
                        }
                    }
                }
            }
            pen += font.h_advance(id);
            previous = Some(id);
        }
    }
}

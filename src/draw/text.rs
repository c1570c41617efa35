//! Text with real glyphs: DejaVu Sans (bundled, Bitstream Vera licence, see
//! assets/fonts) rasterized by ab_glyph, each glyph once per size. Whole lines are
//! composed once too and kept (labels such as "car #17" repeat frame after frame),
//! so drawing a line is one blit.

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

/// One line of text composed from its glyphs: coverage relative to the line's
/// top-left (the font's ascent above the baseline).
struct Line {
    advance: f32,
    left: i32,
    width: usize,
    coverage: Vec<u8>,
}

/// Lines by pixel size, then text (so lookups need no allocation).
type LineCache = HashMap<u32, HashMap<String, Arc<Line>>>;

/// Composed lines; emptied when full (a bound, not an LRU: lines are cheap to redo).
static LINES: LazyLock<Mutex<LineCache>> = LazyLock::new(Default::default);
const MAX_LINES: usize = 1024;

fn line(text: &str, px: f32) -> Arc<Line> {
    if let Some(line) = LINES
        .lock()
        .unwrap()
        .get(&px.to_bits())
        .and_then(|lines| lines.get(text))
    {
        return line.clone();
    }
    let font = FONT.as_scaled(PxScale::from(px));
    let ascent = font.ascent().round() as i32;
    let height = (font.ascent() - font.descent()).ceil() as usize + 1;
    let mut placed = Vec::new();
    let mut pen = 0.0f32;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            pen += font.kern(p, id);
        }
        if let Some(g) = glyph(id, px) {
            placed.push((pen.round() as i32 + g.left, ascent + g.top, g));
        }
        pen += font.h_advance(id);
        previous = Some(id);
    }
    let left = placed.iter().map(|(x, ..)| *x).min().unwrap_or(0).min(0);
    let right = placed
        .iter()
        .map(|(x, _, g)| x + g.width as i32)
        .max()
        .unwrap_or(0)
        .max(pen.ceil() as i32);
    let width = (right - left).max(0) as usize;
    let mut coverage = vec![0u8; width * height];
    for (x, y, g) in &placed {
        for (row, glyph_row) in g.coverage.chunks(g.width.max(1)).enumerate() {
            let line_row = y + row as i32;
            if line_row < 0 || line_row as usize >= height {
                continue;
            }
            let start = line_row as usize * width + (x - left) as usize;
            for (dst, &src) in coverage[start..start + glyph_row.len()]
                .iter_mut()
                .zip(glyph_row)
            {
                *dst = (*dst).max(src);
            }
        }
    }
    let line = Arc::new(Line {
        advance: pen,
        left,
        width,
        coverage,
    });
    let mut cache = LINES.lock().unwrap();
    if cache.values().map(HashMap::len).sum::<usize>() >= MAX_LINES {
        cache.clear();
    }
    cache
        .entry(px.to_bits())
        .or_default()
        .insert(text.to_owned(), line.clone());
    line
}

/// (width, height) of one line of text at `px` pixels.
pub fn measure(text: &str, px: f32) -> (f32, f32) {
    let font = FONT.as_scaled(PxScale::from(px));
    let height = font.ascent() - font.descent();
    if text.is_empty() {
        return (0.0, height);
    }
    (line(text, px).advance, height)
}

impl Canvas<'_> {
    /// Draws one line of text with its top-left at (x, y).
    pub fn text(&mut self, text: &str, x: f32, y: f32, px: f32, color: Rgba) {
        if color.is_transparent() || px <= 0.0 || text.is_empty() {
            return;
        }
        let line = line(text, px);
        let (x0, y0) = (x.round() as i32 + line.left, y.round() as i32);
        for (row, coverage) in line.coverage.chunks(line.width.max(1)).enumerate() {
            self.blend_coverage(y0 + row as i32, x0, coverage, color);
        }
    }
}

//! Text with real glyphs: DejaVu Sans (bundled, Bitstream Vera licence, see
//! assets/fonts) rasterized by ab_glyph, each glyph once per size. Whole lines are
//! composed once too and kept (labels such as "car #17" repeat frame after frame),
//! so drawing a line is one blit.
//!
//! Text comes from user code and from object attributes, so its cost is bounded:
//! lines are cut at [`MAX_LINE_CHARS`], only glyphs that can land inside the frame
//! are rasterized, lines too large to keep are drawn glyph by glyph, and both caches
//! are bounded by the bytes they hold ([`GLYPH_CACHE_BYTES`], [`LINE_CACHE_BYTES`]).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use ab_glyph::{Font, FontRef, GlyphId, PxScale, PxScaleFont, ScaleFont};

use super::canvas::Canvas;
use super::color::Rgba;

static FONT: LazyLock<FontRef<'static>> = LazyLock::new(|| {
    FontRef::try_from_slice(include_bytes!("../../assets/fonts/DejaVuSans.ttf"))
        .expect("the bundled font parses")
});

/// Pixel height of text at font_scale 1.0 (close to OpenCV's Hershey simplex).
pub const PX_PER_SCALE: f32 = 28.0;

/// Longest line drawn, in characters: a longer one (an `add_text` string, a spec
/// label filled from an attribute) is cut there. 1024 characters at the smallest
/// scale are wider than an 8K frame, so nothing that could be seen is lost.
pub const MAX_LINE_CHARS: usize = 1024;

/// Most lines one `add_text` draws; further lines are dropped.
pub const MAX_TEXT_LINES: usize = 256;

/// Bytes the glyph cache may hold (coverage plus bookkeeping); it is emptied when a
/// new glyph would pass the bound. Holds the glyphs of a few label sizes many times
/// over, or some 30 glyphs at the largest font_scale (20).
pub const GLYPH_CACHE_BYTES: usize = 8 << 20;

/// Bytes the composed-line cache may hold; emptied when a new line would pass it.
/// About 2,500 labels at font_scale 0.5, or 200 at font_scale 2. Labels that change
/// every frame (a track id) gain nothing from it, so it is kept small: after it
/// fills, RSS is flat.
pub const LINE_CACHE_BYTES: usize = 4 << 20;

/// A line whose bitmap would be larger is drawn glyph by glyph (through the glyph
/// cache) and not kept, so no one line evicts more than a sixteenth of the others.
const MAX_COMPOSED_LINE_BYTES: usize = LINE_CACHE_BYTES / 16;

/// What one cache entry costs beyond its bitmap: key, map slot, Arc and struct.
const ENTRY_OVERHEAD: usize = 96;

/// `line` cut at [`MAX_LINE_CHARS`] characters.
pub fn capped_line(line: &str) -> &str {
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((end, _)) => &line[..end],
        None => line,
    }
}

struct Glyph {
    /// Offset of the bitmap's top-left from the pen position on the baseline.
    left: i32,
    top: i32,
    width: usize,
    coverage: Vec<u8>,
}

/// Rasterized glyphs by (glyph id, pixel size bits); None for blank glyphs.
#[derive(Default)]
struct GlyphCache {
    glyphs: HashMap<(u16, u32), Option<Arc<Glyph>>>,
    bytes: usize,
}

/// Shared by all drawing elements.
static GLYPHS: LazyLock<Mutex<GlyphCache>> = LazyLock::new(Default::default);

fn glyph(id: GlyphId, px: f32) -> Option<Arc<Glyph>> {
    let key = (id.0, px.to_bits());
    if let Some(cached) = GLYPHS.lock().unwrap().glyphs.get(&key) {
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
    let bytes = ENTRY_OVERHEAD + rasterized.as_ref().map_or(0, |g| g.coverage.len());
    let mut cache = GLYPHS.lock().unwrap();
    if cache.bytes + bytes > GLYPH_CACHE_BYTES {
        // A bound, not an LRU: glyphs are cheap to redo, and in-use ones live on
        // through their Arc.
        cache.glyphs.clear();
        cache.bytes = 0;
    }
    if bytes <= GLYPH_CACHE_BYTES && cache.glyphs.insert(key, rasterized.clone()).is_none() {
        cache.bytes += bytes;
    }
    rasterized
}

/// Walks a line's glyphs left to right, calling `place(id, pen_x)` with each glyph's
/// pen position (kerning applied) until it returns false; returns the pen's end.
fn walk(
    text: &str,
    font: &PxScaleFont<&FontRef<'static>>,
    mut place: impl FnMut(GlyphId, f32) -> bool,
) -> f32 {
    let mut pen = 0.0f32;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            pen += font.kern(p, id);
        }
        if !place(id, pen) {
            break;
        }
        pen += font.h_advance(id);
        previous = Some(id);
    }
    pen
}

/// Rows of a line: ascent + descent, plus one for antialiasing below.
fn line_height(font: &PxScaleFont<&FontRef<'static>>) -> usize {
    (font.ascent() - font.descent()).ceil() as usize + 1
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
#[derive(Default)]
struct LineCache {
    lines: HashMap<u32, HashMap<String, Arc<Line>>>,
    bytes: usize,
}

static LINES: LazyLock<Mutex<LineCache>> = LazyLock::new(Default::default);

fn cached_line(text: &str, px: f32) -> Option<Arc<Line>> {
    LINES
        .lock()
        .unwrap()
        .lines
        .get(&px.to_bits())
        .and_then(|lines| lines.get(text))
        .cloned()
}

/// Composes `text` (whose pen ends at `advance`) into one bitmap and keeps it.
fn compose_line(text: &str, px: f32, advance: f32) -> Arc<Line> {
    let font = FONT.as_scaled(PxScale::from(px));
    let ascent = font.ascent().round() as i32;
    let height = line_height(&font);
    let mut placed = Vec::new();
    walk(text, &font, |id, pen| {
        if let Some(g) = glyph(id, px) {
            placed.push((pen.round() as i32 + g.left, ascent + g.top, g));
        }
        true
    });
    let left = placed.iter().map(|(x, ..)| *x).min().unwrap_or(0).min(0);
    let right = placed
        .iter()
        .map(|(x, _, g)| x + g.width as i32)
        .max()
        .unwrap_or(0)
        .max(advance.ceil() as i32);
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
        advance,
        left,
        width,
        coverage,
    });
    let bytes = ENTRY_OVERHEAD + text.len() + line.coverage.len();
    let mut cache = LINES.lock().unwrap();
    if cache.bytes + bytes > LINE_CACHE_BYTES {
        cache.lines.clear();
        cache.bytes = 0;
    }
    let previous = cache
        .lines
        .entry(px.to_bits())
        .or_default()
        .insert(text.to_owned(), line.clone());
    if previous.is_none() {
        cache.bytes += bytes;
    }
    line
}

/// (width, height) of one line of text at `px` pixels (cut at [`MAX_LINE_CHARS`]);
/// rasterizes nothing.
pub fn measure(text: &str, px: f32) -> (f32, f32) {
    let font = FONT.as_scaled(PxScale::from(px));
    let height = font.ascent() - font.descent();
    if text.is_empty() {
        return (0.0, height);
    }
    let text = capped_line(text);
    let advance = match cached_line(text, px) {
        Some(line) => line.advance,
        None => walk(text, &font, |_, _| true),
    };
    (advance, height)
}

/// Bytes the glyph and line caches hold now, for tests of their bounds.
#[doc(hidden)]
pub fn cache_bytes() -> (usize, usize) {
    (GLYPHS.lock().unwrap().bytes, LINES.lock().unwrap().bytes)
}

impl Canvas<'_> {
    /// Draws one line of text (cut at [`MAX_LINE_CHARS`]) with its top-left at
    /// (x, y). Nothing outside the frame is rasterized.
    pub fn text(&mut self, text: &str, x: f32, y: f32, px: f32, color: Rgba) {
        if color.is_transparent() || px.is_nan() || px <= 0.0 || text.is_empty() {
            return;
        }
        let text = capped_line(text);
        let font = FONT.as_scaled(PxScale::from(px));
        let height = line_height(&font);
        let (x0, y0) = (x.round() as i32, y.round() as i32);
        // Glyphs reach at most about one em left of their pen position.
        let overhang = px.ceil() as i32;
        if y0 >= self.height
            || y0.saturating_add(height as i32) <= 0
            || x0.saturating_sub(overhang) >= self.width
        {
            return;
        }
        let line = match cached_line(text, px) {
            Some(line) => line,
            None => {
                let advance = walk(text, &font, |_, _| true);
                let width = advance.ceil() as usize + 2 * overhang as usize;
                if x0.saturating_add(width as i32) <= 0 {
                    return;
                }
                if width.saturating_mul(height) > MAX_COMPOSED_LINE_BYTES {
                    self.text_clipped(text, x0, y0, px, color);
                    return;
                }
                compose_line(text, px, advance)
            }
        };
        let x0 = x0 + line.left;
        for (row, coverage) in line.coverage.chunks(line.width.max(1)).enumerate() {
            self.blend_coverage(y0 + row as i32, x0, coverage, color);
        }
    }

    /// A line too large to compose: each glyph that can land in the frame is
    /// rasterized (through the glyph cache) and blended on its own.
    fn text_clipped(&mut self, text: &str, x0: i32, y0: i32, px: f32, color: Rgba) {
        let font = FONT.as_scaled(PxScale::from(px));
        let ascent = font.ascent().round() as i32;
        let overhang = px.ceil() as i32;
        walk(text, &font, |id, pen| {
            let pen_x = x0.saturating_add(pen.round() as i32);
            if pen_x.saturating_sub(overhang) >= self.width {
                return false;
            }
            if pen_x.saturating_add(font.h_advance(id).ceil() as i32 + overhang) <= 0 {
                return true;
            }
            if let Some(g) = glyph(id, px) {
                let top = y0 + ascent + g.top;
                for (row, coverage) in g.coverage.chunks(g.width.max(1)).enumerate() {
                    self.blend_coverage(top + row as i32, pen_x + g.left, coverage, color);
                }
            }
            true
        });
    }
}

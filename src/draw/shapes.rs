//! Shapes as row spans on a canvas: rectangles (rounded or not), rings, circles,
//! polygons and thick lines. Everything clips; nothing panics on odd geometry.

use super::canvas::Canvas;
use super::color::Rgba;

/// A rectangle in pixels (fractional: shapes are computed at pixel centres).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RectF {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl RectF {
    pub fn new(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self { x, y, w, h }
    }
}

/// Row span of a rounded rectangle at pixel row `row`, or None outside it.
fn rounded_span(x: f32, y: f32, w: f32, h: f32, r: f32, row: i32) -> Option<(i32, i32)> {
    let cy = row as f32 + 0.5;
    if w <= 0.0 || h <= 0.0 || cy < y || cy > y + h {
        return None;
    }
    let r = r.min(w / 2.0).min(h / 2.0).max(0.0);
    let dy = if cy < y + r {
        y + r - cy
    } else if cy > y + h - r {
        cy - (y + h - r)
    } else {
        0.0
    };
    let inset = if dy > 0.0 {
        r - (r * r - dy * dy).max(0.0).sqrt()
    } else {
        0.0
    };
    let (x0, x1) = ((x + inset).round() as i32, (x + w - inset).round() as i32);
    (x0 < x1).then_some((x0, x1))
}

fn rows(canvas: &Canvas<'_>, y: f32, h: f32) -> std::ops::Range<i32> {
    let first = (y.floor() as i32).max(0);
    let last = ((y + h).ceil() as i32).min(canvas.height);
    first..last.max(first)
}

impl Canvas<'_> {
    /// Fills a rectangle with corners of `radius`.
    pub fn fill_rounded_rect(&mut self, rect: RectF, radius: f32, color: Rgba) {
        let RectF { x, y, w, h } = rect;
        if color.is_transparent() {
            return;
        }
        for row in rows(self, y, h) {
            if let Some((x0, x1)) = rounded_span(x, y, w, h, radius, row) {
                self.blend_span(row, x0, x1, color, 255);
            }
        }
    }

    /// A border of `thickness` pixels inside the (rounded) rectangle's edges.
    pub fn stroke_rounded_rect(&mut self, rect: RectF, radius: f32, thickness: f32, color: Rgba) {
        let RectF { x, y, w, h } = rect;
        if color.is_transparent() || thickness <= 0.0 {
            return;
        }
        let t = thickness.min(w / 2.0).min(h / 2.0);
        if radius <= 0.0 {
            // Square corners: two bands and two columns, no per-row geometry.
            let (x0, x1) = (x.round() as i32, (x + w).round() as i32);
            let (y0, y1) = (y.round() as i32, (y + h).round() as i32);
            let ti = (t.round() as i32).max(1);
            for row in y0.max(0)..y1.min(self.height) {
                if row < y0 + ti || row >= y1 - ti {
                    self.blend_span(row, x0, x1, color, 255);
                } else {
                    self.blend_span(row, x0, x0 + ti, color, 255);
                    self.blend_span(row, x1 - ti, x1, color, 255);
                }
            }
            return;
        }
        let (ix, iy, iw, ih, ir) = (
            x + t,
            y + t,
            w - 2.0 * t,
            h - 2.0 * t,
            (radius - t).max(0.0),
        );
        for row in rows(self, y, h) {
            let Some((ox0, ox1)) = rounded_span(x, y, w, h, radius, row) else {
                continue;
            };
            match rounded_span(ix, iy, iw, ih, ir, row) {
                Some((ix0, ix1)) => {
                    self.blend_span(row, ox0, ix0.max(ox0), color, 255);
                    self.blend_span(row, ix1.min(ox1), ox1, color, 255);
                }
                None => self.blend_span(row, ox0, ox1, color, 255),
            }
        }
    }

    /// A filled circle, or a ring of `thickness` when thickness > 0.
    pub fn circle(&mut self, cx: f32, cy: f32, radius: f32, thickness: f32, color: Rgba) {
        let square = RectF::new(cx - radius, cy - radius, 2.0 * radius, 2.0 * radius);
        if thickness > 0.0 {
            self.stroke_rounded_rect(square, radius, thickness, color);
        } else {
            self.fill_rounded_rect(square, radius, color);
        }
    }

    /// Fills a polygon (even-odd rule).
    pub fn fill_polygon(&mut self, points: &[(f32, f32)], color: Rgba) {
        if points.len() < 3 || color.is_transparent() {
            return;
        }
        let (min_y, max_y) = points.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
        let mut crossings = Vec::with_capacity(points.len());
        for row in rows(self, min_y, max_y - min_y) {
            let cy = row as f32 + 0.5;
            crossings.clear();
            for (i, &(xa, ya)) in points.iter().enumerate() {
                let (xb, yb) = points[(i + 1) % points.len()];
                if (ya <= cy) != (yb <= cy) {
                    crossings.push(xa + (cy - ya) / (yb - ya) * (xb - xa));
                }
            }
            crossings.sort_by(f32::total_cmp);
            for pair in crossings.chunks_exact(2) {
                let (x0, x1) = ((pair[0] - 0.5).ceil() as i32, (pair[1] - 0.5).ceil() as i32);
                self.blend_span(row, x0, x1, color, 255);
            }
        }
    }

    /// A line `thickness` pixels wide (at least 1).
    pub fn line(&mut self, a: (f32, f32), b: (f32, f32), thickness: f32, color: Rgba) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let length = (dx * dx + dy * dy).sqrt();
        let half = thickness.max(1.0) / 2.0;
        if length < f32::EPSILON {
            let dot = RectF::new(a.0 - half, a.1 - half, 2.0 * half, 2.0 * half);
            self.fill_rounded_rect(dot, 0.0, color);
            return;
        }
        let (nx, ny) = (-dy / length * half, dx / length * half);
        // Extended by half a pixel along the line so that ends are square and full.
        let (ex, ey) = (dx / length * 0.5, dy / length * 0.5);
        self.fill_polygon(
            &[
                (a.0 + nx - ex, a.1 + ny - ey),
                (b.0 + nx + ex, b.1 + ny + ey),
                (b.0 - nx + ex, b.1 - ny + ey),
                (a.0 - nx - ex, a.1 - ny - ey),
            ],
            color,
        );
    }
}

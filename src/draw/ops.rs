//! The display list: what a draw spec or a Python Artist asks for, rendered in order
//! onto a canvas after the fact (with the GIL released).

use super::canvas::Canvas;
use super::color::Rgba;
use super::shapes::RectF;
use super::text;

#[derive(Debug, Clone, PartialEq)]
pub enum DrawOp {
    /// A (rounded) rectangle: background fill, then a border inside its edges.
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        radius: f32,
        border: Rgba,
        background: Rgba,
        thickness: f32,
    },
    /// Lines of text, top-left at (x, y), on an optional box with padding.
    Text {
        lines: Vec<String>,
        x: f32,
        y: f32,
        px: f32,
        color: Rgba,
        background: Rgba,
        border: Rgba,
        padding: f32,
    },
    /// A filled circle (thickness 0) or a ring.
    Circle {
        cx: f32,
        cy: f32,
        radius: f32,
        thickness: f32,
        color: Rgba,
    },
    Line {
        a: (f32, f32),
        b: (f32, f32),
        thickness: f32,
        color: Rgba,
    },
    /// A filled polygon (thickness 0) or its outline.
    Polygon {
        points: Vec<(f32, f32)>,
        thickness: f32,
        color: Rgba,
    },
    /// A blur of the box; `radius` of the box filter, or `None` to pick one from
    /// the box's size.
    Blur {
        x: i32,
        y: i32,
        w: i32,
        h: i32,
        radius: Option<u32>,
    },
}

impl DrawOp {
    /// A square-cornered rectangle of `(x, y, w, h)`.
    pub fn rect(
        (x, y, w, h): (f32, f32, f32, f32),
        border: Rgba,
        background: Rgba,
        thickness: f32,
    ) -> DrawOp {
        DrawOp::Rect {
            x,
            y,
            w,
            h,
            radius: 0.0,
            border,
            background,
            thickness,
        }
    }
}

/// Size of a text block (lines stacked, plus padding on every side).
pub fn text_block_size(lines: &[String], px: f32, padding: f32) -> (f32, f32) {
    let line_height = text::measure("", px).1;
    let width = lines
        .iter()
        .map(|l| text::measure(l, px).0)
        .fold(0.0, f32::max);
    (
        width + 2.0 * padding,
        line_height * lines.len() as f32 + 2.0 * padding,
    )
}

pub fn render(canvas: &mut Canvas<'_>, ops: &[DrawOp]) {
    for op in ops {
        match op {
            DrawOp::Rect {
                x,
                y,
                w,
                h,
                radius,
                border,
                background,
                thickness,
            } => {
                let rect = RectF::new(*x, *y, *w, *h);
                canvas.fill_rounded_rect(rect, *radius, *background);
                canvas.stroke_rounded_rect(rect, *radius, *thickness, *border);
            }
            DrawOp::Text {
                lines,
                x,
                y,
                px,
                color,
                background,
                border,
                padding,
            } => {
                let (w, h) = text_block_size(lines, *px, *padding);
                let block = RectF::new(*x, *y, w, h);
                canvas.fill_rounded_rect(block, 0.0, *background);
                canvas.stroke_rounded_rect(block, 0.0, 1.0, *border);
                let line_height = text::measure("", *px).1;
                for (i, line) in lines.iter().enumerate() {
                    canvas.text(
                        line,
                        x + padding,
                        y + padding + i as f32 * line_height,
                        *px,
                        *color,
                    );
                }
            }
            DrawOp::Circle {
                cx,
                cy,
                radius,
                thickness,
                color,
            } => canvas.circle(*cx, *cy, *radius, *thickness, *color),
            DrawOp::Line {
                a,
                b,
                thickness,
                color,
            } => canvas.line(*a, *b, *thickness, *color),
            DrawOp::Polygon {
                points,
                thickness,
                color,
            } => {
                if *thickness > 0.0 {
                    for (i, &a) in points.iter().enumerate() {
                        let b = points[(i + 1) % points.len()];
                        canvas.line(a, b, *thickness, *color);
                    }
                } else {
                    canvas.fill_polygon(points, *color);
                }
            }
            DrawOp::Blur { x, y, w, h, radius } => {
                let radius =
                    radius.map_or(((*w).min(*h) / 8).clamp(2, 32) as usize, |r| r as usize);
                canvas.blur(*x, *y, *w, *h, radius);
            }
        }
    }
}

/// Savant's `Position`: which point of the text box the anchor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Center = 1,
    LeftTop,
    CenterTop,
    RightTop,
    LeftCenter,
    RightCenter,
    LeftBottom,
    CenterBottom,
    RightBottom,
}

/// Top-left of a `w`x`h` box whose `anchor` point is at (x, y), as Savant places it.
pub fn place(anchor: Anchor, (x, y): (f32, f32), (w, h): (f32, f32)) -> (f32, f32) {
    let left = match anchor {
        Anchor::LeftTop | Anchor::LeftCenter | Anchor::LeftBottom => x,
        Anchor::Center | Anchor::CenterTop | Anchor::CenterBottom => x - w / 2.0,
        Anchor::RightTop | Anchor::RightCenter | Anchor::RightBottom => x - w,
    };
    let top = match anchor {
        Anchor::LeftTop | Anchor::CenterTop | Anchor::RightTop => y,
        Anchor::Center | Anchor::LeftCenter | Anchor::RightCenter => y - h / 2.0,
        Anchor::LeftBottom | Anchor::CenterBottom | Anchor::RightBottom => y - h,
    };
    (left, top)
}

//! `savant_gst.Artist`: what a Python draw hook draws with. Each call only records
//! an operation (cheap, under the GIL); the drawing happens after the hook returns,
//! in Rust, with the GIL released.

use std::sync::Mutex;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use super::color::Rgba;
use super::ops::{place, text_block_size, Anchor, DrawOp};
use super::spec::Padding;
use super::text::{capped_line, MAX_TEXT_LINES, PX_PER_SCALE};

const MAX_THICKNESS: f32 = 100.0;
const MAX_RADIUS: f32 = 1000.0;

#[pyclass(frozen, module = "savant_gst")]
#[derive(Default)]
pub struct Artist {
    ops: Mutex<Vec<DrawOp>>,
}

impl Artist {
    /// The recorded operations, in call order.
    pub fn take(&self) -> Vec<DrawOp> {
        std::mem::take(&mut self.ops.lock().unwrap())
    }

    fn push(&self, op: DrawOp) {
        self.ops.lock().unwrap().push(op);
    }
}

const GREEN: Rgba = Rgba::new(0, 255, 0, 255);
const RED: Rgba = Rgba::new(255, 0, 0, 255);
const WHITE: Rgba = Rgba::new(255, 255, 255, 255);
const NONE: Rgba = Rgba::new(0, 0, 0, 0);

/// `value` as a colour, or `default` when the argument was not given.
fn color_or(value: Option<&Bound<'_, PyAny>>, default: Rgba) -> PyResult<Rgba> {
    value.map_or(Ok(default), color)
}

/// "RRGGBBAA" or an (r, g, b[, a]) tuple of 0-255 ints.
fn color(value: &Bound<'_, PyAny>) -> PyResult<Rgba> {
    if let Ok(text) = value.cast::<PyString>() {
        return Rgba::parse(text.to_str()?).map_err(PyValueError::new_err);
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        let channels: Vec<u8> = tuple
            .extract()
            .map_err(|_| PyValueError::new_err("colour channels must be ints from 0 to 255"))?;
        return match channels[..] {
            [r, g, b] => Ok(Rgba::new(r, g, b, 255)),
            [r, g, b, a] => Ok(Rgba::new(r, g, b, a)),
            _ => Err(PyValueError::new_err("a colour tuple has 3 or 4 channels")),
        };
    }
    Err(PyTypeError::new_err(
        "a colour is an \"RRGGBBAA\" string or an (r, g, b[, a]) tuple",
    ))
}

fn checked(name: &str, value: f32, max: f32) -> PyResult<f32> {
    if !(0.0..=max).contains(&value) {
        return Err(PyValueError::new_err(format!(
            "{name} must be between 0 and {max}, got {value}"
        )));
    }
    Ok(value)
}

fn rect(r#box: (f32, f32, f32, f32)) -> PyResult<(f32, f32, f32, f32)> {
    let (_, _, w, h) = r#box;
    if w < 0.0 || h < 0.0 {
        return Err(PyValueError::new_err(format!(
            "box width and height must not be negative, got {w}x{h}"
        )));
    }
    Ok(r#box)
}

/// The box of a call: Savant's `bbox` (an (x, y, w, h) tuple or a BBox-like object
/// with left, top, width and height) or our `box` keyword.
fn bbox_arg(
    bbox: Option<&Bound<'_, PyAny>>,
    r#box: Option<&Bound<'_, PyAny>>,
) -> PyResult<(f32, f32, f32, f32)> {
    let value = match (bbox, r#box) {
        (Some(_), Some(_)) => return Err(PyTypeError::new_err("give the box once (bbox or box)")),
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => return Err(PyTypeError::new_err("missing the box (bbox)")),
    };
    if let Ok(tuple) = value.extract::<(f32, f32, f32, f32)>() {
        return rect(tuple);
    }
    let side = |name: &str| -> PyResult<f32> { value.getattr(name)?.extract() };
    match (side("left"), side("top"), side("width"), side("height")) {
        (Ok(l), Ok(t), Ok(w), Ok(h)) => rect((l, t, w, h)),
        _ => Err(PyTypeError::new_err(
            "a box is an (x, y, width, height) tuple or has left, top, width and height",
        )),
    }
}

/// Padding as one number for every side or Savant's (left, top, right, bottom).
fn padding_arg(value: Option<&Bound<'_, PyAny>>) -> PyResult<Padding> {
    let Some(value) = value else {
        return Ok(Padding::default());
    };
    let sides = if let Ok(all) = value.extract::<f32>() {
        [all; 4]
    } else {
        let (l, t, r, b): (f32, f32, f32, f32) = value.extract().map_err(|_| {
            PyTypeError::new_err("padding is a number or a (left, top, right, bottom) tuple")
        })?;
        [l, t, r, b]
    };
    for side in sides {
        checked("padding", side, MAX_RADIUS)?;
    }
    Ok(Padding {
        left: sides[0],
        top: sides[1],
        right: sides[2],
        bottom: sides[3],
    })
}

const ANCHORS: [(&str, Anchor); 9] = [
    ("CENTER", Anchor::Center),
    ("LEFT_TOP", Anchor::LeftTop),
    ("CENTER_TOP", Anchor::CenterTop),
    ("RIGHT_TOP", Anchor::RightTop),
    ("LEFT_CENTER", Anchor::LeftCenter),
    ("RIGHT_CENTER", Anchor::RightCenter),
    ("LEFT_BOTTOM", Anchor::LeftBottom),
    ("CENTER_BOTTOM", Anchor::CenterBottom),
    ("RIGHT_BOTTOM", Anchor::RightBottom),
];

/// Savant's `Position` member (or any enum with those names), its name as a string,
/// or its value (1 to 9).
fn anchor_arg(value: Option<&Bound<'_, PyAny>>) -> PyResult<Anchor> {
    let Some(value) = value else {
        return Ok(Anchor::LeftTop);
    };
    let name: Option<String> = if let Ok(text) = value.cast::<PyString>() {
        Some(text.to_str()?.to_owned())
    } else if let Ok(number) = value.extract::<i64>() {
        return ANCHORS
            .iter()
            .find(|(_, a)| *a as i64 == number)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                PyValueError::new_err(format!("anchor_point_type {number} is not 1 to 9"))
            });
    } else {
        value.getattr("name").ok().and_then(|n| n.extract().ok())
    };
    let name = name.ok_or_else(|| {
        PyTypeError::new_err(
            "anchor_point_type is a Position, its name (\"LEFT_TOP\") or its value",
        )
    })?;
    let wanted = name
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    ANCHORS
        .iter()
        .find(|(n, _)| *n == wanted)
        .map(|(_, a)| *a)
        .ok_or_else(|| PyValueError::new_err(format!("unknown anchor_point_type {name:?}")))
}

/// Savant's `cv2.FILLED` (-1), or any negative thickness, means a filled shape,
/// our 0.
fn fill_or_stroke(thickness: f32) -> PyResult<f32> {
    if thickness < 0.0 {
        Ok(0.0)
    } else {
        checked("thickness", thickness, MAX_THICKNESS)
    }
}

/// Methods take Savant's Artist arguments (positional order and keyword names, RGBA
/// tuples) and our earlier keywords (`box`, `background_color`, `thickness`, ...).
#[pymethods]
impl Artist {
    /// An empty artist, for calling a draw hook outside the plugin (unit tests);
    /// the element makes its own for every frame.
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// A box: border inside its edges, optional fill, optional padding.
    #[pyo3(signature = (bbox=None, border_width=None, border_color=None, bg_color=None, padding=None, *, r#box=None, background_color=None, thickness=None))]
    #[allow(clippy::too_many_arguments)]
    fn add_bbox(
        &self,
        bbox: Option<&Bound<'_, PyAny>>,
        border_width: Option<f32>,
        border_color: Option<&Bound<'_, PyAny>>,
        bg_color: Option<&Bound<'_, PyAny>>,
        padding: Option<&Bound<'_, PyAny>>,
        r#box: Option<&Bound<'_, PyAny>>,
        background_color: Option<&Bound<'_, PyAny>>,
        thickness: Option<f32>,
    ) -> PyResult<()> {
        let (x, y, w, h) = bbox_arg(bbox, r#box)?;
        let p = padding_arg(padding)?;
        let thickness = border_width.or(thickness).unwrap_or(2.0);
        self.push(DrawOp::rect(
            p.around((x, y, w, h)),
            color_or(border_color, GREEN)?,
            color_or(bg_color.or(background_color), NONE)?,
            checked("thickness", thickness, MAX_THICKNESS)?,
        ));
        Ok(())
    }

    /// A box with rounded corners. Savant's call (`bg_color` only) fills it; a
    /// border is drawn when `border_color` is given or neither colour is.
    #[pyo3(signature = (bbox=None, radius=0.0, bg_color=None, *, r#box=None, border_color=None, background_color=None, thickness=2.0))]
    #[allow(clippy::too_many_arguments)]
    fn add_rounded_rect(
        &self,
        bbox: Option<&Bound<'_, PyAny>>,
        radius: f32,
        bg_color: Option<&Bound<'_, PyAny>>,
        r#box: Option<&Bound<'_, PyAny>>,
        border_color: Option<&Bound<'_, PyAny>>,
        background_color: Option<&Bound<'_, PyAny>>,
        thickness: f32,
    ) -> PyResult<()> {
        let (x, y, w, h) = bbox_arg(bbox, r#box)?;
        let border = match (border_color, bg_color) {
            (Some(c), _) => color(c)?,
            (None, Some(_)) => NONE,
            (None, None) => GREEN,
        };
        self.push(DrawOp::Rect {
            x,
            y,
            w,
            h,
            radius: checked("radius", radius, MAX_RADIUS)?,
            border,
            background: color_or(bg_color.or(background_color), NONE)?,
            thickness: checked("thickness", thickness, MAX_THICKNESS)?,
        });
        Ok(())
    }

    /// Text (lines split at "\n") placed so that its `anchor_point_type` point (top
    /// left unless given) is at `anchor`, on an optional box grown by `padding`.
    /// Lines are cut at `text::MAX_LINE_CHARS` characters, and at most
    /// `text::MAX_TEXT_LINES` drawn. Returns Savant's ((width, height), baseline).
    #[pyo3(signature = (text, anchor, font_scale=0.5, font_thickness=1.0, font_color=None, border_width=None, border_color=None, bg_color=None, padding=None, anchor_point_type=None, *, background_color=None))]
    #[allow(clippy::too_many_arguments)]
    fn add_text(
        &self,
        text: &str,
        anchor: (f32, f32),
        font_scale: f32,
        font_thickness: f32,
        font_color: Option<&Bound<'_, PyAny>>,
        border_width: Option<f32>,
        border_color: Option<&Bound<'_, PyAny>>,
        bg_color: Option<&Bound<'_, PyAny>>,
        padding: Option<&Bound<'_, PyAny>>,
        anchor_point_type: Option<&Bound<'_, PyAny>>,
        background_color: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<((i32, i32), i32)> {
        if !(0.05..=20.0).contains(&font_scale) {
            return Err(PyValueError::new_err(format!(
                "font_scale must be between 0.05 and 20, got {font_scale}"
            )));
        }
        // Savant's font_thickness is the stroke of Hershey fonts; real glyphs have their own.
        checked("font_thickness", font_thickness, MAX_THICKNESS)?;
        let lines: Vec<String> = text
            .split('\n')
            .take(MAX_TEXT_LINES)
            .map(|line| capped_line(line).to_owned())
            .collect();
        let px = font_scale * PX_PER_SCALE;
        let (w, h) = text_block_size(&lines, px, 0.0);
        let (x, y) = place(anchor_arg(anchor_point_type)?, anchor, (w, h));
        let p = padding_arg(padding)?;
        let border = color_or(border_color, NONE)?;
        let border_width = match border_width {
            Some(width) => checked("border_width", width, MAX_THICKNESS)?,
            None if border.is_transparent() => 0.0,
            None => 1.0,
        };
        let background = color_or(bg_color.or(background_color), NONE)?;
        if border_width > 0.0 || !background.is_transparent() {
            self.push(DrawOp::Rect {
                x: x - p.left - border_width,
                y: y - p.top - border_width,
                w: w + p.left + p.right + 2.0 * border_width,
                h: h + p.top + p.bottom + 2.0 * border_width,
                radius: 0.0,
                border: if border_width > 0.0 { border } else { NONE },
                background,
                thickness: border_width,
            });
        }
        self.push(DrawOp::Text {
            lines,
            x,
            y,
            px,
            color: color_or(font_color, WHITE)?,
            background: NONE,
            border: NONE,
            padding: 0.0,
        });
        Ok(((w.round() as i32, h.round() as i32), 0))
    }

    /// A filled circle (thickness 0, or Savant's `cv2.FILLED`, -1) or a ring.
    /// `line_type` is accepted for Savant's calls; edges are always smooth.
    #[pyo3(signature = (center, radius, color=None, thickness=0.0, line_type=None))]
    fn add_circle(
        &self,
        center: (f32, f32),
        radius: f32,
        color: Option<&Bound<'_, PyAny>>,
        thickness: f32,
        line_type: Option<i64>,
    ) -> PyResult<()> {
        let _ = line_type;
        self.push(DrawOp::Circle {
            cx: center.0,
            cy: center.1,
            radius: checked("radius", radius, MAX_RADIUS)?,
            thickness: fill_or_stroke(thickness)?,
            color: color_or(color, RED)?,
        });
        Ok(())
    }

    #[pyo3(signature = (start, end, color=None, thickness=1.0))]
    fn add_line(
        &self,
        start: (f32, f32),
        end: (f32, f32),
        color: Option<&Bound<'_, PyAny>>,
        thickness: f32,
    ) -> PyResult<()> {
        self.push(DrawOp::Line {
            a: start,
            b: end,
            thickness: checked("thickness", thickness, MAX_THICKNESS)?,
            color: color_or(color, RED)?,
        });
        Ok(())
    }

    /// Savant's polygon: `bg_color` fill (none by default) under a `line_width`
    /// (3) outline in `line_color` (red). Our earlier form, `color` and
    /// `thickness` (0 fills), is taken when either is given.
    #[pyo3(signature = (vertices=None, line_width=None, line_color=None, bg_color=None, *, points=None, color=None, thickness=None))]
    #[allow(clippy::too_many_arguments)]
    fn add_polygon(
        &self,
        vertices: Option<Vec<(f32, f32)>>,
        line_width: Option<f32>,
        line_color: Option<&Bound<'_, PyAny>>,
        bg_color: Option<&Bound<'_, PyAny>>,
        points: Option<Vec<(f32, f32)>>,
        color: Option<&Bound<'_, PyAny>>,
        thickness: Option<f32>,
    ) -> PyResult<()> {
        let points = match (vertices, points) {
            (Some(_), Some(_)) => {
                return Err(PyTypeError::new_err(
                    "give the points once (vertices or points)",
                ))
            }
            (Some(p), None) | (None, Some(p)) => p,
            (None, None) => return Err(PyTypeError::new_err("missing the polygon's vertices")),
        };
        if points.len() < 2 {
            return Err(PyValueError::new_err("a polygon needs at least 2 points"));
        }
        if color.is_some() || thickness.is_some() {
            self.push(DrawOp::Polygon {
                points,
                thickness: fill_or_stroke(thickness.unwrap_or(0.0))?,
                color: color_or(color, RED)?,
            });
            return Ok(());
        }
        if let Some(fill) = bg_color {
            self.push(DrawOp::Polygon {
                points: points.clone(),
                thickness: 0.0,
                color: self::color(fill)?,
            });
        }
        let width = checked("line_width", line_width.unwrap_or(3.0), MAX_THICKNESS)?;
        if width > 0.0 {
            self.push(DrawOp::Polygon {
                points,
                thickness: width,
                color: color_or(line_color, RED)?,
            });
        }
        Ok(())
    }

    /// Blurs the box grown by `padding`; Savant's `sigma` sets the strength (by
    /// default it follows the box's size).
    #[pyo3(signature = (bbox=None, padding=None, sigma=None, *, r#box=None))]
    fn blur(
        &self,
        bbox: Option<&Bound<'_, PyAny>>,
        padding: Option<&Bound<'_, PyAny>>,
        sigma: Option<f32>,
        r#box: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let (x, y, w, h) = bbox_arg(bbox, r#box)?;
        let p = padding_arg(padding)?;
        // Three box passes of radius r have a variance of r(r + 1): a Gaussian's
        // sigma squared.
        let radius = sigma
            .map(|s| checked("sigma", s, MAX_RADIUS))
            .transpose()?
            .map(|s| ((s * s + 0.25).sqrt() - 0.5).round().max(1.0) as u32);
        self.push(DrawOp::Blur {
            x: (x - p.left) as i32,
            y: (y - p.top) as i32,
            w: (w + p.left + p.right) as i32,
            h: (h + p.top + p.bottom) as i32,
            radius,
        });
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("<savant_gst.Artist {} ops>", self.ops.lock().unwrap().len())
    }
}

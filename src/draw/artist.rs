//! `savant_gst.Artist`: what a Python draw hook draws with. Each call only records
//! an operation (cheap, under the GIL); the drawing happens after the hook returns,
//! in Rust, with the GIL released.

use std::sync::Mutex;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use super::color::Rgba;
use super::ops::DrawOp;
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

#[pymethods]
impl Artist {
    /// A box (x, y, w, h): border inside its edges, optional fill, optional padding.
    #[pyo3(signature = (r#box, border_color=None, background_color=None, thickness=2.0, padding=0.0))]
    fn add_bbox(
        &self,
        r#box: (f32, f32, f32, f32),
        border_color: Option<&Bound<'_, PyAny>>,
        background_color: Option<&Bound<'_, PyAny>>,
        thickness: f32,
        padding: f32,
    ) -> PyResult<()> {
        let (x, y, w, h) = rect(r#box)?;
        self.push(DrawOp::Rect {
            x: x - padding,
            y: y - padding,
            w: w + 2.0 * padding,
            h: h + 2.0 * padding,
            radius: 0.0,
            border: color_or(border_color, GREEN)?,
            background: color_or(background_color, NONE)?,
            thickness: checked("thickness", thickness, MAX_THICKNESS)?,
        });
        Ok(())
    }

    /// A box with rounded corners.
    #[pyo3(signature = (r#box, radius, border_color=None, background_color=None, thickness=2.0))]
    fn add_rounded_rect(
        &self,
        r#box: (f32, f32, f32, f32),
        radius: f32,
        border_color: Option<&Bound<'_, PyAny>>,
        background_color: Option<&Bound<'_, PyAny>>,
        thickness: f32,
    ) -> PyResult<()> {
        let (x, y, w, h) = rect(r#box)?;
        self.push(DrawOp::Rect {
            x,
            y,
            w,
            h,
            radius: checked("radius", radius, MAX_RADIUS)?,
            border: color_or(border_color, GREEN)?,
            background: color_or(background_color, NONE)?,
            thickness: checked("thickness", thickness, MAX_THICKNESS)?,
        });
        Ok(())
    }

    /// Text (lines split at "\n") with its top-left at `anchor` (x, y). Lines are cut
    /// at `text::MAX_LINE_CHARS` characters, and at most `text::MAX_TEXT_LINES` drawn.
    #[pyo3(signature = (text, anchor, font_scale=0.5, font_color=None, background_color=None, border_color=None, padding=0.0))]
    #[allow(clippy::too_many_arguments)]
    fn add_text(
        &self,
        text: &str,
        anchor: (f32, f32),
        font_scale: f32,
        font_color: Option<&Bound<'_, PyAny>>,
        background_color: Option<&Bound<'_, PyAny>>,
        border_color: Option<&Bound<'_, PyAny>>,
        padding: f32,
    ) -> PyResult<()> {
        if !(0.05..=20.0).contains(&font_scale) {
            return Err(PyValueError::new_err(format!(
                "font_scale must be between 0.05 and 20, got {font_scale}"
            )));
        }
        self.push(DrawOp::Text {
            lines: text
                .split('\n')
                .take(MAX_TEXT_LINES)
                .map(|line| capped_line(line).to_owned())
                .collect(),
            x: anchor.0,
            y: anchor.1,
            px: font_scale * PX_PER_SCALE,
            color: color_or(font_color, WHITE)?,
            background: color_or(background_color, NONE)?,
            border: color_or(border_color, NONE)?,
            padding: checked("padding", padding, MAX_RADIUS)?,
        });
        Ok(())
    }

    /// A filled circle (thickness 0) or a ring.
    #[pyo3(signature = (center, radius, color=None, thickness=0.0))]
    fn add_circle(
        &self,
        center: (f32, f32),
        radius: f32,
        color: Option<&Bound<'_, PyAny>>,
        thickness: f32,
    ) -> PyResult<()> {
        self.push(DrawOp::Circle {
            cx: center.0,
            cy: center.1,
            radius: checked("radius", radius, MAX_RADIUS)?,
            thickness: checked("thickness", thickness, MAX_THICKNESS)?,
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

    /// A filled polygon (thickness 0) or its outline; points are (x, y) pairs.
    #[pyo3(signature = (points, color=None, thickness=0.0))]
    fn add_polygon(
        &self,
        points: Vec<(f32, f32)>,
        color: Option<&Bound<'_, PyAny>>,
        thickness: f32,
    ) -> PyResult<()> {
        if points.len() < 2 {
            return Err(PyValueError::new_err("a polygon needs at least 2 points"));
        }
        self.push(DrawOp::Polygon {
            points,
            thickness: checked("thickness", thickness, MAX_THICKNESS)?,
            color: color_or(color, RED)?,
        });
        Ok(())
    }

    /// Blurs the box (x, y, w, h).
    fn blur(&self, r#box: (f32, f32, f32, f32)) -> PyResult<()> {
        let (x, y, w, h) = rect(r#box)?;
        self.push(DrawOp::Blur {
            x: x as i32,
            y: y as i32,
            w: w as i32,
            h: h as i32,
        });
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("<savant_gst.Artist {} ops>", self.ops.lock().unwrap().len())
    }
}

//! Savant's draw spec: per-label (and default) parts to draw for each object.
//!
//! ```yaml
//! default:
//!   bbox: {border_color: "00FF00FF", thickness: 2}
//! labels:
//!   car:
//!     bbox: {border_color: "FF0000FF", background_color: "00000000", thickness: 2,
//!            padding: {left: 0, top: 0, right: 0, bottom: 0}}
//!     label: {font_color: "FFFFFFFF", background_color: "000000FF", border_color: "00000000",
//!             font_scale: 0.5, thickness: 1, format: ["{label} #{track_id}", "{confidence}"],
//!             position: TopLeftOutside, margin_x: 0, margin_y: 0, padding: {...}}
//!     central_dot: {color: "FF0000FF", radius: 5}
//!     blur: false
//! ```
//!
//! Savant's own layout (its `parameters.draw_func` block, alone or inside a whole
//! module YAML) is read too:
//!
//! ```yaml
//! rendered_objects:
//!   detector:            # the unit that created the objects
//!     car:
//!       label:
//!         format: ["{label} {confidence:.2f}", "{model}"]
//!         position: {position: TopLeftInside, margin_x: 2, margin_y: 2}
//! condition: {tag: draw}   # only frames with this attribute are drawn on
//! ```
//! Only the parts present are drawn. Every error names its YAML path.
//!
//! Rooms: this file holds the spec's types and lays out each object's drawing;
//! `parse.rs` checks YAML into them; `label.rs` renders label format strings.
//! savantdrawfunc's `override_draw_spec` bridge to Python lives in the element.

mod label;
mod parse;

use std::collections::HashMap;
use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::color::Rgba;
use super::ops::{place, text_block_size, Anchor, DrawOp};
use super::pyformat::{short_float, FormatSpec, FormatValue, ValueKind};
use super::text::{capped_line, PX_PER_SCALE};
use crate::frame::objects::ObjectData;
use crate::yaml::{check_keys, error, join, kind, mapping, ConfigError};

/// Largest accepted sizes: beyond these a value is a typo, not a drawing.
use label::{parse_format, render, Segment};
pub(crate) use parse::parse_object_spec;
use parse::{label_key, object_spec};

const MAX_THICKNESS: f64 = 100.0;
const MAX_RADIUS: f64 = 1000.0;
const MAX_OFFSET: f64 = 10_000.0;
const MAX_FONT_SCALE: f64 = 20.0;
/// `savant_rs`'s `LabelPosition` default margin: labels 10 px above the box.
const SAVANT_MARGIN_Y: f32 = -10.0;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Padding {
    pub left: f32,
    pub top: f32,
    pub right: f32,
    pub bottom: f32,
}

impl Padding {
    /// The box `(x, y, w, h)` grown by this padding on each side.
    pub fn around(&self, (x, y, w, h): (f32, f32, f32, f32)) -> (f32, f32, f32, f32) {
        (
            x - self.left,
            y - self.top,
            w + self.left + self.right,
            h + self.top + self.bottom,
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BBoxSpec {
    pub border: Rgba,
    pub background: Rgba,
    pub thickness: f32,
    pub padding: Padding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelPosition {
    TopLeftInside,
    TopLeftOutside,
    Center,
}

/// Whose rules a spec was written by, for what the YAML leaves unsaid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Our flat form (`default`, `labels`): a red central dot, a label as one
    /// block on the box's edge.
    #[default]
    Ours,
    /// Savant's (`rendered_objects`, its default drawing): as `savant_rs` and
    /// Savant's draw function have it: a green central dot, labels 10 px above
    /// the box (`margin_y: -10`), each line of a label its own box, stacked from
    /// the anchor (upwards for TopLeftOutside, last line first).
    Savant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LabelSpec {
    pub font_color: Rgba,
    pub background: Rgba,
    pub border: Rgba,
    pub font_scale: f32,
    format: Vec<Vec<Segment>>,
    /// Savant's default for an untracked object: `{label}`, not `{label} #`.
    untracked_format: Option<Vec<Vec<Segment>>>,
    pub position: LabelPosition,
    pub margin_x: f32,
    /// Added to the label's y (Savant's nested `position` form; the flat form's
    /// `margin_y` moves an outside label up and is stored negated).
    pub margin_y: f32,
    pub padding: Padding,
    /// One block (ours) or Savant's line boxes.
    pub layout: Layout,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DotSpec {
    pub color: Rgba,
    pub radius: f32,
}

/// What to draw for one object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObjectSpec {
    pub bbox: Option<BBoxSpec>,
    pub label: Option<LabelSpec>,
    pub central_dot: Option<DotSpec>,
    pub blur: bool,
    /// The YAML it was read from (Null for Savant's built-in defaults), what a draw
    /// hook's `override_draw_spec` gets to change.
    pub source: Value,
    /// Whose defaults it was read with (what a spec from `override_draw_spec` is
    /// read with too).
    pub layout: Layout,
}

/// What a draw hook's `override_draw_spec` made of one object's spec.
#[derive(Debug, Clone, PartialEq)]
pub enum SpecOverride {
    /// The spec as configured.
    Keep,
    /// Another spec for this object on this frame.
    Replace(Box<ObjectSpec>),
    /// Nothing drawn for this object.
    Skip,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DrawSpec {
    default: Option<ObjectSpec>,
    labels: HashMap<String, ObjectSpec>,
    /// Savant's `rendered_objects`: unit, label and spec, in YAML order.
    rendered: Vec<(String, String, ObjectSpec)>,
    /// Savant's `condition.tag`: only frames whose attributes have this key are
    /// drawn on (spec and hook); others pass untouched.
    pub condition_tag: Option<String>,
}

impl DrawSpec {
    /// A spec that draws nothing: a Savant draw hook without `rendered_objects`
    /// draws only what the hook draws.
    pub fn nothing() -> Self {
        Self {
            default: None,
            labels: HashMap::new(),
            rendered: Vec::new(),
            condition_tag: None,
        }
    }

    /// Whether any object gets a drawing from this spec (a hook may still draw).
    pub fn draws_anything(&self) -> bool {
        self.default.is_some() || !self.labels.is_empty() || !self.rendered.is_empty()
    }

    /// Savant's behaviour without a spec (its `get_default_draw_spec`): a green
    /// box and a white-on-black "label #track" 10 px above it for every object.
    ///
    /// # Panics
    ///
    /// Never: the built-in label formats are valid (a unit test parses them).
    pub fn savant_default() -> Self {
        Self {
            default: Some(ObjectSpec {
                bbox: Some(BBoxSpec {
                    border: Rgba::new(0, 255, 0, 255),
                    background: Rgba::default(),
                    thickness: 2.0,
                    padding: Padding::default(),
                }),
                label: Some(LabelSpec {
                    font_color: Rgba::new(255, 255, 255, 255),
                    background: Rgba::new(0, 0, 0, 255),
                    border: Rgba::default(),
                    font_scale: 0.5,
                    format: vec![parse_format("{label} #{track_id}", "").expect("valid")],
                    untracked_format: Some(vec![parse_format("{label}", "").expect("valid")]),
                    position: LabelPosition::TopLeftOutside,
                    margin_x: 0.0,
                    margin_y: SAVANT_MARGIN_Y,
                    padding: Padding::default(),
                    layout: Layout::Savant,
                }),
                central_dot: None,
                blur: false,
                source: Value::Null,
                layout: Layout::Savant,
            }),
            labels: HashMap::new(),
            rendered: Vec::new(),
            condition_tag: None,
        }
    }

    /// Savant's spec for a `rendered_objects` label given without one: a green box
    /// and the label.
    fn savant_listed_default() -> ObjectSpec {
        let mut spec = Self::savant_default().default.expect("has a default");
        if let Some(label) = &mut spec.label {
            label.format = vec![parse_format("{label}", "").expect("valid")];
            label.untracked_format = None;
        }
        spec
    }

    /// `spec` is a YAML file path or the YAML itself; empty means Savant's default.
    ///
    /// # Errors
    ///
    /// A file that cannot be read, or YAML that does not check out, naming the YAML
    /// path of the problem.
    pub fn load(spec: &str) -> Result<Self, ConfigError> {
        if spec.trim().is_empty() {
            return Ok(Self::savant_default());
        }
        // Any existing path (a FIFO too, which is then refused, not opened).
        let is_path = !spec.contains('\n') && !spec.contains(':') && Path::new(spec).exists();
        if is_path || (!spec.contains('\n') && (spec.ends_with(".yml") || spec.ends_with(".yaml")))
        {
            return Self::parse(&crate::yaml::read_config_file("draw spec", spec)?);
        }
        Self::parse(spec)
    }

    /// Reads our layout (`default`, `labels`), Savant's `parameters.draw_func` block
    /// (`rendered_objects`), or a whole Savant module YAML (its
    /// `parameters.draw_func`; the rest is the module's business).
    ///
    /// # Errors
    ///
    /// YAML that does not parse, or a key, colour, size or format string that does
    /// not check out, naming its YAML path.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let root: Value =
            serde_yaml::from_str(text).or_else(|e| error("", format!("invalid YAML: {e}")))?;
        if root.is_null() {
            return Ok(Self::savant_default());
        }
        let top = mapping(&root, "")?;
        let (root, path) =
            match top.get("parameters") {
                Some(parameters) => {
                    let parameters = mapping(parameters, "parameters")?;
                    match parameters.get("draw_func") {
                        None => return error(
                            "parameters.draw_func",
                            "missing (a module YAML without it draws nothing; remove draw-spec)",
                        ),
                        Some(Value::Null) => return Ok(Self::savant_default()),
                        Some(block) => (
                            mapping(block, "parameters.draw_func")?,
                            "parameters.draw_func",
                        ),
                    }
                }
                None => (top, ""),
            };
        check_keys(
            root,
            path,
            &[
                "default",
                "labels",
                "rendered_objects",
                "condition",
                "module",
                "class_name",
                "kwargs",
            ],
        )?;
        for key in ["module", "class_name", "kwargs"] {
            if root.contains_key(key) {
                return error(
                    join(path, key),
                    "picks Python code, which a draw spec cannot: set savantdrawfunc's \
                     module/class-name/kwargs properties, or give the module YAML to savantmodule",
                );
            }
        }
        let condition_tag = match root.get("condition") {
            None | Some(Value::Null) => None,
            Some(condition) => {
                let condition_path = join(path, "condition");
                check_keys(
                    mapping(condition, &condition_path)?,
                    &condition_path,
                    &["tag"],
                )?;
                crate::yaml::optional_string(
                    mapping(condition, &condition_path)?,
                    &condition_path,
                    "tag",
                )?
            }
        };
        // Savant's `draw_func: {}` is its default drawing of every object.
        if root.keys().all(|key| key.as_str() == Some("condition")) {
            return Ok(Self {
                condition_tag,
                ..Self::savant_default()
            });
        }
        let default = match root.get("default") {
            None | Some(Value::Null) => None,
            Some(v) => Some(object_spec(v, &join(path, "default"), Layout::Ours)?),
        };
        let mut labels = HashMap::new();
        match root.get("labels") {
            None | Some(Value::Null) => {}
            Some(v) => {
                let labels_path = join(path, "labels");
                for (label, spec) in mapping(v, &labels_path)? {
                    let label = label_key(label, &labels_path)?;
                    let path = format!("{labels_path}.{label}");
                    let spec = match spec {
                        Value::Null => ObjectSpec::default(),
                        v => object_spec(v, &path, Layout::Ours)?,
                    };
                    labels.insert(label.to_owned(), spec);
                }
            }
        }
        let mut rendered = Vec::new();
        match root.get("rendered_objects") {
            None | Some(Value::Null) => {}
            Some(v) => {
                let units_path = join(path, "rendered_objects");
                for (unit, objects) in mapping(v, &units_path)? {
                    let unit = label_key(unit, &units_path)?;
                    let unit_path = format!("{units_path}.{unit}");
                    if objects.is_null() {
                        continue;
                    }
                    for (label, spec) in mapping(objects, &unit_path)? {
                        let label = label_key(label, &unit_path)?;
                        let path = format!("{unit_path}.{label}");
                        let spec = match spec {
                            Value::Null => Self::savant_listed_default(),
                            v => object_spec(v, &path, Layout::Savant)?,
                        };
                        rendered.push((unit.to_owned(), label.to_owned(), spec));
                    }
                }
            }
        }
        Ok(Self {
            default,
            labels,
            rendered,
            condition_tag,
        })
    }

    /// The spec for `object` and the `rendered_objects` unit it came from:
    /// `rendered_objects` first (the unit named by the object's `model` — the stage
    /// that made it — or its `model` attribute, else the first unit listing its
    /// label), then `labels`, then `default`.
    fn for_object<'a>(&'a self, object: &ObjectData) -> Option<(&'a ObjectSpec, Option<&'a str>)> {
        if !self.rendered.is_empty() {
            let model = object.model.as_deref().or_else(|| {
                object
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get::<&str>("model").ok())
            });
            let listed = |unit_matches: &dyn Fn(&str) -> bool| {
                self.rendered
                    .iter()
                    .find(|(unit, label, _)| *label == object.label && unit_matches(unit))
            };
            let found = model
                .and_then(|m| listed(&|unit| unit == m))
                .or_else(|| listed(&|_| true));
            if let Some((unit, _, spec)) = found {
                return Some((spec, Some(unit.as_str())));
            }
        }
        self.for_label(&object.label).map(|spec| (spec, None))
    }

    fn for_label(&self, label: &str) -> Option<&ObjectSpec> {
        self.labels.get(label).or(self.default.as_ref())
    }

    /// Appends the display list for `objects`: blurs first (under everything), then
    /// per object box, label and central dot (Savant's order).
    pub fn ops(&self, objects: &[ObjectData], out: &mut Vec<DrawOp>) {
        self.ops_with(objects, &[], out);
    }

    /// The configured spec's YAML for `object` (Null for Savant's built-in default),
    /// or None when nothing is drawn for it.
    pub fn source_for(&self, object: &ObjectData) -> Option<(&Value, Layout)> {
        self.for_object(object)
            .map(|(spec, _)| (&spec.source, spec.layout))
    }

    /// As `ops`, with `overrides[i]` (when given) in place of object i's spec.
    pub fn ops_with(
        &self,
        objects: &[ObjectData],
        overrides: &[SpecOverride],
        out: &mut Vec<DrawOp>,
    ) {
        let pick = |i: usize, object: &ObjectData| -> Option<(&ObjectSpec, Option<&str>)> {
            match overrides.get(i) {
                Some(SpecOverride::Skip) => None,
                Some(SpecOverride::Replace(spec)) => {
                    Some((&**spec, self.for_object(object).and_then(|(_, unit)| unit)))
                }
                Some(SpecOverride::Keep) | None => self.for_object(object),
            }
        };
        for (i, object) in objects.iter().enumerate() {
            if let Some((spec, _)) = pick(i, object) {
                if spec.blur {
                    out.push(DrawOp::Blur {
                        x: object.x as i32,
                        y: object.y as i32,
                        w: object.w as i32,
                        h: object.h as i32,
                        radius: None,
                    });
                }
            }
        }
        for (i, object) in objects.iter().enumerate() {
            let Some((spec, unit)) = pick(i, object) else {
                continue;
            };
            let (x, y, w, h) = (
                object.x as f32,
                object.y as f32,
                object.w as f32,
                object.h as f32,
            );
            if let Some(bbox) = &spec.bbox {
                out.push(DrawOp::rect(
                    bbox.padding.around((x, y, w, h)),
                    bbox.border,
                    bbox.background,
                    bbox.thickness,
                ));
            }
            if let Some(label) = &spec.label {
                let format = match (&label.untracked_format, object.track_id) {
                    (Some(untracked), None) => untracked,
                    _ => &label.format,
                };
                let lines: Vec<String> = format.iter().map(|f| render(f, object, unit)).collect();
                match label.layout {
                    Layout::Ours => label_block(label, lines, (x, y, w, h), out),
                    Layout::Savant => savant_label_lines(label, lines, (x, y, w, h), out),
                }
            }
            // Savant draws the dot last, over the label.
            if let Some(dot) = &spec.central_dot {
                out.push(DrawOp::Circle {
                    cx: x + w / 2.0,
                    cy: y + h / 2.0,
                    radius: dot.radius,
                    thickness: 0.0,
                    color: dot.color,
                });
            }
        }
    }
}

/// Our label: one block of all its lines with one background, on the box's edge.
fn label_block(
    label: &LabelSpec,
    lines: Vec<String>,
    (x, y, w, h): (f32, f32, f32, f32),
    out: &mut Vec<DrawOp>,
) {
    let px = label.font_scale * PX_PER_SCALE;
    let p = label.padding;
    let (text_w, text_h) = text_block_size(&lines, px, 0.0);
    let (block_w, block_h) = (text_w + p.left + p.right, text_h + p.top + p.bottom);
    let (bx, by) = match label.position {
        LabelPosition::TopLeftInside => (x + label.margin_x, y + label.margin_y),
        LabelPosition::TopLeftOutside => (x + label.margin_x, y + label.margin_y - block_h),
        LabelPosition::Center => (
            x + (w - block_w) / 2.0 + label.margin_x,
            y + (h - block_h) / 2.0 + label.margin_y,
        ),
    };
    label_box(
        label,
        lines,
        (bx + p.left, by + p.top),
        (text_w, text_h),
        out,
    );
}

/// A label's text with its top-left at `(x, y)`, on a `w`x`h` box grown by the
/// label's padding.
fn label_box(
    label: &LabelSpec,
    lines: Vec<String>,
    (x, y): (f32, f32),
    (w, h): (f32, f32),
    out: &mut Vec<DrawOp>,
) {
    out.push(DrawOp::rect(
        label.padding.around((x, y, w, h)),
        label.border,
        label.background,
        1.0,
    ));
    out.push(DrawOp::Text {
        lines,
        x,
        y,
        px: label.font_scale * PX_PER_SCALE,
        color: label.font_color,
        background: Rgba::default(),
        border: Rgba::default(),
        padding: 0.0,
    });
}

/// Savant's label (its draw function's `_draw_label`): each line is its own
/// `Artist.add_text` box, padding around the text, placed at an anchor that moves
/// by the text's height after each line. TopLeftOutside: the anchor is the box's
/// top-left plus the margins, the line's bottom-left sits on it, last line first,
/// going up; TopLeftInside: the line's top-left, going down; Center: the line's
/// centre on the box's centre, going down.
fn savant_label_lines(
    label: &LabelSpec,
    lines: Vec<String>,
    (x, y, w, h): (f32, f32, f32, f32),
    out: &mut Vec<DrawOp>,
) {
    let px = label.font_scale * PX_PER_SCALE;
    let (anchor, (ax, ay), step) = match label.position {
        LabelPosition::TopLeftOutside => (Anchor::LeftBottom, (x, y), -1.0),
        LabelPosition::TopLeftInside => (Anchor::LeftTop, (x, y), 1.0),
        LabelPosition::Center => (Anchor::Center, (x + w / 2.0, y + h / 2.0), 1.0),
    };
    let (ax, mut ay) = (ax + label.margin_x, ay + label.margin_y);
    let outside = label.position == LabelPosition::TopLeftOutside;
    let ordered: Vec<String> = if outside {
        lines.into_iter().rev().collect()
    } else {
        lines
    };
    for line in ordered {
        let line = vec![line];
        let (text_w, text_h) = text_block_size(&line, px, 0.0);
        let top_left = place(anchor, (ax, ay), (text_w, text_h));
        label_box(label, line, top_left, (text_w, text_h), out);
        ay += step * text_h;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_savant_layout() {
        gst::init().unwrap();
        let spec = DrawSpec::parse(
            r#"
default:
  bbox: {border_color: "00FF00FF", thickness: 2}
labels:
  car:
    bbox: {border_color: "FF0000FF", background_color: "00000000", thickness: 3, padding: {left: 1, top: 1, right: 1, bottom: 1}}
    label: {font_scale: 0.5, format: ["{label} #{track_id}", "{confidence}", "{attributes.color}"], position: Center}
    central_dot: {color: "FF0000FF", radius: 5}
    blur: true
"#,
        )
        .unwrap();
        let car = spec.for_label("car").unwrap();
        assert_eq!(car.bbox.as_ref().unwrap().thickness, 3.0);
        assert_eq!(car.label.as_ref().unwrap().position, LabelPosition::Center);
        assert!(car.blur);
        assert!(spec.for_label("bus").unwrap().label.is_none());
        let object = ObjectData {
            label: "car".into(),
            x: 0,
            y: 0,
            w: 10,
            h: 10,
            confidence: Some(0.5),
            track_id: Some(3),
            model: None,
            attributes: Some(gst::Structure::builder("a").field("color", "red").build()),
            source_id: None,
        };
        let lines: Vec<String> = car
            .label
            .as_ref()
            .unwrap()
            .format
            .iter()
            .map(|f| render(f, &object, None))
            .collect();
        assert_eq!(lines, ["car #3", "0.5", "red"]);
    }

    #[test]
    fn source_id_is_a_label_placeholder() {
        let format = parse_format("{label} @ {source_id}", "").unwrap();
        let mut object = ObjectData {
            label: "car".into(),
            x: 0,
            y: 0,
            w: 1,
            h: 1,
            confidence: None,
            track_id: None,
            model: None,
            attributes: None,
            source_id: Some("cam-a".into()),
        };
        assert_eq!(render(&format, &object, None), "car @ cam-a");
        // No savantmux upstream: nothing, as for other missing values.
        object.source_id = None;
        assert_eq!(render(&format, &object, None), "car @ ");
    }

    #[test]
    fn errors_name_the_path() {
        let cases = [
            (
                "labels: {car: {bbox: {border_colour: \"FF0000FF\"}}}",
                "labels.car.bbox.border_colour: unknown key",
            ),
            (
                "labels: {car: {bbox: {border_color: \"red\"}}}",
                "labels.car.bbox.border_color: invalid colour \"red\"",
            ),
            (
                "labels: {car: {bbox: {thickness: -1}}}",
                "labels.car.bbox.thickness: must be between 0 and 100, got -1",
            ),
            (
                "labels: {car: {bbox: {thickness: 100000}}}",
                "labels.car.bbox.thickness: must be between 0 and 100",
            ),
            (
                "labels: {car: {central_dot: {radius: 1e9}}}",
                "labels.car.central_dot.radius: must be between 0 and 1000",
            ),
            (
                "labels: {car: {label: {format: [\"{label}\", \"{speed}\"]}}}",
                "labels.car.label.format[1]: unknown placeholder {speed}",
            ),
            (
                "labels: {car: {label: {format: [\"{label\"]}}}",
                "labels.car.label.format[0]: unclosed '{'",
            ),
            (
                "labels: {car: {label: {position: Top}}}",
                "labels.car.label.position: unknown position \"Top\"",
            ),
            (
                "labels: {\"\": {blur: true}}",
                "labels: an empty name cannot be matched",
            ),
            (
                "labels: {car: {blur: 1}}",
                "labels.car.blur: must be true or false",
            ),
            ("default: [1]", "default: must be a mapping, got a list"),
            ("labels: {car: [", "invalid YAML"),
        ];
        assert_parse_errors(&cases);
    }

    /// Each `(yaml, expected)`: parsing fails with a message containing `expected`.
    fn assert_parse_errors(cases: &[(&str, &str)]) {
        for (yaml, expected) in cases {
            let message = DrawSpec::parse(yaml).unwrap_err().to_string();
            assert!(message.contains(expected), "{yaml}: {message}");
        }
    }

    #[test]
    fn no_spec_means_savant_default() {
        let spec = DrawSpec::load("").unwrap();
        let object = ObjectData {
            label: "dog".into(),
            x: 5,
            y: 30,
            w: 10,
            h: 10,
            confidence: None,
            track_id: Some(9),
            model: None,
            attributes: None,
            source_id: None,
        };
        let mut ops = Vec::new();
        spec.ops(&[object], &mut ops);
        assert!(
            matches!(ops[0], DrawOp::Rect { border, .. } if border == Rgba::new(0, 255, 0, 255))
        );
        assert!(ops
            .iter()
            .any(|op| matches!(op, DrawOp::Text { lines, .. } if lines == &["dog #9"])));
    }

    fn object(label: &str, attributes: Option<gst::Structure>) -> ObjectData {
        ObjectData {
            label: label.into(),
            x: 40,
            y: 40,
            w: 20,
            h: 20,
            confidence: Some(0.8734567165374756),
            track_id: Some(7),
            model: None,
            attributes,
            source_id: None,
        }
    }

    /// The label's lines as they read, top to bottom (Savant's layout draws
    /// each line on its own, the last first).
    fn label_lines(spec: &DrawSpec, object: &ObjectData) -> Vec<String> {
        let mut ops = Vec::new();
        spec.ops(std::slice::from_ref(object), &mut ops);
        let mut texts: Vec<(f32, Vec<String>)> = ops
            .into_iter()
            .filter_map(|op| match op {
                DrawOp::Text { lines, y, .. } => Some((y, lines)),
                _ => None,
            })
            .collect();
        texts.sort_by(|a, b| a.0.total_cmp(&b.0));
        texts.into_iter().flat_map(|(_, lines)| lines).collect()
    }

    #[test]
    fn reads_savants_draw_func_block_inside_a_module_yaml() {
        gst::init().unwrap();
        let spec = DrawSpec::parse(
            r#"
name: demo
parameters:
  frame: {width: 64, height: 64}
  draw_func:
    rendered_objects:
      yolo:
        car:
          bbox: {backgound_color: "00000000", border_color: "FF0000FF", thickness: 2}
          label:
            format: ["Label: {label}", "Confidence: {confidence:.2f}", "Track ID: {track_id}", "Model: {model}", "{attributes.speed:.1f} km/h", "{{x}}"]
            position: {position: TopLeftInside, margin_x: 3, margin_y: 4}
      plates:
        car: null
        plate:
pipeline: {elements: [{element: identity}]}
"#,
        )
        .unwrap();
        let speed = gst::Structure::builder("a")
            .field("speed", 12.345f64)
            .build();
        let car = object("car", Some(speed));
        assert_eq!(
            label_lines(&spec, &car),
            [
                "Label: car",
                "Confidence: 0.87",
                "Track ID: 7",
                "Model: yolo",
                "12.3 km/h",
                "{x}"
            ]
        );
        let mut ops = Vec::new();
        spec.ops(std::slice::from_ref(&car), &mut ops);
        assert!(ops
            .iter()
            .any(|op| matches!(op, DrawOp::Rect { x, y, .. } if *x == 43.0 && *y == 44.0)));
        // The object's `model` attribute picks the unit; a listed label without a
        // spec gets Savant's box and `{label}`.
        let from_plates = object(
            "car",
            Some(
                gst::Structure::builder("a")
                    .field("model", "plates")
                    .build(),
            ),
        );
        assert_eq!(label_lines(&spec, &from_plates), ["car"]);
        // ... and so does the object's `model` field (the stage that made it).
        let mut made_by_plates = object("car", None);
        made_by_plates.model = Some("plates".into());
        assert_eq!(label_lines(&spec, &made_by_plates), ["car"]);
        assert_eq!(label_lines(&spec, &object("plate", None)), ["plate"]);
        // Savant draws only what rendered_objects lists.
        let mut ops = Vec::new();
        spec.ops(&[object("bus", None)], &mut ops);
        assert!(ops.is_empty());
    }

    #[test]
    fn an_empty_draw_func_block_is_savants_default_drawing() {
        for yaml in [
            "{}",
            "parameters: {draw_func: {}}",
            "parameters: {draw_func: null}",
        ] {
            let spec = DrawSpec::parse(yaml).unwrap();
            let mut untracked = object("dog", None);
            untracked.track_id = None;
            assert_eq!(label_lines(&spec, &untracked), ["dog"], "{yaml}");
            assert_eq!(
                label_lines(&spec, &object("dog", None)),
                ["dog #7"],
                "{yaml}"
            );
        }
    }

    #[test]
    fn floats_print_shortly_without_a_spec() {
        gst::init().unwrap();
        let spec = DrawSpec::parse(
            "labels: {car: {label: {format: ['{confidence} {attributes.v} {attributes.n:05d} {attributes.on}']}}}",
        )
        .unwrap();
        let attributes = gst::Structure::builder("a")
            .field("v", 0.1f64)
            .field("n", 42i64)
            .field("on", true)
            .build();
        assert_eq!(
            label_lines(&spec, &object("car", Some(attributes))),
            ["0.8734567 0.1 00042 True"]
        );
    }

    #[test]
    fn bad_placeholders_and_format_specs_name_the_yaml_path() {
        let cases = [
            (
                "rendered_objects: {yolo: {car: {label: {format: ['{label}', '{speed}']}}}}",
                "rendered_objects.yolo.car.label.format[1]: unknown placeholder {speed}",
            ),
            (
                "parameters: {draw_func: {rendered_objects: {yolo: {car: {label: {format: ['{confidence:.2q}']}}}}}}",
                "parameters.draw_func.rendered_objects.yolo.car.label.format[0]: bad format spec {confidence:.2q}",
            ),
            (
                "labels: {car: {label: {format: ['{label:.2f}']}}}",
                "labels.car.label.format[0]: bad format spec {label:.2f}: numeric format for a string value",
            ),
            (
                "labels: {car: {label: {format: ['{track_id:.1}']}}}",
                "labels.car.label.format[0]: bad format spec",
            ),
            (
                "labels: {car: {label: {format: ['a } b']}}}",
                "labels.car.label.format[0]: single '}'",
            ),
            (
                "rendered_objects: {yolo: {car: {label: {position: {position: Top}}}}}",
                "rendered_objects.yolo.car.label.position.position: unknown position",
            ),
            (
                "rendered_objects: {yolo: {car: {label: {position: {margin: 1}}}}}",
                "rendered_objects.yolo.car.label.position.margin: unknown key",
            ),
            (
                "parameters: {draw_func: {module: my.draw, class_name: Draw}}",
                "parameters.draw_func.module: picks Python code",
            ),
            ("parameters: {frame: {width: 1}}", "parameters.draw_func: missing"),
            ("rendered_objects: {yolo: [1]}", "rendered_objects.yolo: must be a mapping"),
        ];
        assert_parse_errors(&cases);
    }

    #[test]
    fn savants_layout_gets_savants_defaults_and_stacks_label_lines_as_savant_does() {
        gst::init().unwrap();
        let car = object("car", None);
        let px = 0.5 * PX_PER_SCALE;
        let line_h = text_block_size(&["x".to_owned()], px, 0.0).1;
        // (position, where each line's text box starts, top to bottom).
        let texts = |spec: &DrawSpec| -> Vec<(String, f32, f32)> {
            let mut ops = Vec::new();
            spec.ops(std::slice::from_ref(&car), &mut ops);
            let mut texts: Vec<(String, f32, f32)> = ops
                .into_iter()
                .filter_map(|op| match op {
                    DrawOp::Text { lines, x, y, .. } => Some((lines.join("|"), x, y)),
                    _ => None,
                })
                .collect();
            texts.sort_by(|a, b| a.2.total_cmp(&b.2));
            texts
        };
        let savant = |label: &str| {
            DrawSpec::parse(&format!(
                "rendered_objects: {{det: {{car: {{label: {{format: [one, two]{label}}}, central_dot: {{}}}}}}}}"
            ))
            .unwrap()
        };
        // The box is at (40, 40, 20, 20). Outside: 10 px above it, last line
        // lowest, each line its own box.
        assert_eq!(
            texts(&savant("")),
            [
                ("one".to_owned(), 40.0, 30.0 - 2.0 * line_h),
                ("two".to_owned(), 40.0, 30.0 - line_h)
            ]
        );
        assert_eq!(
            texts(&savant(
                ", position: {position: TopLeftInside, margin_y: 0}"
            )),
            [
                ("one".to_owned(), 40.0, 40.0),
                ("two".to_owned(), 40.0, 40.0 + line_h)
            ]
        );
        let centred = texts(&savant(", position: {position: Center}"));
        assert_eq!(
            centred[0].2,
            50.0 - 10.0 - line_h / 2.0,
            "centred, margin_y -10"
        );
        assert_eq!(centred[1].2, centred[0].2 + line_h);
        // Savant's central dot is green; ours red.
        let dot = |spec: &DrawSpec| {
            let mut ops = Vec::new();
            spec.ops(std::slice::from_ref(&car), &mut ops);
            ops.into_iter().find_map(|op| match op {
                DrawOp::Circle { color, .. } => Some(color),
                _ => None,
            })
        };
        assert_eq!(dot(&savant("")), Some(Rgba::new(0, 255, 0, 255)));
        let ours = DrawSpec::parse("labels: {car: {central_dot: {}}}").unwrap();
        assert_eq!(dot(&ours), Some(Rgba::new(255, 0, 0, 255)));
        // Savant's default drawing: "car #7" 10 px above the box, no padding.
        let default = DrawSpec::savant_default();
        assert_eq!(
            texts(&default),
            [("car #7".to_owned(), 40.0, 30.0 - line_h)]
        );
        // Our flat form keeps its block on the box's edge.
        let flat = DrawSpec::parse("labels: {car: {label: {format: [one, two]}}}").unwrap();
        assert_eq!(
            texts(&flat),
            [("one|two".to_owned(), 40.0, 40.0 - 2.0 * line_h)]
        );
    }
}

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
//! ```
//! Only the parts present are drawn. Every error names its YAML path.

use std::collections::HashMap;
use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::color::Rgba;
use super::ops::{text_block_size, DrawOp};
use super::pyformat::{short_float, FormatSpec, FormatValue, ValueKind};
use super::text::{capped_line, PX_PER_SCALE};
use crate::frame::objects::ObjectData;
use crate::yaml::{check_keys, error, join, kind, mapping, ConfigError};

/// Largest accepted sizes: beyond these a value is a typo, not a drawing.
const MAX_THICKNESS: f64 = 100.0;
const MAX_RADIUS: f64 = 1000.0;
const MAX_OFFSET: f64 = 10_000.0;
const MAX_FONT_SCALE: f64 = 20.0;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Padding {
    pub left: f32,
    pub top: f32,
    pub right: f32,
    pub bottom: f32,
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

#[derive(Debug, Clone, PartialEq)]
enum Field {
    Label,
    Confidence,
    TrackId,
    /// The object's `model` attribute, else the `rendered_objects` unit its spec
    /// came from (objects here carry no creating unit of their own).
    Model,
    /// The frame's source id (savantmux); empty without one.
    SourceId,
    Attribute(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    /// A placeholder and its Python format spec (`None`: the value's `str()`).
    Field(Field, Option<FormatSpec>),
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
}

impl DrawSpec {
    /// Savant's behaviour without a spec: a green box and a white-on-black
    /// "label #track" for every object.
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
                    margin_y: 0.0,
                    padding: Padding {
                        left: 2.0,
                        top: 1.0,
                        right: 2.0,
                        bottom: 1.0,
                    },
                }),
                central_dot: None,
                blur: false,
                source: Value::Null,
            }),
            labels: HashMap::new(),
            rendered: Vec::new(),
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
        // Savant's `draw_func: {}` is its default drawing of every object.
        if root.is_empty() {
            return Ok(Self::savant_default());
        }
        let default = match root.get("default") {
            None | Some(Value::Null) => None,
            Some(v) => Some(object_spec(v, &join(path, "default"))?),
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
                        v => object_spec(v, &path)?,
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
                            v => object_spec(v, &path)?,
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
    pub fn source_for(&self, object: &ObjectData) -> Option<&Value> {
        self.for_object(object).map(|(spec, _)| &spec.source)
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
                let p = bbox.padding;
                out.push(DrawOp::Rect {
                    x: x - p.left,
                    y: y - p.top,
                    w: w + p.left + p.right,
                    h: h + p.top + p.bottom,
                    radius: 0.0,
                    border: bbox.border,
                    background: bbox.background,
                    thickness: bbox.thickness,
                });
            }
            if let Some(label) = &spec.label {
                let format = match (&label.untracked_format, object.track_id) {
                    (Some(untracked), None) => untracked,
                    _ => &label.format,
                };
                let lines: Vec<String> = format.iter().map(|f| render(f, object, unit)).collect();
                let px = label.font_scale * PX_PER_SCALE;
                let p = label.padding;
                let (text_w, text_h) = text_block_size(&lines, px, 0.0);
                let (block_w, block_h) = (text_w + p.left + p.right, text_h + p.top + p.bottom);
                let (bx, by) = match label.position {
                    LabelPosition::TopLeftInside => (x + label.margin_x, y + label.margin_y),
                    LabelPosition::TopLeftOutside => {
                        (x + label.margin_x, y + label.margin_y - block_h)
                    }
                    LabelPosition::Center => (
                        x + (w - block_w) / 2.0 + label.margin_x,
                        y + (h - block_h) / 2.0 + label.margin_y,
                    ),
                };
                out.push(DrawOp::Rect {
                    x: bx,
                    y: by,
                    w: block_w,
                    h: block_h,
                    radius: 0.0,
                    border: label.border,
                    background: label.background,
                    thickness: 1.0,
                });
                out.push(DrawOp::Text {
                    lines,
                    x: bx + p.left,
                    y: by + p.top,
                    px,
                    color: label.font_color,
                    background: Rgba::default(),
                    border: Rgba::default(),
                    padding: 0.0,
                });
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

/// One label line for `object`, cut at `text::MAX_LINE_CHARS` characters (an
/// attribute may hold anything). `unit` is the `rendered_objects` unit whose spec
/// matched, if any.
fn render(format: &[Segment], object: &ObjectData, unit: Option<&str>) -> String {
    let mut line = String::new();
    for segment in format {
        let (field, spec) = match segment {
            Segment::Text(t) => {
                line.push_str(t);
                continue;
            }
            Segment::Field(field, spec) => (field, spec),
        };
        let attribute = |name: &str| object.attributes.as_ref().and_then(|a| a.value(name).ok());
        let owned;
        let value = match field {
            Field::Label => Some(FormatValue::Str(&object.label)),
            // A missing value prints nothing (Savant would print "None").
            Field::Confidence => object.confidence.map(FormatValue::Float),
            Field::TrackId => object.track_id.map(FormatValue::Int),
            Field::Model => match object
                .model
                .as_deref()
                .or_else(|| attribute("model").and_then(|v| v.get::<&str>().ok()))
            {
                Some(model) => Some(FormatValue::Str(model)),
                None => Some(FormatValue::Str(unit.unwrap_or(""))),
            },
            Field::SourceId => Some(FormatValue::Str(object.source_id.as_deref().unwrap_or(""))),
            Field::Attribute(name) => match attribute(name) {
                None => None,
                Some(value) => {
                    owned = attribute_text(value);
                    Some(match &owned {
                        AttributeValue::Value(v) => v.clone(),
                        AttributeValue::Text(t) => FormatValue::Str(t),
                    })
                }
            },
        };
        match (value, spec) {
            (None, _) => {}
            (Some(value), Some(spec)) => spec.write(&value, &mut line),
            (Some(FormatValue::Str(s)), None) => line.push_str(s),
            (Some(FormatValue::Float(x)), None) => line.push_str(&short_float(x)),
            (Some(value), None) => FormatSpec::default().write(&value, &mut line),
        }
    }
    let end = capped_line(&line).len();
    line.truncate(end);
    line
}

enum AttributeValue {
    Value(FormatValue<'static>),
    Text(String),
}

/// An attribute as the value Python would see (str, int, float, bool).
fn attribute_text(value: &gst::glib::SendValue) -> AttributeValue {
    if let Ok(b) = value.get::<bool>() {
        AttributeValue::Value(FormatValue::Bool(b))
    } else if let Ok(n) = value.get::<i64>() {
        AttributeValue::Value(FormatValue::Int(n))
    } else if let Ok(n) = value.get::<i32>() {
        AttributeValue::Value(FormatValue::Int(n.into()))
    } else if let Ok(n) = value.get::<u32>() {
        AttributeValue::Value(FormatValue::Int(n.into()))
    } else if let Ok(n) = value.get::<u64>() {
        match i64::try_from(n) {
            Ok(n) => AttributeValue::Value(FormatValue::Int(n)),
            Err(_) => AttributeValue::Text(n.to_string()),
        }
    } else if let Ok(x) = value.get::<f64>() {
        AttributeValue::Value(FormatValue::Float(x))
    } else if let Ok(x) = value.get::<f32>() {
        AttributeValue::Value(FormatValue::Float(x.into()))
    } else if let Ok(s) = value.get::<String>() {
        AttributeValue::Text(s)
    } else {
        // Bounded: a deep or doubling value draws as the reason, not a gigabyte.
        AttributeValue::Text(
            crate::frame::value_text::render(value).unwrap_or_else(|e| format!("<value {e}>")),
        )
    }
}

/// A Python format string: `{{`/`}}` are braces, `{name}` or `{name:spec}` a field.
fn parse_format(text: &str, path: &str) -> Result<Vec<Segment>, ConfigError> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                chars.next();
                literal.push('}');
            }
            '}' => {
                return error(
                    path,
                    format!("single '}}' in {text:?} (write '}}}}' for a brace)"),
                )
            }
            '{' => {
                let Some(close) = text[i..].find('}') else {
                    return error(path, format!("unclosed '{{' in {text:?}"));
                };
                let inner = &text[i + 1..i + close];
                if inner.contains('{') {
                    return error(path, format!("nested fields are not supported in {text:?}"));
                }
                while chars.peek().is_some_and(|&(j, _)| j <= i + close) {
                    chars.next();
                }
                if !literal.is_empty() {
                    segments.push(Segment::Text(std::mem::take(&mut literal)));
                }
                segments.push(field(inner, path)?);
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        segments.push(Segment::Text(literal));
    }
    Ok(segments)
}

/// One `name[:spec]` field, checked now so that a typo fails at start.
fn field(inner: &str, path: &str) -> Result<Segment, ConfigError> {
    let (name, spec) = match inner.split_once(':') {
        Some((name, spec)) => (name, Some(spec)),
        None => (inner, None),
    };
    if name.contains('!') {
        return error(path, format!("conversions ({{{inner}}}) are not supported"));
    }
    let (field, kind) = match name {
        "label" => (Field::Label, ValueKind::Str),
        "confidence" => (Field::Confidence, ValueKind::Float),
        "track_id" => (Field::TrackId, ValueKind::Int),
        "model" => (Field::Model, ValueKind::Str),
        "source_id" => (Field::SourceId, ValueKind::Str),
        _ => match name.strip_prefix("attributes.") {
            Some(attribute) if !attribute.is_empty() => {
                (Field::Attribute(attribute.to_owned()), ValueKind::Any)
            }
            _ => {
                return error(
                    path,
                    format!(
                        "unknown placeholder {{{name}}} (use {{label}}, {{confidence}}, {{track_id}}, {{model}}, {{source_id}} or {{attributes.NAME}}, each with an optional Python format spec such as {{confidence:.2f}})"
                    ),
                )
            }
        },
    };
    let spec = match spec {
        None => None,
        Some(spec) => Some(
            FormatSpec::parse(spec, kind)
                .or_else(|e| error(path, format!("bad format spec {{{inner}}}: {e}")))?,
        ),
    };
    Ok(Segment::Field(field, spec))
}

fn label_key<'a>(key: &'a Value, path: &str) -> Result<&'a str, ConfigError> {
    match key.as_str() {
        Some("") => error(path, "an empty name cannot be matched"),
        Some(key) => Ok(key),
        // YAML reads `1:` or `true:` as a number or boolean; labels are text.
        None => error(path, format!("names must be strings, got {}", kind(key))),
    }
}

fn object_spec(value: &Value, path: &str) -> Result<ObjectSpec, ConfigError> {
    let map = mapping(value, path)?;
    check_keys(map, path, &["bbox", "label", "central_dot", "blur"])?;
    let part = |key: &str| map.get(key).filter(|v| !v.is_null());
    Ok(ObjectSpec {
        bbox: part("bbox")
            .map(|v| bbox_spec(v, &join(path, "bbox")))
            .transpose()?,
        label: part("label")
            .map(|v| label_spec(v, &join(path, "label")))
            .transpose()?,
        central_dot: part("central_dot")
            .map(|v| dot_spec(v, &join(path, "central_dot")))
            .transpose()?,
        blur: match map.get("blur") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return error(
                    join(path, "blur"),
                    format!("must be true or false, got {}", kind(other)),
                )
            }
        },
        source: value.clone(),
    })
}

/// A spec's YAML as Python sees it in `override_draw_spec`: dicts, lists, strings,
/// numbers, booleans and None.
pub fn value_to_py<'py>(
    py: pyo3::Python<'py>,
    value: &Value,
) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyList};
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => pyo3::types::PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(f)) => f.into_pyobject(py)?.into_any(),
            _ => py.None().into_bound(py),
        },
        Value::String(text) => text.into_pyobject(py)?.into_any(),
        Value::Sequence(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Mapping(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(value_to_py(py, key)?, value_to_py(py, item)?)?;
            }
            dict.into_any()
        }
        Value::Tagged(tagged) => value_to_py(py, &tagged.value)?,
    })
}

/// What `override_draw_spec` returned, back as YAML for the spec parser; `path`
/// names the place in errors.
pub fn py_to_value(value: &pyo3::Bound<'_, pyo3::PyAny>, path: &str) -> Result<Value, String> {
    py_to_value_within(value, path, 0)
}

/// Deeper than any spec (object -> bbox -> padding is 3): a dict that contains
/// itself must be an error, not a stack overflow.
const MAX_SPEC_DEPTH: usize = 16;

fn py_to_value_within(
    value: &pyo3::Bound<'_, pyo3::PyAny>,
    path: &str,
    depth: usize,
) -> Result<Value, String> {
    use pyo3::prelude::*;
    if depth > MAX_SPEC_DEPTH {
        return Err(format!(
            "{path}: nested deeper than {MAX_SPEC_DEPTH} levels"
        ));
    }
    use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        let i: i64 = value
            .extract()
            .map_err(|_| format!("{path}: integer out of range"))?;
        return Ok(Value::Number(i.into()));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return Ok(Value::Number(f.value().into()));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Value::String(text.to_string()));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, item) in value.try_iter().map_err(|e| e.to_string())?.enumerate() {
            let item = item.map_err(|e| e.to_string())?;
            items.push(py_to_value_within(
                &item,
                &format!("{path}[{i}]"),
                depth + 1,
            )?);
        }
        return Ok(Value::Sequence(items));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = Mapping::new();
        for (key, item) in dict.iter() {
            let key: String = key
                .extract()
                .map_err(|_| format!("{path}: keys must be str"))?;
            let item = py_to_value_within(&item, &format!("{path}.{key}"), depth + 1)?;
            map.insert(Value::String(key), item);
        }
        return Ok(Value::Mapping(map));
    }
    Err(format!(
        "{path}: {} is not a spec value (dict, list, str, number, bool or None)",
        value
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    ))
}

/// One object's spec from YAML (or a dict a draw hook returned), checked as the
/// file's are; `path` names it in errors.
pub fn parse_object_spec(value: &Value, path: &str) -> Result<ObjectSpec, ConfigError> {
    object_spec(value, path)
}

fn color(map: &Mapping, path: &str, key: &str, default: Rgba) -> Result<Rgba, ConfigError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(s)) => Rgba::parse(s).or_else(|e| error(join(path, key), e)),
        Some(other) => error(
            join(path, key),
            format!("must be an RRGGBBAA string, got {}", kind(other)),
        ),
    }
}

fn number(
    map: &Mapping,
    path: &str,
    key: &str,
    default: f64,
    min: f64,
    max: f64,
) -> Result<f32, ConfigError> {
    let value = match map.get(key) {
        None | Some(Value::Null) => return Ok(default as f32),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(other) => {
            return error(
                join(path, key),
                format!("must be a number, got {}", kind(other)),
            )
        }
    };
    if !(min..=max).contains(&value) {
        return error(
            join(path, key),
            format!("must be between {min} and {max}, got {value}"),
        );
    }
    Ok(value as f32)
}

fn padding(map: &Mapping, path: &str) -> Result<Padding, ConfigError> {
    let Some(value) = map.get("padding").filter(|v| !v.is_null()) else {
        return Ok(Padding::default());
    };
    let path = join(path, "padding");
    let map = mapping(value, &path)?;
    check_keys(map, &path, &["left", "top", "right", "bottom"])?;
    let side = |key| number(map, &path, key, 0.0, -MAX_OFFSET, MAX_OFFSET);
    Ok(Padding {
        left: side("left")?,
        top: side("top")?,
        right: side("right")?,
        bottom: side("bottom")?,
    })
}

fn bbox_spec(value: &Value, path: &str) -> Result<BBoxSpec, ConfigError> {
    let map = mapping(value, path)?;
    check_keys(
        map,
        path,
        &[
            "border_color",
            "background_color",
            "backgound_color",
            "thickness",
            "padding",
        ],
    )?;
    // Savant's documentation spells it `backgound_color`; its code reads the other.
    let background_key = if map.contains_key("backgound_color") {
        "backgound_color"
    } else {
        "background_color"
    };
    Ok(BBoxSpec {
        border: color(map, path, "border_color", Rgba::new(0, 255, 0, 255))?,
        background: color(map, path, background_key, Rgba::default())?,
        thickness: number(map, path, "thickness", 2.0, 0.0, MAX_THICKNESS)?,
        padding: padding(map, path)?,
    })
}

fn label_spec(value: &Value, path: &str) -> Result<LabelSpec, ConfigError> {
    let map = mapping(value, path)?;
    check_keys(
        map,
        path,
        &[
            "font_color",
            "background_color",
            "border_color",
            "font_scale",
            "thickness",
            "format",
            "position",
            "margin_x",
            "margin_y",
            "padding",
        ],
    )?;
    // Savant's `thickness` is the stroke of Hershey fonts; real glyphs have their own.
    number(map, path, "thickness", 1.0, 0.0, MAX_THICKNESS)?;
    let format = match map.get("format") {
        None | Some(Value::Null) => vec![parse_format("{label}", "")?],
        Some(Value::String(s)) => vec![parse_format(s, &join(path, "format"))?],
        Some(Value::Sequence(lines)) => lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let line_path = format!("{path}.format[{i}]");
                match line {
                    Value::String(s) => parse_format(s, &line_path),
                    other => error(line_path, format!("must be a string, got {}", kind(other))),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return error(
                join(path, "format"),
                format!("must be a list of strings, got {}", kind(other)),
            )
        }
    };
    let (position, margin_x, margin_y) = match map.get("position") {
        // Savant's form: `position: {position, margin_x, margin_y}`, margins added.
        Some(Value::Mapping(nested)) => {
            let nested_path = join(path, "position");
            if map.contains_key("margin_x") || map.contains_key("margin_y") {
                return error(
                    join(path, "margin_x"),
                    "give the margins inside position: {position, margin_x, margin_y}",
                );
            }
            check_keys(nested, &nested_path, &["position", "margin_x", "margin_y"])?;
            (
                position_kind(nested.get("position"), &join(&nested_path, "position"))?,
                number(
                    nested,
                    &nested_path,
                    "margin_x",
                    0.0,
                    -MAX_OFFSET,
                    MAX_OFFSET,
                )?,
                number(
                    nested,
                    &nested_path,
                    "margin_y",
                    0.0,
                    -MAX_OFFSET,
                    MAX_OFFSET,
                )?,
            )
        }
        // Our flat form: an outside label's margin_y lifts it above the box.
        flat => {
            let position = position_kind(flat, &join(path, "position"))?;
            let margin_y = number(map, path, "margin_y", 0.0, -MAX_OFFSET, MAX_OFFSET)?;
            (
                position,
                number(map, path, "margin_x", 0.0, -MAX_OFFSET, MAX_OFFSET)?,
                if position == LabelPosition::TopLeftOutside {
                    -margin_y
                } else {
                    margin_y
                },
            )
        }
    };
    Ok(LabelSpec {
        font_color: color(map, path, "font_color", Rgba::new(255, 255, 255, 255))?,
        background: color(map, path, "background_color", Rgba::new(0, 0, 0, 255))?,
        border: color(map, path, "border_color", Rgba::default())?,
        font_scale: number(map, path, "font_scale", 0.5, 0.05, MAX_FONT_SCALE)?,
        format,
        untracked_format: None,
        position,
        margin_x,
        margin_y,
        padding: padding(map, path)?,
    })
}

fn position_kind(value: Option<&Value>, path: &str) -> Result<LabelPosition, ConfigError> {
    match value {
        None | Some(Value::Null) => Ok(LabelPosition::TopLeftOutside),
        Some(Value::String(p)) => match p.as_str() {
            "TopLeftInside" => Ok(LabelPosition::TopLeftInside),
            "TopLeftOutside" => Ok(LabelPosition::TopLeftOutside),
            "Center" => Ok(LabelPosition::Center),
            other => error(
                path,
                format!("unknown position {other:?} (TopLeftInside, TopLeftOutside or Center)"),
            ),
        },
        Some(other) => error(
            path,
            format!(
                "must be a string or {{position, margin_x, margin_y}}, got {}",
                kind(other)
            ),
        ),
    }
}

fn dot_spec(value: &Value, path: &str) -> Result<DotSpec, ConfigError> {
    let map = mapping(value, path)?;
    check_keys(map, path, &["color", "radius"])?;
    Ok(DotSpec {
        color: color(map, path, "color", Rgba::new(255, 0, 0, 255))?,
        radius: number(map, path, "radius", 5.0, 0.0, MAX_RADIUS)?,
    })
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

    fn label_lines(spec: &DrawSpec, object: &ObjectData) -> Vec<String> {
        let mut ops = Vec::new();
        spec.ops(std::slice::from_ref(object), &mut ops);
        ops.into_iter()
            .find_map(|op| match op {
                DrawOp::Text { lines, .. } => Some(lines),
                _ => None,
            })
            .unwrap_or_default()
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
        for (yaml, expected) in cases {
            let message = DrawSpec::parse(yaml).unwrap_err().to_string();
            assert!(message.contains(expected), "{yaml}: {message}");
        }
    }
}

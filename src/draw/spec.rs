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
//! Only the parts present are drawn. Every error names its YAML path.

use std::collections::HashMap;
use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::color::Rgba;
use super::ops::{text_block_size, DrawOp};
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
enum Segment {
    Text(String),
    Label,
    Confidence,
    TrackId,
    Attribute(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LabelSpec {
    pub font_color: Rgba,
    pub background: Rgba,
    pub border: Rgba,
    pub font_scale: f32,
    format: Vec<Vec<Segment>>,
    pub position: LabelPosition,
    pub margin_x: f32,
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
}

#[derive(Debug, Clone, PartialEq)]
pub struct DrawSpec {
    default: Option<ObjectSpec>,
    labels: HashMap<String, ObjectSpec>,
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
            }),
            labels: HashMap::new(),
        }
    }

    /// `spec` is a YAML file path or the YAML itself; empty means Savant's default.
    pub fn load(spec: &str) -> Result<Self, ConfigError> {
        if spec.trim().is_empty() {
            return Ok(Self::savant_default());
        }
        let is_path = !spec.contains('\n') && !spec.contains(':') && Path::new(spec).is_file();
        if is_path || (!spec.contains('\n') && (spec.ends_with(".yml") || spec.ends_with(".yaml")))
        {
            let text = std::fs::read_to_string(spec)
                .or_else(|e| error("", format!("cannot read draw spec {spec}: {e}")))?;
            return Self::parse(&text);
        }
        Self::parse(spec)
    }

    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let root: Value =
            serde_yaml::from_str(text).or_else(|e| error("", format!("invalid YAML: {e}")))?;
        if root.is_null() {
            return Ok(Self::savant_default());
        }
        let root = mapping(&root, "")?;
        check_keys(root, "", &["default", "labels"])?;
        let default = match root.get("default") {
            None | Some(Value::Null) => None,
            Some(v) => Some(object_spec(v, "default")?),
        };
        let mut labels = HashMap::new();
        match root.get("labels") {
            None | Some(Value::Null) => {}
            Some(v) => {
                for (label, spec) in mapping(v, "labels")? {
                    let Some(label) = label.as_str() else {
                        return error(
                            "labels",
                            format!("labels must be strings, got {}", kind(label)),
                        );
                    };
                    if label.is_empty() {
                        return error("labels", "an empty label cannot be matched");
                    }
                    let path = format!("labels.{label}");
                    let spec = match spec {
                        Value::Null => ObjectSpec::default(),
                        v => object_spec(v, &path)?,
                    };
                    labels.insert(label.to_owned(), spec);
                }
            }
        }
        Ok(Self { default, labels })
    }

    fn for_label(&self, label: &str) -> Option<&ObjectSpec> {
        self.labels.get(label).or(self.default.as_ref())
    }

    /// Appends the display list for `objects`: blurs first (under everything), then
    /// per object box, central dot and label.
    pub fn ops(&self, objects: &[ObjectData], out: &mut Vec<DrawOp>) {
        for object in objects {
            if let Some(spec) = self.for_label(&object.label) {
                if spec.blur {
                    out.push(DrawOp::Blur {
                        x: object.x as i32,
                        y: object.y as i32,
                        w: object.w as i32,
                        h: object.h as i32,
                    });
                }
            }
        }
        for object in objects {
            let Some(spec) = self.for_label(&object.label) else {
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
            if let Some(dot) = &spec.central_dot {
                out.push(DrawOp::Circle {
                    cx: x + w / 2.0,
                    cy: y + h / 2.0,
                    radius: dot.radius,
                    thickness: 0.0,
                    color: dot.color,
                });
            }
            if let Some(label) = &spec.label {
                let lines: Vec<String> = label.format.iter().map(|f| render(f, object)).collect();
                let px = label.font_scale * PX_PER_SCALE;
                let p = label.padding;
                let (text_w, text_h) = text_block_size(&lines, px, 0.0);
                let (block_w, block_h) = (text_w + p.left + p.right, text_h + p.top + p.bottom);
                let (bx, by) = match label.position {
                    LabelPosition::TopLeftInside => (x + label.margin_x, y + label.margin_y),
                    LabelPosition::TopLeftOutside => {
                        (x + label.margin_x, y - label.margin_y - block_h)
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
        }
    }
}

/// One label line for `object`, cut at `text::MAX_LINE_CHARS` characters (an
/// attribute may hold anything).
fn render(format: &[Segment], object: &ObjectData) -> String {
    let mut line = String::new();
    for segment in format {
        match segment {
            Segment::Text(t) => line.push_str(t),
            Segment::Label => line.push_str(&object.label),
            Segment::Confidence => {
                if let Some(c) = object.confidence {
                    line.push_str(&format!("{c:.2}"));
                }
            }
            Segment::TrackId => {
                if let Some(t) = object.track_id {
                    line.push_str(&t.to_string());
                }
            }
            Segment::Attribute(name) => {
                if let Some(value) = object
                    .attributes
                    .as_ref()
                    .and_then(|a| a.value(name.as_str()).ok())
                {
                    use gst::prelude::*;
                    let text = value
                        .get::<String>()
                        .ok()
                        .or_else(|| value.serialize().ok().map(|s| s.to_string()))
                        .unwrap_or_default();
                    line.push_str(&text);
                }
            }
        }
    }
    let end = capped_line(&line).len();
    line.truncate(end);
    line
}

fn parse_format(text: &str, path: &str) -> Result<Vec<Segment>, ConfigError> {
    let mut segments = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            segments.push(Segment::Text(rest[..open].to_owned()));
        }
        let Some(close) = rest[open..].find('}') else {
            return error(path, format!("unclosed '{{' in {text:?}"));
        };
        let name = &rest[open + 1..open + close];
        segments.push(match name {
            "label" => Segment::Label,
            "confidence" => Segment::Confidence,
            "track_id" => Segment::TrackId,
            _ => match name.strip_prefix("attributes.") {
                Some(attribute) if !attribute.is_empty() => Segment::Attribute(attribute.to_owned()),
                _ => {
                    return error(
                        path,
                        format!(
                            "unknown placeholder {{{name}}} (use {{label}}, {{confidence}}, {{track_id}} or {{attributes.NAME}})"
                        ),
                    )
                }
            },
        });
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest.to_owned()));
    }
    Ok(segments)
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
    })
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
        &["border_color", "background_color", "thickness", "padding"],
    )?;
    Ok(BBoxSpec {
        border: color(map, path, "border_color", Rgba::new(0, 255, 0, 255))?,
        background: color(map, path, "background_color", Rgba::default())?,
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
    let position = match map.get("position") {
        None | Some(Value::Null) => LabelPosition::TopLeftOutside,
        Some(Value::String(p)) => match p.as_str() {
            "TopLeftInside" => LabelPosition::TopLeftInside,
            "TopLeftOutside" => LabelPosition::TopLeftOutside,
            "Center" => LabelPosition::Center,
            other => {
                return error(
                    join(path, "position"),
                    format!("unknown position {other:?} (TopLeftInside, TopLeftOutside or Center)"),
                )
            }
        },
        Some(other) => {
            return error(
                join(path, "position"),
                format!("must be a string, got {}", kind(other)),
            )
        }
    };
    Ok(LabelSpec {
        font_color: color(map, path, "font_color", Rgba::new(255, 255, 255, 255))?,
        background: color(map, path, "background_color", Rgba::new(0, 0, 0, 255))?,
        border: color(map, path, "border_color", Rgba::default())?,
        font_scale: number(map, path, "font_scale", 0.5, 0.05, MAX_FONT_SCALE)?,
        format,
        position,
        margin_x: number(map, path, "margin_x", 0.0, -MAX_OFFSET, MAX_OFFSET)?,
        margin_y: number(map, path, "margin_y", 0.0, -MAX_OFFSET, MAX_OFFSET)?,
        padding: padding(map, path)?,
    })
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
            attributes: Some(gst::Structure::builder("a").field("color", "red").build()),
        };
        let lines: Vec<String> = car
            .label
            .as_ref()
            .unwrap()
            .format
            .iter()
            .map(|f| render(f, &object))
            .collect();
        assert_eq!(lines, ["car #3", "0.50", "red"]);
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
                "labels: an empty label cannot be matched",
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
            attributes: None,
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
}

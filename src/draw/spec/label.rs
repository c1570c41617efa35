//! Label format strings: `{label} {confidence:.2f}` parsed once, rendered per
//! object, in Python's format-spec syntax.

// The spec's types, and what the parent imports (YAML, colours, text).
use super::*;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Field {
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
pub(super) enum Segment {
    Text(String),
    /// A placeholder and its Python format spec (`None`: the value's `str()`).
    Field(Field, Option<FormatSpec>),
}

/// One label line for `object`, cut at `text::MAX_LINE_CHARS` characters (an
/// attribute may hold anything). `unit` is the `rendered_objects` unit whose spec
/// matched, if any.
pub(super) fn render(format: &[Segment], object: &ObjectData, unit: Option<&str>) -> String {
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
pub(super) fn parse_format(text: &str, path: &str) -> Result<Vec<Segment>, ConfigError> {
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

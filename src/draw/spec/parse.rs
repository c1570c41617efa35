//! Checking a draw spec's YAML (or a dict `override_draw_spec` returned) into its
//! types; every error names its YAML path.

// The spec's types, and what the parent imports (YAML, colours, text).
use super::*;

pub(super) fn label_key<'a>(key: &'a Value, path: &str) -> Result<&'a str, ConfigError> {
    match key.as_str() {
        Some("") => error(path, "an empty name cannot be matched"),
        Some(key) => Ok(key),
        // YAML reads `1:` or `true:` as a number or boolean; labels are text.
        None => error(path, format!("names must be strings, got {}", kind(key))),
    }
}

pub(super) fn object_spec(
    value: &Value,
    path: &str,
    layout: Layout,
) -> Result<ObjectSpec, ConfigError> {
    let map = mapping(value, path)?;
    check_keys(map, path, &["bbox", "label", "central_dot", "blur"])?;
    let part = |key: &str| map.get(key).filter(|v| !v.is_null());
    Ok(ObjectSpec {
        bbox: part("bbox")
            .map(|v| bbox_spec(v, &join(path, "bbox")))
            .transpose()?,
        label: part("label")
            .map(|v| label_spec(v, &join(path, "label"), layout))
            .transpose()?,
        central_dot: part("central_dot")
            .map(|v| dot_spec(v, &join(path, "central_dot"), layout))
            .transpose()?,
        blur: match map.get("blur") {
            None | Some(Value::Null) => false,
            Some(v) if crate::yaml::boolean(v).is_some() => crate::yaml::boolean(v) == Some(true),
            Some(other) => {
                return error(
                    join(path, "blur"),
                    format!("must be true or false, got {}", kind(other)),
                )
            }
        },
        source: value.clone(),
        layout,
    })
}

/// One object's spec from YAML (or a dict a draw hook returned), checked as the
/// file's are, with `layout`'s defaults; `path` names it in errors.
///
/// # Errors
///
/// A key, colour, size or format string that does not check out.
pub(crate) fn parse_object_spec(
    value: &Value,
    path: &str,
    layout: Layout,
) -> Result<ObjectSpec, ConfigError> {
    object_spec(value, path, layout)
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

fn label_spec(value: &Value, path: &str, layout: Layout) -> Result<LabelSpec, ConfigError> {
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
    // savant_rs's LabelPosition puts labels 10 px above the box unless told.
    let default_margin_y = match layout {
        Layout::Ours => 0.0,
        Layout::Savant => f64::from(SAVANT_MARGIN_Y),
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
                    default_margin_y,
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
                if !map.contains_key("margin_y") {
                    default_margin_y as f32
                } else if position == LabelPosition::TopLeftOutside {
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
        layout,
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

fn dot_spec(value: &Value, path: &str, layout: Layout) -> Result<DotSpec, ConfigError> {
    let map = mapping(value, path)?;
    check_keys(map, path, &["color", "radius"])?;
    Ok(DotSpec {
        color: color(
            map,
            path,
            "color",
            match layout {
                Layout::Ours => Rgba::new(255, 0, 0, 255),
                // savant.utils.draw_spec: "default green color".
                Layout::Savant => Rgba::new(0, 255, 0, 255),
            },
        )?,
        radius: number(map, path, "radius", 5.0, 0.0, MAX_RADIUS)?,
    })
}

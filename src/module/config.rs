//! Savant's module YAML (`parameters`, `pipeline.elements`) parsed into a plan of
//! GStreamer elements, with Savant's queue-insertion rules. Interpolations
//! (`${parameters.x}`, `${oc.env:NAME, default}`) are resolved first, once.
//!
//! Parsed by hand from `serde_yaml::Value` rather than derived, so that every error
//! names its YAML path (`pipeline.elements[2].module`) and unknown keys are caught.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::interpolate::resolve_document;
pub use crate::yaml::ConfigError;
use crate::yaml::{check_keys, error, join, kind, mapping, non_negative, optional_string};

/// DeepStream's elements, which Savant modules name and which need NVIDIA's SDK.
const DEEPSTREAM_ELEMENTS: &[&str] = &[
    "nvinfer",
    "nvinferserver",
    "nvtracker",
    "nvdsosd",
    "nvstreammux",
    "nvstreamdemux",
    "nvvideoconvert",
    "nvdsanalytics",
    "nvdspreprocess",
    "nvmsgconv",
    "nvmsgbroker",
    "nvmultistreamtiler",
    "nvsegvisual",
    "nvdewarper",
    "nvof",
];

/// Savant's `buffer_queues` entry: `{length, byte_size}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSpec {
    pub length: u32,
    pub byte_size: u64,
}

impl Default for QueueSpec {
    /// Savant's defaults.
    fn default() -> Self {
        Self {
            length: 10,
            byte_size: 0,
        }
    }
}

/// What one `pipeline.elements` entry becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementPlan {
    /// The GStreamer factory: savantpyfunc, savantdrawfunc, or the entry's own.
    pub factory: String,
    pub name: Option<String>,
    /// Property name and value as text, deserialized against the property's type.
    pub properties: Vec<(String, String)>,
    /// YAML path of the entry, for errors found while building.
    pub path: String,
    pub is_python_stage: bool,
    pub is_pyfunc: bool,
    /// The queue around this element: the module's buffer_queues unless overridden.
    pub queue: Option<QueueSpec>,
    /// How this element moves the picture (Savant's padding), so the objects on
    /// its output are moved with it.
    pub reframe: Option<Reframe>,
}

/// A move of the picture by an element that adds or removes borders: `videobox`
/// copies ROI metas unmoved, so savantmodule moves them after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reframe {
    /// Borders added: objects move right and down by `left`, `top`; the frame's
    /// picture (Savant's primary object) is `left, top, width, height`.
    Padded {
        left: u32,
        top: u32,
        width: u32,
        height: u32,
    },
    /// Borders cut off: objects move back by `left`, `top` and are clipped to the
    /// `width` x `height` that is left.
    Cropped {
        left: u32,
        top: u32,
        width: u32,
        height: u32,
    },
}

/// One link of the final chain.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Queue(QueueSpec),
    Element(ElementPlan),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModuleConfig {
    pub name: Option<String>,
    pub buffer_queues: Option<QueueSpec>,
    /// The conversion every frame goes through first: to RGBA, and with
    /// `parameters.frame` to its size.
    pub frame: Vec<ElementPlan>,
    /// After it, in order: `pipeline.elements`, then `parameters.draw_func`'s
    /// savantdrawfunc.
    pub elements: Vec<ElementPlan>,
    /// After them: Savant's `frame.padding` with `keep: false` cut off again.
    pub tail: Vec<ElementPlan>,
    /// Savant settings the YAML sets that this module reads but does not apply
    /// (`parameters.telemetry`, `parameters.etcd`, `parameters.output_frame`):
    /// savantmodule names them in one WARNING.
    pub ignored: Vec<&'static str>,
    /// `parameters`, interpolated: what `savant.parameter_storage.param_storage()`
    /// gives this module's stages.
    pub parameters: serde_yaml::Mapping,
}

/// Savant's own settings that only mean something inside Savant's runtime.
const IGNORED_PARAMETERS: &[(&str, &str)] = &[
    ("telemetry", "parameters.telemetry"),
    ("etcd", "parameters.etcd"),
    ("output_frame", "parameters.output_frame"),
];

impl ModuleConfig {
    /// `config` is a path to a YAML file or the YAML text itself. Relative module file
    /// paths are resolved against the YAML file's directory when they exist there.
    ///
    /// # Errors
    ///
    /// As `parse`, and a file that cannot be read (or is not a regular file).
    pub fn load(config: &str) -> Result<Self, ConfigError> {
        if Self::looks_like_path(config) {
            let text = crate::yaml::read_config_file("module config", config)?;
            let base = Path::new(config).parent().map(Path::to_path_buf);
            Self::parse(&text, base.as_deref())
        } else {
            Self::parse(config, None)
        }
    }

    /// Whether `config` names a file rather than holding the YAML itself.
    pub fn looks_like_path(config: &str) -> bool {
        !config.contains('\n')
            && (config.ends_with(".yml")
                || config.ends_with(".yaml")
                // Any existing file, so that a FIFO or directory is refused as one
                // rather than read as YAML text.
                || Path::new(config).exists())
    }

    /// A module YAML's text; relative file paths are resolved against `base_dir`.
    ///
    /// # Errors
    ///
    /// YAML that does not parse, an interpolation that fails or grows past its
    /// bound, or a key or value that does not check out, naming its YAML path.
    pub fn parse(text: &str, base_dir: Option<&Path>) -> Result<Self, ConfigError> {
        let root: Value =
            serde_yaml::from_str(text).or_else(|e| error("", format!("invalid YAML: {e}")))?;
        mapping(&root, "")?;
        let root = resolve_document(&root)?;
        let root = mapping(&root, "")?;
        check_keys(root, "", &["name", "parameters", "pipeline"])?;

        let name = optional_string(root, "", "name")?;
        // Savant's parameters hold its own settings and any the user adds (read
        // through `${parameters.NAME}`); the ones that shape the bin are read here.
        let parameters = match root.get("parameters") {
            None | Some(Value::Null) => None,
            Some(parameters) => Some(mapping(parameters, "parameters")?),
        };
        let parameter = |key: &str| parameters.and_then(|p| p.get(key));
        let buffer_queues = match parameter("buffer_queues") {
            None => None,
            Some(q) => queue_spec(q, "parameters.buffer_queues")?,
        };
        if let Some(output) = parameter("output_frame") {
            if !matches!(output, Value::Null | Value::Mapping(_)) {
                return error(
                    "parameters.output_frame",
                    format!("must be a mapping, got {}", kind(output)),
                );
            }
        }
        let sized = parameter("frame").filter(|f| !f.is_null());
        let (frame, tail) = frame_elements(sized, "parameters.frame")?;
        let mut elements = Vec::new();
        let entries = match root.get("pipeline") {
            None | Some(Value::Null) => Vec::new(),
            Some(pipeline) => {
                let pipeline = mapping(pipeline, "pipeline")?;
                check_keys(pipeline, "pipeline", &["elements"])?;
                match pipeline.get("elements") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Sequence(entries)) => entries.clone(),
                    Some(_) => return error("pipeline.elements", "must be a list of elements"),
                }
            }
        };
        let dev_mode = match parameter("dev_mode") {
            None | Some(Value::Null) => false,
            Some(flag) if crate::yaml::boolean(flag).is_some() => {
                crate::yaml::boolean(flag) == Some(true)
            }
            Some(other) => {
                return error(
                    "parameters.dev_mode",
                    format!("must be a boolean, got {}", kind(other)),
                )
            }
        };
        let context = Context {
            module_queues: buffer_queues,
            base_dir,
            dev_mode,
        };
        for (i, entry) in entries.iter().enumerate() {
            entry_plans(
                entry,
                &format!("pipeline.elements[{i}]"),
                &context,
                &mut elements,
            )?;
        }
        // As in Savant, `draw_func: null` draws nothing: no element.
        if let Some(draw_func) = parameter("draw_func").filter(|d| !d.is_null()) {
            elements.push(draw_func_plan(draw_func, "parameters.draw_func", &context)?);
        }
        if elements.is_empty() && sized.is_none() {
            return if root.contains_key("pipeline") {
                error("pipeline.elements", "is empty")
            } else {
                error(
                    "pipeline",
                    "missing (a module needs pipeline.elements, parameters.frame or parameters.draw_func)",
                )
            };
        }
        let ignored = IGNORED_PARAMETERS
            .iter()
            .filter(|(key, _)| parameter(key).is_some_and(|v| !v.is_null()))
            .map(|(_, path)| *path)
            .collect();
        Ok(Self {
            name,
            buffer_queues,
            frame,
            elements,
            tail,
            ignored,
            parameters: parameters.cloned().unwrap_or_default(),
        })
    }

    /// The chain: the frame conversion, then the elements with queues inserted as
    /// Savant does: before every Python stage and after every pyfunc, never two in a
    /// row (the queue ahead of a stage wins).
    pub fn steps(&self) -> Vec<Step> {
        let mut steps: Vec<Step> = self.frame.iter().cloned().map(Step::Element).collect();
        let push_queue =
            |steps: &mut Vec<Step>, spec: QueueSpec, replace: bool| match steps.last_mut() {
                Some(Step::Queue(previous)) => {
                    if replace {
                        *previous = spec;
                    }
                }
                _ => steps.push(Step::Queue(spec)),
            };
        for element in &self.elements {
            if let (true, Some(spec)) = (element.is_python_stage, element.queue) {
                push_queue(&mut steps, spec, true);
            }
            steps.push(Step::Element(element.clone()));
            if let (true, Some(spec)) = (element.is_pyfunc, element.queue) {
                push_queue(&mut steps, spec, false);
            }
        }
        steps.extend(self.tail.iter().cloned().map(Step::Element));
        steps
    }
}

/// `null` (no queues) or `{length, byte_size}`.
fn queue_spec(value: &Value, path: &str) -> Result<Option<QueueSpec>, ConfigError> {
    if value.is_null() {
        return Ok(None);
    }
    let map = mapping(value, path)?;
    check_keys(map, path, &["length", "byte_size"])?;
    let defaults = QueueSpec::default();
    Ok(Some(QueueSpec {
        length: non_negative(map, path, "length", defaults.length as u64, u32::MAX as u64)? as u32,
        byte_size: non_negative(map, path, "byte_size", defaults.byte_size, u32::MAX as u64)?,
    }))
}

/// A YAML scalar as the text GStreamer deserializes a property value from.
fn scalar_text(value: &Value, path: &str) -> Result<String, ConfigError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => error(
            path,
            format!("must be a string, number or boolean, got {}", kind(other)),
        ),
    }
}

/// What every entry's plan needs from the module.
struct Context<'a> {
    module_queues: Option<QueueSpec>,
    base_dir: Option<&'a Path>,
    /// Savant's `parameters.dev_mode`: every Python stage reloads its code when its
    /// files change, unless the stage says otherwise.
    dev_mode: bool,
}

/// Savant's frames: RGBA (as Savant's always are, so `np.asarray(frame)` is an
/// image whatever the decoder gives), and with `frame: {width, height}` scaled to
/// that size as they enter. Without a size the conversion keeps any memory
/// (`videoconvert` passes CUDA frames that are RGBA already through).
///
/// Savant's `padding` adds black borders after the scaling (`videobox`), and
/// with `keep: false` cuts them off again at the end of the bin (the second list).
/// `geometry_base` is checked as Savant checks it: the size and every padding
/// side must be multiples of it.
fn frame_elements(
    value: Option<&Value>,
    path: &str,
) -> Result<(Vec<ElementPlan>, Vec<ElementPlan>), ConfigError> {
    let plain = |factory: &str, properties: Vec<(String, String)>| ElementPlan {
        factory: factory.to_owned(),
        name: None,
        properties,
        path: path.to_owned(),
        is_python_stage: false,
        is_pyfunc: false,
        queue: None,
        reframe: None,
    };
    let mut size = [None, None];
    let mut padding = None;
    if let Some(value) = value {
        let map = mapping(value, path)?;
        check_keys(map, path, &["width", "height", "padding", "geometry_base"])?;
        for (i, key) in ["width", "height"].into_iter().enumerate() {
            match map.get(key) {
                None | Some(Value::Null) => {}
                Some(_) => match non_negative(map, path, key, 0, 32768)? {
                    0 => return error(join(path, key), "must be at least 1"),
                    n => size[i] = Some(n as u32),
                },
            }
        }
        let base = match non_negative(map, path, "geometry_base", 8, 32768)? {
            0 => return error(join(path, "geometry_base"), "must be at least 1"),
            n => n as u32,
        };
        let mut multiples: Vec<(String, u32)> = ["width", "height"]
            .iter()
            .zip(size)
            .filter_map(|(key, n)| Some((join(path, key), n?)))
            .collect();
        if let Some(value) = map.get("padding").filter(|v| !v.is_null()) {
            let padding_path = join(path, "padding");
            let sides = mapping(value, &padding_path)?;
            check_keys(
                sides,
                &padding_path,
                &["keep", "left", "top", "right", "bottom"],
            )?;
            let keep = match sides.get("keep") {
                None | Some(Value::Null) => true,
                Some(flag) => crate::yaml::boolean(flag).ok_or_else(|| ConfigError {
                    path: join(&padding_path, "keep"),
                    message: format!("must be a boolean, got {}", kind(flag)),
                })?,
            };
            let mut side = |key: &str| -> Result<u32, ConfigError> {
                let n = non_negative(sides, &padding_path, key, 0, 32768)? as u32;
                multiples.push((join(&padding_path, key), n));
                Ok(n)
            };
            let (left, top, right, bottom) =
                (side("left")?, side("top")?, side("right")?, side("bottom")?);
            // As in Savant, padding of nothing on every side is no padding.
            if left + top + right + bottom > 0 {
                let [Some(width), Some(height)] = size else {
                    return error(
                        padding_path,
                        "needs frame.width and frame.height (the size of the picture inside the borders)",
                    );
                };
                let (total_w, total_h) = (left + width + right, top + height + bottom);
                if total_w > 32768 || total_h > 32768 {
                    return error(
                        padding_path,
                        format!("makes frames of {total_w}x{total_h}, more than 32768 on a side"),
                    );
                }
                padding = Some((keep, left, top, right, bottom, width, height));
            }
        }
        if let Some((key, n)) = multiples.iter().find(|(_, n)| n % base != 0) {
            return error(
                key.clone(),
                format!("must be a multiple of geometry_base ({base}), got {n}"),
            );
        }
    }
    let mut head = vec![plain("videoconvert", Vec::new())];
    // With borders to add, the picture is scaled as RGBx: videobox copies RGBx rows
    // as they are but scales RGBA's alpha (255 becomes 254); a videoconvert makes
    // the padded frame RGBA (opaque) after it.
    let format = if padding.is_some() { "RGBx" } else { "RGBA" };
    let caps = match size {
        [None, None] => format!("video/x-raw(ANY),format={format}"),
        [width, height] => {
            head.push(plain("videoscale", Vec::new()));
            let mut caps = format!("video/x-raw,format={format}");
            for (key, n) in [("width", width), ("height", height)] {
                if let Some(n) = n {
                    caps.push_str(&format!(",{key}={n}"));
                }
            }
            caps
        }
    };
    head.push(plain("capsfilter", vec![("caps".to_owned(), caps)]));
    let mut tail = Vec::new();
    if let Some((keep, left, top, right, bottom, width, height)) = padding {
        let borders = |sign: i64| -> Vec<(String, String)> {
            [
                ("left", left),
                ("top", top),
                ("right", right),
                ("bottom", bottom),
            ]
            .iter()
            .map(|(key, n)| (key.to_string(), (sign * i64::from(*n)).to_string()))
            .collect()
        };
        let mut pad = plain("videobox", borders(-1));
        pad.properties.push(("fill".to_owned(), "black".to_owned()));
        pad.reframe = Some(Reframe::Padded {
            left,
            top,
            width,
            height,
        });
        head.push(pad);
        head.push(plain("videoconvert", Vec::new()));
        head.push(plain(
            "capsfilter",
            vec![(
                "caps".to_owned(),
                format!(
                    "video/x-raw,format=RGBA,width={},height={}",
                    left + width + right,
                    top + height + bottom
                ),
            )],
        ));
        if !keep {
            // videocrop copies rows as they are, alpha included.
            let mut crop = plain("videocrop", borders(1));
            crop.reframe = Some(Reframe::Cropped {
                left,
                top,
                width,
                height,
            });
            tail.push(crop);
        }
    }
    Ok((head, tail))
}

/// Savant's `parameters.draw_func`: a savantdrawfunc at the end of the bin, drawing
/// `rendered_objects` (or Savant's default drawing) and running `module`'s class.
fn draw_func_plan(
    value: &Value,
    path: &str,
    context: &Context<'_>,
) -> Result<ElementPlan, ConfigError> {
    let empty = Value::Mapping(Default::default());
    let value = if value.is_null() { &empty } else { value };
    let map = mapping(value, path)?;
    check_keys(
        map,
        path,
        &[
            "module",
            "class_name",
            "kwargs",
            "rendered_objects",
            "condition",
        ],
    )?;
    let mut entry = map.clone();
    entry.insert("element".into(), "draw_func".into());
    entry.remove("rendered_objects");
    entry.remove("condition");
    let condition = map.get("condition").filter(|c| !c.is_null());
    let rendered = match map.get("rendered_objects") {
        // A hook with a condition and no rendered_objects still draws only what
        // it draws.
        None if condition.is_some() && map.contains_key("module") => {
            Some(Value::Mapping(Default::default()))
        }
        rendered => rendered.cloned(),
    };
    if rendered.is_some() || condition.is_some() {
        let mut spec = serde_yaml::Mapping::new();
        if let Some(rendered) = rendered {
            spec.insert("rendered_objects".into(), rendered);
        }
        if let Some(condition) = condition {
            spec.insert("condition".into(), condition.clone());
        }
        let text = serde_yaml::to_string(&spec).or_else(|e| error(path, e.to_string()))?;
        entry.insert("draw_spec".into(), text.into());
    }
    let mut plan = element(&Value::Mapping(entry), path, context)?;
    // Checked now so that a bad spec names its place in the module YAML.
    if let Some((_, spec)) = plan.properties.iter().find(|(k, _)| k == "draw-spec") {
        crate::draw::spec::DrawSpec::parse(spec).map_err(|e| ConfigError {
            path: join(path, &e.path),
            message: e.message,
        })?;
    }
    plan.name.get_or_insert_with(|| "draw_func".to_owned());
    Ok(plan)
}

/// The plans of one `pipeline.elements` entry: one element, or several for Savant's
/// `group` (when its condition holds) and our `pygroup`.
fn entry_plans(
    value: &Value,
    path: &str,
    context: &Context<'_>,
    out: &mut Vec<ElementPlan>,
) -> Result<(), ConfigError> {
    let map = mapping(value, path)?;
    if let Some(group) = map.get("group") {
        check_keys(map, path, &["group"])?;
        let group_path = join(path, "group");
        let group = mapping(group, &group_path)?;
        check_keys(group, &group_path, &["name", "init_condition", "elements"])?;
        let Some(condition) = group.get("init_condition") else {
            return error(
                join(&group_path, "init_condition"),
                "missing ({expr, value})",
            );
        };
        let condition_path = join(&group_path, "init_condition");
        let Value::Mapping(condition) = condition else {
            return error(
                condition_path,
                format!(
                    "must be a mapping with expr and value ({{expr: ..., value: ...}}), got {}",
                    kind(condition)
                ),
            );
        };
        check_keys(condition, &condition_path, &["expr", "value"])?;
        // Savant compares the two as text, after interpolation. Null is no text: it
        // equals only null, never "" (an unset `${oc.env:NAME, null}` is not "").
        let text = |key: &str| -> Result<Option<String>, ConfigError> {
            match condition.get(key) {
                None => error(
                    join(&condition_path, key),
                    "missing (init_condition needs expr and value)",
                ),
                Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Ok(Some(
                    serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim_end()
                        .to_owned(),
                )),
            }
        };
        if text("expr")? != text("value")? {
            return Ok(());
        }
        let elements_path = join(&group_path, "elements");
        let Some(Value::Sequence(elements)) = group.get("elements") else {
            return error(elements_path, "must be a list of elements");
        };
        for (i, entry) in elements.iter().enumerate() {
            entry_plans(entry, &format!("{elements_path}[{i}]"), context, out)?;
        }
        return Ok(());
    }
    if map.get("element").and_then(Value::as_str) == Some("pygroup") {
        check_keys(map, path, &["element", "elements", "queue"])?;
        let elements_path = join(path, "elements");
        let members = match map.get("elements") {
            Some(Value::Sequence(members)) if !members.is_empty() => members,
            _ => return error(elements_path, "must be a non-empty list of pyfunc entries"),
        };
        let queue = match map.get("queue") {
            None => context.module_queues,
            Some(q) => queue_spec(q, &join(path, "queue"))?,
        };
        let last = members.len() - 1;
        for (i, member) in members.iter().enumerate() {
            let member_path = format!("{elements_path}[{i}]");
            let is_pyfunc = mapping(member, &member_path)?
                .get("element")
                .and_then(Value::as_str)
                == Some("pyfunc");
            if !is_pyfunc {
                return error(
                    join(&member_path, "element"),
                    "a pygroup holds pyfunc entries only",
                );
            }
            let mut plan = element(member, &member_path, context)?;
            // One queue ahead of the group and one after it, none between members.
            plan.queue = queue;
            plan.is_python_stage = i == 0;
            plan.is_pyfunc = i == last;
            out.push(plan);
        }
        return Ok(());
    }
    out.push(element(value, path, context)?);
    Ok(())
}

fn element(value: &Value, path: &str, context: &Context<'_>) -> Result<ElementPlan, ConfigError> {
    let (module_queues, base_dir) = (context.module_queues, context.base_dir);
    let map = mapping(value, path)?;
    let Some(kind_value) = map.get("element") else {
        return error(
            join(path, "element"),
            "missing (pyfunc, draw_func or a GStreamer element name)",
        );
    };
    let Some(element_kind) = kind_value.as_str() else {
        return error(
            join(path, "element"),
            format!("must be a string, got {}", kind(kind_value)),
        );
    };
    let queue = match map.get("queue") {
        None => module_queues,
        Some(q) => queue_spec(q, &join(path, "queue"))?,
    };
    let name = optional_string(map, path, "name")?;

    let python_stage = |factory: &str, extra: &[&str]| -> Result<ElementPlan, ConfigError> {
        let mut allowed = vec![
            "element",
            "name",
            "queue",
            "module",
            "class_name",
            "function",
            "kwargs",
            "writable",
            "on_error",
            "dev_mode",
        ];
        allowed.extend_from_slice(extra);
        check_keys(map, path, &allowed)?;
        // A draw_func may draw from its spec alone; a pyfunc needs code.
        let mut properties = Vec::new();
        match optional_string(map, path, "module")? {
            Some(module) => {
                properties.push(("module".to_owned(), resolve_module(&module, base_dir)))
            }
            None if factory == "savantpyfunc" => {
                return error(
                    join(path, "module"),
                    "missing (a file path or a dotted module name)",
                )
            }
            None => {}
        }
        for (key, property) in [
            ("class_name", "class-name"),
            ("function", "function"),
            ("on_error", "on-error"),
        ] {
            if let Some(value) = optional_string(map, path, key)? {
                properties.push((property.to_owned(), value));
            }
        }
        if context.dev_mode && !map.contains_key("dev_mode") {
            properties.push(("dev-mode".to_owned(), "true".to_owned()));
        }
        for (key, property) in [("writable", "writable"), ("dev_mode", "dev-mode")] {
            if let Some(flag) = map.get(key) {
                let Some(flag) = crate::yaml::boolean(flag) else {
                    return error(
                        join(path, key),
                        format!("must be a boolean, got {}", kind(flag)),
                    );
                };
                properties.push((property.to_owned(), flag.to_string()));
            }
        }
        match map.get("kwargs") {
            None | Some(Value::Null) => {}
            Some(kwargs @ Value::Mapping(_)) => {
                let text = serde_yaml::to_string(kwargs)
                    .or_else(|e| error(join(path, "kwargs"), e.to_string()))?;
                properties.push(("kwargs".to_owned(), text));
            }
            Some(other) => {
                return error(
                    join(path, "kwargs"),
                    format!("must be a mapping, got {}", kind(other)),
                )
            }
        }
        for key in extra {
            if let Some(value) = map.get(*key) {
                let text = match value {
                    Value::Mapping(_) | Value::Sequence(_) => serde_yaml::to_string(value)
                        .or_else(|e| error(join(path, key), e.to_string()))?,
                    // A spec file sits beside its module YAML, like the modules do.
                    Value::String(spec) if *key == "draw_spec" && is_yaml_path(spec) => {
                        let file = resolve_path(spec, base_dir);
                        // savantdrawfunc reads it as it starts: a FIFO would block it there.
                        // A missing file is its error to report.
                        if let Ok(metadata) = std::fs::metadata(&file) {
                            if !metadata.is_file() {
                                return error(
                                    join(path, key),
                                    format!(
                                        "cannot read draw spec {file}: {}",
                                        crate::yaml::not_regular(&metadata)
                                    ),
                                );
                            }
                        }
                        file
                    }
                    other => scalar_text(other, &join(path, key))?,
                };
                properties.push((key.replace('_', "-"), text));
            }
        }
        Ok(ElementPlan {
            factory: factory.to_owned(),
            name: name.clone(),
            properties,
            path: path.to_owned(),
            is_python_stage: true,
            is_pyfunc: factory == "savantpyfunc",
            queue,
            reframe: None,
        })
    };

    match element_kind {
        "pyfunc" => python_stage("savantpyfunc", &[]),
        "draw_func" => python_stage("savantdrawfunc", &["draw_spec"]),
        deepstream if deepstream.contains('@') || DEEPSTREAM_ELEMENTS.contains(&deepstream) => {
            error(
                join(path, "element"),
                format!(
                    "'{deepstream}' needs NVIDIA DeepStream, which this plugin does not use: \
                     run the model in a pyfunc (ONNX Runtime, OpenCV DNN, ...) and add its \
                     objects with frame.add_object"
                ),
            )
        }
        factory => {
            check_keys(map, path, &["element", "name", "properties", "queue"])?;
            let mut properties = Vec::new();
            match map.get("properties") {
                None | Some(Value::Null) => {}
                Some(Value::Mapping(props)) => {
                    for (key, value) in props {
                        let Some(key) = key.as_str() else {
                            return error(
                                join(path, "properties"),
                                "property names must be strings",
                            );
                        };
                        let value = scalar_text(value, &format!("{path}.properties.{key}"))?;
                        properties.push((key.to_owned(), value));
                    }
                }
                Some(other) => {
                    return error(
                        join(path, "properties"),
                        format!("must be a mapping, got {}", kind(other)),
                    )
                }
            }
            Ok(ElementPlan {
                factory: factory.to_owned(),
                name,
                properties,
                path: path.to_owned(),
                is_python_stage: false,
                is_pyfunc: false,
                queue,
                reframe: None,
            })
        }
    }
}

/// A relative module file path is taken from the YAML file's directory when it
/// exists there (modules usually sit beside their config), else left as it is.
fn resolve_module(module: &str, base_dir: Option<&Path>) -> String {
    let is_file_path = module.contains('/') || module.ends_with(".py");
    if is_file_path {
        resolve_path(module, base_dir)
    } else {
        module.to_owned()
    }
}

fn is_yaml_path(spec: &str) -> bool {
    !spec.contains('\n') && (spec.ends_with(".yml") || spec.ends_with(".yaml"))
}

/// `path` from the YAML file's directory when it exists there, else as it is.
fn resolve_path(path: &str, base_dir: Option<&Path>) -> String {
    match base_dir {
        Some(base) if Path::new(path).is_relative() => {
            let candidate: PathBuf = base.join(path);
            if candidate.exists() {
                candidate.to_string_lossy().into_owned()
            } else {
                path.to_owned()
            }
        }
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ModuleConfig, ConfigError> {
        ModuleConfig::parse(yaml, None)
    }

    /// The steps after the conversion every module starts with (`frame`).
    fn factories(config: &ModuleConfig) -> Vec<String> {
        config
            .steps()
            .iter()
            .skip(config.frame.len())
            .map(|s| match s {
                Step::Queue(q) => format!("q{}", q.length),
                Step::Element(e) => e.factory.clone(),
            })
            .collect()
    }

    #[test]
    fn queues_go_before_every_python_stage_and_after_every_pyfunc() {
        let config = parse(
            r"
parameters: {buffer_queues: {length: 4, byte_size: 0}}
pipeline:
  elements:
  - {element: videoconvert}
  - {element: pyfunc, module: a.py}
  - {element: pyfunc, module: b.py}
  - {element: draw_func, module: c.py}
  - {element: identity}
",
        )
        .unwrap();
        assert_eq!(
            factories(&config),
            [
                "videoconvert",
                "q4",
                "savantpyfunc",
                "q4",
                "savantpyfunc",
                "q4",
                "savantdrawfunc",
                "identity"
            ]
        );
    }

    #[test]
    fn no_buffer_queues_means_no_queues_unless_an_element_asks() {
        let config = parse(
            r"
parameters: {buffer_queues: null}
pipeline:
  elements:
  - {element: pyfunc, module: a.py}
  - {element: pyfunc, module: b.py, queue: {length: 2}}
",
        )
        .unwrap();
        assert_eq!(
            factories(&config),
            ["savantpyfunc", "q2", "savantpyfunc", "q2"]
        );
    }

    #[test]
    fn an_element_can_opt_out_of_queues() {
        let config = parse(
            r"
parameters: {buffer_queues: {length: 3}}
pipeline:
  elements:
  - {element: pyfunc, module: a.py, queue: null}
  - {element: pyfunc, module: b.py}
",
        )
        .unwrap();
        assert_eq!(
            factories(&config),
            ["savantpyfunc", "q3", "savantpyfunc", "q3"]
        );
    }

    #[test]
    fn python_stage_properties_carry_over() {
        let config = parse(
            r"
pipeline:
  elements:
  - element: pyfunc
    module: pkg.det
    class_name: Det
    kwargs: {a: 1}
    writable: true
    dev_mode: true
",
        )
        .unwrap();
        let props = &config.elements[0].properties;
        assert!(props.contains(&("dev-mode".into(), "true".into())));
        assert!(props.contains(&("module".into(), "pkg.det".into())));
        assert!(props.contains(&("class-name".into(), "Det".into())));
        assert!(props.contains(&("writable".into(), "true".into())));
        assert!(props
            .iter()
            .any(|(k, v)| k == "kwargs" && v.contains("a: 1")));
    }

    #[test]
    fn every_module_starts_with_frames_made_rgba_as_savants_are() {
        let head = |yaml: &str| -> Vec<(String, String)> {
            parse(yaml)
                .unwrap()
                .frame
                .iter()
                .map(|e| {
                    let caps = e.properties.iter().find(|(k, _)| k == "caps");
                    (
                        e.factory.clone(),
                        caps.map(|(_, v)| v.clone()).unwrap_or_default(),
                    )
                })
                .collect()
        };
        let convert = ("videoconvert".to_owned(), String::new());
        assert_eq!(
            head("pipeline: {elements: [{element: identity}]}"),
            [
                convert.clone(),
                ("capsfilter".into(), "video/x-raw(ANY),format=RGBA".into())
            ]
        );
        assert_eq!(
            head("parameters: {frame: {width: 64, height: 48}}"),
            [
                convert,
                ("videoscale".into(), String::new()),
                (
                    "capsfilter".into(),
                    "video/x-raw,format=RGBA,width=64,height=48".into()
                )
            ]
        );
    }

    #[test]
    fn errors_name_the_yaml_path() {
        let cases = [
            ("pipeline: {elements: [", "invalid YAML"),
            ("pipeline:\n  elements:\n  - {element: pyfunc}\n", "pipeline.elements[0].module: missing"),
            ("pipeline:\n  elements:\n  - {module: a.py}\n", "pipeline.elements[0].element: missing"),
            (
                "pipeline:\n  elements:\n  - {element: identity}\n  - {element: pyfunc, module: a.py, clas_name: X}\n",
                "pipeline.elements[1].clas_name: unknown key",
            ),
            (
                "parameters: {buffer_queues: {length: -1}}\npipeline: {elements: [{element: identity}]}\n",
                "parameters.buffer_queues.length: must be a whole number >= 0, got -1",
            ),
            ("pipelin: {}\n", "pipelin: unknown key"),
            ("pipeline: {elements: []}\n", "pipeline.elements: is empty"),
            (
                "pipeline: {elements: [{element: identity, properties: {silent: [1]}}]}\n",
                "pipeline.elements[0].properties.silent: must be a string, number or boolean",
            ),
            (
                "pipeline: {elements: [{element: pyfunc, module: a.py, kwargs: [1]}]}\n",
                "pipeline.elements[0].kwargs: must be a mapping, got a list",
            ),
        ];
        for (yaml, expected) in cases {
            let message = parse(yaml).unwrap_err().to_string();
            assert!(message.contains(expected), "{yaml:?}: {message}");
        }
    }

    fn group_factories(expr: &str, value: &str) -> Vec<String> {
        let yaml = format!(
            "pipeline:\n  elements:\n  - {{element: identity}}\n  - group:\n      \
             init_condition: {{expr: {expr}, value: {value}}}\n      \
             elements: [{{element: videoconvert}}]\n"
        );
        parse(&yaml)
            .unwrap()
            .elements
            .iter()
            .map(|e| e.factory.clone())
            .collect()
    }

    #[test]
    fn a_null_init_condition_is_an_error_and_null_never_equals_empty_text() {
        for yaml in [
            "pipeline:\n  elements:\n  - group:\n      init_condition:\n      elements: [{element: identity}]\n",
            "pipeline:\n  elements:\n  - group: {init_condition: ~, elements: [{element: identity}]}\n",
        ] {
            let message = parse(yaml).unwrap_err().to_string();
            assert!(
                message.contains(
                    "pipeline.elements[0].group.init_condition: must be a mapping with expr and value"
                ),
                "{yaml:?}: {message}"
            );
            assert!(message.ends_with("got null"), "{message}");
        }
        let message = parse(
            "pipeline:\n  elements:\n  - group: {init_condition: {expr: a}, elements: [{element: identity}]}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            message.contains("pipeline.elements[0].group.init_condition.value: missing"),
            "{message}"
        );
        // Null against "" does not hold, either way round, nor does an unset variable
        // whose default is null; "" against "" and null against null do.
        assert_eq!(group_factories("~", "''"), ["identity"]);
        assert_eq!(group_factories("''", "null"), ["identity"]);
        assert_eq!(
            group_factories("'${oc.env:GST_SAVANT_TEST_UNSET, null}'", "''"),
            ["identity"]
        );
        assert_eq!(group_factories("''", "''"), ["identity", "videoconvert"]);
        assert_eq!(group_factories("~", "~"), ["identity", "videoconvert"]);
        assert_eq!(
            group_factories("yes", "'yes'"),
            ["identity", "videoconvert"]
        );
    }

    /// A FIFO at `dir/name`.
    fn fifo(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c_path` is a NUL-terminated string that lives through the call;
        // mkfifo only reads it.
        let made = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
        assert_eq!(
            made,
            0,
            "mkfifo {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        path
    }

    #[test]
    fn a_fifo_as_module_config_or_draw_spec_is_refused_without_blocking() {
        let dir = std::env::temp_dir().join(format!("savant-config-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = fifo(&dir, "module.yml").to_string_lossy().into_owned();
        let unnamed = fifo(&dir, "module").to_string_lossy().into_owned();
        fifo(&dir, "boxes.yml");
        // On a thread: a regression blocks in open(2), waiting for a writer, and
        // fails the test at the timeout below instead of hanging it.
        let (sender, receiver) = std::sync::mpsc::channel();
        let (thread_config, thread_unnamed, thread_dir) =
            (config.clone(), unnamed.clone(), dir.clone());
        std::thread::spawn(move || {
            let draw_spec =
                "pipeline:\n  elements:\n  - {element: draw_func, draw_spec: boxes.yml}\n";
            let errors = [
                ModuleConfig::load(&thread_config).map(drop),
                ModuleConfig::load(&thread_unnamed).map(drop),
                ModuleConfig::parse(draw_spec, Some(thread_dir.as_path())).map(drop),
            ]
            .map(|result| result.map_err(|e| e.to_string()));
            let _ = sender.send(errors);
        });
        let errors = receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading a FIFO blocked (refuse non-regular files before opening them)");
        let boxes = dir.join("boxes.yml");
        let expected = [
            format!("cannot read module config {config}: not a regular file (a FIFO)"),
            format!("cannot read module config {unnamed}: not a regular file (a FIFO)"),
            format!(
                "pipeline.elements[0].draw_spec: cannot read draw spec {}: not a regular file (a FIFO)",
                boxes.display()
            ),
        ];
        for (error, expected) in errors.iter().zip(&expected) {
            assert_eq!(error.as_ref().unwrap_err(), expected);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn savants_dev_mode_parameter_reaches_every_python_stage_that_does_not_say_otherwise() {
        let config = parse(
            r"
parameters:
  dev_mode: true
  draw_func: {module: draw.py}
pipeline:
  elements:
  - {element: pyfunc, module: a.py}
  - {element: pyfunc, module: b.py, dev_mode: false}
  - {element: identity}
",
        )
        .unwrap();
        let dev_mode = |i: usize| -> Vec<String> {
            config.elements[i]
                .properties
                .iter()
                .filter(|(k, _)| k == "dev-mode")
                .map(|(_, v)| v.clone())
                .collect()
        };
        assert_eq!(dev_mode(0), ["true"]);
        assert_eq!(dev_mode(1), ["false"]);
        assert!(dev_mode(2).is_empty());
        assert_eq!(dev_mode(3), ["true"], "the draw_func");
        let error =
            parse("parameters: {dev_mode: 1}\npipeline: {elements: [{element: identity}]}\n")
                .unwrap_err();
        assert_eq!(error.path, "parameters.dev_mode");
        assert!(
            error.message.contains("must be a boolean"),
            "{}",
            error.message
        );
    }

    #[test]
    fn yaml_1_1_booleans_read_as_savants_loader_reads_them() {
        let config = parse(
            r"
parameters:
  dev_mode: on
pipeline:
  elements:
  - {element: pyfunc, module: a.py, writable: yes}
  - {element: pyfunc, module: b.py, dev_mode: Off, writable: NO}
",
        )
        .unwrap();
        let props = |i: usize| config.elements[i].properties.clone();
        assert!(props(0).contains(&("writable".into(), "true".into())));
        assert!(props(0).contains(&("dev-mode".into(), "true".into())));
        assert!(props(1).contains(&("writable".into(), "false".into())));
        assert!(props(1).contains(&("dev-mode".into(), "false".into())));
        let error =
            parse("pipeline: {elements: [{element: pyfunc, module: a.py, writable: maybe}]}")
                .unwrap_err();
        assert!(
            error.message.contains("must be a boolean"),
            "{}",
            error.message
        );
    }

    #[test]
    fn draw_func_null_draws_nothing_and_an_empty_block_is_savants_default() {
        let factories = |yaml: &str| -> Vec<String> {
            parse(yaml)
                .unwrap()
                .elements
                .iter()
                .map(|e| e.factory.clone())
                .collect()
        };
        assert_eq!(
            factories("parameters: {draw_func: null}\npipeline: {elements: [{element: identity}]}"),
            ["identity"]
        );
        assert_eq!(
            factories("parameters: {draw_func: {}}\npipeline: {elements: [{element: identity}]}"),
            ["identity", "savantdrawfunc"]
        );
    }

    #[test]
    fn draw_func_condition_goes_into_the_spec_and_a_hook_still_draws_only_its_own() {
        use crate::draw::spec::DrawSpec;
        let spec = |yaml: &str| -> DrawSpec {
            let config = parse(yaml).unwrap();
            let plan = config.elements.last().unwrap();
            let text = plan
                .properties
                .iter()
                .find(|(k, _)| k == "draw-spec")
                .map(|(_, v)| v.clone())
                .expect("a draw-spec");
            DrawSpec::parse(&text).unwrap()
        };
        let default = spec("parameters: {draw_func: {condition: {tag: draw}}}");
        assert_eq!(default.condition_tag.as_deref(), Some("draw"));
        assert!(default.draws_anything(), "Savant's default drawing");
        let hooked = spec("parameters: {draw_func: {module: m.py, condition: {tag: draw}}}");
        assert_eq!(hooked.condition_tag.as_deref(), Some("draw"));
        assert!(!hooked.draws_anything(), "the hook's drawing only");
        let error = parse("parameters: {draw_func: {condition: {tags: x}}}").unwrap_err();
        assert_eq!(error.path, "parameters.draw_func.condition.tags");
    }
}

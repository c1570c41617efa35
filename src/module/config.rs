//! Savant's module YAML (`parameters.buffer_queues`, `pipeline.elements`) parsed
//! into a plan of GStreamer elements, with Savant's queue-insertion rules.
//!
//! Parsed by hand from `serde_yaml::Value` rather than derived, so that every error
//! names its YAML path (`pipeline.elements[2].module`) and unknown keys are caught.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

pub use crate::yaml::ConfigError;
use crate::yaml::{check_keys, error, join, kind, mapping, non_negative, optional_string};

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
    pub elements: Vec<ElementPlan>,
}

impl ModuleConfig {
    /// `config` is a path to a YAML file or the YAML text itself. Relative module file
    /// paths are resolved against the YAML file's directory when they exist there.
    pub fn load(config: &str) -> Result<Self, ConfigError> {
        if Self::looks_like_path(config) {
            let text = std::fs::read_to_string(config)
                .or_else(|e| error("", format!("cannot read module config {config}: {e}")))?;
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
                || Path::new(config).is_file())
    }

    pub fn parse(text: &str, base_dir: Option<&Path>) -> Result<Self, ConfigError> {
        let root: Value =
            serde_yaml::from_str(text).or_else(|e| error("", format!("invalid YAML: {e}")))?;
        let root = mapping(&root, "")?;
        check_keys(root, "", &["name", "parameters", "pipeline"])?;

        let name = optional_string(root, "", "name")?;
        let buffer_queues = match root.get("parameters") {
            None | Some(Value::Null) => None,
            Some(parameters) => {
                let parameters = mapping(parameters, "parameters")?;
                check_keys(parameters, "parameters", &["buffer_queues"])?;
                match parameters.get("buffer_queues") {
                    None => None,
                    Some(q) => queue_spec(q, "parameters.buffer_queues")?,
                }
            }
        };
        let Some(pipeline) = root.get("pipeline") else {
            return error("pipeline", "missing (a module needs pipeline.elements)");
        };
        let pipeline = mapping(pipeline, "pipeline")?;
        check_keys(pipeline, "pipeline", &["elements"])?;
        let Some(elements) = pipeline.get("elements") else {
            return error("pipeline.elements", "missing");
        };
        let Value::Sequence(elements) = elements else {
            return error("pipeline.elements", "must be a list of elements");
        };
        if elements.is_empty() {
            return error("pipeline.elements", "is empty");
        }
        let elements = elements
            .iter()
            .enumerate()
            .map(|(i, e)| {
                element(
                    e,
                    &format!("pipeline.elements[{i}]"),
                    buffer_queues,
                    base_dir,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            name,
            buffer_queues,
            elements,
        })
    }

    /// The chain with queues inserted as Savant does: before every Python stage and
    /// after every pyfunc, never two in a row (the queue ahead of a stage wins).
    pub fn steps(&self) -> Vec<Step> {
        let mut steps: Vec<Step> = Vec::new();
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

fn element(
    value: &Value,
    path: &str,
    module_queues: Option<QueueSpec>,
    base_dir: Option<&Path>,
) -> Result<ElementPlan, ConfigError> {
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
        if let Some(writable) = map.get("writable") {
            let Value::Bool(writable) = writable else {
                return error(
                    join(path, "writable"),
                    format!("must be a boolean, got {}", kind(writable)),
                );
            };
            properties.push(("writable".to_owned(), writable.to_string()));
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
        })
    };

    match element_kind {
        "pyfunc" => python_stage("savantpyfunc", &[]),
        "draw_func" => python_stage("savantdrawfunc", &["draw_spec"]),
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
            })
        }
    }
}

/// A relative module file path is taken from the YAML file's directory when it
/// exists there (modules usually sit beside their config), else left as it is.
fn resolve_module(module: &str, base_dir: Option<&Path>) -> String {
    let is_file_path = module.contains('/') || module.ends_with(".py");
    match base_dir {
        Some(base) if is_file_path && Path::new(module).is_relative() => {
            let candidate: PathBuf = base.join(module);
            if candidate.is_file() {
                candidate.to_string_lossy().into_owned()
            } else {
                module.to_owned()
            }
        }
        _ => module.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ModuleConfig, ConfigError> {
        ModuleConfig::parse(yaml, None)
    }

    fn factories(config: &ModuleConfig) -> Vec<String> {
        config
            .steps()
            .iter()
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
",
        )
        .unwrap();
        let props = &config.elements[0].properties;
        assert!(props.contains(&("module".into(), "pkg.det".into())));
        assert!(props.contains(&("class-name".into(), "Det".into())));
        assert!(props.contains(&("writable".into(), "true".into())));
        assert!(props
            .iter()
            .any(|(k, v)| k == "kwargs" && v.contains("a: 1")));
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
}

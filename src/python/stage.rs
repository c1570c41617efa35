//! Loading a user's Python stage: a module (file path or dotted name), then either a
//! class instantiated with the kwargs, whose methods are the hooks, or a module-level
//! function.

use std::path::Path;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};

use super::error;

/// What the element's properties say to load.
#[derive(Debug, Clone, PartialEq)]
pub struct StageConfig {
    pub module: String,
    pub class_name: Option<String>,
    pub function: String,
    pub kwargs: String,
}

/// A failure with a one-line message for the bus and, when Python was involved, the
/// traceback for the debug text.
#[derive(Debug, Clone)]
pub struct StageError {
    pub message: String,
    pub traceback: Option<String>,
}

impl StageError {
    pub fn plain(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            traceback: None,
        }
    }

    /// As the ERROR that fails a state change.
    pub fn into_error_message(self) -> gst::ErrorMessage {
        gst::error_msg!(
            gst::LibraryError::Init,
            ("{}", self.message),
            ["{}", self.traceback.as_deref().unwrap_or("")]
        )
    }

    /// `context` reads as the start of a sentence: "module m: on_start() raised".
    pub fn python(py: Python<'_>, context: impl std::fmt::Display, err: &PyErr) -> Self {
        let context = context.to_string();
        let separator = if context.ends_with("raised") {
            " "
        } else {
            ": "
        };
        Self {
            message: format!("{context}{separator}{}", error::summary(py, err)),
            traceback: Some(error::format(py, err)),
        }
    }
}

/// The user's callables. Optional hooks are `None` when the class does not define them.
pub struct Hooks {
    pub module_name: String,
    /// The imported module, so more instances can share it.
    module: Py<PyModule>,
    pub process: Py<PyAny>,
    pub process_name: String,
    pub on_start: Option<Py<PyAny>>,
    pub on_caps: Option<Py<PyAny>>,
    pub on_event: Option<Py<PyAny>>,
    pub on_eos: Option<Py<PyAny>>,
    pub on_stop: Option<Py<PyAny>>,
}

impl Hooks {
    /// Imports the module and makes the first instance.
    pub fn load(py: Python<'_>, config: &StageConfig) -> Result<Self, StageError> {
        if config.module.trim().is_empty() {
            return Err(StageError::plain("the `module` property is not set"));
        }
        let module = import(py, &config.module)?;
        Self::instantiate(py, module, config)
    }

    /// The file the module was loaded from, if it has one.
    pub fn module_file(&self, py: Python<'_>) -> Option<std::path::PathBuf> {
        self.module
            .bind(py)
            .getattr("__file__")
            .and_then(|f| f.extract::<String>())
            .ok()
            .map(std::path::PathBuf::from)
    }

    /// Another instance from the same imported module (per-worker instances share
    /// the module, its globals included).
    pub fn another(&self, py: Python<'_>, config: &StageConfig) -> Result<Self, StageError> {
        Self::instantiate(py, self.module.bind(py).clone(), config)
    }

    fn instantiate(
        py: Python<'_>,
        module: Bound<'_, PyModule>,
        config: &StageConfig,
    ) -> Result<Self, StageError> {
        let kwargs = super::kwargs::parse(&config.kwargs)
            .map_err(|e| StageError::plain(format!("module {}: {e}", config.module)))?;
        let module_name = config.module.clone();

        let Some(class_name) = config.class_name.as_deref().filter(|c| !c.is_empty()) else {
            if !kwargs.is_empty() {
                return Err(StageError::plain(format!(
                    "module {module_name}: kwargs need `class-name` (a function takes only the frame)"
                )));
            }
            let process = callable_attr(module.as_any(), &config.function).ok_or_else(|| {
                StageError::plain(format!(
                    "module {module_name} has no function `{}`",
                    config.function
                ))
            })?;
            return Ok(Self {
                module_name,
                module: module.unbind(),
                process,
                process_name: config.function.clone(),
                on_start: None,
                on_caps: None,
                on_event: None,
                on_eos: None,
                on_stop: None,
            });
        };

        let class = module.getattr(class_name).map_err(|_| {
            StageError::plain(format!("module {module_name} has no class `{class_name}`"))
        })?;
        let kwargs: Bound<'_, PyDict> = super::kwargs::to_py_dict(py, &kwargs)
            .map_err(|e| StageError::python(py, format!("module {module_name}: kwargs"), &e))?;
        let instance = class.call((), Some(&kwargs)).map_err(|e| {
            StageError::python(
                py,
                format!("module {module_name}: {class_name}(**kwargs) raised"),
                &e,
            )
        })?;
        let process = callable_attr(&instance, &config.function).ok_or_else(|| {
            StageError::plain(format!(
                "module {module_name}: class {class_name} has no method `{}`",
                config.function
            ))
        })?;
        Ok(Self {
            module_name,
            module: module.unbind(),
            process,
            process_name: config.function.clone(),
            on_start: callable_attr(&instance, "on_start"),
            on_caps: callable_attr(&instance, "on_caps"),
            on_event: callable_attr(&instance, "on_event"),
            on_eos: callable_attr(&instance, "on_eos"),
            on_stop: callable_attr(&instance, "on_stop"),
        })
    }
}

fn callable_attr(owner: &Bound<'_, PyAny>, name: &str) -> Option<Py<PyAny>> {
    owner
        .getattr(name)
        .ok()
        .filter(|attr| attr.is_callable())
        .map(Bound::unbind)
}

/// A name containing a path separator or ending in `.py` is a file; anything else is
/// a dotted module name found on `sys.path` (PYTHONPATH included).
fn import<'py>(py: Python<'py>, module: &str) -> Result<Bound<'py, PyModule>, StageError> {
    if module.contains('/') || module.ends_with(".py") {
        import_file(py, Path::new(module))
    } else {
        py.import(module)
            .map_err(|e| StageError::python(py, format!("cannot import module {module}"), &e))
    }
}

fn import_file<'py>(py: Python<'py>, path: &Path) -> Result<Bound<'py, PyModule>, StageError> {
    let shown = path.display();
    if !path.is_file() {
        return Err(StageError::plain(format!(
            "module file {shown} not found (working directory {})",
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        )));
    }
    let absolute = std::fs::canonicalize(path)
        .map_err(|e| StageError::plain(format!("module file {shown}: {e}")))?;
    let name = absolute
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("savant_stage")
        .to_owned();
    let directory = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    let load = || -> PyResult<Bound<'py, PyModule>> {
        // Siblings of the file are importable, as when running `python3 file.py`.
        let sys_path = py.import("sys")?.getattr("path")?;
        let directory = directory.to_string_lossy().into_owned();
        if !sys_path.contains(&directory)? {
            sys_path.call_method1("insert", (0, directory))?;
        }
        let util = py.import("importlib.util")?;
        let spec = util.call_method1("spec_from_file_location", (&name, &absolute))?;
        let module = util.call_method1("module_from_spec", (&spec,))?;
        // Registered before running it, as import does: dataclasses and pickling
        // look the module up in sys.modules while it executes.
        let modules = py.import("sys")?.getattr("modules")?;
        modules.set_item(&name, &module)?;
        if let Err(e) = spec
            .getattr("loader")?
            .call_method1("exec_module", (&module,))
        {
            let _ = modules.del_item(&name);
            return Err(e);
        }
        Ok(module.cast_into::<PyModule>()?)
    };
    load().map_err(|e| StageError::python(py, format!("cannot import module file {shown}"), &e))
}

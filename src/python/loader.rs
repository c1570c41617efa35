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
    /// The element's name: the `model` of the objects its frames add.
    pub stage: String,
}

/// A failure with a one-line message for the bus and, when Python was involved, the
/// traceback for the debug text.
#[derive(Debug, Clone)]
pub struct StageError {
    pub message: String,
    pub traceback: Option<String>,
}

impl From<super::thread_state::NotRunning> for StageError {
    fn from(not_running: super::thread_state::NotRunning) -> Self {
        Self::plain(not_running.to_string())
    }
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

/// The `function` property's default, and the batch method a class may define
/// instead.
pub const DEFAULT_FUNCTION: &str = "process_frame";
pub const BATCH_FUNCTION: &str = "process_batch";

/// The per-source hooks, in the order of `UserInstance::on_source` and of the events in
/// frame::source (add, eos, delete).
pub const SOURCE_HOOKS: [&str; 3] = ["on_source_add", "on_source_eos", "on_source_delete"];

/// The user's callables. Optional hooks are `None` when the class does not define them.
pub struct UserInstance {
    pub module_name: String,
    /// The imported module, so more instances can share it.
    module: Py<PyModule>,
    pub process: Py<PyAny>,
    pub process_name: String,
    /// `process` is the class's `process_batch(frames)`: it takes a list of frames.
    pub batched: bool,
    pub on_start: Option<Py<PyAny>>,
    pub on_caps: Option<Py<PyAny>>,
    pub on_event: Option<Py<PyAny>>,
    pub on_eos: Option<Py<PyAny>>,
    /// Savant's per-source hooks (after a savantmux): on_source_add, on_source_eos,
    /// on_source_delete, each taking the source id.
    pub on_source: [Option<Py<PyAny>>; 3],
    pub on_stop: Option<Py<PyAny>>,
    /// Savant's `override_draw_spec(object, spec)` of a draw hook class.
    pub override_draw_spec: Option<Py<PyAny>>,
    /// The element's name, as a Python string handed to each frame.
    pub stage_name: Py<pyo3::types::PyString>,
    /// The class's `formats` attribute (e.g. `formats = ["BGR"]`): the pixel
    /// formats it wants, when the element's `formats` property does not say.
    pub formats: Option<Vec<String>>,
}

impl UserInstance {
    /// Imports the module and makes the first instance.
    pub fn load(py: Python<'_>, config: &StageConfig) -> Result<Self, StageError> {
        if config.module.trim().is_empty() {
            return Err(StageError::plain("the `module` property is not set"));
        }
        let module = import(py, &config.module)?;
        Self::instantiate(py, module, config)
    }

    /// Imports the module only (a stage file's module is kept until its file
    /// changes), so that starting later finds it imported.
    pub fn preload(py: Python<'_>, config: &StageConfig) -> Result<(), StageError> {
        if config.module.trim().is_empty() {
            return Err(StageError::plain("the `module` property is not set"));
        }
        import(py, &config.module).map(drop)
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
                batched: false,
                on_start: None,
                on_caps: None,
                on_event: None,
                on_eos: None,
                on_source: [None, None, None],
                on_stop: None,
                override_draw_spec: None,
                stage_name: pyo3::types::PyString::new(py, &config.stage).unbind(),
                formats: None,
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
        // A class may define `process_batch(self, frames)` instead of the per-frame
        // method; with `function` left at its default, that is the one called.
        let batch = (config.function == DEFAULT_FUNCTION)
            .then(|| callable_attr(&instance, BATCH_FUNCTION))
            .flatten();
        let batched = batch.is_some();
        let process = match batch {
            Some(batch) => batch,
            None => callable_attr(&instance, &config.function).ok_or_else(|| {
                StageError::plain(format!(
                    "module {module_name}: class {class_name} has no method `{}` \
                     (nor `{BATCH_FUNCTION}`)",
                    config.function
                ))
            })?,
        };
        let formats = class_formats(&class).map_err(|message| {
            StageError::plain(format!(
                "module {module_name}: {class_name}.formats {message}"
            ))
        })?;
        Ok(Self {
            module_name,
            module: module.unbind(),
            process,
            process_name: if batched {
                BATCH_FUNCTION.to_owned()
            } else {
                config.function.clone()
            },
            batched,
            on_start: callable_attr(&instance, "on_start"),
            on_caps: callable_attr(&instance, "on_caps"),
            on_event: callable_attr(&instance, "on_event"),
            on_eos: callable_attr(&instance, "on_eos"),
            on_source: SOURCE_HOOKS.map(|name| callable_attr(&instance, name)),
            on_stop: callable_attr(&instance, "on_stop"),
            override_draw_spec: callable_attr(&instance, "override_draw_spec"),
            stage_name: pyo3::types::PyString::new(py, &config.stage).unbind(),
            formats,
        })
    }
}

/// A class's `formats`: a string ("BGR") or a list of strings; absent is None.
fn class_formats(class: &Bound<'_, PyAny>) -> Result<Option<Vec<String>>, String> {
    let Ok(formats) = class.getattr("formats") else {
        return Ok(None);
    };
    if let Ok(one) = formats.extract::<String>() {
        return Ok(Some(vec![one]));
    }
    formats
        .extract::<Vec<String>>()
        .map(Some)
        .map_err(|_| "must be a format name or a list of them, e.g. [\"BGR\", \"RGBA\"]".to_owned())
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
        py.import(module).map_err(|e| {
            let context = format!("cannot import module {module}{}", deepstream_hint(py, &e));
            StageError::python(py, context, &e)
        })
    }
}

/// Savant code imports DeepStream's bindings (`pyds`), which have no place here: say
/// what to use instead rather than only "No module named 'pyds'".
fn deepstream_hint(py: Python<'_>, error: &PyErr) -> &'static str {
    let missing = error
        .is_instance_of::<pyo3::exceptions::PyModuleNotFoundError>(py)
        .then(|| error.value(py).getattr("name").ok())
        .flatten()
        .and_then(|name| name.extract::<String>().ok());
    // The savant package's own finder already says it, when it was imported first.
    if error.value(py).to_string().contains("Coming from Savant") {
        return "";
    }
    match missing.as_deref().map(|name| name.split('.').next()) {
        Some(Some("pyds" | "pygstsavantframemeta")) => {
            " (pyds is NVIDIA DeepStream's, which gst-savant does not use: frames are \
             savant_gst.Frame, objects frame.objects; Savant code runs through the savant \
             package, see the README, Coming from Savant)"
        }
        _ => "",
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
    let load = || -> PyResult<Bound<'py, PyModule>> {
        file_loader(py)?
            .call_method1("load_file", (&absolute,))?
            .cast_into::<PyModule>()
            .map_err(Into::into)
    };
    load().map_err(|e| {
        // Our own refusals read as one sentence; anything else keeps its traceback.
        if e.is_instance_of::<StageFileError>(py) {
            StageError::plain(e.value(py).to_string())
        } else {
            let hint = deepstream_hint(py, &e);
            StageError::python(py, format!("cannot import module file {shown}{hint}"), &e)
        }
    })
}

pyo3::create_exception!(
    savant_gst,
    StageFileError,
    pyo3::exceptions::PyImportError,
    "A stage file that cannot be loaded without colliding with another module."
);

/// How stage files become modules. In Python, because it is mostly Python's import
/// machinery and `sys.modules` bookkeeping:
/// - one module object per file: elements that name the same file share it, and it
///   runs again only when the file changed (or dev-mode evicted it);
/// - its directory joins `sys.path` (siblings import as with `python3 file.py`);
/// - a file in that directory named like a standard module (`json.py`) or like a
///   module installed elsewhere on `sys.path` (`cuda.py` hides the `cuda` package
///   CuPy imports, `torch.py` PyTorch) would replace it for every import in the
///   process: refused, naming both;
/// - a module name already taken by another file, or a sibling import that resolved
///   to another stage's file of the same name (`import helper` finding the helper of
///   the stage loaded first): refused, naming both files.
const FILE_LOADER: &std::ffi::CStr = cr#"
import importlib.machinery, importlib.util, os, sys, threading, types

# Stage files load one at a time: a module registered in sys.modules is still
# running its top level until exec_module returns, and another element starting on
# another thread must not take it half-made.
_LOCK = threading.RLock()

def _file_of(module):
    f = getattr(module, "__file__", None)
    return os.path.realpath(f) if isinstance(f, str) else None

def _is_module_entry(directory, entry):
    stem, ext = os.path.splitext(entry)
    if ext == ".py":
        return stem
    if ext == "" and os.path.isfile(os.path.join(directory, entry, "__init__.py")):
        return stem
    return None

def _check_stdlib_shadows(directory):
    for entry in sorted(os.listdir(directory)):
        stem = _is_module_entry(directory, entry)
        if stem is None or stem not in sys.stdlib_module_names:
            continue
        loaded = sys.modules.get(stem)
        std = _file_of(loaded) if loaded is not None else None
        if std is None:
            spec = importlib.util.find_spec(stem) if stem not in sys.modules else None
            std = getattr(spec, "origin", None) or "the standard library"
        raise StageFileError(
            f"{os.path.join(directory, entry)} shadows Python's standard module "
            f"'{stem}' ({std}) for every stage once its directory is on sys.path: "
            f"rename it")

def _inside(directory, origin):
    return origin is not None and os.path.realpath(origin).startswith(directory + os.sep)

# Directories of stage files loaded so far: their modules are stages' own (two
# stages' same-named helpers are _check_siblings' business), not installed ones.
_STAGE_DIRS = set()

def _check_installed_shadows(directory):
    stage_dirs = _STAGE_DIRS | {directory}
    # Where a module would come from without the stages' directories on sys.path.
    others = [p for p in sys.path
              if isinstance(p, str) and os.path.realpath(p or ".") not in stage_dirs]
    for entry in sorted(os.listdir(directory)):
        stem = _is_module_entry(directory, entry)
        if stem is None or stem in sys.stdlib_module_names or not stem.isidentifier():
            continue
        loaded = sys.modules.get(stem)
        if loaded is not None:
            spec = getattr(loaded, "__spec__", None)
        else:
            try:
                spec = importlib.machinery.PathFinder.find_spec(stem, others)
            except (ImportError, ValueError):
                spec = None
        if spec is None:
            continue
        origin = getattr(spec, "origin", None)
        locations = list(getattr(spec, "submodule_search_locations", None) or [])
        if origin in (None, "namespace") and locations:
            origin = locations[0]
        if origin is None or any(_inside(d, origin) for d in stage_dirs):
            continue
        raise StageFileError(
            f"{os.path.join(directory, entry)} shadows the installed module '{stem}' "
            f"({origin}) for every import in this process once its directory is on "
            f"sys.path: rename it")

def _check_siblings(module, directory):
    here = _file_of(module)
    for value in list(vars(module).values()):
        if isinstance(value, types.ModuleType):
            name = value.__name__
        else:
            name = getattr(value, "__module__", None)
        if not isinstance(name, str):
            continue
        top = name.split(".")[0]
        sibling = None
        for candidate in (os.path.join(directory, top + ".py"),
                          os.path.join(directory, top, "__init__.py")):
            if os.path.isfile(candidate):
                sibling = candidate
                break
        if sibling is None:
            continue
        loaded = _file_of(sys.modules.get(top))
        if loaded is not None and loaded != os.path.realpath(sibling):
            raise StageFileError(
                f"module file {here}: `import {top}` resolved to {loaded} (loaded "
                f"first, for another stage), not to its sibling {sibling}; give one "
                f"of them another name")

def load_file(path):
    with _LOCK:
        return _load_file(path)

def _load_file(path):
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    name = os.path.splitext(os.path.basename(path))[0]
    mtime = os.stat(path).st_mtime_ns
    _check_stdlib_shadows(directory)
    _check_installed_shadows(directory)
    _STAGE_DIRS.add(directory)
    existing = sys.modules.get(name)
    if existing is not None:
        origin = _file_of(existing)
        if origin == path and getattr(existing, "__savant_mtime__", None) == mtime:
            return existing
        if origin != path:
            raise StageFileError(
                f"module file {path}: its module name '{name}' is already taken by "
                f"{origin or 'a built-in module'}; rename one of them")
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__savant_mtime__ = mtime
    # Registered before running it, as import does: dataclasses and pickling look
    # the module up in sys.modules while it executes.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        _check_siblings(module, directory)
    except BaseException:
        if sys.modules.get(name) is module:
            del sys.modules[name]
        raise
    return module
"#;

fn file_loader(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static LOADER: pyo3::sync::PyOnceLock<Py<PyModule>> = pyo3::sync::PyOnceLock::new();
    LOADER
        .get_or_try_init(py, || -> PyResult<Py<PyModule>> {
            let module = PyModule::new(py, "savant_gst_loader")?;
            module.add("StageFileError", py.get_type::<StageFileError>())?;
            py.run(FILE_LOADER, Some(&module.dict()), None)?;
            Ok(module.unbind())
        })
        .map(|module| module.bind(py))
}

//! Bringing up the embedded interpreter.
//!
//! Lazily, at the first element start (never in `plugin_init`: gst-plugin-scanner
//! loads the plugin only to register it), and only when no interpreter exists yet: in
//! a PyGObject app we join the app's interpreter.

use std::ffi::CString;
use std::sync::OnceLock;

use pyo3::ffi;
use pyo3::prelude::*;

/// `sys.base_prefix` of the Python the plugin was built against.
pub const BUILD_HOME: &str = env!("SAVANT_PYTHON_HOME");
/// `sys.executable` of the Python the plugin was built against.
pub const BUILD_EXECUTABLE: &str = env!("SAVANT_PYTHON_EXECUTABLE");
const BUILD_SONAME: &str = env!("SAVANT_PYTHON_SONAME");
const BUILD_VERSION: &str = env!("SAVANT_PYTHON_VERSION");

static INIT: OnceLock<Result<(), String>> = OnceLock::new();

/// Makes sure an interpreter exists. Cheap after the first call. The error is a
/// one-line reason, suitable for an element error.
///
/// # Errors
///
/// The interpreter could not be started (libpython not loadable, or its
/// initialization failed); the same error on every later call.
pub fn ensure_initialized() -> Result<(), String> {
    INIT.get_or_init(initialize).clone()
}

/// Whether `ensure_initialized` succeeded in this process: Python exists and this
/// plugin set itself up in it (an app's own interpreter counts once joined).
pub fn started() -> bool {
    matches!(INIT.get(), Some(Ok(())))
}

fn initialize() -> Result<(), String> {
    // SAFETY: Py_IsInitialized may be called at any time, with or without the GIL.
    if unsafe { ffi::Py_IsInitialized() } == 0 {
        promote_libpython_to_global_scope();
        // SAFETY: no interpreter exists (checked just above), and this runs once per
        // process (INIT's OnceLock), so nothing of ours initializes Python beside it;
        // in a PyGObject app Python already exists and we do not get here. What is
        // left is a C host initializing Python on another thread at this very moment,
        // which no embedder can guard against.
        unsafe { init_pinned_interpreter()? };
    }
    // Marks pyo3's own one-time initialization as done; a no-op for the interpreter.
    Python::initialize();
    Python::attach(|py| {
        add_virtualenv_site_packages(py)?;
        add_package_folder(py)?;
        gst::info!(
            super::CAT,
            "Python {} (built against {BUILD_VERSION}, home {}, executable {BUILD_EXECUTABLE})",
            Python::version_str()
                .split_whitespace()
                .next()
                .unwrap_or_default(),
            std::env::var("PYTHONHOME").unwrap_or_else(|_| BUILD_HOME.to_owned()),
        );
        Ok(())
    })
}

/// GStreamer dlopens plugins with local symbol scope, so extension modules such as
/// numpy's, which expect libpython's symbols to be global, fail with "undefined
/// symbol". Re-opening the already loaded libpython with RTLD_GLOBAL fixes that.
fn promote_libpython_to_global_scope() {
    if BUILD_SONAME.is_empty() {
        return;
    }
    let soname = CString::new(BUILD_SONAME).expect("soname has no NUL");
    // SAFETY: RTLD_NOLOAD only looks up an already loaded library; the handle is
    // deliberately leaked so the library stays global for the life of the process.
    let handle = unsafe {
        libc::dlopen(
            soname.as_ptr(),
            libc::RTLD_NOW | libc::RTLD_GLOBAL | libc::RTLD_NOLOAD,
        )
    };
    if handle.is_null() {
        gst::warning!(
            super::CAT,
            "{BUILD_SONAME} is not loaded; extension modules may fail to import"
        );
    }
}

/// Initializes Python with its home pinned to the interpreter the plugin was built
/// against. Otherwise the embedded interpreter derives its prefix from whatever
/// `python3` is first on PATH (pyenv, conda) and loads a foreign stdlib.
/// `PYTHONHOME` in the environment overrides the pin. On success the interpreter
/// exists and the calling thread has released the GIL (its thread state is kept,
/// never restored), so any thread may attach.
///
/// # Safety
/// - No interpreter may exist (`Py_IsInitialized()` is 0), and none may be
///   initialized or finalized on another thread during the call: CPython's
///   initialization is not thread-safe and must happen once.
/// - It must be called at most once per process: after a success Python exists, and
///   a failed initialization may leave CPython's runtime half set up.
unsafe fn init_pinned_interpreter() -> Result<(), String> {
    let mut config = std::mem::MaybeUninit::<ffi::PyConfig>::uninit();
    let config_ptr = config.as_mut_ptr();
    // SAFETY: PyConfig_InitPythonConfig fills in the whole struct, so every later
    // access reads initialized fields; its layout is that of the libpython we run
    // with, since pyo3's ffi was built for the same Python (BUILD_VERSION) that the
    // plugin links. The config is used on this thread only and cleared once,
    // after Py_InitializeFromConfig has copied what it needs. That initializing is
    // allowed at all (no interpreter yet, none made concurrently, one call) is the
    // caller's promise. Py_InitializeFromConfig leaves this thread holding the GIL,
    // which PyEval_SaveThread releases.
    unsafe {
        ffi::PyConfig_InitPythonConfig(config_ptr);
        // gst-launch and apps own SIGINT; Python must not install handlers.
        (*config_ptr).install_signal_handlers = 0;
        let mut result = Ok(());
        if std::env::var_os("PYTHONHOME").is_none() {
            result = set_config_string(config_ptr, &raw mut (*config_ptr).home, BUILD_HOME);
        }
        if result.is_ok() {
            result = set_config_string(
                config_ptr,
                &raw mut (*config_ptr).program_name,
                BUILD_EXECUTABLE,
            );
        }
        if result.is_ok() {
            let status = ffi::Py_InitializeFromConfig(config_ptr);
            if ffi::PyStatus_Exception(status) != 0 {
                result = Err(format!(
                    "cannot initialize Python {BUILD_VERSION} (home {BUILD_HOME}): {}",
                    status_message(&status)
                ));
            }
        }
        ffi::PyConfig_Clear(config_ptr);
        result?;
        // Initialization leaves this thread holding the GIL; streaming threads need it.
        ffi::PyEval_SaveThread();
    }
    Ok(())
}

/// Sets the string `field` of `config` to a copy of `value` (PyConfig_SetString).
/// A `value` with a NUL in it is cut there.
///
/// # Safety
/// - `config` must point to a PyConfig set up by `PyConfig_InitPythonConfig` (or
///   `PyConfig_InitIsolatedConfig`) and not yet cleared, which nothing else reads or
///   writes during the call.
/// - `field` must point to one of that PyConfig's `wchar_t *` fields: CPython frees
///   the string it holds (NULL or one CPython allocated) and stores its own copy.
unsafe fn set_config_string(
    config: *mut ffi::PyConfig,
    field: *mut *mut libc::wchar_t,
    value: &str,
) -> Result<(), String> {
    // wchar_t is UTF-32 on the Unix systems GStreamer and this plugin run on.
    let wide: Vec<libc::wchar_t> = value
        .chars()
        .map(|c| c as libc::wchar_t)
        .chain(std::iter::once(0))
        .collect();
    // SAFETY: `config` and `field` are as this function requires; `wide` is
    // NUL-terminated and outlives the call, which copies it.
    let status = unsafe { ffi::PyConfig_SetString(config, field, wide.as_ptr()) };
    // SAFETY: a PyStatus the call above returned; reading it needs no interpreter.
    if unsafe { ffi::PyStatus_Exception(status) } != 0 {
        return Err(format!(
            "cannot configure Python with {value}: {}",
            status_message(&status)
        ));
    }
    Ok(())
}

fn status_message(status: &ffi::PyStatus) -> String {
    if status.err_msg.is_null() {
        return "unknown error".to_owned();
    }
    // SAFETY: CPython sets err_msg to a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(status.err_msg) }
        .to_string_lossy()
        .into_owned()
}

/// An activated virtualenv is honoured the way `python3` itself would: its
/// site-packages come after the interpreter's own. A venv made for another Python
/// version is an error: its compiled packages cannot load here, and ignoring it
/// would silently run without them.
/// The checkout's `python/` folder, home of the `savant` compatibility package.
const PACKAGE_FOLDER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python");

/// Appends [`PACKAGE_FOLDER`] to `sys.path`, so stages `import savant` with no
/// PYTHONPATH set. Appended: what PYTHONPATH and a venv put there comes first (a
/// user's own `savant` wins). A plugin copied away from its checkout has no such
/// folder and skips this (the README says to put the folder on PYTHONPATH then).
fn add_package_folder(py: Python<'_>) -> Result<(), String> {
    let folder = std::path::Path::new(PACKAGE_FOLDER);
    if !folder.join("savant").join("__init__.py").is_file() {
        return Ok(());
    }
    let appended = (|| -> PyResult<()> {
        let path = py.import("sys")?.getattr("path")?;
        if !path.contains(PACKAGE_FOLDER)? {
            path.call_method1("append", (PACKAGE_FOLDER,))?;
        }
        Ok(())
    })();
    appended.map_err(|e| super::error::format(py, &e))
}

fn add_virtualenv_site_packages(py: Python<'_>) -> Result<(), String> {
    let Some(venv) = std::env::var_os("VIRTUAL_ENV") else {
        return Ok(());
    };
    let lib = std::path::Path::new(&venv).join("lib");
    let site_packages = lib
        .join(format!("python{BUILD_VERSION}"))
        .join("site-packages");
    if !site_packages.is_dir() {
        let others: Vec<String> = std::fs::read_dir(&lib)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|name| name.starts_with("python"))
                    .collect()
            })
            .unwrap_or_default();
        return Err(format!(
            "VIRTUAL_ENV={} has no lib/python{BUILD_VERSION}/site-packages (it has {}): \
             the plugin embeds Python {BUILD_VERSION} ({BUILD_EXECUTABLE}); make the venv \
             with that Python, or rebuild the plugin with PYO3_PYTHON set to the venv's",
            std::path::Path::new(&venv).display(),
            if others.is_empty() {
                "no lib/python*".to_owned()
            } else {
                others.join(", ")
            }
        ));
    }
    py.import("site")
        .and_then(|site| site.call_method1("addsitedir", (&site_packages,)))
        .map_err(|e| super::error::format(py, &e))?;
    gst::info!(
        super::CAT,
        "virtualenv site-packages {}",
        site_packages.display()
    );
    Ok(())
}

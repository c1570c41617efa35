//! The `savant_gst` Python module: the types user code sees (the frame and its
//! objects from `frame/`, the Artist from `draw/`).
//!
//! Layers, each importing only the ones before it (README, Layout; tests/layers.rs):
//! embedding (`python`) -> `frame` -> `draw` -> this module -> the stage machinery
//! (`stage`), which registers this module when it first starts Python -> the
//! elements.
//!
//! The same module is also an ordinary extension module: the cdylib exports
//! `PyInit_savant_gst`, which `python/savant_gst/__init__.py` loads in a plain Python
//! process so stage code can be unit-tested without a pipeline.

use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;
use pyo3::types::PyModule;

use crate::draw::artist::Artist;
use crate::frame::{objects::Object, CapsInfo, Frame, Plane};

fn add_members(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Frame>()?;
    module.add_class::<Plane>()?;
    module.add_class::<CapsInfo>()?;
    module.add_class::<Object>()?;
    module.add_class::<Artist>()?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))
}

/// Makes `import savant_gst` work from user code.
pub fn register_module(py: Python<'_>) -> PyResult<()> {
    let modules = py.import("sys")?.getattr("modules")?;
    // A PyGObject app that imported the extension module (to test or probe frames)
    // already has these very types; a second module object would only confuse
    // `isinstance` checks against the app's reference.
    if let Ok(existing) = modules.get_item("savant_gst") {
        if existing
            .getattr("Frame")
            .is_ok_and(|t| t.is(py.get_type::<Frame>()))
        {
            return Ok(());
        }
    }
    let module = PyModule::new(py, "savant_gst")?;
    add_members(&module)?;
    modules.set_item("savant_gst", module)
}

/// `PyInit_savant_gst`: the module for a plain Python process. GStreamer's types
/// (buffers, caps, the frame's metas) need GStreamer initialized, which in a
/// pipeline the host did and here nobody has (`gst::init` is a no-op when a
/// PyGObject app already called `Gst.init`).
///
/// The library links libpython, and Debian's `python3` is linked statically: loading
/// us maps a second libpython, but every `Py*` symbol we use binds to the running
/// executable's (the global scope is searched first; checked with
/// `LD_DEBUG=bindings`), and nothing calls into the copy.
#[pymodule]
#[pyo3(name = "savant_gst")]
fn savant_gst_extension(module: &Bound<'_, PyModule>) -> PyResult<()> {
    gst::init().map_err(|e| PyImportError::new_err(format!("cannot initialize GStreamer: {e}")))?;
    crate::frame::attributes::register();
    crate::frame::objects::register();
    crate::frame::source::register();
    add_members(module)
}

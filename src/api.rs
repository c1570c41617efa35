//! The `savant_gst` Python module: the types user code sees (the frame and its
//! objects from `frame/`, the Artist from `draw/`).
//!
//! Layers, each importing only the ones before it: embedding (`python::interpreter`,
//! `thread_state`, `stage`, `error`) -> these API types -> the stage machinery
//! (`python::runtime`, `stats`, `gil_probe`, `handoff`, `reload`), which registers
//! this module when it first starts Python -> the elements.

use pyo3::prelude::*;
use pyo3::types::PyModule;

use crate::draw::artist::Artist;
use crate::frame::{objects::Object, CapsInfo, Frame, Plane};

/// Makes `import savant_gst` work from user code.
pub fn register_module(py: Python<'_>) -> PyResult<()> {
    let module = PyModule::new(py, "savant_gst")?;
    module.add_class::<Frame>()?;
    module.add_class::<Plane>()?;
    module.add_class::<CapsInfo>()?;
    module.add_class::<Object>()?;
    module.add_class::<Artist>()?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    py.import("sys")?
        .getattr("modules")?
        .set_item("savant_gst", module)
}

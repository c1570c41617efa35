//! A savantmodule's `parameters` for its own stages: Savant's `param_storage()`.
//!
//! savantmodule (an element, a layer above) attaches its interpolated parameters to
//! its bin; `savant_gst.module_parameters()` walks up from the element whose code is
//! running on the calling thread (the logging scope, `log_bridge`) to the nearest
//! bin that has them. Per module, not per process: two modules in one process each
//! see their own, and a stage outside any module sees None.

use std::sync::Arc;

use gst::prelude::*;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::log_bridge;

/// GObject data key on a savantmodule's bin: `Arc<serde_yaml::Mapping>`.
const KEY: &str = "savant-module-parameters";

/// Gives `bin`'s stages `parameters`.
pub fn attach(bin: &gst::Bin, parameters: serde_yaml::Mapping) {
    // SAFETY: the key is ours and only ever holds an Arc<serde_yaml::Mapping>.
    unsafe { bin.set_data(KEY, Arc::new(parameters)) };
}

/// The parameters of the nearest module around `element`.
fn of(element: &gst::Element) -> Option<Arc<serde_yaml::Mapping>> {
    let mut parent = element.parent();
    while let Some(object) = parent {
        // SAFETY: KEY only ever holds an Arc<serde_yaml::Mapping> (`attach`).
        if let Some(found) = unsafe { object.data::<Arc<serde_yaml::Mapping>>(KEY) } {
            // SAFETY: the pointer is valid while `object` (held here) keeps its data.
            return Some(unsafe { found.as_ref() }.clone());
        }
        parent = object.parent();
    }
    None
}

/// `savant_gst.module_parameters()`: the `parameters` of the savantmodule whose
/// stage calls it (from its import, constructor or a hook), as a new dict; None
/// outside a module's stage (a thread of the user's own, a stage not in a module).
#[pyfunction]
fn module_parameters(py: Python<'_>) -> PyResult<Option<Bound<'_, PyDict>>> {
    let Some(parameters) = log_bridge::current_element().as_ref().and_then(of) else {
        return Ok(None);
    };
    crate::python::kwargs::to_py_dict(py, &parameters).map(Some)
}

/// Adds `module_parameters` to `module` (the `savant_gst` stages import).
pub fn register(module: &Bound<'_, pyo3::types::PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(module_parameters, module)?)
}

//! Python exceptions as text for bus messages.
//!
//! Formatted with the `traceback` module, never `PyErr_Print`: that exits the whole
//! process, silently and with status 0, when the exception is `SystemExit`.

use pyo3::prelude::*;

/// The exception's last line, e.g. `ZeroDivisionError: division by zero`.
pub fn summary(py: Python<'_>, err: &PyErr) -> String {
    let type_name = err
        .get_type(py)
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".to_owned());
    let message = err
        .value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_default();
    if message.is_empty() {
        type_name
    } else {
        format!("{type_name}: {message}")
    }
}

/// The full traceback, as `python3` would print it.
pub fn format(py: Python<'_>, err: &PyErr) -> String {
    let formatted = py.import("traceback").and_then(|tb| {
        tb.call_method1(
            "format_exception",
            (err.get_type(py), err.value(py), err.traceback(py)),
        )?
        .extract::<Vec<String>>()
    });
    match formatted {
        Ok(lines) => lines.concat().trim_end().to_owned(),
        Err(_) => summary(py, err),
    }
}

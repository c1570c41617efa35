//! Python `logging` records from a stage go to GStreamer's debug log, under the
//! category of the element whose hook is running, at the matching level
//! (DEBUG -> DEBUG, INFO -> INFO, WARNING -> WARNING, ERROR and CRITICAL -> ERROR).
//! Records from threads of the user's own (no hook running) go to `savantpython`.
//!
//! Installed once per interpreter, on the root logger. The root logger's level is
//! lowered only as far as the stage categories' GST_DEBUG thresholds ask for, so a
//! `log.debug()` costs nothing unless someone reads it; WARNING and above still go to
//! stderr as before (Python's last-resort handler is replaced by one that prints the
//! same).

use std::ptr::NonNull;

use gst::glib;
use gst::glib::translate::from_glib_borrow;
use gst::prelude::*;
use pyo3::prelude::*;

use crate::python::thread_state::{self, LogScope};

/// While alive, Python logging on this thread is attributed to one element.
pub struct StageScope {
    previous: LogScope,
}

/// The scope that attributes Python logging to `element`: kept in the thread's
/// Python state (`thread_state::LogScope`), so a stage's per-frame call sets it as
/// it takes the GIL (`thread_state::attach_timed`).
#[inline]
pub fn scope(element: &gst::Element, cat: gst::DebugCategory) -> LogScope {
    let pointer = NonNull::new(element.as_ptr()).expect("an element is never NULL");
    Some((pointer, cat))
}

/// Attributes this thread's Python logging to `element` until the scope ends
/// (hooks may nest when stages run inline, hence the restore).
#[inline]
pub fn enter(element: &gst::Element, cat: gst::DebugCategory) -> StageScope {
    StageScope {
        previous: thread_state::replace_log_scope(scope(element, cat)),
    }
}

/// The element whose hook (or import, or constructor) runs on this thread, if any.
pub fn current_element() -> Option<gst::Element> {
    thread_state::log_scope().map(|(element, _)| {
        // SAFETY: as in `emit`: set only while a hook of that element runs here, and
        // the element outlives its hooks' calls; the new reference keeps it alive.
        unsafe { glib::translate::from_glib_none(element.as_ptr()) }
    })
}

impl Drop for StageScope {
    #[inline]
    fn drop(&mut self) {
        thread_state::replace_log_scope(self.previous);
    }
}

fn gst_level(levelno: i32) -> gst::DebugLevel {
    match levelno {
        ..=10 => gst::DebugLevel::Debug,
        11..=20 => gst::DebugLevel::Info,
        21..=30 => gst::DebugLevel::Warning,
        _ => gst::DebugLevel::Error,
    }
}

fn python_level(level: gst::DebugLevel) -> i32 {
    match level {
        gst::DebugLevel::Debug | gst::DebugLevel::Log | gst::DebugLevel::Trace => 10,
        gst::DebugLevel::Memdump => 10,
        gst::DebugLevel::Info | gst::DebugLevel::Fixme => 20,
        gst::DebugLevel::Warning => 30,
        _ => 40,
    }
}

/// Called by the Python handler for each record, on the thread that logged.
#[pyfunction]
fn emit(levelno: i32, text: &str, pathname: &str, function: &str, line: u32) {
    let level = gst_level(levelno);
    let file = glib::GString::from(pathname);
    match thread_state::log_scope() {
        Some((element, cat)) => {
            // SAFETY: the scope is set only while a hook of that element runs on this
            // thread (StageScope), and the element outlives its hooks' calls.
            let element: glib::translate::Borrowed<gst::Element> =
                unsafe { from_glib_borrow(element.as_ptr()) };
            cat.log(
                Some(&*element),
                level,
                file.as_gstr(),
                function,
                line,
                format_args!("{text}"),
            );
        }
        None => crate::python::CAT.log(
            None::<&gst::Element>,
            level,
            file.as_gstr(),
            function,
            line,
            format_args!("{text}"),
        ),
    }
}

const HANDLER: &std::ffi::CStr = cr#"
import logging

class GstHandler(logging.Handler):
    def emit(self, record):
        try:
            _emit(record.levelno, self.format(record), record.pathname,
                  record.funcName or "", record.lineno or 0)
        except Exception:
            self.handleError(record)

def install(level):
    root = logging.getLogger()
    if any(isinstance(h, GstHandler) for h in root.handlers):
        return
    if not root.handlers:
        # What Python's last-resort handler did: WARNING and above to stderr.
        stderr = logging.StreamHandler()
        stderr.setLevel(logging.WARNING)
        root.addHandler(stderr)
    handler = GstHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.addHandler(handler)
    if level < root.level:
        root.setLevel(level)
"#;

/// Installs the handler; `categories` are the stage elements' debug categories,
/// whose thresholds decide how verbose the root logger becomes.
pub fn install(py: Python<'_>, categories: &[gst::DebugCategory]) -> PyResult<()> {
    let module = pyo3::types::PyModule::new(py, "savant_gst_logging")?;
    module.add_function(wrap_pyfunction!(emit, &module)?)?;
    module.add("_emit", module.getattr("emit")?)?;
    py.run(HANDLER, Some(&module.dict()), None)?;
    let level = categories
        .iter()
        .map(|cat| python_level(cat.threshold()))
        .min()
        .unwrap_or(30)
        .min(30);
    module.getattr("install")?.call1((level,))?;
    Ok(())
}

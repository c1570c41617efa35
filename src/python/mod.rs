//! The embedded interpreter and everything between a GStreamer element and user code:
//! bootstrap, per-thread GIL state, loading user modules, exception text.

pub(crate) mod error;
pub mod interpreter;
pub mod kwargs;
pub(crate) mod loader;
pub mod thread_state;

use std::sync::LazyLock;

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "savantpython",
        gst::DebugColorFlags::empty(),
        Some("Savant embedded Python interpreter"),
    )
});

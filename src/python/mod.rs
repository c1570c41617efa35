//! The embedded interpreter and everything between a GStreamer element and user code:
//! bootstrap, per-thread GIL state, loading user modules, exception text.

pub mod error;
pub mod frame_checks;
pub mod gil_probe;
pub mod handoff;
pub mod interpreter;
pub mod kwargs;
pub mod log_bridge;
pub mod reload;
pub mod runtime;
pub mod settings;
pub mod stage;
pub mod stats;
pub mod thread_state;

use std::sync::LazyLock;

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "savantpython",
        gst::DebugColorFlags::empty(),
        Some("Savant embedded Python interpreter"),
    )
});

//! The stage machinery every Python stage element shares, behind one interface
//! (`runtime::StageRuntime`, its methods in one file per concern) and one per-frame
//! protocol (`call`): starting and stopping the user's code (an instance per worker,
//! or one), the per-frame call, event hooks (`events`), sources (`sources`), caps
//! and formats (`caps`), the on-error policy (`policy`), statistics and GIL sampling,
//! the hand-over rule (`handoff`: when a stage runs inline on the thread that brings
//! its frames), dev-mode reloads (`reload`), frame checks, Python logging into
//! GStreamer's debug log, and the state changes of a stage element (`lifecycle`).
//!
//! Layers, each importing only the ones before it (tests/layers.rs checks):
//! 1. embedding (`crate::python`, `crate::yaml`, `crate::cuda`);
//! 2. the Python API types (`crate::frame`, then `crate::draw`, assembled in
//!    `crate::api`);
//! 3. this machinery;
//! 4. the elements (`pyfunc`, `drawfunc`, `queue`, `module`, `mux`, `demux`), which
//!    find a stage's statistics through `runtime::stage_stats` and never name each
//!    other. The worker pool and the batcher take closures, not the element.
//!
//! The hand-over rule, its state and its invariants are in `handoff.rs`; the
//! shapes it must survive (tee, pause, flushing seeks, queues in a row) are tested
//! in `tests/concurrency.rs`.

pub mod call;
pub mod caps;
pub mod events;
pub mod frame_checks;
pub mod gil_probe;
pub mod handoff;
pub mod lifecycle;
pub mod log_bridge;
pub mod module_parameters;
pub mod pads;
pub mod parts;
pub mod policy;
pub mod registry;
pub mod reload;
pub mod runtime;
pub mod settings;
pub mod sources;
pub mod stats;
pub mod thresholds;
pub mod tracing;

//! The stage machinery every Python stage element shares, behind one interface
//! (`runtime::StageRuntime`): starting and stopping the user's code (an instance per
//! worker, or one), event hooks, caps and formats, the on-error policy, statistics
//! and GIL sampling, the hand-over rule (`handoff`: when a stage runs inline on the
//! thread that brings its frames), dev-mode reloads, frame checks, and Python
//! logging into GStreamer's debug log.
//!
//! Layers, each importing only the ones before it:
//! 1. embedding (`crate::python`): the interpreter, thread states, loading user code,
//!    errors;
//! 2. the Python API types (`crate::frame`, `crate::draw`, assembled in `crate::api`);
//! 3. this machinery;
//! 4. the elements (`pyfunc`, `drawfunc`, `queue`, `module`), which find a stage's
//!    statistics through `runtime::stage_stats` and never name each other.
//!
//! The hand-over rule, its state and its invariants are in `handoff.rs`; the
//! shapes it must survive (tee, pause, flushing seeks, queues in a row) are tested
//! in `tests/concurrency.rs`.

pub mod frame_checks;
pub mod gil_probe;
pub mod handoff;
pub mod log_bridge;
pub mod reload;
pub mod runtime;
pub mod settings;
pub mod stats;

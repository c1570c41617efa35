//! The per-frame protocol, written once: how a Python stage takes frames into the
//! user's code and back, for one frame (savantpyfunc's `process`), a batch
//! (`process_batch`) or a draw call (savantdrawfunc's `draw`). What differs between
//! them, how Python is called and what its result means, is a [`Protocol`]; every
//! other step is here, once, in this order:
//!
//! 1. dev-mode: reload the code when its files changed (a frame boundary);
//! 2. the frame context: instances, caps and on-error, one lock;
//! 3. sources the instances were not told of yet get `on_source_add`;
//! 4. objects whose ROI metas an element upstream dropped are put back;
//! 5. buffers are made writable when the stage maps frames read-write;
//! 6. [`Protocol::prepare`]: Rust work before the GIL (the draw spec's drawing);
//! 7. one GIL hand-over, timed: frames built on each buffer's layout, checked
//!    against the caps (CUDA buffers too), [`Protocol::call`], each passing
//!    frame's changes read, each frame's checks (a write into a read-only frame,
//!    a frame Python kept);
//! 8. without the GIL: statistics, the checks' warnings, the CUDA work Python
//!    queued on a frame it mapped, periodic statistics;
//! 9. each frame settled: passed on with its changes, dropped, or the on-error
//!    policy applied (its message posted, with one wording for every stage).
//!
//! Two result types: a [`Verdict`] is what the call made of a frame; an [`Outcome`]
//! is what becomes of its buffer.

use std::sync::atomic::Ordering::Relaxed;

use pyo3::prelude::*;
use smallvec::SmallVec;

use super::frame_checks;
use super::log_bridge;
use super::policy::OnError;
use super::runtime::StageRuntime;
use super::stats::{metrics_enabled, SourceEvent};
use super::tracing;
use crate::frame::layout::FrameLayout;
use crate::frame::{Access, Frame, FrameChanges, NotAFrame};
use crate::python::loader::{StageError, UserInstance};
use crate::python::thread_state;

/// Frames of one call, inline for the usual single frame (no allocation per buffer).
pub type Buffers = SmallVec<[gst::Buffer; 1]>;
/// One verdict per frame of a call, in order.
pub type Verdicts<K> = SmallVec<[Verdict<K>; 1]>;
/// One outcome per frame of a call, in order.
pub type Outcomes<K> = SmallVec<[Outcome<K>; 1]>;

/// What the user's call made of one frame.
#[derive(Debug)]
pub enum Verdict<K> {
    /// Pass it on; `K` is what the call leaves the element (savantdrawfunc's drawing).
    Pass(K),
    /// Drop it, as the call asked.
    Drop,
    /// The call raised, or returned something that is not a verdict.
    Failed(StageError),
}

/// What becomes of one buffer after its call (errors are already posted).
#[derive(Debug)]
pub enum Outcome<K = ()> {
    /// Push it. `Some` with what the call left when it passed; `None` when the stage
    /// ran no code or on-error=skip let a failed frame through unchanged.
    Push(gst::Buffer, Option<K>),
    Dropped,
    Failed,
}

/// What differs between the ways a stage calls Python.
pub trait Protocol {
    /// What a passing frame carries to its element besides its changes.
    type Kept;

    /// One `process_batch` call for several frames (counted as a batch).
    const BATCH: bool = false;

    /// What the call is, in trace spans.
    const NAME: &'static str = "process_frame";

    /// Before the GIL, after dropped objects are back: Rust work on the buffers
    /// (whose layouts are checked against `caps_layout` when their frames are
    /// built), with `hooks` when the stage has user code.
    fn prepare(
        &mut self,
        _hooks: Option<&UserInstance>,
        _buffers: &[gst::Buffer],
        _caps_layout: &FrameLayout,
    ) {
    }

    /// Under the GIL: calls the user's code with `frames` and says what it made of
    /// each, exactly one verdict per frame, in order.
    fn call<'py>(
        &mut self,
        py: Python<'py>,
        hooks: &UserInstance,
        frames: &[Bound<'py, Frame>],
    ) -> Verdicts<Self::Kept>;
}

/// A frame's verdict with its changes, or why the buffer could not be a frame (it
/// does not fit its caps: a stream error, whatever on-error says).
type Read<K> = Result<Verdict<(FrameChanges, K)>, String>;

/// What a frame's call came to, read under the GIL.
struct Called<K> {
    verdict: Read<K>,
    report: frame_checks::CallReport,
    device_mapped: bool,
}

/// Runs the protocol for `buffers` with worker `worker`'s instance (0 on the
/// streaming thread). Err(Flushing) when the stage is stopped; Err(NotNegotiated)
/// before caps (the ERROR is posted).
///
/// # Errors
///
/// Only those two: every failure of the call itself is an [`Outcome::Failed`] whose
/// message is already on the bus.
pub fn run<P: Protocol>(
    stage: &StageRuntime,
    element: &gst::Element,
    protocol: &mut P,
    mut buffers: Buffers,
    worker: usize,
    writable: bool,
) -> Result<Outcomes<P::Kept>, gst::FlowError> {
    stage.maybe_reload(element);
    let context = stage.frame_context(element)?;
    let failed = |n: usize| (0..n).map(|_| Outcome::Failed).collect();
    if !stage.announce_frame_sources(element, &context, &buffers) {
        return Ok(failed(buffers.len()));
    }
    let caps_layout = &context.caps.layout;
    for buffer in &mut buffers {
        stage.restore_dropped_objects(element, buffer, caps_layout);
        if writable {
            // Copies only when the buffer is shared (after a tee, or kept by Python).
            buffer.make_mut();
        }
    }
    let hooks = context.instance(worker);
    protocol.prepare(hooks.map(|h| &**h), &buffers, caps_layout);
    let stats = &*stage.stats;
    let Some(hooks) = hooks else {
        // No user code (savantdrawfunc drawing from its spec alone): the layouts are
        // checked here, as the frames would check them.
        for buffer in &buffers {
            if let Err(e) = crate::frame::buffer_layout(buffer, caps_layout) {
                gst::element_error!(element, gst::StreamError::Format, ("{}", e));
                return Ok(failed(buffers.len()));
            }
        }
        stats.frames.fetch_add(buffers.len() as u64, Relaxed);
        stage.maybe_post_periodic_stats(element, context.stats_interval_ms);
        return Ok(buffers
            .into_iter()
            .map(|b| Outcome::Push(b, None))
            .collect());
    };
    if P::BATCH {
        gst::log!(
            stage.cat,
            obj = element,
            "calling {} for {} frames",
            hooks.process_name,
            buffers.len()
        );
    } else {
        gst::log!(
            stage.cat,
            obj = element,
            "calling {} for {:?}",
            hooks.process_name,
            buffers[0].pts()
        );
    }
    let spans: tracing::FrameSpans = if tracing::enabled() {
        buffers
            .iter()
            .map(|b| tracing::frame_span(element, b))
            .collect()
    } else {
        tracing::FrameSpans::new()
    };
    let calls = &stats.calls;
    let buffers_ref = &buffers;
    let spans_ref = &spans;
    let scope = log_bridge::scope(element, stage.cat);
    let attached = thread_state::attach_timed(scope, move |py| {
        calls.enter();
        let called = call(
            py,
            protocol,
            hooks,
            buffers_ref,
            spans_ref,
            caps_layout,
            writable,
            element,
            stats,
        );
        calls.leave();
        called
    });
    let Ok((called, timing)) = attached else {
        // The process is exiting under a running pipeline (Python finalizing).
        gst::element_error!(
            element,
            gst::LibraryError::Failed,
            ("{}", thread_state::NotRunning)
        );
        return Ok(failed(buffers.len()));
    };
    let thread_state::Timing {
        gil_wait_ns,
        held_ns: python_ns,
    } = timing;
    if P::BATCH {
        stats.record_batch(buffers.len() as u64, python_ns, gil_wait_ns);
    } else {
        stats.record_call(python_ns, gil_wait_ns);
    }
    if !spans.is_empty() {
        tracing::record(element, P::NAME, &buffers, &spans, gil_wait_ns, python_ns);
    }
    if metrics_enabled() {
        let now = gst::get_timestamp().nseconds();
        for buffer in &buffers {
            stats.sources.count_frame(buffer, SourceEvent::Frame);
            if let Some(muxed) = crate::frame::source::muxed_ns(buffer) {
                stats.mux_latency.observe(now.saturating_sub(muxed));
            }
        }
    }
    // A loop of pushes: SmallVec's generic `collect` cost ~150 instructions a frame.
    let mut outcomes = Outcomes::with_capacity(buffers.len());
    for (called, buffer) in called.into_iter().zip(buffers) {
        called.report.post_warnings(element);
        let outcome = if called.device_mapped && !finish_device_work(element, &buffer) {
            Outcome::Failed
        } else {
            match called.verdict {
                Err(invalid) => {
                    gst::element_error!(element, gst::StreamError::Format, ("{}", invalid));
                    Outcome::Failed
                }
                Ok(verdict) => settle(stage, element, verdict, buffer, context.on_error),
            }
        };
        outcomes.push(outcome);
    }
    stage.maybe_post_periodic_stats(element, context.stats_interval_ms);
    Ok(outcomes)
}

/// Step 7, under the GIL.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn call<'py, P: Protocol>(
    py: Python<'py>,
    protocol: &mut P,
    hooks: &UserInstance,
    buffers: &[gst::Buffer],
    spans: &[tracing::FrameSpan],
    caps_layout: &FrameLayout,
    writable: bool,
    element: &gst::Element,
    stats: &super::stats::StageStats,
) -> SmallVec<[Called<P::Kept>; 1]> {
    let every = |verdict: &dyn Fn() -> Read<P::Kept>| {
        buffers
            .iter()
            .map(|_| Called {
                verdict: verdict(),
                report: frame_checks::CallReport::default(),
                device_mapped: false,
            })
            .collect()
    };
    let mut frames: SmallVec<[Bound<'py, Frame>; 1]> = SmallVec::with_capacity(buffers.len());
    for buffer in buffers {
        let access = if writable {
            Access::Writable
        } else if frame_checks::picks_readonly_check(stats) {
            Access::ReadOnlyChecked
        } else {
            Access::ReadOnly
        };
        // The stage's name is the default `model` of the objects Python adds.
        let stage = hooks.stage_name.clone_ref(py);
        match Frame::of_buffer(py, buffer, caps_layout, access, stage) {
            Ok(frame) => frames.push(frame),
            Err(NotAFrame::Buffer(e)) => return every(&|| Err(e.clone())),
            Err(NotAFrame::Python(e)) => {
                let error = failure(py, hooks, "creating the frame", &e);
                return every(&|| Ok(Verdict::Failed(error.clone())));
            }
        }
    }
    let verdicts = if spans.is_empty() {
        protocol.call(py, hooks, &frames)
    } else {
        let _parent = tracing::PythonParent::enter(py, spans);
        protocol.call(py, hooks, &frames)
    };
    debug_assert_eq!(verdicts.len(), frames.len());
    let mut called = SmallVec::with_capacity(frames.len());
    for (frame, verdict) in frames.into_iter().zip(verdicts) {
        called.push(finish(py, hooks, frame, verdict, element, stats));
    }
    called
}

/// After the call, for one frame: its changes when it passed, its checks, and
/// whether Python mapped its device memory.
#[inline(always)]
fn finish<K>(
    py: Python<'_>,
    hooks: &UserInstance,
    frame: Bound<'_, Frame>,
    verdict: Verdict<K>,
    element: &gst::Element,
    stats: &super::stats::StageStats,
) -> Called<K> {
    let verdict = match verdict {
        Verdict::Pass(kept) => match frame.get().changes(py) {
            Ok(changes) => Verdict::Pass((changes, kept)),
            Err(e) => Verdict::Failed(failure(py, hooks, "frame changes", &e)),
        },
        Verdict::Drop => Verdict::Drop,
        Verdict::Failed(error) => Verdict::Failed(error),
    };
    let mut report = frame_checks::after_call(element, stats, hooks, &frame);
    // A write into a read-only frame outweighs what the call returned or raised.
    let verdict = match report.take_wrote() {
        Some(error) => Verdict::Failed(error),
        None => verdict,
    };
    let device_mapped = frame.get().device_mapped();
    // Unmaps now unless Python kept the frame or a view of it; the object is then
    // this thread's for its next frame.
    Frame::spare(frame);
    Called {
        verdict: Ok(verdict),
        report,
        device_mapped,
    }
}

/// Step 9: changes written, dropped, or the on-error policy for a failure.
fn settle<K>(
    stage: &StageRuntime,
    element: &gst::Element,
    verdict: Verdict<(FrameChanges, K)>,
    mut buffer: gst::Buffer,
    on_error: OnError,
) -> Outcome<K> {
    let stats = &stage.stats;
    match verdict {
        Verdict::Pass((changes, kept)) => {
            changes.apply(&mut buffer);
            Outcome::Push(buffer, Some(kept))
        }
        Verdict::Drop => {
            gst::log!(
                stage.cat,
                obj = element,
                "dropping {:?} as Python asked",
                buffer.pts()
            );
            stats.dropped.fetch_add(1, Relaxed);
            if metrics_enabled() {
                stats.sources.count_frame(&buffer, SourceEvent::Dropped);
            }
            Outcome::Dropped
        }
        Verdict::Failed(error) => {
            if metrics_enabled() {
                stats.sources.count_frame(&buffer, SourceEvent::Error);
            }
            match stage.on_hook_error(element, &error, on_error) {
                OnError::Fail => Outcome::Failed,
                OnError::Skip => Outcome::Push(buffer, None),
                OnError::Drop => {
                    stats.dropped.fetch_add(1, Relaxed);
                    if metrics_enabled() {
                        stats.sources.count_frame(&buffer, SourceEvent::Dropped);
                    }
                    Outcome::Dropped
                }
            }
        }
    }
}

/// Python mapped a CUDA frame: what it queued on the device (any stream) must be
/// done before the buffer goes downstream. Without the GIL; false after posting an
/// error.
fn finish_device_work(element: &gst::Element, buffer: &gst::Buffer) -> bool {
    match crate::cuda::finish_device_work(buffer.peek_memory(0)) {
        Ok(()) => true,
        Err(e) => {
            gst::element_error!(
                element,
                gst::ResourceError::Failed,
                ("waiting for the stage's CUDA work failed: {}", e)
            );
            false
        }
    }
}

/// "module M: what: the exception", the one wording of a failure around a call.
pub fn failure(py: Python<'_>, hooks: &UserInstance, what: &str, e: &PyErr) -> StageError {
    StageError::python(py, format!("module {}: {what}", hooks.module_name), e)
}

/// "module M: f() raised ...".
pub fn raised(py: Python<'_>, hooks: &UserInstance, e: &PyErr) -> StageError {
    StageError::python(
        py,
        format!(
            "module {}: {}() raised",
            hooks.module_name, hooks.process_name
        ),
        e,
    )
}

/// What a per-frame hook's return value says: True or None pass, False drops,
/// anything else is an error naming its type.
#[inline]
pub fn verdict_of<K>(
    hooks: &UserInstance,
    result: &Bound<'_, PyAny>,
    kept: impl FnOnce() -> K,
) -> Verdict<K> {
    match crate::frame::values::keeps_frame(result) {
        Some(true) => Verdict::Pass(kept()),
        Some(false) => Verdict::Drop,
        None => Verdict::Failed(StageError::plain(format!(
            "module {}: {}() returned {} (expected True, False or None)",
            hooks.module_name,
            hooks.process_name,
            result
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))),
    }
}

//! Spans of the stage calls, exported with OpenTelemetry (savantmetrics'
//! `otlp-endpoint`): one span per frame per stage, sampled by `trace-ratio`.
//!
//! A frame's spans are found together without anything written on the frame: its
//! trace id is a hash of its source id (savantmux's, if any) and its timestamp
//! (pts, else offset), the same in every stage, and every stage's span has the
//! same parent, a span id derived from the trace id that stands for the frame. The
//! sampling decision is a pure function of the trace id as well (OpenTelemetry's
//! trace-id-ratio rule), so a frame is sampled in every stage or in none, and an
//! unsampled frame costs a hash, no span.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use gst::prelude::*;
use opentelemetry::trace::{
    Span, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
};
use opentelemetry::{Context, KeyValue};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// The exporter, and the share of frames traced.
pub struct Tracing {
    pub tracer: opentelemetry_sdk::trace::SdkTracer,
    pub ratio: f64,
}

static TRACING: OnceLock<Tracing> = OnceLock::new();
static ON: AtomicBool = AtomicBool::new(false);

/// Stages trace their calls from now on (the savantmetrics tracer, at gst_init).
pub fn enable(tracing: Tracing) {
    if tracing.ratio > 0.0 && TRACING.set(tracing).is_ok() {
        ON.store(true, Relaxed);
    }
}

#[inline]
pub fn enabled() -> bool {
    ON.load(Relaxed)
}

fn hash(seed: u64, source: Option<&str>, time: Option<u64>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (seed, source, time).hash(&mut hasher);
    hasher.finish()
}

/// The frame's trace id: the same in every stage that sees the frame.
fn trace_id(buffer: &gst::BufferRef) -> TraceId {
    let time = buffer
        .pts()
        .map(|t| t.nseconds())
        .or_else(|| Some(buffer.offset()).filter(|o| *o != u64::MAX));
    crate::frame::source::with_id(buffer, |id| {
        (hash(1, Some(id), time), hash(2, Some(id), time))
    })
    .map_or_else(
        || TraceId::from(u128::from(hash(1, None, time)) << 64 | u128::from(hash(2, None, time))),
        |(high, low)| TraceId::from(u128::from(high) << 64 | u128::from(low)),
    )
}

/// The trace id's low 64 bits (what sampling and the derived span ids read).
fn low_bits(trace_id: TraceId) -> u64 {
    u128::from_be_bytes(trace_id.to_bytes()) as u64
}

/// OpenTelemetry's TraceIdRatioBased rule, so that every stage decides alike.
fn sampled(trace_id: TraceId, ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let bound = (ratio.max(0.0) * (1u64 << 63) as f64) as u64;
    let low = low_bits(trace_id);
    (low >> 1) < bound
}

/// A frame's span in one stage: its trace, the stage span's id (chosen before the
/// call, so that spans the user's code makes can name it as their parent) and
/// whether the frame is sampled.
#[derive(Clone, Copy, Debug)]
pub struct FrameSpan {
    trace_id: TraceId,
    span_id: SpanId,
    sampled: bool,
}

/// The frame's span in `element`, before its call.
pub fn frame_span(element: &gst::Element, buffer: &gst::BufferRef) -> FrameSpan {
    let trace_id = trace_id(buffer);
    let ratio = TRACING.get().map_or(0.0, |t| t.ratio);
    let trace = low_bits(trace_id);
    // Unique per stage within the trace: the element's address stands for the stage
    // (both ends of the parent link are made in this process).
    let stage = element.as_ptr() as usize as u64;
    FrameSpan {
        trace_id,
        span_id: SpanId::from(hash(4, None, Some(trace ^ stage.rotate_left(29))) | 1),
        sampled: sampled(trace_id, ratio),
    }
}

/// The frames' spans of one call, in order.
pub type FrameSpans = smallvec::SmallVec<[FrameSpan; 1]>;

thread_local! {
    /// The id of the span this thread starts next (see [`ChosenSpanIds`]).
    static CHOSEN_SPAN_ID: std::cell::Cell<Option<SpanId>> = const { std::cell::Cell::new(None) };
}

/// The tracer's id generator: a stage's span takes the id chosen before its call
/// (OpenTelemetry's span builder cannot be given one), every other span a random
/// id.
#[derive(Debug, Default)]
pub struct ChosenSpanIds(opentelemetry_sdk::trace::RandomIdGenerator);

impl opentelemetry_sdk::trace::IdGenerator for ChosenSpanIds {
    fn new_trace_id(&self) -> TraceId {
        self.0.new_trace_id()
    }

    fn new_span_id(&self) -> SpanId {
        CHOSEN_SPAN_ID.get().unwrap_or_else(|| self.0.new_span_id())
    }
}

/// One span per sampled frame of a call that took `gil_wait_ns` to start and
/// `python_ns` in Python, ending now; `kind` names the call (`process_frame`, ...).
pub fn record(
    element: &gst::Element,
    kind: &'static str,
    buffers: &[gst::Buffer],
    spans: &[FrameSpan],
    gil_wait_ns: u64,
    python_ns: u64,
) {
    let Some(tracing) = TRACING.get() else {
        return;
    };
    let end = SystemTime::now();
    let start = end - Duration::from_nanos(gil_wait_ns + python_ns);
    let share = buffers.len().max(1) as u64;
    for (buffer, frame) in buffers.iter().zip(spans) {
        if !frame.sampled {
            continue;
        }
        let trace_id = frame.trace_id;
        let frame_span = SpanId::from(hash(3, None, Some(low_bits(trace_id))));
        let parent = Context::new().with_remote_span_context(SpanContext::new(
            trace_id,
            frame_span,
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ));
        let mut attributes = vec![
            KeyValue::new("gst.element", element.name().to_string()),
            KeyValue::new("savant.gil_wait_ns", (gil_wait_ns / share) as i64),
            KeyValue::new("savant.python_ns", (python_ns / share) as i64),
            KeyValue::new("savant.batch_frames", buffers.len() as i64),
        ];
        if let Some(pipeline) = super::registry::pipeline_name(element) {
            attributes.push(KeyValue::new("gst.pipeline", pipeline));
        }
        if let Some(pts) = buffer.pts() {
            attributes.push(KeyValue::new("savant.pts", pts.nseconds() as i64));
        }
        crate::frame::source::with_id(buffer, |id| {
            attributes.push(KeyValue::new("savant.source_id", id.to_owned()));
        });
        let span = tracing
            .tracer
            .span_builder(format!("{} {kind}", element.name()))
            .with_kind(SpanKind::Internal)
            .with_start_time(start)
            .with_attributes(attributes);
        CHOSEN_SPAN_ID.set(Some(frame.span_id));
        let mut span = span.start_with_context(&tracing.tracer, &parent);
        CHOSEN_SPAN_ID.set(None);
        span.end_with_timestamp(end);
    }
}

/// Spans the user's code makes with Python's `opentelemetry` API during a call
/// become children of the stage's span: while the call runs, the current
/// OpenTelemetry context (a contextvar of the calling thread) holds the stage span
/// as a remote parent, sampled as the frame is, so a ParentBased sampler (the
/// SDK's default) keeps or drops them with the frame. A batch's spans go under its
/// first sampled frame. Nothing is done unless the user's code imported
/// `opentelemetry.trace` (the plugin never imports it).
pub struct PythonParent<'py> {
    entered: Option<Bound<'py, PyAny>>,
}

const PYTHON_CONTEXT: &std::ffi::CStr = cr#"
import sys

_unsampled = None

def enter(trace_id, span_id, sampled):
    global _unsampled
    trace = sys.modules.get("opentelemetry.trace")
    context = sys.modules.get("opentelemetry.context")
    if trace is None or context is None:
        return None
    if sampled:
        parent = trace.set_span_in_context(trace.NonRecordingSpan(
            trace.SpanContext(trace_id, span_id, True, trace.TraceFlags(trace.TraceFlags.SAMPLED))))
    else:
        # Any unsampled parent makes ParentBased drop its children: one for all.
        if _unsampled is None:
            _unsampled = trace.set_span_in_context(trace.NonRecordingSpan(
                trace.SpanContext(1, 1, True, trace.TraceFlags(0))), context.Context())
        parent = _unsampled
    return (context, context.attach(parent))

def leave(entered):
    entered[0].detach(entered[1])
"#;

fn python_context(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || {
            PyModule::from_code(
                py,
                PYTHON_CONTEXT,
                c"savant_trace_context.py",
                c"savant_trace_context",
            )
            .map(Bound::unbind)
        })
        .map(|m| m.bind(py))
}

/// Whether the user's code imported Python's OpenTelemetry API: one lookup in
/// `sys.modules`.
fn python_uses_opentelemetry(py: Python<'_>) -> bool {
    // SAFETY: the GIL is held; the interpreter's module dict is a borrowed
    // reference that lives as long as the interpreter.
    let modules = unsafe { pyo3::ffi::PyImport_GetModuleDict() };
    if modules.is_null() {
        return false;
    }
    // SAFETY: `modules` is a live dict (above), borrowed for this call only.
    let modules = unsafe { Bound::from_borrowed_ptr(py, modules) };
    modules.cast::<pyo3::types::PyDict>().is_ok_and(|m| {
        m.contains(pyo3::intern!(py, "opentelemetry.trace"))
            .unwrap_or(false)
    })
}

impl<'py> PythonParent<'py> {
    /// Makes the call's stage span the current OpenTelemetry span in Python.
    pub fn enter(py: Python<'py>, spans: &[FrameSpan]) -> Self {
        let entered = spans
            .iter()
            .find(|s| s.sampled)
            .or_else(|| spans.first())
            .filter(|_| python_uses_opentelemetry(py))
            .and_then(|span| {
                let trace_id = u128::from_be_bytes(span.trace_id.to_bytes());
                let span_id = u64::from_be_bytes(span.span_id.to_bytes());
                python_context(py)
                    .and_then(|m| {
                        m.call_method1(
                            pyo3::intern!(py, "enter"),
                            (trace_id, span_id, span.sampled),
                        )
                    })
                    .inspect_err(|e| gst::debug!(crate::python::CAT, "OpenTelemetry context: {e}"))
                    .ok()
                    .filter(|entered| !entered.is_none())
            });
        PythonParent { entered }
    }
}

impl Drop for PythonParent<'_> {
    fn drop(&mut self) {
        if let Some(entered) = self.entered.take() {
            let py = entered.py();
            if let Err(e) = python_context(py)
                .and_then(|m| m.call_method1(pyo3::intern!(py, "leave"), (entered,)))
            {
                gst::debug!(crate::python::CAT, "OpenTelemetry context: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_has_one_trace_id_and_sampling_follows_the_ratio() {
        gst::init().unwrap();
        let mut a = gst::Buffer::new();
        a.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(40));
        let mut b = gst::Buffer::new();
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(40));
        assert_eq!(trace_id(&a), trace_id(&b), "same frame, same trace");
        crate::frame::source::register();
        crate::frame::source::mark(b.get_mut().unwrap(), "cam-b", None, None);
        assert_ne!(trace_id(&a), trace_id(&b), "another source, another trace");
        let ids: Vec<TraceId> = (0..10_000u64)
            .map(|i| {
                let mut buffer = gst::Buffer::new();
                buffer
                    .get_mut()
                    .unwrap()
                    .set_pts(gst::ClockTime::from_nseconds(i));
                trace_id(&buffer)
            })
            .collect();
        let share = |ratio| ids.iter().filter(|id| sampled(**id, ratio)).count();
        assert_eq!(share(0.0), 0);
        assert_eq!(share(1.0), 10_000);
        let tenth = share(0.1);
        assert!((800..1200).contains(&tenth), "{tenth} of 10,000 at 0.1");
    }
}

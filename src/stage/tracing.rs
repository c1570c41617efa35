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

/// OpenTelemetry's TraceIdRatioBased rule, so that every stage decides alike.
fn sampled(trace_id: TraceId, ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let bound = (ratio.max(0.0) * (1u64 << 63) as f64) as u64;
    let low = u128::from_be_bytes(trace_id.to_bytes()) as u64;
    (low >> 1) < bound
}

/// One span per frame of a call that took `gil_wait_ns` to start and `python_ns`
/// in Python, ending now; `kind` names the call (`process_frame`, ...).
pub fn record(
    element: &gst::Element,
    kind: &'static str,
    buffers: &[gst::Buffer],
    gil_wait_ns: u64,
    python_ns: u64,
) {
    let Some(tracing) = TRACING.get() else {
        return;
    };
    let end = SystemTime::now();
    let start = end - Duration::from_nanos(gil_wait_ns + python_ns);
    let share = buffers.len().max(1) as u64;
    for buffer in buffers {
        let trace_id = trace_id(buffer);
        if !sampled(trace_id, tracing.ratio) {
            continue;
        }
        let frame_span = SpanId::from(hash(
            3,
            None,
            Some(u128::from_be_bytes(trace_id.to_bytes()) as u64),
        ));
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
        let mut span = tracing
            .tracer
            .span_builder(format!("{} {kind}", element.name()))
            .with_kind(SpanKind::Internal)
            .with_start_time(start)
            .with_attributes(attributes)
            .start_with_context(&tracing.tracer, &parent);
        span.end_with_timestamp(end);
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

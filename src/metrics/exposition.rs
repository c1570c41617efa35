//! Prometheus's text format (version 0.0.4) of what the watched elements report,
//! and the health text. Names follow Prometheus's conventions (base units,
//! `_total` counters); labels: `pipeline` (the element's top-level bin), `element`
//! (its name), and `source_id` where a figure is per source.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use gst::prelude::*;

use super::server::Shared;
use crate::stage::stats::{HistogramReading, HISTOGRAM_BOUNDS_NS};

/// A stats field served as a metric: field, metric name, kind, help, scale.
type Field = (&'static str, &'static str, Kind, &'static str, f64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

const NS: f64 = 1e-9;

/// savantpyfunc's and savantdrawfunc's `stats` fields.
const STAGE_FIELDS: &[Field] = &[
    (
        "frames",
        "savant_stage_frames_total",
        Kind::Counter,
        "Frames the stage handled",
        1.0,
    ),
    (
        "dropped",
        "savant_stage_dropped_frames_total",
        Kind::Counter,
        "Frames dropped by the stage's code or by on-error=drop",
        1.0,
    ),
    (
        "errors",
        "savant_stage_errors_total",
        Kind::Counter,
        "Failed calls",
        1.0,
    ),
    (
        "python-ns",
        "savant_stage_python_seconds_total",
        Kind::Counter,
        "Time in Python",
        NS,
    ),
    (
        "gil-wait-ns",
        "savant_stage_gil_wait_seconds_total",
        Kind::Counter,
        "Time waiting to take the GIL",
        NS,
    ),
    (
        "draw-ns",
        "savant_stage_draw_seconds_total",
        Kind::Counter,
        "Time rasterizing (savantdrawfunc)",
        NS,
    ),
    (
        "batches",
        "savant_stage_batches_total",
        Kind::Counter,
        "process_batch calls",
        1.0,
    ),
    (
        "frames-held",
        "savant_stage_frames_held",
        Kind::Gauge,
        "Frames Python still keeps after their calls",
        1.0,
    ),
    (
        "bytes-held",
        "savant_stage_held_bytes",
        Kind::Gauge,
        "Bytes of the frames Python keeps",
        1.0,
    ),
    (
        "batch-frames",
        "savant_stage_batch_frames",
        Kind::Gauge,
        "Frames waiting for their batch",
        1.0,
    ),
    (
        "batch-bytes",
        "savant_stage_batch_bytes",
        Kind::Gauge,
        "Bytes of the frames waiting for their batch",
        1.0,
    ),
];

/// savantqueue's `stats` fields.
const QUEUE_FIELDS: &[Field] = &[
    (
        "level-buffers",
        "savant_queue_level_frames",
        Kind::Gauge,
        "Frames in the queue",
        1.0,
    ),
    (
        "level-bytes",
        "savant_queue_level_bytes",
        Kind::Gauge,
        "Bytes of the frames in the queue",
        1.0,
    ),
    (
        "level-gpu-bytes",
        "savant_queue_level_gpu_bytes",
        Kind::Gauge,
        "Bytes of GPU memory of the frames in the queue",
        1.0,
    ),
    (
        "capacity-bytes",
        "savant_queue_capacity_bytes",
        Kind::Gauge,
        "Bytes the queue may hold",
        1.0,
    ),
    (
        "passed",
        "savant_queue_frames_total",
        Kind::Counter,
        "Frames through the queue",
        1.0,
    ),
    (
        "passed-inline",
        "savant_queue_inline_frames_total",
        Kind::Counter,
        "Frames the queue passed inline (no thread hand-over)",
        1.0,
    ),
    (
        "inline",
        "savant_queue_inline",
        Kind::Gauge,
        "1 while the queue runs its stage inline",
        1.0,
    ),
    (
        "upstream-blocked-ns",
        "savant_queue_upstream_blocked_seconds_total",
        Kind::Counter,
        "Time upstream waited on a full queue",
        NS,
    ),
    (
        "mode-switches",
        "savant_queue_mode_switches_total",
        Kind::Counter,
        "Switches between inline and queued",
        1.0,
    ),
];

/// savantpublish's own `stats` fields (its stage figures are served as a stage's).
const PUBLISH_FIELDS: &[Field] = &[
    (
        "messages",
        "savant_publish_messages_total",
        Kind::Counter,
        "Messages made (one per frame unless to_message returned None)",
        1.0,
    ),
    (
        "messages-sent",
        "savant_publish_sent_total",
        Kind::Counter,
        "Messages the broker confirmed (written, for files)",
        1.0,
    ),
    (
        "messages-dropped",
        "savant_publish_dropped_total",
        Kind::Counter,
        "Messages dropped: buffer full (drop-oldest), too large, or undelivered at the flush timeout or stop",
        1.0,
    ),
    (
        "retries",
        "savant_publish_retries_total",
        Kind::Counter,
        "Connection attempts after a failure, and batches sent again",
        1.0,
    ),
    (
        "buffered",
        "savant_publish_buffered_messages",
        Kind::Gauge,
        "Messages waiting or unconfirmed",
        1.0,
    ),
    (
        "buffered-bytes",
        "savant_publish_buffered_bytes",
        Kind::Gauge,
        "Bytes of the messages waiting or unconfirmed",
        1.0,
    ),
];

/// Samples by metric name, each family's help and kind once.
#[derive(Default)]
struct Families(BTreeMap<&'static str, (Kind, &'static str, Vec<String>)>);

impl Families {
    fn add(&mut self, name: &'static str, kind: Kind, help: &'static str, sample: String) {
        self.0
            .entry(name)
            .or_insert_with(|| (kind, help, Vec::new()))
            .2
            .push(sample);
    }

    fn value(
        &mut self,
        (name, kind, help): (&'static str, Kind, &'static str),
        labels: &str,
        value: f64,
    ) {
        self.add(
            name,
            kind,
            help,
            format!("{name}{{{labels}}} {}", number(value)),
        );
    }

    fn text(self) -> String {
        let mut out = String::new();
        for (name, (kind, help, samples)) in self.0 {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
            for sample in samples {
                out.push_str(&sample);
                out.push('\n');
            }
        }
        out
    }
}

/// A value as Prometheus reads it.
fn number(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else if value.is_nan() {
        "NaN".to_owned()
    } else if value > 0.0 {
        "+Inf".to_owned()
    } else {
        "-Inf".to_owned()
    }
}

/// A label value escaped as the text format wants it.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A numeric field of any integer, float or boolean type.
fn field(structure: &gst::StructureRef, name: &str) -> Option<f64> {
    let value = structure.value(name).ok()?;
    value
        .get::<u64>()
        .map(|v| v as f64)
        .or_else(|_| value.get::<u32>().map(f64::from))
        .or_else(|_| value.get::<i64>().map(|v| v as f64))
        .or_else(|_| value.get::<i32>().map(f64::from))
        .or_else(|_| value.get::<f64>())
        .or_else(|_| value.get::<bool>().map(|b| if b { 1.0 } else { 0.0 }))
        .ok()
}

fn histogram(
    families: &mut Families,
    name: &'static str,
    help: &'static str,
    labels: &str,
    reading: &HistogramReading,
) {
    for (i, count) in reading.cumulative.iter().enumerate() {
        let le = HISTOGRAM_BOUNDS_NS
            .get(i)
            .map_or("+Inf".to_owned(), |ns| number(*ns as f64 * NS));
        families.add(
            name,
            Kind::Histogram,
            help,
            format!("{name}_bucket{{{labels},le=\"{le}\"}} {count}"),
        );
    }
    let count = reading.cumulative.last().copied().unwrap_or(0);
    families.add(
        name,
        Kind::Histogram,
        help,
        format!(
            "{name}_sum{{{labels}}} {}",
            number(reading.sum_ns as f64 * NS)
        ),
    );
    families.add(
        name,
        Kind::Histogram,
        help,
        format!("{name}_count{{{labels}}} {count}"),
    );
}

/// What the elements count, per pipeline: frames through stages and queues.
fn frames_seen(kind: &str, stats: &gst::StructureRef) -> u64 {
    let name = match kind {
        "savantqueue" => "passed",
        "savantpyfunc" | "savantdrawfunc" | "savantpublish" => "frames",
        _ => return 0,
    };
    field(stats, name).unwrap_or(0.0) as u64
}

fn stage(families: &mut Families, element: &gst::Element, stats: &gst::StructureRef, labels: &str) {
    for (name, metric, kind, help, scale) in STAGE_FIELDS {
        if let Some(value) = field(stats, name) {
            families.value((metric, *kind, help), labels, value * scale);
        }
    }
    let samples = field(stats, "gil-samples").unwrap_or(0.0);
    if samples > 0.0 {
        let free = field(stats, "gil-free-samples").unwrap_or(0.0);
        families.value(
            (
                "savant_stage_gil_free_ratio",
                Kind::Gauge,
                "Share of GIL samples that found the GIL released during a call",
            ),
            labels,
            free / samples,
        );
    }
    if let Ok(verdict) = stats.get::<&str>("verdict") {
        families.value(
            ("savant_stage_queues_help", Kind::Gauge, "1 when the stage releases the GIL so that queues ahead of it help (the stats verdict)"),
            labels,
            if verdict.ends_with(": queues help") { 1.0 } else { 0.0 },
        );
        families.add(
            "savant_stage_verdict",
            Kind::Gauge,
            "The stats verdict on queues, as a label",
            format!(
                "savant_stage_verdict{{{labels},verdict=\"{}\"}} 1",
                escape(verdict)
            ),
        );
    }
    let Some(stage_stats) = crate::stage::runtime::stage_stats(element) else {
        return;
    };
    histogram(
        families,
        "savant_stage_call_python_seconds",
        "Time in Python per call (a batch's share per frame)",
        labels,
        &stage_stats.python_calls.read(),
    );
    histogram(
        families,
        "savant_stage_call_gil_wait_seconds",
        "Time waiting for the GIL per call",
        labels,
        &stage_stats.gil_waits.read(),
    );
    histogram(
        families,
        "savant_stage_mux_latency_seconds",
        "Time from savantmux to the end of the stage's call, per frame",
        labels,
        &stage_stats.mux_latency.read(),
    );
    for (source, figures) in stage_stats.sources.read() {
        let labels = format!("{labels},source_id=\"{}\"", escape(&source));
        for (family, value) in [
            (
                (
                    "savant_stage_source_frames_total",
                    Kind::Counter,
                    "Frames the stage handled per source (savantmux's source id)",
                ),
                figures.frames,
            ),
            (
                (
                    "savant_stage_source_dropped_frames_total",
                    Kind::Counter,
                    "Frames dropped per source",
                ),
                figures.dropped,
            ),
            (
                (
                    "savant_stage_source_errors_total",
                    Kind::Counter,
                    "Failed calls per source",
                ),
                figures.errors,
            ),
        ] {
            families.value(family, &labels, value as f64);
        }
    }
}

fn demux(families: &mut Families, stats: &gst::StructureRef, labels: &str) {
    for (source, value) in stats.iter() {
        let Ok(per_source) = value.get::<gst::Structure>() else {
            continue;
        };
        if let Some(queued) = field(&per_source, "frames-queued") {
            families.value(
                (
                    "savant_demux_queued_frames",
                    Kind::Gauge,
                    "Frames queued on a source's pad",
                ),
                &format!("{labels},source_id=\"{}\"", escape(source)),
                queued,
            );
        }
    }
}

/// Frames seen per pipeline, and the families of every watched element.
fn collect() -> (Families, HashMap<String, u64>) {
    let mut families = Families::default();
    let mut frames: HashMap<String, u64> = HashMap::new();
    for element in crate::stage::registry::alive() {
        let Some(kind) = element.factory().map(|f| f.name().to_string()) else {
            continue;
        };
        if element.find_property("stats").is_none() {
            continue;
        }
        let stats = element.property::<gst::Structure>("stats");
        let pipeline = crate::stage::registry::pipeline_name(&element).unwrap_or_default();
        *frames.entry(pipeline.clone()).or_default() += frames_seen(&kind, &stats);
        let labels = format!(
            "pipeline=\"{}\",element=\"{}\"",
            escape(&pipeline),
            escape(&element.name())
        );
        match kind.as_str() {
            "savantpyfunc" | "savantdrawfunc" => stage(&mut families, &element, &stats, &labels),
            "savantpublish" => {
                stage(&mut families, &element, &stats, &labels);
                for (name, metric, kind, help, scale) in PUBLISH_FIELDS {
                    if let Some(value) = field(&stats, name) {
                        families.value((metric, *kind, help), &labels, value * scale);
                    }
                }
            }
            "savantqueue" => {
                for (name, metric, kind, help, scale) in QUEUE_FIELDS {
                    if let Some(value) = field(&stats, name) {
                        families.value((metric, *kind, help), &labels, value * scale);
                    }
                }
            }
            "savantdemux" => demux(&mut families, &stats, &labels),
            _ => {}
        }
    }
    (families, frames)
}

/// The whole /metrics text.
pub fn render(shared: &Shared) -> String {
    let (mut families, frames) = collect();
    for (pipeline, flowing) in shared.flowing(&frames) {
        families.value(
            (
                "savant_pipeline_flowing",
                Kind::Gauge,
                "1 while the pipeline's savant elements saw a frame within the healthz window",
            ),
            &format!("pipeline=\"{}\"", escape(&pipeline)),
            if flowing { 1.0 } else { 0.0 },
        );
    }
    for (metric, help, value) in [
        (
            "savant_metrics_scrapes_total",
            "Answered /metrics requests",
            &shared.scrapes,
        ),
        (
            "savant_metrics_refused_connections_total",
            "Connections closed unanswered because every worker was busy",
            &shared.refused,
        ),
        (
            "savant_metrics_bad_requests_total",
            "Requests that were not HTTP",
            &shared.bad_requests,
        ),
    ] {
        families.add(
            metric,
            Kind::Counter,
            help,
            format!("{metric} {}", value.load(Relaxed)),
        );
    }
    families.add(
        "savant_metrics_unserved_elements_total",
        Kind::Counter,
        "Elements not served because as many as the bound already were",
        format!(
            "savant_metrics_unserved_elements_total {}",
            crate::stage::registry::unserved()
        ),
    );
    families.text()
}

/// /healthz: healthy when every pipeline is flowing; one line per pipeline.
pub fn health(shared: &Shared) -> (bool, String) {
    let (_, frames) = collect();
    let flowing = shared.flowing(&frames);
    let mut text = String::new();
    for (pipeline, ok) in &flowing {
        let _ = writeln!(
            text,
            "{pipeline}: {}",
            if *ok {
                "flowing"
            } else {
                "no frames within the window"
            }
        );
    }
    if flowing.is_empty() {
        text.push_str("no pipelines\n");
    }
    (flowing.iter().all(|(_, ok)| *ok), text)
}

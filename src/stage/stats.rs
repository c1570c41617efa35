//! Per-stage counters: how many frames, how long in Python, how long waiting for the
//! GIL, and whether the Python code releases the GIL. Lock-free so streaming threads
//! never contend with property reads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use super::gil_probe::CallTracker;
use super::thresholds;
use crate::frame::held::HeldFrames;
use crate::frame::readonly_check::ReadonlySampler;

pub use super::thresholds::SHORT_CALL_NS;

/// Every field of a stage's `stats`, with what it means. The `stats` property's
/// blurb is made from this list (see `blurb`), and a test checks `to_structure`
/// against it, so the two cannot drift apart.
pub const FIELDS: &[(&str, &str)] = &[
    ("frames", "frames the stage handled"),
    ("dropped", "frames dropped by the code or by on-error=drop"),
    ("errors", "failed calls"),
    ("python-ns", "time in Python"),
    ("python-ns-max", "the longest call"),
    ("gil-wait-ns", "time waiting to take the GIL"),
    ("gil-wait-ns-max", "the longest wait"),
    ("wall-ns", "wall time since the first call"),
    (
        "gil-free-samples",
        "GIL samples that found the GIL released during a call",
    ),
    ("gil-samples", "GIL samples taken during calls"),
    ("verdict", "whether queues ahead of the stage help"),
    (
        "readonly-checks",
        "frames checked for writes by a read-only stage",
    ),
    (
        "readonly-check-period",
        "one frame in this many is checked after the first ones",
    ),
    ("frames-held", "frames Python still keeps after their calls"),
    ("bytes-held", "the bytes of those frames"),
    ("batches", "process_batch calls"),
];

/// The field savantdrawfunc adds.
pub const DRAW_FIELDS: &[(&str, &str)] = &[("draw-ns", "time spent rasterizing")];

/// The `stats` property's blurb: every shared field, then the element's own.
pub fn blurb(own: &[(&str, &str)]) -> String {
    let fields: Vec<String> = FIELDS
        .iter()
        .chain(own)
        .map(|(name, meaning)| format!("{name} ({meaning})"))
        .collect();
    format!("Statistics, read-only: {}", fields.join(", "))
}

/// Set once the `savantmetrics` tracer runs in this process: only then do stages
/// keep per-call histograms and frames per source (a relaxed load per call when
/// off).
static METRICS: AtomicBool = AtomicBool::new(false);

/// Stages keep what the metrics export from now on.
pub fn enable_metrics() {
    METRICS.store(true, Relaxed);
}

#[inline]
pub fn metrics_enabled() -> bool {
    METRICS.load(Relaxed)
}

/// Upper bounds (nanoseconds) of the per-call histograms' buckets, Prometheus's
/// `le`; a last bucket takes the rest.
pub const HISTOGRAM_BOUNDS_NS: [u64; 15] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
];

/// Durations by bucket, lock-free.
#[derive(Default, Debug)]
pub struct Histogram {
    buckets: [AtomicU64; HISTOGRAM_BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

/// A histogram at one moment: cumulative counts per bound (the last is +Inf), and
/// the sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramReading {
    pub cumulative: Vec<u64>,
    pub sum_ns: u64,
}

impl Histogram {
    #[inline]
    pub fn observe(&self, ns: u64) {
        let bucket = HISTOGRAM_BOUNDS_NS.partition_point(|bound| *bound < ns);
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    pub fn read(&self) -> HistogramReading {
        let mut total = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Relaxed);
                total
            })
            .collect();
        HistogramReading {
            cumulative,
            sum_ns: self.sum_ns.load(Relaxed),
        }
    }

    fn reset(&self) {
        for bucket in &self.buckets {
            bucket.store(0, Relaxed);
        }
        self.sum_ns.store(0, Relaxed);
    }
}

/// Most source ids a stage counts frames of; frames of others count under
/// [`OTHER_SOURCES`] (a bound on the metrics' label values).
pub const MAX_SOURCE_LABELS: usize = 64;
pub const OTHER_SOURCES: &str = "(other)";

/// What a stage counts per source.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceFigures {
    pub frames: u64,
    pub dropped: u64,
    pub errors: u64,
}

/// Which of a source's figures a frame adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceEvent {
    Frame,
    Dropped,
    Error,
}

/// Figures per source id (savantmux's), kept while metrics are on.
#[derive(Default, Debug)]
pub struct SourceCounts(Mutex<HashMap<String, SourceFigures>>);

impl SourceCounts {
    pub fn count(&self, id: &str, event: SourceEvent) {
        let mut counts = self.0.lock().unwrap();
        let key = if counts.contains_key(id) || counts.len() < MAX_SOURCE_LABELS {
            id
        } else {
            OTHER_SOURCES
        };
        let figures = match counts.get_mut(key) {
            Some(figures) => figures,
            None => counts.entry(key.to_owned()).or_default(),
        };
        match event {
            SourceEvent::Frame => figures.frames += 1,
            SourceEvent::Dropped => figures.dropped += 1,
            SourceEvent::Error => figures.errors += 1,
        }
    }

    /// Counts `event` for the source of `buffer`, if a savantmux marked it.
    pub fn count_frame(&self, buffer: &gst::BufferRef, event: SourceEvent) {
        crate::frame::source::with_id(buffer, |id| self.count(id, event));
    }

    /// (source id, figures), sorted by id.
    pub fn read(&self) -> Vec<(String, SourceFigures)> {
        let mut counts: Vec<(String, SourceFigures)> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(id, figures)| (id.clone(), *figures))
            .collect();
        counts.sort_by(|a, b| a.0.cmp(&b.0));
        counts
    }
}

/// Origin for the first/last frame times kept in atomics.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

#[derive(Default, Debug)]
pub struct StageStats {
    pub frames: AtomicU64,
    /// Calls under SHORT_CALL_NS: a count, unlike a mean, that one call preempted
    /// on a loaded machine does not move.
    short_calls: AtomicU64,
    pub dropped: AtomicU64,
    pub errors: AtomicU64,
    python_ns: AtomicU64,
    python_ns_max: AtomicU64,
    gil_wait_ns: AtomicU64,
    gil_wait_ns_max: AtomicU64,
    /// Nanoseconds since EPOCH (+1, so 0 means "none yet") when the first call began.
    first_call_at: AtomicU64,
    pub calls: Arc<CallTracker>,
    /// Time spent rasterizing (drawing stages), outside the GIL.
    pub draw_ns: AtomicU64,
    reports_drawing: bool,
    /// The stage runs user Python (a drawing stage without a hook does not): only
    /// then are there GIL figures, a verdict, or a hand-over to decide.
    runs_python: AtomicBool,
    /// Which read-only frames are checked for writes, and how many were.
    pub readonly: ReadonlySampler,
    /// Frames Python kept after the calls returned; shared with those frames.
    pub held: Arc<HeldFrames>,
    /// `process_batch` calls (their frames count in `frames`).
    pub batches: AtomicU64,
    /// With metrics on: time in Python per call (a batch's share per frame).
    pub python_calls: Histogram,
    /// With metrics on: time waiting for the GIL per call.
    pub gil_waits: Histogram,
    /// With metrics on: frames per source.
    pub sources: SourceCounts,
    /// With metrics on: from savantmux to the end of this stage's call, per frame.
    pub mux_latency: Histogram,
}

/// Cumulative counters at one moment; the difference of two is a window.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub frames: u64,
    /// Calls shorter than a thread hand-over (`SHORT_CALL_NS`).
    pub short_calls: u64,
    pub python_ns: u64,
    pub gil_wait_ns: u64,
    pub gil_free_samples: u64,
    pub gil_samples: u64,
}

impl std::ops::Sub for Snapshot {
    type Output = Snapshot;
    fn sub(self, earlier: Snapshot) -> Snapshot {
        Snapshot {
            frames: self.frames.saturating_sub(earlier.frames),
            short_calls: self.short_calls.saturating_sub(earlier.short_calls),
            python_ns: self.python_ns.saturating_sub(earlier.python_ns),
            gil_wait_ns: self.gil_wait_ns.saturating_sub(earlier.gil_wait_ns),
            gil_free_samples: self
                .gil_free_samples
                .saturating_sub(earlier.gil_free_samples),
            gil_samples: self.gil_samples.saturating_sub(earlier.gil_samples),
        }
    }
}

impl StageStats {
    /// Stats of a drawing stage: they also report `draw-ns`.
    pub fn for_drawing() -> Self {
        Self {
            reports_drawing: true,
            ..Self::default()
        }
    }

    pub fn set_runs_python(&self, runs_python: bool) {
        self.runs_python.store(runs_python, Relaxed);
    }

    pub fn runs_python(&self) -> bool {
        self.runs_python.load(Relaxed)
    }

    pub fn snapshot(&self) -> Snapshot {
        let (gil_free_samples, gil_samples) = self.calls.samples();
        Snapshot {
            frames: self.frames.load(Relaxed),
            short_calls: self.short_calls.load(Relaxed),
            python_ns: self.python_ns.load(Relaxed),
            gil_wait_ns: self.gil_wait_ns.load(Relaxed),
            gil_free_samples,
            gil_samples,
        }
    }

    pub fn record_call(&self, python_ns: u64, gil_wait_ns: u64) {
        self.frames.fetch_add(1, Relaxed);
        if python_ns < SHORT_CALL_NS {
            self.short_calls.fetch_add(1, Relaxed);
        }
        self.python_ns.fetch_add(python_ns, Relaxed);
        self.gil_wait_ns.fetch_add(gil_wait_ns, Relaxed);
        // A locked read-modify-write only when the maximum moves, which is rare
        // after the first frames.
        if python_ns > self.python_ns_max.load(Relaxed) {
            self.python_ns_max.fetch_max(python_ns, Relaxed);
        }
        if gil_wait_ns > self.gil_wait_ns_max.load(Relaxed) {
            self.gil_wait_ns_max.fetch_max(gil_wait_ns, Relaxed);
        }
        if metrics_enabled() {
            self.python_calls.observe(python_ns);
            self.gil_waits.observe(gil_wait_ns);
        }
        // Only the first call reads the clock here: the hot path has enough of those.
        if self.first_call_at.load(Relaxed) == 0 {
            let end = EPOCH.elapsed().as_nanos() as u64 + 1;
            let start = end.saturating_sub(python_ns + gil_wait_ns).max(1);
            let _ = self
                .first_call_at
                .compare_exchange(0, start, Relaxed, Relaxed);
        }
    }

    /// One `process_batch` call of `frames` frames: counted as that many frames, each
    /// with an equal share of the call's time.
    pub fn record_batch(&self, frames: u64, python_ns: u64, gil_wait_ns: u64) {
        let frames = frames.max(1);
        self.batches.fetch_add(1, Relaxed);
        for _ in 0..frames {
            self.record_call(python_ns / frames, gil_wait_ns / frames);
        }
    }

    pub fn reset(&self) {
        for counter in [
            &self.batches,
            &self.frames,
            &self.short_calls,
            &self.dropped,
            &self.errors,
            &self.python_ns,
            &self.python_ns_max,
            &self.gil_wait_ns,
            &self.gil_wait_ns_max,
            &self.first_call_at,
            &self.draw_ns,
        ] {
            counter.store(0, Relaxed);
        }
        self.calls.reset();
        self.readonly.reset();
        self.held.reset();
        self.python_calls.reset();
        self.gil_waits.reset();
        self.mux_latency.reset();
    }

    /// Mean time of one call in Python so far.
    pub fn mean_python_ns(&self) -> u64 {
        self.python_ns.load(Relaxed) / self.frames.load(Relaxed).max(1)
    }

    /// dev-mode loaded new code: check its first frames again.
    pub fn code_reloaded(&self) {
        self.readonly.code_started(self.frames.load(Relaxed));
    }

    /// Time since the first call began (at EOS: the stream's wall time).
    fn wall_ns(&self) -> u64 {
        match self.first_call_at.load(Relaxed) {
            0 => 0,
            first => (EPOCH.elapsed().as_nanos() as u64 + 1).saturating_sub(first),
        }
    }

    pub fn to_structure(&self, name: &str) -> gst::Structure {
        let frames = self.frames.load(Relaxed);
        let python_ns = self.python_ns.load(Relaxed);
        let (free, samples) = self.calls.samples();
        let mean_call_ns = python_ns / frames.max(1);
        let mut structure = gst::Structure::builder(name)
            .field("frames", frames)
            .field("dropped", self.dropped.load(Relaxed))
            .field("errors", self.errors.load(Relaxed))
            .field("python-ns", python_ns)
            .field("python-ns-max", self.python_ns_max.load(Relaxed))
            .field("gil-wait-ns", self.gil_wait_ns.load(Relaxed))
            .field("gil-wait-ns-max", self.gil_wait_ns_max.load(Relaxed))
            .field("wall-ns", self.wall_ns())
            .field("gil-free-samples", free)
            .field("gil-samples", samples)
            .field(
                "verdict",
                if self.runs_python() || frames == 0 {
                    thresholds::verdict(&thresholds::Counts {
                        frames,
                        short_calls: self.short_calls.load(Relaxed),
                        free_samples: free,
                        samples,
                        mean_call_ns,
                    })
                } else {
                    "no Python code: the GIL is never taken"
                },
            )
            .field("readonly-checks", self.readonly.checks())
            .field("readonly-check-period", self.readonly.period())
            .field("frames-held", self.held.frames())
            .field("bytes-held", self.held.bytes())
            .field("batches", self.batches.load(Relaxed))
            .build();
        if self.reports_drawing {
            structure.set("draw-ns", self.draw_ns.load(Relaxed));
        }
        structure
    }

    /// One line for the log at EOS: frames, mean time in Python, mean GIL wait,
    /// share of wall time, GIL-free share and the verdict.
    pub fn summary(&self) -> String {
        let s = self.to_structure("summary");
        let frames = s.get::<u64>("frames").unwrap_or(0).max(1);
        let python = s.get::<u64>("python-ns").unwrap_or(0);
        let wait = s.get::<u64>("gil-wait-ns").unwrap_or(0);
        let wall = s.get::<u64>("wall-ns").unwrap_or(0).max(1);
        let free = s.get::<u64>("gil-free-samples").unwrap_or(0);
        let samples = s.get::<u64>("gil-samples").unwrap_or(0);
        // With workers, calls overlap: their time adds up to more than the wall time.
        let busy = python as f64 / wall as f64;
        let share = if busy <= 1.0 {
            format!("{:.0}% of wall time in Python", 100.0 * busy)
        } else {
            format!("{busy:.1} calls in Python at once on average")
        };
        format!(
            "{} frames, {:.1} us in Python and {:.1} us waiting for the GIL per frame, \
             {share}, GIL free in {}/{} samples: {}",
            s.get::<u64>("frames").unwrap_or(0),
            python as f64 / frames as f64 / 1e3,
            wait as f64 / frames as f64 / 1e3,
            free,
            samples,
            s.get::<&str>("verdict").unwrap_or("")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{StageStats, DRAW_FIELDS, FIELDS};

    fn names(structure: &gst::StructureRef) -> Vec<String> {
        structure.fields().map(|f| f.to_string()).collect()
    }

    #[test]
    fn the_documented_fields_are_the_fields() {
        gst::init().unwrap();
        let documented: Vec<String> = FIELDS.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(names(&StageStats::default().to_structure("s")), documented);
        let drawing: Vec<String> = FIELDS
            .iter()
            .chain(DRAW_FIELDS)
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(names(&StageStats::for_drawing().to_structure("s")), drawing);
    }
}

//! Per-stage counters: how many frames, how long in Python, how long waiting for the
//! GIL. Lock-free so streaming threads never contend with property reads.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default, Debug)]
pub struct StageStats {
    pub frames: AtomicU64,
    pub dropped: AtomicU64,
    pub errors: AtomicU64,
    python_ns: AtomicU64,
    python_ns_max: AtomicU64,
    gil_wait_ns: AtomicU64,
    gil_wait_ns_max: AtomicU64,
}

impl StageStats {
    pub fn record_call(&self, python_ns: u64, gil_wait_ns: u64) {
        self.frames.fetch_add(1, Relaxed);
        self.python_ns.fetch_add(python_ns, Relaxed);
        self.python_ns_max.fetch_max(python_ns, Relaxed);
        self.gil_wait_ns.fetch_add(gil_wait_ns, Relaxed);
        self.gil_wait_ns_max.fetch_max(gil_wait_ns, Relaxed);
    }

    pub fn reset(&self) {
        for counter in [
            &self.frames,
            &self.dropped,
            &self.errors,
            &self.python_ns,
            &self.python_ns_max,
            &self.gil_wait_ns,
            &self.gil_wait_ns_max,
        ] {
            counter.store(0, Relaxed);
        }
    }

    pub fn to_structure(&self, name: &str) -> gst::Structure {
        gst::Structure::builder(name)
            .field("frames", self.frames.load(Relaxed))
            .field("dropped", self.dropped.load(Relaxed))
            .field("errors", self.errors.load(Relaxed))
            .field("python-ns", self.python_ns.load(Relaxed))
            .field("python-ns-max", self.python_ns_max.load(Relaxed))
            .field("gil-wait-ns", self.gil_wait_ns.load(Relaxed))
            .field("gil-wait-ns-max", self.gil_wait_ns_max.load(Relaxed))
            .build()
    }
}

//! Finds out whether a stage's Python code releases the GIL, by sampling.
//!
//! While any registered stage is inside its Python call, a background thread tries to
//! take the GIL every `PERIOD`. If it gets it at once while the stage is still in the
//! same call, the call had released the GIL (numpy, OpenCV, I/O); if it has to wait
//! until the call ends, or longer than `FREE_WAIT`, the call held it. The share of
//! "free" samples is the stage's GIL-free share, the basis of the queue verdict.
//! When no stage is in a call the sampler does not touch the GIL at all.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Relaxed, SeqCst},
};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::python::thread_state;

const PERIOD: Duration = Duration::from_millis(5);
/// Taking a free GIL costs microseconds; a held one makes us wait for the holder's
/// switch interval (5 ms) or the end of its call.
const FREE_WAIT: Duration = Duration::from_micros(500);

/// Per-stage call tracking shared with the sampler.
///
/// Calls may overlap (workers): `active` counts the calls in progress and `finished`
/// the calls that ended, so "still inside the same calls" is `finished` unchanged
/// while `active` > 0, whatever the number of threads. (A single odd/even sequence
/// loses its parity as soon as two calls overlap.)
#[derive(Default, Debug)]
pub struct CallTracker {
    active: AtomicU64,
    finished: AtomicU64,
    samples_free: AtomicU64,
    samples_held: AtomicU64,
}

impl CallTracker {
    #[inline]
    pub fn enter(&self) {
        self.active.fetch_add(1, SeqCst);
    }

    #[inline]
    pub fn leave(&self) {
        // `finished` moves first: a sampler that still sees the call active then
        // also sees that a call ended.
        self.finished.fetch_add(1, SeqCst);
        self.active.fetch_sub(1, SeqCst);
    }

    pub fn reset(&self) {
        self.samples_free.store(0, Relaxed);
        self.samples_held.store(0, Relaxed);
    }

    /// (samples where the GIL was free during a call, all samples during calls).
    pub fn samples(&self) -> (u64, u64) {
        let free = self.samples_free.load(Relaxed);
        (free, free + self.samples_held.load(Relaxed))
    }
}

struct Registry {
    stages: Vec<Weak<CallTracker>>,
    sampler_running: bool,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    stages: Vec::new(),
    sampler_running: false,
});

/// Samples `tracker` until it is dropped. The sampler thread runs while any tracker
/// is alive and exits after the last one is gone.
pub fn register(tracker: &Arc<CallTracker>) {
    let mut registry = REGISTRY.lock().unwrap();
    registry.stages.retain(|s| s.strong_count() > 0);
    registry.stages.push(Arc::downgrade(tracker));
    if !registry.sampler_running {
        registry.sampler_running = true;
        let spawned = std::thread::Builder::new()
            .name("savant-gil-probe".into())
            .spawn(sample_loop);
        if spawned.is_err() {
            registry.sampler_running = false;
        }
    }
}

/// Stops sampling `tracker` (element stopped); the sampler exits with the last one.
pub fn unregister(tracker: &Arc<CallTracker>) {
    let target = Arc::downgrade(tracker);
    REGISTRY
        .lock()
        .unwrap()
        .stages
        .retain(|s| s.strong_count() > 0 && !s.ptr_eq(&target));
}

fn sample_loop() {
    let mut in_call = Vec::new();
    loop {
        std::thread::sleep(PERIOD);
        in_call.clear();
        {
            let mut registry = REGISTRY.lock().unwrap();
            registry.stages.retain(|s| s.strong_count() > 0);
            if registry.stages.is_empty() {
                registry.sampler_running = false;
                return;
            }
            for stage in registry.stages.iter().filter_map(Weak::upgrade) {
                let finished = stage.finished.load(SeqCst);
                if stage.active.load(SeqCst) > 0 {
                    in_call.push((stage, finished));
                }
            }
        }
        if in_call.is_empty() {
            continue;
        }
        let asked = Instant::now();
        if thread_state::attach(|_py| ()).is_err() {
            continue;
        }
        let free = asked.elapsed() < FREE_WAIT;
        for (stage, finished) in in_call.drain(..) {
            // A call that ended while we waited held the GIL to its end.
            if free && stage.finished.load(SeqCst) == finished {
                stage.samples_free.fetch_add(1, Relaxed);
            } else {
                stage.samples_held.fetch_add(1, Relaxed);
            }
        }
    }
}

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
/// Calls may overlap (workers): the calls in progress and the calls that ended are
/// counted, so "still inside the same calls" is "ended" unchanged while some are in
/// progress, whatever the number of threads. (A single odd/even sequence loses its
/// parity as soon as two calls overlap.) Both counts share one word, calls in
/// progress in the low [`ACTIVE_BITS`]: leaving a call is one locked add that
/// counts it ended and no longer in progress at once, and the sampler reads both in
/// one load.
#[derive(Default, Debug)]
pub struct CallTracker {
    calls: AtomicU64,
    samples_free: AtomicU64,
    samples_held: AtomicU64,
}

/// Bits of [`CallTracker::calls`] that count calls in progress: far more than a
/// stage's threads (workers are at most 64).
const ACTIVE_BITS: u32 = 16;
const ACTIVE_MASK: u64 = (1 << ACTIVE_BITS) - 1;

impl CallTracker {
    #[inline]
    pub fn enter(&self) {
        self.calls.fetch_add(1, SeqCst);
    }

    #[inline]
    pub fn leave(&self) {
        // One more ended (the high part), one fewer in progress (the low part): the
        // low part is at least 1 here, so the add never borrows from the high part.
        self.calls.fetch_add((1 << ACTIVE_BITS) - 1, SeqCst);
    }

    /// (calls in progress, calls ended), read together.
    fn counts(&self) -> (u64, u64) {
        let calls = self.calls.load(SeqCst);
        (calls & ACTIVE_MASK, calls >> ACTIVE_BITS)
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
                let (active, finished) = stage.counts();
                if active > 0 {
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
            if free && stage.counts().1 == finished {
                stage.samples_free.fetch_add(1, Relaxed);
            } else {
                stage.samples_held.fetch_add(1, Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_calls_are_counted_in_progress_and_ended() {
        let tracker = CallTracker::default();
        assert_eq!(tracker.counts(), (0, 0));
        tracker.enter();
        tracker.enter();
        assert_eq!(tracker.counts(), (2, 0));
        tracker.leave();
        assert_eq!(tracker.counts(), (1, 1));
        tracker.leave();
        assert_eq!(tracker.counts(), (0, 2));
        // Many ended calls carry into the high part only.
        for _ in 0..70_000 {
            tracker.enter();
            tracker.leave();
        }
        assert_eq!(tracker.counts(), (0, 70_002));
    }
}

//! When handing a Python stage's frames to another thread stops paying: used by
//! savantqueue (mode=auto) and by savantpyfunc workers.
//!
//! Another thread wins only when the stage's work can overlap with the rest, i.e.
//! when the GIL is not what they all wait for. Measured here: with
//! GIL-holding stages each queue costs a GIL hand-over between threads (a futex wake
//! and a context switch, ~13 us per frame per queue on the 2-core machine), which is
//! what makes Savant's queues slower. So, per window of frames of the stage behind
//! the queue:
//! - handed over -> inline: the stage waited for the GIL for over 20% of its Python time
//!   (contended) and held the GIL in most of at least 5 GIL samples (of the window, or
//!   since start when the window has fewer), with calls under 2 ms (longer ones could
//!   win under 0.7%); or most of its calls are short (under
//!   50 us; counted, not averaged), when a hand-over costs about as much as the call and running
//!   the call on upstream's thread costs upstream at most that call. Upstream then
//!   calls the stage on its own thread, as if there were no queue.
//! - inline -> handed over: the stage released the GIL in at least 60% of at least 10
//!   samples with calls of 100 us or more: running it on its own thread can pay again.
//!
//! For workers the same rule decides between the pool and calling the stage inline
//! on the streaming thread. One name for both: the stage runs *inline* (on the
//! thread that brings its frames) or its frames are *handed over*.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use super::stats::{Snapshot, StageStats};
use super::thresholds::{holds_gil, mostly_short};

/// Frames per decision window.
pub const WINDOW_FRAMES: u64 = 32;
/// GIL-bound calls longer than this stay handed over: a hand-over (5-13 us) is then
/// under 0.7% of the call, so inline could win little, while a wrong verdict (a
/// sampler starved of CPU on a loaded machine reads "held") would cost the stage its
/// thread.
const GIL_BOUND_INLINE_MAX_CALL_NS: u64 = 2_000_000;
/// Calls must be this long to be handed over again (hysteresis against flapping).
const HAND_OVER_AGAIN_CALL_NS: u64 = 100_000;
/// GIL samples a window needs to say anything about the GIL on its own; with fewer,
/// the stage's samples since start decide.
const WINDOW_SAMPLES: u64 = 5;

/// The next mode (`true` = inline) given the current one, a window of the stage's
/// counters and its counters since start, or None to stay.
pub fn next_mode(inline: bool, window: &Snapshot, total: &Snapshot) -> Option<bool> {
    if window.frames < WINDOW_FRAMES {
        return None;
    }
    let (free, samples) = if window.gil_samples >= WINDOW_SAMPLES {
        (window.gil_free_samples, window.gil_samples)
    } else {
        (total.gil_free_samples, total.gil_samples)
    };
    // Evidence, not its absence: a sampler starved of CPU takes few samples, and a
    // stage that sleeps must not go inline for that.
    let holds_gil = holds_gil(free, samples, WINDOW_SAMPLES);
    let mean_call_ns = window.python_ns / window.frames;
    if !inline {
        let contended = window.gil_wait_ns * 5 > window.python_ns;
        let worth_it = mean_call_ns < GIL_BOUND_INLINE_MAX_CALL_NS;
        let mostly_short = mostly_short(window.short_calls, window.frames);
        ((contended && holds_gil && worth_it) || mostly_short).then_some(true)
    } else {
        let releases_gil = samples >= 10 && free * 10 >= samples * 6;
        (releases_gil && mean_call_ns >= HAND_OVER_AGAIN_CALL_NS).then_some(false)
    }
}

/// The hand-over state of one stage, kept by whatever hands its frames to another
/// thread (a savantqueue ahead of it, or its own workers).
///
/// Invariants, which the owners keep:
/// 1. Only the thread that brings the frames (upstream's streaming thread) calls
///    `decide`, `commit` and `leave_inline`, so the mode changes only between two
///    frames of that thread.
/// 2. Going inline happens only after everything handed over so far has left the
///    other thread (the owner drains first), so no frame overtakes another.
/// 3. Going back to handing over needs no drain: inline frames have left already.
/// 4. The owner goes inline only where running the stage on upstream's thread is
///    what the pipeline would do without the hand-over (savantqueue: see its
///    `inline_is_safe`).
#[derive(Default, Debug)]
pub struct Handoff {
    inline: AtomicBool,
    decisions: AtomicU64,
    window_start: Mutex<Option<Snapshot>>,
    switches: AtomicU64,
}

impl Handoff {
    #[inline]
    pub fn is_inline(&self) -> bool {
        self.inline.load(Relaxed)
    }

    pub fn switches(&self) -> u64 {
        self.switches.load(Relaxed)
    }

    /// A new run: handing over, no window.
    pub fn reset(&self) {
        self.inline.store(false, Relaxed);
        self.decisions.store(0, Relaxed);
        self.switches.store(0, Relaxed);
        *self.window_start.lock().unwrap() = None;
    }

    /// Whether this frame is one to look at (one in 8): the stage's counters move
    /// once per frame, so looking every few frames is enough, and what looking needs
    /// (finding the stage, the pipeline's shape) stays off the other frames.
    pub fn due(&self) -> bool {
        self.decisions.fetch_add(1, Relaxed).is_multiple_of(8)
    }

    /// On a `due` frame: once per window, the mode to switch to (`true` = inline),
    /// if any. The caller then switches (draining first when going inline) and
    /// calls `commit`.
    pub fn decide(&self, stats: &StageStats) -> Option<bool> {
        if !stats.runs_python() {
            return None;
        }
        let now = stats.snapshot();
        let mut start = self.window_start.lock().unwrap();
        let Some(window_start) = *start else {
            *start = Some(now);
            return None;
        };
        let window = now - window_start;
        if window.frames < WINDOW_FRAMES {
            return None;
        }
        *start = Some(now);
        let next = next_mode(self.is_inline(), &window, &now);
        if next.is_some() {
            gst::debug!(
                crate::python::CAT,
                "hand-over: to {} after window {window:?} (since start {now:?})",
                if next == Some(true) {
                    "inline"
                } else {
                    "handing over"
                }
            );
        }
        next
    }

    pub fn commit(&self, inline: bool) {
        if self.inline.swap(inline, Relaxed) != inline {
            self.switches.fetch_add(1, Relaxed);
        }
    }

    /// Back to handing over, now (a pause, a pipeline shape where inline is unsafe);
    /// the next window starts afresh.
    pub fn leave_inline(&self) {
        self.commit(false);
        *self.window_start.lock().unwrap() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(inline: bool, window: &Snapshot) -> Option<bool> {
        next_mode(inline, window, window)
    }

    fn window(python_us: u64, wait_us: u64, free: u64, samples: u64) -> Snapshot {
        let mean_ns = python_us * 1000 / WINDOW_FRAMES;
        Snapshot {
            frames: WINDOW_FRAMES,
            short_calls: if mean_ns < 50_000 { WINDOW_FRAMES } else { 0 },
            python_ns: python_us * 1000,
            gil_wait_ns: wait_us * 1000,
            gil_free_samples: free,
            gil_samples: samples,
        }
    }

    #[test]
    fn short_calls_go_inline_whatever_the_gil() {
        assert_eq!(next(false, &window(32 * 20, 0, 0, 0),), Some(true));
        assert_eq!(next(false, &window(32 * 40, 0, 30, 30)), Some(true));
        // ... and stay inline: short calls never pay for a hand-over.
        assert_eq!(next(true, &window(32 * 40, 0, 30, 30)), None);
    }

    #[test]
    fn gil_bound_contended_stages_go_inline() {
        assert_eq!(next(false, &window(16_000, 15_000, 0, 30)), Some(true));
        // Too few samples say nothing: no hand-over is given up on no evidence.
        assert_eq!(next(false, &window(16_000, 15_000, 0, 2)), None);
    }

    #[test]
    fn one_preempted_call_does_not_hide_a_short_stage() {
        // 31 calls of 20 us and one of 8 ms: a mean of 270 us, but short calls.
        let mut w = window(31 * 20 + 8_000, 0, 0, 0);
        w.short_calls = 31;
        assert_eq!(next(false, &w), Some(true));
    }

    #[test]
    fn long_gil_bound_calls_keep_their_thread() {
        assert_eq!(next(false, &window(32 * 3_000, 32 * 1_000, 0, 30)), None);
    }

    #[test]
    fn gil_releasing_or_uncontended_stages_keep_their_queue() {
        assert_eq!(next(false, &window(150_000, 5_000, 90, 100)), None);
        assert_eq!(next(false, &window(32_000, 1_000, 0, 30)), None);
    }

    #[test]
    fn inline_stages_are_handed_over_again_when_they_release_the_gil() {
        assert_eq!(next(true, &window(150_000, 0, 80, 100)), Some(false));
        assert_eq!(next(true, &window(150_000, 0, 50, 100)), None);
        assert_eq!(next(true, &window(150_000, 0, 9, 9)), None);
    }

    #[test]
    fn short_windows_decide_nothing() {
        let mut w = window(32_000, 30_000, 0, 30);
        w.frames = WINDOW_FRAMES - 1;
        assert_eq!(next(false, &w), None);
    }
}

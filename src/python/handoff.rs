//! When handing a Python stage's frames to another thread stops paying: used by
//! savantqueue (mode=auto) and by savantpyfunc workers.
//!
//! Another thread wins only when the stage's work can overlap with the rest, i.e.
//! when the GIL is not what they all wait for. Measured here: with
//! GIL-holding stages each queue costs a GIL hand-over between threads (a futex wake
//! and a context switch, ~13 us per frame per queue on the 2-core machine), which is
//! what makes Savant's queues slower. So, per window of frames of the stage behind
//! the queue:
//! - queued -> direct: the stage waited for the GIL for over 20% of its Python time
//!   (contended) and held the GIL in most GIL samples; or its calls are short (under
//!   50 us on average), when a hand-over costs about as much as the call and running
//!   the call on upstream's thread costs upstream at most that call. Upstream then
//!   calls the stage on its own thread, as if there were no queue.
//! - direct -> queued: the stage released the GIL in at least 60% of at least 10
//!   samples with calls of 100 us or more: running it on its own thread can pay again.
//!
//! For workers the same rule decides between the pool and calling the stage inline
//! on the streaming thread ("direct").

use crate::python::stats::Snapshot;

/// Frames per decision window.
pub const WINDOW_FRAMES: u64 = 32;
/// Calls shorter than this go direct: a thread hand-over costs 5-13 us here.
const SHORT_CALL_NS: u64 = 50_000;
/// Calls must be this long to be queued again (hysteresis against flapping).
const QUEUE_AGAIN_CALL_NS: u64 = 100_000;

/// The next mode (`true` = direct) given the current one and a window of the
/// downstream stage's counters, or None to stay.
pub fn next_mode(direct: bool, window: &Snapshot) -> Option<bool> {
    if window.frames < WINDOW_FRAMES {
        return None;
    }
    let holds_gil = window.gil_samples < 5 || window.gil_free_samples * 2 < window.gil_samples;
    let mean_call_ns = window.python_ns / window.frames;
    if !direct {
        let contended = window.gil_wait_ns * 5 > window.python_ns;
        ((contended && holds_gil) || mean_call_ns < SHORT_CALL_NS).then_some(true)
    } else {
        let releases_gil =
            window.gil_samples >= 10 && window.gil_free_samples * 10 >= window.gil_samples * 6;
        (releases_gil && mean_call_ns >= QUEUE_AGAIN_CALL_NS).then_some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(python_us: u64, wait_us: u64, free: u64, samples: u64) -> Snapshot {
        Snapshot {
            frames: WINDOW_FRAMES,
            python_ns: python_us * 1000,
            gil_wait_ns: wait_us * 1000,
            gil_free_samples: free,
            gil_samples: samples,
        }
    }

    #[test]
    fn short_calls_go_direct_whatever_the_gil() {
        assert_eq!(next_mode(false, &window(32 * 20, 0, 0, 0),), Some(true));
        assert_eq!(next_mode(false, &window(32 * 40, 0, 30, 30)), Some(true));
        // ... and stay direct: short calls never pay for a hand-over.
        assert_eq!(next_mode(true, &window(32 * 40, 0, 30, 30)), None);
    }

    #[test]
    fn gil_bound_contended_stages_go_direct() {
        assert_eq!(next_mode(false, &window(32_000, 30_000, 0, 30)), Some(true));
        // Few samples count as holding the GIL.
        assert_eq!(next_mode(false, &window(32_000, 30_000, 0, 2)), Some(true));
    }

    #[test]
    fn gil_releasing_or_uncontended_stages_keep_their_queue() {
        assert_eq!(next_mode(false, &window(150_000, 5_000, 90, 100)), None);
        assert_eq!(next_mode(false, &window(32_000, 1_000, 0, 30)), None);
    }

    #[test]
    fn direct_stages_return_to_the_queue_when_they_release_the_gil() {
        assert_eq!(next_mode(true, &window(150_000, 0, 80, 100)), Some(false));
        assert_eq!(next_mode(true, &window(150_000, 0, 50, 100)), None);
        assert_eq!(next_mode(true, &window(150_000, 0, 9, 9)), None);
    }

    #[test]
    fn short_windows_decide_nothing() {
        let mut w = window(32_000, 30_000, 0, 30);
        w.frames = WINDOW_FRAMES - 1;
        assert_eq!(next_mode(false, &w), None);
    }
}

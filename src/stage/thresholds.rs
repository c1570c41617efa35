//! The thresholds behind both the hand-over rule (handoff.rs: whether savantqueue
//! and workers run a stage inline) and the `verdict` in a stage's stats ("Do queues
//! help?" in the README), in one place, so the stats never say "queues help" for a
//! stage its queue runs inline.

/// A call shorter than this costs about what a thread hand-over does (5-13 us
/// here, see handoff.rs).
pub const SHORT_CALL_NS: u64 = 50_000;

/// Most calls were short (under `SHORT_CALL_NS`; counted, not averaged, so a call
/// preempted on a loaded machine does not hide a short stage): a hand-over costs
/// about as much as the call.
pub fn mostly_short(short_calls: u64, frames: u64) -> bool {
    short_calls * 2 > frames
}

/// The stage held the GIL in most of at least `min_samples` samples.
pub fn holds_gil(free_samples: u64, samples: u64, min_samples: u64) -> bool {
    samples >= min_samples && free_samples * 2 < samples
}

/// Samples needed before a stage gets a GIL verdict: with fewer, one sample moves
/// the share by more than 5% and identical runs flip between verdicts.
pub const VERDICT_SAMPLES: u64 = 20;

/// What a stage's counters since start say of queues ahead of it. Documented in
/// the README ("Do queues help?").
pub struct Counts {
    pub frames: u64,
    pub short_calls: u64,
    pub free_samples: u64,
    pub samples: u64,
    pub mean_call_ns: u64,
}

/// The verdict for a stage, by the hand-over rule's thresholds.
pub fn verdict(c: &Counts) -> &'static str {
    if c.frames == 0 {
        return "no frames yet";
    }
    if c.mean_call_ns < 10_000 {
        // Savant's rule of thumb: calls this short should not release the GIL, and a
        // queue's thread hand-off costs more than it could win.
        return "GIL-bound (calls under 10 us): queues will not help";
    }
    if c.samples < VERDICT_SAMPLES {
        return "not enough samples for a verdict";
    }
    if mostly_short(c.short_calls, c.frames) {
        // The hand-over rule runs such a stage inline.
        return "short calls (most under 50 us): queues will not help";
    }
    if holds_gil(c.free_samples, c.samples, VERDICT_SAMPLES) {
        "GIL-bound: queues will not help"
    } else {
        "releases the GIL: queues help"
    }
}

#[cfg(test)]
mod tests {
    use super::{verdict, Counts};

    fn verdict_of(frames: u64, free: u64, samples: u64, mean_call_ns: u64) -> &'static str {
        let short_calls = if mean_call_ns < super::SHORT_CALL_NS {
            frames
        } else {
            0
        };
        verdict(&Counts {
            frames,
            short_calls,
            free_samples: free,
            samples,
            mean_call_ns,
        })
    }

    #[test]
    fn verdict_follows_the_gil_free_share_and_call_length() {
        assert_eq!(
            verdict_of(9, 90, 100, 3_000_000),
            "releases the GIL: queues help"
        );
        assert_eq!(
            verdict_of(9, 50, 100, 3_000_000),
            "releases the GIL: queues help"
        );
        assert_eq!(
            verdict_of(9, 10, 100, 1_000_000),
            "GIL-bound: queues will not help"
        );
        assert!(verdict_of(9, 100, 100, 5_000).starts_with("GIL-bound (calls under 10 us)"));
        assert_eq!(
            verdict_of(9, 15, 19, 1_000_000),
            "not enough samples for a verdict"
        );
        assert_eq!(verdict_of(0, 0, 0, 0), "no frames yet");
    }

    #[test]
    fn stats_never_say_queues_help_where_the_hand_over_runs_the_stage_inline() {
        // 30 us calls that release the GIL: the hand-over runs them inline (most
        // under 50 us), so the stats must not say queues help.
        let counts = Counts {
            frames: 100,
            short_calls: 90,
            free_samples: 30,
            samples: 30,
            mean_call_ns: 30_000,
        };
        assert_eq!(
            verdict(&counts),
            "short calls (most under 50 us): queues will not help"
        );
        assert!(super::mostly_short(counts.short_calls, counts.frames));
    }
}

//! The on-error policy: what a failing hook does (an ERROR, or a WARNING and the
//! buffer passed or dropped), with identical WARNINGs rate-limited.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use gst::glib;

use super::runtime::StageRuntime;
use crate::python::loader::StageError;

/// What to do when user code raises (or returns something that is not a verdict).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSavantOnError")]
pub enum OnError {
    #[default]
    #[enum_value(name = "Post an ERROR on the bus and stop the stream", nick = "fail")]
    Fail,
    #[enum_value(
        name = "Post a WARNING with the traceback and pass the buffer on unchanged",
        nick = "skip"
    )]
    Skip,
    #[enum_value(
        name = "Post a WARNING with the traceback and drop the buffer",
        nick = "drop"
    )]
    Drop,
}

/// Identical WARNINGs for failing hooks are posted at most once per this interval.
const REPEATED_WARNING_INTERVAL: Duration = Duration::from_secs(10);
/// Distinct failures whose WARNINGs are rate-limited at once: failures that take
/// turns (a stage whose verdicts alternate between wrong types) are each limited,
/// where one remembered failure let every change through.
const TRACKED_WARNINGS: usize = 16;

pub(super) struct RepeatedWarning {
    message: String,
    policy: &'static str,
    posted_at: Instant,
    repeats: u64,
}

impl StageRuntime {
    /// Posts the error or warning for a failed hook and counts it; returns the policy.
    pub fn on_hook_error(
        &self,
        element: &gst::Element,
        error: &StageError,
        on_error: OnError,
    ) -> OnError {
        self.stats.errors.fetch_add(1, Relaxed);
        let traceback = error.traceback.as_deref().unwrap_or("");
        match on_error {
            OnError::Fail => {
                gst::element_error!(
                    element,
                    gst::LibraryError::Failed,
                    ("{}", error.message),
                    ["{}", traceback]
                );
            }
            OnError::Skip | OnError::Drop => {
                let policy = if on_error == OnError::Skip {
                    "skip"
                } else {
                    "drop"
                };
                gst::warning!(self.cat, obj = element, "{}\n{}", error.message, traceback);
                // The same failure on every frame is one WARNING per interval, with
                // a count, not hundreds of identical messages on the bus.
                let repeats = {
                    let mut tracked = self.repeated_warning.lock().unwrap();
                    match tracked.iter_mut().find(|r| r.message == error.message) {
                        Some(r) if r.posted_at.elapsed() < REPEATED_WARNING_INTERVAL => {
                            r.repeats += 1;
                            return on_error;
                        }
                        Some(r) => {
                            r.posted_at = Instant::now();
                            std::mem::take(&mut r.repeats)
                        }
                        None => {
                            if tracked.len() >= TRACKED_WARNINGS {
                                // The one posted longest ago makes room, its count
                                // reported now.
                                let oldest = (0..tracked.len())
                                    .min_by_key(|&i| tracked[i].posted_at)
                                    .expect("the list is full");
                                post_repeats(element, &tracked.swap_remove(oldest));
                            }
                            tracked.push(RepeatedWarning {
                                message: error.message.clone(),
                                policy,
                                posted_at: Instant::now(),
                                repeats: 0,
                            });
                            0
                        }
                    }
                };
                let repeated = if repeats > 0 {
                    format!("; {repeats} more time(s) since the last report")
                } else {
                    String::new()
                };
                gst::element_warning!(
                    element,
                    gst::LibraryError::Failed,
                    ("{} (on-error={}{})", error.message, policy, repeated),
                    ["{}", traceback]
                );
            }
        }
        on_error
    }

    /// Reports identical WARNINGs that were counted but not posted yet (at EOS and
    /// on stop).
    pub(super) fn flush_repeated_warning(&self, element: &gst::Element) {
        let tracked = std::mem::take(&mut *self.repeated_warning.lock().unwrap());
        for repeated in &tracked {
            post_repeats(element, repeated);
        }
    }
}

/// The WARNING for the repeats of a failure counted since its last report, if any.
fn post_repeats(element: &gst::Element, repeated: &RepeatedWarning) {
    if repeated.repeats > 0 {
        gst::element_warning!(
            element,
            gst::LibraryError::Failed,
            (
                "{} (on-error={}; {} more time(s) since the last report)",
                repeated.message,
                repeated.policy,
                repeated.repeats
            )
        );
    }
}
